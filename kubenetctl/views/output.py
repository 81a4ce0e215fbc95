"""The one place results reach stdout: a rich table for people, JSON or YAML for scripts.

Every machine-readable document has the same envelope:

    {"apiVersion": "kubenetctl/v1", "kind": "<Kind>", ...fields..., "items": [...]}

`apiVersion` changes only when a field changes meaning or disappears; new fields may be
added within a version. Logs and progress never go to stdout.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from typing import Any, Callable

API_VERSION = "kubenetctl/v1"


class Format(str, Enum):
    table = "table"
    json = "json"
    yaml = "yaml"


def document(kind: str, items: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind, **fields}
    if items is not None:
        doc["items"] = items
    return doc


def emit(doc: dict[str, Any], fmt: Format, human: Callable[[dict[str, Any]], Any] | None = None) -> None:
    if fmt is Format.json:
        sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
    elif fmt is Format.yaml:
        import yaml

        sys.stdout.write(yaml.safe_dump(json.loads(json.dumps(doc, default=str)), sort_keys=False))
    else:
        renderable = human(doc) if human is not None else json.dumps(doc, indent=2, default=str)
        if renderable is None:
            return
        console().print(renderable)


def console(stderr: bool = False) -> Any:
    """A rich console; when the stream is not a terminal, lines are never cut or folded."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    return Console(file=stream, highlight=False, soft_wrap=not tty, width=None if tty else 4096)


def table(columns: list[str], rows: list[list[Any]], title: str | None = None) -> Any:
    from rich.table import Table

    t = Table(title=title, box=None, header_style="bold", pad_edge=False, title_justify="left")
    for col in columns:
        t.add_column(col, overflow="fold")
    for row in rows:
        t.add_row(*("" if v is None else str(v) for v in row))
    return t
