"""kubenetctl sysctl: per-namespace kernel settings (ip_forward on a node)."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from kubenetctl.cli.common import NetnsOpt, check_netns, ensure_all, list_output
from kubenetctl.errors import InvalidInput
from kubenetctl.netlink import nsfs
from kubenetctl.resources import Sysctl

app = typer.Typer(help="Per-namespace sysctls (net.*).", no_args_is_help=True, add_completion=False)
Key = Annotated[str, typer.Argument(help="Key under net., e.g. net.ipv4.ip_forward.")]
_KEY = re.compile(r"^net[./][A-Za-z0-9_./-]+$")


def _key(key: str) -> str:
    if not _KEY.match(key) or ".." in key.replace(".", "/").split("/"):
        raise InvalidInput(f"KEY: {key!r} is not a net.* sysctl", hint="for example net.ipv4.ip_forward")
    return key


@app.command("set")
def set_(key: Key, value: Annotated[str, typer.Argument(help="Value.")], netns: NetnsOpt = None) -> None:
    """Set a net.* sysctl inside a namespace."""
    res = Sysctl(check_netns(netns), _key(key), value)
    ensure_all("sysctl set", [res])


@app.command("get")
def get(key: Key, netns: NetnsOpt = None) -> None:
    """Read a net.* sysctl inside a namespace."""
    netns = check_netns(netns)
    try:
        value = nsfs.read_sysctl(netns, _key(key))
    except FileNotFoundError:
        raise InvalidInput(f"KEY: sysctl {key} does not exist") from None
    list_output("SysctlList", ["NETNS", "KEY", "VALUE"], [{"netns": netns, "name": key, "value": value}], ["netns", "name", "value"])
