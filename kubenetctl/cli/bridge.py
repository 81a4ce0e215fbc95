"""kubenetctl bridge: Linux bridges (cni0) and their ports."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, MtuOpt, NetnsOpt, check_netns, ensure_all, executor, group, list_output, remove_all, report
from kubenetctl.cli.veth import AllOpt
from kubenetctl.resources import Address, Link

app = group("Linux bridges and their ports.")


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Bridge name, e.g. cni0.")],
    netns: NetnsOpt = None,
    addr: Annotated[Optional[list[str]], typer.Option("--addr", help="Address, e.g. 10.244.1.1/24 (repeatable).")] = None,
    mtu: MtuOpt = None,
    mac: Annotated[Optional[str], typer.Option("--mac", help="MAC address.")] = None,
    up: Annotated[bool, typer.Option("--up/--down", help="Bring it up.")] = True,
) -> None:
    """Create a bridge, optionally with addresses (the pods' gateway)."""
    netns = check_netns(netns)
    bridge = Link(
        netns, validate.ifname(name, "NAME"), "bridge", up=up,
        mtu=None if mtu is None else validate.mtu(mtu, "--mtu"), mac=mac and validate.unicast_mac(mac, "--mac"),
    )
    addrs = [Address(netns, bridge.name, validate.interface_cidr(c, "--addr")) for c in addr or []]
    ensure_all("bridge add", [bridge, *addrs])


@app.command("del")
def delete(name: Annotated[str, typer.Argument(help="Bridge name.")], netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete a bridge (its ports stay, detached). Already gone: success."""
    bridge = Link(check_netns(netns), validate.ifname(name, "NAME"), "bridge")
    remove_all("bridge del", [bridge], force)


@app.command("attach")
def attach(
    bridge: Annotated[str, typer.Argument(help="Bridge name.")],
    port: Annotated[str, typer.Argument(help="Link to make a port of the bridge.")],
    netns: NetnsOpt = None,
) -> None:
    """Make a link a port of a bridge (both in the same namespace)."""
    netns = check_netns(netns)
    validate.ifname(bridge, "BRIDGE")
    with executor("bridge attach") as ex:
        ex.get_link(netns, bridge, "bridge")
        change = ex.set_link(netns, validate.ifname(port, "PORT"), master=bridge)
    report([change])


@app.command("detach")
def detach(port: Annotated[str, typer.Argument(help="Port to take off its bridge.")], netns: NetnsOpt = None) -> None:
    """Take a port off its bridge."""
    with executor("bridge detach") as ex:
        change = ex.set_link(check_netns(netns), validate.ifname(port, "PORT"), master="")
    report([change])


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List bridges with their ports and addresses."""
    rows = listing.bridge_rows(listing.snapshot(check_netns(netns), all_ns))
    list_output(
        "BridgeList", ["NETNS", "NAME", "MTU", "STATE", "PORTS", "ADDRESSES", "OWNER"], rows,
        ["netns", "name", "mtu", "up", "ports", "addresses", "owner"],
    )
