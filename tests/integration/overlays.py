"""Two-node overlays built with kubenetctl's primitives (the README quickstart pattern), marked
as a lab ("kubenetctl:lab/<lab>") so that inspect and trace can select them by marker.

node namespaces joined by an underlay veth (ul0, 192.168.77.0/24); a VXLAN device per node
(vni 1, udp 8472, --local/--dev on the underlay); one pod per node on a bridge.
- routed: flannel-style, cni0 10.244.<i>.1/24, pods 10.244.<i>.2, ip_forward on, unicast peers;
- flood: one L2 segment, br0 with vxlan0 as a port, pods 10.250.0.<i>, all-zeros FDB peers.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from tests.conftest import Names

VTEP_MACS = ("0e:00:00:00:00:01", "0e:00:00:00:00:02")


@dataclass
class Overlay:
    lab: str
    mode: str
    nodes: list[str]
    pods: list[str]
    pod_ips: list[str]


def run(kn, *args: str) -> str:  # type: ignore[no-untyped-def]
    result = kn(*args)
    assert result.code == 0, f"kubenetctl {' '.join(args)} failed:\n{result}"
    return result.stdout


def build(kn, n: Names, mode: str) -> Overlay:  # type: ignore[no-untyped-def]
    lab = n.ns("lab")
    owner = ("--owner", f"lab/{lab}")

    def k(*args: str) -> str:
        return run(kn, *owner, *args)

    nodes = [n.ns("node1"), n.ns("node2")]
    pods = [n.ns("pod1"), n.ns("pod2")]
    k("ns", "add", *nodes, *pods)
    k("veth", "add", "ul0", "-n", nodes[0], "--peer", "ul0", "--peer-netns", nodes[1],
      "--addr", "192.168.77.1/24", "--peer-addr", "192.168.77.2/24")
    ips = []
    for i, (node, pod) in enumerate(zip(nodes, pods), start=1):
        k("vxlan", "add", "vxlan0", "-n", node, "--vni", "1", "--local", f"192.168.77.{i}", "--dev", "ul0",
          "--mac", VTEP_MACS[i - 1])
        if mode == "routed":
            k("sysctl", "set", "net.ipv4.ip_forward", "1", "-n", node)
            k("bridge", "add", "cni0", "-n", node, "--addr", f"10.244.{i}.1/24", "--mtu", "1450")
            k("addr", "add", "vxlan0", f"10.244.{i}.0/32", "-n", node)
            ip = f"10.244.{i}.2"
            k("veth", "add", "veth0", "-n", node, "--peer", "eth0", "--peer-netns", pod, "--master", "cni0",
              "--mtu", "1450", "--peer-addr", f"{ip}/24")
            k("route", "add", "default", "--via", f"10.244.{i}.1", "-n", pod)
        else:
            k("bridge", "add", "br0", "-n", node, "--mtu", "1450")
            k("link", "set", "vxlan0", "-n", node, "--master", "br0")
            ip = f"10.250.0.{i}"
            k("veth", "add", "veth0", "-n", node, "--peer", "eth0", "--peer-netns", pod, "--master", "br0",
              "--mtu", "1450", "--peer-addr", f"{ip}/24")
        ips.append(ip)
    for i, node in enumerate(nodes):
        other = 1 - i
        remote = f"192.168.77.{other + 1}"
        if mode == "routed":
            k("vxlan", "peer", "add", "vxlan0", "-n", node, "--remote", remote, "--mac", VTEP_MACS[other],
              "--pod-cidr", f"10.244.{other + 1}.0/24")
        else:
            k("vxlan", "peer", "add", "vxlan0", "-n", node, "--remote", remote)
    return Overlay(lab, mode, nodes, pods, ips)


def teardown(kn, o: Overlay) -> None:  # type: ignore[no-untyped-def]
    run(kn, "--owner", f"lab/{o.lab}", "ns", "del", *o.nodes, *o.pods)


def sh(*cmd: str) -> None:
    """Break something with iproute2 (a tool independent of kubenetctl)."""
    subprocess.run(list(cmd), check=True, capture_output=True)


def ip_json(netns: str, *args: str) -> list[dict]:
    out = subprocess.run(["ip", "-j", "-n", netns, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []
