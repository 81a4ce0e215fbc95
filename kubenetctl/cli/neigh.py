"""kubenetctl neigh / fdb: permanent neighbour and forwarding-database entries."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, NetnsOpt, check_netns, ensure_all, group, list_output, remove_all
from kubenetctl.cli.veth import AllOpt
from kubenetctl.resources import Fdb, Neighbor

neigh_app = group("Permanent neighbour (ARP/NDP) entries.")
fdb_app = group("FDB entries of VXLAN devices (MAC -> remote VTEP).")

Dev = Annotated[str, typer.Argument(help="Interface.")]
Ip = Annotated[str, typer.Argument(help="Neighbour IP address.")]
Mac = Annotated[str, typer.Argument(help="MAC address.")]
DstOpt = Annotated[Optional[str], typer.Option("--dst", help="Remote VTEP underlay IP.")]


def _neighbor(dev: str, ip: str, mac: str, netns: str | None) -> Neighbor:
    return Neighbor(check_netns(netns), validate.ifname(dev, "DEV"), validate.ip(ip, "IP"), validate.mac(mac, "MAC"))


def _fdb(dev: str, mac: str, dst: str | None, netns: str | None) -> Fdb:
    return Fdb(check_netns(netns), validate.ifname(dev, "DEV"), validate.mac(mac, "MAC"), dst and validate.ip(dst, "--dst"))


def _list(netns: str | None, all_ns: bool, type_name: str, kind: str) -> None:
    snap = listing.snapshot(check_netns(netns), all_ns, ("link", type_name))
    rows = [{**r.to_dict(), "owner": snap.owner(r.key)} for r in snap.of_type(type_name)]
    cols = ["NETNS", "DEV", "IP", "MAC", "OWNER"] if type_name == "neighbor" else ["NETNS", "DEV", "MAC", "DST", "OWNER"]
    keys = ["netns", "link", "ip", "mac", "owner"] if type_name == "neighbor" else ["netns", "link", "mac", "dst", "owner"]
    list_output(kind, cols, rows, keys)


@neigh_app.command("add")
def neigh_add(dev: Dev, ip: Ip, mac: Mac, netns: NetnsOpt = None) -> None:
    """Add (or update) a permanent neighbour entry."""
    res = _neighbor(dev, ip, mac, netns)
    ensure_all("neigh add", [res])


@neigh_app.command("del")
def neigh_del(dev: Dev, ip: Ip, mac: Mac, netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete a permanent neighbour entry. Already gone: success. Another MAC than MAC: exit 4."""
    remove_all("neigh del", [_neighbor(dev, ip, mac, netns)], force, match=("mac",))


@neigh_app.command("list")
def neigh_list(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List permanent neighbour entries."""
    _list(netns, all_ns, "neighbor", "NeighborList")


@fdb_app.command("add")
def fdb_add(dev: Dev, mac: Mac, dst: DstOpt = None, netns: NetnsOpt = None) -> None:
    """Add an FDB entry (00:00:00:00:00:00 with --dst floods to that VTEP)."""
    res = _fdb(dev, mac, dst, netns)
    ensure_all("fdb add", [res])


@fdb_app.command("del")
def fdb_del(dev: Dev, mac: Mac, dst: DstOpt = None, netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete an FDB entry. Already gone: success."""
    remove_all("fdb del", [_fdb(dev, mac, dst, netns)], force)


@fdb_app.command("list")
def fdb_list(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List FDB entries of VXLAN devices."""
    _list(netns, all_ns, "fdb", "FdbList")
