"""Reading what trace and inspect need beyond the resource model (see kernelfacts.py).

One pass per namespace: every neighbour entry (learned ones too), the bridge and VXLAN
forwarding databases, bridge port states, the forwarding and rp_filter sysctls of every
interface, and whether policy routing rules exist. Also: which namespaces a lab owns
(the marker on each namespace's loopback), read without dumping everything.
"""

from __future__ import annotations

import os
import socket
from typing import Any, Iterable

from pyroute2.netlink.exceptions import NetlinkError

from kubenetctl.errors import KernelError, NotFound
from kubenetctl.kernelfacts import PORT_STATES, Facts, FdbEntry, NeighEntry, PathMtu, PortInfo, nud_name
from kubenetctl.netlink import nsfs
from kubenetctl.netlink.session import Sessions
from kubenetctl.overlay import FLOOD_MAC
from kubenetctl.snapshot import Snapshot

NUD_PERMANENT, NUD_NOARP = 0x80, 0x40
DEFAULT_RULE_PRIORITIES = {0, 32766, 32767}
# per-interface sysctls the walk consults; "all" and "default" come along for free
CONF_KEYS = ("forwarding", "rp_filter")


def read_facts(sessions: Sessions, snap: Snapshot) -> Facts:
    """Facts for every namespace the snapshot dumped."""
    facts = Facts()
    for key, value in snap.facts.items():  # path MTUs observe() found in the route dump
        if key[0] == "pmtu":
            facts.pmtu[(key[1], key[2])] = PathMtu(key[2], value["mtu"], value["dev"], value["expires"])
    names = _names_by_index(snap)
    switching = {link.netns for link in snap.of_type("link") if link.kind in ("bridge", "vxlan")}  # type: ignore[union-attr]
    for ns in sorted(snap.scope, key=lambda n: n or ""):
        try:
            _read_namespace(sessions, ns, names.get(ns, {}), facts, ns in switching)
        except (FileNotFoundError, NotFound, KernelError, NetlinkError):  # deleted while we read: skip it
            if ns is None:
                raise
            continue
    return facts


def _names_by_index(snap: Snapshot) -> dict[str | None, dict[int, str]]:
    out: dict[str | None, dict[int, str]] = {}
    for link in snap.of_type("link"):
        index = snap.fact(link.key, "ifindex")
        if index is not None:
            out.setdefault(link.netns, {})[index] = link.name  # type: ignore[union-attr]
    return out


def _read_namespace(sessions: Sessions, ns: str | None, idx: dict[int, str], facts: Facts, switching: bool) -> None:
    """Everything but FDBs and port states comes from every namespace; those only from one
    that holds a bridge or a VXLAN device (a pod's namespace has neither)."""
    ipr = sessions.get(ns)
    for msg in ipr.neigh("dump"):
        if msg["family"] not in (socket.AF_INET, socket.AF_INET6) or msg["ifindex"] not in idx:
            continue
        ip = msg.get_attr("NDA_DST")
        if ip is None or ip.startswith("ff02:"):
            continue
        facts.neighbors.append(
            NeighEntry(ns, idx[msg["ifindex"]], ip, msg.get_attr("NDA_LLADDR"), nud_name(msg["state"]))
        )
    if switching:
        for msg in ipr.fdb("dump"):
            entry = _fdb_entry(ns, msg, idx)
            if entry is not None:
                facts.fdb.append(entry)
        for msg in ipr.link("dump", family=socket.AF_BRIDGE):
            port = _port_info(ns, msg, idx)
            if port is not None:
                facts.ports[(ns, port.dev)] = port
    facts.sysctls.update(_sysctls(ns, idx.values()))
    facts.policy_rules[ns] = _policy_rules(ipr)


def _fdb_entry(ns: str | None, msg: Any, idx: dict[int, str]) -> FdbEntry | None:
    dev = idx.get(msg["ifindex"])
    mac = msg.get_attr("NDA_LLADDR")
    if dev is None or mac is None:
        return None
    master_index = msg.get_attr("NDA_MASTER")
    dst = msg.get_attr("NDA_DST")
    if master_index is None and dst is None and mac != FLOOD_MAC:
        return None  # a device's own multicast filter entry, not forwarding state
    state = msg["state"]
    kind = "permanent" if state & NUD_PERMANENT else "static" if state & NUD_NOARP else "learned"
    master = idx.get(master_index) if master_index else None
    return FdbEntry(
        ns, dev, mac, master=master, dst=dst, vlan=msg.get_attr("NDA_VLAN"), state=kind,
        # a permanent entry on a bridge port without the "static" flag is the port's own address
        local=bool(master) and bool(state & NUD_PERMANENT),
        port=msg.get_attr("NDA_PORT"), vni=msg.get_attr("NDA_VNI"),
    )


def _port_info(ns: str | None, msg: Any, idx: dict[int, str]) -> PortInfo | None:
    master = msg.get_attr("IFLA_MASTER")
    dev = idx.get(msg["index"])
    if not master or dev is None or master not in idx:
        return None
    info = msg.get_attr("IFLA_PROTINFO")
    attrs: dict[str, Any] = dict(info["attrs"]) if info is not None and not isinstance(info, (str, bytes)) else {}
    return PortInfo(
        ns, dev, idx[master],
        state=PORT_STATES.get(attrs.get("IFLA_BRPORT_STATE", 3), "unknown"),
    )


def _sysctls(ns: str | None, devs: Iterable[str]) -> dict[tuple[str | None, str], str]:
    """Read the forwarding and rp_filter knobs, entering the namespace once."""
    out: dict[tuple[str | None, str], str] = {}
    wanted = [("net.ipv4.ip_forward", "net/ipv4/ip_forward")]
    for dev in ("all", *devs):
        for key in CONF_KEYS:
            wanted.append((f"net.ipv4.conf.{dev}.{key}", f"net/ipv4/conf/{dev}/{key}"))
    with nsfs.entered(ns):
        for name, rel in wanted:
            try:
                with open(os.path.join("/proc/sys", rel)) as fh:
                    out[(ns, name)] = fh.read().strip()
            except OSError:
                continue
    return out


def _policy_rules(ipr: Any) -> int:
    try:
        rules = ipr.get_rules(family=socket.AF_INET)
    except (NetlinkError, OSError):  # pragma: no cover - kernels without policy routing
        return 0
    return sum(1 for r in rules if (r.get_attr("FRA_PRIORITY") or 0) not in DEFAULT_RULE_PRIORITIES)


def namespace_owners(sessions: Sessions, names: Iterable[str]) -> dict[str, str | None]:
    """Owner marker of each named namespace (its loopback's alias), one request each."""
    from kubenetctl.netlink.observe import namespace_owner

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = namespace_owner(sessions, name)
        except (NetlinkError, OSError, IndexError, NotFound, KernelError):  # deleted meanwhile
            continue
    return out
