"""Hand-built snapshots shaped like what netlink/observe.py and netlink/facts.py read from a
real two-node overlay (same facts, same conventions), for trace and inspect tests without root.

Names are fixed so that golden renderings stay stable.
"""

from __future__ import annotations

import ipaddress
import itertools
from dataclasses import replace

from kubenetctl.kernelfacts import Facts, FdbEntry, NeighEntry, PortInfo
from kubenetctl.resources import Address, Fdb, Link, Neighbor, Netns, Route
from kubenetctl.snapshot import Snapshot
from kubenetctl.topology import Topology

OWNER = "lab/demo"
KERNEL, KUBENETCTL = 2, 151
SCOPE_LINK, SCOPE_UNIVERSE = 253, 0


class Lab:
    """A tiny fluent builder: namespaces, links, addresses (with their connected routes), ..."""

    def __init__(self) -> None:
        self.snap = Snapshot()
        self.facts = Facts()
        self._ifindex = itertools.count(2)

    # -- building -------------------------------------------------------------------
    def ns(self, *names: str, owner: str | None = OWNER, forward: bool = False) -> "Lab":
        for name in names:
            self.snap.add(Netns(name), owner)
            self.snap.scope.add(name)
            self.link(name, "lo", "device", mtu=65536, mac="00:00:00:00:00:00", owner=None, operstate="UNKNOWN")
            self.addr(name, "lo", "127.0.0.1/8", connected=False)
            self.sysctl(name, "net.ipv4.ip_forward", "1" if forward else "0")
        return self

    def link(self, ns: str | None, name: str, kind: str, *, mtu: int = 1500, mac: str | None = None, up: bool = True,
             carrier: bool = True, owner: str | None = OWNER, operstate: str | None = None, **attrs: object) -> Link:
        link = Link(ns, name, kind, mtu=mtu, mac=mac, up=up, **attrs)  # type: ignore[arg-type]
        state = operstate or ("UP" if up and carrier else "DOWN" if not up else "LOWERLAYERDOWN")
        self.snap.add(link, owner, ifindex=next(self._ifindex), operstate=state, carrier=1 if carrier and up else 0,
                      alias=f"kubenetctl:{owner}" if owner else None, raw_kind=kind)
        if ns is not None:
            forward = self.facts.sysctls.get((ns, "net.ipv4.ip_forward"), "0")
            self.sysctl(ns, f"net.ipv4.conf.{name}.forwarding", forward)
        return link

    def veth(self, ns_a: str | None, a: str, ns_b: str | None, b: str, *, mtu: int = 1500, macs: tuple[str, str],
             master_a: str | None = None) -> "Lab":
        self.link(ns_a, a, "veth", mtu=mtu, mac=macs[0], master=master_a, peer=b, peer_netns=ns_b)
        self.link(ns_b, b, "veth", mtu=mtu, mac=macs[1], peer=a, peer_netns=ns_a)
        if master_a:
            self.port(ns_a, a, master_a)
        return self

    def port(self, ns: str | None, dev: str, bridge: str, state: str = "forwarding") -> "Lab":
        self.facts.ports[(ns, dev)] = PortInfo(ns, dev, bridge, state=state)
        link = self.snap.get(("link", ns, dev))
        assert isinstance(link, Link)
        self.snap.resources[link.key] = replace(link, master=bridge)
        mac = link.mac or "00:00:00:00:00:00"
        self.facts.fdb.append(FdbEntry(ns, dev, mac, master=bridge, state="permanent", local=True))
        return self

    def addr(self, ns: str | None, dev: str, cidr: str, *, connected: bool = True) -> "Lab":
        self.snap.add(Address(ns, dev, cidr), "kubenetctl" if dev != "lo" else None)
        iface = ipaddress.ip_interface(cidr)
        if connected and iface.network.prefixlen < 32:
            r = Route(ns, str(iface.network), dev=dev, src=str(iface.ip))
            self.snap.add(r, None, proto=KERNEL, scope=SCOPE_LINK, type=1)
        return self

    def route(self, ns: str | None, dst: str, *, via: str | None = None, dev: str, onlink: bool = False) -> "Lab":
        dst = "0.0.0.0/0" if dst == "default" else dst
        self.snap.add(Route(ns, dst, via=via, dev=dev, onlink=onlink), "kubenetctl", proto=KUBENETCTL,
                      scope=SCOPE_UNIVERSE, type=1)
        return self

    def neigh(self, ns: str | None, dev: str, ip: str, mac: str | None, state: str = "reachable") -> "Lab":
        if state == "permanent":
            self.snap.add(Neighbor(ns, dev, ip, mac or ""), "kubenetctl")
        self.facts.neighbors.append(NeighEntry(ns, dev, ip, mac, state))
        return self

    def fdb(self, ns: str | None, dev: str, mac: str, *, dst: str | None = None, master: str | None = None,
            state: str = "learned") -> "Lab":
        if dst is not None:
            self.snap.add(Fdb(ns, dev, mac, dst), OWNER)
            state = "permanent"
        self.facts.fdb.append(FdbEntry(ns, dev, mac, master=master, dst=dst, state=state))
        return self

    def sysctl(self, ns: str | None, key: str, value: str) -> "Lab":
        self.facts.sysctls[(ns, key)] = value
        if key == "net.ipv4.ip_forward":
            for (n, k) in list(self.facts.sysctls):
                if n == ns and k.startswith("net.ipv4.conf.") and k.endswith(".forwarding"):
                    self.facts.sysctls[(n, k)] = value
        return self

    # -- changing (the faults) --------------------------------------------------------
    def set_link(self, ns: str | None, name: str, **changes: object) -> "Lab":
        key = ("link", ns, name)
        link = self.snap.get(key)
        assert isinstance(link, Link)
        carrier = changes.pop("carrier", None)
        self.snap.resources[key] = replace(link, **changes)  # type: ignore[arg-type]
        if carrier is not None or "up" in changes:
            up = changes.get("up", link.up)
            on = bool(up) and (carrier if carrier is not None else bool(self.snap.fact(key, "carrier", 1)))
            self.snap.facts[key]["carrier"] = 1 if on else 0
            self.snap.facts[key]["operstate"] = "UP" if on else "DOWN"
        return self

    def drop(self, key: tuple) -> "Lab":
        self.snap.resources.pop(key, None)
        self.snap.owners.pop(key, None)
        return self

    def drop_fdb(self, ns: str | None, dev: str, mac: str) -> "Lab":
        self.facts.fdb = [e for e in self.facts.fdb if not (e.netns == ns and e.dev == dev and e.mac == mac)]
        for key in [k for k in self.snap.resources if k[0] == "fdb" and k[1:4] == (ns, dev, mac)]:
            self.drop(key)
        return self

    def drop_neigh(self, ns: str | None, dev: str, ip: str) -> "Lab":
        self.facts.neighbors = [n for n in self.facts.neighbors if (n.netns, n.dev, n.ip) != (ns, dev, ip)]
        return self.drop(("neighbor", ns, dev, ip))

    def topo(self) -> Topology:
        return Topology(self.snap, self.facts)


MAC = {
    "pod1": "0a:00:00:00:01:02", "veth1": "0a:00:00:00:01:01", "cni1": "0a:00:00:00:01:01",
    "pod2": "0a:00:00:00:02:02", "veth2": "0a:00:00:00:02:01", "cni2": "0a:00:00:00:02:01",
    "ul1": "0a:00:00:00:77:01", "ul2": "0a:00:00:00:77:02",
    "vtep1": "0e:00:00:00:00:01", "vtep2": "0e:00:00:00:00:02",
}


def routed_overlay() -> Lab:
    """flannel-style: node1/node2 with cni0 bridges, vxlan0 (vni 1, udp 8472), pod1/pod2 on
    10.244.{1,2}.2; the neighbour caches are warm (as after a ping)."""
    lab = Lab().ns("node1", "node2", forward=True).ns("pod1", "pod2")
    lab.veth("node1", "ul0", "node2", "ul0", macs=(MAC["ul1"], MAC["ul2"]))
    lab.addr("node1", "ul0", "192.168.77.1/24").addr("node2", "ul0", "192.168.77.2/24")
    for i in (1, 2):
        node, pod, other = f"node{i}", f"pod{i}", 3 - i
        lab.link(node, "cni0", "bridge", mtu=1450, mac=MAC[f"cni{i}"])
        lab.addr(node, "cni0", f"10.244.{i}.1/24")
        lab.link(node, "vxlan0", "vxlan", mtu=1450, mac=MAC[f"vtep{i}"], vni=1, port=8472,
                 local=f"192.168.77.{i}", dev="ul0", learning=False, operstate="UNKNOWN")
        lab.addr(node, "vxlan0", f"10.244.{i}.0/32")
        lab.veth(node, "veth0", pod, "eth0", mtu=1450, macs=(MAC[f"veth{i}"], MAC[pod]), master_a="cni0")
        lab.addr(pod, "eth0", f"10.244.{i}.2/24")
        lab.route(pod, "default", via=f"10.244.{i}.1", dev="eth0")
        lab.fdb(node, "vxlan0", MAC[f"vtep{other}"], dst=f"192.168.77.{other}")
        lab.neigh(node, "vxlan0", f"10.244.{other}.0", MAC[f"vtep{other}"], "permanent")
        lab.route(node, f"10.244.{other}.0/24", via=f"10.244.{other}.0", dev="vxlan0", onlink=True)
        # warm caches, as a ping leaves them
        lab.neigh(pod, "eth0", f"10.244.{i}.1", MAC[f"cni{i}"])
        lab.neigh(node, "cni0", f"10.244.{i}.2", MAC[pod])
        lab.neigh(node, "ul0", f"192.168.77.{other}", MAC[f"ul{other}"])
        lab.fdb(node, "veth0", MAC[pod], master="cni0")
    return lab


def flood_overlay() -> Lab:
    """One L2 segment 10.250.0.0/24 over VXLAN: br0 per node with vxlan0 as a port, all-zeros
    FDB entries to the other node; the neighbour caches are cold."""
    lab = Lab().ns("node1", "node2").ns("pod1", "pod2")
    lab.veth("node1", "ul0", "node2", "ul0", macs=(MAC["ul1"], MAC["ul2"]))
    lab.addr("node1", "ul0", "192.168.77.1/24").addr("node2", "ul0", "192.168.77.2/24")
    for i in (1, 2):
        node, pod, other = f"node{i}", f"pod{i}", 3 - i
        lab.link(node, "br0", "bridge", mtu=1450, mac=MAC[f"cni{i}"])
        lab.link(node, "vxlan0", "vxlan", mtu=1450, mac=MAC[f"vtep{i}"], vni=1, port=8472,
                 local=f"192.168.77.{i}", dev="ul0", learning=False, operstate="UNKNOWN")
        lab.port(node, "vxlan0", "br0")
        lab.veth(node, "veth0", pod, "eth0", mtu=1450, macs=(MAC[f"veth{i}"], MAC[pod]), master_a="br0")
        lab.addr(pod, "eth0", f"10.250.0.{i}/24")
        lab.fdb(node, "vxlan0", "00:00:00:00:00:00", dst=f"192.168.77.{other}")
    return lab


def vlan_pair(tag_a: int = 10, tag_b: int = 10, *, warm: bool = False) -> Lab:
    """Two pods whose eth0 are 802.1Q sub-interfaces of a trunk veth between two nodes."""
    lab = Lab().ns("nodeA", "nodeB").ns("podA", "podB")
    lab.veth("nodeA", "trunk", "nodeB", "trunk", macs=("0a:00:00:00:aa:01", "0a:00:00:00:bb:01"))
    lab.link("podA", "eth0", "vlan", mac="0a:00:00:00:aa:01", vlan_id=tag_a, parent="trunk", parent_netns="nodeA")
    lab.link("podB", "eth0", "vlan", mac="0a:00:00:00:bb:01", vlan_id=tag_b, parent="trunk", parent_netns="nodeB")
    lab.addr("podA", "eth0", "10.30.0.1/24").addr("podB", "eth0", "10.30.0.2/24")
    if warm:
        lab.neigh("podA", "eth0", "10.30.0.2", "0a:00:00:00:bb:01", "permanent")
    return lab
