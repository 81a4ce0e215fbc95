"""The static walk: follow one packet through namespaces, bridges and VXLAN tunnels (pure).

Models the IPv4 datapath of plain Linux the way the kernel takes its decisions:

  route lookup (longest prefix, then lowest metric; local table first) -> neighbour
  (cache, or who would answer ARP on that segment) -> transmit on the device (needs
  carrier; the packet must fit its MTU) -> veth peer (must fit the peer's MTU) -> bridge
  (port state, FDB: local / learned / static / flooding) -> VXLAN (FDB exact entry or the
  all-zeros default -> outer UDP packet from the VTEP's local IP, routed through the
  underlay) -> receiving namespace (local delivery; UDP port + VNI pick the VXLAN device
  that decapsulates) -> forwarding (ip_forward / conf.<dev>.forwarding, rp_filter) -> ...

Not modelled: netfilter, tc, policy routing rules (only table main is used; a note says
when rules exist), IPv6 neighbour discovery details, bridge VLAN filtering.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace

from kubenetctl.overlay import FLOOD_MAC
from kubenetctl.resources import Link, Route
from kubenetctl.topology import NS, RT_TYPES, Topology, conf_key, ns_label, route_text
from kubenetctl.trace import l2
from kubenetctl.trace.model import VXLAN_ENCAP, Encap, Hop, Packet, Path, Point, Rule, Stop

BROADCAST = "ff:ff:ff:ff:ff:ff"
VLAN_SLACK = 4  # is_skb_forwardable() lets frames 4 bytes (a VLAN tag) over the MTU through a veth or bridge port
MAX_HOPS = 64


@dataclass(frozen=True)
class Frame:
    dst_mac: str
    pkt: Packet
    vlan: int | None = None


class _Stopped(Exception):
    def __init__(self, stop: Stop) -> None:
        super().__init__(stop.message)
        self.stop = stop


def _n(ns: NS) -> str:
    """The --netns option of a hint command (nothing for the host)."""
    return f" -n {ns}" if ns is not None else ""


def where(ns: NS) -> str:
    return f"netns {ns}" if ns is not None else "the host netns"


def lookup(topo: Topology, ns: NS, dst: str, oif: str | None = None) -> Route | None:
    """Longest prefix match in table main, lowest metric first; `oif` limits the devices."""
    addr = ipaddress.ip_address(dst)
    best: Route | None = None
    best_key: tuple[int, int] = (-1, 0)
    for route in topo.routes(ns):
        net = ipaddress.ip_network(route.dst)
        if net.version != addr.version or addr not in net:
            continue
        if oif is not None and route.dev not in (None, oif):
            continue
        key = (net.prefixlen, -(route.metric or 0))
        if key > best_key:
            best, best_key = route, key
    return best


class Walker:
    """One walk of one packet from its source namespace to wherever it ends."""

    def __init__(self, topo: Topology, max_hops: int = MAX_HOPS) -> None:
        self.topo = topo
        self.max_hops = max_hops

    # -- entry ----------------------------------------------------------------------
    def walk(self, src_ns: NS, pkt: Packet) -> Path:
        self.path = Path(pkt)
        self.pending: list[Rule] = []
        self.seen: set[tuple] = set()
        self.origin: tuple[NS, Link] | None = None
        self.target = pkt
        try:
            self._originate(src_ns, pkt)
        except _Stopped as stopped:
            self.path.stop = stopped.stop
        if self.topo.facts.policy_rules.get(src_ns):
            self.path.notes.append(f"{ns_label(src_ns)} has policy routing rules: this walk uses table main only")
        self._note_path_mtu()
        return self.path

    # -- helpers --------------------------------------------------------------------
    def rule(self, kind: str, text: str) -> None:
        self.pending.append(Rule(kind, text))

    def fail(self, reason: str, message: str, ns: NS, dev: str | None = None, *, hint: str | None = None,
             blocked: Point | None = None) -> _Stopped:
        stop = Stop(reason, message, ns, dev, hint=hint, rules=self.pending, blocked=blocked)
        self.pending = []
        return _Stopped(stop)

    def hop(self, point: Point, link: Link, pkt: Packet) -> None:
        key = (point, pkt.innermost.dst, pkt.encap is not None, pkt.reply_to)
        if key in self.seen or len(self.path.hops) >= self.max_hops:
            raise self.fail("loop", f"the packet comes back to {point.dev} in {where(point.netns)}: a forwarding loop",
                            point.netns, point.dev)
        self.seen.add(key)
        encap = None
        if pkt.encap is not None:
            encap = {"src": pkt.src, "dst": pkt.dst, "vni": pkt.encap.vni, "port": pkt.encap.port}
        self.path.hops.append(Hop(point, self.pending, encap=encap, mtu=link.mtu))
        self.pending = []
        self._track_mtu(link, pkt, point)

    def _track_mtu(self, link: Link, pkt: Packet, point: Point) -> None:
        if link.mtu is None or link.kind == "lo":
            return
        mtu = link.mtu - (VXLAN_ENCAP if pkt.encap is not None else 0)
        if self.path.path_mtu is None or mtu < self.path.path_mtu[0]:
            self.path.path_mtu = (mtu, point)

    def _note_path_mtu(self) -> None:
        if self.origin is None or self.path.path_mtu is None:
            return
        ns, link = self.origin
        mtu, point = self.path.path_mtu
        if link.mtu is not None and mtu < link.mtu:
            self.path.notes.append(
                f"path MTU is {mtu} ({point.dev} in {ns_label(point.netns)}), below the source's MTU {link.mtu} "
                f"({link.name} in {ns_label(ns)}): packets bigger than {mtu} bytes are dropped on this path"
            )

    def _source_mtu_text(self, failing: Link | None = None) -> str:
        if self.origin is None or (failing is not None and self.origin[1].key == failing.key):
            return ""
        ns, link = self.origin
        return f" (the source {link.name} in {ns_label(ns)} has MTU {link.mtu})"

    def _unknown_destination(self) -> bool:
        return not self.topo.holders(self.target.dst)

    # -- L3 -------------------------------------------------------------------------
    def _originate(self, ns: NS, pkt: Packet) -> None:
        local = self.topo.local_dev(ns, pkt.dst)
        if local is not None:
            self.rule("local", f"local {pkt.dst} dev {local} table local")
            self.path.delivered = Point(ns, local, "in")
            self.path.final_rules, self.pending = self.pending, []
            return
        route = self._route(ns, pkt, oif=None)
        link = self._egress(ns, route)
        self.origin = (ns, link)
        self._output(ns, route, link, pkt, forwarded=False)

    def _route(self, ns: NS, pkt: Packet, oif: str | None) -> Route:
        route = lookup(self.topo, ns, pkt.dst, oif)
        if route is not None:
            return self._matched(ns, pkt, route)
        via = f" through {oif}" if oif else ""
        down = self._down_subnet(ns, pkt.dst)
        if down is not None:
            raise self.fail(
                "link_down", f"no route to {pkt.dst} in {where(ns)}: {down.name} holds the subnet but is "
                "administratively down, and the kernel removes a link's routes while it is down", ns, down.name,
                hint=self._up_hint(down), blocked=Point(ns, down.name, "out"),
            )
        if pkt.encap is not None:
            raise self.fail(
                "no_route", f"no route to the remote VTEP {pkt.dst}{via} in {where(ns)}: the encapsulated packet "
                "cannot leave", ns, oif,
                hint=f"add an underlay route: kubenetctl route add <underlay subnet> --dev {oif or '<uplink>'}{_n(ns)}",
            )
        if self._unknown_destination() and pkt.dst == self.target.dst:
            raise self.fail(
                "no_destination", f"{pkt.dst} is not in any pod or namespace, and {where(ns)} has no route to it",
                ns, hint="check the destination address (kubenetctl inspect shows every pod's addresses)",
            )
        downs = [lk.name for lk in self.topo.links(ns) if not lk.up and lk.name != "lo"]
        note = f" ({', '.join(downs)} down: the kernel removes a link's routes while it is down)" if downs else ""
        raise self.fail(
            "no_route", f"no route to {pkt.dst} in {where(ns)}: no entry of table main matches{via}{note}", ns,
            hint=f"add a route to {pkt.dst} (or a default route): kubenetctl route add <network> --via <gateway>{_n(ns)}",
        )

    def _down_subnet(self, ns: NS, ip: str) -> Link | None:
        addr = ipaddress.ip_address(ip)
        for link in self.topo.links(ns):
            if not link.up and any(addr in iface.network for iface in self.topo.addresses(ns, link.name)):
                return link
        return None

    def _matched(self, ns: NS, pkt: Packet, route: Route) -> Route:
        rtype = RT_TYPES.get(self.topo.snap.fact(route.key, "type"))
        self.rule("route", route_text(self.topo, route))
        if rtype:
            raise self.fail("no_route", f"the route that matches {pkt.dst} in {where(ns)} is a {rtype} route: "
                            "the kernel drops the packet", ns, route.dev)
        return route

    def _egress(self, ns: NS, route: Route) -> Link:
        link = self.topo.link(ns, route.dev)
        if link is None:
            raise self.fail("unsupported", f"the route {route_text(self.topo, route)} in {where(ns)} has no single "
                            "device (multipath routes are not modelled)", ns)
        return link

    def _output(self, ns: NS, route: Route, link: Link, pkt: Packet, *, forwarded: bool) -> None:
        learned = self.topo.facts.pmtu.get((ns, pkt.dst))
        if learned is not None and pkt.size > learned.mtu and (pkt.encap is None or pkt.encap.df):
            expiry = f", forgotten in {learned.expires} s" if learned.expires else ""
            raise self.fail(
                "mtu", f"the packet ({pkt.size} bytes) is bigger than the path MTU {learned.mtu} that {where(ns)} "
                f"learned for {pkt.dst} (an ICMP 'fragmentation needed' came back earlier{expiry}), although "
                f"{link.name} has MTU {link.mtu}{self._source_mtu_text(link)}", ns, link.name,
                hint=f"fix the small MTU on the path, then flush the learned one: ip{_n(ns)} route flush cache",
                blocked=Point(ns, link.name, "out"),
            )
        size_ok = link.mtu is None or pkt.size <= link.mtu
        if not size_ok and pkt.encap is not None and not pkt.encap.df:
            self.path.notes.append(
                f"the encapsulated packet ({pkt.size} bytes) is bigger than the MTU {link.mtu} of {link.name} in "
                f"{ns_label(ns)}: it is sent in IP fragments (slow; lower the VXLAN device's MTU)"
            )
            pkt = replace(pkt, size=link.mtu or pkt.size)  # the fragments fit; the receiver reassembles them
        elif not size_ok:
            if pkt.encap is not None:
                what = "the VXLAN device sets DF on the outer packet, so it is dropped"
            elif forwarded:
                what = f"{ns_label(ns)} drops it and answers 'fragmentation needed (mtu {link.mtu})'"
            else:
                what = "the socket refuses to send it (EMSGSIZE, 'message too long')"
            raise self.fail(
                "mtu", f"the packet ({pkt.size} bytes) is bigger than the MTU {link.mtu} of {link.name} in "
                f"{where(ns)}{self._source_mtu_text(link)}: {what}", ns, link.name,
                hint=f"send smaller packets, or give every interface on the path the same MTU "
                f"(kubenetctl link set {link.name} --mtu <n>{_n(ns)})",
                blocked=Point(ns, link.name, "out"),
            )
        nexthop = route.via or pkt.dst
        mac = self._resolve(ns, link, nexthop, pkt)
        self._transmit(ns, link, Frame(mac, pkt))

    def _resolve(self, ns: NS, link: Link, nexthop: str, pkt: Packet) -> str:
        entry = self.topo.neighbor(ns, link.name, nexthop)
        if entry is not None and entry.usable:
            self.rule("neighbour", entry.describe())
            return entry.mac or ""
        found, flood = l2.answers(self.topo, ns, link.name, nexthop)
        cached = f"{entry.state.upper()}" if entry is not None else "not cached"
        if found:
            who = found[0]
            self.rule("neighbour", f"{nexthop} dev {link.name} {cached}: ARP is answered by {who.name} in "
                      f"{ns_label(who.netns)} (lladdr {who.mac})")
            return who.mac or ""
        raise self._no_neighbour(ns, link, nexthop, pkt, flood, cached)

    def _no_neighbour(self, ns: NS, link: Link, nexthop: str, pkt: Packet, flood: l2.Flood, cached: str) -> _Stopped:
        holders = self.topo.holders(nexthop)
        for dn, ddev, tag, carried in flood.vlan_drops:
            for child in self.topo.children(dn, ddev, "vlan"):
                if (child.netns, child.name) in holders or self.topo.local_dev(child.netns, nexthop):
                    return self.fail(
                        "vlan_mismatch", f"ARP for {nexthop} leaves {link.name} in {where(ns)} tagged VLAN {tag}, but "
                        f"{nexthop} sits on {child.name} in {where(child.netns)}, which is VLAN {child.vlan_id} on "
                        f"{ddev} in {where(dn)}: the frame is dropped there", dn, ddev,
                        hint=f"put both ends on the same VLAN id (VLAN {tag} or {child.vlan_id})",
                        blocked=Point(child.netns, child.name, "in"),
                    )
        if not holders and nexthop == self.target.dst:
            return self.fail(
                "no_destination", f"{nexthop} is not in any pod or namespace: ARP for it on {link.name} in {where(ns)} "
                "gets no answer", ns, link.name,
                hint="check the destination address (kubenetctl inspect shows every pod's addresses)",
            )
        if holders:
            hn, hdev = holders[0]
            owner = self.topo.link(hn, hdev)
            hint = (f"kubenetctl neigh add {link.name} {nexthop} {owner.mac}{_n(ns)}"
                    if owner is not None and owner.mac else None)
            # find what stands in the way: the same search with every link state ignored
            found, blocked_flood = l2.answers(self.topo, ns, link.name, nexthop, ignore_state=True)
            if found and blocked_flood.blocked:
                down = blocked_flood.blocked[0]
                return self.fail(
                    "link_down", f"ARP for {nexthop} on {link.name} in {where(ns)} gets no answer: {self._down_text(down)}",
                    down.netns, down.name, hint=self._up_hint(down), blocked=Point(ns, link.name, "out"),
                )
            for dead in flood.dead_ends:
                unicast = any(e.mac != FLOOD_MAC for e in self.topo.dev_fdb(dead.netns, dead.name))
                peers = [v for v in self._vteps_like(dead) if self._reaches_over(v, nexthop)]
                if not peers or (unicast and dead.key == link.key):
                    continue  # a unicast (flannel-style) VTEP wants a permanent neighbour, not flooding
                fix = f"kubenetctl vxlan peer add {dead.name} --remote {peers[0].local}{_n(dead.netns)}"
                return self.fail(
                    "no_fdb", f"ARP for {nexthop} on {link.name} in {where(ns)} gets no answer: it cannot cross "
                    f"{dead.name} in {where(dead.netns)}, which has no flood (00:00:00:00:00:00) FDB entry for the "
                    f"VTEP {peers[0].local} ({peers[0].name} in {ns_label(peers[0].netns)}) behind which {nexthop} sits",
                    dead.netns, dead.name, hint=f"add the flood entry: {fix}",
                    blocked=Point(ns, link.name, "out") if (ns, link.name) != (dead.netns, dead.name) else None,
                )
            detail = (f"{link.name} is a VXLAN device with no flood (00:00:00:00:00:00) FDB entry, so ARP "
                      "cannot cross the tunnel" if link.kind == "vxlan" else
                      f"nothing on the L2 segment of {link.name} has it ({nexthop} is on {hdev} in {where(hn)})")
            return self.fail(
                "no_neighbor", f"no neighbour entry for {nexthop} on {link.name} in {where(ns)} ({cached}) and ARP "
                f"cannot resolve it: {detail}", ns, link.name, hint=hint and f"add it: {hint}",
            )
        return self.fail(
            "no_neighbor", f"no neighbour entry for {nexthop} on {link.name} in {where(ns)} ({cached}) and no "
            "namespace holds that address", ns, link.name, hint="check the route's gateway",
        )

    def _vteps_like(self, vx: Link) -> list[Link]:
        """Other VXLAN devices of the same VNI and port (the peers it could have)."""
        return [v for n in self.topo.namespaces() for v in self.topo.vxlans(n)
                if v.key != vx.key and v.vni == vx.vni and v.port == vx.port and v.local]

    def _reaches_over(self, remote: Link, ip: str) -> bool:
        """Would ARP for `ip` be answered behind the VTEP `remote`, were a frame to reach it?"""
        found, _ = l2.answers(self.topo, remote.netns, remote.name, ip, ignore_state=True, start="rx")
        return bool(found)

    def _input(self, ns: NS, link: Link, pkt: Packet) -> None:
        """The packet reaches the IP stack of `ns` on `link`."""
        local = self.topo.local_dev(ns, pkt.dst)
        if local is not None:
            self._rp_filter(ns, link, pkt)
            if pkt.encap is not None:
                self._decapsulate(ns, pkt)
                return
            self.rule("local", f"local {pkt.dst} dev {local} table local: delivered")
            self.path.delivered = Point(ns, link.name, "in")
            self.path.final_rules, self.pending = self.pending, []
            return
        route = self._route(ns, pkt, oif=None)
        out = self._egress(ns, route)
        on, key, value = self.topo.forwarding(ns, link.name)
        knob = f"{key}={value}"
        if not on:
            raise self.fail(
                "forwarding_disabled", f"{where(ns)} does not forward: {knob}, so the packet that arrived on "
                f"{link.name} is dropped instead of leaving through {out.name}", ns, link.name,
                hint=f"kubenetctl sysctl set {key} 1{_n(ns)}",
                blocked=Point(ns, out.name, "out"),
            )
        self._rp_filter(ns, link, pkt)
        self.rule("forward", f"{knob}: forwarded from {link.name} to {out.name}")
        self._output(ns, route, out, pkt, forwarded=True)

    def _rp_filter(self, ns: NS, link: Link, pkt: Packet) -> None:
        mode = self.topo.rp_filter(ns, link.name)
        if mode == 0 or self.topo.local_dev(ns, pkt.src) is not None:
            return
        back = lookup(self.topo, ns, pkt.src)
        if back is None or (mode == 1 and back.dev != link.name):
            way = "there is no route back" if back is None else f"the way back goes through {back.dev}"
            raise self.fail(
                "rp_filter", f"rp_filter={mode} on {link.name} in {where(ns)} drops the packet: to reach its "
                f"source {pkt.src} {way}, not {link.name}", ns, link.name,
                hint=f"add the return route, or relax it: kubenetctl sysctl set {conf_key(link.name, 'rp_filter')} 2"
                f"{_n(ns)}",
            )

    # -- L2 -------------------------------------------------------------------------
    def _transmit(self, ns: NS, link: Link, frame: Frame) -> None:
        """The frame leaves through `link`."""
        if not self.topo.can_transmit(link):
            raise self.fail("link_down", self._down_text(link), ns, link.name, hint=self._up_hint(link),
                            blocked=Point(ns, link.name, "out"))
        self.hop(Point(ns, link.name, "out"), link, frame.pkt)
        if link.kind == "veth":
            peer = self.topo.peer(link)
            if peer is None:
                raise self.fail("unobserved", f"the peer of {link.name} in {where(ns)} lives in a namespace this "
                                "trace did not read", ns, link.name)
            if peer.mtu is not None and frame.pkt.size > peer.mtu + VLAN_SLACK:
                raise self.fail(
                    "mtu", f"the packet ({frame.pkt.size} bytes) leaves {link.name} in {where(ns)} (MTU {link.mtu}) but "
                    f"its peer {peer.name} in {where(peer.netns)} has MTU {peer.mtu}: the peer drops it",
                    peer.netns, peer.name, blocked=Point(peer.netns, peer.name, "in"),
                    hint=f"give both ends the same MTU (kubenetctl link set {peer.name} --mtu {link.mtu}"
                    f"{_n(peer.netns)})",
                )
            self.rule("veth", f"{peer.name} is the veth peer of {link.name} in {ns_label(ns)}")
            self._receive(peer.netns, peer, frame)
        elif link.kind == "bridge":
            self._bridge(ns, link, None, frame)
        elif link.kind == "vxlan":
            self._vxlan_out(ns, link, frame)
        elif link.kind in ("vlan", "macvlan"):
            parent = self.topo.parent(link)
            if parent is None:
                raise self.fail("unobserved", f"the parent of {link.name} in {where(ns)} was not read", ns, link.name)
            if link.kind == "vlan":
                self.rule("vlan", f"{link.name} is VLAN {link.vlan_id} on {parent.name}: the frame is tagged {link.vlan_id}")
                frame = replace(frame, vlan=link.vlan_id)
            else:
                self.rule("vlan", f"{link.name} is a macvlan on {parent.name}")
            self._transmit(parent.netns, parent, frame)
        else:
            reason = "no_destination" if self._unknown_destination() else "unobserved"
            raise self.fail(reason, f"the packet leaves through {link.name} ({link.kind}) in {where(ns)}, out of the "
                            "namespaces kubenetctl observed", ns, link.name)

    def _receive(self, ns: NS, link: Link, frame: Frame) -> None:
        """The frame arrives on `link`."""
        self.hop(Point(ns, link.name, "in"), link, frame.pkt)
        if frame.vlan is not None and not link.master:
            children = self.topo.children(ns, link.name, "vlan")
            match = [c for c in children if c.vlan_id == frame.vlan]
            if not match:
                carried = ", ".join(str(c.vlan_id) for c in children) or "none"
                raise self.fail(
                    "vlan_mismatch", f"the frame arrives on {link.name} in {where(ns)} tagged VLAN {frame.vlan}, but "
                    f"{link.name} carries VLANs {carried}: the kernel drops it", ns, link.name,
                    hint="put both ends on the same VLAN id",
                )
            child = match[0]
            if not child.up:
                raise self.fail("link_down", self._down_text(child), child.netns, child.name, hint=self._up_hint(child),
                                blocked=Point(child.netns, child.name, "in"))
            self.rule("vlan", f"VLAN {frame.vlan} on {link.name} is {child.name} in {ns_label(child.netns)}: untagged")
            self._receive(child.netns, child, replace(frame, vlan=None))
            return
        if link.master:
            bridge = self.topo.link(ns, link.master)
            if bridge is None:
                raise self.fail("unobserved", f"the bridge {link.master} of {link.name} was not read", ns, link.name)
            self._bridge(ns, bridge, link, frame)
            return
        for child in self.topo.children(ns, link.name, "macvlan"):
            if (child.mac or "").lower() == frame.dst_mac.lower():
                self.rule("vlan", f"{frame.dst_mac} is the macvlan {child.name} on {link.name}")
                self._receive(child.netns, child, frame)
                return
        if frame.dst_mac.lower() not in ((link.mac or "").lower(), BROADCAST):
            raise self.fail(
                "wrong_mac", f"the frame for {frame.dst_mac} arrives on {link.name} in {where(ns)}, whose address is "
                f"{link.mac}: it is not for this interface and is dropped (a stale neighbour or FDB entry?)",
                ns, link.name,
            )
        self._input(ns, link, frame.pkt)

    def _bridge(self, ns: NS, bridge: Link, ingress: Link | None, frame: Frame) -> None:
        mac = frame.dst_mac.lower()
        if ingress is not None:
            info = self.topo.port_info(ns, ingress.name)
            if info is not None and info.state != "forwarding":
                raise self.fail(
                    "link_down", f"{ingress.name} is a port of {bridge.name} in {where(ns)} in state {info.state}: "
                    "the bridge drops what arrives on it", ns, ingress.name, hint=self._up_hint(ingress),
                )
        entries = self.topo.bridge_fdb(ns, bridge.name)
        local = [e for e in entries if e.mac.lower() == mac and e.local]
        if ingress is not None and (mac == (bridge.mac or "").lower() or local):
            text = local[0].describe() if local else f"{mac} is {bridge.name}'s own address"
            self.rule("bridge-fdb", f"{text}: up to {bridge.name}'s IP stack")
            self.hop(Point(ns, bridge.name, "in"), bridge, frame.pkt)
            self._input(ns, bridge, frame.pkt)
            return
        learned = [e for e in entries if e.mac.lower() == mac and not e.local]
        ports = [p for p in self.topo.ports(ns, bridge.name) if ingress is None or p.name != ingress.name]
        port: Link | None = None
        if learned:
            port = self.topo.link(ns, learned[0].dev)
            self.rule("bridge-fdb", learned[0].describe())
        if port is None:
            port = self._flood_port(ns, bridge, ports, frame)
        if ingress is not None and port.name == ingress.name:
            raise self.fail("wrong_mac", f"{bridge.name} in {where(ns)} would send the frame for {mac} back out of "
                            f"{port.name}, where it came from: the bridge drops it", ns, port.name)
        info = self.topo.port_info(ns, port.name)
        if not self.topo.has_carrier(port) or (info is not None and info.state != "forwarding"):
            state = f"in state {info.state}" if info is not None and info.state != "forwarding" else "down"
            raise self.fail(
                "link_down", f"{bridge.name} in {where(ns)} must send the frame out of its port {port.name}, which is "
                f"{state}: {self._down_text(port)}", ns, port.name, hint=self._up_hint(port),
                blocked=Point(ns, port.name, "out"),
            )
        if port.mtu is not None and frame.pkt.size > port.mtu + VLAN_SLACK:
            raise self.fail(
                "mtu", f"the packet ({frame.pkt.size} bytes) must leave {bridge.name} in {where(ns)} through "
                f"{port.name}, whose MTU is {port.mtu}{self._source_mtu_text()}: the bridge drops it", ns, port.name,
                blocked=Point(ns, port.name, "out"),
                hint=f"give every port of {bridge.name} the same MTU (kubenetctl link set {port.name} --mtu <n>"
                f"{_n(ns)})",
            )
        self._transmit(ns, port, frame)

    def _flood_port(self, ns: NS, bridge: Link, ports: list[Link], frame: Frame) -> Link:
        names = ", ".join(p.name for p in ports) or "none"
        for ignore in (False, True):
            leading = [p for p in ports if l2.leads_to(self.topo, ns, p.name, frame.dst_mac, ignore_state=ignore)]
            if leading:
                self.rule("bridge-fdb", f"no FDB entry for {frame.dst_mac} on {bridge.name}: flooded to {names}; "
                          f"{leading[0].name} leads to it")
                return leading[0]
        reason = "no_destination" if self._unknown_destination() else "no_fdb"
        raise self.fail(
            reason, f"{bridge.name} in {where(ns)} has no FDB entry for {frame.dst_mac} and none of its ports ({names}) "
            "leads to it: the flooded frame reaches nobody", ns, bridge.name,
        )

    # -- VXLAN ----------------------------------------------------------------------
    def _vxlan_out(self, ns: NS, vx: Link, frame: Frame) -> None:
        mac = frame.dst_mac.lower()
        entries = self.topo.dev_fdb(ns, vx.name)
        exact = [e for e in entries if e.mac.lower() == mac and e.dst]
        default = [e for e in entries if e.mac == FLOOD_MAC and e.dst]
        targets = exact if mac != BROADCAST and exact else default
        if not targets:
            raise self._no_vxlan_fdb(ns, vx, mac)
        entry = targets[0]
        if not exact and len(default) > 1:  # replicated to every default entry: follow the one that leads there
            for e in default:
                if any(l2.leads_to(self.topo, r.netns, r.name, mac, start="rx") or (r.mac or "").lower() == mac
                       for r in self.topo.vteps(e.dst or "", e.port or vx.port, e.vni or vx.vni)):
                    entry = e
                    break
        prefix = "" if exact else f"no entry for {mac}: default entry "
        copies = f" (copies go to all {len(default)} default entries)" if not exact and len(default) > 1 else ""
        self.rule("vxlan-fdb", f"{prefix}{entry.describe()}{copies}")
        port = entry.port or vx.port or 8472
        vni = entry.vni or vx.vni or 0
        src = vx.local
        if src is None:
            back = lookup(self.topo, ns, entry.dst or "", vx.dev)
            src = back.src if back is not None and back.src else None
            if src is None:
                dev = back.dev if back is not None else vx.dev
                addrs = self.topo.addresses(ns, dev) if dev else []
                src = str(addrs[0].ip) if addrs else "0.0.0.0"
        outer = Packet(src, entry.dst or "", "udp", size=frame.pkt.size + VXLAN_ENCAP, dport=port,
                       reply_to=frame.pkt.reply_to, encap=Encap(vni, port, frame.pkt, mac, df=self.topo.fact(vx, "vxlan_df") in (1, 2)))
        self.rule("encap", f"VXLAN vni {vni}: outer {src} -> {entry.dst} udp/{port} ({outer.size} bytes)")
        route = self._route(ns, outer, oif=vx.dev)
        link = self._egress(ns, route)
        self._output(ns, route, link, outer, forwarded=False)

    def _no_vxlan_fdb(self, ns: NS, vx: Link, mac: str) -> _Stopped:
        hint = None
        owners = [lk for lk in self.topo.by_mac(mac) if lk.kind == "vxlan" and lk.local]
        if owners:
            hint = f"kubenetctl fdb add {vx.name} {mac} --dst {owners[0].local}{_n(ns)}"
        else:
            for other in self.topo.namespaces():
                for remote in self.topo.vxlans(other):
                    if remote.key != vx.key and remote.vni == vx.vni and remote.local and \
                            l2.leads_to(self.topo, remote.netns, remote.name, mac, ignore_state=True, start="rx"):
                        hint = f"kubenetctl vxlan peer add {vx.name} --remote {remote.local}{_n(ns)}"
        where_to = f" ({owners[0].name} in {ns_label(owners[0].netns)}, VTEP {owners[0].local})" if owners else ""
        return self.fail(
            "no_fdb", f"{vx.name} in {where(ns)} has no FDB entry for {mac}{where_to} and no default "
            "(00:00:00:00:00:00) entry: the kernel does not know which VTEP to send it to and drops it",
            ns, vx.name, hint=hint and f"add the entry: {hint}",
            blocked=Point(ns, vx.dev, "out") if vx.dev else None,
        )

    def _decapsulate(self, ns: NS, pkt: Packet) -> None:
        assert pkt.encap is not None
        listening = [vx for vx in self.topo.vxlans(ns) if vx.port == pkt.encap.port]
        if not listening:
            others = ", ".join(f"{vx.name} port {vx.port}" for vx in self.topo.vxlans(ns)) or "none"
            raise self.fail(
                "no_vtep", f"nothing in {where(ns)} listens on UDP port {pkt.encap.port}: no VXLAN device there uses "
                f"that port (VXLAN devices: {others}); the kernel answers 'port unreachable'", ns,
                hint="use the same UDP port on every VTEP",
            )
        match = [vx for vx in listening if vx.vni == pkt.encap.vni]
        if not match:
            have = ", ".join(f"{vx.name} vni {vx.vni}" for vx in listening)
            raise self.fail(
                "vni_mismatch", f"VNI {pkt.encap.vni} arrives on UDP port {pkt.encap.port} in {where(ns)}, which only "
                f"has {have}: the kernel drops it", ns, listening[0].name, hint="use the same VNI on every VTEP",
            )
        vx = match[0]
        if not vx.up:
            raise self.fail("link_down", self._down_text(vx), ns, vx.name, hint=self._up_hint(vx),
                            blocked=Point(ns, vx.name, "in"))
        self.rule("decap", f"udp/{pkt.encap.port} vni {pkt.encap.vni} is {vx.name}: decapsulated")
        self._receive(ns, vx, Frame(pkt.encap.mac, pkt.encap.inner))

    # -- words ----------------------------------------------------------------------
    def _down_text(self, link: Link) -> str:
        where_ = where(link.netns)
        if not link.up:
            return f"{link.name} in {where_} is administratively down"
        if link.kind == "veth":
            peer = self.topo.peer(link)
            if peer is not None and not peer.up:
                return f"{link.name} in {where_} has no carrier: its peer {peer.name} in {where(peer.netns)} is down"
        if link.kind == "bridge":
            ports = self.topo.ports(link.netns, link.name)
            why = "; ".join(self._down_text(p) for p in ports if not self.topo.has_carrier(p)) or "it has no ports"
            return f"{link.name} in {where_} has no carrier: none of its ports is up ({why})"
        return f"{link.name} in {where_} has no carrier"

    def _up_hint(self, link: Link) -> str:
        target = link
        if link.up and link.kind == "bridge":
            down = [p for p in self.topo.ports(link.netns, link.name) if not self.topo.has_carrier(p)]
            if down:
                return self._up_hint(down[0])
        if link.up and link.kind == "veth":
            peer = self.topo.peer(link)
            target = peer if peer is not None and not peer.up else link
        return f"kubenetctl link set {target.name} --up{_n(target.netns)}"
