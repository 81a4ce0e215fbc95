"""kubenetctl trace: follow a packet from SRC to DST through namespaces, bridges and tunnels."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli.common import G, verb
from kubenetctl.errors import ExitCode, InvalidInput
from kubenetctl.views.output import document, emit


class Proto(str, Enum):
    icmp = "icmp"
    tcp = "tcp"
    udp = "udp"


def trace(
    src: Annotated[str, typer.Argument(help="Source: a pod name, a namespace or an IP address.", show_default=False, metavar="SRC")],
    dst: Annotated[str, typer.Argument(help="Destination: a pod name, a namespace or an IP address.", show_default=False, metavar="DST")],
    proto: Annotated[Proto, typer.Option("--proto", help="Protocol of the packet.", case_sensitive=False)] = Proto.icmp,
    port: Annotated[Optional[int], typer.Option("--port", help="Destination port (tcp, udp).")] = None,
    size: Annotated[Optional[int], typer.Option("--size", help="IP packet size in bytes, header included (default: 84 for ICMP, like ping).")] = None,
    probe: Annotated[bool, typer.Option("--probe", help="Also send a real packet and capture it on every hop (root).")] = False,
    lab: Annotated[Optional[str], typer.Option("--lab", help="Look only at this lab (faster on busy hosts; pod names from its state).")] = None,
    no_reply: Annotated[bool, typer.Option("--no-reply", help="Do not walk the reply path.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="--probe: seconds to wait for the packet to show up.")] = 2.0,
) -> None:
    """Follow a packet from SRC to DST hop by hop, with the rule that matched at each hop.

    The walk reads the live kernel state (routes, neighbours, bridge and VXLAN FDBs,
    sysctls, link states, MTUs); where the packet cannot go on, it says why. --probe sends
    a real packet and captures it on every hop. Exit 0 when the packet gets there (and
    back), 7 when it does not (the walk is still printed).
    """
    if port is not None:
        validate.port(port, "--port")
    if size is not None and not 28 <= size <= 65535:
        raise InvalidInput(f"--size: {size} is out of range 28..65535 (an IP packet, header included)")
    if not 0 < timeout <= 60:
        raise InvalidInput(f"--timeout: {timeout} is out of range (0, 60] seconds")
    from kubenetctl.trace.pair import check_proto, walk_pair

    check_proto(proto.value, port)
    if lab is not None:
        validate.netns_name(lab, "--lab")
    else:
        lab = _lab_of_pod_names(src, dst)
    from kubenetctl.inspect.gather import gather_trace

    def walk(seen: Any) -> Any:
        return walk_pair(seen.topo, src, dst, seen.pods, proto=proto.value, port=port, size=size, reply=not no_reply)

    seen, result = gather_trace(lab, src, dst, walk)
    topo = seen.topo
    doc: dict[str, Any] = {"lab": seen.lab, **result.to_dict()}
    ok = result.ok
    if probe:
        report = _probe(topo, result, timeout)
        doc["probe"] = report.to_dict(result)
        ok = ok and report.agrees
    emit(document("Trace", None, **doc), G.output, _human)
    if not ok:
        raise typer.Exit(int(ExitCode.CHECK_FAILED))


def _lab_of_pod_names(*specs: str) -> str | None:
    """SRC/DST that are neither addresses nor namespaces may be pod names of a recorded lab."""
    from kubenetctl.inspect.labs import lab_with_pods
    from kubenetctl.netlink import nsfs
    from kubenetctl.trace.pair import HOST_NAMES

    names = [s for s in specs if not validate.is_ip(s) and s not in HOST_NAMES and not nsfs.exists(s)]
    return lab_with_pods(names) if names else None


def _probe(topo: Any, result: Any, timeout: float) -> Any:
    from kubenetctl.probe import probe as send_probe
    from kubenetctl.trace.compare import all_expected_seen, compare, points

    ports = frozenset({vx.port for ns in topo.namespaces() for vx in topo.vxlans(ns) if vx.port} | {4789, 8472})
    run = send_probe(points(result), result.src.netns, result.forward.packet, vxlan_ports=ports, timeout=timeout,
                     done=lambda captures, flow: all_expected_seen(result, flow)(captures))
    return compare(result, run.captures, run.flow, run.send_error, run.elapsed)


def _human(doc: dict[str, Any]) -> Any:
    from kubenetctl.views.trace_view import render

    return render(doc)


trace_app = verb(trace)
