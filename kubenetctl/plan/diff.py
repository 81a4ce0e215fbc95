"""Plans: ordered operations that take the kernel from a snapshot to a desired set. Pure."""

from __future__ import annotations

from dataclasses import replace
from typing import Collection, Sequence

from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, Op, decide
from kubenetctl.plan.order import creation_order, deletion_order
from kubenetctl.resources import Link, Resource
from kubenetctl.snapshot import Snapshot


def _peer_key(link: Link) -> tuple:
    return ("link", link.peer_netns, link.peer)


def plan_apply(
    desired: Sequence[Resource],
    snapshot: Snapshot,
    owner: str,
    *,
    adopt: Collection[tuple] = (),
    allow_replace: bool = False,
) -> list[Op]:
    """Operations that make every desired resource hold, in dependency order.

    Raises Conflict for the first desired resource that cannot be made to hold without
    touching something kubenetctl does not own (nothing has been changed at that point).
    """
    by_key = {r.key: r for r in desired}
    ops: list[Op] = []
    folded: set[tuple] = set()
    for res in creation_order(list(by_key.values())):
        if res.key in folded:
            continue
        op = decide(
            res, snapshot.get(res.key), snapshot.owner(res.key), owner,
            adopt=res.key in adopt, allow_replace=allow_replace,
        )
        if op is None:
            continue
        if op.action in (CREATE, REPLACE) and isinstance(res, Link) and res.kind == "veth":
            peer = by_key.get(_peer_key(res))
            if peer is not None and (op.action == REPLACE or _peer_key(res) not in snapshot):
                op = replace(op, peer=peer)
                folded.add(peer.key)
        ops.append(op)
    return ops


def plan_delete(targets: Sequence[Resource], snapshot: Snapshot | None = None) -> list[Op]:
    """Delete operations for `targets`, skipping what another deletion already removes.

    Deleting a namespace removes everything in it in one kernel batch; deleting a link
    removes its addresses, neighbours, FDB entries and routes, and a veth's peer. When a
    snapshot is given, targets that are already gone are left out.
    """
    present = [t for t in targets if snapshot is None or t.key in snapshot]
    gone_ns = {t.name for t in present if t.TYPE == "netns"}  # type: ignore[union-attr]
    gone_links = {t.key for t in present if t.TYPE == "link"}
    deleted: set[tuple] = set()
    ops: list[Op] = []
    for res in deletion_order(present):
        if res.TYPE != "netns" and res.netns in gone_ns:  # type: ignore[union-attr]
            continue
        if isinstance(res, Link):
            if res.kind == "veth" and (res.peer_netns in gone_ns or _peer_key(res) in deleted):
                continue
            deleted.add(res.key)
        elif any(dep in gone_links for dep in res.deps()):
            continue
        ops.append(Op(DELETE, res, before=snapshot.get(res.key) if snapshot else res))
    return ops
