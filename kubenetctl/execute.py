"""Ensure, delete, rollback: the decisions around every change, whatever carries it out.

The executor asks a backend what the kernel holds, decides with plan.ops.decide, and has
the backend carry out the operation (netlink/backend.py in the product, an in-memory
fake in the unit tests). Every change is remembered within a transaction so that a
failure undoes exactly what the transaction did, newest first.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Protocol

from kubenetctl.errors import Conflict, KubenetError, NotFound
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, UPDATE, Op, decide, link_changes, owned
from kubenetctl.resources import Link, Netns, Resource, where
from kubenetctl.snapshot import Snapshot

log = logging.getLogger("kubenetctl.executor")

# what a caller sees for each outcome
CREATED, UPDATED, REPLACED, UNCHANGED, DELETED, ABSENT = (
    "created", "updated", "replaced", "unchanged", "deleted", "absent",
)


def netns_of(res: Resource) -> str | None:
    return res.name if isinstance(res, Netns) else res.netns


class Backend(Protocol):
    def netns_exists(self, name: str) -> bool: ...
    def missing_netns(self, name: str) -> KubenetError: ...
    def observe_one(self, res: Resource) -> Snapshot: ...
    def snapshot(self, netns: str | None, types: frozenset[str], peers: bool = True) -> Snapshot: ...
    def run(self, op: Op, owner: str) -> None: ...
    def settle(self) -> None: ...


class Executor:
    def __init__(self, backend: Backend, owner: str, on_done: Callable[[Op], None] | None = None) -> None:
        self.backend = backend
        self.owner = owner
        self.on_done = on_done
        self._undo: list[list[Op]] = []

    # -- reading ---------------------------------------------------------------------
    def observe_one(self, res: Resource) -> Snapshot:
        return self.backend.observe_one(res)

    def snapshot(self, netns: str | None, types: frozenset[str] = frozenset({"link", "address"}),
                 peers: bool = True) -> Snapshot:
        """One namespace as the kernel holds it (peers=False: veth peers elsewhere unnamed)."""
        self._require_netns(netns)
        return self.backend.snapshot(netns, types, peers)

    # -- high level ------------------------------------------------------------------
    def ensure(self, res: Resource, *, peer: Link | None = None, adopt: bool = False) -> str:
        """Make `res` hold: create it, converge its mutable settings, or leave it alone."""
        if res.TYPE != "netns":
            self._require_netns(netns_of(res))
        snap = self.observe_one(res)
        op = decide(res, snap.get(res.key), snap.owner(res.key), self.owner, adopt=adopt)
        if op is None:
            return UNCHANGED
        if peer is not None and op.action == CREATE:
            self._require_netns(peer.netns)
            op = replace(op, peer=peer)
        self.apply(op)
        return {CREATE: CREATED, UPDATE: UPDATED, REPLACE: REPLACED}[op.action]

    def remove(self, res: Resource, *, force: bool = False, match: tuple[str, ...] = ()) -> str:
        """Delete `res` if present and ours (or forced); already gone is success. match:
        fields outside the key that the user named; the object found must have them too."""
        snap = self.observe_one(res)
        current = snap.get(res.key)
        if current is None:
            return ABSENT
        wrong = [f for f in match if getattr(res, f) is not None and getattr(res, f) != getattr(current, f)]
        if wrong:
            differ = ", ".join(f"its {f} is {getattr(current, f)}, not {getattr(res, f)}" for f in wrong)
            raise Conflict(f"refusing to delete {current.describe()}: {differ}",
                           hint="name it as it is (see the list command), or leave that out")
        if isinstance(res, Link) and isinstance(current, Link) and res.kind and current.kind != res.kind:
            raise Conflict(
                f"refusing to delete {current.describe()}: it is a {current.kind}, not a {res.kind}",
                hint=f"use 'kubenetctl link del {res.name}' to delete a link of any kind",
            )
        self.check_deletable(current, snap, force=force)
        self.apply(Op(DELETE, current, before=current))
        return DELETED

    def get_link(self, netns: str | None, name: str, kind: str | None = None) -> Link:
        """The link as the kernel holds it; NotFound, or Conflict when it is of another kind."""
        self._require_netns(netns)
        current = self.observe_one(Link(netns, name, "veth")).get(("link", netns, name))
        if not isinstance(current, Link):
            raise NotFound(f"link {name} does not exist in the {where(netns)}")
        if kind is not None and current.kind != kind:
            raise Conflict(f"{name} in the {where(netns)} is a {current.kind}, not a {kind}")
        return current

    def set_link(self, netns: str | None, name: str, **wanted: Any) -> tuple[str, Link]:
        """Change mutable settings (mtu, up, master, mac) of any existing link."""
        current = self.get_link(netns, name)
        desired = replace(current, **wanted)
        changes = link_changes(desired, current)
        if not changes:
            return UNCHANGED, current
        self.apply(Op(UPDATE, desired, current, changes))
        return UPDATED, desired

    def check_deletable(self, res: Resource, snap: Snapshot, *, force: bool) -> None:
        if force:
            return
        key_owner = snap.owner(res.key)
        if owned(key_owner, self.owner):
            return
        if res.TYPE == "fdb" and owned(snap.owner(("link", res.netns, res.link)), self.owner):  # type: ignore[union-attr]
            return  # FDB entries carry no marker: they are the owner's of their device
        who = "kubenetctl did not create it" if key_owner is None else f"it belongs to {key_owner}"
        raise Conflict(
            f"refusing to delete {res.describe()}: {who}",
            hint="pass --force to delete it anyway",
        )

    def _require_netns(self, ns: str | None) -> None:
        if ns is not None and not self.backend.netns_exists(ns):
            raise self.backend.missing_netns(ns)

    def settle(self) -> None:
        """Return only when every change is visible (deleted namespaces' links are gone)."""
        self.backend.settle()

    # -- transactions ----------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Undo every change made inside the block if the block raises."""
        self._undo.append([])
        try:
            yield
        except BaseException:
            done = self._undo.pop()
            self._rollback(done)
            raise
        else:
            done = self._undo.pop()
            if self._undo:
                self._undo[-1].extend(done)

    def _rollback(self, done: list[Op]) -> None:
        for op in reversed(done):
            inverse = self.inverse(op)
            if inverse is None:
                continue
            try:
                self.backend.run(inverse, self.owner)
            except (KubenetError, OSError) as exc:  # keep undoing the rest
                log.warning("rollback: could not %s: %s", inverse.describe(), exc)
                continue
            if self.on_done is not None:  # a journal sees the undo as well
                self.on_done(inverse)

    @staticmethod
    def inverse(op: Op) -> Op | None:
        if op.action == CREATE:
            return Op(DELETE, op.resource, before=op.resource)
        if op.action == UPDATE and op.before is not None:
            return Op(UPDATE, op.before, before=op.resource)
        return None

    # -- applying one operation ------------------------------------------------------
    def apply(self, op: Op) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info("%s", op.describe())
        self.backend.run(op, self.owner)
        if self._undo:
            self._undo[-1].append(op)
        if self.on_done is not None:
            self.on_done(op)
