"""What a trace is made of: the packet, the hops it takes, where and why it stops (pure data).

A hop is one interface event: the packet leaves (out) or arrives on (in) an interface in
a namespace. Each hop lists the rules that made it happen (route, neighbour, bridge FDB,
VXLAN FDB, encapsulation, ...), so that one hop reads like `ip route get` plus
`ip neigh get` plus `bridge fdb get` for that step. Every hop is something a capture on
that interface can confirm, which is what `--probe` does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

PROTOS = ("icmp", "tcp", "udp")
IP_HEADER, ICMP_HEADER, UDP_HEADER, TCP_HEADER = 20, 8, 8, 20
DEFAULT_SIZE = {"icmp": 84, "udp": 64, "tcp": 60}  # ping's default; small UDP; a bare SYN with options
VXLAN_ENCAP = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14


@dataclass(frozen=True)
class Encap:
    """The VXLAN header of an encapsulated packet, and what it carries."""

    vni: int
    port: int
    inner: "Packet"
    mac: str  # destination MAC of the inner frame
    df: bool = False  # the outer packet carries DF (VXLAN df set, or inherit from a DF inner packet)


@dataclass(frozen=True)
class Packet:
    src: str
    dst: str
    proto: str = "icmp"
    size: int = DEFAULT_SIZE["icmp"]  # IP datagram length in bytes, header included
    sport: int | None = None
    dport: int | None = None
    reply_to: bool = False  # an ICMP echo reply / TCP SYN-ACK / UDP answer
    encap: Encap | None = None

    def reply(self) -> "Packet":
        size = self.size if self.proto != "tcp" else IP_HEADER + TCP_HEADER + 20
        return replace(self, src=self.dst, dst=self.src, sport=self.dport, dport=self.sport, reply_to=True, size=size)

    @property
    def innermost(self) -> "Packet":
        return self.encap.inner.innermost if self.encap else self

    def describe(self) -> str:
        if self.encap:
            return f"VXLAN vni {self.encap.vni} {self.src} -> {self.dst} udp/{self.encap.port} ({self.size} bytes)"
        if self.proto == "icmp":
            what = "ICMP echo reply" if self.reply_to else "ICMP echo request"
            return f"{what} {self.src} -> {self.dst} ({self.size} bytes)"
        flag = (" SYN-ACK" if self.reply_to else " SYN") if self.proto == "tcp" else ""
        return f"{self.proto.upper()}{flag} {self.src}:{self.sport} -> {self.dst}:{self.dport} ({self.size} bytes)"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"src": self.src, "dst": self.dst, "proto": self.proto, "size": self.size}
        if self.sport is not None:
            out["sport"] = self.sport
        if self.dport is not None:
            out["dport"] = self.dport
        if self.reply_to:
            out["reply"] = True
        return out


@dataclass(frozen=True)
class Rule:
    """One decision the kernel takes, with the entry that decided it."""

    kind: str  # route | neighbour | bridge-fdb | vxlan-fdb | encap | decap | local | forward | veth | vlan | rp_filter | note
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class Point:
    """An interface event a capture can confirm."""

    netns: str | None
    dev: str
    direction: str  # "out": the packet leaves through dev; "in": it arrives on dev

    def to_dict(self) -> dict[str, Any]:
        return {"netns": self.netns, "dev": self.dev, "direction": self.direction}


@dataclass
class Hop:
    point: Point
    rules: list[Rule] = field(default_factory=list)
    encap: dict[str, Any] | None = None  # outer headers when the packet is VXLAN-encapsulated here
    mtu: int | None = None

    @property
    def netns(self) -> str | None:
        return self.point.netns

    @property
    def dev(self) -> str:
        return self.point.dev

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {**self.point.to_dict(), "mtu": self.mtu, "rules": [r.to_dict() for r in self.rules]}
        if self.encap:
            out["encap"] = self.encap
        return out


@dataclass
class Stop:
    reason: str  # a stop.reason code: docs/schemas/trace.v1.json lists them, docs/inspect-trace.md explains them
    message: str
    netns: str | None
    dev: str | None = None
    hint: str | None = None
    rules: list[Rule] = field(default_factory=list)  # decisions taken before it stopped
    blocked: Point | None = None  # where the packet would have shown up next

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reason": self.reason, "message": self.message, "netns": self.netns, "dev": self.dev,
            "rules": [r.to_dict() for r in self.rules],
        }
        if self.hint:
            out["hint"] = self.hint
        if self.blocked is not None:
            out["blocked"] = self.blocked.to_dict()
        return out


@dataclass
class Path:
    packet: Packet
    hops: list[Hop] = field(default_factory=list)
    stop: Stop | None = None
    delivered: Point | None = None  # where the packet was handed to the destination's stack
    final_rules: list[Rule] = field(default_factory=list)  # the local delivery rules
    notes: list[str] = field(default_factory=list)
    path_mtu: tuple[int, Point] | None = None  # smallest MTU on the way, and where

    @property
    def ok(self) -> bool:
        return self.stop is None and self.delivered is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "packet": self.packet.to_dict(),
            "delivered": self.ok,
            "hops": [h.to_dict() for h in self.hops],
            "deliveredTo": self.delivered.to_dict() if self.delivered else None,
            "finalRules": [r.to_dict() for r in self.final_rules],
            "stop": self.stop.to_dict() if self.stop else None,
            "notes": list(self.notes),
            "pathMTU": {"mtu": self.path_mtu[0], **self.path_mtu[1].to_dict()} if self.path_mtu else None,
        }


@dataclass(frozen=True)
class Endpoint:
    spec: str  # as the user wrote it
    netns: str | None  # where it lives (None: the host), or unknown for a bare outside IP
    ip: str
    kind: str  # pod | netns | ip
    known: bool = True  # False: an IP no observed namespace holds

    def label(self) -> str:
        where = "(host)" if self.netns is None else self.netns
        return f"{self.spec} ({self.ip})" if self.kind == "pod" or not self.known else f"{where} ({self.ip})"

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "netns": self.netns, "ip": self.ip, "kind": self.kind, "known": self.known}


@dataclass
class Trace:
    src: Endpoint
    dst: Endpoint
    forward: Path
    reply: Path | None = None

    @property
    def ok(self) -> bool:
        return self.forward.ok and (self.reply is None or self.reply.ok)

    def namespaces(self) -> set[str | None]:
        """Every namespace the walk went through or stopped in."""
        out = {self.src.netns} | ({self.dst.netns} if self.dst.known else set())
        for path in (self.forward, self.reply):
            if path is None:
                continue
            out.update(h.netns for h in path.hops)
            if path.stop is not None:
                out.add(path.stop.netns)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "src": self.src.to_dict(),
            "dst": self.dst.to_dict(),
            "reachable": self.ok,
            "forward": self.forward.to_dict(),
            "reply": self.reply.to_dict() if self.reply else None,
        }
