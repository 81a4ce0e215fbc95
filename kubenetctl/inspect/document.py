"""The inspect document: one versioned shape that the tree, the table, the graphs and
`-o json|yaml` all render (pure). The shape is documented in docs/inspect-trace.md.

    apiVersion: kubenetctl/v1
    kind: Topology
    lab: <name> | null            # null: everything on the host
    labs: [...]                   # labs found in the kernel (by marker)
    summary: {namespaces, nodes, pods, interfaces}
    items: [namespace, ...]       # host first, then nodes, then pods, then others
    cables: [...]                 # veth pairs between namespaces
    tunnels: [...]                # VXLAN FDB entries resolved to the VTEP they reach
    drift: null | {...}           # only when the lab's recorded state is known
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kubenetctl.inspect.drift import Drift
from kubenetctl.overlay import FLOOD_MAC
from kubenetctl.resources import Link
from kubenetctl.topology import HOST, NODE, OTHER, POD, Topology, route_text
from kubenetctl.views.output import document

KIND = "Topology"
ROLE_ORDER = {HOST: 0, NODE: 1, POD: 2, OTHER: 3}


def _ref(netns: str | None, name: str | None) -> dict[str, Any]:
    return {"netns": netns, "name": name}


def interface(topo: Topology, link: Link) -> dict[str, Any]:
    ns = link.netns
    out: dict[str, Any] = {
        "name": link.name,
        "kind": link.kind,
        "up": link.up,
        "operstate": topo.fact(link, "operstate"),
        "carrier": bool(topo.fact(link, "carrier", 1)),
        "mtu": link.mtu,
        "mac": link.mac,
        "master": link.master,
        "addresses": [str(a) for a in topo.addresses(ns, link.name)],
        "owner": topo.owner(link.key),
    }
    if link.kind == "veth":
        out["peer"] = _ref(link.peer_netns, link.peer) if link.peer else None
    if link.master:
        info = topo.port_info(ns, link.name)
        out["portState"] = info.state if info is not None else None
    if link.kind == "bridge":
        ports = []
        for port in topo.ports(ns, link.name):
            info = topo.port_info(ns, port.name)
            ports.append({"name": port.name, "state": info.state if info else None, "up": port.up})
        out["bridge"] = {
            "ports": ports,
            "fdb": [e.to_dict() for e in topo.bridge_fdb(ns, link.name) if not e.local],
        }
    if link.kind == "vxlan":
        fdb = []
        for e in topo.dev_fdb(ns, link.name):
            entry = e.to_dict()
            entry["vtep"] = [_ref(v.netns, v.name) for v in topo.vteps(e.dst or "", e.port or link.port, e.vni or link.vni)] \
                if e.dst else []
            fdb.append(entry)
        out["vxlan"] = {
            "vni": link.vni, "port": link.port, "local": link.local, "dev": link.dev, "learning": link.learning,
            "fdb": fdb,
            "neighbors": [n.to_dict() for n in topo.neighbors(ns, link.name)],
        }
    if link.kind in ("vlan", "macvlan"):
        out[link.kind] = {"id": link.vlan_id, "mode": link.mode, "parent": _ref(link.parent_netns, link.parent)}
    return out


def namespace(topo: Topology, ns: str | None) -> dict[str, Any]:
    node = topo.node_of(ns) if topo.role(ns) == POD else False
    routes = []
    for r in sorted(topo.all_routes(ns), key=lambda r: (r.table, ipaddress.ip_network(r.dst).version,
                                                        ipaddress.ip_network(r.dst).prefixlen, r.dst)):
        row = {k: v for k, v in r.to_dict().items() if k not in ("type", "netns")}
        row["proto"] = topo.snap.fact(r.key, "proto")
        row["text"] = route_text(topo, r)
        routes.append(row)
    return {
        "name": ns,
        "role": topo.role(ns),
        "node": None if node is False else node,
        "owner": topo.netns_owner(ns),
        "ipForward": topo.sysctl(ns, "net.ipv4.ip_forward"),
        "interfaces": [interface(topo, link) for link in topo.links(ns)],
        "routes": routes,
        "neighbors": [n.to_dict() for n in topo.neighbors(ns)],
        "masquerade": [
            {k: v for k, v in m.to_dict().items() if k not in ("type", "netns")}
            for m in sorted(topo.snap.in_netns(ns), key=lambda r: r.key) if m.TYPE == "masquerade"
        ],
    }


def cables(topo: Topology) -> list[dict[str, Any]]:
    out, seen = [], set()
    for ns in topo.namespaces():
        for link in topo.links(ns):
            if link.kind != "veth" or link.peer is None or link.key in seen:
                continue
            peer = topo.peer(link)
            seen.add(link.key)
            if peer is not None:
                seen.add(peer.key)
            out.append({
                "a": _ref(ns, link.name), "b": _ref(link.peer_netns, link.peer),
                "mtu": [link.mtu, peer.mtu if peer else None],
                "up": link.up and (peer.up if peer else False),
            })
    return out


def tunnels(topo: Topology) -> list[dict[str, Any]]:
    out = []
    for ns in topo.namespaces():
        for vx in topo.vxlans(ns):
            for e in topo.dev_fdb(ns, vx.name):
                if not e.dst:
                    continue
                port, vni = e.port or vx.port, e.vni or vx.vni
                remotes = topo.vteps(e.dst, port, vni)
                out.append({
                    "from": _ref(ns, vx.name),
                    "to": _ref(remotes[0].netns, remotes[0].name) if remotes else None,
                    "remote": e.dst, "vni": vni, "port": port,
                    "mode": "flood" if e.mac == FLOOD_MAC else "unicast", "mac": e.mac,
                })
    return out


def build(topo: Topology, *, lab: str | None, labs: list[str], drift: Drift | None = None) -> dict[str, Any]:
    spaces = sorted(topo.namespaces(), key=lambda ns: (ROLE_ORDER.get(topo.role(ns), 9), ns or ""))
    items = [namespace(topo, ns) for ns in spaces]
    roles = [topo.role(ns) for ns in spaces]
    summary = {
        "namespaces": len(spaces), "nodes": roles.count(NODE), "pods": roles.count(POD),
        "interfaces": sum(len(i["interfaces"]) for i in items),
    }
    return document(
        KIND, items, lab=lab, labs=labs, summary=summary, cables=cables(topo), tunnels=tunnels(topo),
        drift=drift.to_dict() if drift is not None else None,
    )
