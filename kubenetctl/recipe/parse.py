"""Plain data to a Recipe: every field error at once, each at its file position.

pydantic collects all field errors of the document in one pass; each becomes a Problem
with the data path (spec.links[2].vni), the line and column, a plain message and a hint.
When the document has errors, a partial Recipe (the items that are valid, the invalid
ones left as None at their original index) lets the whole-file checks run too, so one
`validate` shows every problem in the file.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from kubenetctl.recipe.load import Document, Path, Problem
from kubenetctl.recipe.model import Metadata, Recipe, Spec

_TYPE_WORDS = {
    "int_type": "an integer", "int_parsing": "an integer", "string_type": "a string", "bool_type": "true or false",
    "bool_parsing": "true or false", "list_type": "a list", "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
    "float_type": "a number", "literal_error": None,
}


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the string {value!r}"
    return f"{type(value).__name__} {value!r}"


def data_path(loc: tuple, data: Any) -> Path:
    """The part of a pydantic location that indexes into the data (drops union tags)."""
    path: list[Any] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            cur = cur[part]
        elif isinstance(cur, dict) and i == len(loc) - 1 and isinstance(part, str) and part != cur.get("kind"):
            cur = None  # a missing field: name it (not the union tag a whole-item check ends in)
        else:
            continue  # a union tag or validator name, not a place in the file
        path.append(part)
    return tuple(path)


def _unwrap(typ: Any) -> Any:
    while True:
        origin = typing.get_origin(typ)
        if origin is typing.Annotated:
            typ = typing.get_args(typ)[0]
        elif origin is typing.Union:
            args = [a for a in typing.get_args(typ) if a is not type(None)]
            if len(args) != 1:
                return typ
            typ = args[0]
        else:
            return typ


def _model_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(info.alias or name): info.annotation for name, info in model.model_fields.items()}


def model_at(path: Path, data: Any) -> type[BaseModel] | None:
    """Which model describes the mapping at `path` (for 'did you mean' hints)."""
    typ: Any = Recipe
    cur = data
    for part in path:
        typ = _unwrap(typ)
        if typing.get_origin(typ) is typing.Union:
            typ = _pick(typ, cur)
        if isinstance(typ, type) and issubclass(typ, BaseModel) and isinstance(part, str):
            typ = _model_fields(typ).get(part)
        elif typing.get_origin(typ) is list and isinstance(part, int):
            typ = typing.get_args(typ)[0]
        else:
            return None
        cur = cur.get(part) if isinstance(cur, dict) else cur[part] if isinstance(cur, list) and isinstance(part, int) and part < len(cur) else None
        if typ is None:
            return None
    typ = _unwrap(typ)
    if typing.get_origin(typ) is typing.Union:
        typ = _pick(typ, cur)
    return typ if isinstance(typ, type) and issubclass(typ, BaseModel) else None


def _pick(union: Any, value: Any) -> Any:
    """The member of a discriminated union (by `kind`) that the data names."""
    kind = value.get("kind") if isinstance(value, dict) else None
    for member in typing.get_args(union):
        member = _unwrap(member)
        fields = getattr(member, "model_fields", {})
        if "kind" in fields and kind in typing.get_args(fields["kind"].annotation):
            return member
    return None


def _problem(err: dict[str, Any], data: Any) -> Problem:
    kind = err["type"]
    path = data_path(err["loc"], data)
    value = err.get("input")
    ctx = err.get("ctx") or {}
    hint = None
    if kind == "kubenetctl":
        message, hint = ctx["message"], ctx.get("hint")
    elif kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        name = path[-1] if path else "?"
        message = f"unknown field {name!r}"
        model = model_at(path[:-1], data)
        if model is not None:
            known = sorted(_model_fields(model))
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = (f"did you mean {close[0]!r}? " if close else "") + "known fields: " + ", ".join(known)
    elif kind == "literal_error":
        message = f"{value!r} is not one of {ctx.get('expected', '')}"
    elif kind == "union_tag_invalid":
        path = (*path, "kind")
        message = f"{ctx['discriminator'].strip(chr(39))} {ctx['tag']!r} is not one of {ctx['expected_tags']}"
    elif kind == "union_tag_not_found":
        message = f"missing field {ctx['discriminator']}"
        hint = "kind is one of veth, bridge, vlan, vxlan, macvlan"
    elif kind in _TYPE_WORDS:
        message = f"expected {_TYPE_WORDS[kind]}, got {_describe(value)}"
        if isinstance(value, str) and kind in ("int_type", "bool_type"):
            hint = "remove the quotes"
    elif kind in ("greater_than_equal", "less_than_equal"):
        message = f"{value!r} is out of range" + (f": at least {ctx['ge']}" if "ge" in ctx else f": at most {ctx['le']}")
    elif kind == "string_pattern_mismatch":
        message = f"{value!r} does not match the pattern {ctx['pattern']}"
    elif kind == "string_too_long":
        message = f"{value!r} is longer than {ctx['max_length']} characters"
    elif kind == "too_short":
        message = f"needs at least {ctx.get('min_length', 1)} item(s)"
    else:
        message = err["msg"]
    return Problem(path, message, hint)


def _partial(data: Any) -> Recipe:
    """The valid parts of an invalid document; invalid list items are None at their index."""
    data = data if isinstance(data, dict) else {}
    spec_data = data.get("spec") if isinstance(data.get("spec"), dict) else {}
    fields: dict[str, Any] = {}
    for name, info in Spec.model_fields.items():
        if name not in spec_data:
            continue
        value = spec_data[name]
        typ = _unwrap(info.annotation)
        if typing.get_origin(typ) is list:
            adapter: TypeAdapter[Any] = TypeAdapter(typing.get_args(typ)[0])
            fields[name] = [_try(adapter, item) for item in value] if isinstance(value, list) else []
        else:
            got = _try(TypeAdapter(info.annotation), value)
            if got is not None:
                fields[name] = got
    metadata = _try(TypeAdapter(Metadata), data.get("metadata")) or Metadata.model_construct(name="lab")
    return Recipe.model_construct(apiVersion="kubenetctl/v1", kind="Lab", metadata=metadata, spec=Spec.model_construct(**fields))


def _try(adapter: TypeAdapter[Any], value: Any) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


def parse(doc: Document) -> tuple[Recipe, list[Problem]]:
    """The recipe and its field problems; with problems, the recipe is partial (see module doc)."""
    if doc.data is None:
        return _partial(None), []
    if not isinstance(doc.data, dict):
        return _partial(None), [Problem((), f"a recipe is a mapping (apiVersion, kind, metadata, spec), got {_describe(doc.data)}")]
    try:
        return Recipe.model_validate(doc.data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            problem = _problem(err, doc.data)
            problems.append(doc.locate(problem, key=err["type"] == "extra_forbidden"))
        return _partial(doc.data), problems
