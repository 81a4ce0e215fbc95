"""Apply and destroy a lab against the kernel, with its journal and state.

The same Executor and NetlinkBackend as every primitive carry out each operation (same
ownership marks, same error mapping); this module decides the scope (which namespaces
to read, which operations to run) and keeps the lab's books:

    apply:   lock -> read state -> compile (with the remembered allocations) -> observe the
             lab's namespaces -> plan -> for each op: journal intent, run, journal done
             -> state (or, on failure, roll back and record what is left)
    destroy: lock -> read state (+ journal of a crashed run) -> observe -> delete what the
             lab still owns, put sysctls back -> remove the state
"""

from __future__ import annotations

import gc
import hashlib
import logging
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Optional

from kubenetctl.errors import Conflict, KubenetError
from kubenetctl.execute import Executor, netns_of
from kubenetctl.lab.plan import LabPlan, apply_plan, destroy_plan, recorded_of
from kubenetctl.plan.ops import Op
from kubenetctl.resources import Netns, Resource, from_dict
from kubenetctl.snapshot import Snapshot
from kubenetctl.state.journal import LabState, fold, key_id, record
from kubenetctl.state.store import Store

if TYPE_CHECKING:  # pragma: no cover
    from kubenetctl.netlink.session import Sessions
    from kubenetctl.recipe import Compiled  # destroy and check need no recipe (nor pydantic)

Progress = Callable[[int], Callable[[Op], None]]  # total -> advance(op)
log = logging.getLogger("kubenetctl.lab")


def _merge(into: Snapshot, part: Snapshot) -> None:
    into.resources.update(part.resources)
    into.owners.update(part.owners)
    into.facts.update(part.facts)
    into.scope.update(part.scope)


def observe_resources(sessions: "Sessions", resources: Iterable[Resource]) -> Snapshot:
    """Read only what these resources can be: their namespaces (those that exist), and per
    namespace only the object types they include."""
    from kubenetctl.netlink.observe import observe

    wanted: dict[Optional[str], set[str]] = {}
    sysctls = []
    families: set[int] = set()
    for res in resources:
        types = wanted.setdefault(netns_of(res), {"link"})
        if res.TYPE == "sysctl":
            sysctls.append(res)
        elif res.TYPE != "netns":
            types.add(res.TYPE)
        if res.TYPE == "route":
            families.add(socket.AF_INET6 if ":" in res.dst else socket.AF_INET)  # type: ignore[union-attr]
    groups: dict[frozenset[str], list[Optional[str]]] = {}
    for ns, types in wanted.items():
        groups.setdefault(frozenset(types), []).append(ns)
    related = list(wanted)
    snap = Snapshot()
    for types, namespaces in groups.items():
        inside = set(namespaces)
        part = observe(sessions, namespaces, types=types, related=related, route_families=sorted(families),
                       sysctls=[s for s in sysctls if netns_of(s) in inside])
        _merge(snap, part)
    return snap


def observe_for_destroy(sessions: "Sessions", targets: list[Resource]) -> Snapshot:
    """Namespaces that go as a whole need only their owner mark; the rest is read."""
    from kubenetctl.netlink import namespaces, nsfs
    from kubenetctl.netlink.observe import namespace_owner

    doomed = {r.name for r in targets if isinstance(r, Netns)}
    snap = Snapshot()
    for name in sorted(doomed):
        if namespaces.remove_stale(name):
            continue  # the lab was killed half-way through making it: only a file was left
        if nsfs.exists(name):
            try:
                snap.add(Netns(name), namespace_owner(sessions, name))
                snap.scope.add(name)
            except (KubenetError, OSError):
                continue  # vanished meanwhile, or not a namespace we can enter: not ours to delete
    _merge(snap, observe_resources(sessions, [r for r in targets if netns_of(r) not in doomed]))
    return snap


@dataclass
class Outcome:
    lab: str
    ops: list[Op] = field(default_factory=list)  # what was done
    undone: list[Op] = field(default_factory=list)  # rollback of a failed apply
    plan: Optional[LabPlan] = None
    elapsed: float = 0.0
    error: Optional[KubenetError] = None


@contextmanager
def _no_gc() -> Iterator[None]:
    """Python's cycle collector off while thousands of short-lived objects come and go
    (it ran for ~5% of a 1,000-pod apply and finds nothing: they hold no cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def clear_stale(recorded: list[Resource]) -> None:
    """Mountpoint files of namespaces the lab was making when it was killed (no namespace
    behind them) would block making those namespaces again: remove them."""
    from kubenetctl.netlink import namespaces

    for res in recorded:
        if isinstance(res, Netns) and namespaces.remove_stale(res.name):
            log.info("removed the leftover mountpoint of netns %s", res.name)


def same_mode(compiled: "Compiled", state: Optional[LabState]) -> None:
    """A lab applied with --node N is only ever reconciled with --node N (and without, without)."""
    if state is not None and state.node != compiled.node:
        here = f"--node {state.node}" if state.node else "without --node"
        raise Conflict(f"lab {compiled.lab} was applied on this machine {here}",
                       hint=f"destroy it first (kubenetctl destroy {compiled.lab}), or apply it the same way")


class Engine:
    def __init__(self, store: Store, sessions: "Sessions") -> None:
        from kubenetctl.netlink.backend import NetlinkBackend

        self.store = store
        self.sessions = sessions
        self.backend = NetlinkBackend(sessions)
        self.backend.track_peers = False  # the plan knows which veth ends go with a namespace
        self.undone: list[Op] = []

    def _run(self, lab: str, owner: str, ops: list[Op], adopt: list[Resource], progress: Optional[Progress],
             *, keep_going: bool = False) -> tuple[list[Op], list[KubenetError]]:
        """Carry out ops with intent/done journal lines. Apply: the first failure undoes
        everything done so far (and raises). Destroy (keep_going): failures are collected
        and the rest still runs."""
        with _no_gc():
            return self._run_ops(lab, owner, ops, adopt, progress, keep_going)

    def _run_ops(self, lab: str, owner: str, ops: list[Op], adopt: list[Resource], progress: Optional[Progress],
                 keep_going: bool) -> tuple[list[Op], list[KubenetError]]:
        done: list[Op] = []
        self.undone = []
        intent: dict[int, int] = {}  # id(op) -> journal line of its intent
        failures: list[KubenetError] = []
        advance = progress(len(ops)) if progress is not None and ops else None
        with self.store.journal(lab) as journal:
            def finished(op: Op) -> None:
                seq = intent.get(id(op))
                if seq is None:  # an inverse, run by the rollback: journal it in full
                    journal.write(record("done", op))
                    self.undone.append(op)
                    return
                journal.write(record("done", of=seq))
                done.append(op)
                if advance is not None:
                    advance(op)

            def start(op: Op) -> None:
                intent[id(op)] = journal.write(record("intent", op))

            ex = Executor(self.backend, owner, on_done=finished)
            for res in adopt:
                journal.write(record("adopt", resource=res))
            if keep_going:
                for op in ops:
                    start(op)
                    try:
                        ex.apply(op)
                    except KubenetError as exc:
                        log.warning("%s", exc)
                        failures.append(exc)
                return done, failures
            with ex.transaction():
                for op in ops:
                    start(op)
                    ex.apply(op)
        return done, failures

    def _settle(self, plan: LabPlan) -> None:
        """Return only when the veth ends that went with deleted namespaces are gone."""
        self.backend.pending_gone.extend((link.netns, link.name) for link in plan.implied)
        self.backend.settle()

    # -- apply -------------------------------------------------------------------------
    def apply(self, compiled: "Compiled", recipe_path: str, recipe_text: str, state: Optional[LabState],
              progress: Optional[Progress] = None) -> Outcome:
        """Reconcile the kernel with the compiled lab; the caller holds the lab's lock."""
        lab = compiled.lab
        started = time.perf_counter()
        same_mode(compiled, state)  # before anything is touched
        recorded = recorded_of(state)
        clear_stale(recorded)
        plan = self.plan(compiled, state, recorded)
        outcome = Outcome(lab, plan=plan)
        base = state
        if base is None:  # recorded before the first op: a killed first apply --node N is re-applied with --node N
            base = LabState(lab, compiled.owner, node=compiled.node, status="applying")
            self.store.write(lab, base)
        try:
            outcome.ops, _ = self._run(lab, compiled.owner, plan.ops, plan.adopt, progress)
            self._settle(plan)
        except KubenetError as exc:
            outcome.error, outcome.undone = exc, self.undone
        except BaseException:  # interrupted: what the rollback left is recorded for destroy
            self._record(base, compiled, plan, recipe_path, recipe_text, failed=True)
            raise
        self._record(base, compiled, plan, recipe_path, recipe_text, failed=outcome.error is not None)
        outcome.elapsed = time.perf_counter() - started
        return outcome

    def _record(self, state: LabState, compiled: "Compiled", plan: LabPlan, path: str, text: str, *, failed: bool) -> None:
        lab = compiled.lab
        fold(state, self.store.journal_records(lab))
        if failed:
            state.status = "failed"
            if not state.created and not state.adopted and not state.pods:
                self.store.remove(lab)  # a first apply, rolled back completely: nothing to remember
                return
        else:
            state.status = "ready"
            state.recipe = {"path": os.path.abspath(path), "sha256": hashlib.sha256(text.encode()).hexdigest()}
            state.allocations = dict(compiled.allocations)
            state.pods, state.nodes, state.expect = compiled.pods, compiled.nodes, compiled.expect
            state.node = compiled.node
            keep = compiled.adopt
            state.adopted = {key_id(r.key): r.to_dict() for r in map(from_dict, state.adopted.values()) if r.key in keep}
            for res in plan.foreign:  # someone else's now: no longer the lab's to delete
                state.created.pop(key_id(res.key), None)
        self.store.write(lab, state)
        self.store.clear_journal(lab)

    # -- plan (read only) ------------------------------------------------------------------
    def plan(self, compiled: "Compiled", state: Optional[LabState], recorded: Optional[list[Resource]] = None) -> LabPlan:
        """recorded: state.created_resources(), when the caller has them already."""
        same_mode(compiled, state)
        if recorded is None:
            recorded = recorded_of(state)
        snap = observe_resources(self.sessions, [*compiled.resources, *recorded])
        return apply_plan(compiled.resources, compiled.adopt, snap, compiled.owner, state, recorded)

    # -- destroy -------------------------------------------------------------------------
    def destroy(self, state: LabState, progress: Optional[Progress] = None) -> Outcome:
        started = time.perf_counter()
        restore = [from_dict(d) for d in state.restore.values()]
        recorded = recorded_of(state)
        snap = observe_for_destroy(self.sessions, [*recorded, *restore])
        plan = destroy_plan(state, snap, recorded)
        outcome = Outcome(state.lab, plan=plan)
        state.status = "destroying"
        self.store.write(state.lab, state)
        outcome.ops, failures = self._run(state.lab, state.owner, plan.ops, [], progress, keep_going=True)
        self._settle(plan)
        if failures:
            outcome.error = failures[0]
        fold(state, self.store.journal_records(state.lab))
        if outcome.error is None:
            self.store.remove(state.lab)
        else:
            state.status = "failed"
            self.store.write(state.lab, state)
            self.store.clear_journal(state.lab)
        outcome.elapsed = time.perf_counter() - started
        return outcome

