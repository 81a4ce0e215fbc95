"""Carrying out one operation with netlink: the kernel side of the executor.

Every create marks the object as kubenetctl's (see ownership.py). Deleting something
already gone is success. Kernel errors become clear errors (errmap).
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import time
from dataclasses import replace
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError

from kubenetctl.errors import KubenetError, NotFound
from kubenetctl.execute import netns_of
from kubenetctl.netlink import errmap, nsfs
from kubenetctl.netlink.observe import NUD_PERMANENT, RTNH_F_ONLINK, observe
from kubenetctl.netlink.session import Sessions
from kubenetctl.ownership import RTPROT_KUBENETCTL, marker
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, Op
from kubenetctl.resources import Address, Fdb, Link, Neighbor, Netns, Resource, Route, Sysctl
from kubenetctl.snapshot import Snapshot

log = logging.getLogger("kubenetctl.netlink")

GONE = (errno.ENODEV, errno.ENOENT, errno.ESRCH, errno.EADDRNOTAVAIL)


def _types_for(res: Resource) -> frozenset[str]:
    return frozenset({"link", res.TYPE}) if res.TYPE in ("address", "route", "neighbor", "fdb") else frozenset({"link"})


class NetlinkBackend:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.owner = ""
        self.pending_gone: list[tuple[str | None, str]] = []

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
        return observe(self.sessions, [ns], types=_types_for(res), related=related, sysctls=sysctls)

    def snapshot(self, netns: str | None, types: frozenset[str]) -> Snapshot:
        return observe(self.sessions, [netns], types=types)

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
        found = self.sessions.get(netns).link_lookup(ifname=name)
        if not found:
            raise NotFound(f"link {name} does not exist in the {'netns ' + netns if netns else 'host netns'}")
        return found[0]

    # netns ----------------------------------------------------------------------------
    def _create_netns(self, op: Op) -> None:
        from kubenetctl.netlink import namespaces

        res = op.resource
        assert isinstance(res, Netns)
        namespaces.create(res.name)
        lo = self._index(res.name, "lo")
        self.sessions.get(res.name).link("set", index=lo, state="up", ifalias=marker(self.owner))

    def _delete_netns(self, op: Op) -> None:
        """Remove the namespace; its veths' peers outside it vanish when the kernel's
        cleanup of the namespace has run (asynchronously): settle() waits for them."""
        from kubenetctl.netlink import namespaces

        name = op.resource.name  # type: ignore[union-attr]
        inside = observe(self.sessions, [name], types=frozenset({"link"}))
        for link in inside.of_type("link"):
            if link.kind == "veth" and link.peer and link.peer_netns != name:  # type: ignore[union-attr]
                self.pending_gone.append((link.peer_netns, link.peer))  # type: ignore[union-attr]
        self.sessions.forget(name)
        namespaces.remove(name)

    def settle(self, timeout: float = 10.0) -> None:
        """Wait until links that deleted namespaces take with them are really gone, so that
        the next command can reuse their names (no 'File exists' after a teardown)."""
        deadline = time.monotonic() + timeout
        while self.pending_gone and time.monotonic() < deadline:
            self.pending_gone = [
                (ns, name) for ns, name in self.pending_gone
                if (ns is None or nsfs.exists(ns)) and self.sessions.get(ns).link_lookup(ifname=name)
            ]
            if self.pending_gone:
                time.sleep(0.002)
        if self.pending_gone:
            log.warning("links still present %.0f s after their namespace was deleted: %s", timeout, self.pending_gone)
            self.pending_gone = []

    # links ----------------------------------------------------------------------------
    def _create_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        spec: dict[str, Any] = {"ifname": res.name, "kind": res.kind}
        if res.mtu is not None:
            spec["mtu"] = res.mtu
        if res.mac is not None:
            spec["address"] = res.mac
        create_in = res.netns
        fds: list[int] = []
        try:
            if res.kind == "veth":
                peer = op.peer or Link(res.peer_netns, res.peer or "", "veth", peer=res.name, peer_netns=res.netns, up=None)
                pspec: dict[str, Any] = {"ifname": peer.name}
                if peer.netns != res.netns:
                    pspec["net_ns_fd"] = self._fd(peer.netns, fds)
                if peer.mtu is not None:
                    pspec["mtu"] = peer.mtu
                if peer.mac is not None:
                    pspec["address"] = peer.mac
                spec["peer"] = pspec
            elif res.kind in ("vlan", "macvlan"):
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
        try:  # one create is all or nothing: a link that cannot be settled goes again
            self._settle_link(res)
            if res.kind == "veth":
                peer = op.peer or replace(res, netns=res.peer_netns, name=res.peer or "", master=None, mac=None, mtu=None)
                self._settle_link(peer)
        except BaseException:
            self._delete_link(Op(DELETE, res, before=res))
            raise

    def _fd(self, netns: str | None, fds: list[int]) -> int:
        fd = self.sessions.ns_fd(netns)
        if netns is not None:
            fds.append(fd)
        return fd

    def _settle_link(self, res: Link) -> None:
        """Mark a new link as ours and set what cannot be given at creation."""
        index = self._index(res.netns, res.name)
        fields: dict[str, Any] = {"ifalias": marker(self.owner)}
        if res.master:
            fields["master"] = self._index(res.netns, res.master)
        if res.up:
            fields["state"] = "up"
        self.sessions.get(res.netns).link("set", index=index, **fields)

    def _update_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        index = self._index(res.netns, res.name)
        fields: dict[str, Any] = {}
        for change in op.changes:
            if change.field == "mtu":
                fields["mtu"] = change.new
            elif change.field == "mac":
                fields["address"] = change.new
            elif change.field == "up":
                fields["state"] = "up" if change.new else "down"
            elif change.field == "master":
                fields["master"] = self._index(res.netns, change.new) if change.new else 0
        if not op.changes and op.before is not None:  # an inverse: restore every mutable field
            for name in ("mtu", "mac", "up", "master"):
                value = getattr(res, name)
                if name == "up" and value is not None:
                    fields["state"] = "up" if value else "down"
                elif name == "master":
                    fields["master"] = self._index(res.netns, value) if value else 0
                elif value is not None:
                    fields["address" if name == "mac" else name] = value
        if fields:
            self.sessions.get(res.netns).link("set", index=index, **fields)

    def _delete_link(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Link)
        found = self.sessions.get(res.netns).link_lookup(ifname=res.name)
        if found:
            self.sessions.get(res.netns).link("del", index=found[0])

    # addresses --------------------------------------------------------------------------
    def _addr_args(self, res: Address) -> dict[str, Any]:
        iface = ipaddress.ip_interface(res.cidr)
        return {
            "index": self._index(res.netns, res.link),
            "address": str(iface.ip),
            "prefixlen": iface.network.prefixlen,
        }

    def _create_address(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Address)
        self.sessions.get(res.netns).addr("add", proto=RTPROT_KUBENETCTL, **self._addr_args(res))

    def _delete_address(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Address)
        if self.sessions.get(res.netns).link_lookup(ifname=res.link):
            self.sessions.get(res.netns).addr("del", **self._addr_args(res))

    # routes -----------------------------------------------------------------------------
    def _route_args(self, res: Route) -> dict[str, Any]:
        net = ipaddress.ip_network(res.dst)
        args: dict[str, Any] = {
            "dst": str(net.network_address), "dst_len": net.prefixlen, "table": res.table,
            "family": 10 if net.version == 6 else 2,
        }
        if res.via:
            args["gateway"] = res.via
        if res.dev:
            args["oif"] = self._index(res.netns, res.dev)
        if res.onlink:
            args["flags"] = RTNH_F_ONLINK
        if res.metric is not None:
            args["priority"] = res.metric
        if res.src:
            args["prefsrc"] = res.src
        return args

    def _create_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        self.sessions.get(res.netns).route("add", proto=RTPROT_KUBENETCTL, **self._route_args(res))

    def _update_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        self.sessions.get(res.netns).route("replace", proto=RTPROT_KUBENETCTL, **self._route_args(res))

    def _delete_route(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Route)
        args = self._route_args(res) if not res.dev or self.sessions.get(res.netns).link_lookup(ifname=res.dev) else None
        if args is not None:
            self.sessions.get(res.netns).route("del", **args)

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
        found = self.sessions.get(res.netns).link_lookup(ifname=res.link)
        if found:
            self.sessions.get(res.netns).neigh("del", dst=res.ip, ifindex=found[0])

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
        if self.sessions.get(res.netns).link_lookup(ifname=res.link):
            self.sessions.get(res.netns).fdb("del", **self._fdb_args(res))

    # sysctls ----------------------------------------------------------------------------
    def _create_sysctl(self, op: Op) -> None:
        res = op.resource
        assert isinstance(res, Sysctl)
        nsfs.write_sysctl(res.netns, res.name, res.value)

    _update_sysctl = _create_sysctl

    def _delete_sysctl(self, op: Op) -> None:
        """A sysctl is never deleted; the journal restores the value it had before."""
