"""The resource model: every kernel object kubenetctl touches, as a small frozen value.

A CLI primitive, a recipe, the CNI plugin and a kernel dump all speak in these values;
plans are diffs between sets of them. Pure: no kernel access here.

`netns=None` always means the namespace kubenetctl itself runs in (the host, or on a
real multi-host lab, the node).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Union

LINK_KINDS = ("veth", "bridge", "vlan", "vxlan", "macvlan")

# Link fields that can be changed on a live link; anything else defines the link and
# can only change by deleting and recreating it.
MUTABLE_LINK_FIELDS = ("mtu", "mac", "up", "master")
IDENTITY_LINK_FIELDS: dict[str, tuple[str, ...]] = {
    "veth": ("peer", "peer_netns"),
    "bridge": (),
    "vlan": ("parent", "parent_netns", "vlan_id"),
    "vxlan": ("vni", "port", "local", "dev", "learning"),
    "macvlan": ("parent", "parent_netns", "mode"),
}

MAIN_TABLE = 254
DEFAULT_METRIC_V6 = 1024


def where(netns: str | None) -> str:
    return f"netns {netns}" if netns else "host netns"


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


class _Base:
    TYPE: ClassVar[str]

    @property
    def key(self) -> tuple:  # pragma: no cover - defined by each resource
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        # fields are plain scalars: no deep copy needed (dataclasses.asdict is ~10x slower)
        out = {"type": self.TYPE, **_clean(vars(self))}
        if "netns" in self.__dataclass_fields__:  # type: ignore[attr-defined]
            out["netns"] = self.netns  # type: ignore[attr-defined]
        return out

    def deps(self) -> tuple[tuple, ...]:
        """Keys of the resources that must exist before this one."""
        return ()


def _ns_dep(netns: str | None) -> tuple[tuple, ...]:
    return (("netns", netns),) if netns else ()


@dataclass(frozen=True)
class Netns(_Base):
    TYPE: ClassVar[str] = "netns"
    name: str

    @property
    def key(self) -> tuple:
        return ("netns", self.name)

    def describe(self) -> str:
        return f"netns {self.name}"


@dataclass(frozen=True)
class Link(_Base):
    TYPE: ClassVar[str] = "link"
    netns: str | None
    name: str
    kind: str
    mtu: int | None = None
    mac: str | None = None
    up: bool | None = True
    master: str | None = None
    # veth
    peer: str | None = None
    peer_netns: str | None = None
    # vlan, macvlan: the lower device and the namespace it lives in
    parent: str | None = None
    parent_netns: str | None = None
    vlan_id: int | None = None
    mode: str | None = None
    # vxlan
    vni: int | None = None
    port: int | None = None
    local: str | None = None
    dev: str | None = None
    learning: bool | None = None

    @property
    def key(self) -> tuple:
        return ("link", self.netns, self.name)

    def describe(self) -> str:
        return f"{self.kind} {self.name} ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        out = list(_ns_dep(self.netns))
        if self.master:
            out.append(("link", self.netns, self.master))
        if self.kind in ("vlan", "macvlan") and self.parent:
            out.append(("link", self.parent_netns, self.parent))
            out.extend(_ns_dep(self.parent_netns))
        if self.kind == "vxlan" and self.dev:
            out.append(("link", self.netns, self.dev))
        if self.kind == "veth":
            out.extend(_ns_dep(self.peer_netns))
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        """None is left out, except where it means something: the host netns (netns,
        peer_netns, parent_netns are null there)."""
        out = super().to_dict()
        for name in IDENTITY_LINK_FIELDS.get(self.kind, ()):
            if name.endswith("netns"):
                out[name] = getattr(self, name)
        return out

    def identity(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in IDENTITY_LINK_FIELDS[self.kind]}


@dataclass(frozen=True)
class Address(_Base):
    TYPE: ClassVar[str] = "address"
    netns: str | None
    link: str
    cidr: str  # interface form: 10.0.0.2/24

    @property
    def key(self) -> tuple:
        return ("address", self.netns, self.link, self.cidr)

    def describe(self) -> str:
        return f"address {self.cidr} on {self.link} ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return (*_ns_dep(self.netns), ("link", self.netns, self.link))


@dataclass(frozen=True)
class Route(_Base):
    TYPE: ClassVar[str] = "route"
    netns: str | None
    dst: str  # network form; 0.0.0.0/0 for default
    via: str | None = None
    dev: str | None = None
    onlink: bool = False
    table: int = MAIN_TABLE
    metric: int | None = None  # None: the kernel's default (0 for IPv4, 1024 for IPv6)
    src: str | None = None

    def __post_init__(self) -> None:
        # the kernel reports an IPv6 route's default metric as 1024 and an IPv4 one's not at
        # all: spelling the default either way must give one identity, or add/del miss it
        if self.metric == (DEFAULT_METRIC_V6 if ":" in self.dst else 0):
            object.__setattr__(self, "metric", None)

    @property
    def key(self) -> tuple:
        return ("route", self.netns, self.table, self.dst, self.metric)

    def describe(self) -> str:
        dst = "default" if self.dst in ("0.0.0.0/0", "::/0") else self.dst
        parts = [f"route {dst}"]
        if self.via:
            parts.append(f"via {self.via}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        if self.onlink:
            parts.append("onlink")
        return " ".join(parts) + f" ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return (*_ns_dep(self.netns), *((("link", self.netns, self.dev),) if self.dev else ()))


@dataclass(frozen=True)
class Neighbor(_Base):
    TYPE: ClassVar[str] = "neighbor"
    netns: str | None
    link: str
    ip: str
    mac: str

    @property
    def key(self) -> tuple:
        return ("neighbor", self.netns, self.link, self.ip)

    def describe(self) -> str:
        return f"neighbour {self.ip} lladdr {self.mac} dev {self.link} ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return (*_ns_dep(self.netns), ("link", self.netns, self.link))


@dataclass(frozen=True)
class Fdb(_Base):
    TYPE: ClassVar[str] = "fdb"
    netns: str | None
    link: str
    mac: str
    dst: str | None = None  # remote VTEP for a vxlan device

    @property
    def key(self) -> tuple:
        return ("fdb", self.netns, self.link, self.mac, self.dst)

    def describe(self) -> str:
        dst = f" dst {self.dst}" if self.dst else ""
        return f"fdb {self.mac}{dst} dev {self.link} ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return (*_ns_dep(self.netns), ("link", self.netns, self.link))


@dataclass(frozen=True)
class Sysctl(_Base):
    TYPE: ClassVar[str] = "sysctl"
    netns: str | None
    name: str  # dotted: net.ipv4.ip_forward
    value: str

    @property
    def key(self) -> tuple:
        return ("sysctl", self.netns, self.name)

    def describe(self) -> str:
        return f"sysctl {self.name}={self.value} ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return _ns_dep(self.netns)


@dataclass(frozen=True)
class Masquerade(_Base):
    """Source NAT of `src` to the address of the outgoing interface (nftables, in `netns`)."""

    TYPE: ClassVar[str] = "masquerade"
    netns: str | None
    src: str  # network form
    exclude: str | None = None  # destinations left alone (the cluster's own network)
    out: str | None = None  # only traffic leaving through this interface

    @property
    def key(self) -> tuple:
        return ("masquerade", self.netns, self.src)

    def describe(self) -> str:
        text = f"masquerade {self.src}"
        if self.exclude:
            text += f" except to {self.exclude}"
        if self.out:
            text += f" out {self.out}"
        return text + f" ({where(self.netns)})"

    def deps(self) -> tuple[tuple, ...]:
        return (*_ns_dep(self.netns), *((("link", self.netns, self.out),) if self.out else ()))


Resource = Union[Netns, Link, Address, Route, Neighbor, Fdb, Sysctl, Masquerade]
RESOURCE_TYPES: dict[str, type] = {
    cls.TYPE: cls for cls in (Netns, Link, Address, Route, Neighbor, Fdb, Sysctl, Masquerade)
}


def from_dict(data: dict[str, Any]) -> Resource:
    """Inverse of to_dict (used by the journal and golden files)."""
    data = dict(data)
    cls = RESOURCE_TYPES[data.pop("type")]
    if "netns" in cls.__dataclass_fields__:
        data.setdefault("netns", None)  # to_dict leaves out None: the namespace we run in
    return cls(**data)


def sort_key(res: Resource) -> tuple:
    return tuple("" if part is None else str(part) for part in res.key)
