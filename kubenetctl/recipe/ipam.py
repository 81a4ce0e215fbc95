"""Address allocation for recipes (pure): node slices of a network, pod addresses in a slice.

Deterministic from the recipe, and stable across edits: the lab's state remembers what
was handed out ("previous"), and a pod or node that is still there keeps its slice and
its address even when others are added or removed before it.

In a slice the first address names the slice (flannel gives it to the VXLAN device), the
second is the gateway, and pods get the third up to the second-to-last.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

Net = ipaddress.IPv4Network
FIRST_POD_OFFSET = 2


def pod_capacity(slice_: Net) -> int:
    return max(0, slice_.num_addresses - FIRST_POD_OFFSET - 1)


def gateway(slice_: Net) -> ipaddress.IPv4Address:
    return slice_.network_address + 1


@dataclass
class Allocation:
    values: dict[str, str] = field(default_factory=dict)  # key -> address or slice
    short: dict[str, str] = field(default_factory=dict)  # key -> why it got nothing


def slices(
    cidr: Net, prefix: int, nodes: Iterable[str], explicit: Mapping[str, Net], previous: Mapping[str, str], key: str,
) -> Allocation:
    """A slice per node: explicit ones, then remembered ones, then the lowest free."""
    out = Allocation()
    taken: list[Net] = []
    order = list(nodes)
    for node in order:
        if node in explicit:
            out.values[node] = str(explicit[node])
            taken.append(explicit[node])
    for node in order:
        if node in out.values:
            continue
        old = previous.get(f"{key}/{node}")
        if old is not None:
            net = ipaddress.ip_network(old)
            if net.subnet_of(cidr) and net.prefixlen == prefix and not any(net.overlaps(t) for t in taken):  # type: ignore[arg-type]
                out.values[node] = old
                taken.append(net)  # type: ignore[arg-type]
    free = (s for s in cidr.subnets(new_prefix=prefix) if not any(s.overlaps(t) for t in taken))
    _lowest_free(out, order, free, lambda node: f"{cidr} has no free /{prefix} slice left for node {node}")
    return out


def _lowest_free(out: Allocation, keys: Iterable[str], free: Iterator[Any], full: Callable[[str], str]) -> None:
    """Give each key still without a value the next value from `free` (lowest first)."""
    for key in keys:
        if key in out.values:
            continue
        got = next(free, None)
        if got is None:
            out.short[key] = full(key)
        else:
            out.values[key] = str(got)


def _candidates(slice_: Net) -> Iterator[str]:
    first = int(slice_.network_address) + FIRST_POD_OFFSET
    last = int(slice_.broadcast_address) - 1
    for value in range(first, last + 1):
        yield str(ipaddress.IPv4Address(value))


def addresses(
    slice_: Net, wanted: list[tuple[str, str | None]], previous: Mapping[str, str], reserved: set[str],
) -> Allocation:
    """Addresses for (key, pinned-or-None) in one slice: pinned, then remembered, then the lowest free."""
    out = Allocation()
    taken = set(reserved)
    for key, pinned in wanted:
        if pinned is not None:
            out.values[key] = pinned
            taken.add(pinned)
    for key, pinned in wanted:
        old = previous.get(key)
        if pinned is None and old is not None and old not in taken and _in_pool(slice_, old):
            out.values[key] = old
            taken.add(old)
    pool = (a for a in _candidates(slice_) if a not in taken)
    _lowest_free(out, (key for key, _ in wanted), pool, lambda key: f"{slice_} is full")
    return out


def reserved(net: Net, address: str, *, gateway: bool = True) -> str | None:
    """What keeps `address` of `net` from being a pod's: its network address (the VXLAN
    device's in a routed overlay), its gateway (a node's slice), its broadcast address."""
    value = int(ipaddress.IPv4Address(address))
    if value == int(net.network_address):
        return "network address"
    if value == int(net.broadcast_address):
        return "broadcast address"
    if gateway and value < int(net.network_address) + FIRST_POD_OFFSET:
        return "gateway address"
    return None


def _in_pool(slice_: Net, address: str) -> bool:
    return ipaddress.IPv4Address(address) in slice_ and reserved(slice_, address) is None
