"""Observed links, addresses and routes as rows for the list commands."""

from __future__ import annotations

from typing import Any, Iterable

from kubenetctl.netlink import nsfs
from kubenetctl.snapshot import Snapshot


def scope(netns: str | None, all_ns: bool) -> list[str | None]:
    if all_ns:
        return [None, *nsfs.list_names()]
    if netns is not None and not nsfs.exists(netns):
        raise nsfs.missing(netns)
    return [netns]


def snapshot(netns: str | None, all_ns: bool, types: Iterable[str] = ("link", "address")) -> Snapshot:
    from kubenetctl.netlink.observe import observe
    from kubenetctl.netlink.session import Sessions

    with Sessions() as sessions:
        return observe(sessions, scope(netns, all_ns), types=frozenset(types))


def link_rows(snap: Snapshot, kinds: set[str] | None = None) -> list[dict[str, Any]]:
    addrs: dict[tuple, list[str]] = {}
    for a in snap.of_type("address"):
        addrs.setdefault(("link", a.netns, a.link), []).append(a.cidr)  # type: ignore[union-attr]
    rows = []
    for link in snap.of_type("link"):
        if kinds is not None and link.kind not in kinds:  # type: ignore[union-attr]
            continue
        row = {k: v for k, v in link.to_dict().items() if k != "type"}
        row["netns"] = link.netns  # type: ignore[union-attr]
        row["addresses"] = sorted(addrs.get(link.key, []))
        row["owner"] = snap.owner(link.key)
        row["operstate"] = snap.fact(link.key, "operstate")
        if snap.fact(link.key, "peer_unresolved"):
            row["peer"] = row["peer_netns"] = "?"
        rows.append(row)
    return sorted(rows, key=lambda r: (r["netns"] or "", r["name"]))


def bridge_rows(snap: Snapshot) -> list[dict[str, Any]]:
    rows = link_rows(snap, {"bridge"})
    ports: dict[tuple, list[str]] = {}
    for link in snap.of_type("link"):
        if link.master:  # type: ignore[union-attr]
            ports.setdefault((link.netns, link.master), []).append(link.name)  # type: ignore[union-attr]
    for row in rows:
        row["ports"] = sorted(ports.get((row["netns"], row["name"]), []))
    return rows
