"""kubenetctl vxlan: VXLAN devices and their peers (flood or flannel-style unicast)."""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, NetnsOpt, check_netns, executor, group, list_output, remove_all, report
from kubenetctl.cli.veth import AllOpt
from kubenetctl.errors import InvalidInput, NotFound
from kubenetctl.overlay import FLANNEL_PORT, flood_peer, overlay_mtu, unicast_peer
from kubenetctl.resources import Address, Link, where

app = group("VXLAN devices and their remote peers.")
peer_app = group("Remote VTEPs of a VXLAN device.")
app.add_typer(peer_app, name="peer")

DEFAULT_MTU_WITHOUT_UNDERLAY = 1450


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Device name, e.g. flannel.1 or vxlan0.")],
    vni: Annotated[int, typer.Option("--vni", help="VXLAN network identifier, 1..16777215.")],
    port: Annotated[int, typer.Option("--port", help="UDP port (flannel uses 8472, IANA 4789).")] = FLANNEL_PORT,
    local: Annotated[Optional[str], typer.Option("--local", help="Local underlay IP (source of the outer packet).")] = None,
    dev: Annotated[Optional[str], typer.Option("--dev", help="Underlay device.")] = None,
    learning: Annotated[bool, typer.Option("--learning/--no-learning", help="Learn remote MACs from traffic.")] = False,
    mtu: Annotated[Optional[int], typer.Option("--mtu", help="MTU; default: underlay MTU - 50.")] = None,
    netns: NetnsOpt = None,
    addr: Annotated[Optional[list[str]], typer.Option("--addr", help="Address on the device (repeatable).")] = None,
    mac: Annotated[Optional[str], typer.Option("--mac", help="VTEP MAC address (what peers put in their FDB).")] = None,
    up: Annotated[bool, typer.Option("--up/--down", help="Bring it up.")] = True,
) -> None:
    """Create a VXLAN device. Without --mtu the MTU is the underlay's minus 50 bytes."""
    netns = check_netns(netns)
    name = validate.ifname(name, "NAME")
    local = local and validate.ip(local, "--local")
    dev = dev and validate.ifname(dev, "--dev")
    if mtu is not None:
        validate.mtu(mtu, "--mtu")
    addrs = [Address(netns, name, validate.interface_cidr(c, "--addr")) for c in addr or []]
    link = Link(
        netns, name, "vxlan", mtu=mtu, up=up, mac=mac and validate.unicast_mac(mac, "--mac"),
        vni=validate.vni(vni, "--vni"), port=validate.port(port, "--port"), local=local, dev=dev, learning=learning,
    )
    with executor("vxlan add") as ex:
        if mtu is None:
            link = replace(link, mtu=_derived_mtu(ex, netns, dev, local))
        changes = [(ex.ensure(link), link)] + [(ex.ensure(a), a) for a in addrs]
    report(changes)


def _derived_mtu(ex, netns: str | None, dev: str | None, local: str | None) -> int:  # type: ignore[no-untyped-def]
    ipv6 = bool(local) and ipaddress.ip_address(local).version == 6
    if dev:
        underlay = ex.get_link(netns, dev)
        return overlay_mtu(underlay.mtu, ipv6)
    if local:
        snap = ex.snapshot(netns, peers=False)
        for a in snap.of_type("address"):
            if a.cidr.split("/")[0] == local:
                return overlay_mtu(snap.get(("link", netns, a.link)).mtu, ipv6)
        raise NotFound(
            f"--local: no interface in the {where(netns)} has address {local}",
            hint="add the underlay address first, or pass --dev",
        )
    return DEFAULT_MTU_WITHOUT_UNDERLAY


@app.command("del")
def delete(name: Annotated[str, typer.Argument(help="Device name.")], netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete a VXLAN device (its FDB entries go with it). Already gone: success."""
    link = Link(check_netns(netns), validate.ifname(name, "NAME"), "vxlan")
    remove_all("vxlan del", [link], force)


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List VXLAN devices with VNI, port, local IP, underlay and MTU."""
    rows = listing.link_rows(listing.snapshot(check_netns(netns), all_ns), {"vxlan"})
    list_output(
        "LinkList", ["NETNS", "NAME", "VNI", "PORT", "LOCAL", "DEV", "LEARNING", "MTU", "MAC", "ADDRESSES", "OWNER"],
        rows, ["netns", "name", "vni", "port", "local", "dev", "learning", "mtu", "mac", "addresses", "owner"],
    )


def _peer_resources(name: str, remote: str, netns: str | None, mac: str | None, pod_cidr: str | None, gateway: str | None):  # type: ignore[no-untyped-def]
    name = validate.ifname(name, "NAME")
    remote = validate.ip(remote, "--remote")
    if (mac is None) != (pod_cidr is None):
        raise InvalidInput(
            "--mac and --pod-cidr go together (unicast mode)",
            hint="give both for flannel-style unicast, or neither for flood mode",
        )
    if mac is None:
        return flood_peer(netns, name, remote)
    return unicast_peer(
        netns, name, remote, validate.unicast_mac(mac, "--mac"), validate.network_cidr(pod_cidr, "--pod-cidr"),  # type: ignore[arg-type]
        gateway and validate.ip(gateway, "--gateway"),
    )


PeerName = Annotated[str, typer.Argument(help="The local VXLAN device.")]
RemoteOpt = Annotated[str, typer.Option("--remote", help="Underlay IP of the remote node (its VTEP).")]
MacOpt = Annotated[Optional[str], typer.Option("--mac", help="Unicast: the remote VTEP's MAC address.")]
CidrOpt = Annotated[Optional[str], typer.Option("--pod-cidr", help="Unicast: the remote node's pod subnet.")]
GwOpt = Annotated[Optional[str], typer.Option("--gateway", help="Unicast: next hop for the subnet (default: its .0).")]


@peer_app.command("add")
def peer_add(name: PeerName, remote: RemoteOpt, mac: MacOpt = None, pod_cidr: CidrOpt = None, gateway: GwOpt = None, netns: NetnsOpt = None) -> None:
    """Add a remote VTEP: flood (all-zeros FDB) or, with --mac/--pod-cidr, flannel-style unicast."""
    netns = check_netns(netns)
    resources = _peer_resources(name, remote, netns, mac, pod_cidr, gateway)
    with executor("vxlan peer add") as ex:
        ex.get_link(netns, name, "vxlan")
        changes = [(ex.ensure(r), r) for r in resources]
    report(changes)


@peer_app.command("del")
def peer_del(name: PeerName, remote: RemoteOpt, mac: MacOpt = None, pod_cidr: CidrOpt = None, gateway: GwOpt = None, netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Remove a remote VTEP's entries. Already gone: success."""
    netns = check_netns(netns)
    resources = _peer_resources(name, remote, netns, mac, pod_cidr, gateway)
    remove_all("vxlan peer del", list(reversed(resources)), force)


@peer_app.command("list")
def peer_list(name: PeerName, netns: NetnsOpt = None) -> None:
    """List a VXLAN device's FDB entries, permanent neighbours and routes."""
    snap = listing.snapshot(check_netns(netns), False, ("link", "fdb", "neighbor", "route"))
    rows = []
    for res in snap.resources.values():
        if getattr(res, "link", None) == name or (res.TYPE == "route" and res.dev == name):  # type: ignore[union-attr]
            rows.append({**res.to_dict(), "describe": res.describe()})
    list_output("PeerEntryList", ["TYPE", "ENTRY"], rows, ["type", "describe"])
