"""Carrying out one operation with netlink: the kernel side of the executor.

Every create marks the object as kubenetctl's (see ownership.py). Deleting something
already gone is success. Kernel errors become clear errors (errmap).
"""

from __future__ import annotations

import errno
import logging
import os
import time
from dataclasses import replace
from typing import Any

from pyroute2.netlink import NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTM_DELADDR, RTM_DELLINK, RTM_DELROUTE, RTM_GETLINK, RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTM_SETLINK,
)
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

from kubenetctl.errors import KubenetError, NotFound
from kubenetctl.execute import netns_of
from kubenetctl.netlink import errmap, messages, nsfs
from kubenetctl.netlink.observe import NUD_PERMANENT, RTEXT_FILTER_SKIP_STATS, RTNH_F_ONLINK, observe
from kubenetctl.netlink.session import Sessions
from kubenetctl.netlink.wire import link_identity
from kubenetctl.ownership import RTPROT_KUBENETCTL, marker
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, Op
from kubenetctl.resources import (
    IDENTITY_LINK_FIELDS,
    MUTABLE_LINK_FIELDS,
    Address,
    Fdb,
    Link,
    Masquerade,
    Neighbor,
    Netns,
    Resource,
    Route,
    Sysctl,
    where,
)
from kubenetctl.snapshot import Snapshot

log = logging.getLogger("kubenetctl.netlink")

GONE = (errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)
LOOPBACK_IFINDEX = 1  # the kernel gives every namespace's lo this index
NEW = NLM_F_CREATE | NLM_F_EXCL  # create, fail if it exists
FAST_KINDS = ("veth", "bridge")  # made on the fast path; other kinds through pyroute2's API


def _types_for(res: Resource) -> frozenset[str]:
    if res.TYPE in ("address", "route", "neighbor", "fdb", "masquerade"):
        return frozenset({"link", res.TYPE})
    return frozenset({"link"})


class NetlinkBackend:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.owner = ""
        # ifindex by (netns, name), learned from creations and lookups within this run;
        # forgotten when kubenetctl deletes the link or its namespace (no repeated lookups)
        self._indexes: dict[tuple[str | None, str], int] = {}
        self._index_ns: dict[str | None, set[str]] = {}
        # veth ends outside deleted namespaces, which the kernel removes a moment later
        self.pending_gone: list[tuple[str | None, str]] = []
        # False when the caller knows those ends already (a lab's destroy: from its state)
        self.track_peers = True

    def netns_exists(self, name: str) -> bool:
        return nsfs.exists(name)

    def missing_netns(self, name: str) -> KubenetError:
        return nsfs.missing(name)

    def observe_one(self, res: Resource) -> Snapshot:
        ns = netns_of(res)
        if ns is not None and not nsfs.exists(ns):
            return Snapshot()
        related = [getattr(res, "peer_netns", None), getattr(res, "parent_netns", None)]
        sysctls = [res] if isinstance(res, Sysctl) else []
        # only links whose identity names another namespace (a veth's peer, a VLAN's or macvlan's
        # parent) need the other namespaces looked through
        peers = isinstance(res, Link) and any(f.endswith("netns") for f in IDENTITY_LINK_FIELDS.get(res.kind, ()))
        return observe(self.sessions, [ns], types=_types_for(res), related=related, sysctls=sysctls, peers=peers)

    def snapshot(self, netns: str | None, types: frozenset[str], peers: bool = True) -> Snapshot:
        return observe(self.sessions, [netns], types=types, peers=peers)

    def run(self, op: Op, owner: str) -> None:
        self.owner = owner
        try:
            if op.action == REPLACE:
                assert op.before is not None
                self._dispatch(Op(DELETE, op.before, before=op.before))
                self._dispatch(replace(op, action=CREATE))
            else:
                self._dispatch(op)
        except NetlinkError as exc:
            if op.action == DELETE and exc.code in GONE:
                return
            raise errmap.translate(exc.code, op) from None

    def _dispatch(self, op: Op) -> None:
        res = op.resource
        handler = getattr(self, f"_{op.action}_{res.TYPE}")
        handler(op)

    def _index(self, netns: str | None, name: str) -> int:
        cached = self._indexes.get((netns, name))
        if cached is not None:
            return cached
        try:
            found = self.sessions.fast(netns).request(messages.link_by_name(name, ext_mask=RTEXT_FILTER_SKIP_STATS), RTM_GETLINK, reply=ifinfmsg)
        except NetlinkError as exc:
            if exc.code not in GONE:
                raise
            found = []
        if not found:
            raise NotFound(f"link {name} does not exist in the {where(netns)}")
        self._learn_index(netns, name, found[0]["index"])
        return found[0]["index"]

    def _exists(self, netns: str | None, name: str) -> bool:
        try:
            self._index(netns, name)
            return True
        except NotFound:
            return False

    def _learn_index(self, netns: str | None, name: str, index: int) -> None:
        self._indexes[(netns, name)] = index
        self._index_ns.setdefault(netns, set()).add(name)

    def _forget_index(self, netns: str | None, name: str | None = None) -> None:
        names = {name} if name is not None else self._index_ns.pop(netns, set())
        for one in names:
            self._indexes.pop((netns, one), None)

    # netns ----------------------------------------------------------------------------
    def _create_netns(self, op: Op) -> None:
        from kubenetctl.netlink import namespaces

        res = op.resource
        assert isinstance(res, Netns)

        def prepare() -> None:  # inside the new namespace, before it has a name
            fast = self.sessions.open_here(res.name)
            fast.request(messages.link_set(LOOPBACK_IFINDEX, up=True, alias=marker(self.owner)), RTM_SETLINK)

        self._forget_index(res.name)
        try:
            namespaces.create(res.name, prepare)
        except BaseException:
            self.sessions.forget(res.name)
            raise

    def _delete_netns(self, op: Op) -> None:
        """Remove the namespace; its veths' peers outside it vanish when the kernel's
        cleanup of the namespace has run (asynchronously): settle() waits for them."""
        from kubenetctl.netlink import namespaces

        name = op.resource.name  # type: ignore[union-attr]
        if self.track_peers:
            inside = observe(self.sessions, [name], types=frozenset({"link"}))
            for link in inside.of_type("link"):
                if link.kind == "veth" and link.peer and link.peer_netns != name:  # type: ignore[union-attr]
                    self.pending_gone.append((link.peer_netns, link.peer))  # type: ignore[union-attr]
        self.sessions.forget(name)
        self._forget_index(name)
        namespaces.remove(name)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until links that deleted namespaces take with them are really gone, so that
        the next command can reuse their names (no 'File exists' after a teardown)."""
        deadline = time.monotonic() + timeout
        while self.pending_gone and time.monotonic() < deadline:
            self.pending_gone = [(ns, name) for ns, name in self.pending_gone if self._present(ns, name)]
            if self.pending_gone:
                time.sleep(0.002)
        if self.pending_gone:
            log.warning("links still present %.0f s after their namespace was deleted: %s", timeout, self.pending_gone)
            self.pending_gone = []

    def _present(self, netns: str | None, name: str) -> bool:
        """Is the link there now (asked of the kernel, not of the index cache)?"""
        if netns is not None and not nsfs.exists(netns):
            return False
        self._forget_index(netns, name)
        try:
            self.sessions.fast(netns).request(messages.link_by_name(name, ext_mask=RTEXT_FILTER_SKIP_STATS), RTM_GETLINK, reply=bytes)
            return True
        except NetlinkError as exc:
            if exc.code in GONE:
                return False
            raise
        except NotFound:
            return False

    # links ----------------------------------------------------------------------------
    def _create_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        if res.kind in FAST_KINDS:
            self._create_fast(op, res)
        else:
            self._create_with_pyroute2(op, res)
        try:  # one create is all or nothing: a link that cannot be settled goes again
            self._settle_link(res, at_creation=True)
            if res.kind == "veth":
                peer = op.peer or replace(res, netns=res.peer_netns, name=res.peer or "", master=None, mac=None, mtu=None)
                self._settle_link(peer)
        except BaseException:
            self._delete_link(Op(DELETE, res, before=res))
            raise

    def _create_fast(self, op: Op, res: Link) -> None:
        """A bridge or veth pair in one RTM_NEWLINK with NLM_F_ECHO: the kernel answers with
        the new link, so its index (and a veth peer's, IFLA_LINK) needs no lookup later."""
        peer = None
        fds: list[int] = []
        try:
            if res.kind == "veth":
                end = op.peer or Link(res.peer_netns, res.peer or "", "veth", peer=res.name, peer_netns=res.netns, up=None)
                peer = {"name": end.name, "mtu": end.mtu, "mac": end.mac,
                        "ns_fd": self._fd(end.netns, fds) if end.netns != res.netns else None}
            msg = messages.link_new(
                res.name, res.kind, mtu=res.mtu, mac=res.mac, up=res.up or None,
                master=self._index(res.netns, res.master) if res.master else None, peer=peer,
            )
            answer = self.sessions.fast(res.netns).request(msg, RTM_NEWLINK, NEW, echo=True, reply=bytes)
        finally:
            for fd in fds:
                os.close(fd)
        for made in answer:
            index, name, link = link_identity(made)
            if name == res.name:
                self._learn_index(res.netns, res.name, index)
                if res.kind == "veth" and res.peer_netns != res.netns and link:
                    self._learn_index(res.peer_netns, res.peer or "", link)

    def _create_with_pyroute2(self, op: Op, res: Link) -> None:
        spec: dict[str, Any] = {"ifname": res.name, "kind": res.kind}
        if res.mtu is not None:
            spec["mtu"] = res.mtu
        if res.mac is not None:
            spec["address"] = res.mac
        if res.master:  # applied by the kernel at creation, in the namespace the link ends up in
            spec["master"] = self._index(res.netns, res.master)
        if res.up:
            spec["state"] = "up"
        create_in = res.netns
        fds: list[int] = []
        try:
            if res.kind in ("vlan", "macvlan"):
                create_in = res.parent_netns
                spec["link"] = self._index(res.parent_netns, res.parent or "")
                if res.parent_netns != res.netns:
                    spec["net_ns_fd"] = self._fd(res.netns, fds)
                if res.kind == "vlan":
                    spec["vlan_id"] = res.vlan_id
                else:
                    spec["macvlan_mode"] = res.mode or "bridge"
            elif res.kind == "vxlan":
                spec.update(vxlan_id=res.vni, vxlan_port=res.port, vxlan_learning=int(bool(res.learning)))
                if res.local:
                    spec["vxlan_local"] = res.local
                if res.dev:
                    spec["vxlan_link"] = self._index(res.netns, res.dev)
            self.sessions.get(create_in).link("add", **spec)
        finally:
            for fd in fds:
                os.close(fd)

    def _fd(self, netns: str | None, fds: list[int]) -> int:
        fd = self.sessions.ns_fd(netns)
        if netns is not None:
            fds.append(fd)
        return fd

    def _settle_link(self, res: Link, at_creation: bool = False) -> None:
        """Mark a new link as ours (the kernel takes no alias at creation) and set what
        was not given at creation (master and up of a veth's peer). One message, by name."""
        fields: dict[str, Any] = {"alias": marker(self.owner)}
        if not at_creation:
            if res.master:
                fields["master"] = self._index(res.netns, res.master)
            if res.up:
                fields["up"] = True
        msg = messages.link_set(self._indexes.get((res.netns, res.name)), res.name, **fields)
        self.sessions.fast(res.netns).request(msg, RTM_SETLINK)

    def _update_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        index = self._index(res.netns, res.name)
        wanted = {c.field: c.new for c in op.changes}
        if not op.changes and op.before is not None:  # an inverse: restore every mutable field
            wanted = {name: getattr(res, name) for name in MUTABLE_LINK_FIELDS}
        fields: dict[str, Any] = {}
        if wanted.get("mtu") is not None:
            fields["mtu"] = wanted["mtu"]
        if wanted.get("mac") is not None:
            fields["mac"] = wanted["mac"]
        if wanted.get("up") is not None:
            fields["up"] = bool(wanted["up"])
        if "master" in wanted:
            fields["master"] = self._index(res.netns, wanted["master"]) if wanted["master"] else 0
        if fields:
            self.sessions.fast(res.netns).request(messages.link_set(index, **fields), RTM_SETLINK)

    def _delete_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        self._forget_index(res.netns, res.name)
        if res.kind == "veth" and res.peer:
            self._forget_index(res.peer_netns, res.peer)
        self.sessions.fast(res.netns).request(messages.link_by_name(res.name), RTM_DELLINK)  # ENODEV: gone, fine

    # addresses --------------------------------------------------------------------------
    def _create_address(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Address)
        msg = messages.address(self._index(res.netns, res.link), res.cidr, proto=RTPROT_KUBENETCTL)
        self.sessions.fast(res.netns).request(msg, RTM_NEWADDR, NEW)

    def _delete_address(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Address)
        if self._exists(res.netns, res.link):
            self.sessions.fast(res.netns).request(messages.address(self._index(res.netns, res.link), res.cidr), RTM_DELADDR)

    # routes -----------------------------------------------------------------------------
    def _route(self, res: Route, *, delete: bool = False) -> Any:
        return messages.route(
            res.dst, via=res.via, oif=self._index(res.netns, res.dev) if res.dev else None, onlink=res.onlink,
            table=res.table, metric=res.metric, src=res.src, proto=None if delete else RTPROT_KUBENETCTL,
            onlink_flag=RTNH_F_ONLINK, delete=delete,
        )

    def _create_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        self.sessions.fast(res.netns).request(self._route(res), RTM_NEWROUTE, NEW)

    def _update_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        self.sessions.fast(res.netns).request(self._route(res), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE)

    def _delete_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        if not res.dev or self._exists(res.netns, res.dev):
            self.sessions.fast(res.netns).request(self._route(res, delete=True), RTM_DELROUTE)

    # neighbours and FDB -----------------------------------------------------------------
    def _create_neighbor(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Neighbor)
        self.sessions.get(res.netns).neigh(
            "replace", dst=res.ip, lladdr=res.mac, ifindex=self._index(res.netns, res.link),
            state=NUD_PERMANENT, NDA_PROTOCOL=RTPROT_KUBENETCTL,
        )

    _update_neighbor = _create_neighbor

    def _delete_neighbor(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Neighbor)
        if self._exists(res.netns, res.link):  # gone with its device: nothing to delete
            self.sessions.get(res.netns).neigh("del", dst=res.ip, ifindex=self._index(res.netns, res.link))

    def _fdb_args(self, res: Fdb) -> dict[str, Any]:
        args: dict[str, Any] = {"ifindex": self._index(res.netns, res.link), "lladdr": res.mac}
        if res.dst:
            args["dst"] = res.dst
        return args

    def _create_fdb(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Fdb)
        self.sessions.get(res.netns).fdb("append", state=NUD_PERMANENT, **self._fdb_args(res))

    def _delete_fdb(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Fdb)
        if self._exists(res.netns, res.link):
            self.sessions.get(res.netns).fdb("del", **self._fdb_args(res))

    # sysctls ----------------------------------------------------------------------------
    def _create_sysctl(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Sysctl)
        nsfs.write_sysctl(res.netns, res.name, res.value)

    _update_sysctl = _create_sysctl

    def _delete_sysctl(self, op: Op) -> None:
        """A sysctl is never deleted; the journal restores the value it had before."""

    # masquerade (nftables) ----------------------------------------------------------------
    def _create_masquerade(self, op: Op) -> None:
        from kubenetctl.netlink import nat

        assert isinstance(op.resource, Masquerade)
        nat.create(op.resource)

    def _update_masquerade(self, op: Op) -> None:
        from kubenetctl.netlink import nat

        assert isinstance(op.resource, Masquerade)
        nat.replace(op.resource)

    def _delete_masquerade(self, op: Op) -> None:
        from kubenetctl.netlink import nat

        assert isinstance(op.resource, Masquerade)
        nat.delete(op.resource)
