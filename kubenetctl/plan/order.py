"""Dependency order: namespaces before links, bridges before their ports, links before
addresses and routes. Deletion runs the same order backwards. Pure."""

from __future__ import annotations

import heapq
from typing import Iterable, Sequence

from kubenetctl.resources import Address, Link, Resource, Route

_RANK = {"netns": 0, "link": 1, "sysctl": 2, "address": 3, "neighbor": 4, "fdb": 5, "route": 6, "masquerade": 7}
_LINK_RANK = {"bridge": 0, "vxlan": 1, "vlan": 2, "macvlan": 2, "veth": 3}


def _rank(res: Resource) -> tuple[int, int]:
    sub = _LINK_RANK.get(res.kind, 9) if isinstance(res, Link) else 0
    return _RANK[res.TYPE], sub


def _home(res: Resource) -> str | None:
    return res.name if res.TYPE == "netns" else res.netns  # type: ignore[union-attr]


def _deps(
    res: Resource, resources: Sequence[Resource], index: dict[tuple, int], addresses: dict[str | None, list[Address]],
) -> set[tuple]:
    """A veth pair is made in one step, so each end waits for what either end needs; a
    route through a gateway waits for the addresses that make the gateway reachable."""
    deps = set(res.deps())
    if isinstance(res, Route) and res.via and not res.onlink:
        deps.update(a.key for a in addresses.get(res.netns, ()) if res.dev is None or a.link == res.dev)
    if isinstance(res, Link) and res.kind == "veth":
        peer_key = ("link", res.peer_netns, res.peer)
        if peer_key in index:
            deps |= set(resources[index[peer_key]].deps())
        deps.discard(peer_key)
    deps.discard(res.key)
    return {d for d in deps if d in index}


def creation_order(resources: Sequence[Resource]) -> list[Resource]:
    """Topological order over deps(); among ready resources, those of the namespace that
    appeared first in the given list come first, then kind rank, then the given order.
    So a namespace's work stays together (a pod's netns, veth, address and route in a
    row: one netlink session at a time, and a plan that reads pod by pod).

    Dependencies on keys outside the set are taken as already present (the host's
    uplink, an adopted bridge). A cycle cannot arise from the model, but if one does the
    remaining resources follow in rank order rather than being dropped.
    """
    index = {res.key: i for i, res in enumerate(resources)}
    groups: dict[str | None, int] = {}
    for res in resources:
        groups.setdefault(_home(res), len(groups))

    def prio(i: int) -> tuple[int, int, int]:
        return (groups[_home(resources[i])], *_rank(resources[i]))

    addresses: dict[str | None, list[Address]] = {}
    for res in resources:
        if isinstance(res, Address):
            addresses.setdefault(res.netns, []).append(res)
    waiting = {res.key: _deps(res, resources, index, addresses) for res in resources}
    dependents: dict[tuple, list[tuple]] = {}
    for key, deps in waiting.items():
        for dep in deps:
            dependents.setdefault(dep, []).append(key)
    heap = [(prio(i), i, r.key) for i, r in enumerate(resources) if not waiting[r.key]]
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
                heapq.heappush(heap, (prio(j), j, nxt))
    if len(out) < len(resources):  # pragma: no cover - defensive, see docstring
        rest = sorted((r for r in resources if r.key not in done), key=lambda r: (prio(index[r.key]), index[r.key]))
        out.extend(rest)
    return out


def deletion_order(resources: Iterable[Resource]) -> list[Resource]:
    return list(reversed(creation_order(list(resources))))
