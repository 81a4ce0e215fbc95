"""Trace between two endpoints: resolve what the user named, walk there and back (pure).

SRC and DST may be pod names (through a resolver that lab state provides; see
inspect/labs.py), namespace names, the host ("host") or IP addresses. `kubenetctl check`
calls `walk_pair` (through inspect.gather.explain) to explain a failed expectation.
"""

from __future__ import annotations

import ipaddress
from typing import Mapping

from kubenetctl.errors import InvalidInput, NotFound
from kubenetctl.topology import NS, POD, Topology, ns_label
from kubenetctl.trace.model import DEFAULT_SIZE, PROTOS, Endpoint, Packet, Trace
from kubenetctl.trace.walk import Walker
from kubenetctl.validate import is_ip

EPHEMERAL_PORT = 40000  # the static walk's stand-in source port (the probe uses a real one)
HOST_NAMES = ("host", "(host)")  # how SRC/DST name the host's namespace (unless a namespace has that name)


def resolve(topo: Topology, spec: str, field: str, pods: Mapping[str, NS] | None = None) -> Endpoint:
    """What SRC or DST names: a pod, a namespace, or an address."""
    pods = pods or {}
    if spec in pods:
        return _in_namespace(topo, spec, pods[spec], "pod", field)
    if is_ip(spec):
        ip = str(ipaddress.ip_address(spec))
        spaces = list(dict.fromkeys(ns for ns, _ in topo.holders(ip)))
        if len(spaces) > 1:
            preferred = [ns for ns in spaces if topo.role(ns) == POD]
            if len(preferred) != 1:
                names = ", ".join(ns_label(ns) for ns in spaces)
                raise InvalidInput(f"{field}: {ip} is held by several namespaces ({names})",
                                   hint="name the namespace instead of the address")
            spaces = preferred
        if spaces:
            return Endpoint(spec, spaces[0], ip, "ip")
        if field == "SRC":
            raise NotFound(f"SRC: no observed namespace has the address {ip}",
                           hint="name a pod or namespace, or an address one of them holds")
        return Endpoint(spec, None, ip, "ip", known=False)
    if spec in HOST_NAMES and None in topo.namespaces() and spec not in topo.namespaces():
        return _in_namespace(topo, spec, None, "netns", field)
    if spec in topo.namespaces():
        return _in_namespace(topo, spec, spec, "netns", field)
    raise NotFound(
        f"{field}: {spec!r} is not a pod, a namespace or an IP address",
        hint="kubenetctl inspect lists the pods and namespaces",
    )


def _in_namespace(topo: Topology, spec: str, ns: NS, kind: str, field: str) -> Endpoint:
    iface = topo.primary_ip(ns)
    if iface is None:
        raise NotFound(f"{field}: {ns_label(ns)} has no IPv4 address to trace from or to",
                       hint="give an address instead, or add one with kubenetctl addr add")
    return Endpoint(spec, ns, str(iface.ip), kind)


def check_proto(proto: str, port: int | None) -> None:
    """--proto and --port go together (checked before anything is read)."""
    if proto not in PROTOS:
        raise InvalidInput(f"--proto: {proto!r} is not one of {', '.join(PROTOS)}")
    if proto == "icmp" and port is not None:
        raise InvalidInput("--port: ICMP has no ports", hint="use --proto tcp or --proto udp with --port")
    if proto != "icmp" and port is None:
        raise InvalidInput(f"--port: {proto.upper()} needs a destination port", hint=f"--proto {proto} --port 80")


def packet(src: Endpoint, dst: Endpoint, proto: str, port: int | None, size: int | None) -> Packet:
    check_proto(proto, port)
    if ipaddress.ip_address(src.ip).version != 4 or ipaddress.ip_address(dst.ip).version != 4:
        raise InvalidInput("trace follows IPv4 packets only", hint="give IPv4 addresses")
    return Packet(
        src.ip, dst.ip, proto, size=size or DEFAULT_SIZE[proto],
        sport=EPHEMERAL_PORT if proto != "icmp" else None, dport=port,
    )


def walk_pair(topo: Topology, src: str, dst: str, pods: Mapping[str, NS] | None = None, *, proto: str = "icmp",
              port: int | None = None, size: int | None = None, reply: bool = True) -> Trace:
    """Resolve what SRC and DST name, then trace between them (what `kubenetctl trace` and
    `kubenetctl check` explaining a failed expectation walk)."""
    a = resolve(topo, src, "SRC", pods)
    b = resolve(topo, dst, "DST", pods)
    return trace_pair(topo, a, b, packet(a, b, proto, port, size), reply=reply)


def trace_pair(topo: Topology, src: Endpoint, dst: Endpoint, pkt: Packet, *, reply: bool = True) -> Trace:
    forward = Walker(topo).walk(src.netns, pkt)
    if forward.ok and dst.known and forward.delivered is not None and forward.delivered.netns != dst.netns:
        forward.notes.append(
            f"delivered to {ns_label(forward.delivered.netns)}, not to {ns_label(dst.netns)}: "
            f"{dst.ip} is local there too"
        )
    back = None
    if reply and forward.ok and forward.delivered is not None:
        back = Walker(topo).walk(forward.delivered.netns, pkt.reply())
    return Trace(src, dst, forward, back)
