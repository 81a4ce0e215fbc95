"""kubenetctl veth: veth pairs, either end in any namespace."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, MtuOpt, NetnsOpt, check_netns, executor, group, list_output, remove_all, report
from kubenetctl.resources import Address, Link

app = group("veth pairs (a pod's cable to its node).")

AllOpt = Annotated[bool, typer.Option("--all", "-A", help="Every namespace.")]
LINK_COLUMNS = ["NETNS", "NAME", "PEER", "PEER NETNS", "MTU", "STATE", "MASTER", "ADDRESSES", "OWNER"]
LINK_KEYS = ["netns", "name", "peer", "peer_netns", "mtu", "up", "master", "addresses", "owner"]


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Name of this end.")],
    peer: Annotated[str, typer.Option("--peer", help="Name of the other end.")],
    netns: NetnsOpt = None,
    peer_netns: Annotated[Optional[str], typer.Option("--peer-netns", help="Namespace of the other end (created straight there).")] = None,
    mtu: MtuOpt = None,
    mac: Annotated[Optional[str], typer.Option("--mac", help="MAC address of this end.")] = None,
    peer_mac: Annotated[Optional[str], typer.Option("--peer-mac", help="MAC address of the other end.")] = None,
    addr: Annotated[Optional[list[str]], typer.Option("--addr", help="Address for this end, e.g. 10.0.0.1/24 (repeatable).")] = None,
    peer_addr: Annotated[Optional[list[str]], typer.Option("--peer-addr", help="Address for the other end (repeatable).")] = None,
    master: Annotated[Optional[str], typer.Option("--master", help="Bridge to attach this end to.")] = None,
    peer_master: Annotated[Optional[str], typer.Option("--peer-master", help="Bridge to attach the other end to.")] = None,
    up: Annotated[bool, typer.Option("--up/--down", help="Bring both ends up.")] = True,
) -> None:
    """Create a veth pair; each end may live in any namespace. Existing and identical: unchanged."""
    name, peer = validate.ifname(name, "NAME"), validate.ifname(peer, "--peer")
    netns, peer_netns = check_netns(netns), check_netns(peer_netns, "--peer-netns")
    validate.veth_ends(name, netns, peer, peer_netns, "--peer")
    if mtu is not None:
        validate.mtu(mtu, "--mtu")
    a = Link(
        netns, name, "veth", mtu=mtu, mac=mac and validate.unicast_mac(mac, "--mac"), up=up,
        master=master and validate.ifname(master, "--master"), peer=peer, peer_netns=peer_netns,
    )
    b = Link(
        peer_netns, peer, "veth", mtu=mtu, mac=peer_mac and validate.unicast_mac(peer_mac, "--peer-mac"), up=up,
        master=peer_master and validate.ifname(peer_master, "--peer-master"), peer=name, peer_netns=netns,
    )
    addrs = [Address(netns, name, validate.interface_cidr(c, "--addr")) for c in addr or []]
    addrs += [Address(peer_netns, peer, validate.interface_cidr(c, "--peer-addr")) for c in peer_addr or []]
    with executor("veth add") as ex:
        made = ex.ensure(a, peer=b)
        changes = [(made, a), (made if made == "created" else ex.ensure(b), b)]
        changes += [(ex.ensure(x), x) for x in addrs]
    report(changes)


@app.command("del")
def delete(
    name: Annotated[str, typer.Argument(help="Either end of the pair.")],
    netns: NetnsOpt = None,
    force: ForceOpt = False,
) -> None:
    """Delete a veth pair (both ends go). Already gone: success."""
    link = Link(check_netns(netns), validate.ifname(name, "NAME"), "veth")
    remove_all("veth del", [link], force)


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List veth ends with their peers, addresses and owner."""
    rows = listing.link_rows(listing.snapshot(check_netns(netns), all_ns), {"veth"})
    list_output("LinkList", LINK_COLUMNS, rows, LINK_KEYS)
