"""Read what inspect and trace look at: the kernel, and a lab's recorded state.

The only part of inspect/trace that touches the kernel; it imports the netlink layer
when called, never at import time (start-up cost).

inspect reads every namespace in scope. trace reads outward from its endpoints: the
namespaces of SRC and DST first, then, while the walk does not get there and back, the
namespaces cabled to those it touched; only when that is not enough does it read the rest
(so a verdict "not reachable" always rests on everything). Reading costs milliseconds per
namespace, the walk well under one: on a host with hundreds of pods this is the difference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubenetctl.errors import NotFound
from kubenetctl.inspect.labs import LabState, host_in_lab, lab_namespaces, lab_of, lab_state, labs_in
from kubenetctl.kernelfacts import Facts
from kubenetctl.snapshot import Snapshot
from kubenetctl.topology import NS, Topology, restrict

log = logging.getLogger("kubenetctl.gather")

# Neighbours and FDB entries come with the facts (learned ones too); as resources they are
# only needed to compare with a lab's record (drift).
LEAN_TYPES = frozenset({"link", "address", "route"})
EXPANSIONS = 8  # rounds of reading outward before trace reads everything


@dataclass
class Observed:
    topo: Topology
    lab: str | None
    labs: list[str]
    state: LabState | None = None
    pods: dict[str, str] = field(default_factory=dict)  # pod name -> namespace (from lab state)
    read: int = 0  # namespaces read


class _Reader:
    """One session to the kernel, reading namespaces into one growing snapshot.

    The owner marker of every namespace is read only when a lab has to be delimited
    (inspect LAB; trace in a lab, which reads outward only into the lab's namespaces):
    without a lab, trace needs only its two ends' markers to find whether they are a lab's.
    """

    def __init__(self, sessions: Any, lab: str | None, near: tuple[str, ...], store: Any = None, *,
                 drift: bool = False) -> None:
        from kubenetctl.netlink import nsfs
        from kubenetctl.netlink.facts import namespace_owners
        from kubenetctl.netlink.observe import ALL_TYPES

        self.sessions = sessions
        self.names = nsfs.list_names()
        self.owners: dict[str, str | None] = {}
        if lab is None and near and all(n in self.names for n in near):
            ends = namespace_owners(sessions, near)
            labs = {lab_of(ends.get(n)) for n in near}
            lab = labs.pop() if len(labs) == 1 else None
        self.lab = lab
        self.state = lab_state(lab, store) if lab else None
        # drift (inspect) compares the lab's record with every resource type and its recorded
        # sysctls; trace needs neither (the facts carry neighbours and FDB entries)
        self.drift = drift and self.state is not None
        self.types = ALL_TYPES if self.drift else LEAN_TYPES
        self._allowed: list[NS] | None = None
        self.snap = Snapshot()
        self.facts = Facts()

    @property
    def allowed(self) -> list[NS]:
        """What `all()` reads: the host and every namespace, or the lab's."""
        if self._allowed is None:
            from kubenetctl.netlink.facts import namespace_owners

            if self.lab is None:
                self._allowed = [None, *self.names]
            else:
                self.owners = namespace_owners(self.sessions, self.names)
                extra = self.state.namespaces if self.state else ()
                self._allowed = [None, *lab_namespaces(self.owners, self.lab, extra)]
        return self._allowed

    def read(self, spaces: Iterable[NS]) -> None:
        from kubenetctl.netlink.facts import read_facts
        from kubenetctl.netlink.observe import observe

        known = set(self.names)
        new = [ns for ns in dict.fromkeys(spaces) if (ns is None or ns in known) and ns not in self.snap.scope]
        if not new:
            return
        recorded = self.state.recorded if self.state is not None and self.drift else ()
        sysctls = [r for r in recorded if r.TYPE == "sysctl" and r.netns in new]  # type: ignore[union-attr]
        part = observe(self.sessions, new, types=self.types, related=list(self.snap.scope) + new, sysctls=sysctls)
        if self.lab is not None and None in new and not host_in_lab(part, self.lab):
            part = restrict(part, [ns for ns in new if ns is not None])  # the host is no part of this lab
        self.facts.merge(read_facts(self.sessions, part))
        self.snap.resources.update(part.resources)
        self.snap.owners.update(part.owners)
        self.snap.facts.update(part.facts)
        self.snap.scope |= set(new)  # read, even if there was nothing of the lab in it

    def in_lab(self, spaces: Iterable[NS]) -> list[NS]:
        """Those of `spaces` this reader may read: with a lab, only the lab's (and the host;
        observed() leaves it out when the lab has nothing there)."""
        allowed = set(self.allowed)
        return [ns for ns in spaces if ns in allowed]

    def all(self) -> None:
        self.read(self.allowed)
        self.check_lab()

    def check_lab(self) -> None:
        """NotFound when no namespace carries the lab's marker and no link in the host does."""
        if self.lab is None or len(self.allowed) > 1:
            return
        self.read([None])
        if not host_in_lab(self.snap, self.lab):
            found = labs_in([*self.owners.values(), *self.snap.owners.values()])
            raise NotFound(
                f"no lab named {self.lab!r}: no namespace or link carries its marker (kubenetctl:lab/{self.lab})",
                hint=f"labs found: {', '.join(found)}" if found else "no lab exists on this host; "
                "'kubenetctl inspect' shows everything",
            )

    def observed(self) -> Observed:
        snap = self.snap
        if self.lab is not None and None in snap.scope and not host_in_lab(snap, self.lab):
            snap = restrict(snap, [ns for ns in snap.scope if ns is not None])
        topo = Topology(snap, self.facts, roles=self.state.roles if self.state else None)
        labs = labs_in([*self.owners.values(), *snap.owners.values()])
        return Observed(topo, self.lab, labs, self.state, dict(self.state.pods) if self.state else {},
                        read=len(self.snap.scope))


def gather(lab: str | None = None, store: Any = None) -> Observed:
    """Everything on the host, or one lab (its state from `store`, default the usual one),
    with what its drift report needs."""
    from kubenetctl.netlink.session import Sessions

    with Sessions() as sessions:
        reader = _Reader(sessions, lab, (), store, drift=True)
        reader.all()
        return reader.observed()


def gather_trace(lab: str | None, src: str, dst: str, walk: Callable[[Observed], Any]) -> tuple[Observed, Any]:
    """Read outward from SRC and DST until `walk` (resolve + trace) gets there and back.

    `walk` returns a Trace; reading stops early when it is ok. Without --lab, when both ends
    are namespaces of the same lab, only that lab is read.
    """
    from kubenetctl.netlink.session import Sessions
    from kubenetctl.trace.pair import HOST_NAMES

    with Sessions() as sessions:
        reader = _Reader(sessions, lab, (src, dst))
        if lab is not None:
            reader.check_lab()
        pods = dict(reader.state.pods) if reader.state else {}
        ends = [None if name in HOST_NAMES and name not in reader.names else pods.get(name, name)
                for name in (src, dst)]
        if ends[0] is None or ends[0] in reader.names:  # SRC is the host or a namespace (an address: anywhere)
            reader.read(reader.in_lab(ends))
            for _ in range(EXPANSIONS):
                seen = reader.observed()
                try:
                    result = walk(seen)
                except NotFound:
                    result = None
                if result is not None and result.ok:
                    log.info("trace read %d of %d namespaces", seen.read, len(reader.names) + 1)
                    return seen, result
                touched = result.namespaces() if result is not None else set(seen.topo.namespaces())
                more = reader.in_lab(seen.topo.adjacent(touched) - set(reader.snap.scope))
                if not more:
                    break
                reader.read(more)
        reader.all()
        seen = reader.observed()
        log.info("trace read all %d namespaces", seen.read)
        return seen, walk(seen)


def explain(lab: str, src: str, dst: str, seen: Observed | None = None) -> Any:
    """The trace of one pair (pod name or namespace -> pod name or address) in a lab:
    what `kubenetctl check` shows for an expectation that failed. seen: the lab as
    gather() read it (several pairs, one read)."""
    from kubenetctl.trace.pair import walk_pair

    def walk(seen: Observed) -> Any:
        return walk_pair(seen.topo, src, dst, seen.pods)

    return walk(seen) if seen is not None else gather_trace(lab, src, dst, walk)[1]
