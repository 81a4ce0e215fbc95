"""kubenetctl: the command tree, global options, and the one place errors become exit codes."""

from __future__ import annotations

import importlib
import logging
import sys
import traceback
from typing import Annotated, Any, Optional, Sequence

import typer
from typer.core import TyperGroup

from kubenetctl import __version__
from kubenetctl.cli.common import G
from kubenetctl.errors import EXIT_CODE_DOCS, ExitCode, KubenetError
from kubenetctl.ownership import CLI_OWNER
from kubenetctl.views.output import Format

PROG = "kubenetctl"


def _error_line(message: str, hint: str | None = None) -> None:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    if hint:
        sys.stderr.write(f"  hint: {hint}\n")


# Command groups, imported only when used: `kubenetctl ns list` in a script loop loads the
# ns module, not the other fifteen (start-up cost; see bench/startup.py).
GROUPS: dict[str, tuple[str, str]] = {
    # the main job: labs from recipes (top-level verbs, like kubectl and terraform)
    "apply": ("kubenetctl.cli.lab", "apply_app"),
    "plan": ("kubenetctl.cli.lab", "plan_app"),
    "validate": ("kubenetctl.cli.lab", "validate_app"),
    "check": ("kubenetctl.cli.lab", "check_app"),
    "destroy": ("kubenetctl.cli.lab", "destroy_app"),
    "lab": ("kubenetctl.cli.lab", "app"),
    "inspect": ("kubenetctl.cli.inspect", "inspect_app"),
    "trace": ("kubenetctl.cli.trace", "trace_app"),
    "recipe": ("kubenetctl.cli.recipe", "app"),
    # primitives
    "ns": ("kubenetctl.cli.ns", "app"),
    "veth": ("kubenetctl.cli.veth", "app"),
    "bridge": ("kubenetctl.cli.bridge", "app"),
    "vlan": ("kubenetctl.cli.vlan", "app"),
    "vxlan": ("kubenetctl.cli.vxlan", "app"),
    "link": ("kubenetctl.cli.link", "app"),
    "addr": ("kubenetctl.cli.addr", "app"),
    "route": ("kubenetctl.cli.route", "app"),
    "neigh": ("kubenetctl.cli.neigh", "neigh_app"),
    "fdb": ("kubenetctl.cli.neigh", "fdb_app"),
    "sysctl": ("kubenetctl.cli.sysctl", "app"),
    "ipam": ("kubenetctl.cli.ipam", "app"),
    "cni": ("kubenetctl.cli.cni", "app"),
}


class KubenetGroup(TyperGroup):
    """Runs the command tree; turns every failure into one line and a documented exit code."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*GROUPS, *(name for name in super().list_commands(ctx) if name not in GROUPS)]

    def get_command(self, ctx: Any, name: str) -> Any:
        if name in GROUPS and name not in self.commands:
            module, attr = GROUPS[name]
            group = typer.main.get_command(getattr(importlib.import_module(module), attr))
            group.name = name
            self.commands[name] = group
        return super().get_command(ctx, name)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,  # type: ignore[override]
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        code = self._run(args, prog_name or PROG, complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any) -> int:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False, **extra)
            return rv if isinstance(rv, int) else 0
        except KubenetError as exc:
            _error_line(str(exc), exc.hint)
            return int(exc.exit_code)
        except typer.TyperException as exc:  # usage errors from option parsing
            ctx = getattr(exc, "ctx", None)
            hint = f"see '{ctx.command_path} --help'" if ctx is not None else None
            _error_line(exc.format_message(), hint)
            return int(getattr(exc, "exit_code", ExitCode.USAGE))
        except (KeyboardInterrupt, typer.Abort):
            _error_line("interrupted")
            return 130
        except BrokenPipeError:
            return 0
        except PermissionError as exc:  # a file or directory the user may not touch
            _error_line(f"permission denied: {exc.filename or exc}", "run as root, or point kubenetctl at files you can use")
            return int(ExitCode.PERMISSION)
        except Exception as exc:  # a bug: one line unless asked for more
            if G.verbose >= 2:
                traceback.print_exc()
            _error_line(f"internal error: {type(exc).__name__}: {exc}", "rerun with -vv for the traceback and report it")
            return int(ExitCode.INTERNAL)


app = typer.Typer(
    name=PROG,
    cls=KubenetGroup,
    help="Build, inspect and tear down Kubernetes-style pod networks out of real kernel objects.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Exit codes: " + "; ".join(f"{int(c)} {c.name.lower()}" for c in EXIT_CODE_DOCS),
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"{PROG} {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def main_options(
    output: Annotated[Format, typer.Option("--output", "-o", help="Result format on stdout.", case_sensitive=False)] = Format.table,
    verbose: Annotated[int, typer.Option("--verbose", "-v", count=True, help="More logs on stderr (-vv: debug and tracebacks).")] = 0,
    owner: Annotated[Optional[str], typer.Option("--owner", help="Owner recorded on what this command creates.", hidden=True)] = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    G.output = output
    G.verbose = verbose
    G.owner = owner or CLI_OWNER
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format=f"{PROG}: %(message)s", stream=sys.stderr, force=True)


@app.command("completion")
def completion(shell: Annotated[str, typer.Argument(help="bash, zsh or fish.")]) -> None:
    """Print the shell completion script (also shipped in completions/)."""
    from kubenetctl.cli.completion import render

    sys.stdout.write(render(typer.main.get_command(app), shell))


def run() -> None:
    typer.main.get_command(app).main(prog_name=PROG)
