"""Kernel dumps turned into resources: the observed side of plan, inspect and trace."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETNSID, RTM_GETROUTE
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.nsidmsg import nsidmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from kubenetctl.errors import KernelError, KubenetError, NotFound
from kubenetctl.netlink import nsfs
from kubenetctl.netlink.session import Sessions
from kubenetctl.netlink.wire import LEAN_KINDS, Channel, LinkView
from kubenetctl.ownership import PROTO_OWNER, RTPROT_KUBENETCTL, owner_of
from kubenetctl.resources import LINK_KINDS, Address, Fdb, Link, Neighbor, Netns, Route, Sysctl
from kubenetctl.snapshot import Snapshot

NUD_PERMANENT = 0x80
NTF_MASTER = 0x04
RTNH_F_ONLINK = 4
RTM_F_CLONED = 0x200  # a cached exception (learned path MTU, redirect), not a configured route
USER_HZ = 100  # rta_expires counts clock ticks
LOCAL_TABLE = 255
ALL_TYPES = frozenset({"link", "address", "route", "neighbor", "fdb", "masquerade"})
RTEXT_FILTER_SKIP_STATS = 1 << 3
NSID_NOT_ASSIGNED = 2**31  # NETNSA_NSID is -1 (read as unsigned) when no id is assigned


@dataclass
class _RawLink:
    netns: str | None
    index: int
    name: str
    kind: str | None
    msg: Any
    link: int | None = None  # IFLA_LINK: veth peer / vlan parent ifindex
    link_nsid: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


def _info_data(msg: Any) -> dict[str, Any]:
    info = msg.get_attr("IFLA_LINKINFO")
    data = info.get_attr("IFLA_INFO_DATA") if info is not None else None
    if data is None or isinstance(data, (str, bytes)):
        return {}
    return {name: value for name, value in data["attrs"]}


class _NsidMap:
    """Which named namespace a foreign IFLA_LINK_NETNSID points to, as seen from one netns."""

    def __init__(self, sessions: Sessions, netns: str | None, candidates: Sequence[str | None]) -> None:
        self.sessions = sessions
        self.netns = netns
        self.candidates = [c for c in candidates if c != netns]
        self.known: dict[int, str | None] = {}
        self.tried = 0

    def name(self, nsid: int) -> str | None | bool:
        fast = self.sessions.fast(self.netns)
        while nsid not in self.known and self.tried < len(self.candidates):
            cand = self.candidates[self.tried]
            self.tried += 1
            fd = self.sessions.ns_fd(cand) if cand is None else _try_open(cand)
            if fd is None:
                continue
            query = nsidmsg()
            query["attrs"] = [("NETNSA_FD", fd)]
            try:
                got = fast.request(query, RTM_GETNSID, reply=nsidmsg)
            except NetlinkError:
                # EINVAL: not (or no longer, or not yet) a namespace: /run/netns/X exists
                # as an empty file while `ip netns add` or `del` is half-way
                continue
            finally:
                if cand is not None:
                    os.close(fd)
            value = got[0].get_attr("NETNSA_NSID") if got else None
            if value is not None and value < NSID_NOT_ASSIGNED:
                self.known.setdefault(value, cand)
        return self.known.get(nsid, False)  # False: a namespace without a name


def _try_open(name: str) -> int | None:
    try:
        return nsfs.open_fd(name)
    except Exception:
        return None


def _dump_links(sessions: Sessions, netns: str | None) -> list[_RawLink]:
    out = []
    query = ifinfmsg()
    query["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)]  # counters: not needed, costly to parse
    for raw in sessions.fast(netns).dump(query, RTM_GETLINK, bytes):
        msg: Any = LinkView(raw)
        if msg.kind not in LEAN_KINDS:  # bridges, VXLANs, VLANs...: their kind data matters
            msg = ifinfmsg(raw)
            msg.decode()
        info = msg.get_attr("IFLA_LINKINFO")
        kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
        out.append(
            _RawLink(
                netns=netns, index=msg["index"], name=msg.get_attr("IFLA_IFNAME"), kind=kind, msg=msg,
                link=msg.get_attr("IFLA_LINK"), link_nsid=msg.get_attr("IFLA_LINK_NETNSID"),
                data=_info_data(msg),
            )
        )
    return out


def observe(
    sessions: Sessions,
    namespaces: Iterable[str | None],
    *,
    types: frozenset[str] = ALL_TYPES,
    related: Sequence[str | None] = (),
    sysctls: Iterable[Sysctl] = (),
    route_families: Sequence[int] = (socket.AF_INET, socket.AF_INET6),
    peers: bool = True,
) -> Snapshot:
    """Dump the given namespaces (those that exist) into one snapshot.

    `related` lists namespaces to look in first when a veth peer or VLAN parent lives in
    another namespace (the rest of /run/netns and the host are tried after them).
    `route_families` limits the route dumps (a lab of IPv4 routes need not parse IPv6's).
    `peers=False` leaves veth peers in other namespaces unresolved (facts "peer_unresolved"):
    naming them costs a namespace-id query per peer namespace, which a reader that only
    looks for one bridge (the CNI plugin, on a node with hundreds of pods) does not need.
    """
    snap = Snapshot()
    scope = [ns for ns in dict.fromkeys(namespaces) if ns is None or nsfs.exists(ns)]
    snap.scope.update(scope)
    candidates = list(dict.fromkeys([*related, None, *nsfs.list_names()])) if peers else []
    raw: dict[str | None, list[_RawLink]] = {}
    for ns in scope:
        try:
            raw[ns] = _dump_links(sessions, ns)
        except (FileNotFoundError, NotFound, KernelError):  # deleted between exists() and open (setns: EINVAL)
            snap.scope.discard(ns)
            continue
    by_index = {ns: {r.index: r.name for r in links} for ns, links in raw.items()}
    for ns, links in raw.items():
        try:
            _add_namespace(snap, sessions, ns, links, by_index, _NsidMap(sessions, ns, candidates), types, route_families)
        except (NotFound, KernelError):  # deleted while we read it (a session had to be reopened)
            _forget(snap, ns)
    for sc in sysctls:
        if sc.netns is None or sc.netns in snap.scope:
            try:
                snap.add(Sysctl(sc.netns, sc.name, nsfs.read_sysctl(sc.netns, sc.name)))
            except (NotFound, KernelError):
                pass
    return snap


def _add_namespace(snap: Snapshot, sessions: Sessions, ns: str | None, links: list[_RawLink], by_index: dict,
                   nsids: _NsidMap, types: frozenset[str], route_families: Sequence[int]) -> None:
    if ns is not None:
        lo = next((r for r in links if r.name == "lo"), None)
        alias = lo.msg.get_attr("IFLA_IFALIAS") if lo else None
        snap.add(Netns(ns), owner_of(alias))
    for r in links:
        if "link" in types:
            _add_link(snap, sessions, r, by_index, nsids)
    idx = by_index[ns]
    if "address" in types:
        _add_addresses(snap, sessions.fast(ns), ns, idx)
    if "route" in types:
        _add_routes(snap, sessions.fast(ns), ns, idx, route_families)
    if "neighbor" in types:
        _add_neighbors(snap, sessions.get(ns), ns, idx)
    if "fdb" in types:
        _add_fdb(snap, sessions.get(ns), ns, idx, {r.index for r in links if r.kind == "vxlan"})
    if "masquerade" in types:
        from kubenetctl.netlink import nat

        nat.observe(snap, ns)


def _forget(snap: Snapshot, ns: str | None) -> None:
    """Drop what was read of a namespace that disappeared halfway."""
    snap.scope.discard(ns)
    for key in [k for k, r in snap.resources.items() if (r.name if r.TYPE == "netns" else r.netns) == ns]:  # type: ignore[union-attr]
        snap.resources.pop(key)
        snap.owners.pop(key, None)
        snap.facts.pop(key, None)


def _remote_name(sessions: Sessions, r: _RawLink, by_index: dict, nsids: _NsidMap) -> tuple[bool, str | None, str | None]:
    """(known, netns, name) of the link IFLA_LINK points to."""
    if r.link is None or r.link == 0:
        return False, None, None
    if r.link_nsid is None:
        return True, r.netns, by_index[r.netns].get(r.link)
    other = nsids.name(r.link_nsid)
    if other is False:
        return False, None, None
    assert other is None or isinstance(other, str)
    if other in by_index:
        return True, other, by_index[other].get(r.link)
    try:
        query = ifinfmsg()
        query["index"] = r.link
        query["attrs"] = [("IFLA_EXT_MASK", RTEXT_FILTER_SKIP_STATS)]
        msg = sessions.fast(other).request(query, RTM_GETLINK, reply=ifinfmsg)[0]
        return True, other, msg.get_attr("IFLA_IFNAME")
    except (NetlinkError, OSError, IndexError, KubenetError):
        return False, None, None


def _add_link(snap: Snapshot, sessions: Sessions, r: _RawLink, by_index: dict, nsids: _NsidMap) -> None:
    msg = r.msg
    master = msg.get_attr("IFLA_MASTER")
    facts: dict[str, Any] = {
        "ifindex": r.index,
        "operstate": msg.get_attr("IFLA_OPERSTATE"),
        "carrier": msg.get_attr("IFLA_CARRIER"),
        "alias": msg.get_attr("IFLA_IFALIAS"),
        "raw_kind": r.kind,
    }
    kind = r.kind if r.kind in LINK_KINDS else (r.kind or "device")
    attrs: dict[str, Any] = {}
    if kind == "veth":
        known, peer_ns, peer = _remote_name(sessions, r, by_index, nsids)
        facts["peer_ifindex"] = r.link
        if known:
            attrs.update(peer=peer, peer_netns=peer_ns)
        else:
            facts["peer_unresolved"] = True
    elif kind in ("vlan", "macvlan"):
        known, parent_ns, parent = _remote_name(sessions, r, by_index, nsids)
        attrs.update(parent=parent, parent_netns=parent_ns)
        if kind == "vlan":
            attrs["vlan_id"] = r.data.get("IFLA_VLAN_ID")
        else:
            attrs["mode"] = r.data.get("IFLA_MACVLAN_MODE")
    elif kind == "vxlan":
        dev_index = r.data.get("IFLA_VXLAN_LINK")
        attrs.update(
            vni=r.data.get("IFLA_VXLAN_ID"),
            port=r.data.get("IFLA_VXLAN_PORT"),
            local=r.data.get("IFLA_VXLAN_LOCAL") or r.data.get("IFLA_VXLAN_LOCAL6"),
            dev=by_index[r.netns].get(dev_index) if dev_index else None,
            learning=bool(r.data.get("IFLA_VXLAN_LEARNING")),
        )
        facts["group"] = r.data.get("IFLA_VXLAN_GROUP")
        facts["vxlan_df"] = r.data.get("IFLA_VXLAN_DF")  # 0 unset, 1 set, 2 inherit
    elif kind == "bridge":
        facts["stp"] = r.data.get("IFLA_BR_STP_STATE")
    link = Link(
        netns=r.netns, name=r.name, kind=kind,
        mtu=msg.get_attr("IFLA_MTU"), mac=msg.get_attr("IFLA_ADDRESS"),
        up=bool(msg["flags"] & 1), master=by_index[r.netns].get(master) if master else None,
        **attrs,
    )
    # the loopback's alias marks the namespace, not the loopback itself
    snap.add(link, None if r.name == "lo" else owner_of(facts["alias"]), **facts)


def _add_addresses(snap: Snapshot, fast: Channel, ns: str | None, idx: dict[int, str]) -> None:
    for msg in fast.dump(ifaddrmsg(), RTM_GETADDR, ifaddrmsg):
        addr = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
        if addr is None or msg["index"] not in idx:
            continue
        ip = ipaddress.ip_address(addr)
        if ip.version == 6 and ip.is_link_local:
            continue
        owner = PROTO_OWNER if msg.get_attr("IFA_PROTO") == RTPROT_KUBENETCTL else None
        snap.add(Address(ns, idx[msg["index"]], f"{ip}/{msg['prefixlen']}"), owner)


def _add_routes(snap: Snapshot, fast: Channel, ns: str | None, idx: dict[int, str], families: Sequence[int]) -> None:
    for family in families:
        query = rtmsg()
        query["family"] = family
        for msg in fast.dump(query, RTM_GETROUTE, rtmsg):
            table = msg.get_attr("RTA_TABLE") or msg["table"]
            if msg["flags"] & RTM_F_CLONED:  # a learned exception, not a route: kept as a fact
                _add_learned_mtu(snap, msg, ns, idx)
                continue
            if table == LOCAL_TABLE:
                continue
            dst = msg.get_attr("RTA_DST")
            plen = msg["dst_len"]
            if dst is None:
                dst = "0.0.0.0" if family == socket.AF_INET else "::"
            net = ipaddress.ip_network(f"{dst}/{plen}", strict=False)
            if family == socket.AF_INET6 and (net.is_link_local or net.is_multicast):
                continue
            oif = msg.get_attr("RTA_OIF")
            route = Route(
                netns=ns, dst=str(net), via=msg.get_attr("RTA_GATEWAY"), dev=idx.get(oif) if oif else None,
                onlink=bool(msg["flags"] & RTNH_F_ONLINK), table=table,
                metric=msg.get_attr("RTA_PRIORITY"), src=msg.get_attr("RTA_PREFSRC"),
            )
            owner = PROTO_OWNER if msg["proto"] == RTPROT_KUBENETCTL else None
            snap.add(route, owner, proto=msg["proto"], scope=msg["scope"], type=msg["type"])


def _add_learned_mtu(snap: Snapshot, msg: Any, ns: str | None, idx: dict[int, str]) -> None:
    """A path MTU learned from ICMP 'fragmentation needed' (`ip route show cache`), as the fact
    ("pmtu", netns, dst) -> {mtu, dev, expires} (seconds)."""
    metrics = msg.get_attr("RTA_METRICS")
    mtu = dict(metrics["attrs"]).get("RTAX_MTU") if metrics is not None else None
    dst = msg.get_attr("RTA_DST")
    if mtu and dst:
        expires = (msg.get_attr("RTA_CACHEINFO") or {}).get("rta_expires")
        snap.facts[("pmtu", ns, dst)] = {"mtu": mtu, "dev": idx.get(msg.get_attr("RTA_OIF")),
                                         "expires": expires // USER_HZ if expires else None}


def _add_neighbors(snap: Snapshot, ipr: Any, ns: str | None, idx: dict[int, str]) -> None:
    for msg in ipr.neigh("dump"):
        if msg["family"] not in (socket.AF_INET, socket.AF_INET6) or msg["ifindex"] not in idx:
            continue
        mac = msg.get_attr("NDA_LLADDR")
        if not (msg["state"] & NUD_PERMANENT) or mac is None:
            continue
        owner = PROTO_OWNER if msg.get_attr("NDA_PROTOCOL") == RTPROT_KUBENETCTL else None
        snap.add(Neighbor(ns, idx[msg["ifindex"]], msg.get_attr("NDA_DST"), mac), owner)


def _add_fdb(snap: Snapshot, ipr: Any, ns: str | None, idx: dict[int, str], vxlans: set[int]) -> None:
    if not vxlans:
        return
    for msg in ipr.fdb("dump"):
        # the VXLAN device's own table (remote VTEPs), not what a bridge learned on that port
        if msg["ifindex"] not in vxlans or msg["flags"] & NTF_MASTER or msg.get_attr("NDA_DST") is None:
            continue
        link = idx[msg["ifindex"]]
        owner = snap.owner(("link", ns, link))
        snap.add(Fdb(ns, link, msg.get_attr("NDA_LLADDR"), msg.get_attr("NDA_DST")), owner)


def namespace_owner(sessions: Sessions, name: str) -> str | None:
    """The owner marked on a namespace (its loopback's alias), without dumping it: one
    request, for when only ownership matters (destroy deletes the whole namespace)."""
    from kubenetctl.netlink.messages import link_by_name

    msg = sessions.fast(name).request(link_by_name("lo", ext_mask=RTEXT_FILTER_SKIP_STATS), RTM_GETLINK, reply=ifinfmsg)[0]
    return owner_of(msg.get_attr("IFLA_IFALIAS"))
