"""trace and inspect against real two-node overlays: the predicted path is the path real packets
take (--probe captures them on every hop), and each way of breaking the overlay is named at the
right hop with the right reason, statically and with --probe. Real ping confirms each verdict."""

from __future__ import annotations

import json
import shutil
import subprocess

import jsonschema
import pytest

from kubenetctl.errors import ExitCode
from tests.helpers import ping
from tests.integration.overlays import Overlay, build, ip_json, sh, teardown
from tests.unit.test_inspect import schema


@pytest.fixture
def routed(kn, names):  # type: ignore[no-untyped-def]
    o = build(kn, names, "routed")
    yield o
    teardown(o)


@pytest.fixture
def flood(kn, names):  # type: ignore[no-untyped-def]
    o = build(kn, names, "flood")
    yield o
    teardown(o)


def trace(kn, o: Overlay, *args: str, probe: bool = False) -> tuple[int, dict]:  # type: ignore[no-untyped-def]
    result = kn("-o", "json", "trace", *args, "--lab", o.lab, *(["--probe", "--timeout", "1.5"] if probe else []))
    assert result.code in (0, ExitCode.CHECK_FAILED), result
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema("trace"))
    return result.code, doc


def hops(path: dict) -> list[tuple]:
    return [(h["netns"], h["dev"], h["direction"]) for h in path["hops"]]


def expected_routed(o: Overlay) -> list[tuple]:
    (n1, n2), (p1, p2) = o.nodes, o.pods
    return [(p1, "eth0", "out"), (n1, "veth0", "in"), (n1, "cni0", "in"), (n1, "vxlan0", "out"), (n1, "ul0", "out"),
            (n2, "ul0", "in"), (n2, "vxlan0", "in"), (n2, "cni0", "out"), (n2, "veth0", "out"), (p2, "eth0", "in")]


# -- the working overlays: prediction == reality ---------------------------------------------------
def test_trace_reads_outward_from_its_ends(kn, routed):
    from kubenetctl.inspect.gather import gather_trace
    from kubenetctl.trace.pair import packet, resolve, trace_pair

    o = routed

    def walk(seen):  # type: ignore[no-untyped-def]
        a, b = resolve(seen.topo, o.pods[0], "SRC"), resolve(seen.topo, o.pod_ips[1], "DST")
        return trace_pair(seen.topo, a, b, packet(a, b, "icmp", None, None))

    seen, result = gather_trace(None, o.pods[0], o.pod_ips[1], walk)
    assert result.ok and hops(result.to_dict()["forward"]) == expected_routed(o)
    # pod1, then node1, then node2 (over the underlay cable), then pod2: not every namespace on the host
    assert set(seen.topo.namespaces()) == {*o.nodes, *o.pods}, seen.topo.namespaces()


def test_routed_overlay_prediction_matches_the_probe(kn, routed):
    o = routed
    assert ping(o.pods[0], o.pod_ips[1])
    code, doc = trace(kn, o, o.pods[0], o.pods[1], probe=True)
    assert code == 0 and doc["reachable"]
    assert hops(doc["forward"]) == expected_routed(o)
    assert hops(doc["reply"])[0] == (o.pods[1], "eth0", "out") and hops(doc["reply"])[-1] == (o.pods[0], "eth0", "in")
    probe = doc["probe"]
    assert probe["agrees"], probe
    assert all(probe["forward"]["seen"]) and all(probe["reply"]["seen"])
    assert len(probe["forward"]["seen"]) == 10 and len(probe["reply"]["seen"]) == 10
    encap = [h for h in doc["forward"]["hops"] if "encap" in h]
    assert encap[0]["encap"] == {"src": "192.168.77.1", "dst": "192.168.77.2", "vni": 1, "port": 8472}


@pytest.mark.parametrize("proto", ["tcp", "udp"])
def test_tcp_and_udp_probes_follow_the_predicted_path(kn, routed, proto):
    o = routed
    code, doc = trace(kn, o, o.pod_ips[0], o.pod_ips[1], "--proto", proto, "--port", "8080", probe=True)
    # nothing listens: TCP answers with a reset, UDP with 'port unreachable'; both travel the reply path
    assert code == 0 and doc["probe"]["agrees"], doc["probe"]
    assert all(doc["probe"]["reply"]["seen"])


def test_flood_overlay_prediction_matches_the_probe(kn, flood):
    o = flood
    assert ping(o.pods[0], o.pod_ips[1])
    code, doc = trace(kn, o, o.pods[0], o.pod_ips[1], probe=True)
    assert code == 0 and doc["probe"]["agrees"], doc["probe"]
    (n1, n2), (p1, p2) = o.nodes, o.pods
    assert hops(doc["forward"]) == [(p1, "eth0", "out"), (n1, "veth0", "in"), (n1, "vxlan0", "out"),
                                    (n1, "ul0", "out"), (n2, "ul0", "in"), (n2, "vxlan0", "in"),
                                    (n2, "veth0", "out"), (p2, "eth0", "in")]
    assert "default entry 00:00:00:00:00:00 dev vxlan0 dst 192.168.77.2" in json.dumps(doc["forward"])


def test_human_view_names_every_hop(kn, routed):
    o = routed
    result = kn("trace", o.pods[0], o.pods[1], "--lab", o.lab)
    assert result.code == 0, result
    assert "VXLAN vni 1: outer 192.168.77.1 -> 192.168.77.2 udp/8472" in result.stdout
    assert "reachable: the packet gets there and the reply comes back" in result.stdout


# -- inspect -----------------------------------------------------------------------------------------------
def test_inspect_lab_matches_the_kernel(kn, routed):
    o = routed
    result = kn("-o", "json", "inspect", o.lab)
    assert result.code == 0, result
    doc = json.loads(result.stdout)
    jsonschema.validate(doc, schema("topology"))
    roles = {i["name"]: i["role"] for i in doc["items"]}
    assert roles == {o.nodes[0]: "node", o.nodes[1]: "node", o.pods[0]: "pod", o.pods[1]: "pod"}
    assert {i["name"]: i["node"] for i in doc["items"] if i["role"] == "pod"} == dict(zip(o.pods, o.nodes))
    assert all(i["owner"] == f"lab/{o.lab}" for i in doc["items"])
    for i, node in enumerate(o.nodes):
        kernel = ip_json(node, "-d", "link", "show", "vxlan0")[0]["linkinfo"]["info_data"]
        item = next(x for x in doc["items"] if x["name"] == node)
        vx = next(f for f in item["interfaces"] if f["name"] == "vxlan0")["vxlan"]
        assert (vx["vni"], vx["port"], vx["local"]) == (kernel["id"], kernel["port"], kernel["local"])
        assert [e["mac"] for e in vx["fdb"]] == [o.vtep_macs[1 - i]]
        ports = [p["ifname"] for p in ip_json(node, "link", "show", "master", "cni0")]
        cni0 = next(f for f in item["interfaces"] if f["name"] == "cni0")
        assert [p["name"] for p in cni0["bridge"]["ports"]] == ports
    tunnels = {(t["from"]["netns"], t["to"]["netns"]) for t in doc["tunnels"]}
    assert tunnels == {(o.nodes[0], o.nodes[1]), (o.nodes[1], o.nodes[0])}


def test_inspect_views(kn, routed, tmp_path):
    o = routed
    tree = kn("inspect", o.lab)
    assert tree.code == 0 and f"lab {o.lab}: 2 nodes, 2 pods" in tree.stdout and "port veth0  forwarding" in tree.stdout
    compact = kn("inspect", o.lab, "--compact")
    assert compact.code == 0 and compact.stdout.count("\n") == 1 + 10  # header + 10 interfaces (lo left out)
    everything = kn("-o", "json", "inspect")
    assert everything.code == 0
    doc = json.loads(everything.stdout)
    assert doc["lab"] is None and o.lab in doc["labs"]
    assert {o.pods[0], o.pods[1]} <= {i["name"] for i in doc["items"]}
    assert doc["items"][0]["role"] == "host"
    dot = kn("inspect", o.lab, "--graph", "dot")
    assert dot.code == 0 and f'"{o.pods[0]}/eth0" -- "{o.nodes[0]}/cni0"' in dot.stdout
    mermaid = tmp_path / "lab.mmd"
    assert kn("inspect", o.lab, "--graph", "mermaid", "-O", str(mermaid)).code == 0
    assert mermaid.read_text().startswith(kn("inspect", o.lab, "--graph", "mermaid").stdout.splitlines()[0])
    assert shutil.which("dot"), "Graphviz is not installed (scripts/setup --test installs it)"
    out = tmp_path / "lab.svg"
    assert kn("inspect", o.lab, "--graph", "svg", "-O", str(out)).code == 0
    assert "<svg" in out.read_text()


def test_inspect_unknown_lab(kn):
    result = kn("inspect", "no-such-lab-here")
    assert result.code == ExitCode.NOT_FOUND
    assert "no lab named 'no-such-lab-here'" in result.stderr


# -- each fault class, statically and with --probe ------------------------------------------------------------
def _break(o: Overlay, fault: str) -> None:
    n1, n2 = o.nodes
    if fault == "fdb":
        sh("bridge", "-n", n1, "fdb", "del", o.vtep_macs[1], "dev", "vxlan0", "dst", "192.168.77.2")
    elif fault == "neighbour":
        sh("ip", "-n", n1, "neigh", "del", "10.244.2.0", "dev", "vxlan0")
    elif fault == "port-down":
        sh("ip", "-n", n2, "link", "set", "veth0", "down")
    elif fault == "underlay-down":
        sh("ip", "-n", n1, "link", "set", "ul0", "down")
    elif fault == "mtu":
        sh("ip", "-n", n2, "link", "set", "veth0", "mtu", "1000")
    elif fault == "route":
        sh("ip", "-n", n1, "route", "del", "10.244.2.0/24")
    elif fault == "forwarding":
        sh("ip", "netns", "exec", n2, "sysctl", "-qw", "net.ipv4.ip_forward=0")
    elif fault == "flood-entry":
        sh("bridge", "-n", n1, "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan0", "dst", "192.168.77.2")


FAULTS = [
    # fault, mode, (reason, node index, dev), --size, last hop seen (node index, dev, dir) or None
    ("fdb", "routed", ("no_fdb", 0, "vxlan0"), None, (0, "vxlan0", "out")),
    ("neighbour", "routed", ("no_neighbor", 0, "vxlan0"), None, (0, "cni0", "in")),
    ("port-down", "routed", ("link_down", 1, "veth0"), None, (1, "vxlan0", "in")),
    ("underlay-down", "routed", ("link_down", 0, "ul0"), None, (0, "vxlan0", "out")),
    ("mtu", "routed", ("mtu", 1, None), "1200", (1, "vxlan0", "in")),
    ("route", "routed", ("no_route", 0, None), None, (0, "cni0", "in")),
    ("forwarding", "routed", ("forwarding_disabled", 1, "vxlan0"), None, (1, "vxlan0", "in")),
    ("flood-entry", "flood", ("no_fdb", 0, "vxlan0"), None, None),
]


@pytest.mark.parametrize("fault,mode,where,size,last", FAULTS, ids=[f[0] for f in FAULTS])
def test_each_fault_is_named_at_the_right_hop(kn, names, fault, mode, where, size, last):
    o = build(kn, names, mode)
    try:
        assert ping(o.pods[0], o.pod_ips[1], size=int(size) - 28 if size else None, dont_fragment=True)
        _break(o, fault)
        assert not ping(o.pods[0], o.pod_ips[1], size=int(size) - 28 if size else None, dont_fragment=True)
        sh("ip", "-n", o.pods[0], "route", "flush", "cache")  # forget the path MTU that ping just learned
        extra = ("--size", size) if size else ()
        reason, node, dev = where
        code, static = trace(kn, o, o.pods[0], o.pods[1], *extra)
        stop = static["forward"]["stop"]
        assert code == ExitCode.CHECK_FAILED and not static["reachable"]
        assert stop is not None, static["forward"]
        assert (stop["reason"], stop["netns"]) == (reason, o.nodes[node]), stop
        if dev is not None:
            assert stop["dev"] == dev, stop
        assert stop["message"] and stop.get("hint"), stop
        if fault == "mtu":
            assert "1200 bytes" in stop["message"] and "MTU 1000" in stop["message"] and "1450" in stop["message"]
        code, probed = trace(kn, o, o.pods[0], o.pods[1], *extra, probe=True)
        assert code == ExitCode.CHECK_FAILED
        assert probed["forward"]["stop"]["reason"] == reason
        report = probed["probe"]
        assert report["agrees"], report
        seen = report["forward"]["seen"]
        assert all(seen), report
        if last is not None:
            i, ldev, ldir = last
            assert hops(probed["forward"])[-1] == (o.nodes[i], ldev, ldir)
            assert report["summary"].startswith(f"as predicted: the probe vanished after hop {len(seen)} ({ldev} in")
        if fault == "mtu":
            assert any("fragmentation needed (mtu 1000)" in e for e in report["icmpErrors"]), report
    finally:
        teardown(o)


def test_destination_not_in_any_pod(kn, routed):
    o = routed
    code, doc = trace(kn, o, o.pods[0], "10.244.2.99", probe=True)
    stop = doc["forward"]["stop"]
    assert code == ExitCode.CHECK_FAILED and doc["dst"]["known"] is False
    assert (stop["reason"], stop["netns"], stop["dev"]) == ("no_destination", o.nodes[1], "cni0")
    assert doc["probe"]["agrees"] and all(doc["probe"]["forward"]["seen"])


def test_a_learned_path_mtu_is_read_and_named(kn, routed):
    o = routed
    sh("ip", "-n", o.nodes[1], "link", "set", "veth0", "mtu", "1000")
    for _ in range(2):  # the 'fragmentation needed' that comes back teaches pod1 the path MTU
        assert not ping(o.pods[0], o.pod_ips[1], size=1172, dont_fragment=True)
    cache = subprocess.run(["ip", "-n", o.pods[0], "route", "show", "cache"], capture_output=True, text=True).stdout
    assert "mtu 1000" in cache, cache
    code, doc = trace(kn, o, o.pods[0], o.pods[1], "--size", "1200")
    stop = doc["forward"]["stop"]
    assert (stop["reason"], stop["netns"], stop["dev"]) == ("mtu", o.pods[0], "eth0")
    assert f"path MTU 1000 that netns {o.pods[0]} learned for {o.pod_ips[1]}" in stop["message"]
    code, doc = trace(kn, o, o.pods[0], o.pods[1], "--size", "1200", probe=True)
    assert doc["probe"]["agrees"] and doc["probe"]["sendError"].startswith("message too long"), doc["probe"]


def test_trace_between_namespaces_of_one_lab_reads_only_that_lab(kn, routed):
    o = routed
    result = kn("-o", "json", "trace", o.pods[0], o.pods[1])
    assert result.code == 0, result
    assert json.loads(result.stdout)["lab"] == o.lab
    from kubenetctl.inspect.gather import gather_trace

    seen, _ = gather_trace(None, o.pods[0], o.pod_ips[1], lambda seen: None)
    assert seen.lab is None  # an address: not known to be the lab's, so the whole host may be read


def test_trace_in_a_lab_reads_only_the_lab_and_refuses_an_unknown_lab(kn, routed, names):
    from kubenetctl.errors import NotFound
    from kubenetctl.inspect.gather import gather_trace

    o = routed
    foreign = names.ns("foreign")  # cabled to a node of the lab, but not the lab's
    sh("ip", "netns", "add", foreign)
    try:
        sh("ip", "-n", o.nodes[0], "link", "add", names.link("fx"), "type", "veth", "peer", "name", "eth0",
           "netns", foreign)
        seen, _ = gather_trace(o.lab, o.pods[0], o.pods[1], lambda seen: None)  # never there: reads outward
        assert foreign not in seen.topo.namespaces() and set(seen.topo.namespaces()) == {*o.nodes, *o.pods}
        with pytest.raises(NotFound, match="no lab named"):
            gather_trace(names.ns("typo"), o.pods[0], o.pods[1], lambda seen: None)
        result = kn("trace", o.pods[0], o.pods[1], "--lab", names.ns("typo"))
        assert result.code == ExitCode.NOT_FOUND and "no lab named" in result.stderr, result
    finally:
        sh("ip", "netns", "del", foreign)


def test_trace_from_the_host_reads_outward_from_it(kn, names):
    from kubenetctl.inspect.gather import gather_trace
    from kubenetctl.trace.pair import walk_pair

    pod, other, host_end = names.ns("pod"), names.ns("other"), names.link("h")
    sh("ip", "netns", "add", pod)
    sh("ip", "netns", "add", other)  # not cabled to anything: reading it would be reading everything
    try:
        sh("ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", pod)
        sh("ip", "addr", "add", "198.18.77.1/30", "dev", host_end)
        sh("ip", "link", "set", host_end, "up")
        sh("ip", "-n", pod, "addr", "add", "198.18.77.2/30", "dev", "eth0")
        sh("ip", "-n", pod, "link", "set", "eth0", "up")
        seen, result = gather_trace(None, "host", pod, lambda seen: walk_pair(seen.topo, "host", pod, seen.pods))
        assert result.ok, result.to_dict()
        assert set(seen.topo.namespaces()) == {None, pod} and seen.read == 2
    finally:
        subprocess.run(["ip", "link", "del", host_end], capture_output=True)
        sh("ip", "netns", "del", pod)
        sh("ip", "netns", "del", other)
