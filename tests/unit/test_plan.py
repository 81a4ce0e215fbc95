"""Decisions, ordering and diffs on synthetic snapshots (no kernel)."""

import pytest

from kubenetctl.errors import Conflict
from kubenetctl.plan.diff import plan_apply, plan_delete
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, UPDATE, decide
from kubenetctl.plan.order import creation_order
from kubenetctl.resources import Address, Fdb, Link, Neighbor, Netns, Route, Sysctl
from kubenetctl.snapshot import Snapshot

OWNER = "lab/t"


def veth_pair(host, pod, ns, master=None):
    a = Link(None, host, "veth", peer="eth0", peer_netns=ns, master=master)
    b = Link(ns, "eth0", "veth", peer=host, peer_netns=None)
    return a, b


def test_decide_create_and_noop():
    link = Link(None, "br0", "bridge", mtu=1450)
    assert decide(link, None, None, OWNER).action == CREATE
    assert decide(link, link, OWNER, OWNER) is None


def test_decide_mutable_change_is_update():
    want = Link(None, "br0", "bridge", mtu=1450)
    have = Link(None, "br0", "bridge", mtu=1500, mac="aa:bb:cc:dd:ee:ff")
    op = decide(want, have, OWNER, OWNER)
    assert op.action == UPDATE and [(c.field, c.old, c.new) for c in op.changes] == [("mtu", 1500, 1450)]


def test_decide_other_kind_is_conflict_naming_both():
    with pytest.raises(Conflict, match="a bridge named x already exists"):
        decide(Link(None, "x", "veth", peer="y"), Link(None, "x", "bridge"), OWNER, OWNER)


def test_decide_foreign_is_conflict_unless_adopted():
    with pytest.raises(Conflict, match="not created by kubenetctl"):
        decide(Link(None, "br0", "bridge"), Link(None, "br0", "bridge"), None, OWNER)
    with pytest.raises(Conflict, match="belongs to lab/other"):
        decide(Link(None, "br0", "bridge"), Link(None, "br0", "bridge"), "lab/other", OWNER)
    assert decide(Link(None, "br0", "bridge"), Link(None, "br0", "bridge"), None, OWNER, adopt=True) is None


def test_decide_identity_change_conflict_or_replace():
    want = Link(None, "vx", "vxlan", vni=2, port=8472, learning=False)
    have = Link(None, "vx", "vxlan", vni=1, port=8472, learning=False)
    with pytest.raises(Conflict, match="vni is 1, wanted 2"):
        decide(want, have, OWNER, OWNER)
    assert decide(want, have, OWNER, OWNER, allow_replace=True).action == REPLACE


def test_decide_route_open_fields_accept_kernel_values():
    want = Route("p", "0.0.0.0/0", via="10.0.0.1")
    have = Route("p", "0.0.0.0/0", via="10.0.0.1", dev="eth0")
    assert decide(want, have, "kubenetctl", OWNER) is None
    moved = Route("p", "0.0.0.0/0", via="10.0.0.9")
    assert decide(moved, have, "kubenetctl", OWNER).action == UPDATE
    with pytest.raises(Conflict):
        decide(moved, have, None, OWNER)  # someone else's default route


def test_decide_sysctl_update_even_if_not_ours():
    op = decide(Sysctl("n", "net.ipv4.ip_forward", "1"), Sysctl("n", "net.ipv4.ip_forward", "0"), None, OWNER)
    assert op.action == UPDATE


def test_creation_order_respects_deps():
    a, b = veth_pair("h1", "pod", "pod", master="br0")
    items = [
        Route("pod", "0.0.0.0/0", via="10.0.0.1"), Address("pod", "eth0", "10.0.0.2/24"), a, b,
        Link(None, "br0", "bridge"), Netns("pod"), Fdb(None, "vx", "00:00:00:00:00:00", "1.1.1.1"),
        Link(None, "vx", "vxlan", vni=1, port=8472),
    ]
    order = [r.key for r in creation_order(items)]
    pos = {k: i for i, k in enumerate(order)}
    assert pos[("netns", "pod")] < pos[a.key] and pos[("link", None, "br0")] < pos[a.key]
    assert pos[b.key] < pos[("address", "pod", "eth0", "10.0.0.2/24")] < pos[("route", "pod", 254, "0.0.0.0/0", None)]
    assert pos[("link", None, "vx")] < pos[("fdb", None, "vx", "00:00:00:00:00:00", "1.1.1.1")]


def test_veth_pair_waits_for_both_ends_deps():
    # the pod end's bridge must exist before the pair is created, even though the host end has no master
    a = Link("n1", "h1", "veth", peer="eth0", peer_netns="p1")
    b = Link("p1", "eth0", "veth", peer="h1", peer_netns="n1", master="br")
    items = [a, b, Link("p1", "br", "bridge"), Netns("p1"), Netns("n1")]
    ops = plan_apply(items, Snapshot(), OWNER)
    kinds = [(op.resource.key, op.peer.key if op.peer else None) for op in ops]
    assert kinds.index((("link", "p1", "br"), None)) < [k for k, _ in kinds].index(a.key)
    assert sum(1 for op in ops if op.resource.TYPE == "link" and op.resource.kind == "veth") == 1


def test_plan_apply_noop_when_everything_present():
    a, b = veth_pair("h1", "pod", "pod")
    snap = Snapshot()
    for r in (Netns("pod"), a, b):
        snap.add(r, OWNER)
    snap.add(Address("pod", "eth0", "10.0.0.2/24"), "kubenetctl")
    assert plan_apply([Netns("pod"), a, b, Address("pod", "eth0", "10.0.0.2/24")], snap, OWNER) == []


def test_plan_apply_repairs_only_drift():
    a, b = veth_pair("h1", "pod", "pod")
    fdb = Fdb(None, "vx", "00:00:00:00:00:00", "192.168.0.2")
    snap = Snapshot()
    for r in (Netns("pod"), Link(None, "vx", "vxlan", vni=1, port=8472, learning=False)):
        snap.add(r, OWNER)
    ops = plan_apply([Netns("pod"), a, b, Link(None, "vx", "vxlan", vni=1, port=8472, learning=False), fdb], snap, OWNER)
    assert [(op.action, op.resource.key) for op in ops] == [(CREATE, a.key), (CREATE, fdb.key)]
    assert ops[0].peer == b


def test_plan_delete_prunes_what_netns_deletion_removes():
    a, b = veth_pair("h1", "pod", "pod")
    targets = [Netns("pod"), a, b, Address("pod", "eth0", "10.0.0.2/24"), Link(None, "br0", "bridge"),
               Address(None, "br0", "10.0.0.1/24"), Neighbor(None, "br0", "10.0.0.9", "aa:bb:cc:dd:ee:01")]
    ops = plan_delete(targets)
    assert [(op.action, op.resource.key) for op in ops] == [
        (DELETE, ("link", None, "br0")),
        (DELETE, ("netns", "pod")),
    ]


def test_plan_delete_veth_pair_in_same_netns_deleted_once():
    a = Link("n", "x1", "veth", peer="x2", peer_netns="n")
    b = Link("n", "x2", "veth", peer="x1", peer_netns="n")
    ops = plan_delete([a, b])
    assert len(ops) == 1


def test_plan_delete_skips_absent_with_snapshot():
    snap = Snapshot()
    snap.add(Link(None, "br0", "bridge"), OWNER)
    ops = plan_delete([Link(None, "br0", "bridge"), Link(None, "gone", "bridge")], snap)
    assert [op.resource.name for op in ops] == ["br0"]
