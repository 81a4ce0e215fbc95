"""The rendered views, pinned: inspect's tree, table and graphs, and trace (working, broken,
probed) on fixed synthetic snapshots. Look at tests/unit/golden/*.txt when they change;
regenerate with KUBENETCTL_UPDATE_GOLDEN=1 after checking that the new rendering reads well."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from rich.console import Console

from kubenetctl.inspect.document import build
from kubenetctl.trace.compare import Observed, compare
from kubenetctl.trace.packets import Flow, Seen
from kubenetctl.trace.pair import packet, resolve, trace_pair
from kubenetctl.views import graph, inspect_view, trace_view
from kubenetctl.views.output import document
from tests.synthetic import flood_overlay, routed_overlay

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("KUBENETCTL_UPDATE_GOLDEN") == "1"


def text(renderable, width: int = 150) -> str:
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, highlight=False, force_terminal=False).print(renderable)
    return "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"


def check(name: str, rendered: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(rendered)
    assert path.exists(), f"{path} is missing: run with KUBENETCTL_UPDATE_GOLDEN=1 and look at it"
    assert rendered == path.read_text(), f"{name} changed: look at the new rendering, then update the golden file"


def trace_doc(lab, src="pod1", dst="pod2", size=None) -> tuple[dict, object]:
    topo = lab.topo()
    a, b = resolve(topo, src, "SRC", {"web": "pod1", "db": "pod2"}), resolve(topo, dst, "DST", {"web": "pod1", "db": "pod2"})
    t = trace_pair(topo, a, b, packet(a, b, "icmp", None, size))
    return document("Trace", None, **t.to_dict()), t


def test_inspect_tree():
    check("inspect-tree.txt", text(inspect_view.tree(build(routed_overlay().topo(), lab="demo", labs=["demo"]))))


def test_inspect_tree_flood_overlay():
    check("inspect-tree-flood.txt", text(inspect_view.tree(build(flood_overlay().topo(), lab="demo", labs=["demo"]))))


def test_inspect_table():
    check("inspect-table.txt", text(inspect_view.table(build(routed_overlay().topo(), lab="demo", labs=["demo"]))))


def test_graphs():
    doc = build(routed_overlay().topo(), lab="demo", labs=["demo"])
    check("inspect-graph.dot", graph.dot(doc))
    check("inspect-graph.mmd", graph.mermaid(doc))


def test_trace_working_path():
    doc, _ = trace_doc(routed_overlay(), "web", "db")
    check("trace-routed.txt", text(trace_view.render(doc)))


@pytest.mark.parametrize("fault", ["no-fdb", "mtu", "forwarding"])
def test_trace_stopped(fault):
    lab = routed_overlay()
    size = None
    if fault == "no-fdb":
        lab.drop_fdb("node1", "vxlan0", "0e:00:00:00:00:02")
    elif fault == "mtu":
        lab.set_link("node2", "veth0", mtu=1000).set_link("node2", "cni0", mtu=1000)
        size = 1200
    else:
        lab.sysctl("node2", "net.ipv4.ip_forward", "0")
    doc, _ = trace_doc(lab, size=size)
    check(f"trace-{fault}.txt", text(trace_view.render(doc)))


def test_trace_with_probe_side_by_side():
    lab = routed_overlay().sysctl("node2", "net.ipv4.ip_forward", "0")
    doc, t = trace_doc(lab)
    flow = Flow("10.244.1.2", "10.244.2.2", "icmp", 4242)
    caps = [Observed(h.point, Seen(flow, False, vni=h.encap["vni"] if h.encap else None)) for h in t.forward.hops]
    doc["probe"] = compare(t, caps, flow).to_dict(t)
    check("trace-probe.txt", text(trace_view.render(doc)))
