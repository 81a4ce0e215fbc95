"""trace for people: hop by hop, the rule that matched at each hop, where and why it stopped,
and with --probe what was captured next to what was predicted. Renders the Trace document."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from kubenetctl.topology import ns_label

RULE_NAMES = {
    "route": "route", "neighbour": "neigh", "bridge-fdb": "bridge fdb", "vxlan-fdb": "vxlan fdb", "encap": "encap",
    "decap": "decap", "local": "local", "forward": "forward", "veth": "veth", "vlan": "vlan", "rp_filter": "rp_filter",
    "note": "",
}


def _rule_text(rule: dict[str, str]) -> Text:
    line = Text()
    line.append(f"{RULE_NAMES.get(rule['kind'], rule['kind']):<11}", style="dim")
    line.append(rule["text"])
    return line


def _path_table(path: dict[str, Any], check: dict[str, Any] | None) -> Table:
    t = Table(box=None, header_style="bold", pad_edge=False, show_edge=False)
    for col in ("#", "NETNS", "IFACE", "DIR", "MATCHED RULE"):
        t.add_column(col, no_wrap=col != "MATCHED RULE", justify="right" if col == "#" else "left")
    if check is not None:
        t.add_column("PROBE", no_wrap=True)
    seen = check["seen"] if check is not None else []
    for i, hop in enumerate(path["hops"]):
        rules = hop["rules"] or [{"kind": "note", "text": ""}]
        iface = hop["dev"] + (f" [vni {hop['encap']['vni']}]" if hop.get("encap") else "")
        for j, rule in enumerate(rules):
            first = j == 0
            row = [Text(str(i + 1) if first else ""), Text(ns_label(hop["netns"]) if first else ""),
                   Text(iface if first else ""), Text(hop["direction"] if first else ""), _rule_text(rule)]
            if check is not None:
                row.append(_seen(seen[i]) if first and i < len(seen) else Text(""))
            t.add_row(*row)
    for rule in path.get("finalRules", []):
        row = ["", "", "", "", _rule_text(rule)]
        if check is not None:
            row.append(Text(""))
        t.add_row(*row)
    stop = path.get("stop")
    if stop is not None:
        rules = stop["rules"] or [{"kind": "note", "text": "stops here"}]
        for j, rule in enumerate(rules):
            first = j == 0
            row = [Text("x" if first else "", style="bold red"), Text(ns_label(stop["netns"]) if first else ""),
                   Text((stop.get("dev") or "") if first else ""), Text(""), _rule_text(rule)]
            if check is not None:
                row.append(Text(""))
            t.add_row(*row)
        if stop.get("blocked") and check is not None:
            b = stop["blocked"]
            t.add_row(Text(""), Text(ns_label(b["netns"])), Text(b["dev"]), Text(b["direction"]),
                      Text("(where it would show up next)", style="dim"),
                      _seen(check.get("blockedSeen"), blocked=True))
    return t


def _seen(value: bool | None, blocked: bool = False) -> Text:
    if value is None:
        return Text("-", style="dim")
    if blocked:
        return Text("seen (!)", style="bold red") if value else Text("not seen", style="green")
    return Text("seen", style="green") if value else Text("NOT SEEN", style="bold red")


def _path_block(title: str, path: dict[str, Any], check: dict[str, Any] | None) -> list[Any]:
    head = Text()
    head.append(f"{title}  ", style="bold")
    p = path["packet"]
    what = ("ICMP echo reply" if p.get("reply") else "ICMP echo request") if p["proto"] == "icmp" else \
        f"{p['proto'].upper()}{' reply' if p.get('reply') else ''}"
    ports = f":{p['sport']}" if p.get("sport") else ""
    dport = f":{p['dport']}" if p.get("dport") else ""
    head.append(f"{what} {p['src']}{ports} -> {p['dst']}{dport}, {p['size']} bytes")
    out: list[Any] = [head, _path_table(path, check)]
    stop = path.get("stop")
    if stop is not None:
        line = Text()
        line.append(f"STOPPED ({stop['reason']}): ", style="bold red")
        line.append(stop["message"])
        out.append(line)
        if stop.get("hint"):
            out.append(Text(f"  hint: {stop['hint']}", style="yellow"))
    elif path.get("deliveredTo"):
        d = path["deliveredTo"]
        out.append(Text(f"delivered to {ns_label(d['netns'])} on {d['dev']}", style="bold green"))
    for note in path.get("notes", []):
        out.append(Text(f"  note: {note}", style="yellow"))
    return out


def render(doc: dict[str, Any]) -> Group:
    src, dst = doc["src"], doc["dst"]
    parts: list[Any] = []
    head = Text("trace ", style="bold")
    head.append(f"{src['spec']} ({ns_label(src['netns'])}, {src['ip']})")
    head.append(" -> ")
    head.append(f"{dst['spec']} ({ns_label(dst['netns']) if dst['known'] else 'not in any namespace'}, {dst['ip']})")
    parts.append(head)
    probe = doc.get("probe")
    parts.append(Text(""))
    parts.extend(_path_block("forward", doc["forward"], probe["forward"] if probe else None))
    if doc.get("reply"):
        parts.append(Text(""))
        parts.extend(_path_block("reply", doc["reply"], probe["reply"] if probe else None))
    parts.append(Text(""))
    verdict = Text()
    if doc["reachable"]:
        verdict.append("reachable", style="bold green")
        verdict.append(": the packet gets there and the reply comes back" if doc.get("reply") else ": delivered")
    else:
        verdict.append("NOT reachable", style="bold red")
    parts.append(verdict)
    if probe:
        line = Text("probe: ", style="bold")
        line.append(probe["summary"], style="green" if probe["agrees"] else "bold red")
        parts.append(line)
        for err in probe.get("icmpErrors", []):
            parts.append(Text(f"  observed ICMP {err}", style="yellow"))
    return Group(*parts)
