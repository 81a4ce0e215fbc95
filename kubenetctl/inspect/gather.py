"""Read what inspect and trace look at: the kernel (and, once wired, a lab's recorded state).

The only part of inspect/trace that touches the kernel; it imports the netlink layer
when called, never at import time (start-up cost).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kubenetctl.errors import NotFound
from kubenetctl.inspect.labs import LabState, host_in_lab, lab_namespaces, lab_of, lab_state, labs_in
from kubenetctl.topology import Topology, restrict


@dataclass
class Observed:
    topo: Topology
    lab: str | None
    labs: list[str]
    state: LabState | None = None
    pods: dict[str, str] = field(default_factory=dict)  # pod name -> namespace (from lab state)


# Neighbours and FDB entries come with the facts (learned ones too); as resources they are
# only needed to compare with a lab's record (drift).
LEAN_TYPES = frozenset({"link", "address", "route"})


def gather(lab: str | None = None, *, near: tuple[str, ...] = ()) -> Observed:
    """Observe one lab, or everything. With `near` (trace's SRC and DST) and no lab: when both
    are namespaces of the same lab, read only that lab (a busy host has many namespaces)."""
    from kubenetctl.netlink import nsfs
    from kubenetctl.netlink.facts import namespace_owners, read_facts
    from kubenetctl.netlink.observe import ALL_TYPES, observe
    from kubenetctl.netlink.session import Sessions

    with Sessions() as sessions:
        names = nsfs.list_names()
        owners = namespace_owners(sessions, names)
        if lab is None and near and all(n in owners for n in near):
            labs = {lab_of(owners[n]) for n in near}
            lab = labs.pop() if len(labs) == 1 else None
        state = lab_state(lab) if lab else None
        types = ALL_TYPES if state is not None and state.recorded is not None else LEAN_TYPES
        if lab is None:
            snap = observe(sessions, [None, *names], types=types)
        else:
            spaces = lab_namespaces(owners, lab, state.namespaces if state else ())
            snap = observe(sessions, [None, *spaces], types=types, related=spaces)
            keep = [*spaces, None] if host_in_lab(snap, lab) else spaces
            if not keep:
                found = labs_in([*owners.values(), *snap.owners.values()])
                raise NotFound(
                    f"no lab named {lab!r}: no namespace or link carries its marker (kubenetctl:lab/{lab})",
                    hint=f"labs found: {', '.join(found)}" if found else "no lab exists on this host; "
                    "'kubenetctl inspect' shows everything",
                )
            snap = restrict(snap, keep)
        facts = read_facts(sessions, snap)
    labs = labs_in([*owners.values(), *snap.owners.values()])
    topo = Topology(snap, facts, roles=state.roles if state else None)
    return Observed(topo, lab, labs, state, dict(state.pods) if state else {})
