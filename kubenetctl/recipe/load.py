"""Reading a recipe file: YAML to plain data, keeping the line and column of every node.

The position of each value (and of each mapping key) is recorded under its path, e.g.
("spec", "links", 2, "vni"), so that every later error can say file:line:column.
Syntax errors, duplicate keys and multi-document files are reported the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

Path = tuple  # of str keys and int indexes


@dataclass(frozen=True)
class Pos:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe, at a path, with an optional hint."""

    path: Path
    message: str
    hint: str | None = None
    pos: Pos | None = None

    def where(self, source: str) -> str:
        if self.pos is None:
            return source
        return f"{source}:{self.pos.line}:{self.pos.column}"

    def text(self, source: str) -> str:
        loc = format_path(self.path)
        return f"{self.where(source)}: {loc + ': ' if loc else ''}{self.message}"

    def to_dict(self, source: str) -> dict[str, Any]:
        out: dict[str, Any] = {"file": source, "path": format_path(self.path), "message": self.message}
        if self.pos is not None:
            out.update(line=self.pos.line, column=self.pos.column)
        if self.hint:
            out["hint"] = self.hint
        return out


@dataclass
class Document:
    source: str  # the file name as the user gave it
    text: str
    data: Any = None
    values: dict[Path, Pos] = field(default_factory=dict)  # where each value starts
    keys: dict[Path, Pos] = field(default_factory=dict)  # where the key naming that value starts
    problems: list[Problem] = field(default_factory=list)

    def pos(self, path: Path, *, key: bool = False) -> Pos | None:
        """The position of the longest prefix of `path` that exists in the file."""
        for end in range(len(path), -1, -1):
            prefix = tuple(path[:end])
            if key and prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return None

    def locate(self, problem: Problem, *, key: bool = False) -> Problem:
        if problem.pos is not None:
            return problem
        return Problem(problem.path, problem.message, problem.hint, self.pos(problem.path, key=key))


def format_path(path: Path) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _pos(mark: Any) -> Pos:
    return Pos(mark.line + 1, mark.column + 1)


MAX_VALUES = 200_000  # a 1,000-pod low-level recipe has ~30,000; an alias "billion laughs" has billions


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, doc: Document) -> None:
        self.loader = loader
        self.doc = doc
        self.count = 0

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if self.count > MAX_VALUES:  # aliases (*name) expand: stop before memory runs out
            raise _TooBig(node)
        self.doc.values[path] = _pos(node.start_mark)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, bool, float)) and key is not None:
                    self.doc.problems.append(Problem(path, "a mapping key must be a plain scalar", pos=_pos(key_node.start_mark)))
                    continue
                if key in out:
                    first = self.doc.keys[(*path, key)]
                    self.doc.problems.append(Problem(
                        (*path, key), f"duplicate key {key!r} (first given at line {first.line})",
                        hint="YAML keeps only the last one; remove or rename one of them", pos=_pos(key_node.start_mark),
                    ))
                    continue
                self.doc.keys[(*path, key)] = _pos(key_node.start_mark)
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self.loader.construct_object(node, deep=True)


def loads(text: str, source: str = "<recipe>") -> Document:
    doc = Document(source=source, text=text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            doc.problems.append(Problem((), "the file is empty", hint="start from a recipe in recipes/", pos=Pos(1, 1)))
            return doc
        doc.data = _Builder(loader, doc).build(node, ())
    except _TooBig as exc:
        doc.data = None
        doc.problems.append(Problem((), f"the recipe expands to more than {MAX_VALUES:,} values",
                                    hint="YAML aliases (*name) that repeat each other multiply; write the values out",
                                    pos=_pos(exc.node.start_mark)))
    except RecursionError:  # the YAML composer recurses once per level
        doc.data = None
        doc.problems.append(Problem((), "the recipe nests too deeply", hint="a recipe is a few levels deep; look for runaway brackets",
                                    pos=Pos(1, 1)))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(str(part) for part in (exc.context, exc.problem) if part)
        if "but found another document" in message:
            message = "the file holds more than one YAML document"
        doc.problems.append(Problem((), f"YAML syntax: {message}", hint="check the indentation and quoting on this line and the one before",
                                    pos=_pos(mark) if mark else None))
    except yaml.YAMLError as exc:  # pragma: no cover - yaml raises marked errors for text input
        doc.problems.append(Problem((), f"YAML: {exc}"))
    finally:
        loader.dispose()
    return doc


def load(path: str) -> Document:
    """Read a recipe file; a missing or unreadable file is one clear error."""
    from kubenetctl.errors import InvalidInput, NotFound

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise NotFound(f"recipe file {path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a recipe file") from None
    except PermissionError:
        raise InvalidInput(f"cannot read recipe file {path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return loads(text, path)
