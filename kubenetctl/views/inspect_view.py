"""inspect for people: a tree (nodes -> bridges / VXLAN devices / pods -> interfaces, routes)
and a compact table. Both render the Topology document (inspect/document.py) and nothing else."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from kubenetctl.overlay import FLOOD_MAC
from kubenetctl.topology import ROLE_LABEL, ns_label

ROLE_STYLE = {"host": "bold magenta", "node": "bold blue", "pod": "bold green", "other": "bold"}


def _state(iface: dict[str, Any]) -> Text:
    if not iface["up"]:
        return Text("DOWN", style="bold red")
    if not iface.get("carrier", True):
        return Text("NO-CARRIER", style="bold red")
    return Text("up", style="green")


def _owner(owner: str | None) -> Text:
    return Text(f"  [{owner}]", style="cyan") if owner else Text("")


def _iface_line(iface: dict[str, Any], extra: str = "") -> Text:
    line = Text()
    line.append(f"{iface['kind']} ", style="dim")
    line.append(iface["name"], style="bold")
    line.append("  ")
    line.append_text(_state(iface))
    if iface.get("mtu") is not None:
        line.append(f"  mtu {iface['mtu']}")
    if iface.get("addresses"):
        line.append("  " + " ".join(iface["addresses"]), style="yellow")
    if extra:
        line.append(extra)
    peer = iface.get("peer")
    if peer:
        line.append(f"  <-> {ns_label(peer['netns'])} {peer['name']}", style="dim")
    if iface.get("mac"):
        line.append(f"  {iface['mac']}", style="dim")
    line.append_text(_owner(iface.get("owner")))
    return line


def _vxlan_extra(vx: dict[str, Any]) -> str:
    parts = [f"vni {vx['vni']}", f"udp/{vx['port']}"]
    if vx.get("local"):
        parts.append(f"local {vx['local']}")
    if vx.get("dev"):
        parts.append(f"dev {vx['dev']}")
    if vx.get("learning"):
        parts.append("learning")
    return "  " + "  ".join(parts)


def _add_interface(branch: Tree, iface: dict[str, Any], by_name: dict[str, dict[str, Any]], peer_role: dict) -> None:
    if iface["kind"] == "vxlan":
        vx = iface["vxlan"]
        node = branch.add(_iface_line(iface, _vxlan_extra(vx)))
        for e in vx["fdb"]:
            where = ", ".join(f"{v['name']} in {ns_label(v['netns'])}" for v in e.get("vtep", [])) or "no VTEP observed"
            what = "flood" if e["mac"] == FLOOD_MAC else e["mac"]
            node.add(Text(f"fdb {what} -> {e.get('dst')}  ({where})", style="dim" if e.get("vtep") else "red"))
        for n in vx["neighbors"]:
            node.add(Text(f"neigh {n['ip']} -> {n['mac']}  {n['state']}", style="dim"))
        return
    node = branch.add(_iface_line(iface))
    if iface["kind"] == "bridge":
        for port in iface["bridge"]["ports"]:
            p = by_name.get(port["name"], {})
            line = Text(f"port {port['name']}  ", style="")
            line.append(port.get("state") or "?", style="green" if port.get("state") == "forwarding" else "bold red")
            if p.get("mtu") is not None:
                line.append(f"  mtu {p['mtu']}")
            peer = p.get("peer")
            if peer:
                role = peer_role.get(peer["netns"], "")
                line.append(f"  <-> {role + ' ' if role else ''}{ns_label(peer['netns'])} {peer['name']}", style="dim")
            elif p.get("kind") == "vxlan":
                line.append("  (VXLAN tunnel)", style="dim")
            node.add(line)
    if iface.get("vlan"):
        v = iface["vlan"]
        node.add(Text(f"VLAN {v['id']} on {ns_label(v['parent']['netns'])} {v['parent']['name']}", style="dim"))


def _add_namespace(parent: Tree, item: dict[str, Any], items: list[dict[str, Any]], peer_role: dict) -> None:
    label = Text()
    label.append(f"{ROLE_LABEL.get(item['role'], item['role'])} ", style=ROLE_STYLE.get(item["role"], "bold"))
    label.append(ns_label(item["name"]), style="bold")
    if item.get("ipForward") == "1" and item["role"] in ("node", "host"):
        label.append("  ip_forward=1", style="dim")
    label.append_text(_owner(item.get("owner")))
    branch = parent.add(label)
    by_name = {i["name"]: i for i in item["interfaces"]}
    ported = {p["name"] for i in item["interfaces"] if i["kind"] == "bridge" for p in i["bridge"]["ports"]}
    for iface in item["interfaces"]:
        if iface["name"] == "lo" or (iface["name"] in ported and iface["kind"] != "vxlan"):
            continue
        _add_interface(branch, iface, by_name, peer_role)
    if item["routes"]:
        routes = branch.add(Text("routes", style="dim"))
        for r in item["routes"]:
            routes.add(Text(r["text"]))
    if item.get("masquerade"):
        nat = branch.add(Text("nat", style="dim"))
        for m in item["masquerade"]:
            nat.add(Text(f"masquerade {m['src']}" + (f" except to {m['exclude']}" if m.get("exclude") else "")
                         + (f" out {m['out']}" if m.get("out") else "")))
    for child in items:
        if child["role"] == "pod" and child.get("node") == item["name"] and item["role"] in ("node", "host") \
                and child is not item:
            _add_namespace(branch, child, [], peer_role)


def tree(doc: dict[str, Any]) -> Tree:
    s = doc["summary"]
    title = f"lab {doc['lab']}" if doc.get("lab") else "this host"
    head = Text(f"{title}: ", style="bold")
    head.append(f"{s['nodes']} nodes, {s['pods']} pods, {s['namespaces']} namespaces, {s['interfaces']} interfaces")
    if not doc.get("lab") and doc.get("labs"):
        head.append(f"  (labs: {', '.join(doc['labs'])})", style="dim")
    root = Tree(head, guide_style="dim")
    items = doc["items"]
    peer_role = {i["name"]: ROLE_LABEL.get(i["role"], i["role"]) for i in items}
    hosts = {i["name"] for i in items if i["role"] in ("node", "host")}
    for item in items:
        if item["role"] == "pod" and item.get("node") in hosts:
            continue  # drawn under its node
        _add_namespace(root, item, items, peer_role)
    drift = doc.get("drift")
    if drift is not None:
        _add_drift(root, drift)
    return root


def _add_drift(root: Tree, drift: dict[str, Any]) -> None:
    if drift["clean"]:
        root.add(Text("drift: none (the kernel holds what the lab recorded)", style="green"))
        return
    branch = root.add(Text("drift", style="bold red"))
    for r in drift["missing"]:
        branch.add(Text(f"missing  {_describe(r)}", style="red"))
    for c in drift["changed"]:
        changes = ", ".join(f"{x['field']} {x['from']!r} (recorded {x['to']!r})" for x in c["changes"])
        branch.add(Text(f"changed  {_describe(c['resource'])}: {changes}", style="yellow"))
    for r in drift["foreign"]:
        branch.add(Text(f"foreign  {_describe(r)}", style="magenta"))


def _describe(res: dict[str, Any]) -> str:
    from kubenetctl.resources import from_dict

    return from_dict(res).describe()


def table(doc: dict[str, Any]) -> Table:
    rows = []
    for item in doc["items"]:
        for iface in item["interfaces"]:
            if iface["name"] == "lo":
                continue
            link = ""
            if iface.get("peer"):
                link = f"<-> {ns_label(iface['peer']['netns'])}/{iface['peer']['name']}"
            elif iface["kind"] == "vxlan":
                vx = iface["vxlan"]
                peers = ",".join(e.get("dst") or "?" for e in vx["fdb"])
                link = f"vni {vx['vni']} udp/{vx['port']} -> {peers or '-'}"
            elif iface.get("vlan"):
                link = f"vlan {iface['vlan']['id']} on {iface['vlan']['parent']['name']}"
            if iface.get("master"):
                link = (link + f" (port of {iface['master']})").strip()
            state = "up" if iface["up"] and iface.get("carrier", True) else ("down" if not iface["up"] else "no-carrier")
            rows.append([Text(str(v)) for v in (
                ns_label(item["name"]), item["role"], iface["name"], iface["kind"], state, iface.get("mtu") or "-",
                " ".join(iface["addresses"]) or "-", link or "-", iface.get("owner") or "-",
            )])
    t = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("NETNS", "ROLE", "IFACE", "KIND", "STATE", "MTU", "ADDRESSES", "LINK", "OWNER"):
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*row)
    return t
