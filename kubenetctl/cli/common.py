"""What every command module shares: global options, the executor, change reports.

Nothing here imports pyroute2 at module load; the netlink layer is imported only when a
command actually talks to the kernel.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Iterator, Optional

import typer

from kubenetctl import validate
from kubenetctl.errors import PermissionDenied
from kubenetctl.ownership import CLI_OWNER
from kubenetctl.resources import Resource
from kubenetctl.views.output import Format, document, emit, table

if TYPE_CHECKING:  # pragma: no cover
    from kubenetctl.execute import Executor


@dataclass
class Globals:
    output: Format = Format.table
    verbose: int = 0
    owner: str = CLI_OWNER


G = Globals()

# options shared by many commands --------------------------------------------------------
NetnsOpt = Annotated[
    Optional[str],
    typer.Option("--netns", "-n", help="Network namespace to act in (default: the one kubenetctl runs in)."),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Delete even if kubenetctl did not create it.")]
MtuOpt = Annotated[Optional[int], typer.Option("--mtu", help="MTU in bytes (68..65535).")]


def group(help: str) -> typer.Typer:
    """A command group. No --install-completion: the shipped static scripts are the completion."""
    return typer.Typer(help=help, no_args_is_help=True, add_completion=False)


def verb(fn: Any) -> typer.Typer:
    """A top-level command as an app of its own, so that cli/main.py imports its module only
    when the command is used (a one-command app is that command)."""
    one = typer.Typer(add_completion=False, context_settings={"help_option_names": ["-h", "--help"]})
    one.command()(fn)
    return one


def check_netns(netns: str | None, field: str = "--netns") -> str | None:
    return None if netns is None else validate.netns_name(netns, field)


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise PermissionDenied(f"{action} needs root", hint="run it with sudo (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)")


@contextmanager
def executor(action: str) -> Iterator["Executor"]:
    """An executor inside one transaction: a failure undoes what this command did."""
    require_root(action)
    from kubenetctl.execute import Executor
    from kubenetctl.netlink.backend import NetlinkBackend
    from kubenetctl.netlink.session import Sessions

    with Sessions() as sessions:
        ex = Executor(NetlinkBackend(sessions), G.owner)
        with ex.transaction():
            yield ex
        ex.settle()


def ensure_all(action: str, resources: list[Resource]) -> None:
    """Ensure resources in one transaction (a link they need that is missing is NotFound, from
    the backend); the report is written after the transaction closed, so a broken pipe undoes nothing."""
    with executor(action) as ex:
        changes = [(ex.ensure(r), r) for r in resources]
    report(changes)


def remove_all(action: str, resources: list[Resource], force: bool, match: tuple[str, ...] = ()) -> None:
    with executor(action) as ex:
        changes = [(ex.remove(r, force=force, match=match), r) for r in resources]
    report(changes)


def report(changes: list[tuple[str, Resource]]) -> None:
    items = [{"action": action, "resource": res.to_dict()} for action, res in changes]

    def human(doc: dict[str, Any]) -> Any:
        from rich.text import Text

        colours = {"created": "green", "updated": "yellow", "replaced": "yellow", "deleted": "red"}
        out = Text()
        for (action, res) in changes:
            out.append(f"{action:<9}", style=colours.get(action, "dim"))
            out.append(f" {res.describe()}\n")
        out.rstrip()
        return out

    emit(document("ChangeList", items), G.output, human)


def list_output(kind: str, columns: list[str], rows: list[dict[str, Any]], keys: list[str]) -> None:
    def human(doc: dict[str, Any]) -> Any:
        if not rows:
            return "(none)"
        return table(columns, [[_cell(k, r.get(k)) for k in keys] for r in rows])

    emit(document(kind, rows), G.output, human)


def _cell(key: str, value: Any) -> str:
    if key in ("netns", "peer_netns", "parent_netns") and value is None:
        return "(host)"
    if value is None:
        return "-"
    if isinstance(value, bool):
        if key == "up":
            return "up" if value else "down"
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


__all__ = ["G", "executor", "report", "list_output", "check_netns", "require_root"]
