"""An in-memory kernel for executor tests without root."""

from __future__ import annotations

from typing import Callable

from kubenetctl.errors import KernelError, KubenetError, NotFound
from kubenetctl.execute import netns_of
from kubenetctl.ownership import PROTO_OWNER
from kubenetctl.plan.ops import CREATE, DELETE, REPLACE, UPDATE, Op
from kubenetctl.resources import Link, Resource
from kubenetctl.snapshot import Snapshot


class FakeBackend:
    def __init__(self, fail: Callable[[Op], bool] | None = None) -> None:
        self.state = Snapshot()
        self.log: list[str] = []
        self.fail = fail or (lambda op: False)

    def netns_exists(self, name: str) -> bool:
        return ("netns", name) in self.state

    def missing_netns(self, name: str) -> KubenetError:
        return NotFound(f"network namespace {name!r} does not exist")

    def observe_one(self, res: Resource) -> Snapshot:
        return self.state

    def snapshot(self, netns: str | None, types: frozenset[str], peers: bool = True) -> Snapshot:
        return self.state

    def settle(self) -> None:
        pass

    def run(self, op: Op, owner: str) -> None:
        if self.fail(op):
            raise KernelError(f"injected failure on {op.describe()}")
        self.log.append(f"{op.action} {op.resource.describe()}")
        res = op.resource
        if op.action in (CREATE, REPLACE):
            mark = owner if res.TYPE in ("netns", "link") else PROTO_OWNER
            self.state.add(res, mark)
            if op.peer is not None:
                self.state.add(op.peer, mark)
        elif op.action == UPDATE:
            self.state.add(res, self.state.owner(res.key))
        elif op.action == DELETE:
            self._delete(res)

    def _delete(self, res: Resource) -> None:
        self.state.resources.pop(res.key, None)
        ns = netns_of(res)
        for other in list(self.state.resources.values()):
            inside = res.TYPE == "netns" and other.TYPE != "netns" and other.netns == ns  # type: ignore[union-attr]
            on_link = res.TYPE == "link" and ("link", res.netns, res.name) in other.deps() and other.TYPE != "link"  # type: ignore[union-attr]
            peer = isinstance(res, Link) and res.kind == "veth" and other.key == ("link", res.peer_netns, res.peer)
            if inside or on_link or peer:
                self.state.resources.pop(other.key, None)
