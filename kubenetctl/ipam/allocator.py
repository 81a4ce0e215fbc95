"""host-local's allocation rules over a FileStore: one address per range set.

Requested addresses (CNI_ARGS IP=, runtimeConfig.ips) are honoured when free; otherwise
each range set continues round-robin after its last reserved address. A failure leaves
the store exactly as it was (reservations made by this call are removed and the
last_reserved_ip files restored).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable

from kubenetctl.errors import Conflict, InvalidInput
from kubenetctl.ipam.ranges import IP, Range, RangeSet
from kubenetctl.ipam.store import FileStore


class AddressesExhausted(Conflict):
    """No free address is left in a range set."""


class DuplicateAllocation(Conflict):
    """(container id, ifname) already holds an address in a range set."""


@dataclass(frozen=True)
class Lease:
    ip: IP
    range: Range
    range_id: int

    @property
    def cidr(self) -> str:
        return f"{self.ip}/{self.range.subnet.prefixlen}"

    @property
    def gateway(self) -> IP:
        return self.range.gateway


def _exhausted(rs: RangeSet, store: FileStore) -> AddressesExhausted:
    return AddressesExhausted(
        f"no IP addresses available in range set: {rs}",
        hint=f"free the addresses of containers that are gone: kubenetctl ipam gc {store.network} "
        f"--data-dir {store.data_dir} --dry-run, then without --dry-run",
    )


def allocate(
    store: FileStore,
    range_sets: list[RangeSet],
    container_id: str,
    ifname: str,
    requested: Iterable[IP] = (),
) -> list[Lease]:
    """One lease per range set, under the store lock; all or nothing."""
    wanted: dict[int, IP] = {}
    for ip in requested:
        idx = next((i for i, rs in enumerate(range_sets) if ip in rs), None)
        if idx is None:
            raise InvalidInput(f"requested IP {ip} is not in any configured range ({'; '.join(map(str, range_sets))})")
        if idx in wanted:
            raise InvalidInput(f"requested IPs {wanted[idx]} and {ip} are both in range set {range_sets[idx]}")
        rng = range_sets[idx].range_for(ip)
        assert rng is not None
        if ip == rng.gateway:
            raise InvalidInput(f"requested IP {ip} is the gateway of {rng.subnet}")
        wanted[idx] = ip
    with store.locked():
        held = store.by_id(container_id, ifname)
        for a in held:
            addr = ipaddress.ip_address(a.ip)
            if any(addr in rs for rs in range_sets):
                raise DuplicateAllocation(
                    f"{a.ip} is already allocated to container {container_id} interface {ifname}; "
                    "duplicate allocation is not allowed",
                    hint="DEL the attachment first",
                )
        before = {i: store.last_reserved(i) for i in range(len(range_sets))}
        leases: list[Lease] = []
        try:
            for i, rs in enumerate(range_sets):
                leases.append(_one(store, rs, i, container_id, ifname, wanted.get(i), before[i]))
        except BaseException:
            for lease in leases:
                store.release(str(lease.ip), container_id, ifname)
            for i, ip in before.items():
                store.set_last_reserved(i, ip)
            raise
        return leases


def _one(store: FileStore, rs: RangeSet, idx: int, cid: str, ifname: str, want: IP | None, last: str | None) -> Lease:
    if want is not None:
        rng = rs.range_for(want)
        assert rng is not None
        if not store.reserve(str(want), cid, ifname, idx):
            raise Conflict(f"requested IP address {want} is not available in range set {rs}",
                           hint="it is allocated to another container (kubenetctl ipam list)")
        return Lease(want, rng, idx)
    last_ip = ipaddress.ip_address(last) if last else None
    for ip, rng in rs.candidates(last_ip if last_ip in rs else None):
        if store.reserve(str(ip), cid, ifname, idx):
            return Lease(ip, rng, idx)
    raise _exhausted(rs, store)


def release(store: FileStore, container_id: str, ifname: str) -> list[str]:
    """Every address of (container id, ifname): host-local's DEL. Already free is success."""
    if not store.exists():
        return []
    with store.locked():
        return store.release_by_id(container_id, ifname)


def release_leases(store: FileStore, leases: Iterable[Lease], container_id: str, ifname: str) -> None:
    """Undo one allocate() call (only addresses that still name this owner)."""
    with store.locked():
        for lease in leases:
            store.release(str(lease.ip), container_id, ifname)
