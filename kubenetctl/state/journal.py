"""What a lab owns, and the journal that keeps it true across crashes (pure folding).

A lab's state lists the objects it created (destroy deletes these), the objects it adopted
(never deleted), the sysctl values it changed (destroy puts them back), its address
allocations, and what `check` needs (pods, expectations).

While apply runs, every operation is journalled twice: an "intent" line before the
kernel is asked and a "done" line after. If the process is killed (-9) in between, the
intent is enough: the object may exist, so destroy will look for it (and delete it only
if it carries this lab's marker). When apply ends, the journal is folded into the state
and removed. `fold` is that folding, used both at the end of apply and by destroy and
lab list when they find a journal left by a crash.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Iterable

from kubenetctl.resources import Resource, from_dict

STATE_KIND = "LabState"


def key_id(key: tuple) -> str:
    return json.dumps(list(key))


@dataclass
class LabState:
    lab: str
    owner: str
    node: str | None = None
    status: str = "new"  # applying, ready, failed (rolled back), destroying
    recipe: dict[str, Any] = field(default_factory=dict)  # path and sha256 of the last applied file
    created: dict[str, dict[str, Any]] = field(default_factory=dict)  # key id -> resource dict
    adopted: dict[str, dict[str, Any]] = field(default_factory=dict)
    restore: dict[str, dict[str, Any]] = field(default_factory=dict)  # sysctl key id -> value before the lab
    allocations: dict[str, str] = field(default_factory=dict)
    pods: list[dict[str, Any]] = field(default_factory=list)
    nodes: list[dict[str, Any]] = field(default_factory=list)
    expect: list[dict[str, Any]] = field(default_factory=list)
    updated: str = ""

    def to_dict(self) -> dict[str, Any]:
        # shallow: the values are already plain JSON data (asdict would deep-copy thousands of them)
        return {"apiVersion": "kubenetctl/v1", "kind": STATE_KIND, **{f: getattr(self, f) for f in self.__dataclass_fields__}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "LabState":
        """The state a state.json holds; ValueError naming the first field that is not what
        this version writes (a wrong type, or a resource it cannot decode)."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for name in ("lab", "owner"):
            if name not in fields:
                raise ValueError(f"{name} is missing")
        for name, value in fields.items():
            want = _FIELD_TYPES[name]
            if not isinstance(value, want) and not (name == "node" and value is None):
                raise ValueError(f"{name}: expected a JSON {_json_type(want())}, got {_json_type(value)}")
        state = cls(**fields)
        for book in ("created", "adopted", "restore"):
            for kid, res in getattr(state, book).items():
                decode(res, f"{book}[{kid}]")
        return state

    def created_resources(self) -> list[Resource]:
        return [from_dict(d) for d in self.created.values()]

    def adopted_keys(self) -> set[tuple]:
        return {tuple(json.loads(k)) for k in self.adopted}


_FIELD_TYPES: dict[str, type] = {
    "lab": str, "owner": str, "node": str, "status": str, "recipe": dict, "created": dict, "adopted": dict,
    "restore": dict, "allocations": dict, "pods": list, "nodes": list, "expect": list, "updated": str,
}
_JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def decode(data: Any, where: str) -> Resource:
    """A recorded resource; ValueError saying where when it is not one."""
    try:
        return from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError(f"{where} is not a resource this version knows: {json.dumps(data)[:80]}") from None


def record(event: str, op: Any = None, resource: Resource | None = None, of: int | None = None) -> dict[str, Any]:
    """A journal line; the writer numbers it. A "done" line for an op journalled as an
    intent names that intent (`of`) instead of repeating the op."""
    out: dict[str, Any] = {"event": event}
    if of is not None:
        out["of"] = of
    elif op is not None:
        out["op"] = {
            "action": op.action,
            "resource": op.resource.to_dict(),
            **({"peer": op.peer.to_dict()} if op.peer is not None else {}),
            **({"before": op.before.to_dict()} if op.before is not None else {}),
        }
    if resource is not None:
        out["resource"] = resource.to_dict()
    return out


def _drop_inside(state: LabState, res: dict[str, Any]) -> None:
    """Forget what went with a deleted namespace or link."""
    if res["type"] == "netns":
        gone = lambda d: d.get("netns") == res["name"] and d["type"] != "netns"  # noqa: E731
    elif res["type"] == "link":
        ends = {(res.get("netns"), res["name"])}
        if res.get("kind") == "veth":  # a veth takes its peer with it
            ends.add((res.get("peer_netns"), res.get("peer")))

        def gone(d: dict[str, Any]) -> bool:
            if d["type"] == "link":
                return (d.get("netns"), d["name"]) in ends
            return d["type"] != "netns" and (d.get("netns"), d.get("link") or d.get("dev")) in ends
    else:
        return
    for book in (state.created, state.restore):
        for kid in [k for k, d in book.items() if gone(d)]:
            del book[kid]


def fold(state: LabState, records: Iterable[dict[str, Any]]) -> LabState:
    """Apply journal records to a state (in place) and return it; ValueError naming the
    first record that is not one this version writes."""
    intents: dict[int, dict[str, Any]] = {}
    for n, rec in enumerate(records, 1):
        try:
            _fold_one(state, rec, intents)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise ValueError(f"record {n} is not one this version writes: {json.dumps(rec)[:80]}") from None
    return state


def _fold_one(state: LabState, rec: dict[str, Any], intents: dict[int, dict[str, Any]]) -> None:
    event = rec.get("event")
    if event == "adopt":
        res = rec["resource"]
        state.adopted[key_id(from_dict(res).key)] = res
        return
    op = rec.get("op") or intents.get(rec.get("of", -1), {}).get("op")
    if not op:
        return
    if event == "intent":
        intents[rec.get("seq", -1)] = rec
    res = op["resource"]
    kid = key_id(from_dict(res).key)
    action = op["action"]
    if event == "intent" and action in ("create", "replace"):
        for made in (res, op.get("peer")):
            if made is not None and key_id(from_dict(made).key) not in state.adopted:
                state.created[key_id(from_dict(made).key)] = made
    elif event == "intent" and action == "update" and res["type"] == "sysctl" and "before" in op:
        if kid not in state.created:
            state.restore.setdefault(kid, op["before"])
    elif event == "done" and action == "delete":
        state.created.pop(kid, None)
        state.adopted.pop(kid, None)
        _drop_inside(state, res)
    elif event == "done" and action == "update" and res["type"] == "sysctl":
        before = state.restore.get(kid)
        if before is not None and before.get("value") == res.get("value"):
            del state.restore[kid]  # put back as it was
