"""Lab books without root: the journal folding, the on-disk store, and the plans that
decide what apply and destroy may touch (on synthetic snapshots)."""

import json
import os

import pytest

from kubenetctl.errors import Busy, Conflict, KernelError, NotFound
from kubenetctl.execute import Executor
from kubenetctl.lab.plan import apply_plan, destroy_plan, owned_by
from kubenetctl.ownership import PROTO_OWNER
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, UPDATE, Op
from kubenetctl.resources import Address, Fdb, Link, Masquerade, Netns, Route, Sysctl
from kubenetctl.snapshot import Snapshot
from kubenetctl.state.journal import LabState, fold, key_id, record
from kubenetctl.state.store import Store
from tests.fakes import FakeBackend

OWNER = "lab/t"
POD = Netns("t-pod")
HOST_END = Link("t-node", "veth1", "veth", peer="eth0", peer_netns="t-pod", master="cni0")
POD_END = Link("t-pod", "eth0", "veth", peer="veth1", peer_netns="t-node")
ADDR = Address("t-pod", "eth0", "10.0.0.2/24")


def state_with(*resources):
    state = LabState("t", OWNER)
    for res in resources:
        state.created[key_id(res.key)] = res.to_dict()
    return state


# -- journal -----------------------------------------------------------------------------
def test_an_intent_without_done_still_counts_as_created():
    """kill -9 between asking the kernel and hearing back: destroy must still look for it."""
    state = LabState("t", OWNER)
    fold(state, [dict(record("intent", Op(CREATE, POD)), seq=1), dict(record("done", of=1), seq=2),
                 dict(record("intent", Op(CREATE, HOST_END, peer=POD_END)), seq=3)])
    assert set(state.created) == {key_id(POD.key), key_id(HOST_END.key), key_id(POD_END.key)}


def test_deleting_a_namespace_forgets_what_was_inside():
    state = state_with(POD, POD_END, ADDR, Netns("t-node"), HOST_END)
    fold(state, [dict(record("intent", Op(DELETE, POD, before=POD)), seq=1), dict(record("done", of=1), seq=2)])
    assert set(state.created) == {key_id(Netns("t-node").key), key_id(HOST_END.key)}


def test_deleting_a_veth_forgets_its_peer_and_addresses():
    state = state_with(HOST_END, POD_END, ADDR)
    fold(state, [record("done", Op(DELETE, HOST_END, before=HOST_END))])
    assert state.created == {}


def test_a_changed_sysctl_is_remembered_once_and_forgotten_when_restored():
    before, after = Sysctl(None, "net.ipv4.ip_forward", "0"), Sysctl(None, "net.ipv4.ip_forward", "1")
    state = LabState("t", OWNER)
    fold(state, [record("intent", Op(UPDATE, after, before=before))])
    fold(state, [record("intent", Op(UPDATE, after, before=after))])  # a second apply: keep the first "before"
    assert list(state.restore.values()) == [before.to_dict()]
    fold(state, [record("done", Op(UPDATE, before, before=after))])
    assert state.restore == {}


def test_adopted_objects_are_not_created_ones():
    bridge = Link(None, "cni0", "bridge")
    state = LabState("t", OWNER)
    fold(state, [record("adopt", resource=bridge), record("intent", Op(CREATE, bridge))])
    assert key_id(bridge.key) in state.adopted and key_id(bridge.key) not in state.created


# -- store -------------------------------------------------------------------------------
def test_store_round_trip_and_removal(tmp_path):
    store = Store(str(tmp_path))
    with store.lock("t", create=True):
        store.write("t", state_with(POD))
    assert store.names() == ["t"]
    assert store.read("t").created == state_with(POD).created
    assert not [p for p in os.listdir(store.path("t")) if ".tmp." in p]  # atomic write left no temporary
    store.remove("t")
    assert store.names() == [] and store.read("t") is None


def test_store_folds_a_crashed_journal_and_ignores_a_torn_line(tmp_path):
    store = Store(str(tmp_path))
    os.makedirs(store.path("t"))
    with store.journal("t") as journal:
        journal.write(record("intent", Op(CREATE, POD)))
    with open(store.path("t", "journal.jsonl"), "a") as fh:
        fh.write('{"seq": 2, "event": "inte')  # the process died mid-write
    state = store.read("t")
    assert state.status == "interrupted" and list(state.created) == [key_id(POD.key)]


def test_lock_is_exclusive_and_busy_is_exit_8(tmp_path):
    store = Store(str(tmp_path))
    with store.lock("t", create=True):
        store.write("t", state_with(POD))
        other = Store(str(tmp_path))
        with pytest.raises(Busy, match="lab t is busy"):
            with other.lock("t"):
                pass


def test_lock_of_missing_lab_is_not_found_and_apply_leaves_no_empty_dir(tmp_path):
    store = Store(str(tmp_path))
    with pytest.raises(NotFound, match="no lab named 't'"):
        with store.lock("t"):
            pass
    with store.lock("t", create=True):
        pass  # an apply that recorded nothing (invalid recipe, conflict)
    assert store.names() == []


def test_unreadable_state_is_a_clear_error(tmp_path):
    store = Store(str(tmp_path))
    os.makedirs(store.path("t"))
    with open(store.path("t", "state.json"), "w") as fh:
        fh.write("{not json")
    with pytest.raises(Busy, match="state of lab t is unreadable"):
        store.read("t")


GOOD = {"lab": "t", "owner": OWNER}
BAD_STATES = {
    "field type": json.dumps({**GOOD, "created": "x"}),
    "date type": json.dumps({**GOOD, "updated": 5}),
    "no owner": json.dumps({"lab": "t"}),
    "bogus resource": json.dumps({**GOOD, "created": {"k": {"type": "bogus"}}}),
    "resource fields": json.dumps({**GOOD, "adopted": {"k": {"type": "netns"}}}),
    "undecodable": b"\xff\xfe{}",
}
BAD_JOURNALS = {
    "a number": "123\n",
    "bogus resource": json.dumps({"event": "adopt", "resource": {"type": "bogus"}}) + "\n",
    "adopt without resource": json.dumps({"event": "adopt"}) + "\n",
    "op not an object": json.dumps({"event": "intent", "op": 5}) + "\n",
    "undecodable middle line": b"\xff\xfe\n" + json.dumps({"event": "adopt"}).encode() + b"\n",
}


BAD_FILES = [("state.json", k, v) for k, v in BAD_STATES.items()] + [("journal.jsonl", k, v) for k, v in BAD_JOURNALS.items()]


@pytest.mark.parametrize("name, text", [(f, t) for f, _, t in BAD_FILES], ids=[f"{f}: {k}" for f, k, _ in BAD_FILES])
def test_a_malformed_record_is_unreadable_not_an_internal_error(tmp_path, name, text):
    store = Store(str(tmp_path))
    os.makedirs(store.path("t"))
    with open(store.path("t", name), "wb") as fh:
        fh.write(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(Busy, match=f"state of lab t is unreadable .*{name}"):
        store.read("t")


def test_a_state_json_that_is_a_directory_is_unreadable(tmp_path):
    store = Store(str(tmp_path))
    os.makedirs(store.path("t", "state.json"))
    with pytest.raises(Busy, match="state of lab t is unreadable .*state.json: Is a directory"):
        store.read("t")


def test_state_dir_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBENETCTL_STATE_DIR", str(tmp_path))
    assert Store().labs == str(tmp_path / "labs")
    monkeypatch.delenv("KUBENETCTL_STATE_DIR")
    assert Store().labs == "/var/lib/kubenetctl/labs"


# -- what apply and destroy may touch ------------------------------------------------------
def kernel(*entries):
    snap = Snapshot()
    for res, owner in entries:
        snap.add(res, owner)
        snap.scope.add(res.name if res.TYPE == "netns" else res.netns)
    return snap


def test_ownership_rules():
    snap = kernel((POD, OWNER), (POD_END, OWNER), (ADDR, PROTO_OWNER), (Netns("x"), None),
                  (Address("t-pod", "eth0", "10.0.0.9/24"), None), (Masquerade("t-pod", "10.0.0.0/24"), PROTO_OWNER))
    assert owned_by(POD, snap, OWNER) and not owned_by(POD, snap, "lab/other")
    assert owned_by(ADDR, snap, OWNER)
    assert owned_by(Address("t-pod", "eth0", "10.0.0.9/24"), snap, OWNER)  # on a link the lab owns
    assert not owned_by(Netns("x"), snap, OWNER)
    assert owned_by(Masquerade("t-pod", "10.0.0.0/24"), snap, OWNER)


def test_destroy_deletes_namespaces_whole_and_leaves_foreign_objects():
    foreign_ns = Netns("t-gone")  # the lab made it, someone deleted it and made their own
    node_bridge = Link(None, "cni0", "bridge")
    state = state_with(POD, POD_END, ADDR, foreign_ns, node_bridge, Netns("t-never-made"))
    snap = kernel((POD, OWNER), (POD_END, OWNER), (ADDR, PROTO_OWNER), (foreign_ns, None), (node_bridge, OWNER))
    plan = destroy_plan(state, snap)
    assert [(op.action, op.resource.key) for op in plan.ops] == [(DELETE, node_bridge.key), (DELETE, POD.key)]
    assert plan.foreign == [foreign_ns]


def test_destroy_puts_a_changed_sysctl_back():
    before = Sysctl(None, "net.ipv4.ip_forward", "0")
    state = LabState("t", OWNER)
    state.restore[key_id(before.key)] = before.to_dict()
    snap = kernel((Sysctl(None, "net.ipv4.ip_forward", "1"), None))
    plan = destroy_plan(state, snap)
    assert [(op.action, op.resource) for op in plan.ops] == [(UPDATE, before)]


def test_apply_removes_what_the_recipe_dropped_and_keeps_the_rest():
    other = Netns("t-other")
    state = state_with(POD, POD_END, ADDR, other)
    snap = kernel((POD, OWNER), (POD_END, OWNER), (ADDR, PROTO_OWNER), (other, OWNER))
    plan = apply_plan([POD, POD_END, ADDR], set(), snap, OWNER, state)
    assert [(op.action, op.resource.key) for op in plan.ops] == [(DELETE, other.key)]


def test_apply_refuses_a_foreign_object_with_a_colliding_name():
    snap = kernel((POD, None))
    with pytest.raises(Conflict, match="netns t-pod already exists and kubenetctl may not take it over"):
        apply_plan([POD], set(), snap, OWNER, None)


def test_apply_adopts_only_what_the_recipe_says():
    bridge = Link(None, "br-ext", "bridge", mtu=1500)
    snap = kernel((bridge, None))
    plan = apply_plan([bridge], {bridge.key}, snap, OWNER, None)
    assert plan.ops == [] and plan.adopt == [bridge]


def test_rollback_is_reported_to_the_journal():
    """The executor tells on_done about the undo too, so the books match the kernel."""
    seen = []
    backend = FakeBackend(fail=lambda op: op.resource.TYPE == "route")
    ex = Executor(backend, OWNER, on_done=seen.append)
    with pytest.raises(KernelError):
        with ex.transaction():
            ex.apply(Op(CREATE, POD))
            ex.apply(Op(CREATE, Route("t-pod", "0.0.0.0/0", via="10.0.0.1")))
    assert [(op.action, op.resource.key) for op in seen] == [(CREATE, POD.key), (DELETE, POD.key)]


def test_state_file_shape(tmp_path):
    store = Store(str(tmp_path))
    with store.lock("t", create=True):
        store.write("t", state_with(POD))
    doc = json.loads(open(store.path("t", "state.json")).read())
    assert doc["apiVersion"] == "kubenetctl/v1" and doc["kind"] == "LabState" and doc["owner"] == OWNER


def test_a_replaced_link_gets_back_what_lived_on_it():
    """Changing a VXLAN's VNI means a new device: its FDB entries and address must be made
    again, and a bridge's ports re-attached (the kernel drops them with the old device)."""
    old_vx = Link("t-node", "vx", "vxlan", vni=1, port=8472, learning=False, master="br")
    new_vx = Link("t-node", "vx", "vxlan", vni=2, port=8472, learning=False, master="br")
    fdb = Fdb("t-node", "vx", "00:00:00:00:00:00", "192.168.0.3")
    bridge_old = Link("t-node", "br", "bridge", mtu=1450)
    port = Link("t-node", "p1", "bridge", master="br")
    snap = kernel((Netns("t-node"), OWNER), (old_vx, OWNER), (fdb, OWNER), (bridge_old, OWNER), (port, OWNER))
    state = state_with(Netns("t-node"), old_vx, fdb, bridge_old, port)
    plan = apply_plan([Netns("t-node"), bridge_old, new_vx, fdb, port], set(), snap, OWNER, state)
    assert [(op.action, op.resource.key) for op in plan.ops] == [(REPLACE, new_vx.key), (CREATE, fdb.key)]
    # a replaced bridge: its ports are attached again
    snap2 = kernel((Netns("t-node"), OWNER), (Link("t-node", "br", "vxlan", vni=9, port=1, learning=False), OWNER),
                   (port, OWNER))
    flipped = Link("t-node", "br", "vxlan", vni=8, port=1, learning=False)
    plan2 = apply_plan([Netns("t-node"), flipped, port], set(), snap2, OWNER, None)
    assert [(op.action, op.resource.key) for op in plan2.ops] == [(REPLACE, flipped.key), (UPDATE, port.key)]
