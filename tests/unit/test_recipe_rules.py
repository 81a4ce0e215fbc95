"""Recipe rules found missing in review: each recipe here used to validate (or crash) and
fail later at the kernel or in check; now validate names the file, line and field."""

import pytest

from kubenetctl.recipe import compile_document, loads

HEAD = "apiVersion: kubenetctl/v1\nkind: Lab\nmetadata: {name: rules}\nspec:\n"


def problems(spec: str) -> list[str]:
    doc = loads(HEAD + spec, "r.yaml")
    compiled, found = compile_document(doc)
    assert (compiled is None) == bool(found)
    return [p.text("r.yaml") for p in found]


ROUTED = """  nodes: [{name: n1}]
  networks: [{name: pods, cidr: 10.244.0.0/16}]
  pods: [{name: a, node: n1, networks: [{network: pods, ip: %s}]}]
"""
FLOOD = """  nodes: [{name: n1}, {name: n2}]
  networks: [{name: l2, cidr: 10.10.0.0/24, nodePrefix: 25, overlay: {mode: flood}}]
  pods: [{name: a, node: n2, networks: [{network: l2, ip: %s}]}]
"""


@pytest.mark.parametrize("ip, what", [("10.244.0.0", "network address"), ("10.244.0.1", "gateway address"),
                                      ("10.244.0.255", "broadcast address")])
def test_a_fixed_pod_ip_cannot_be_a_reserved_address_of_its_slice(ip, what):
    assert problems(ROUTED % ip) == [
        f"r.yaml:7:61: spec.pods[0].networks[0].ip: {ip} is the {what} of node n1's slice 10.244.0.0/24 of network pods, not a pod's"]


def test_a_fixed_pod_ip_in_a_slice_is_fine():
    assert problems(ROUTED % "10.244.0.7") == []


@pytest.mark.parametrize("ip, what", [("10.10.0.0", "network address"), ("10.10.0.255", "broadcast address")])
def test_a_fixed_pod_ip_in_an_l2_network_cannot_be_its_network_or_broadcast(ip, what):
    assert problems(FLOOD % ip) == [
        f"r.yaml:7:59: spec.pods[0].networks[0].ip: {ip} is the {what} of network l2 (10.10.0.0/24), not a pod's"]


def test_an_l2_pod_may_take_any_host_address_of_the_network():
    assert problems(FLOOD % "10.10.0.1") == []



def test_deep_nesting_is_a_problem_not_a_crash():
    doc = loads(HEAD + "  nodes: " + "[" * 1000 + "]" * 1000 + "\n", "deep.yaml")
    assert doc.data is None
    assert [p.text("deep.yaml") for p in doc.problems] == ["deep.yaml:1:1: the recipe nests too deeply"]


def test_default_is_a_route_destination_only():
    assert problems("  underlay: {cidr: default}\n") == [
        "r.yaml:5:20: spec.underlay.cidr: 'default' is not a network (like 10.244.1.0/24)"]
    assert problems("  namespaces: [{name: x}]\n  links: [{netns: x, name: br0, kind: bridge}]\n"
                    "  routes: [{netns: x, dst: default, dev: br0}]\n") == []


@pytest.mark.parametrize("route, message", [
    ("{dst: 10.1.0.0/16}", "spec.routes[0]: a route needs via, dev or both"),
    ("{dst: 10.1.0.0/16, via: 10.0.0.1, onlink: true}", "spec.routes[0]: onlink needs dev"),
    ("{dst: 10.1.0.0/16, via: 10.0.0.1, table: 255}", "spec.routes[0].table: 255 is not a usable table id"),
    ("{dst: 10.1.0.0/16, via: 10.0.0.1, metric: -1}", "spec.routes[0].metric: metric -1 is out of range 0..4294967295"),
])
def test_route_rules_of_the_cli_hold_in_recipes(route, message):
    assert [p.split(": ", 1)[1] for p in problems(f"  routes: [{route}]\n")] == [message]


def test_a_veth_cannot_have_both_ends_of_one_name_in_one_namespace():
    assert problems("  links: [{name: a, kind: veth, peer: {name: a}}]\n") == [
        "r.yaml:5:11: spec.links[0]: both ends are named a in the same namespace"]


PINGS = """  nodes: [{name: n1}]
  networks: [{name: pods, cidr: 10.244.0.0/16}]
  pods: [{name: a, node: n1, networks: [pods]}]
  expect: [%s]
"""


def test_expect_to_takes_ipv4_addresses_only():
    assert problems(PINGS % "{from: a, to: 192.168.77.1}") == []
    assert problems(PINGS % "{from: a, to: 'fd00::1'}") == [
        "r.yaml:8:26: spec.expect[0].to: fd00::1 is an IPv6 address; check pings IPv4 only"]


@pytest.mark.parametrize("field", ["from", "to"])
def test_expect_refs_need_an_item(field):
    exp = "{from: [], to: a}" if field == "from" else "{from: a, to: []}"
    assert [p.split(": ", 1)[1] for p in problems(PINGS % exp)] == [f"spec.expect[0].{field}: needs at least 1 item(s)"]
