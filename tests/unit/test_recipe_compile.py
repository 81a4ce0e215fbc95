"""Compiling recipes to the resource model: golden plans for every bundled recipe (as
`plan` shows them on an empty machine), naming, address stability, --node parts."""

import ipaddress
import json
import os
from pathlib import Path

import pytest

from kubenetctl.lab.plan import apply_plan
from kubenetctl.recipe import compile_document, compile_file, loads
from kubenetctl.recipe.naming import Namer, fit, hashed, vtep_mac
from kubenetctl.snapshot import Snapshot
from tests.recipes import BUNDLED, bundled

PLANS = Path(__file__).parent / "golden" / "plans"
UPDATE = os.environ.get("KUBENETCTL_UPDATE_GOLDEN") == "1"
NODE_PARTS = [("vxlan-routed", "node1"), ("vxlan-routed", "node2"), ("vlan-split", "node2")]


def golden_plan(name, node=None):
    compiled = compile_file(str(bundled(name)), node=node)
    plan = apply_plan(compiled.resources, compiled.adopt, Snapshot(), compiled.owner, None)
    return {
        "lab": compiled.lab, "node": node,
        "ops": [op.to_dict() for op in plan.ops],
        "allocations": compiled.allocations,
        "expect": compiled.expect,
    }


def check_golden(data, path):
    text = json.dumps(data, indent=1) + "\n"
    if UPDATE:
        path.write_text(text)
    assert json.loads(path.read_text()) == json.loads(text), f"{path.name} differs (see module doc to regenerate)"


@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_recipe_plan_matches_golden(name):
    check_golden(golden_plan(name), PLANS / f"{name}.json")


@pytest.mark.parametrize("name,node", NODE_PARTS, ids=[f"{n}-{node}" for n, node in NODE_PARTS])
def test_node_part_matches_golden(name, node):
    check_golden(golden_plan(name, node), PLANS / f"{name}.{node}.json")


def test_flannel_entries_of_the_routed_overlay():
    compiled = compile_file(str(bundled("vxlan-routed")))
    res = {r.key: r for r in compiled.resources}
    vx = res[("link", "vxlan-routed-node1", "flannel.1")]
    assert (vx.vni, vx.port, vx.mtu, vx.learning, vx.local, vx.dev) == (1, 8472, 1450, False, "192.168.77.2", "eth0")
    mac2 = vtep_mac("vxlan-routed/node2/podnet")
    assert res[("link", "vxlan-routed-node2", "flannel.1")].mac == mac2
    assert ("fdb", "vxlan-routed-node1", "flannel.1", mac2, "192.168.77.3") in res
    assert res[("neighbor", "vxlan-routed-node1", "flannel.1", "10.244.2.0")].mac == mac2
    route = res[("route", "vxlan-routed-node1", 254, "10.244.2.0/24", None)]
    assert (route.via, route.dev, route.onlink) == ("10.244.2.0", "flannel.1", True)
    pod_end = res[("link", "vxlan-routed-web", "eth0")]
    assert pod_end.mtu == 1450 and pod_end.peer.startswith("veth")


def test_node_part_lives_in_the_host_namespace_and_sees_peers():
    one = compile_file(str(bundled("vxlan-routed")), node="node1")
    two = compile_file(str(bundled("vxlan-routed")), node="node2")
    netns = {getattr(r, "netns", None) if r.TYPE != "netns" else r.name for r in one.resources}
    assert netns == {None, "vxlan-routed-web"}  # node1 itself is the host; only its pod gets a namespace
    assert not any("node2" in json.dumps(r.to_dict()) for r in one.resources)
    # each host computes the other's VTEP MAC the same way
    mac_of_two_seen_by_one = next(r.mac for r in one.resources if r.TYPE == "neighbor")
    assert mac_of_two_seen_by_one == next(r.mac for r in two.resources if r.TYPE == "link" and r.kind == "vxlan")
    # check data: db is remote for node1
    assert {p["name"]: p["local"] for p in one.pods} == {"web": True, "db": False}
    assert [e["local"] for e in one.expect] == [True, False, True]


def _recipe(pods):
    lines = "\n".join(f"    - {{name: {p}, node: node1, networks: [podnet]}}" for p in pods)
    return f"""apiVersion: kubenetctl/v1
kind: Lab
metadata: {{name: ipam}}
spec:
  nodes: [{{name: node1}}]
  networks: [{{name: podnet, cidr: 10.9.0.0/16}}]
  pods:
{lines}
"""


def test_addresses_stay_put_when_pods_come_and_go():
    first, problems = compile_document(loads(_recipe(["a", "b", "c", "d"]), "r.yaml"))
    assert problems == []
    before = first.allocations
    assert [before[f"{p}/podnet"] for p in "abcd"] == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5"]
    # b removed, e added: a, c, d keep theirs; e takes the first free one (b's old address)
    second, problems = compile_document(loads(_recipe(["a", "c", "d", "e"]), "r.yaml"), previous=before)
    assert problems == []
    after = second.allocations
    assert [after[f"{p}/podnet"] for p in "acd"] == ["10.9.0.2", "10.9.0.4", "10.9.0.5"]
    assert after["e/podnet"] == "10.9.0.3"
    # without the memory, order decides (what a fresh lab gets)
    fresh, _ = compile_document(loads(_recipe(["a", "c", "d", "e"]), "r.yaml"))
    assert fresh.allocations["c/podnet"] == "10.9.0.3"


def test_node_slices_are_carved_in_order_and_remembered():
    text = """apiVersion: kubenetctl/v1
kind: Lab
metadata: {name: slices}
spec:
  nodes: [{name: n1}, {name: n2, podCIDR: 10.244.0.0/24}, {name: n3}]
  networks: [{name: podnet, cidr: 10.244.0.0/16, overlay: {vni: 1}}]
  pods:
    - {name: p, replicas: 3, nodes: [n1, n2, n3], networks: [podnet]}
"""
    compiled, problems = compile_document(loads(text, "s.yaml"))
    assert problems == []
    slices = {k: v for k, v in compiled.allocations.items() if k.startswith("slice/")}
    assert slices == {"slice/podnet/n1": "10.244.1.0/24", "slice/podnet/n2": "10.244.0.0/24", "slice/podnet/n3": "10.244.2.0/24"}
    for k, pod in enumerate(["p-0", "p-1", "p-2"]):
        node = f"n{k + 1}"
        assert ipaddress.ip_address(compiled.allocations[f"{pod}/podnet"]) in ipaddress.ip_network(slices[f"slice/podnet/{node}"])


def test_multus_pod_gets_eth0_net1_and_only_one_default_route():
    compiled = compile_file(str(bundled("cluster4")))
    api0 = [r for r in compiled.resources if getattr(r, "netns", None) == "cluster4-api-0"]
    links = sorted(r.name for r in api0 if r.TYPE == "link")
    routes = [r for r in api0 if r.TYPE == "route"]
    assert links == ["eth0", "net1"]
    assert [(r.dst, r.via) for r in routes] == [("0.0.0.0/0", "10.244.0.1")]


def test_expectations_expand_sets_and_pick_a_shared_network():
    compiled = compile_file(str(bundled("vlan-split")))
    pairs = {(e["from"], e["to"]): e for e in compiled.expect}
    assert pairs[("both", "red1")]["network"] == "red"  # both shares red with red1
    assert pairs[("blue1", "both")]["network"] == "blue"
    assert pairs[("blue1", "red2")]["reach"] is False and pairs[("blue1", "red2")]["network"] == "red"
    cluster = compile_file(str(bundled("cluster4")))
    assert sum(1 for e in cluster.expect if e["path"] == "spec.expect[0]") == 16 * 8


def test_fit_keeps_short_names_and_hashes_long_ones():
    assert fit("cni0") == "cni0"
    long = fit("br-frontend-network")
    assert len(long) == 15 and long.startswith("br-fronten-")  # the first 10 bytes, "-", 4 hex digits
    assert fit("br-frontend-network") == long  # deterministic
    assert hashed("veth", "lab/pod/net") == hashed("veth", "lab/pod/net") != hashed("veth", "lab/pod/other")
    assert len(hashed("abcdefghi", "x")) == 15


def test_namer_resolves_collisions_deterministically():
    namer = Namer()
    assert namer.claim("ns", "eth0") and not namer.claim("ns", "eth0")
    assert namer.readable("ns", "eth0") != "eth0"  # taken: hashed variant
    a = Namer()
    first = [a.hashed("ns", "v", "same-key") for _ in range(3)]
    assert len(set(first)) == 3  # same key three times: three distinct names
    b = Namer()
    assert [b.hashed("ns", "v", "same-key") for _ in range(3)] == first


def test_vtep_mac_is_unicast_and_locally_administered():
    mac = vtep_mac("lab/node1/podnet")
    first = int(mac[:2], 16)
    assert first & 1 == 0 and first & 2 == 2 and len(mac) == 17
