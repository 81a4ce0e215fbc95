"""What the kernel holds, as resources: the observed side of every diff, inspect and trace.

Pure data. netlink/observe.py fills it from kernel dumps; tests build it by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from kubenetctl.resources import Resource


@dataclass
class Snapshot:
    resources: dict[tuple, Resource] = field(default_factory=dict)
    owners: dict[tuple, str | None] = field(default_factory=dict)
    # read-only kernel facts that are not part of a resource's identity:
    # ifindex, operstate, carrier, peer ifindex, learned FDB entries, ...
    facts: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    scope: set[str | None] = field(default_factory=set)  # the namespaces that were dumped

    def add(self, res: Resource, owner: str | None = None, **facts: Any) -> None:
        self.resources[res.key] = res
        self.owners[res.key] = owner
        if facts:
            self.facts[res.key] = facts

    def get(self, key: tuple) -> Resource | None:
        return self.resources.get(key)

    def owner(self, key: tuple) -> str | None:
        return self.owners.get(key)

    def fact(self, key: tuple, name: str, default: Any = None) -> Any:
        return self.facts.get(key, {}).get(name, default)

    def of_type(self, type_name: str) -> Iterator[Resource]:
        return (r for r in self.resources.values() if r.TYPE == type_name)

    def in_netns(self, netns: str | None) -> Iterator[Resource]:
        return (r for r in self.resources.values() if r.TYPE != "netns" and r.netns == netns)  # type: ignore[union-attr]

    def __contains__(self, key: tuple) -> bool:
        return key in self.resources

    def __len__(self) -> int:
        return len(self.resources)
