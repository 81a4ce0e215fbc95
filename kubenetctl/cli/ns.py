"""kubenetctl ns: named network namespaces."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from kubenetctl import validate
from kubenetctl.cli.common import ForceOpt, ensure_all, group, list_output, remove_all, require_root
from kubenetctl.errors import InvalidInput, KubenetError, NotFound
from kubenetctl.netlink import nsfs
from kubenetctl.resources import Netns

app = group("Network namespaces (the pods and nodes of a lab).")

Names = Annotated[list[str], typer.Argument(help="Namespace names.", show_default=False)]


@app.command("add")
def add(names: Names) -> None:
    """Create namespaces (loopback up, marked as kubenetctl's). Existing ones: unchanged."""
    resources = [Netns(validate.netns_name(n, "NAME")) for n in names]
    ensure_all("ns add", resources)


@app.command("del")
def delete(names: Names, force: ForceOpt = False) -> None:
    """Delete namespaces and everything in them. Already gone: success."""
    resources = [Netns(validate.netns_name(n, "NAME")) for n in names]
    remove_all("ns del", resources, force)


@app.command("list")
def list_() -> None:
    """List namespaces with their interface counts (fast: does not load the netlink library)."""
    rows = []
    for name in nsfs.list_names():
        try:
            ifaces = nsfs.interface_names(name)
        except (KubenetError, OSError):  # a half-made or unreadable entry: shown, not fatal
            ifaces = None
        rows.append({
            "name": name,
            "interfaces": None if ifaces is None else len(ifaces),
            "names": ifaces,
        })
    list_output("NamespaceList", ["NAME", "IFACES", "INTERFACES"], rows, ["name", "interfaces", "names"])


@app.command(
    "exec",
    context_settings={"allow_interspersed_args": False},
)
def exec_(
    name: Annotated[str, typer.Argument(help="Namespace to run in.")],
    command: Annotated[list[str], typer.Argument(help="Command and its arguments (put -- before them).")],
) -> None:
    """Run a command inside a namespace, like 'ip netns exec' (own /sys, /etc/netns/NAME files)."""
    validate.netns_name(name, "NAME")
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise InvalidInput("no command given", hint=f"kubenetctl ns exec {name} -- ip addr")
    require_root("ns exec")
    from kubenetctl.netlink.nsexec import enter_for_exec

    enter_for_exec(name)
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        raise NotFound(f"command {command[0]!r} not found in PATH") from None
