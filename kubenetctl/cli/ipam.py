"""kubenetctl ipam: the host-local-compatible address store (shared with the reference plugin)."""

from __future__ import annotations

import ipaddress
import json
from typing import Annotated, Any, Optional

import typer

from kubenetctl.cli.common import G, group, list_output
from kubenetctl.errors import InvalidInput, NotFound, PermissionDenied
from kubenetctl.ipam.store import CNI_STATE_DIR, DEFAULT_DATA_DIR, FileStore, attachment
from kubenetctl.views.output import document, emit

app = group("IP address store compatible with the reference host-local plugin.")

DataDirOpt = Annotated[str, typer.Option("--data-dir", envvar="KUBENETCTL_IPAM_DATA_DIR",
                                         help="host-local dataDir (one directory per network).")]
CacheDirOpt = Annotated[str, typer.Option("--cache-dir", envvar="KUBENETCTL_CNI_CACHE_DIR",
                                          help="CNI result cache (libcni layout: <dir>/results).")]
NetworkArg = Annotated[str, typer.Argument(help="Network name (its directory under --data-dir).")]
ContainerOpt = Annotated[str, typer.Option("--container-id", help="Container id the address belongs to.")]
IfnameOpt = Annotated[str, typer.Option("--ifname", help="Interface name inside the container.")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Say what would be released; change nothing.")]


def _store(data_dir: str, network: str) -> FileStore:
    return FileStore(data_dir, network)


def _range_sets(subnets: list[str] | None, conf: str | None, netconfpath: str | None) -> tuple[list, str | None]:
    from kubenetctl.ipam.ranges import RangeSet, parse_ipam_ranges

    if conf:
        from kubenetctl.cni.runtime import load

        nl = load(conf, netconfpath)
        for p in nl.plugins:
            ipam = p.get("ipam") if isinstance(p.get("ipam"), dict) else None
            if ipam and ("ranges" in ipam or "subnet" in ipam):
                return parse_ipam_ranges(ipam, f"{nl.source}: ipam"), ipam.get("dataDir")
        raise InvalidInput(f"{nl.source}: no plugin has an ipam section with ranges")
    if not subnets:
        raise InvalidInput("give --subnet (repeatable: one range set each) or --conf", hint="e.g. --subnet 10.22.0.0/24")
    return [RangeSet.parse([{"subnet": s}], f"--subnet {s}") for s in subnets], None


@app.command("alloc")
def alloc(
    network: NetworkArg,
    container_id: ContainerOpt,
    ifname: IfnameOpt = "eth0",
    subnet: Annotated[Optional[list[str]], typer.Option("--subnet", help="Subnet to allocate from (repeatable: one address per subnet).")] = None,
    conf: Annotated[Optional[str], typer.Option("--conf", help="Take the ranges from this CNI config file or network name.")] = None,
    netconfpath: Annotated[Optional[str], typer.Option("--netconfpath", envvar="NETCONFPATH", help="Where --conf network names are looked up.")] = None,
    ip: Annotated[Optional[list[str]], typer.Option("--ip", help="Ask for this address (repeatable).")] = None,
    data_dir: Annotated[Optional[str], typer.Option("--data-dir", envvar="KUBENETCTL_IPAM_DATA_DIR", help="host-local dataDir (default: the config's, else /var/lib/cni/networks).")] = None,
) -> None:
    """Reserve one address per range set for a container interface, as host-local would."""
    from kubenetctl.cni.request import check_container_id, check_ifname
    from kubenetctl.cni.spec import CniError
    from kubenetctl.ipam import allocator

    try:
        check_container_id(container_id)
        check_ifname(ifname)
    except CniError as exc:
        raise InvalidInput(f"{exc.msg}{': ' + exc.details if exc.details else ''}") from None
    sets, conf_dir = _range_sets(subnet, conf, netconfpath)
    wanted = []
    for value in ip or []:
        try:
            wanted.append(ipaddress.ip_address(value))
        except ValueError:
            raise InvalidInput(f"--ip: {value!r} is not an IP address") from None
    store = _store(data_dir or conf_dir or DEFAULT_DATA_DIR, network)
    leases = allocator.allocate(store, sets, container_id, ifname, wanted)
    rows = [{"ip": str(lease.ip), "cidr": lease.cidr, "gateway": str(lease.gateway), "containerID": container_id,
             "ifname": ifname, "range": str(lease.range)} for lease in leases]
    list_output("IPAllocationList", ["ADDRESS", "GATEWAY", "CONTAINER", "IFNAME", "RANGE"], rows,
                ["cidr", "gateway", "containerID", "ifname", "range"])


@app.command("release")
def release(
    network: NetworkArg,
    container_id: ContainerOpt,
    ifname: IfnameOpt = "eth0",
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Free every address of a container interface (host-local's DEL). Already free: success."""
    from kubenetctl.ipam import allocator

    released = allocator.release(_store(data_dir, network), container_id, ifname)
    rows = [{"ip": ip, "containerID": container_id, "ifname": ifname, "action": "released"} for ip in sorted(released)]
    list_output("IPReleaseList", ["ADDRESS", "CONTAINER", "IFNAME", "ACTION"], rows, ["ip", "containerID", "ifname", "action"])


def _networks(data_dir: str, network: str | None) -> list[str]:
    import os

    if network:
        return [network]
    try:
        return sorted(n for n in os.listdir(data_dir) if os.path.isdir(os.path.join(data_dir, n)))
    except FileNotFoundError:
        raise NotFound(f"IPAM data directory {data_dir} does not exist", hint="pass --data-dir") from None
    except NotADirectoryError:
        raise InvalidInput(f"--data-dir: {data_dir} is not a directory") from None
    except PermissionError:
        raise PermissionDenied(f"cannot read the IPAM data directory {data_dir}", hint="run as root") from None


def _rows(data_dir: str, network: str | None, cache_dir: str) -> list[dict[str, Any]]:
    from kubenetctl.ipam import liveness

    nets = _networks(data_dir, network)
    stores = [(n, _store(data_dir, n)) for n in nets]
    allocs = [(n, a) for n, s in stores for a in s.allocations()]
    ev = liveness.gather(cache_dir, need_kernel=bool(allocs))
    rows = []
    for n, a in allocs:
        v = liveness.decide(n, a, ev)
        rows.append({"network": n, **a.to_dict(), "alive": v.alive, "netns": v.netns, "reason": v.why})
    return rows


@app.command("list")
def list_(
    network: Annotated[Optional[str], typer.Argument(help="Network (default: every network in --data-dir).")] = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    cache_dir: CacheDirOpt = CNI_STATE_DIR,
) -> None:
    """Allocations with their container, interface and whether the container's netns still exists.

    Alive means: the CNI result cache names a netns that still exists, or else some network
    namespace (in /run/netns or held by a process) has the address on that interface.
    """
    rows = _rows(data_dir, network, cache_dir)
    list_output("IPAllocationList", ["NETWORK", "ADDRESS", "CONTAINER", "IFNAME", "NETNS ALIVE", "WHY"], rows,
                ["network", "ip", "containerID", "ifname", "alive", "reason"])


def _valid(valid: list[str] | None, valid_file: str | None) -> set[tuple[str, str]] | None:
    if valid is None and valid_file is None:
        return None
    out: set[tuple[str, str]] = set()
    out.update(attachment(item, "--valid") for item in valid or [])
    if valid_file:
        try:
            with open(valid_file) as fh:
                data = json.load(fh)
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"--valid-file {valid_file}: {exc}") from None
        if isinstance(data, dict):
            data = data.get("cni.dev/valid-attachments", data.get("items"))
        if not isinstance(data, list):
            raise InvalidInput(f"--valid-file {valid_file}: expected a list of {{containerID, ifname}}")
        for i, item in enumerate(data):
            if not isinstance(item, dict) or not item.get("containerID"):
                raise InvalidInput(f"--valid-file {valid_file}: item {i} has no containerID")
            out.add((item["containerID"], item.get("ifname") or "eth0"))
    return out


@app.command("gc")
def gc(
    network: Annotated[Optional[str], typer.Argument(help="Network (default: every network in --data-dir).")] = None,
    valid: Annotated[Optional[list[str]], typer.Option("--valid", help="Keep CONTAINER_ID[/IFNAME] (repeatable); release everything else.")] = None,
    valid_file: Annotated[Optional[str], typer.Option("--valid-file", help="JSON list of {containerID, ifname} to keep (CNI GC's cni.dev/valid-attachments).")] = None,
    dry_run: DryRunOpt = False,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
    cache_dir: CacheDirOpt = CNI_STATE_DIR,
) -> None:
    """Release addresses whose container is gone (the fix for "no IP addresses available in range set").

    Without --valid/--valid-file, an allocation is released when its netns is gone (see 'ipam list').
    """
    keep = _valid(valid, valid_file)
    dead = None if keep is not None else [r for r in _rows(data_dir, network, cache_dir) if not r["alive"]]
    rows = []
    for n in _networks(data_dir, network):
        store = _store(data_dir, n)
        if dead is not None:  # liveness was gathered once, for every network
            stale = [r for r in dead if r["network"] == n]
        else:
            stale = [{"network": n, **a.to_dict(), "reason": "not in the valid attachments"}
                     for a in store.allocations() if not a.attached(keep)]
        if not stale:
            continue
        if dry_run:
            rows += [{**r, "action": "would release"} for r in stale]
            continue
        with store.locked():
            for r in stale:
                done = store.release(r["ip"], r["containerID"], r["ifname"])
                rows.append({**r, "action": "released" if done else "changed meanwhile: kept"})
    doc_rows = [{k: r.get(k) for k in ("network", "ip", "containerID", "ifname", "reason", "action")} for r in rows]
    if G.output.value != "table":
        emit(document("IPReleaseList", doc_rows, dryRun=dry_run), G.output)
        return
    list_output("IPReleaseList", ["NETWORK", "ADDRESS", "CONTAINER", "IFNAME", "ACTION", "WHY"], doc_rows,
                ["network", "ip", "containerID", "ifname", "action", "reason"])
