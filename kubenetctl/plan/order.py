"""Dependency order: namespaces before links, bridges before their ports, links before
addresses and routes. Deletion runs the same order backwards. Pure."""

from __future__ import annotations

import heapq
from typing import Iterable, Sequence

from kubenetctl.resources import Link, Resource

_RANK = {"netns": 0, "link": 1, "sysctl": 2, "address": 3, "neighbor": 4, "fdb": 5, "route": 6, "masquerade": 7}
_LINK_RANK = {"bridge": 0, "vxlan": 1, "vlan": 2, "macvlan": 2, "veth": 3}


def _rank(res: Resource) -> tuple[int, int]:
    sub = _LINK_RANK.get(res.kind, 9) if isinstance(res, Link) else 0
    return _RANK[res.TYPE], sub


def _deps(res: Resource, resources: Sequence[Resource], index: dict[tuple, int]) -> set[tuple]:
    """A veth pair is made in one step, so each end waits for what either end needs."""
    deps = set(res.deps())
    if isinstance(res, Link) and res.kind == "veth":
        peer_key = ("link", res.peer_netns, res.peer)
        if peer_key in index:
            deps |= set(resources[index[peer_key]].deps())
        deps.discard(peer_key)
    deps.discard(res.key)
    return {d for d in deps if d in index}


def creation_order(resources: Sequence[Resource]) -> list[Resource]:
    """Topological order over deps(); ties keep kind rank, then the given order.

    Dependencies on keys outside the set are taken as already present (the host's
    uplink, an adopted bridge). A cycle cannot arise from the model, but if one does the
    remaining resources follow in rank order rather than being dropped.
    """
    index = {res.key: i for i, res in enumerate(resources)}
    waiting = {res.key: _deps(res, resources, index) for res in resources}
    dependents: dict[tuple, list[tuple]] = {}
    for key, deps in waiting.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(key)
    heap = [(_rank(r), i, r.key) for i, r in enumerate(resources) if not waiting[r.key]]
    heapq.heapify(heap)
    out: list[Resource] = []
    done: set[tuple] = set()
    while heap:
        _, i, key = heapq.heappop(heap)
        if key in done:
            continue
        done.add(key)
        out.append(resources[i])
        for nxt in dependents.get(key, ()):
            waiting[nxt].discard(key)
            if not waiting[nxt] and nxt not in done:
                j = index[nxt]
                heapq.heappush(heap, (_rank(resources[j]), j, nxt))
    if len(out) < len(resources):  # pragma: no cover - defensive, see docstring
        rest = sorted((r for r in resources if r.key not in done), key=lambda r: (_rank(r), index[r.key]))
        out.extend(rest)
    return out


def deletion_order(resources: Iterable[Resource]) -> list[Resource]:
    return list(reversed(creation_order(list(resources))))
