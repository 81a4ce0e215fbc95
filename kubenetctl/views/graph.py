"""inspect as a picture: Graphviz DOT and Mermaid text from the Topology document, and
SVG/PNG through Graphviz's `dot` when it is installed.

Nodes are drawn as boxes (clusters) holding their bridges, VXLAN devices and uplinks;
pods are boxes inside the node they hang off; a pod's cable to its bridge is an edge
labelled with the bridge port; VXLAN tunnels are bold dashed edges between VTEPs labelled
with VNI and UDP port; VLAN sub-interfaces are coloured by VLAN id.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from typing import Any, Iterator

from kubenetctl.errors import InvalidInput, KubenetError, NotFound, PermissionDenied
from kubenetctl.topology import ROLE_LABEL, ns_label

FILL = {"host": "#f4effa", "node": "#eaf1fb", "pod": "#eaf7e6", "other": "#f3f3f3"}
BORDER = {"host": "#8a6bb0", "node": "#4a78b5", "pod": "#4f9a44", "other": "#888888"}
KIND_FILL = {"bridge": "#fde7c4", "vxlan": "#d5e3ff", "veth": "#ffffff", "vlan": "#fff5d6", "macvlan": "#ffffff"}
VLAN_COLOURS = ["#d9822b", "#8e44ad", "#16a085", "#c0392b", "#2c3e50", "#7f8c8d"]
TUNNEL = "#2f5fb3"
DOWN = "#d03030"


def _id(netns: str | None, dev: str) -> str:
    return f"{ns_label(netns)}/{dev}"


class _Model:
    """What to draw, computed once for both output languages."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.items = doc["items"]
        self.role = {i["name"]: i["role"] for i in self.items}
        self.ifaces = {(i["name"], f["name"]): f for i in self.items for f in i["interfaces"]}
        self.ported = {(i["name"], p["name"]) for i in self.items for f in i["interfaces"] if f["kind"] == "bridge"
                       for p in f["bridge"]["ports"]}
        self.vlan_ids = sorted({f["vlan"]["id"] for f in self.ifaces.values() if f.get("vlan") and f["vlan"]["id"]})
        self.nodes: dict[tuple, tuple[str, str]] = {}  # (ns, dev) -> (label, kind)
        self.edges: list[dict[str, Any]] = []
        self._collect(doc)

    def drawn(self, ns: str | None, dev: str) -> bool:
        return (ns, dev) in self.nodes

    def vlan_colour(self, vid: int | None) -> str:
        return VLAN_COLOURS[self.vlan_ids.index(vid) % len(VLAN_COLOURS)] if vid in self.vlan_ids else "#555555"

    def _collect(self, doc: dict[str, Any]) -> None:
        for item in self.items:
            ns = item["name"]
            for f in item["interfaces"]:
                if f["name"] == "lo" or ((ns, f["name"]) in self.ported and f["kind"] == "veth"):
                    continue
                if ns is None and not f.get("owner") and f["kind"] not in ("bridge", "vxlan"):
                    continue  # the host's own NICs: only what kubenetctl made, or what pods plug into
                self.nodes[(ns, f["name"])] = (self._label(f), f["kind"])
        done = set()
        for item in self.items:
            ns = item["name"]
            for f in item["interfaces"]:
                key = (ns, f["name"])
                ok = f["up"] and f.get("carrier", True)
                if f["kind"] == "veth" and f.get("peer") and key not in done:
                    peer = (f["peer"]["netns"], f["peer"]["name"])
                    done.update({key, peer})
                    self._cable(key, peer, ok)
                if f.get("master") and f["kind"] != "veth" and self.drawn(*key):
                    self.edges.append({"a": (ns, f["master"]), "b": key, "label": "port", "style": "solid",
                                       "colour": "#888888" if ok else DOWN})
                if f["kind"] == "vxlan" and f["vxlan"].get("dev") and self.drawn(ns, f["vxlan"]["dev"]):
                    self.edges.append({"a": key, "b": (ns, f["vxlan"]["dev"]), "label": "encap", "style": "dotted",
                                       "colour": "#888888"})
                if f.get("vlan") and f["vlan"]["parent"]["name"]:
                    parent = (f["vlan"]["parent"]["netns"], f["vlan"]["parent"]["name"])
                    if self.drawn(*parent) and self.drawn(*key):
                        self.edges.append({"a": key, "b": parent, "label": f"VLAN {f['vlan']['id']}", "style": "bold",
                                           "colour": self.vlan_colour(f["vlan"]["id"])})
            self._routed(item)
        self._tunnels(doc.get("tunnels", []))

    def _cable(self, a: tuple, b: tuple, ok: bool) -> None:
        """A veth pair: pod end to the bridge it is a port of, or end to end."""
        ends = []
        label = "veth"
        for end in (a, b):
            if self.drawn(*end):
                ends.append(end)
            elif end in self.ported:
                master = self.ifaces[end].get("master")
                ends.append((end[0], master))
                label = end[1]
        if len(ends) == 2 and all(self.drawn(*e) for e in ends):
            mtus = {self.ifaces.get(x, {}).get("mtu") for x in (a, b)}
            if len(mtus) > 1:
                label += f" (mtu {'/'.join(str(m) for m in sorted(m for m in mtus if m))})"
            # pods above their node: the pod's end is the tail; node to node cables do not rank
            ends.sort(key=lambda e: self.role.get(e[0]) != "pod")
            level = self.role.get(ends[0][0]) == self.role.get(ends[1][0])
            if level and label == "veth":
                nets = {str(ipaddress.ip_interface(x).network) for x in self.ifaces.get(a, {}).get("addresses", [])}
                label = "underlay" + (f" {sorted(nets)[0]}" if nets else "")
            self.edges.append({"a": ends[0], "b": ends[1], "label": label if ok else f"{label} DOWN",
                               "style": "solid" if ok else "dashed", "colour": "#555555" if ok else DOWN,
                               "level": level})

    def _routed(self, item: dict[str, Any]) -> None:
        """A node that forwards between its bridge and a VXLAN device that is no bridge port."""
        if item.get("ipForward") != "1":
            return
        ns = item["name"]
        bridges = [f for f in item["interfaces"] if f["kind"] == "bridge" and f["addresses"]]
        vxlans = [f for f in item["interfaces"] if f["kind"] == "vxlan" and not f.get("master")]
        for br in bridges:
            for vx in vxlans:
                self.edges.append({"a": (ns, br["name"]), "b": (ns, vx["name"]), "label": "routed",
                                   "style": "dotted", "colour": "#4a78b5"})

    def _tunnels(self, tunnels: list[dict[str, Any]]) -> None:
        seen: dict[tuple, dict[str, Any]] = {}
        for t in tunnels:
            a = (t["from"]["netns"], t["from"]["name"])
            if t["to"] is None:
                ghost = (None, f"vtep {t['remote']}")
                self.nodes[ghost] = (f"{t['remote']}\\nno VTEP observed", "ghost")
                self.edges.append({"a": a, "b": ghost, "label": f"VNI {t['vni']} udp/{t['port']}",
                                   "style": "dashed", "colour": DOWN, "tunnel": True, "level": True})
                continue
            b = (t["to"]["netns"], t["to"]["name"])
            pair = tuple(sorted([a, b], key=lambda k: (ns_label(k[0]), k[1])))
            entry = seen.setdefault(pair, {"modes": set(), "vni": t["vni"], "port": t["port"], "dirs": set()})
            entry["modes"].add(t["mode"])
            entry["dirs"].add(a)
        for (a, b), e in seen.items():
            one_way = "" if len(e["dirs"]) == 2 else f" (only from {ns_label(next(iter(e['dirs']))[0])})"
            label = f"VXLAN vni {e['vni']} udp/{e['port']} {'/'.join(sorted(e['modes']))}{one_way}"
            self.edges.append({"a": a, "b": b, "label": label, "style": "dashed", "colour": TUNNEL if not one_way
                               else DOWN, "tunnel": True, "level": True})

    def _label(self, f: dict[str, Any]) -> str:
        lines = [f["name"]]
        if f["kind"] == "bridge":
            lines.append("bridge")
        elif f["kind"] == "vxlan":
            vx = f["vxlan"]
            lines.append(f"VXLAN vni {vx['vni']} udp/{vx['port']}")
            if vx.get("local"):
                lines.append(f"VTEP {vx['local']}")
        elif f.get("vlan"):
            lines.append(f"VLAN {f['vlan']['id']}")
        lines.extend(f["addresses"])
        if f.get("mtu") and f["mtu"] != 1500:
            lines.append(f"mtu {f['mtu']}")
        if not f["up"]:
            lines.append("DOWN")
        elif not f.get("carrier", True):
            lines.append("NO-CARRIER")
        return "\\n".join(lines)

    def boxes(self) -> Iterator[tuple[str, Any, int]]:
        """Drawing order: ("open", namespace item, depth), ("member", ((ns, dev), (label, kind)), depth),
        ("close", None, depth); pods are opened inside the node they hang off; empty boxes are left out."""
        tops = {i["name"] for i in self.items if i["role"] in ("node", "host")}

        def box(item: dict[str, Any], pods: list[dict[str, Any]], depth: int) -> Iterator[tuple[str, Any, int]]:
            members = [(k, v) for k, v in self.nodes.items() if k[0] == item["name"]]
            if not members and not pods:
                return
            yield "open", item, depth
            for member in members:
                yield "member", member, depth
            for pod in pods:
                yield from box(pod, [], depth + 1)
            yield "close", None, depth

        for item in self.items:
            if item["role"] == "pod" and item.get("node") in tops:
                continue
            pods = [p for p in self.items if p["role"] == "pod" and p.get("node") == item["name"]
                    and item["role"] in ("node", "host") and p is not item]
            yield from box(item, pods, 1)


def _q(text: str) -> str:
    return '"' + text.replace('"', '\\"') + '"'


def dot(doc: dict[str, Any]) -> str:
    m = _Model(doc)
    title = f"lab {doc['lab']}" if doc.get("lab") else "kubenetctl inspect"
    out = [
        "graph topology {",
        f"  graph [label={_q(title)}, labelloc=t, fontsize=16, fontname=\"Helvetica\", rankdir=TB, "
        "nodesep=0.5, ranksep=0.55, splines=true, newrank=true, bgcolor=white, pad=0.3];",
        '  node [fontname="Helvetica", fontsize=10, shape=box, style="rounded,filled", fillcolor=white, color="#666666"];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    counter = iter(range(10_000))
    for event, what, depth in m.boxes():
        indent = "  " * depth
        if event == "open":
            role = what["role"]
            label = f"{ROLE_LABEL.get(role, role)} {ns_label(what['name'])}" + ("  (ip_forward)" if role == "node" and what.get("ipForward") == "1" else "")
            out.append(f"{indent}subgraph cluster_{next(counter)} {{")
            out.append(f"{indent}  label={_q(label)}; labeljust=l; style=\"rounded,filled\"; "
                       f"fillcolor=\"{FILL.get(role, '#ffffff')}\"; color=\"{BORDER.get(role, '#888888')}\"; fontsize=12;")
        elif event == "member":
            (n, dev), (text, kind) = what
            extra = ""
            if kind == "vlan":
                extra = f", color=\"{m.vlan_colour(m.ifaces[(n, dev)]['vlan']['id'])}\", penwidth=2"
            if "DOWN" in text or "NO-CARRIER" in text:
                extra += f", color=\"{DOWN}\", fontcolor=\"{DOWN}\""
            shape = ", shape=box3d" if kind == "vxlan" else ""
            out.append(f"{indent}  {_q(_id(n, dev))} [label={_q(text)}, fillcolor=\"{KIND_FILL.get(kind, '#ffffff')}\"{shape}{extra}];")
        else:
            out.append(f"{indent}}}")
    for (n, dev), (text, kind) in m.nodes.items():
        if kind == "ghost":
            out.append(f"  {_q(_id(n, dev))} [label={_q(text)}, shape=note, color=\"{DOWN}\", fontcolor=\"{DOWN}\"];")
    for e in m.edges:
        attrs = [f"label={_q(e['label'])}", f"style={e['style']}", f"color=\"{e['colour']}\""]
        if e.get("tunnel"):
            attrs += ["penwidth=2.5", f"fontcolor=\"{e['colour']}\""]
        if e.get("level"):
            attrs.append("constraint=false")
        out.append(f"  {_q(_id(*e['a']))} -- {_q(_id(*e['b']))} [{', '.join(attrs)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def mermaid(doc: dict[str, Any]) -> str:
    m = _Model(doc)
    ids: dict[tuple, str] = {}

    def nid(key: tuple) -> str:
        return ids.setdefault(key, f"n{len(ids)}")

    out = ["flowchart LR"]
    counter = iter(range(10_000))
    for event, what, depth in m.boxes():
        indent = "  " * depth
        if event == "open":
            out.append(f"{indent}subgraph s{next(counter)}[\"{ROLE_LABEL.get(what['role'], what['role'])} {ns_label(what['name'])}\"]")
        elif event == "member":
            key, (text, _kind) = what
            out.append(f"{indent}  {nid(key)}[\"{text.replace(chr(92) + 'n', '<br/>')}\"]")
        else:
            out.append(f"{indent}end")
    for key, (text, kind) in m.nodes.items():
        if kind == "ghost":
            out.append(f"  {nid(key)}[\"{text.replace(chr(92) + 'n', '<br/>')}\"]")
    for e in m.edges:
        label = e["label"].replace('"', "'")
        arrow = f"-. \"{label}\" .-" if e["style"] in ("dashed", "dotted") else f"-- \"{label}\" ---"
        if e["style"] == "bold":
            arrow = f"== \"{label}\" ==="
        out.append(f"  {nid(e['a'])} {arrow} {nid(e['b'])}")
    return "\n".join(out) + "\n"


def check_output(fmt: str, path: str | None) -> None:
    """What --graph FMT [-O PATH] needs, checked before anything is read: Graphviz's `dot`
    for an image, and a file that can be written."""
    if fmt in ("svg", "png"):
        _dot_exe(fmt)
    if path is not None:
        _writable(path)


def write_text(text: str, path: str) -> None:
    _writable(path)
    try:
        with open(path, "w") as fh:
            fh.write(text)
    except OSError as err:
        raise KubenetError(f"-O {path}: cannot write it: {err.strerror}") from None


def render_image(dot_text: str, fmt: str, path: str) -> None:
    """Run Graphviz's `dot` to write an SVG or PNG."""
    exe = _dot_exe(fmt)
    _writable(path)
    proc = subprocess.run([exe, f"-T{fmt}", "-o", path], input=dot_text.encode(), capture_output=True)
    if proc.returncode != 0:  # a bug in the DOT we wrote
        raise KubenetError(f"dot failed to render {path}: {proc.stderr.decode(errors='replace').strip()}")


def _dot_exe(fmt: str) -> str:
    exe = shutil.which("dot")
    if exe is None:
        raise NotFound(
            f"--graph {fmt} needs Graphviz's 'dot', which is not installed",
            hint="install it (apt-get install graphviz), or use --graph dot and render the text elsewhere",
        )
    return exe


def _writable(path: str) -> None:
    if os.path.isdir(path):
        raise InvalidInput(f"-O {path}: is a directory", hint="give the file to write, e.g. -O topology.svg")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise NotFound(f"-O {path}: the directory {folder} does not exist")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise PermissionDenied(f"-O {path}: cannot write there")
