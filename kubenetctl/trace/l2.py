"""Where a broadcast goes: the L2 segment behind an interface (pure).

Used to answer what the kernel would learn by itself: who answers ARP for an address
that is not in the neighbour cache, and which bridge port leads to a MAC the bridge has
not learned (a flooded frame). Follows veth cables, bridges (ports in forwarding state),
VXLAN flood entries (00:00:00:00:00:00 -> remote VTEP), 802.1Q tags and macvlan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubenetctl.overlay import FLOOD_MAC
from kubenetctl.resources import Link
from kubenetctl.topology import NS, Topology



@dataclass
class Flood:
    receivers: list[tuple[NS, str]] = field(default_factory=list)  # interfaces whose IP stack gets the frame
    vlan_drops: list[tuple[NS, str, int, tuple[int, ...]]] = field(default_factory=list)  # (ns, dev, tag, VLANs it has)
    blocked: list[Link] = field(default_factory=list)  # with ignore_state: links that are down on the way, in order
    dead_ends: list[Link] = field(default_factory=list)  # VXLAN devices with no FDB entry to send the frame on


def usable(topo: Topology, link: Link, ignore_state: bool) -> bool:
    if ignore_state:
        return True
    if not topo.can_transmit(link):
        return False
    if link.master:
        info = topo.port_info(link.netns, link.name)
        return info is None or info.state == "forwarding"
    return True


def flood(topo: Topology, ns: NS, dev: str, *, mac: str | None = None, ignore_state: bool = False,
          start: str = "tx") -> Flood:
    """Send a broadcast (or a frame for `mac` that nobody learned) out of (ns, dev), or with
    start="rx", as if it arrived on (ns, dev)."""
    out = Flood()
    seen: set[tuple] = set()
    queue: list[tuple[str, NS, str, int | None]] = [(start, ns, dev, None)]
    while queue:
        state = queue.pop(0)
        if state in seen:
            continue
        seen.add(state)
        action, n, d, vlan = state
        link = topo.link(n, d)
        if link is None or not usable(topo, link, ignore_state):
            continue
        if ignore_state and not usable(topo, link, False) and link not in out.blocked:
            out.blocked.append(link)
        if action == "tx":
            nxt = _transmit(topo, link, vlan, mac)
            if link.kind == "vxlan" and not nxt and link not in out.dead_ends:
                out.dead_ends.append(link)
            queue.extend(nxt)
        elif link.master and action == "rx":
            bridge = topo.link(n, link.master)
            if bridge is None:
                continue
            queue.extend(("tx", n, p.name, vlan) for p in topo.ports(n, bridge.name) if p.name != link.name)
            queue.append(("stack", n, bridge.name, vlan))
        else:
            if vlan is None:
                out.receivers.append((n, d))
                queue.extend(("stack", c.netns, c.name, None) for c in topo.children(n, d, "macvlan"))
                continue
            tagged = [c for c in topo.children(n, d, "vlan") if c.vlan_id == vlan]
            if tagged:
                queue.extend(("rx", c.netns, c.name, None) for c in tagged)
            else:
                carried = tuple(sorted(c.vlan_id or 0 for c in topo.children(n, d, "vlan")))
                out.vlan_drops.append((n, d, vlan, carried))
    return out


def _transmit(topo: Topology, link: Link, vlan: int | None, mac: str | None) -> list[tuple[str, NS, str, int | None]]:
    if link.kind == "veth":
        peer = topo.peer(link)
        return [("rx", peer.netns, peer.name, vlan)] if peer else []
    if link.kind == "bridge":
        return [("tx", link.netns, p.name, vlan) for p in topo.ports(link.netns, link.name)]
    if link.kind == "vxlan":
        entries = topo.dev_fdb(link.netns, link.name)
        chosen = [e for e in entries if mac is not None and e.mac == mac] or [e for e in entries if e.mac == FLOOD_MAC]
        out: list[tuple[str, NS, str, int | None]] = []
        for e in chosen:
            if e.dst is None:
                continue
            for remote in topo.vteps(e.dst, e.port or link.port, e.vni or link.vni):
                out.append(("rx", remote.netns, remote.name, vlan))
        return out
    if link.kind == "vlan" and link.parent:
        return [("tx", link.parent_netns, link.parent, link.vlan_id)]
    if link.kind == "macvlan" and link.parent:
        return [("tx", link.parent_netns, link.parent, vlan)]
    return []


def answers(topo: Topology, ns: NS, dev: str, ip: str, *, ignore_state: bool = False,
            start: str = "tx") -> tuple[list[Link], Flood]:
    """Interfaces that would answer an ARP request for `ip` sent out of (ns, dev)."""
    result = flood(topo, ns, dev, ignore_state=ignore_state, start=start)
    found = []
    for n, d in result.receivers:
        link = topo.link(n, d)
        if link is not None and ((n, d) != (ns, dev) or start == "rx") and topo.local_dev(n, ip) is not None:
            found.append(link)
    return found, result


def leads_to(topo: Topology, ns: NS, dev: str, mac: str, *, ignore_state: bool = False, start: str = "tx") -> bool:
    """Does a frame for `mac` sent out of (ns, dev) (or arriving on it) reach the interface that owns it?"""
    mac = mac.lower()
    for n, d in flood(topo, ns, dev, mac=mac, ignore_state=ignore_state, start=start).receivers:
        link = topo.link(n, d)
        if link is not None and (link.mac or "").lower() == mac:
            return True
        if link is not None and link.kind == "bridge":
            if any((p.mac or "").lower() == mac for p in topo.ports(n, d)):
                return True
    return False
