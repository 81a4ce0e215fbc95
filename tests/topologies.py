"""Pod networks built with kubenetctl's primitives, the way the README's quickstart does it."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.conftest import Names


@dataclass
class Overlay:
    nodes: list[str]
    pods: list[str]
    pod_ips: list[str]
    underlay: str  # underlay link name (same in both nodes)
    vxlan: str
    vtep_macs: list[str] = field(default_factory=list)


def run(kn, *args: str) -> str:  # type: ignore[no-untyped-def]
    result = kn(*args)
    assert result.code == 0, f"kubenetctl {' '.join(args)} failed:\n{result}"
    return result.stdout


def bridge_pods(kn, n: Names, count: int = 2, subnet: str = "10.88.0") -> tuple[str, list[str], list[str]]:  # type: ignore[no-untyped-def]
    """`count` pods on one bridge in the host namespace; returns (bridge, pods, pod IPs)."""
    br = n.link("br")
    pods = [n.ns(f"pod{i}") for i in range(1, count + 1)]
    ips = [f"{subnet}.{10 + i}" for i in range(1, count + 1)]
    run(kn, "ns", "add", *pods)
    run(kn, "bridge", "add", br, "--addr", f"{subnet}.1/24")
    for i, (pod, ip) in enumerate(zip(pods, ips), start=1):
        run(kn, "veth", "add", n.link(f"h{i}"), "--peer", "eth0", "--peer-netns", pod, "--master", br, "--peer-addr", f"{ip}/24")
        run(kn, "route", "add", "default", "--via", f"{subnet}.1", "-n", pod)
    return br, pods, ips


def overlay(kn, n: Names, mode: str) -> Overlay:  # type: ignore[no-untyped-def]
    """Two nodes (namespaces) joined by an underlay veth, one pod each, VXLAN between them.

    mode "unicast": flannel-style routed overlay, per-node pod subnets 10.244.{1,2}.0/24.
    mode "flood": one L2 segment 10.250.0.0/24 stretched over VXLAN with all-zeros FDB entries.
    """
    nodes = [n.ns("node1"), n.ns("node2")]
    pods = [n.ns("pod1"), n.ns("pod2")]
    ul, vx = "ul0", "vxlan0"
    macs = ["0e:00:00:00:00:01", "0e:00:00:00:00:02"]
    run(kn, "ns", "add", *nodes, *pods)
    run(kn, "veth", "add", ul, "-n", nodes[0], "--peer", ul, "--peer-netns", nodes[1],
        "--addr", "192.168.77.1/24", "--peer-addr", "192.168.77.2/24")
    ips = []
    for i, (node, pod) in enumerate(zip(nodes, pods), start=1):
        run(kn, "vxlan", "add", vx, "-n", node, "--vni", "1", "--local", f"192.168.77.{i}", "--dev", ul, "--mac", macs[i - 1])
        if mode == "unicast":
            run(kn, "sysctl", "set", "net.ipv4.ip_forward", "1", "-n", node)
            run(kn, "bridge", "add", "cni0", "-n", node, "--addr", f"10.244.{i}.1/24", "--mtu", "1450")
            run(kn, "addr", "add", vx, f"10.244.{i}.0/32", "-n", node)
            ip = f"10.244.{i}.2"
            run(kn, "veth", "add", "veth0", "-n", node, "--peer", "eth0", "--peer-netns", pod, "--master", "cni0",
                "--mtu", "1450", "--peer-addr", f"{ip}/24")
            run(kn, "route", "add", "default", "--via", f"10.244.{i}.1", "-n", pod)
        else:
            run(kn, "bridge", "add", "br0", "-n", node, "--mtu", "1450")
            run(kn, "link", "set", vx, "-n", node, "--master", "br0")
            ip = f"10.250.0.{i}"
            run(kn, "veth", "add", "veth0", "-n", node, "--peer", "eth0", "--peer-netns", pod, "--master", "br0",
                "--mtu", "1450", "--peer-addr", f"{ip}/24")
        ips.append(ip)
    for i, node in enumerate(nodes):
        other = 1 - i
        remote = f"192.168.77.{other + 1}"
        if mode == "unicast":
            run(kn, "vxlan", "peer", "add", vx, "-n", node, "--remote", remote, "--mac", macs[other],
                "--pod-cidr", f"10.244.{other + 1}.0/24")
        else:
            run(kn, "vxlan", "peer", "add", vx, "-n", node, "--remote", remote)
    return Overlay(nodes, pods, ips, ul, vx, macs)


def teardown(kn, namespaces: list[str], links: tuple[str, ...] = ()) -> None:  # type: ignore[no-untyped-def]
    """Remove what a topology made, through the product (host links first, then namespaces)."""
    for link in links:
        run(kn, "link", "del", link)
    if namespaces:
        run(kn, "ns", "del", *namespaces)
