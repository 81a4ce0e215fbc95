"""Kernel state that inspect and trace need beyond the resource model (pure data).

The resource model holds what kubenetctl can create (permanent neighbours, static FDB
entries, ...). Following a packet also needs what the kernel learned or decided on its
own: dynamic neighbour entries, MAC addresses a bridge learned on its ports, bridge port
states, and the forwarding / reverse-path sysctls. netlink/facts.py reads them; tests
build them by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# neighbour states (NUD_*) by name; "usable" ones carry a link-layer address the kernel sends to
NUD_NAMES = {
    0x01: "incomplete", 0x02: "reachable", 0x04: "stale", 0x08: "delay",
    0x10: "probe", 0x20: "failed", 0x40: "noarp", 0x80: "permanent",
}
USABLE_NEIGH = frozenset({"reachable", "stale", "delay", "probe", "noarp", "permanent"})

# bridge port STP states (BR_STATE_*)
PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


def nud_name(state: int) -> str:
    """The most meaningful name of a NUD state bit set (permanent wins over noarp)."""
    for bit in (0x80, 0x40, 0x02, 0x04, 0x08, 0x10, 0x01, 0x20):
        if state & bit:
            return NUD_NAMES[bit]
    return "none"


@dataclass(frozen=True)
class NeighEntry:
    """One IPv4/IPv6 neighbour (ARP/NDP) entry, permanent or learned."""

    netns: str | None
    dev: str
    ip: str
    mac: str | None  # None while resolution is incomplete or failed
    state: str  # a NUD_NAMES value

    @property
    def usable(self) -> bool:
        return self.mac is not None and self.state in USABLE_NEIGH

    def describe(self) -> str:
        mac = f"lladdr {self.mac} " if self.mac else ""
        return f"{self.ip} dev {self.dev} {mac}{self.state.upper()}"

    def to_dict(self) -> dict[str, Any]:
        return {"dev": self.dev, "ip": self.ip, "mac": self.mac, "state": self.state}


@dataclass(frozen=True)
class FdbEntry:
    """One forwarding-database entry.

    Bridge entries have `master` (the bridge) and `dev` (the port the MAC sits behind);
    `local` entries are the bridge's or a port's own address (frames to them go up to the
    bridge's IP stack). VXLAN entries have `dev` (the VXLAN device) and `dst` (remote VTEP).
    """

    netns: str | None
    dev: str
    mac: str
    master: str | None = None
    dst: str | None = None
    vlan: int | None = None
    state: str = "learned"  # learned | static | permanent
    local: bool = False
    port: int | None = None  # VXLAN: per-entry UDP port override
    vni: int | None = None  # VXLAN: per-entry VNI override

    def describe(self) -> str:
        parts = [self.mac, f"dev {self.dev}"]
        if self.dst:
            parts.append(f"dst {self.dst}")
        if self.vlan is not None:
            parts.append(f"vlan {self.vlan}")
        if self.master:
            parts.append(f"master {self.master}")
        parts.append("local" if self.local else self.state)
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"dev": self.dev, "mac": self.mac, "state": self.state}
        for name in ("master", "dst", "vlan", "port", "vni"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.local:
            out["local"] = True
        return out


@dataclass(frozen=True)
class PortInfo:
    """A bridge port as the bridge sees it."""

    netns: str | None
    dev: str
    bridge: str
    state: str = "forwarding"  # a PORT_STATES value


@dataclass(frozen=True)
class PathMtu:
    dst: str
    mtu: int
    dev: str | None = None
    expires: int | None = None  # seconds left


@dataclass
class Facts:
    neighbors: list[NeighEntry] = field(default_factory=list)
    fdb: list[FdbEntry] = field(default_factory=list)
    ports: dict[tuple[str | None, str], PortInfo] = field(default_factory=dict)
    # (netns, "net.ipv4.ip_forward") or (netns, "net.ipv4.conf.<dev>.forwarding"), values as read
    sysctls: dict[tuple[str | None, str], str] = field(default_factory=dict)
    policy_rules: dict[str | None, int] = field(default_factory=dict)  # non-default `ip rule`s per netns
    # learned path MTUs (route cache exceptions made by ICMP "fragmentation needed"): (netns, dst) -> PathMtu
    pmtu: dict[tuple[str | None, str], "PathMtu"] = field(default_factory=dict)

    def merge(self, other: "Facts") -> None:
        self.neighbors.extend(other.neighbors)
        self.fdb.extend(other.fdb)
        self.ports.update(other.ports)
        self.sysctls.update(other.sysctls)
        self.policy_rules.update(other.policy_rules)
        self.pmtu.update(other.pmtu)
