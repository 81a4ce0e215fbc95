"""kubenetctl route: routes (default routes of pods, onlink routes of overlays)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kubenetctl import validate
from kubenetctl.cli import listing
from kubenetctl.cli.common import ForceOpt, NetnsOpt, check_netns, ensure_all, group, list_output, remove_all
from kubenetctl.cli.veth import AllOpt
from kubenetctl.resources import MAIN_TABLE, Route

app = group("Routes.")

Dst = Annotated[str, typer.Argument(help="Destination network, or 'default'.")]
ViaOpt = Annotated[Optional[str], typer.Option("--via", help="Gateway address.")]
DevOpt = Annotated[Optional[str], typer.Option("--dev", help="Outgoing interface.")]
OnlinkOpt = Annotated[bool, typer.Option("--onlink", help="Gateway is reachable on --dev even without a matching subnet.")]
TableOpt = Annotated[int, typer.Option("--table", help="Routing table id.")]
MetricOpt = Annotated[Optional[int], typer.Option("--metric", help="Route metric (priority).")]
SrcOpt = Annotated[Optional[str], typer.Option("--src", help="Preferred source address.")]


def _route(dst: str, via: str | None, dev: str | None, onlink: bool, table: int, metric: int | None, src: str | None, netns: str | None) -> Route:
    validate.route_target(via, dev, onlink, "--")
    return Route(
        check_netns(netns), validate.route_dst(dst, "DST"), via=via and validate.ip(via, "--via"),
        dev=dev and validate.ifname(dev, "--dev"), onlink=onlink, table=validate.table(table, "--table"),
        metric=None if metric is None else validate.metric(metric, "--metric"), src=src and validate.ip(src, "--src"),
    )


@app.command("add")
def add(dst: Dst, via: ViaOpt = None, dev: DevOpt = None, onlink: OnlinkOpt = False, table: TableOpt = MAIN_TABLE,
        metric: MetricOpt = None, src: SrcOpt = None, netns: NetnsOpt = None) -> None:
    """Add a route. The same route again: unchanged; one of ours that differs: updated."""
    route = _route(dst, via, dev, onlink, table, metric, src, netns)
    ensure_all("route add", [route])


@app.command("del")
def delete(dst: Dst, via: ViaOpt = None, dev: DevOpt = None, table: TableOpt = MAIN_TABLE, metric: MetricOpt = None,
           netns: NetnsOpt = None, force: ForceOpt = False) -> None:
    """Delete a route. Already gone: success. With --via or --dev, only the route through them (else exit 4)."""
    route = Route(
        check_netns(netns), validate.route_dst(dst, "DST"), via=via and validate.ip(via, "--via"),
        dev=dev and validate.ifname(dev, "--dev"), table=validate.table(table, "--table"),
        metric=None if metric is None else validate.metric(metric, "--metric"),
    )
    remove_all("route del", [route], force, match=("via", "dev"))


@app.command("list")
def list_(netns: NetnsOpt = None, all_ns: AllOpt = False) -> None:
    """List routes of every table but 'local'."""
    snap = listing.snapshot(check_netns(netns), all_ns, ("link", "route"))
    rows = [{**r.to_dict(), "owner": snap.owner(r.key), "describe": r.describe()} for r in snap.of_type("route")]
    list_output(
        "RouteList", ["NETNS", "DST", "VIA", "DEV", "ONLINK", "TABLE", "METRIC", "OWNER"], rows,
        ["netns", "dst", "via", "dev", "onlink", "table", "metric", "owner"],
    )
