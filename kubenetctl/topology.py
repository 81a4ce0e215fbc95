"""A read-only view of an observed network: indices, L2/L3 lookups and roles (pure).

Built from a Snapshot (what netlink/observe.py dumped) plus kernel Facts (learned
neighbours and FDB entries, port states, sysctls). inspect renders it; trace walks it.

Roles come from the topology itself, so that any set of namespaces can be explained:
- host: the namespace kubenetctl runs in;
- node: a namespace holding a bridge or a VXLAN device, or one that forwards (ip_forward=1)
  between veths into two or more other namespaces (a routed, bridge-less node);
- pod: a namespace whose veth peer sits in a node (or in the host);
- other: the rest.
Hints (from a lab's recorded state) override what is derived.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Iterable, Mapping, Union

from kubenetctl.kernelfacts import Facts, FdbEntry, NeighEntry, PortInfo
from kubenetctl.resources import MAIN_TABLE, Address, Fdb, Link, Neighbor, Route
from kubenetctl.snapshot import Snapshot

HOST, NODE, POD, OTHER = "host", "node", "pod", "other"
ROLE_LABEL = {HOST: "host", NODE: "node", POD: "pod", OTHER: "netns"}  # how views name them; other: an underlay, a router
NodeKinds = frozenset({"bridge", "vxlan"})
IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
IPAddr = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
NS = Union[str, None]
RTPROTS = {2: "kernel", 3: "boot", 4: "static", 151: "kubenetctl"}
RT_TYPES = {6: "blackhole", 7: "unreachable", 8: "prohibit"}


def ns_label(netns: str | None) -> str:
    return netns if netns is not None else "(host)"


def conf_key(dev: str, knob: str) -> str:
    """The sysctl key of a per-interface IPv4 knob the way `kubenetctl sysctl` takes it:
    dotted, or slashed when the interface name holds dots (eth0.100), as nsfs.sysctl_path reads it."""
    return f"net/ipv4/conf/{dev}/{knob}" if "." in dev else f"net.ipv4.conf.{dev}.{knob}"


def _ns_sort(netns: str | None) -> str:
    return "" if netns is None else "\x01" + netns


class Topology:
    def __init__(self, snap: Snapshot, facts: Facts | None = None, roles: Mapping[NS, str] | None = None) -> None:
        self.snap = snap
        self.facts = facts if facts is not None else Facts()
        self._links: dict[NS, dict[str, Link]] = defaultdict(dict)
        self._addrs: dict[tuple[NS, str], list[IPInterface]] = defaultdict(list)
        self._routes: dict[NS, list[Route]] = defaultdict(list)
        self._ports: dict[tuple[NS, str], list[Link]] = defaultdict(list)
        self._neigh: dict[tuple[NS, str, str], NeighEntry] = {}
        self._bridge_fdb: dict[tuple[NS, str], list[FdbEntry]] = defaultdict(list)
        self._dev_fdb: dict[tuple[NS, str], list[FdbEntry]] = defaultdict(list)
        self._holders: dict[str, list[tuple[NS, str]]] = defaultdict(list)
        self._children: dict[tuple[NS, str], list[Link]] = defaultdict(list)  # vlan/macvlan on a parent
        self._index(snap, self.facts)
        self._roles = self._derive_roles(dict(roles or {}))

    # -- building -------------------------------------------------------------------
    def _index(self, snap: Snapshot, facts: Facts) -> None:
        for res in snap.resources.values():
            if isinstance(res, Link):
                self._links[res.netns][res.name] = res
                if res.master:
                    self._ports[(res.netns, res.master)].append(res)
                if res.kind in ("vlan", "macvlan") and res.parent:
                    self._children[(res.parent_netns, res.parent)].append(res)
            elif isinstance(res, Address):
                iface = ipaddress.ip_interface(res.cidr)
                self._addrs[(res.netns, res.link)].append(iface)
                self._holders[str(iface.ip)].append((res.netns, res.link))
            elif isinstance(res, Route):
                self._routes[res.netns].append(res)
        for entry in facts.neighbors:
            self._neigh[(entry.netns, entry.dev, entry.ip)] = entry
        for res in snap.of_type("neighbor"):  # permanent entries the facts may not carry
            assert isinstance(res, Neighbor)
            self._neigh.setdefault((res.netns, res.link, res.ip), NeighEntry(res.netns, res.link, res.ip, res.mac, "permanent"))
        entries = list(facts.fdb)
        seen = {(e.netns, e.dev, e.mac, e.dst) for e in entries}
        for res in snap.of_type("fdb"):
            assert isinstance(res, Fdb)
            if (res.netns, res.link, res.mac, res.dst) not in seen:
                entries.append(FdbEntry(res.netns, res.link, res.mac, dst=res.dst, state="permanent"))
        for e in entries:
            if e.master:
                self._bridge_fdb[(e.netns, e.master)].append(e)
            else:
                self._dev_fdb[(e.netns, e.dev)].append(e)
        for ports in self._ports.values():
            ports.sort(key=lambda link: link.name)

    def _derive_roles(self, hints: dict[NS, str]) -> dict[NS, str]:
        roles: dict[NS, str] = {}
        spaces = self.namespaces()
        for ns in spaces:
            kinds = {link.kind for link in self.links(ns)}
            if ns is None:
                roles[ns] = HOST
            elif kinds & NodeKinds:
                roles[ns] = NODE
            elif self.sysctl(ns, "net.ipv4.ip_forward") == "1" and len(self._veth_neighbours(ns)) >= 2:
                roles[ns] = NODE
        roles.update({ns: role for ns, role in hints.items() if role in (NODE, POD, OTHER)})
        for ns in spaces:
            if ns not in roles:
                attached = any(other is None or roles.get(other) == NODE for other in self._veth_neighbours(ns))
                roles[ns] = POD if attached else OTHER
        return roles

    def _veth_neighbours(self, ns: NS) -> set[NS]:
        """The other namespaces this one has veth cables into."""
        return {lk.peer_netns for lk in self.links(ns) if lk.kind == "veth" and lk.peer and lk.peer_netns != ns}

    # -- namespaces and roles -------------------------------------------------------
    def namespaces(self) -> list[NS]:
        spaces = set(self.snap.scope) | set(self._links)
        return sorted(spaces, key=_ns_sort)

    def role(self, ns: NS) -> str:
        return self._roles.get(ns, OTHER)

    def adjacent(self, spaces: Iterable[NS]) -> set[NS]:
        """Namespaces cabled to these: veth peers, VLAN/macvlan parents and children."""
        out: set[NS] = set()
        for ns in spaces:
            for link in self.links(ns):
                if link.kind == "veth" and link.peer:
                    out.add(link.peer_netns)
                elif link.kind in ("vlan", "macvlan") and link.parent:
                    out.add(link.parent_netns)
                out.update(c.netns for c in self._children.get((ns, link.name), []))
        return out

    def node_of(self, ns: NS) -> NS | bool:
        """The node (or host) a pod hangs off; False when it has none."""
        for link in self.links(ns):
            if link.kind == "veth" and link.peer_netns != ns and (
                link.peer_netns is None or self.role(link.peer_netns) == NODE
            ):
                return link.peer_netns
        return False

    def netns_owner(self, ns: NS) -> str | None:
        return None if ns is None else self.snap.owner(("netns", ns))

    # -- links ----------------------------------------------------------------------
    def links(self, ns: NS) -> list[Link]:
        return sorted(self._links.get(ns, {}).values(), key=lambda link: link.name)

    def link(self, ns: NS, name: str | None) -> Link | None:
        return self._links.get(ns, {}).get(name) if name is not None else None

    def peer(self, link: Link) -> Link | None:
        if link.kind != "veth" or link.peer is None:
            return None
        return self.link(link.peer_netns, link.peer)

    def ports(self, ns: NS, bridge: str) -> list[Link]:
        return list(self._ports.get((ns, bridge), []))

    def port_info(self, ns: NS, dev: str) -> PortInfo | None:
        return self.facts.ports.get((ns, dev))

    def fact(self, link: Link, name: str, default: object = None) -> object:
        return self.snap.fact(link.key, name, default)

    def owner(self, key: tuple) -> str | None:
        return self.snap.owner(key)

    def has_carrier(self, link: Link) -> bool:
        """Administratively up and with a carrier (a veth's carrier needs its peer up)."""
        if not link.up:
            return False
        carrier = self.fact(link, "carrier")
        if carrier is not None:
            return bool(carrier)
        return self.fact(link, "operstate") not in ("DOWN", "LOWERLAYERDOWN", "NOTPRESENT")

    def children(self, ns: NS, dev: str, kind: str | None = None) -> list[Link]:
        """VLAN / macvlan devices stacked on `dev` (they may live in other namespaces)."""
        return [c for c in self._children.get((ns, dev), []) if kind is None or c.kind == kind]

    def parent(self, link: Link) -> Link | None:
        return self.link(link.parent_netns, link.parent) if link.kind in ("vlan", "macvlan") else None

    def vteps(self, ip: str, port: int | None = None, vni: int | None = None) -> list[Link]:
        """VXLAN devices that would receive what is sent to underlay address `ip`."""
        out = []
        for ns, _ in self.holders(ip):
            for vx in self.vxlans(ns):
                if (port is None or vx.port == port) and (vni is None or vx.vni == vni) and vx not in out:
                    out.append(vx)
        return out

    def can_transmit(self, link: Link) -> bool:
        """Does a frame sent on `link` get past its queue? A bridge transmits (to its
        ports) even without carrier; other devices without carrier drop at the queue."""
        return link.up and (link.kind == "bridge" or self.has_carrier(link))

    def vxlans(self, ns: NS) -> list[Link]:
        return [link for link in self.links(ns) if link.kind == "vxlan"]

    def by_mac(self, mac: str) -> list[Link]:
        mac = mac.lower()
        return [link for links in self._links.values() for link in links.values() if (link.mac or "").lower() == mac]

    # -- addresses ------------------------------------------------------------------
    def addresses(self, ns: NS, dev: str | None = None) -> list[IPInterface]:
        if dev is not None:
            return list(self._addrs.get((ns, dev), []))
        out: list[IPInterface] = []
        for link in self.links(ns):
            out.extend(self._addrs.get((ns, link.name), []))
        return out

    def local_dev(self, ns: NS, ip: IPAddr | str) -> str | None:
        """The interface holding `ip` in `ns` (the local table's answer), or None."""
        ip = ipaddress.ip_address(ip)
        for link in self.links(ns):
            for iface in self._addrs.get((ns, link.name), []):
                if iface.ip == ip:
                    return link.name
                if link.name == "lo" and ip in iface.network and iface.network.prefixlen < iface.max_prefixlen:
                    return link.name  # 127.0.0.0/8 is local as a whole
        return None

    def holders(self, ip: IPAddr | str) -> list[tuple[NS, str]]:
        return list(self._holders.get(str(ipaddress.ip_address(ip)), []))

    def primary_ip(self, ns: NS, version: int = 4) -> IPInterface | None:
        """The first global address of a namespace, preferring pod-facing veths."""
        for link in sorted(self.links(ns), key=lambda lk: (lk.kind != "veth", lk.name == "lo", lk.name)):
            for iface in self._addrs.get((ns, link.name), []):
                if iface.version == version and not iface.ip.is_loopback and not iface.ip.is_link_local:
                    return iface
        return None

    # -- routing and neighbours ------------------------------------------------------
    def routes(self, ns: NS, table: int = MAIN_TABLE) -> list[Route]:
        return [r for r in self._routes.get(ns, []) if r.table == table]

    def all_routes(self, ns: NS) -> list[Route]:
        return list(self._routes.get(ns, []))

    def neighbor(self, ns: NS, dev: str, ip: str) -> NeighEntry | None:
        return self._neigh.get((ns, dev, str(ipaddress.ip_address(ip))))

    def neighbors(self, ns: NS, dev: str | None = None) -> list[NeighEntry]:
        return sorted(
            (e for (n, d, _), e in self._neigh.items() if n == ns and (dev is None or d == dev)),
            key=lambda e: (e.dev, ipaddress.ip_address(e.ip).version, ipaddress.ip_address(e.ip)),
        )

    def bridge_fdb(self, ns: NS, bridge: str) -> list[FdbEntry]:
        return list(self._bridge_fdb.get((ns, bridge), []))

    def dev_fdb(self, ns: NS, dev: str) -> list[FdbEntry]:
        return list(self._dev_fdb.get((ns, dev), []))

    # -- sysctls --------------------------------------------------------------------
    def sysctl(self, ns: NS, key: str, default: str | None = None) -> str | None:
        value = self.facts.sysctls.get((ns, key))
        if value is None:
            res = self.snap.get(("sysctl", ns, key))
            value = getattr(res, "value", None)
        return default if value is None else value

    def forwarding(self, ns: NS, dev: str) -> tuple[bool, str, str]:
        """Does `ns` forward IPv4 packets that arrive on `dev`? (and the knob that decides:
        its sysctl key, see conf_key, and value).

        The kernel checks conf.<dev>.forwarding; writing ip_forward sets it on every device,
        so when both are off ip_forward is the knob to name."""
        glob = self.sysctl(ns, "net.ipv4.ip_forward", "0") or "0"
        per_dev = self.sysctl(ns, f"net.ipv4.conf.{dev}.forwarding")
        if per_dev is None:
            return glob == "1", "net.ipv4.ip_forward", glob
        if per_dev == "1":
            return True, conf_key(dev, "forwarding"), per_dev
        if glob == "0":
            return False, "net.ipv4.ip_forward", glob
        return False, conf_key(dev, "forwarding"), per_dev

    def rp_filter(self, ns: NS, dev: str) -> int:
        """Effective reverse-path filter mode on `dev`: max(conf.all, conf.<dev>)."""
        values = [self.sysctl(ns, f"net.ipv4.conf.{k}.rp_filter", "0") for k in ("all", dev)]
        return max(int(v or 0) for v in values)


def restrict(snap: Snapshot, namespaces: Iterable[NS]) -> Snapshot:
    """The part of a snapshot that lives in the given namespaces."""
    keep = set(namespaces)
    out = Snapshot()
    out.scope = {ns for ns in snap.scope if ns in keep}
    for key, res in snap.resources.items():
        ns = res.name if res.TYPE == "netns" else res.netns  # type: ignore[union-attr]
        if ns in keep:
            out.resources[key] = res
            out.owners[key] = snap.owners.get(key)
    # facts are keyed (type, netns, ...) like resources, also those of no resource (learned path MTUs)
    out.facts = {key: value for key, value in snap.facts.items() if len(key) > 1 and key[1] in keep}
    return out


def route_text(topo: Topology, route: Route) -> str:
    """A route the way `ip route` prints it."""
    net = ipaddress.ip_network(route.dst)
    parts = ["default" if net.prefixlen == 0 else route.dst]
    rtype = RT_TYPES.get(topo.snap.fact(route.key, "type"))
    if rtype:
        parts.insert(0, rtype)
    if route.via:
        parts.append(f"via {route.via}")
    if route.dev:
        parts.append(f"dev {route.dev}")
    if route.table != MAIN_TABLE:
        parts.append(f"table {route.table}")
    proto = topo.snap.fact(route.key, "proto")
    if proto in RTPROTS:
        parts.append(f"proto {RTPROTS[proto]}")
    if topo.snap.fact(route.key, "scope") == 253:
        parts.append("scope link")
    if route.src:
        parts.append(f"src {route.src}")
    if route.metric:
        parts.append(f"metric {route.metric}")
    if route.onlink:
        parts.append("onlink")
    return " ".join(parts)
