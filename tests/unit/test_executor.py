"""The executor's ensure/remove/rollback logic against an in-memory kernel."""

import pytest

from kubenetctl.errors import Conflict, KernelError, NotFound
from kubenetctl.execute import Executor
from kubenetctl.resources import Address, Fdb, Link, Netns
from tests.fakes import FakeBackend


def test_ensure_twice_is_unchanged():
    ex = Executor(FakeBackend(), "cli")
    assert ex.ensure(Netns("p")) == "created"
    assert ex.ensure(Netns("p")) == "unchanged"
    br = Link(None, "br0", "bridge", mtu=1450)
    assert ex.ensure(br) == "created" and ex.ensure(br) == "unchanged"
    assert ex.ensure(Link(None, "br0", "bridge", mtu=1400)) == "updated"


def test_missing_namespace_is_never_created():
    backend = FakeBackend()
    ex = Executor(backend, "cli")
    with pytest.raises(NotFound, match="'nope' does not exist"):
        ex.ensure(Link("nope", "x", "bridge"))
    assert backend.log == []


def test_transaction_rolls_back_newest_first():
    backend = FakeBackend(fail=lambda op: op.resource.TYPE == "address")
    ex = Executor(backend, "cli")
    ex.ensure(Netns("keep"))  # existed before the transaction: must survive
    with pytest.raises(KernelError):
        with ex.transaction():
            ex.ensure(Netns("keep"))
            ex.ensure(Netns("p"))
            ex.ensure(Link(None, "br0", "bridge"))
            ex.ensure(Address(None, "br0", "10.0.0.1/24"))
    assert backend.log[-2:] == ["delete bridge br0 (host netns)", "delete netns p"]
    assert set(backend.state.resources) == {("netns", "keep")}


def test_rollback_restores_updated_settings():
    backend = FakeBackend(fail=lambda op: op.resource.TYPE == "netns")
    ex = Executor(backend, "cli")
    ex.ensure(Link(None, "br0", "bridge", mtu=1500))
    with pytest.raises(KernelError):
        with ex.transaction():
            ex.ensure(Link(None, "br0", "bridge", mtu=1400))
            ex.ensure(Netns("p"))
    assert backend.state.get(("link", None, "br0")).mtu == 1500


def test_remove_refuses_foreign_and_wrong_kind():
    backend = FakeBackend()
    backend.state.add(Link(None, "eth9", "veth", peer="x"), None)
    ex = Executor(backend, "cli")
    with pytest.raises(Conflict, match="kubenetctl did not create it"):
        ex.remove(Link(None, "eth9", "veth"))
    with pytest.raises(Conflict, match="it is a veth, not a bridge"):
        ex.remove(Link(None, "eth9", "bridge"))
    assert ex.remove(Link(None, "eth9", "veth"), force=True) == "deleted"
    assert ex.remove(Link(None, "eth9", "veth")) == "absent"


def test_unmarked_address_on_our_link_is_not_ours_but_fdb_is():
    backend = FakeBackend()
    ex = Executor(backend, "cli")
    ex.ensure(Link(None, "vx", "vxlan", vni=1, port=8472))
    backend.state.add(Address(None, "vx", "10.0.0.1/24"), None)
    backend.state.add(Fdb(None, "vx", "00:00:00:00:00:00", "10.1.1.1"), None)
    with pytest.raises(Conflict, match="kubenetctl did not create it"):
        ex.remove(Address(None, "vx", "10.0.0.1/24"))
    assert ex.remove(Fdb(None, "vx", "00:00:00:00:00:00", "10.1.1.1")) == "deleted"


def test_set_link_changes_only_what_differs():
    ex = Executor(FakeBackend(), "cli")
    ex.ensure(Link(None, "br0", "bridge", mtu=1500))
    assert ex.set_link(None, "br0", mtu=1500)[0] == "unchanged"
    assert ex.set_link(None, "br0", mtu=1450)[0] == "updated"
    with pytest.raises(NotFound):
        ex.set_link(None, "nope", mtu=1450)
