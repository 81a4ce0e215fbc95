"""Operations on resources, and the decision what to do with one desired resource.

Pure: given what is wanted and what the kernel holds, say create / update / replace /
nothing, or raise Conflict naming the object. The executor and the planner share it,
so `veth add` and a 1,000-pod recipe take the same decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubenetctl.errors import Conflict
from kubenetctl.ownership import PROTO_OWNER
from kubenetctl.resources import MUTABLE_LINK_FIELDS, Link, Masquerade, Neighbor, Resource, Route, Sysctl, where

CREATE, UPDATE, REPLACE, DELETE = "create", "update", "replace", "delete"


@dataclass(frozen=True)
class Change:
    field: str
    old: Any
    new: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "from": self.old, "to": self.new}


@dataclass(frozen=True)
class Op:
    action: str
    resource: Resource
    before: Resource | None = None  # what the kernel holds now (update, replace, delete)
    changes: tuple[Change, ...] = ()
    peer: Link | None = None  # create of a veth end that also creates its peer

    def describe(self) -> str:
        text = f"{self.action} {self.resource.describe()}"
        if self.peer is not None:
            text += f" <-> {self.peer.name} ({where(self.peer.netns)})"
        if self.changes:
            text += ": " + self.changes_text()
        return text

    def changes_text(self) -> str:
        return ", ".join(f"{c.field} {c.old!r} -> {c.new!r}" for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action, "resource": self.resource.to_dict()}
        if self.peer is not None:
            out["peer"] = self.peer.to_dict()
        if self.changes:
            out["changes"] = [c.to_dict() for c in self.changes]
        return out


def _owner_text(owner: str | None) -> str:
    return "it was not created by kubenetctl" if owner is None else f"it belongs to {owner}"


def _not_ours(res: Resource, observed_owner: str | None, why: str) -> Conflict:
    return Conflict(
        f"{res.describe()} already exists and {why}; {_owner_text(observed_owner)}",
        hint="pick another name, or delete it first (kubenetctl never changes objects it does not own)",
    )


def owned(observed_owner: str | None, owner: str) -> bool:
    return observed_owner == owner or observed_owner == PROTO_OWNER


def link_changes(desired: Link, observed: Link) -> tuple[Change, ...]:
    out = []
    for name in MUTABLE_LINK_FIELDS:
        want = getattr(desired, name)
        have = getattr(observed, name)
        if want is None or want == have or (name == "master" and not want and not have):
            continue  # None: no wish; "" and None both mean "no master"
        out.append(Change(name, have, want))
    return tuple(out)


def field_changes(desired: Resource, observed: Resource, *, stated_only: bool = False) -> tuple[Change, ...]:
    """Fields that differ; for a route, fields the desired value leaves open (None, or
    onlink False) accept whatever the kernel filled in (the device of a gateway route).
    `stated_only`: a field the desired value leaves None is no wish at all (drift)."""
    out = []
    for name in desired.__dataclass_fields__:
        want, have = getattr(desired, name), getattr(observed, name)
        if stated_only and want is None:
            continue
        if isinstance(desired, Route) and name in ("via", "dev", "src", "onlink") and not want:
            continue
        if want != have:
            out.append(Change(name, have, want))
    return tuple(out)


def decide(
    desired: Resource,
    observed: Resource | None,
    observed_owner: str | None,
    owner: str,
    *,
    adopt: bool = False,
    allow_replace: bool = False,
) -> Op | None:
    """What to do so that `desired` holds. None means it already does."""
    if observed is None:
        return Op(CREATE, desired)
    ours = owned(observed_owner, owner) or adopt
    if isinstance(desired, Link):
        assert isinstance(observed, Link)
        if observed.kind != desired.kind:
            raise Conflict(
                f"{desired.describe()} cannot be created: a {observed.kind} named {observed.name} "
                f"already exists in the {where(desired.netns)}",
                hint="pick another name",
            )
        if not ours:
            raise _not_ours(desired, observed_owner, "kubenetctl may not change it")
        wrong = {k: (getattr(observed, k), v) for k, v in desired.identity().items() if getattr(observed, k) != v}
        if wrong:
            detail = ", ".join(f"{k} is {old!r}, wanted {new!r}" for k, (old, new) in wrong.items())
            if allow_replace and owned(observed_owner, owner):
                changes = tuple(Change(k, old, new) for k, (old, new) in wrong.items())
                return Op(REPLACE, desired, observed, changes + link_changes(desired, observed))
            raise Conflict(
                f"{desired.describe()} already exists with other settings: {detail}",
                hint=f"delete it first (kubenetctl {desired.kind} del {desired.name})",
            )
        changes = link_changes(desired, observed)
        return Op(UPDATE, desired, observed, changes) if changes else None
    if isinstance(desired, (Route, Neighbor, Sysctl, Masquerade)):
        changes = field_changes(desired, observed)
        if not changes:
            return None
        if not ours and not isinstance(desired, Sysctl):
            raise _not_ours(desired, observed_owner, "points elsewhere")
        return Op(UPDATE, desired, observed, changes)
    # Netns, Address, Fdb: the key is the whole identity; present means done.
    if not ours and desired.TYPE == "netns":
        err = _not_ours(desired, observed_owner, "kubenetctl may not take it over")
        err.hint = "pick another name, delete it first, or (in a recipe) mark it adopt: true to use it as it is"
        raise err
    return None
