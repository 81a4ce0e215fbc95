"""inspect without root: roles from topology, the documented JSON shape, drift, graphs, CLI errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from kubenetctl.errors import ExitCode, NotFound
from kubenetctl.inspect import labs
from kubenetctl.inspect.document import build
from kubenetctl.inspect.drift import drift
from kubenetctl.resources import Address, Fdb, Link, Netns, Route, Sysctl
from kubenetctl.topology import Topology
from kubenetctl.trace.pair import packet, resolve, trace_pair
from kubenetctl.views import graph
from tests.helpers import kn_inprocess as kn
from tests.helpers import one_error_line
from tests.synthetic import Lab, flood_overlay, routed_overlay, vlan_pair

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.v1.json").read_text())


# -- roles --------------------------------------------------------------------------------------
def test_roles_come_from_the_topology():
    topo = routed_overlay().topo()
    assert {ns: topo.role(ns) for ns in topo.namespaces()} == {
        "node1": "node", "node2": "node", "pod1": "pod", "pod2": "pod"}
    assert topo.node_of("pod1") == "node1" and topo.node_of("pod2") == "node2"


def test_a_forwarding_namespace_with_veths_into_two_others_is_a_node():
    lab = Lab().ns("r", forward=True).ns("a", "b", "lonely")
    lab.veth("r", "ra", "a", "eth0", macs=("0a:00:00:00:01:01", "0a:00:00:00:01:02"))
    lab.veth("r", "rb", "b", "eth0", macs=("0a:00:00:00:02:01", "0a:00:00:00:02:02"))
    topo = lab.topo()
    assert [topo.role(ns) for ns in ("r", "a", "b", "lonely")] == ["node", "pod", "pod", "other"]


def test_hints_from_lab_state_override_the_derivation():
    lab = vlan_pair()
    assert lab.topo().role("nodeA") == "other"  # no bridge, no VXLAN, no forwarding: nothing to go by
    topo = Topology(lab.snap, lab.facts, roles={"nodeA": "node", "nodeB": "node"})
    assert topo.role("nodeA") == "node" and topo.role("podA") == "other"  # a vlan, not a veth: still no pod


# -- the document ------------------------------------------------------------------------------------
def test_document_matches_the_published_schema_and_resolves_tunnels():
    doc = build(routed_overlay().topo(), lab="demo", labs=["demo"])
    jsonschema.validate(doc, schema("topology"))
    assert doc["summary"] == {"namespaces": 4, "nodes": 2, "pods": 2, "interfaces": 14}
    assert [i["name"] for i in doc["items"]] == ["node1", "node2", "pod1", "pod2"]
    assert doc["tunnels"][0] == {"from": {"netns": "node1", "name": "vxlan0"}, "to": {"netns": "node2", "name": "vxlan0"},
                                 "remote": "192.168.77.2", "vni": 1, "port": 8472, "mode": "unicast",
                                 "mac": "0e:00:00:00:00:02"}
    node1 = doc["items"][0]
    cni0 = next(i for i in node1["interfaces"] if i["name"] == "cni0")
    assert cni0["bridge"]["ports"] == [{"name": "veth0", "state": "forwarding", "up": True}]
    vx = next(i for i in node1["interfaces"] if i["name"] == "vxlan0")["vxlan"]
    assert vx["fdb"][0]["vtep"] == [{"netns": "node2", "name": "vxlan0"}]
    assert vx["neighbors"] == [{"dev": "vxlan0", "ip": "10.244.2.0", "mac": "0e:00:00:00:00:02", "state": "permanent"}]
    assert {(c["a"]["netns"], c["b"]["netns"]) for c in doc["cables"]} == {("node1", "node2"), ("node1", "pod1"),
                                                                          ("node2", "pod2")}


def test_a_tunnel_to_nowhere_is_shown_as_such():
    lab = flood_overlay()
    lab.fdb("node1", "vxlan0", "00:00:00:00:00:00", dst="192.168.77.9")
    doc = build(lab.topo(), lab=None, labs=[])
    ghost = [t for t in doc["tunnels"] if t["remote"] == "192.168.77.9"]
    assert ghost == [{"from": {"netns": "node1", "name": "vxlan0"}, "to": None, "remote": "192.168.77.9", "vni": 1,
                      "port": 8472, "mode": "flood", "mac": "00:00:00:00:00:00"}]
    assert '"(host)/vtep 192.168.77.9" [label="192.168.77.9\\nno VTEP observed"' in graph.dot(doc)


def test_trace_document_matches_the_published_schema():
    topo = routed_overlay().topo()
    for dst in ("pod2", "10.244.2.99"):
        a, b = resolve(topo, "pod1", "SRC"), resolve(topo, dst, "DST")
        t = trace_pair(topo, a, b, packet(a, b, "icmp", None, None))
        jsonschema.validate({"apiVersion": "kubenetctl/v1", "kind": "Trace", **t.to_dict()}, schema("trace"))


# -- labs ------------------------------------------------------------------------------------------------
def test_labs_are_found_by_marker(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path))
    owners = {"a": "lab/x", "b": "lab/x", "c": "cli", "d": None, "e": "lab/y"}
    assert labs.labs_in(owners.values()) == ["x", "y"]
    assert labs.lab_namespaces(owners, "x") == ["a", "b"]
    assert labs.lab_namespaces(owners, "x", extra=["c", "gone"]) == ["a", "b", "c"]
    assert labs.lab_state("x") is None  # no recorded state: the kernel alone


def test_recorded_state_gives_pod_names_roles_and_what_the_lab_made(tmp_path, monkeypatch):
    from kubenetctl.state.journal import LabState as Recorded, key_id
    from kubenetctl.state.store import Store

    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path))
    made = [Netns("x-n1"), Netns("x-web"), Link("x-n1", "cni0", "bridge")]
    rec = Recorded("x", "lab/x", created={key_id(r.key): r.to_dict() for r in made},
                   pods=[{"name": "web", "node": "n1", "netns": "x-web", "local": True, "addresses": {}},
                         {"name": "far", "node": "n2", "netns": "x-far", "local": False, "addresses": {}}],
                   nodes=[{"name": "n1", "netns": "x-n1", "local": True}])
    store = Store()
    import os

    os.makedirs(store.path("x"))
    store.write("x", rec)
    state = labs.lab_state("x")
    assert state.pods == {"web": "x-web"}  # a pod on another host (--node) is not here
    assert state.roles == {"x-n1": "node", "x-web": "pod"}
    assert state.namespaces == ["x-n1", "x-web"] and set(state.recorded) == set(made)


# -- drift ---------------------------------------------------------------------------------------------------
def _recorded() -> list:
    return [
        Netns("node1"), Netns("pod1"),
        Link("node1", "cni0", "bridge", mtu=1450), Address("node1", "cni0", "10.244.1.1/24"),
        Link("node1", "vxlan0", "vxlan", mtu=1450, vni=1, port=8472, local="192.168.77.1", dev="ul0", learning=False),
        Link("node1", "veth0", "veth", mtu=1450, master="cni0", peer="eth0", peer_netns="pod1"),
        Link("pod1", "eth0", "veth", mtu=1450, peer="veth0", peer_netns="node1"),
        Fdb("node1", "vxlan0", "0e:00:00:00:00:02", "192.168.77.2"),
        Route("pod1", "0.0.0.0/0", via="10.244.1.1", dev="eth0"),
        Sysctl("node1", "net.ipv4.ip_forward", "1"),
    ]


def test_no_drift_on_a_faithful_kernel():
    lab = routed_overlay()
    lab.snap.add(Sysctl("node1", "net.ipv4.ip_forward", "1"))
    d = drift(_recorded(), lab.snap, namespaces=["node1", "pod1"])
    extra = {r.describe() for r in d.foreign}
    assert not d.missing and not d.changed
    # the lab recorded only part of node1: the rest shows as foreign, the kernel's own routes never
    assert "address 10.244.1.0/32 on vxlan0 (netns node1)" in extra
    assert not any("proto kernel" in x or "lo " in x for x in extra)


def test_drift_missing_changed_foreign():
    lab = routed_overlay().set_link("node1", "cni0", mtu=1400).set_link("pod1", "eth0", up=False)
    lab.drop_fdb("node1", "vxlan0", "0e:00:00:00:00:02")
    lab.drop(("route", "pod1", 254, "0.0.0.0/0", None)).route("pod1", "default", via="10.244.1.9", dev="eth0")
    lab.snap.add(Sysctl("node1", "net.ipv4.ip_forward", "0"))
    lab.snap.add(Link("pod1", "extra0", "veth", peer="x", peer_netns="elsewhere"), "lab/demo")
    lab.snap.add(Link("stray", "foo", "bridge"), "lab/demo")
    d = drift(_recorded(), lab.snap, owner="lab/demo", namespaces=["node1", "pod1"])
    assert [r.describe() for r in d.missing] == ["fdb 0e:00:00:00:00:02 dst 192.168.77.2 dev vxlan0 (netns node1)"]
    changed = {rec.describe(): [(c.field, c.old, c.new) for c in ch] for rec, _, ch in d.changed}
    assert changed == {
        "bridge cni0 (netns node1)": [("mtu", 1400, 1450)],
        "veth eth0 (netns pod1)": [("up", False, True)],
        "route default via 10.244.1.1 dev eth0 (netns pod1)": [("via", "10.244.1.9", "10.244.1.1")],
        "sysctl net.ipv4.ip_forward=1 (netns node1)": [("value", "0", "1")],
    }
    foreign = {r.describe() for r in d.foreign}
    assert "veth extra0 (netns pod1)" in foreign and "bridge foo (netns stray)" in foreign
    assert d.to_dict()["clean"] is False


def test_a_missing_namespace_stands_for_its_contents():
    lab = routed_overlay()
    lab.snap.add(Sysctl("node1", "net.ipv4.ip_forward", "1"))
    for key in [k for k in lab.snap.resources if (k[0] == "netns" and k[1] == "pod1") or (k[0] != "netns" and k[1] == "pod1")]:
        lab.drop(key)
    d = drift(_recorded(), lab.snap, namespaces=["node1", "pod1"])
    assert [r.describe() for r in d.missing] == ["netns pod1"]


# -- graphs -----------------------------------------------------------------------------------------------------
def test_dot_and_mermaid_draw_clusters_cables_and_tunnels():
    doc = build(routed_overlay().topo(), lab="demo", labs=["demo"])
    text = graph.dot(doc)
    assert text.startswith("graph topology {") and text.count("subgraph cluster_") == 4
    assert '"pod1/eth0" -- "node1/cni0" [label="veth0"' in text
    assert '"node1/vxlan0" -- "node2/vxlan0" [label="VXLAN vni 1 udp/8472 unicast"' in text
    assert '"node1/ul0" -- "node2/ul0" [label="underlay 192.168.77.0/24"' in text
    mm = graph.mermaid(doc)
    assert mm.startswith("flowchart LR") and mm.count("subgraph ") == 4 and mm.count("end\n") == 4
    assert '-. "VXLAN vni 1 udp/8472 unicast" .-' in mm


def test_vlans_are_coloured_by_id():
    lab = vlan_pair(10, 20)
    topo = Topology(lab.snap, lab.facts, roles={"nodeA": "node", "nodeB": "node"})
    text = graph.dot(build(topo, lab=None, labs=[]))
    assert 'label="VLAN 10"' in text and 'label="VLAN 20"' in text
    assert graph.VLAN_COLOURS[0] in text and graph.VLAN_COLOURS[1] in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed (apt-get install graphviz)")
def test_dot_output_is_valid_graphviz(tmp_path):
    for lab in (routed_overlay(), flood_overlay()):
        out = tmp_path / "t.svg"
        graph.render_image(graph.dot(build(lab.topo(), lab="demo", labs=[])), "svg", str(out))
        assert out.read_text().lstrip().startswith("<?xml")


def test_missing_graphviz_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(NotFound, match="needs Graphviz's 'dot', which is not installed") as info:
        graph.render_image("graph {}", "png", "/tmp/x.png")
    assert "apt-get install graphviz" in info.value.hint


# -- CLI -----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (["inspect", "--graph", "png"], "--graph png writes an image: give the file with -O FILE"),
    (["inspect", "-O", "x.svg"], "-O/--out goes with --graph"),
    (["inspect", "--graph", "gif"], "Invalid value for '--graph'"),
    (["trace", "a", "b", "--proto", "sctp"], "Invalid value for '--proto'"),
    (["trace", "a", "b", "--port", "70000"], "--port: port 70000 is out of range"),
    (["trace", "a", "b", "--size", "20"], "--size: 20 is out of range 28..65535"),
    (["trace", "a", "b", "--timeout", "0"], "--timeout: 0.0 is out of range"),
    (["trace", "a"], "Missing argument 'DST'"),
])
def test_bad_input_is_one_line_exit_2(args, needle):
    result = kn(*args)
    assert result.code == ExitCode.USAGE, result
    assert needle in one_error_line(result) and result.stdout == ""


def test_help_and_startup_do_not_load_pyroute2():
    code = (
        "import sys\nfrom kubenetctl.cli.main import app\nimport typer\n"
        "for args in (['inspect', '--help'], ['trace', '--help']):\n"
        "    try:\n        typer.main.get_command(app).main(args=args, prog_name='kubenetctl', standalone_mode=False)\n"
        "    except SystemExit:\n        pass\n"
        "sys.stderr.write(' '.join(m for m in sys.modules if m.startswith('pyroute2')))\n"
    )
    proc = subprocess.run([__import__("sys").executable, "-c", code], capture_output=True, text=True)
    assert proc.stderr.strip() == ""


def test_namespace_owners_ask_each_loopback_once_on_the_fast_path():
    from pyroute2.netlink.exceptions import NetlinkError

    from kubenetctl.netlink.facts import namespace_owners

    class Msg:
        def get_attr(self, name: str) -> str | None:
            return "kubenetctl:lab/x" if name == "IFLA_IFALIAS" else None

    class Channel:
        def __init__(self, name: str) -> None:
            self.name = name

        def request(self, *_: object, **__: object) -> list[Msg]:
            if self.name == "gone":
                raise NetlinkError(22)  # deleted meanwhile
            return [Msg()]

    class Sessions:
        def fast(self, name: str) -> Channel:
            return Channel(name)

        def get(self, name: str) -> None:
            raise AssertionError("a full IPRoute session for one loopback")

    assert namespace_owners(Sessions(), ["a", "gone", "b"]) == {"a": "lab/x", "b": "lab/x"}  # type: ignore[arg-type]


def test_drift_compares_only_the_fields_a_record_states():
    from kubenetctl.inspect.drift import differences
    from kubenetctl.plan.ops import Change, field_changes

    recorded = Route("n", "10.9.0.0/24", via="10.0.0.1")  # no metric stated
    kernel = Route("n", "10.9.0.0/24", via="10.0.0.1", dev="eth0", metric=100)
    assert field_changes(recorded, kernel) == (Change("metric", 100, None),)  # plan: None is a wish
    assert field_changes(recorded, kernel, stated_only=True) == differences(recorded, kernel) == ()
    assert differences(recorded, Route("n", "10.9.0.0/24", via="10.0.0.9")) == (Change("via", "10.0.0.9", "10.0.0.1"),)
