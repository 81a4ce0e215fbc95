"""kubenetctl addr: interface addresses."""

from __future__ import annotations

from typing import Annotated

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, NetnsOpt, check_netns, ensure_all, group, list_output, remove_all
from kubenetctl.cli.veth import AllOpt
from kubenetctl.resources import Address

app = group("Interface addresses.")
Dev = Annotated[str, typer.Argument(help="Interface.")]
Cidr = Annotated[str, typer.Argument(help="Address with prefix, e.g. 10.244.1.2/24.")]


def _address(dev: str, cidr: str, netns: str | None) -> Address:
    return Address(check_netns(netns), validate.ifname(dev, "DEV"), validate.interface_cidr(cidr, "CIDR"))


@app.command("add")
def add(dev: Dev, cidr: Cidr, netns: NetnsOpt = None) -> None:
    """Add an address to an interface. Already there: unchanged."""
    address = _address(dev, cidr, netns)
    ensure_all("addr add", [address])


@app.command("del")
def delete(dev: Dev, cidr: Cidr, netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Remove an address. Already gone: success."""
    address = _address(dev, cidr, netns)
    remove_all("addr del", [address], force)


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List addresses (IPv6 link-local ones left out)."""
    snap = listing.snapshot(check_netns(netns), all_ns)
    rows = [{**a.to_dict(), "owner": snap.owner(a.key)} for a in snap.of_type("address")]
    rows.sort(key=lambda r: (r["netns"] or "", r["link"]))
    list_output("AddressList", ["NETNS", "LINK", "ADDRESS", "OWNER"], rows, ["netns", "link", "cidr", "owner"])
