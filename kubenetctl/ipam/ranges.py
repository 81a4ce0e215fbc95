"""Range arithmetic for host-local-style IPAM. Pure: no files, no kernel.

A Range is one subnet with an inclusive [start, end] window and a gateway that is never
handed out; a RangeSet is an ordered list of non-overlapping ranges of one IP family
(host-local's `ranges: [[{...}, {...}], [...]]`, one allocation per range set). The
iteration order is host-local's: after the last reserved address of the set, round-robin
across the set's ranges, wrapping once.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Iterator, Union

from kubenetctl.errors import InvalidInput

IP = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
Net = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


def _ip(value: Any, field: str) -> IP:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: {value!r} is not an IP address string")
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not an IP address") from None


def _subnet(value: Any, field: str) -> Net:
    if not isinstance(value, str) or "/" not in value:
        raise InvalidInput(f"{field}: {value!r} is not a subnet (like 10.22.0.0/16)")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a subnet (like 10.22.0.0/16)") from None
    if net.network_address != ipaddress.ip_interface(value).ip:
        raise InvalidInput(f"{field}: {value!r} has host bits set", hint=f"did you mean {net}?")
    if net.max_prefixlen - net.prefixlen < 2:
        raise InvalidInput(f"{field}: {net} is too small to allocate from", hint="use at most a /30 (IPv4) or /126 (IPv6)")
    return net


@dataclass(frozen=True)
class Range:
    subnet: Net
    start: IP
    end: IP
    gateway: IP

    @classmethod
    def parse(cls, data: Any, field: str = "range") -> "Range":
        """One host-local range object: subnet, rangeStart, rangeEnd, gateway (defaults as host-local)."""
        if not isinstance(data, dict):
            raise InvalidInput(f"{field}: expected an object with 'subnet', got {type(data).__name__}")
        if "subnet" not in data:
            raise InvalidInput(f"{field}.subnet: missing")
        net = _subnet(data["subnet"], f"{field}.subnet")
        first, last = net.network_address + 1, net.broadcast_address - 1
        gateway = _ip(data["gateway"], f"{field}.gateway") if data.get("gateway") else first
        start = _ip(data["rangeStart"], f"{field}.rangeStart") if data.get("rangeStart") else first
        end = _ip(data["rangeEnd"], f"{field}.rangeEnd") if data.get("rangeEnd") else last
        for name, ip in (("gateway", gateway), ("rangeStart", start), ("rangeEnd", end)):
            if ip.version != net.version:
                raise InvalidInput(f"{field}.{name}: {ip} is not an IPv{net.version} address like subnet {net}")
        for name, ip in (("rangeStart", start), ("rangeEnd", end)):
            if ip not in net:
                raise InvalidInput(f"{field}.{name}: {ip} is not in subnet {net}")
        if start > end:
            raise InvalidInput(f"{field}: rangeStart {start} is after rangeEnd {end}")
        return cls(net, start, end, gateway)

    def __contains__(self, ip: object) -> bool:
        return isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address)) and ip.version == self.subnet.version \
            and self.start <= ip <= self.end

    def overlaps(self, other: "Range") -> bool:
        return self.subnet.version == other.subnet.version and self.start <= other.end and other.start <= self.end

    def size(self) -> int:
        """How many addresses can be handed out (the gateway never is)."""
        return int(self.end) - int(self.start) + 1 - (1 if self.gateway in self else 0)

    def __str__(self) -> str:
        return f"{self.start}-{self.end}"


@dataclass(frozen=True)
class RangeSet:
    ranges: tuple[Range, ...]

    @classmethod
    def parse(cls, data: Any, field: str = "ranges[0]") -> "RangeSet":
        if not isinstance(data, list) or not data:
            raise InvalidInput(f"{field}: expected a non-empty list of ranges")
        ranges = tuple(Range.parse(item, f"{field}[{i}]") for i, item in enumerate(data))
        versions = {r.subnet.version for r in ranges}
        if len(versions) > 1:
            raise InvalidInput(f"{field}: mixes IPv4 and IPv6 ranges", hint="put each family in its own range set")
        for i, a in enumerate(ranges):
            for j in range(i):
                if a.overlaps(ranges[j]):
                    raise InvalidInput(f"{field}[{i}]: range {a} overlaps range {ranges[j]} ({field}[{j}])")
        return cls(ranges)

    def range_for(self, ip: IP) -> Range | None:
        return next((r for r in self.ranges if ip in r), None)

    def __contains__(self, ip: object) -> bool:
        return any(ip in r for r in self.ranges)

    def overlaps(self, other: "RangeSet") -> bool:
        return any(a.overlaps(b) for a in self.ranges for b in other.ranges)

    def size(self) -> int:
        return sum(r.size() for r in self.ranges)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.ranges)

    def candidates(self, last_reserved: IP | None) -> Iterator[tuple[IP, Range]]:
        """Every allocatable address once, in host-local's order: after `last_reserved`
        when it lies in this set (round-robin), else from the first range's start."""
        ranges = self.ranges
        idx, cur = 0, None
        if last_reserved is not None:
            for i, r in enumerate(ranges):
                if last_reserved in r:
                    idx, cur = i, last_reserved
                    break
        stop = None
        while True:
            r = ranges[idx]
            if cur is None:
                cur = r.start
            elif cur == r.end:
                idx = (idx + 1) % len(ranges)
                r = ranges[idx]
                cur = r.start
            else:
                cur = cur + 1
            if stop is None:
                stop = cur
            elif cur == stop:
                return
            if cur != r.gateway:
                yield cur, r


def parse_ipam_ranges(ipam: dict[str, Any], field: str = "ipam") -> list[RangeSet]:
    """The range sets of a host-local-style ipam section (`ranges`, or the legacy
    top-level `subnet`/`rangeStart`/`rangeEnd`/`gateway`), checked as host-local does."""
    raw = ipam.get("ranges")
    sets: list[RangeSet] = []
    if raw is not None:
        if not isinstance(raw, list):
            raise InvalidInput(f"{field}.ranges: expected a list of range sets (a list of lists)")
        sets = [RangeSet.parse(item, f"{field}.ranges[{i}]") for i, item in enumerate(raw)]
    if ipam.get("subnet"):
        legacy = {k: ipam[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway") if k in ipam}
        sets.insert(0, RangeSet.parse([legacy], field))
    if not sets:
        raise InvalidInput(f"{field}: no IP ranges configured", hint='add "ranges": [[{"subnet": "10.22.0.0/16"}]]')
    for i, a in enumerate(sets):
        for j in range(i):
            if a.overlaps(sets[j]):
                raise InvalidInput(f"{field}.ranges[{i}]: range set {a} overlaps range set {sets[j]} (ranges[{j}])")
    return sets
