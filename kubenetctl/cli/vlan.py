"""kubenetctl vlan: 802.1Q sub-interfaces, optionally moved into a pod's namespace."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, MtuOpt, NetnsOpt, check_netns, ensure_all, group, list_output, remove_all
from kubenetctl.cli.veth import AllOpt
from kubenetctl.resources import Address, Link

app = group("802.1Q VLAN sub-interfaces.")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name of the sub-interface, e.g. eth0.100.")],
    parent: Annotated[str, typer.Option("--parent", help="The trunk link it tags frames on.")],
    vlan_id: Annotated[int, typer.Option("--id", help="VLAN id, 1..4094.")],
    netns: Annotated[Optional[str], typer.Option("--netns", "-n", help="Namespace of the parent link.")] = None,
    into: Annotated[Optional[str], typer.Option("--into", help="Create the sub-interface in this namespace.")] = None,
    addr: Annotated[Optional[list[str]], typer.Option("--addr", help="Address for it (repeatable).")] = None,
    mtu: MtuOpt = None,
    up: Annotated[bool, typer.Option("--up/--down", help="Bring it up.")] = True,
) -> None:
    """Create an 802.1Q sub-interface of PARENT, straight into --into's namespace if given."""
    netns, into = check_netns(netns), check_netns(into, "--into")
    where = into if into is not None else netns
    link = Link(
        where, validate.ifname(name, "NAME"), "vlan", up=up, mtu=None if mtu is None else validate.mtu(mtu, "--mtu"),
        parent=validate.ifname(parent, "--parent"), parent_netns=netns, vlan_id=validate.vlan_id(vlan_id, "--id"),
    )
    addrs = [Address(where, link.name, validate.interface_cidr(c, "--addr")) for c in addr or []]
    ensure_all("vlan add", [link, *addrs])


@app.command("del")
def delete(
    name: Annotated[str, typer.Argument(help="Sub-interface name.")],
    netns: Annotated[Optional[str], typer.Option("--netns", "-n", help="Namespace the sub-interface is in.")] = None,
    force: ForceOpt = False,
) -> None:
    """Delete a VLAN sub-interface. Already gone: success."""
    link = Link(check_netns(netns), validate.ifname(name, "NAME"), "vlan")
    remove_all("vlan del", [link], force)


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List VLAN sub-interfaces with their parent and id."""
    rows = listing.link_rows(listing.snapshot(check_netns(netns), all_ns), {"vlan"})
    list_output(
        "LinkList", ["NETNS", "NAME", "ID", "PARENT", "PARENT NETNS", "MTU", "STATE", "ADDRESSES", "OWNER"], rows,
        ["netns", "name", "vlan_id", "parent", "parent_netns", "mtu", "up", "addresses", "owner"],
    )
