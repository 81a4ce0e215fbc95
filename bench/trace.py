"""inspect and trace cost against what a person would run with iproute2, in the same run.

Not a test: run as root, `python bench/trace.py [--pods 100] [--rounds 5]`. Builds a two-node
flannel-style overlay (the README's) with PODS pods spread over the two nodes, marked as lab
"knb<pid>", in namespaces this script creates and deletes. Reports medians and ratios:

- inspect LAB (the CLI process, JSON) against dumping the same namespaces with iproute2
  (`ip -j -d link`, `ip -j addr`, `ip -j route`, `ip -j neigh`, `bridge -j fdb` per namespace);
- trace POD POD (static, the CLI process) against `ip route get` + `ip neigh get` in each
  namespace on the path and `bridge fdb get` on both bridges (what the walk answers, hop by hop);
- trace --probe against one `ping -c1` between the same pods;
- in-process: reading the whole lab (what inspect does), what trace reads (outward from its
  ends, along cables), and the pure walk itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubenetctl.execute import Executor  # noqa: E402
from kubenetctl.netlink.backend import NetlinkBackend  # noqa: E402
from kubenetctl.netlink.session import Sessions  # noqa: E402
from kubenetctl.overlay import unicast_peer  # noqa: E402
from kubenetctl.resources import Address, Link, Netns, Route, Sysctl  # noqa: E402

P = f"knb{os.getpid() % 10000}"
KN = shutil.which("kubenetctl", path=str(ROOT / ".venv" / "bin")) or "kubenetctl"
MACS = ("0e:00:00:00:00:01", "0e:00:00:00:00:02")


def build(pods: int) -> tuple[list[str], list[str]]:
    nodes = [f"{P}-n1", f"{P}-n2"]
    names = [f"{P}-p{i}" for i in range(pods)]
    with Sessions() as sessions:
        ex = Executor(NetlinkBackend(sessions), f"lab/{P}")
        for ns in nodes + names:
            ex.ensure(Netns(ns))
        a = Link(nodes[0], "ul0", "veth", peer="ul0", peer_netns=nodes[1])
        ex.ensure(a, peer=Link(nodes[1], "ul0", "veth", peer="ul0", peer_netns=nodes[0]))
        for i, node in enumerate(nodes, start=1):
            ex.ensure(Address(node, "ul0", f"192.168.77.{i}/24"))
            ex.ensure(Sysctl(node, "net.ipv4.ip_forward", "1"))
            ex.ensure(Link(node, "cni0", "bridge", mtu=1450))
            ex.ensure(Address(node, "cni0", f"10.244.{i}.1/24"))
            ex.ensure(Link(node, "vxlan0", "vxlan", mtu=1450, mac=MACS[i - 1], vni=1, port=8472,
                           local=f"192.168.77.{i}", dev="ul0", learning=False))
            ex.ensure(Address(node, "vxlan0", f"10.244.{i}.0/32"))
        for i, node in enumerate(nodes):
            for res in unicast_peer(node, "vxlan0", f"192.168.77.{2 - i}", MACS[1 - i], f"10.244.{2 - i}.0/24"):
                ex.ensure(res)
        for j, pod in enumerate(names):
            node, i = nodes[j % 2], j % 2 + 1
            host = Link(node, f"v{j}", "veth", mtu=1450, master="cni0", peer="eth0", peer_netns=pod)
            ex.ensure(host, peer=Link(pod, "eth0", "veth", mtu=1450, peer=f"v{j}", peer_netns=node))
            ex.ensure(Address(pod, "eth0", f"10.244.{i}.{j // 2 + 2}/24"))
            ex.ensure(Route(pod, "0.0.0.0/0", via=f"10.244.{i}.1", dev="eth0"))
    return nodes, names


def teardown(spaces: list[str]) -> None:
    for ns in spaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def timed(cmds: list[list[str]]) -> float:
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, capture_output=True)
    return time.perf_counter() - start


def ip_dump(spaces: list[str]) -> list[list[str]]:
    out = []
    for ns in spaces:
        out += [["ip", "-j", "-d", "-n", ns, "link", "show"], ["ip", "-j", "-n", ns, "addr", "show"],
                ["ip", "-j", "-n", ns, "route", "show"], ["ip", "-j", "-n", ns, "neigh", "show"],
                ["bridge", "-j", "-n", ns, "fdb", "show"]]
    return out


def ip_hops(nodes: list[str], src: str, dst: str, dst_ip: str) -> list[list[str]]:
    n1, n2 = nodes
    return [
        ["ip", "-n", src, "route", "get", dst_ip], ["ip", "-n", src, "neigh", "get", "10.244.1.1", "dev", "eth0"],
        ["bridge", "-n", n1, "fdb", "get", MACS[0], "br", "cni0"],
        ["ip", "-n", n1, "route", "get", dst_ip, "iif", "cni0"], ["ip", "-n", n1, "neigh", "get", "10.244.2.0", "dev", "vxlan0"],
        ["bridge", "-n", n1, "fdb", "get", MACS[1], "dev", "vxlan0", "self"],
        ["ip", "-n", n1, "route", "get", "192.168.77.2"], ["ip", "-n", n1, "neigh", "get", "192.168.77.2", "dev", "ul0"],
        ["ip", "-n", n2, "route", "get", dst_ip, "iif", "vxlan0"], ["ip", "-n", n2, "neigh", "get", dst_ip, "dev", "cni0"],
        ["ip", "-n", dst, "route", "get", dst_ip],
    ]


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pods", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    t0 = time.perf_counter()
    nodes, pods = build(args.pods)
    print(f"built lab {P}: 2 nodes, {args.pods} pods in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    spaces = nodes + pods
    src, dst, dst_ip = pods[0], pods[1], "10.244.2.2"
    try:
        subprocess.run(["ip", "netns", "exec", src, "ping", "-c1", "-W2", dst_ip], capture_output=True, check=True)
        rows: dict[str, list[float]] = {k: [] for k in (
            "inspect", "ip-dump", "trace", "ip-hops", "probe", "ping", "gather", "outward", "walk")}
        from kubenetctl.inspect.gather import gather, gather_trace
        from kubenetctl.trace.pair import packet, resolve, trace_pair

        def walk(seen):  # type: ignore[no-untyped-def]
            a, b = resolve(seen.topo, src, "SRC"), resolve(seen.topo, dst, "DST")
            return trace_pair(seen.topo, a, b, packet(a, b, "icmp", None, None))
        read = 0
        for _ in range(args.rounds):  # alternate, so that machine noise hits both alike
            rows["inspect"].append(timed([[KN, "-o", "json", "inspect", P]]))
            rows["ip-dump"].append(timed(ip_dump(spaces)))
            rows["trace"].append(timed([[KN, "-o", "json", "trace", src, dst, "--lab", P]]))
            rows["ip-hops"].append(timed(ip_hops(nodes, src, dst, dst_ip)))
            rows["probe"].append(timed([[KN, "-o", "json", "trace", src, dst, "--lab", P, "--probe"]]))
            rows["ping"].append(timed([["ip", "netns", "exec", src, "ping", "-c1", "-W2", dst_ip]]))
            start = time.perf_counter()
            seen = gather(P)
            rows["gather"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = walk(seen)
            rows["walk"].append(time.perf_counter() - start)
            assert result.ok, result.forward.stop
            start = time.perf_counter()
            near, result = gather_trace(None, src, dst, walk)
            rows["outward"].append(time.perf_counter() - start)
            read = near.read
            assert result.ok, result.forward.stop
        m = {k: median(v) for k, v in rows.items()}
        print(f"namespaces: {len(spaces)}, rounds: {args.rounds} (medians)")
        print(f"inspect LAB (CLI, JSON)          {m['inspect']:.3f} s   iproute2 dump of the same namespaces "
              f"({len(ip_dump(spaces))} commands) {m['ip-dump']:.3f} s   ratio {m['inspect'] / m['ip-dump']:.2f}")
        print(f"trace static (CLI)               {m['trace']:.3f} s   ip route/neigh + bridge fdb get on the path "
              f"({len(ip_hops(nodes, src, dst, dst_ip))} commands) {m['ip-hops']:.3f} s   ratio {m['trace'] / m['ip-hops']:.2f}")
        print(f"trace --probe (CLI)              {m['probe']:.3f} s   ping -c1 {m['ping']:.3f} s   "
              f"ratio {m['probe'] / m['ping']:.2f}")
        print(f"in-process: reading the whole lab {m['gather']:.3f} s   trace reading outward {m['outward']:.3f} s "
              f"({read} namespaces read)   the walk there and back {m['walk'] * 1000:.2f} ms")
    finally:
        teardown(spaces)


if __name__ == "__main__":
    main()
