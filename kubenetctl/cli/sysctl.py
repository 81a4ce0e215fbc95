"""kubenetctl sysctl: per-namespace kernel settings (ip_forward on a node)."""

from __future__ import annotations

from typing import Annotated

import typer

from kubenetctl import validate
from kubenetctl.cli.common import NetnsOpt, check_netns, ensure_all, group, list_output
from kubenetctl.netlink import nsfs
from kubenetctl.resources import Sysctl

app = group("Per-namespace sysctls (net.*).")
Key = Annotated[str, typer.Argument(help="Key under net., e.g. net.ipv4.ip_forward.")]


def _key(key: str) -> str:
    return validate.sysctl_key(key, "KEY")


@app.command("set")
def set_(key: Key, value: Annotated[str, typer.Argument(help="Value.")], netns: NetnsOpt = None) -> None:
    """Set a net.* sysctl inside a namespace."""
    res = Sysctl(check_netns(netns), _key(key), value)
    ensure_all("sysctl set", [res])


@app.command("get")
def get(key: Key, netns: NetnsOpt = None) -> None:
    """Read a net.* sysctl inside a namespace."""
    netns = check_netns(netns)
    value = nsfs.read_sysctl(netns, _key(key))
    list_output("SysctlList", ["NETNS", "KEY", "VALUE"], [{"netns": netns, "name": key, "value": value}], ["netns", "name", "value"])
