"""Input checks shared by the CLI, recipes and the CNI plugin (pure, no kernel access).

Each check returns the normalised value or raises InvalidInput naming the field, so
that bad input is rejected before anything reaches the kernel.
"""

from __future__ import annotations

import ipaddress
import re

from kubenetctl.errors import InvalidInput

IFNAMSIZ = 15  # bytes, without the trailing NUL
MTU_MIN, MTU_MAX = 68, 65535
VLAN_MIN, VLAN_MAX = 1, 4094
VNI_MIN, VNI_MAX = 1, 16777215
PORT_MIN, PORT_MAX = 1, 65535
U32_MAX = 0xFFFFFFFF
LOCAL_TABLE = 255  # the kernel's own (local and broadcast addresses)

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
_NETNS_BAD = re.compile(r"[/\x00]|^\.\.?$")


def ifname(value: str, field: str = "name") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: {value!r} is not an interface name")
    raw = value.encode()
    if not raw:
        raise InvalidInput(f"{field}: interface name is empty")
    if len(raw) > IFNAMSIZ:
        raise InvalidInput(
            f"{field}: interface name {value!r} is {len(raw)} bytes, the kernel allows {IFNAMSIZ}",
            hint="shorten it; Linux interface names are at most 15 bytes",
        )
    if any(c in value for c in "/: \t\n") or value in (".", ".."):
        raise InvalidInput(f"{field}: interface name {value!r} contains '/', ':' or whitespace")
    return value


def netns_name(value: str, field: str = "netns") -> str:
    if not value:
        raise InvalidInput(f"{field}: namespace name is empty")
    if _NETNS_BAD.search(value) or len(value.encode()) > 255:
        raise InvalidInput(f"{field}: namespace name {value!r} is not a valid file name")
    return value


def mtu(value: int, field: str = "mtu") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not MTU_MIN <= value <= MTU_MAX:
        raise InvalidInput(f"{field}: MTU {value!r} is out of range {MTU_MIN}..{MTU_MAX}")
    return value


def vlan_id(value: int, field: str = "id") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not VLAN_MIN <= value <= VLAN_MAX:
        raise InvalidInput(
            f"{field}: VLAN id {value!r} is out of range {VLAN_MIN}..{VLAN_MAX}",
            hint="0 and 4095 are reserved by 802.1Q",
        )
    return value


def vni(value: int, field: str = "vni") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not VNI_MIN <= value <= VNI_MAX:
        raise InvalidInput(f"{field}: VNI {value!r} is out of range {VNI_MIN}..{VNI_MAX}")
    return value


def port(value: int, field: str = "port") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not PORT_MIN <= value <= PORT_MAX:
        raise InvalidInput(f"{field}: port {value!r} is out of range {PORT_MIN}..{PORT_MAX}")
    return value


def table(value: int, field: str = "table") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= U32_MAX or value == LOCAL_TABLE:
        raise InvalidInput(f"{field}: {value!r} is not a usable table id",
                           hint=f"1..{U32_MAX} but {LOCAL_TABLE} (the kernel's local table); 254 is main")
    return value


def metric(value: int, field: str = "metric") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= U32_MAX:
        raise InvalidInput(f"{field}: metric {value!r} is out of range 0..{U32_MAX}")
    return value


def route_target(via: str | None, dev: str | None, onlink: bool, flag: str = "") -> None:
    """A route names its gateway, its interface or both; onlink only with an interface.
    flag: how the caller spells option names ('--' on the command line)."""
    if via is None and dev is None:
        raise InvalidInput(f"a route needs {flag}via, {flag}dev or both", hint="name the gateway, the outgoing interface, or both")
    if onlink and dev is None:
        raise InvalidInput(f"{flag}onlink needs {flag}dev", hint="onlink says the gateway is reachable on that interface")


def veth_ends(name: str, netns: str | None, peer: str, peer_netns: str | None, field: str = "peer") -> None:
    if name == peer and netns == peer_netns:
        raise InvalidInput(f"{field}: both ends are named {name} in the same namespace", hint="give the peer another name")


_SYSCTL_PART = re.compile(r"^[A-Za-z0-9_][-A-Za-z0-9_.]*$")


def sysctl_key(value: str, field: str = "name") -> str:
    """A per-namespace net.* sysctl: dotted (net.ipv4.ip_forward) or, when a part holds
    dots (an interface like eth0.100), slashed (net/ipv4/conf/eth0.100/forwarding).
    Only net.* lives in a network namespace; nothing may climb out of /proc/sys/net."""
    parts = value.split("/") if "/" in value else value.split(".")
    if parts[0] != "net" or len(parts) < 3 or not all(_SYSCTL_PART.match(p) for p in parts):
        raise InvalidInput(
            f"{field}: {value!r} is not a per-namespace net.* sysctl",
            hint="for example net.ipv4.ip_forward, or net/ipv4/conf/eth0.100/forwarding",
        )
    return value


def mac(value: str, field: str = "mac") -> str:
    norm = value.strip().lower().replace("-", ":")
    if not _MAC.match(norm):
        raise InvalidInput(f"{field}: {value!r} is not a MAC address", hint="write it as aa:bb:cc:dd:ee:ff")
    return norm


def unicast_mac(value: str, field: str = "mac") -> str:
    norm = mac(value, field)
    if int(norm[:2], 16) & 1:
        raise InvalidInput(f"{field}: {value!r} is a multicast MAC address; an interface needs a unicast one")
    return norm


def is_ip(value: object) -> bool:
    """Whether value is an IPv4 or IPv6 address (no prefix)."""
    try:
        ipaddress.ip_address(value)  # type: ignore[arg-type]
        return True
    except (ValueError, TypeError):
        return False


def ip(value: str, field: str = "ip") -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not an IP address") from None


def interface_cidr(value: str, field: str = "address") -> str:
    """An address with prefix length for an interface, e.g. 10.0.0.2/24 (host bits set is fine)."""
    if "/" not in value:
        raise InvalidInput(f"{field}: {value!r} has no prefix length", hint=f"write it as {value}/24")
    try:
        iface = ipaddress.ip_interface(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not an address with prefix (like 10.0.0.2/24)") from None
    return str(iface)


def route_dst(value: str, field: str = "dst") -> str:
    """A route's destination: a network, or 'default' (0.0.0.0/0)."""
    return "0.0.0.0/0" if value == "default" else network_cidr(value, field)


def network_cidr(value: str, field: str = "cidr") -> str:
    """A network, e.g. 10.244.1.0/24 (host bits must be zero)."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError as exc:
        if "has host bits set" in str(exc):
            fixed = ipaddress.ip_network(value, strict=False)
            raise InvalidInput(f"{field}: {value!r} has host bits set", hint=f"did you mean {fixed}?") from None
        raise InvalidInput(f"{field}: {value!r} is not a network (like 10.244.1.0/24)") from None
