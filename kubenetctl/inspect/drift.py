"""Drift: what a lab recorded against what the kernel holds (pure).

- missing: recorded, not in the kernel (deleted by hand, lost in a crash); when a whole
  namespace is gone, only the namespace is listed (its contents went with it);
- changed: in the kernel with other settings (an MTU lowered, a link set down, a route
  pointing elsewhere); only fields the record states are compared;
- foreign: in the lab's namespaces (or carrying its marker) but not recorded (added by
  hand or by another tool). What the kernel makes by itself (loopback, connected routes,
  the loopback's addresses) is never foreign.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from kubenetctl.plan.ops import Change, field_changes, link_changes
from kubenetctl.resources import Address, Link, Resource, Route, sort_key
from kubenetctl.snapshot import Snapshot

RTPROT_KERNEL = 2
LOOPBACK_CIDRS = frozenset({"127.0.0.1/8", "::1/128"})


@dataclass
class Drift:
    missing: list[Resource] = field(default_factory=list)
    changed: list[tuple[Resource, Resource, tuple[Change, ...]]] = field(default_factory=list)
    foreign: list[Resource] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.missing or self.changed or self.foreign)

    def to_dict(self) -> dict[str, Any]:
        return {
            "clean": self.clean,
            "missing": [r.to_dict() for r in self.missing],
            "changed": [
                {"resource": rec.to_dict(), "changes": [c.to_dict() for c in changes]}
                for rec, _, changes in self.changed
            ],
            "foreign": [r.to_dict() for r in self.foreign],
        }


def _netns(res: Resource) -> str | None:
    return res.name if res.TYPE == "netns" else res.netns  # type: ignore[union-attr]


def differences(recorded: Resource, observed: Resource) -> tuple[Change, ...]:
    """Fields the record states that the kernel holds otherwise."""
    if isinstance(recorded, Link) and isinstance(observed, Link):
        out = [Change("kind", observed.kind, recorded.kind)] if observed.kind != recorded.kind else []
        if not out:
            out += [Change(k, getattr(observed, k), v) for k, v in recorded.identity().items()
                    if v is not None and getattr(observed, k) != v]
        return tuple(out) + link_changes(recorded, observed)
    return field_changes(recorded, observed, stated_only=True)


def automatic(res: Resource, snap: Snapshot) -> bool:
    """Made by the kernel itself, never by a person or a tool."""
    if isinstance(res, Link):
        return res.name == "lo"
    if isinstance(res, Address):
        return res.link == "lo" and res.cidr in LOOPBACK_CIDRS
    if isinstance(res, Route):
        return snap.fact(res.key, "proto") == RTPROT_KERNEL
    return False


def drift(
    recorded: Iterable[Resource],
    observed: Snapshot,
    *,
    owner: str | None = None,
    namespaces: Iterable[str | None] | None = None,
) -> Drift:
    """Compare a lab's recorded resources with an observed snapshot.

    `namespaces` is the lab's scope for foreign objects (default: every namespace the
    record mentions); `owner` ("lab/<name>") also flags marked objects anywhere else.
    """
    rec = {r.key: r for r in recorded}
    scope = set(namespaces) if namespaces is not None else {_netns(r) for r in rec.values()}
    out = Drift()
    gone = {r.name for r in rec.values() if r.TYPE == "netns" and r.key not in observed}  # type: ignore[union-attr]
    for key, want in sorted(rec.items(), key=lambda kv: sort_key(kv[1])):
        have = observed.get(key)
        if have is None:
            if want.TYPE == "netns" or _netns(want) not in gone:  # a missing namespace stands for its contents
                out.missing.append(want)
            continue
        changes = differences(want, have)
        if changes:
            out.changed.append((want, have, changes))
    for key, have in sorted(observed.resources.items(), key=lambda kv: sort_key(kv[1])):
        if key in rec or automatic(have, observed):
            continue
        in_scope = _netns(have) in scope and have.TYPE != "netns"
        marked = owner is not None and observed.owner(key) == owner
        if in_scope or marked:
            out.foreign.append(have)
    return out
