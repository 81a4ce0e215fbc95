"""A recipe compiled down to the resource model (pure): the desired set a lab applies.

High level to low level, on one machine (every node a namespace, joined by an underlay
namespace) or, with `node`, only what one real host runs (that node's part in the host's
own namespace; other nodes are only peers). The low-level sections pass through as they
are, with their namespace names resolved. Besides the resources, the result carries what
`check` needs later without the recipe file: every pod's namespace and addresses, and the
expectations expanded to (from, to address) pairs.

Compile-level problems (names that collide, a resource that needs a link nobody makes,
a full slice) are reported like validation problems, with the path that caused them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from kubenetctl.overlay import flood_peer, unicast_peer
from kubenetctl.ownership import lab_owner
from kubenetctl.recipe import ipam
from kubenetctl.recipe.load import Path, Problem, format_path
from kubenetctl.recipe.naming import Namer, vtep_mac
from kubenetctl.recipe.topology import UNDERLAY, NetInfo, NodeInfo, PodInfo, Topology, items
from kubenetctl.resources import Address, Fdb, Link, Masquerade, Neighbor, Netns, Resource, Route, Sysctl

UNDERLAY_BRIDGE = "br-underlay"
IP_FORWARD = "net.ipv4.ip_forward"


@dataclass
class Compiled:
    lab: str
    node: Optional[str]  # the node this host is (apply --node), or None: the whole lab here
    resources: list[Resource] = field(default_factory=list)
    adopt: set[tuple] = field(default_factory=set)
    pods: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    expect: list[dict[str, Any]] = field(default_factory=list)
    allocations: dict[str, str] = field(default_factory=dict)

    @property
    def owner(self) -> str:
        return lab_owner(self.lab)


class Compiler:
    def __init__(self, topo: Topology, node: Optional[str], previous: Mapping[str, str]) -> None:
        self.topo = topo
        self.spec = topo.recipe.spec
        self.lab = topo.lab
        self.node = node
        self.previous = previous
        self.out = Compiled(self.lab, node)
        self.made: dict[tuple, tuple[Resource, Path]] = {}  # key -> what the recipe makes, and where
        self.problems: list[Problem] = []
        self.namer = Namer()
        self.bridges: dict[tuple[str, str], str] = {}  # (network, node) -> bridge
        self.devices: dict[tuple[str, str], str] = {}  # (network, node) -> vxlan device
        self.ifnames: dict[tuple[str, str], str] = {}  # (pod, network) -> interface in the pod
        self.slices: dict[str, dict[str, ipaddress.IPv4Network]] = {}  # network -> node -> slice
        self.addresses: dict[tuple[str, str], str] = {}  # (pod, network) -> ip

    # -- helpers ---------------------------------------------------------------------
    def ns(self, logical: Optional[str]) -> Optional[str]:
        """A recipe's namespace name -> the kernel's (None: the namespace we run in)."""
        if logical is None or (self.node is not None and logical == self.node):
            return None
        return self.topo.netns(logical)

    def local(self, node: Optional[str]) -> bool:
        return self.node is None or node == self.node

    def emit(self, res: Resource, path: Path, adopt: bool = False) -> None:
        if res.key in self.made:
            first, origin = self.made[res.key]
            if first != res:
                self.problems.append(Problem(path, f"{res.describe()} is also made by {format_path(origin)}", hint="rename one of them"))
            return
        self.made[res.key] = (res, path)
        self.out.resources.append(res)
        if adopt:
            self.out.adopt.add(res.key)

    def problem(self, path: Path, message: str, hint: Optional[str] = None) -> None:
        self.problems.append(Problem(path, message, hint))

    def networks_on(self, node: str) -> list[NetInfo]:
        return [n for n in self.topo.networks.values() if node in self.slices.get(n.name, {})]

    # -- the whole compile -----------------------------------------------------------
    def run(self) -> Compiled:
        self.claim_explicit_names()
        self.allocate()
        if self.node is None and self.topo.nodes:
            self.underlay()
        for info in self.topo.nodes.values():
            self.node_part(info)
        for pod in self.topo.pods:
            self.pod(pod)
        self.low_level()
        self.dangling()
        self.expectations()
        self.out.nodes = [
            {"name": n.name, "netns": self.ns(n.name), "underlayIP": n.underlay_ip, "local": self.local(n.name)}
            for n in self.topo.nodes.values()
        ]
        return self.out

    def claim_explicit_names(self) -> None:
        for info in self.topo.nodes.values():
            self.namer.claim(self.ns(info.name), info.spec.uplink)
            for net in self.topo.networks.values():
                if net.spec.bridge:
                    self.namer.claim(self.ns(info.name), net.spec.bridge)
                if net.spec.overlay is not None and net.spec.overlay.device:
                    self.namer.claim(self.ns(info.name), net.spec.overlay.device)
        for pod in self.topo.pods:
            for att in pod.attachments:
                if att.interface:
                    self.namer.claim(self.ns(pod.name), att.interface)
        for _, _, link in items(self.spec.links, "links"):
            self.namer.claim(self.ns(link.netns), link.name)
            if link.kind == "veth":
                self.namer.claim(self.ns(link.peer.netns), link.peer.name)

    # -- addresses -------------------------------------------------------------------
    def allocate(self) -> None:
        for net in self.topo.networks.values():
            if net.cidr.version != 4:
                continue
            used = [p.node for p in self.topo.pods if p.node in self.topo.nodes and any(a.network == net.name for a in p.attachments)]
            explicit: dict[str, ipaddress.IPv4Network] = {}
            for info in self.topo.nodes.values():
                for cidr in [info.spec.podCIDR, *(info.spec.podCIDRs or [])]:
                    if cidr and ipaddress.ip_network(cidr).subnet_of(net.cidr):  # type: ignore[arg-type]
                        explicit[info.name] = ipaddress.ip_network(cidr)  # type: ignore[assignment]
            order = [n for n in self.topo.nodes if n in explicit or n in used]
            got = ipam.slices(net.cidr, net.prefix, order, explicit, self.previous, f"slice/{net.name}")  # type: ignore[arg-type]
            for why in got.short.values():
                self.problem((*net.path, "cidr"), why, hint="use a larger cidr or a longer nodePrefix")
            self.slices[net.name] = {n: ipaddress.ip_network(s) for n, s in got.values.items()}  # type: ignore[misc]
            self.out.allocations.update({f"slice/{net.name}/{n}": s for n, s in got.values.items()})
            self.allocate_pods(net)

    def allocate_pods(self, net: NetInfo) -> None:
        pinned = {a.ip for p in self.topo.pods for a in p.attachments if a.network == net.name and a.ip}
        by_node: dict[str, list[tuple[str, Optional[str]]]] = {}
        paths: dict[str, Path] = {}
        for pod in self.topo.pods:
            for k, att in enumerate(pod.attachments):
                if att.network != net.name or pod.node not in self.slices[net.name]:
                    continue
                key = f"{pod.name}/{net.name}"
                paths[key] = (*pod.path, "networks", k)
                by_node.setdefault(pod.node, []).append((key, att.ip))  # type: ignore[arg-type]
                slice_ = self.slices[net.name][pod.node]  # type: ignore[index]
                if att.ip:
                    self.check_pinned(net, slice_, pod.node, att.ip, (*paths[key], "ip"))  # type: ignore[arg-type]
        for node, wanted in by_node.items():
            slice_ = self.slices[net.name][node]
            got = ipam.addresses(slice_, wanted, self.previous, pinned - {ip for _, ip in wanted if ip})
            if got.short:
                capacity = ipam.pod_capacity(slice_)
                first = next(iter(got.short))
                self.problem(paths[first], f"node {node}'s slice {slice_} of network {net.name} holds {capacity} pods, "
                             f"{len(wanted)} are placed there", hint="give the network a shorter nodePrefix (a larger slice)")
            for key, ip in got.values.items():
                pod_name = key.rsplit("/", 1)[0]
                self.addresses[(pod_name, net.name)] = ip
                self.out.allocations[key] = ip

    def check_pinned(self, net: NetInfo, slice_: ipaddress.IPv4Network, node: str, ip: str, path: Path) -> None:
        """A fixed pod address must be one the allocator could hand out: in the node's slice
        (routed) and none of the slice's (or, L2, the network's) reserved addresses."""
        if not net.l2 and ipaddress.ip_address(ip) not in slice_:
            self.problem(path, f"{ip} is not in node {node}'s slice {slice_} of network {net.name}",
                         hint="in a routed network a pod's address must be in its node's slice")
            return
        where = net.cidr if net.l2 else slice_
        what = ipam.reserved(where, ip, gateway=not net.l2)  # type: ignore[arg-type]
        if what is not None:
            whose = f"network {net.name} ({where})" if net.l2 else f"node {node}'s slice {slice_} of network {net.name}"
            self.problem(path, f"{ip} is the {what} of {whose}, not a pod's",
                         hint="pick another address, or drop ip to have one allocated")

    # -- the simulated underlay -----------------------------------------------------------
    def underlay(self) -> None:
        ul = self.ns(UNDERLAY)
        path: Path = ("spec", "underlay")
        net = self.topo.underlay
        self.namer.claim(ul, UNDERLAY_BRIDGE)
        self.emit(Netns(ul), path)  # type: ignore[arg-type]
        self.emit(Link(ul, UNDERLAY_BRIDGE, "bridge", mtu=self.spec.underlay.mtu), path)
        self.emit(Address(ul, UNDERLAY_BRIDGE, f"{net.network_address + 1}/{net.prefixlen}"), path)

    # -- nodes -------------------------------------------------------------------------
    def node_part(self, info: NodeInfo) -> None:
        if not self.local(info.name):
            return
        nns = self.ns(info.name)
        uplink = info.spec.uplink
        mtu = self.spec.underlay.mtu
        if self.node is None:
            ul = self.ns(UNDERLAY)
            port = self.namer.readable(ul, info.name)
            self.emit(Netns(nns), info.path)  # type: ignore[arg-type]
            self.emit(Link(nns, uplink, "veth", mtu=mtu, peer=port, peer_netns=ul), info.path)
            self.emit(Link(ul, port, "veth", mtu=mtu, master=UNDERLAY_BRIDGE, peer=uplink, peer_netns=nns), info.path)
            if info.underlay_ip is not None:
                self.emit(Address(nns, uplink, f"{info.underlay_ip}/{self.topo.underlay.prefixlen}"), info.path)
                self.emit(Route(nns, "0.0.0.0/0", via=str(self.topo.underlay.network_address + 1)), info.path)
        networks = self.networks_on(info.name)
        if networks:
            self.emit(Sysctl(nns, IP_FORWARD, "1"), info.path)
        for net in networks:
            self.network_on_node(net, info)

    def network_on_node(self, net: NetInfo, info: NodeInfo) -> None:
        nns = self.ns(info.name)
        slice_ = self.slices[net.name][info.name]
        bridge = net.spec.bridge or self.namer.readable(nns, f"br-{net.name}")
        self.bridges[(net.name, info.name)] = bridge
        self.emit(Link(nns, bridge, "bridge", mtu=net.mtu), net.path)
        if net.gateway:
            self.emit(Address(nns, bridge, f"{ipam.gateway(slice_)}/{slice_.prefixlen}"), net.path)
        overlay = net.spec.overlay
        if overlay is not None:
            opath = (*net.path, "overlay")
            default = f"flannel.{overlay.vni}" if overlay.mode == "routed" else f"vxlan{overlay.vni}"
            dev = overlay.device or self.namer.readable(nns, default)
            self.devices[(net.name, info.name)] = dev
            self.emit(Link(
                nns, dev, "vxlan", mtu=net.mtu, mac=vtep_mac(f"{self.lab}/{info.name}/{net.name}"),
                master=bridge if overlay.mode == "flood" else None, vni=overlay.vni, port=overlay.port,
                local=info.underlay_ip, dev=info.spec.uplink, learning=overlay.learning,
            ), opath)
            peers = [self.topo.nodes[n] for n in self.slices[net.name] if n != info.name]
            if overlay.mode == "routed":
                self.emit(Address(nns, dev, f"{slice_.network_address}/32"), opath)
                for peer in peers:
                    for res in unicast_peer(nns, dev, peer.underlay_ip or "", vtep_mac(f"{self.lab}/{peer.name}/{net.name}"),
                                            str(self.slices[net.name][peer.name])):
                        self.emit(res, opath)
            else:
                for peer in peers:
                    for res in flood_peer(nns, dev, peer.underlay_ip):  # type: ignore[arg-type]
                        self.emit(res, opath)
        if net.spec.vlan is not None:
            sub = self.namer.readable(nns, f"{info.spec.uplink}.{net.spec.vlan}")
            self.emit(Link(nns, sub, "vlan", mtu=net.mtu, master=bridge, parent=info.spec.uplink, parent_netns=nns,
                           vlan_id=net.spec.vlan), (*net.path, "vlan"))
        if net.spec.masquerade:
            self.emit(Masquerade(nns, str(slice_), exclude=str(net.cidr)), (*net.path, "masquerade"))

    # -- pods --------------------------------------------------------------------------
    def pod(self, pod: PodInfo) -> None:
        if pod.node not in self.topo.nodes or not self.local(pod.node):
            return
        pns = self.ns(pod.name)
        nns = self.ns(pod.node)
        self.emit(Netns(pns), pod.path)  # type: ignore[arg-type]
        for k, att in enumerate(pod.attachments):
            net = self.topo.networks.get(att.network)
            ip = self.addresses.get((pod.name, att.network))
            if net is None or ip is None:
                continue
            apath = (*pod.path, "networks", k)
            ifname = att.interface or self.namer.readable(pns, "eth0" if k == 0 else f"net{k}")
            self.ifnames[(pod.name, net.name)] = ifname
            host = self.namer.hashed(nns, self.spec.naming.vethPrefix, f"{self.lab}/{pod.name}/{net.name}")
            bridge = self.bridges[(net.name, pod.node)]  # type: ignore[index]
            slice_ = self.slices[net.name][pod.node]  # type: ignore[index]
            self.emit(Link(nns, host, "veth", mtu=net.mtu, master=bridge, peer=ifname, peer_netns=pns), apath)
            self.emit(Link(pns, ifname, "veth", mtu=net.mtu, peer=host, peer_netns=nns), apath)
            prefix = net.cidr.prefixlen if net.l2 else slice_.prefixlen
            self.emit(Address(pns, ifname, f"{ip}/{prefix}"), apath)
            if net.gateway:
                gw = str(ipam.gateway(slice_))
                if k == 0:
                    self.emit(Route(pns, "0.0.0.0/0", via=gw), apath)
                elif net.cidr != slice_:
                    self.emit(Route(pns, str(net.cidr), via=gw), apath)

    # -- low level -----------------------------------------------------------------------
    def included(self, item: Any) -> bool:
        return self.node is None or getattr(item, "node", None) == self.node

    def low_level(self) -> None:
        spec = self.spec
        for _, path, ns in items(spec.namespaces, "namespaces"):
            if self.included(ns) and self.ns(ns.name) is not None:
                self.emit(Netns(self.ns(ns.name)), path, adopt=ns.adopt)  # type: ignore[arg-type]
        for _, path, link in items(spec.links, "links"):
            if self.included(link):
                for res in self.links(link):
                    self.emit(res, path, adopt=link.adopt)
        for _, path, a in items(spec.addresses, "addresses"):
            if self.included(a):
                self.emit(Address(self.ns(a.netns), a.link, a.cidr), path)
        for _, path, r in items(spec.routes, "routes"):
            if self.included(r):
                self.emit(Route(self.ns(r.netns), r.dst, via=r.via, dev=r.dev, onlink=r.onlink, table=r.table,
                                metric=r.metric, src=r.src), path)
        for _, path, f in items(spec.fdb, "fdb"):
            if self.included(f):
                self.emit(Fdb(self.ns(f.netns), f.link, f.mac, f.dst), path)
        for _, path, n in items(spec.neighbors, "neighbors"):
            if self.included(n):
                self.emit(Neighbor(self.ns(n.netns), n.link, n.ip, n.mac), path)
        for _, path, s in items(spec.sysctls, "sysctls"):
            if self.included(s):
                self.emit(Sysctl(self.ns(s.netns), s.name, s.value), path)
        for _, path, m in items(spec.masquerade, "masquerade"):
            if self.included(m):
                self.emit(Masquerade(self.ns(m.netns), m.src, exclude=m.exclude, out=m.out), path)

    def links(self, link: Any) -> list[Resource]:
        ns = self.ns(link.netns)
        common = dict(mtu=link.mtu, mac=link.mac, up=link.up, master=link.master)
        if link.kind == "veth":
            peer = link.peer
            pns = self.ns(peer.netns)
            return [
                Link(ns, link.name, "veth", peer=peer.name, peer_netns=pns, **common),
                Link(pns, peer.name, "veth", mtu=peer.mtu or link.mtu, mac=peer.mac, up=peer.up, master=peer.master,
                     peer=link.name, peer_netns=ns),
            ]
        if link.kind in ("vlan", "macvlan"):
            parent_ns = self.ns(link.parentNetns) if link.parentNetns else ns
            extra = {"vlan_id": link.vlanId} if link.kind == "vlan" else {"mode": link.mode}
            return [Link(ns, link.name, link.kind, parent=link.parent, parent_netns=parent_ns, **extra, **common)]
        if link.kind == "vxlan":
            return [Link(ns, link.name, "vxlan", vni=link.vni, port=link.port, local=link.local, dev=link.dev,
                         learning=link.learning, **common)]
        return [Link(ns, link.name, link.kind, **common)]

    # -- references ------------------------------------------------------------------------
    def dangling(self) -> None:
        """Every dependency is made by the recipe, or lives where the recipe does not own
        the namespace (the host's, or an adopted one: its links may already exist)."""
        adopted_ns = {key[1] for key in self.out.adopt if key[0] == "netns"}
        for res in self.out.resources:
            for dep in res.deps():
                if dep in self.made or dep[1] is None or dep[1] in adopted_ns:
                    continue
                what = f"netns {dep[1]}" if dep[0] == "netns" else f"link {dep[2]} in netns {dep[1]}"
                self.problem(self.made[res.key][1], f"{res.describe()} needs {what}, which the recipe does not create",
                             hint="declare it, or check the spelling")

    # -- expectations -------------------------------------------------------------------
    def expectations(self) -> None:
        pods = {p.name: p for p in self.topo.pods}
        for pod in self.topo.pods:
            self.out.pods.append({
                "name": pod.name, "node": pod.node, "netns": self.ns(pod.name), "local": self.local(pod.node),
                "addresses": {a.network: self.addresses.get((pod.name, a.network)) for a in pod.attachments},
                "interfaces": {a.network: self.ifnames.get((pod.name, a.network)) for a in pod.attachments},
            })
        for _, path, exp in items(self.spec.expect, "expect"):
            for src in self._expand(exp.from_):
                for dst in self._expand(exp.to):
                    if src == dst:
                        continue
                    target = self._target(src, dst, exp.network, pods, path)
                    if target is None:
                        continue
                    address, network = target
                    sender = pods.get(src)
                    src_node = sender.node if sender else src
                    self.out.expect.append({
                        "from": src, "netns": self.ns(src), "local": self.local(src_node), "to": dst,
                        "address": address, "network": network, "reach": exp.reach, "path": format_path(path),
                    })

    def _expand(self, refs: list[str]) -> list[str]:
        return [name for ref in refs for name in self.topo.groups.get(ref, [ref])]

    def _target(self, src: str, dst: str, network: Optional[str], pods: dict[str, PodInfo], path: Path) -> Optional[tuple[str, Optional[str]]]:
        if dst in self.topo.nodes:
            return self.topo.nodes[dst].underlay_ip or "", "underlay"
        if dst not in pods:
            return dst, None  # an IP address
        joined = [a.network for a in pods[dst].attachments]
        if network is not None:
            if network not in joined:
                self.problem((*path, "network"), f"pod {dst} is not on network {network}", hint=f"it joins {', '.join(joined)}")
                return None
            chosen = network
        else:
            mine = [a.network for a in pods[src].attachments] if src in pods else []
            chosen = next((n for n in mine if n in joined), joined[0])
        address = self.addresses.get((dst, chosen))
        return (address, chosen) if address else None


def compile_topology(topo: Topology, node: Optional[str] = None, previous: Mapping[str, str] | None = None) -> tuple[Compiled, list[Problem]]:
    compiler = Compiler(topo, node, previous or {})
    compiled = compiler.run()
    return compiled, compiler.problems
