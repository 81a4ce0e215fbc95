"""Labs as the kernel shows them, and the one place where recorded lab state plugs in.

Today a lab is recognised by its ownership marker: every link a lab creates carries the
ifalias "kubenetctl:lab/<lab>", every namespace it creates carries it on its loopback.
That is enough to select a lab's namespaces, derive nodes and pods from the topology
and trace between them.

A lab's recorded state (the recipe's journal) knows more: pod names, which namespace is
a node, and the exact set of resources the lab created. It plugs in through `LabState`
and `lab_state()`; until it is wired, `lab_state()` returns None and everything works from
the kernel alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Sequence

from kubenetctl.ownership import lab_owner
from kubenetctl.resources import Resource
from kubenetctl.snapshot import Snapshot

LAB_PREFIX = "lab/"


@dataclass(frozen=True)
class LabState:
    """What a lab's recorded state tells inspect and trace."""

    name: str
    pods: Mapping[str, str] = field(default_factory=dict)  # pod name -> its namespace
    roles: Mapping[str, str] = field(default_factory=dict)  # namespace -> "node" | "pod"
    namespaces: Sequence[str] = ()  # namespaces the lab made (found even if a marker was lost)
    recorded: Sequence[Resource] | None = None  # what the lab created; None: unknown (no drift report)


# The recipe layer sets this to a function that loads a lab's state from
# $KUBENETCTL_STATE_DIR/labs/<lab>/ (None when the lab has no recorded state).
STATE_LOADER: Callable[[str], LabState | None] | None = None


def lab_state(lab: str) -> LabState | None:
    return STATE_LOADER(lab) if STATE_LOADER is not None else None


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
