"""802.1Q sub-interfaces through the real CLI, on a kernel that has them.

Runs in the full-kernel lane (scripts/kernel-lane: Debian's kernel under QEMU); on a
kernel without 802.1Q, tests/conftest.py reports these tests as skipped with the reason.
Kernel state is read back with iproute2 (`ip -j -d`), reachability with real pings.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import pytest

from kubenetctl.errors import ExitCode
from tests.conftest import ip_json
from tests.helpers import one_error_line, ping


def link(netns: str, name: str) -> dict | None:
    """The link as iproute2 shows it (`ip -j -d -n NETNS link`), or None."""
    return next((entry for entry in ip_json("-d", "link", "show", netns=netns) if entry["ifname"] == name), None)


def link_names(netns: str) -> list[str]:
    return sorted(entry["ifname"] for entry in ip_json("link", "show", netns=netns))


def addresses(netns: str, name: str) -> list[str]:
    found = ip_json("addr", "show", "dev", name, netns=netns)
    return [f"{a['local']}/{a['prefixlen']}" for a in found[0]["addr_info"] if a["family"] == "inet"] if found else []


def peer_netns_name(netns: str, nsid: int) -> str | None:
    return next((e.get("name") for e in ip_json("netns", "list-id", netns=netns) if e["nsid"] == nsid), None)


def actions(result) -> list[str]:  # type: ignore[no-untyped-def]
    assert result.code == 0, result
    return [item["action"] for item in result.json()["items"]]


@contextmanager
def namespaces(kn, *nss: str) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Namespaces made with `kubenetctl ns add`, always deleted (with all their links) at the end."""
    assert kn("ns", "add", *nss).code == 0
    try:
        yield
    finally:
        result = kn("ns", "del", *nss)
        assert result.code == 0, result


@pytest.fixture
def trunk(kn, names):  # type: ignore[no-untyped-def]
    """A node namespace with a trunk veth pair (both ends in the node) and an empty pod namespace."""
    node, pod = names.ns("node"), names.ns("pod")
    parent, other_end = names.link("tr"), names.link("tro")
    with namespaces(kn, node, pod):
        result = kn("veth", "add", parent, "--peer", other_end, "--netns", node)
        assert result.code == 0, result
        yield node, pod, parent


def vlan_add(kn, name: str, parent: str, node: str, vlan_id: int, pod: str, cidr: str):  # type: ignore[no-untyped-def]
    return kn("-o", "json", "vlan", "add", name, "--parent", parent, "--netns", node,
              "--id", str(vlan_id), "--into", pod, "--addr", cidr)


def test_vlan_lands_in_the_pod_with_its_id_and_parent(kn, names, trunk):
    node, pod, parent = trunk
    sub = names.link("v100")

    assert actions(vlan_add(kn, sub, parent, node, 100, pod, "10.77.1.1/24")) == ["created", "created"]

    got = link(pod, sub)
    assert got is not None, f"{sub} is not in {pod}: {link_names(pod)}"
    assert link(node, sub) is None, f"{sub} was left in the node namespace"
    info = got["linkinfo"]
    assert info["info_kind"] == "vlan"
    assert info["info_data"]["protocol"] == "802.1Q"
    assert info["info_data"]["id"] == 100
    # its lower device is the trunk in the node namespace
    assert got["link_index"] == link(node, parent)["ifindex"]
    assert peer_netns_name(pod, got["link_netnsid"]) == node
    assert "UP" in got["flags"]
    assert addresses(pod, sub) == ["10.77.1.1/24"]

    # the same add again changes nothing
    ifindex = got["ifindex"]
    assert actions(vlan_add(kn, sub, parent, node, 100, pod, "10.77.1.1/24")) == ["unchanged", "unchanged"]
    again = link(pod, sub)
    assert again is not None and again["ifindex"] == ifindex and again["linkinfo"]["info_data"]["id"] == 100

    # the same name with another VLAN id is a conflict that leaves the sub-interface alone
    other = vlan_add(kn, sub, parent, node, 101, pod, "10.77.1.1/24")
    assert other.code == ExitCode.CONFLICT, other
    assert "vlan_id is 100, wanted 101" in one_error_line(other)
    assert link(pod, sub)["linkinfo"]["info_data"]["id"] == 100

    # kubenetctl lists it with its parent, across namespaces
    listed = kn("-o", "json", "vlan", "list", "--netns", pod)
    assert listed.code == 0, listed
    rows = [row for row in listed.json()["items"] if row["name"] == sub]
    assert [(r["vlan_id"], r["parent"], r["parent_netns"]) for r in rows] == [(100, parent, node)]

    assert actions(kn("-o", "json", "vlan", "del", sub, "--netns", pod)) == ["deleted"]
    assert link(pod, sub) is None
    assert link(node, parent) is not None, "deleting the sub-interface took its parent"
    assert actions(kn("-o", "json", "vlan", "del", sub, "--netns", pod)) == ["absent"]


def test_vlan_100_pods_reach_each_other_across_a_trunk_and_vlan_200_does_not(kn, names):
    """Two nodes joined by a trunk veth; on each node one pod on VLAN 100 and one on VLAN 200,
    all four in the same IP subnet, so only the 802.1Q tag keeps the VLANs apart."""
    node_a, node_b = names.ns("na"), names.ns("nb")
    p100a, p100b, p200a, p200b = (names.ns(n) for n in ("p100a", "p100b", "p200a", "p200b"))
    trunk_a, trunk_b = names.link("ta"), names.link("tb")
    ips = {p100a: "10.77.2.1", p100b: "10.77.2.2", p200a: "10.77.2.3", p200b: "10.77.2.4"}
    with namespaces(kn, node_a, node_b, *ips):
        result = kn("veth", "add", trunk_a, "--peer", trunk_b, "--netns", node_a, "--peer-netns", node_b)
        assert result.code == 0, result
        for pod, node, parent, vlan_id, base in (
            (p100a, node_a, trunk_a, 100, "va"), (p100b, node_b, trunk_b, 100, "vb"),
            (p200a, node_a, trunk_a, 200, "wa"), (p200b, node_b, trunk_b, 200, "wb"),
        ):
            result = vlan_add(kn, names.link(base), parent, node, vlan_id, pod, ips[pod] + "/24")
            assert actions(result) == ["created", "created"]
            assert link(pod, names.link(base))["linkinfo"]["info_data"]["id"] == vlan_id

        # VLAN 100 across the trunk, both ways
        assert ping(p100a, ips[p100b], count=3), "VLAN 100: pod on node A cannot reach pod on node B"
        assert ping(p100b, ips[p100a], count=3), "VLAN 100: pod on node B cannot reach pod on node A"
        # the VLAN 200 pods work: they reach each other over the same trunk ...
        assert ping(p200a, ips[p200b], count=3), "VLAN 200: pod on node A cannot reach pod on node B"
        # ... but not the VLAN 100 pods on the other node, though they share the subnet
        assert not ping(p200a, ips[p100b]), "a VLAN 200 pod reached a VLAN 100 pod"
        assert not ping(p200b, ips[p100a]), "a VLAN 200 pod reached a VLAN 100 pod"
        assert not ping(p100a, ips[p200b]), "a VLAN 100 pod reached a VLAN 200 pod"


def test_a_vlan_id_taken_on_the_parent_is_a_conflict_naming_it(kn, names, trunk):
    node, pod, parent = trunk
    first, second = names.link("v5"), names.link("v5b")
    assert actions(vlan_add(kn, first, parent, node, 5, pod, "10.77.5.1/24")) == ["created", "created"]
    before = link_names(node)

    result = kn("vlan", "add", second, "--parent", parent, "--netns", node, "--id", "5", "--addr", "10.77.5.2/24")
    assert result.code == ExitCode.CONFLICT, result
    assert f"{parent} in the netns {node} already has a sub-interface for VLAN 5" in one_error_line(result)
    assert link_names(node) == before
    assert link(pod, first)["linkinfo"]["info_data"]["id"] == 5


@pytest.mark.parametrize("vlan_id", ["0", "4095"])
def test_reserved_vlan_ids_are_refused_and_nothing_is_created(kn, names, trunk, vlan_id):
    node, pod, parent = trunk
    before = (link_names(node), link_names(pod))
    sub = names.link("bad")
    result = kn("vlan", "add", sub, "--parent", parent, "--netns", node, "--id", vlan_id,
                "--into", pod, "--addr", "10.77.3.1/24")
    assert result.code == ExitCode.USAGE, result
    assert f"--id: VLAN id {vlan_id} is out of range 1..4094" in one_error_line(result)
    assert result.stdout == ""
    assert (link_names(node), link_names(pod)) == before


def test_missing_parent_is_not_found_and_nothing_is_created(kn, names, trunk):
    node, pod, _ = trunk
    before = (link_names(node), link_names(pod))
    missing, sub = names.link("nope"), names.link("v7")
    result = kn("vlan", "add", sub, "--parent", missing, "--netns", node, "--id", "7",
                "--into", pod, "--addr", "10.77.4.1/24")
    assert result.code == ExitCode.NOT_FOUND, result
    assert missing in one_error_line(result)
    assert (link_names(node), link_names(pod)) == before


def test_missing_target_namespace_is_not_found_and_not_created(kn, names, trunk):
    node, pod, parent = trunk
    before = link_names(node)
    ghost, sub = names.ns("ghost"), names.link("v8")
    result = kn("vlan", "add", sub, "--parent", parent, "--netns", node, "--id", "8", "--into", ghost)
    assert result.code == ExitCode.NOT_FOUND, result
    assert ghost in one_error_line(result)
    assert link_names(node) == before
    assert not [n for n in ip_json("netns", "list") if n["name"] == ghost], f"{ghost} was created"
