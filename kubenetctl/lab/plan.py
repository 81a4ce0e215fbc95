"""A lab's plan: what apply does to reach the recipe, what destroy removes (pure).

    apply   = delete what the lab created that the recipe no longer wants
              + plan_apply(desired, observed) (create, update, replace what drifted)
    destroy = delete what the lab created and still owns + put changed sysctls back

"Owns" is checked against the kernel, never assumed from the state: a namespace or link
must carry this lab's marker, an address/route/neighbour/masquerade kubenetctl's protocol
mark (or sit on a link the lab owns), an FDB entry a device the lab owns. An object with a
colliding name that someone else made is left alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Sequence

from kubenetctl.ownership import PROTO_OWNER
from kubenetctl.plan.diff import plan_apply, plan_delete
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, UPDATE, Op
from kubenetctl.resources import Link, Netns, Resource, Sysctl, from_dict
from kubenetctl.snapshot import Snapshot
from kubenetctl.state.journal import LabState


def owned_by(res: Resource, snap: Snapshot, owner: str) -> bool:
    """Does the kernel's object under res.key carry `owner`'s (or kubenetctl's protocol) mark?"""
    mark = snap.owner(res.key)
    if res.TYPE in ("netns", "link", "fdb"):
        return mark == owner
    if mark in (owner, PROTO_OWNER):
        return True
    on = getattr(res, "link", None) or getattr(res, "dev", None)
    return on is not None and snap.owner(("link", res.netns, on)) == owner  # type: ignore[union-attr]


@dataclass
class LabPlan:
    ops: list[Op] = field(default_factory=list)
    foreign: list[Resource] = field(default_factory=list)  # recorded as the lab's, now someone else's: left alone
    adopt: list[Resource] = field(default_factory=list)  # existing objects the lab takes into use
    # veth ends in namespaces that stay, removed by the kernel when their peer's namespace
    # goes: it does that a moment later (namespace cleanup is asynchronous), so wait for them
    implied: list[Link] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        out = {CREATE: 0, UPDATE: 0, REPLACE: 0, DELETE: 0}
        for op in self.ops:
            out[op.action] += 1
        return out


def _implied(mine: list[Resource], ops: list[Op]) -> list[Link]:
    gone = {op.resource.name for op in ops if op.action == DELETE and isinstance(op.resource, Netns)}  # type: ignore[union-attr]
    return [r for r in mine if isinstance(r, Link) and r.kind == "veth" and r.netns not in gone and r.peer_netns in gone]


def _replaced_links(ops: list[Op]) -> set[tuple]:
    keys = set()
    for op in ops:
        if op.action == REPLACE and isinstance(op.resource, Link):
            keys.add(op.resource.key)
            if op.resource.kind == "veth":
                keys.add(("link", op.resource.peer_netns, op.resource.peer))
    return keys


def _without_dependents(snap: Snapshot, links: set[tuple]) -> Snapshot:
    """The snapshot as it will be after these links are deleted and made again: what
    lived on them (addresses, routes, neighbours, FDB entries) is gone, ports they were
    master of are detached."""
    out = Snapshot(scope=set(snap.scope))
    for key, res in snap.resources.items():
        if isinstance(res, Link) and res.master and ("link", res.netns, res.master) in links:
            res = replace(res, master=None)
        elif res.TYPE in ("address", "route", "neighbor", "fdb") and any(dep in links for dep in res.deps()):
            continue
        out.add(res, snap.owner(key), **snap.facts.get(key, {}))
    return out


def _removals(targets: Iterable[Resource], snap: Snapshot, owner: str) -> tuple[list[Resource], list[Resource]]:
    mine, foreign = [], []
    for res in targets:
        if res.TYPE == "sysctl" or res.key not in snap:
            continue
        (mine if owned_by(res, snap, owner) else foreign).append(res)
    return mine, foreign


def recorded_of(state: LabState | None) -> list[Resource]:
    """What the lab recorded as created (decoded: callers decode once and pass it on)."""
    return state.created_resources() if state is not None else []


def apply_plan(desired: Sequence[Resource], adopt: set[tuple], snap: Snapshot, owner: str, state: LabState | None,
               recorded: Sequence[Resource] | None = None) -> LabPlan:
    """recorded: state.created_resources(), when the caller has decoded them already."""
    wanted = {r.key for r in desired}
    if recorded is None:
        recorded = recorded_of(state)
    adopted_before = state.adopted_keys() if state is not None else set()
    mine, foreign = _removals((r for r in recorded if r.key not in wanted), snap, owner)
    plan = LabPlan(foreign=foreign)
    plan.ops.extend(plan_delete(mine, snap))
    plan.implied = _implied(mine, plan.ops)
    adopt_keys = (adopt | adopted_before) & wanted
    ops = plan_apply(desired, snap, owner, adopt=adopt_keys, allow_replace=True)
    replaced = _replaced_links(ops)
    if replaced:  # plan again as the kernel will be once they are gone: their dependents come back
        ops = plan_apply(desired, _without_dependents(snap, replaced), owner, adopt=adopt_keys, allow_replace=True)
    plan.ops.extend(ops)
    plan.adopt = [r for r in desired if r.key in adopt_keys and r.key in snap and not owned_by(r, snap, owner)]
    return plan


def destroy_plan(state: LabState, snap: Snapshot, recorded: Sequence[Resource] | None = None) -> LabPlan:
    mine, foreign = _removals(recorded_of(state) if recorded is None else recorded, snap, state.owner)
    plan = LabPlan(foreign=foreign)
    plan.ops.extend(plan_delete(mine, snap))
    plan.implied = _implied(mine, plan.ops)
    gone_ns = {r.name for r in mine if isinstance(r, Netns)}
    for before in state.restore.values():
        res = from_dict(before)
        assert isinstance(res, Sysctl)
        if res.netns in gone_ns or res.netns not in snap.scope:
            continue  # its namespace goes (or went) with the lab
        now = snap.get(res.key)
        if now is not None and now != res:
            plan.ops.append(Op(UPDATE, res, before=now))
    return plan
