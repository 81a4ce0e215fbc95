"""kubenetctl link: any link, whatever its kind (state, MTU, master; delete)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, NetnsOpt, check_netns, executor, group, list_output, report
from kubenetctl.cli.veth import AllOpt
from kubenetctl.errors import InvalidInput
from kubenetctl.resources import Link

app = group("Links of any kind.")
Name = Annotated[str, typer.Argument(help="Link name.")]


@app.command("set")
def set_(
    name: Name,
    netns: NetnsOpt = None,
    up: Annotated[Optional[bool], typer.Option("--up/--down", help="Administrative state.", show_default=False)] = None,
    mtu: Annotated[Optional[int], typer.Option("--mtu", help="MTU.")] = None,
    master: Annotated[Optional[str], typer.Option("--master", help="Bridge to enslave it to.")] = None,
    nomaster: Annotated[bool, typer.Option("--nomaster", help="Take it off its bridge.")] = False,
    mac: Annotated[Optional[str], typer.Option("--mac", help="MAC address.")] = None,
) -> None:
    """Change a link's state, MTU, MAC or bridge."""
    if master and nomaster:
        raise InvalidInput("--master and --nomaster contradict each other")
    wanted = {
        "up": up,
        "mtu": None if mtu is None else validate.mtu(mtu, "--mtu"),
        "master": "" if nomaster else (master and validate.ifname(master, "--master")),
        "mac": mac and validate.unicast_mac(mac, "--mac"),
    }
    wanted = {k: v for k, v in wanted.items() if v is not None}
    if not wanted:
        raise InvalidInput("nothing to change", hint="give --up/--down, --mtu, --master, --nomaster or --mac")
    with executor("link set") as ex:
        change = ex.set_link(check_netns(netns), validate.ifname(name, "NAME"), **wanted)
    report([change])


@app.command("del")
def delete(name: Name, netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete a link of any kind that kubenetctl created. Already gone: success."""
    with executor("link del") as ex:
        current = ex.observe_one(Link(check_netns(netns), validate.ifname(name, "NAME"), "")).get(("link", netns, name))
        link = current if isinstance(current, Link) else Link(netns, name, "link")
        action = ex.remove(link, force=force)
    report([(action, link)])


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List every link with kind, state, MTU, master, addresses and owner."""
    rows = listing.link_rows(listing.snapshot(check_netns(netns), all_ns))
    list_output(
        "LinkList", ["NETNS", "NAME", "KIND", "MTU", "STATE", "MASTER", "MAC", "ADDRESSES", "OWNER"], rows,
        ["netns", "name", "kind", "mtu", "up", "master", "mac", "addresses", "owner"],
    )
