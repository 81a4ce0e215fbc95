"""Labs as the kernel shows them, and what their recorded state adds.

A lab is recognised in the kernel by its ownership marker: every link a lab creates
carries the ifalias "kubenetctl:lab/<lab>", every namespace it creates carries it on its
loopback. That is enough to select a lab's namespaces, derive nodes and pods from the
topology and trace between them.

A lab's recorded state ($KUBENETCTL_STATE_DIR/labs/<lab>/, written by apply) knows more:
pod names, which namespace is a node, and the exact set of resources the lab created
(for the drift report). `lab_state()` reads it; a lab without recorded state (or a
kernel-only view) works from the kernel alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Sequence

from kubenetctl.errors import KubenetError
from kubenetctl.ownership import lab_owner
from kubenetctl.resources import Resource
from kubenetctl.snapshot import Snapshot

if TYPE_CHECKING:  # pragma: no cover
    from kubenetctl.state.store import Store

LAB_PREFIX = "lab/"


@dataclass(frozen=True)
class LabState:
    """What a lab's recorded state tells inspect and trace."""

    name: str
    pods: Mapping[str, str] = field(default_factory=dict)  # pod name -> its namespace
    roles: Mapping[str, str] = field(default_factory=dict)  # namespace -> "node" | "pod" | "other"
    namespaces: Sequence[str] = ()  # namespaces the lab made (found even if a marker was lost)
    recorded: Sequence[Resource] = ()  # what the lab created (the drift report compares it)


def lab_state(lab: str, store: Store | None = None) -> LabState | None:
    """What the lab's recorded state says (None when it has none on this host)."""
    from kubenetctl.state.store import Store

    state = (store or Store()).read(lab)
    if state is None:
        return None
    pods = {p["name"]: p["netns"] for p in state.pods if p.get("local", True) and p.get("netns")}
    roles = {n["netns"]: "node" for n in state.nodes if n.get("local", True) and n.get("netns")}
    roles.update({ns: "pod" for ns in pods.values()})
    recorded = state.created_resources()
    namespaces = sorted(r.name for r in recorded if r.TYPE == "netns")  # type: ignore[union-attr]
    if state.nodes:  # the recipe named its nodes: the lab's other namespaces (its underlay) are none
        roles.update({ns: "other" for ns in namespaces if ns not in roles})
    return LabState(lab, pods, roles, namespaces, recorded)


def lab_with_pods(names: Sequence[str]) -> str | None:
    """The one recorded lab that has a pod of one of these names (trace web db without
    --lab). None when none has; InvalidInput naming them when several have."""
    from kubenetctl.errors import InvalidInput
    from kubenetctl.state.store import Store

    store = Store()
    found = []
    for lab in store.names():
        try:
            state = store.read(lab)
        except KubenetError:
            continue
        if state is not None and any(p.get("name") in names for p in state.pods):
            found.append(lab)
    if len(found) > 1:
        raise InvalidInput(f"pods named {' or '.join(names)} exist in several labs ({', '.join(found)})",
                           hint="pass --lab LAB")
    return found[0] if found else None


def lab_of(owner: str | None) -> str | None:
    if owner and owner.startswith(LAB_PREFIX):
        return owner[len(LAB_PREFIX):] or None
    return None


def labs_in(owners: Iterable[str | None]) -> list[str]:
    return sorted({lab for lab in (lab_of(o) for o in owners) if lab})


def lab_namespaces(namespace_owners: Mapping[str, str | None], lab: str, extra: Iterable[str] = ()) -> list[str]:
    """Named namespaces the lab owns by marker, plus those its state lists."""
    owner = lab_owner(lab)
    found = [ns for ns, o in namespace_owners.items() if o == owner]
    return sorted(set(found) | {ns for ns in extra if ns in namespace_owners})


def host_in_lab(snap: Snapshot, lab: str) -> bool:
    """Does the host namespace hold links the lab made (a lab run with --node on a real host)?"""
    owner = lab_owner(lab)
    return any(
        res.TYPE == "link" and res.netns is None and snap.owner(key) == owner  # type: ignore[union-attr]
        for key, res in snap.resources.items()
    )
