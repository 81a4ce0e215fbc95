"""The README's two-node overlays (tests/topologies.py), marked as one lab so that inspect and
trace can select them by marker ("kubenetctl:lab/<lab>" on every namespace and link), plus
the iproute2 helpers the fault tests break them with (a tool independent of kubenetctl).

- routed: flannel-style, cni0 10.244.<i>.1/24, pods 10.244.<i>.2, ip_forward on, unicast peers;
- flood: one L2 segment, br0 with vxlan0 as a port, pods 10.250.0.<i>, all-zeros FDB peers.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from typing import Any, Callable

from tests import topologies
from tests.conftest import Names


@dataclass
class Overlay:
    lab: str
    mode: str
    nodes: list[str]
    pods: list[str]
    pod_ips: list[str]
    vtep_macs: list[str]
    kn: Callable[..., Any]  # the CLI, acting for the lab (--owner lab/<lab>)


def build(kn, n: Names, mode: str) -> Overlay:  # type: ignore[no-untyped-def]
    lab = n.ns("lab")

    def marked(*args: str) -> Any:
        return kn("--owner", f"lab/{lab}", *args)

    o = topologies.overlay(marked, n, "unicast" if mode == "routed" else "flood")
    return Overlay(lab, mode, o.nodes, o.pods, o.pod_ips, o.vtep_macs, marked)


def teardown(o: Overlay) -> None:
    topologies.teardown(o.kn, [*o.nodes, *o.pods])


def sh(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True)


def ip_json(netns: str, *args: str) -> list[dict]:
    out = subprocess.run(["ip", "-j", "-n", netns, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []
