"""kubenetctl cni: drive CNI plugins like a container runtime (cnitool, done properly)."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any, Callable, Optional

import typer

from kubenetctl.cli.common import G, group
from kubenetctl.cni.client import DEFAULT_SOCKET
from kubenetctl.cni.runtime import DEFAULT_CACHE_DIR, DEFAULT_CNI_PATH, DEFAULT_NETCONFPATH
from kubenetctl.errors import NotFound
from kubenetctl.views.output import Format, document, emit

app = group("Run a CNI network's plugins against a network namespace, like a container runtime.")

NetworkArg = Annotated[str, typer.Argument(help="Network name in NETCONFPATH, or a .conf/.conflist file.")]
NetnsArg = Annotated[str, typer.Argument(help="Network namespace: a name in /run/netns or a path.")]
IfnameOpt = Annotated[str, typer.Option("--ifname", envvar="CNI_IFNAME", help="Interface name in the namespace.")]
ContainerOpt = Annotated[Optional[str], typer.Option("--container-id", help="Container id (default: cnitool's, from the netns path).")]
ArgsOpt = Annotated[str, typer.Option("--args", envvar="CNI_ARGS", help="CNI_ARGS for the plugins: K1=V1;K2=V2.")]
CapArgsOpt = Annotated[str, typer.Option("--cap-args", envvar="CAP_ARGS", help="Capability arguments as JSON (runtimeConfig), e.g. '{\"portMappings\": [...]}'.")]
NetconfOpt = Annotated[str, typer.Option("--netconfpath", envvar="NETCONFPATH", help="Directory of network configurations.")]
CniPathOpt = Annotated[str, typer.Option("--cni-path", envvar="CNI_PATH", help="Where plugins are looked up (colon-separated).")]
CacheOpt = Annotated[str, typer.Option("--cache-dir", envvar="KUBENETCTL_CNI_CACHE_DIR", help="Result cache (libcni layout: <dir>/results).")]


def _netns_path(netns: str, must_exist: bool) -> str:
    from kubenetctl.netlink import nsfs

    path = netns if "/" in netns else nsfs.path(netns)
    if must_exist and not os.path.exists(path):
        raise NotFound(f"network namespace {netns} does not exist ({path})",
                       hint=f"create it with 'kubenetctl ns add {netns}'" if "/" not in netns else None)
    return path


def _setup(network: str, netconfpath: str, cni_path: str, cache_dir: str) -> tuple[Any, Any]:
    from kubenetctl.cni import runtime

    nl = runtime.load(network, netconfpath)
    driver = runtime.Driver(cni_path.split(os.pathsep), cache_dir)
    return nl, driver


def _attachment(netns: str, must_exist: bool, ifname: str, container_id: str | None, args: str, cap_args: str) -> Any:
    from kubenetctl.cni import runtime

    path = _netns_path(netns, must_exist)
    return runtime.Attachment(container_id or runtime.default_container_id(path), path, ifname,
                              runtime.parse_args(args), runtime.parse_cap_args(cap_args))


def _steps_text(report: Any) -> Any:
    from rich.text import Text

    out = Text()
    for s in report.steps:
        mark, style = ("ok", "green") if s.ok else ("failed", "red")
        out.append(f"  {s.command:<7} {s.plugin:<18}", style="dim")
        out.append(f"{mark:<7}", style=style)
        out.append(f"{s.seconds * 1000:7.1f} ms" + (f"  ({s.note})" if s.note else "") + "\n")
    return out


def _operation_doc(report: Any, att: Any = None) -> dict[str, Any]:
    fields: dict[str, Any] = {"network": report.network.name, "command": report.command,
                              "source": report.network.source}
    if att is not None:
        fields.update(containerID=att.container_id, netns=att.netns, ifname=att.ifname)
    fields.update({k: v for k, v in report.extra.items()})
    return document("CNIOperation", [s.to_dict() for s in report.steps], **fields)


def _summary(report: Any, att: Any) -> Any:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    res = report.result or {}
    head = Text()
    head.append(f"{report.network.name}", style="bold")
    head.append(f"  cniVersion {report.network.cni_version}  container {att.container_id}  netns {att.netns}\n")
    parts: list[Any] = [head]
    interfaces = res.get("interfaces") or []
    if interfaces:
        t = Table(box=None, header_style="bold", pad_edge=False, title="interfaces", title_justify="left")
        for col in ("#", "NAME", "MAC", "MTU", "WHERE"):
            t.add_column(col)
        for i, itf in enumerate(interfaces):
            t.add_row(str(i), itf.get("name", ""), itf.get("mac") or "-", str(itf.get("mtu") or "-"),
                      itf.get("sandbox") or "host")
        parts.append(t)
    ips = res.get("ips") or []
    if ips or res.get("ip4") or res.get("ip6"):
        t = Table(box=None, header_style="bold", pad_edge=False, title="addresses", title_justify="left")
        for col in ("ADDRESS", "GATEWAY", "INTERFACE"):
            t.add_column(col)
        for ip in ips:
            idx = ip.get("interface")
            name = interfaces[idx].get("name") if isinstance(idx, int) and idx < len(interfaces) else "-"
            t.add_row(ip.get("address", ""), ip.get("gateway") or "-", name)
        for key in ("ip4", "ip6"):
            if res.get(key):
                t.add_row(res[key].get("ip", ""), res[key].get("gateway") or "-", "-")
        parts.append(t)
    routes = res.get("routes") or []
    if routes:
        parts.append(Text("routes: " + ", ".join(f"{r.get('dst')}" + (f" via {r['gw']}" if r.get("gw") else "")
                                                 for r in routes)))
    dns = res.get("dns") or {}
    if dns.get("nameservers"):
        parts.append(Text(f"dns: {', '.join(dns['nameservers'])}" + (f" search {' '.join(dns.get('search') or [])}" if dns.get("search") else "")))
    parts.append(Text("plugins:", style="bold"))
    parts.append(_steps_text(report))
    return Group(*parts)


def _print_raw(report: Any) -> bool:
    """-o json: the final plugin's result exactly as it printed it."""
    if G.output is Format.json and report.result is not None:
        sys.stdout.write(report.raw_result.decode().rstrip("\n") + "\n")
        return True
    return False


@app.command("add")
def add(
    network: NetworkArg, netns: NetnsArg,
    ifname: IfnameOpt = "eth0", container_id: ContainerOpt = None, args: ArgsOpt = "", cap_args: CapArgsOpt = "",
    netconfpath: NetconfOpt = DEFAULT_NETCONFPATH, cni_path: CniPathOpt = DEFAULT_CNI_PATH,
    cache_dir: CacheOpt = DEFAULT_CACHE_DIR,
    rollback: Annotated[bool, typer.Option("--rollback/--no-rollback", help="On failure, run DEL over the plugins that ran.")] = True,
) -> None:
    """ADD: run the plugins in order, each getting the previous result; cache the result.

    -o json prints the raw CNI result; a failure runs DEL in reverse (unless --no-rollback).
    """
    nl, driver = _setup(network, netconfpath, cni_path, cache_dir)
    att = _attachment(netns, True, ifname, container_id, args, cap_args)
    report = driver.add(nl, att, rollback=rollback)
    if not _print_raw(report):  # yaml: the result as YAML; table: a summary for people
        emit(report.result or {}, G.output, lambda _doc: _summary(report, att))


def _attachment_command(name: str, must_exist: bool, done: str, run: Callable[[Any, Any, Any], Any], doc: str) -> None:
    """check and del take the same arguments as add (without --rollback)."""

    def command(
        network: NetworkArg, netns: NetnsArg,
        ifname: IfnameOpt = "eth0", container_id: ContainerOpt = None, args: ArgsOpt = "", cap_args: CapArgsOpt = "",
        netconfpath: NetconfOpt = DEFAULT_NETCONFPATH, cni_path: CniPathOpt = DEFAULT_CNI_PATH,
        cache_dir: CacheOpt = DEFAULT_CACHE_DIR,
    ) -> None:
        nl, driver = _setup(network, netconfpath, cni_path, cache_dir)
        att = _attachment(netns, must_exist, ifname, container_id, args, cap_args)
        _emit_operation(run(driver, nl, att), att, done)

    command.__doc__ = doc
    app.command(name)(command)


_attachment_command(
    "check", True, "attachment is as expected", lambda d, nl, att: d.check(nl, att),
    "CHECK: ask every plugin whether the attachment is as the cached ADD result says (exit 7 if not).")
_attachment_command(
    "del", False, "attachment deleted", lambda d, nl, att: d.delete(nl, att),
    "DEL: run the plugins in reverse with the cached ADD result; the netns may already be gone.")


@app.command("status")
def status(
    network: NetworkArg,
    netconfpath: NetconfOpt = DEFAULT_NETCONFPATH, cni_path: CniPathOpt = DEFAULT_CNI_PATH,
) -> None:
    """STATUS: is every plugin of the network ready for ADD? (CNI 1.1.0 lists)"""
    nl, driver = _setup(network, netconfpath, cni_path, DEFAULT_CACHE_DIR)  # STATUS reads no cache
    _emit_operation(driver.status(nl), None, "network ready")


@app.command("gc")
def gc(
    network: NetworkArg,
    valid: Annotated[Optional[list[str]], typer.Option("--valid", help="A valid attachment CONTAINER_ID[/IFNAME] (repeatable); default: cached attachments whose netns exists.")] = None,
    netconfpath: NetconfOpt = DEFAULT_NETCONFPATH, cni_path: CniPathOpt = DEFAULT_CNI_PATH,
    cache_dir: CacheOpt = DEFAULT_CACHE_DIR,
) -> None:
    """GC: plugins free everything not in the valid attachments; stale cache entries go too."""
    nl, driver = _setup(network, netconfpath, cni_path, cache_dir)
    keep = None
    if valid is not None:
        from kubenetctl.ipam.store import attachment

        keep = [attachment(v, "--valid") for v in valid]
    _emit_operation(driver.gc(nl, keep), None, "garbage collected")


@app.command("version")
def version(
    network: NetworkArg,
    netconfpath: NetconfOpt = DEFAULT_NETCONFPATH, cni_path: CniPathOpt = DEFAULT_CNI_PATH,
) -> None:
    """VERSION: which CNI versions each plugin of the network speaks."""
    nl, driver = _setup(network, netconfpath, cni_path, DEFAULT_CACHE_DIR)  # VERSION reads no cache
    report = driver.versions(nl)

    def human(_doc: dict[str, Any]) -> Any:
        from kubenetctl.views.output import table

        rows = [[p["plugin"], p["path"], ", ".join(p["supportedVersions"]), "yes" if p["supportsList"] else "NO"]
                for p in report.extra["plugins"]]
        return table(["PLUGIN", "PATH", "SUPPORTED VERSIONS", f"SPEAKS {nl.cni_version}"], rows)

    emit(document("CNIPluginVersionList", report.extra["plugins"], network=nl.name, cniVersion=nl.cni_version), G.output, human)


def _emit_operation(report: Any, att: Any, done: str) -> None:
    def human(_doc: dict[str, Any]) -> Any:
        from rich.console import Group
        from rich.text import Text

        head = Text()
        head.append(f"{report.network.name}: ", style="bold")
        head.append(report.extra.get("note") or done)
        if report.extra.get("staleCacheEntries"):
            head.append(f"; removed stale cache entries: {', '.join(report.extra['staleCacheEntries'])}")
        return Group(head, _steps_text(report)) if report.steps else head

    emit(_operation_doc(report, att), G.output, human)



@app.command("install")
def install(
    directory: Annotated[str, typer.Argument(help="CNI bin directory the runtime searches.")] = "/opt/cni/bin",
    name: Annotated[str, typer.Option("--name", help="File name, i.e. the plugin type in network configs.")] = "kubenetctl-cni",
    force: Annotated[bool, typer.Option("--force", help="Replace a file that is not a kubenetctl-cni launcher.")] = False,
    socket: Annotated[str, typer.Option("--socket", help="Where the launcher looks for `kubenetctl cni serve` first.")] = DEFAULT_SOCKET,
) -> None:
    """Put the plugin into a CNI bin directory as a lean launcher (python -I -S: faster start, no env leaks).

    The launcher hands each call to `kubenetctl cni serve` when one listens on --socket,
    and runs the plugin itself otherwise.
    """
    from kubenetctl.cni.install import install as do_install

    path = do_install(directory, name, force, socket)
    emit(document("CNIPluginInstall", None, path=path, type=name), G.output, lambda _d: f"installed {path} (type \"{name}\")")


@app.command("serve")
def serve(
    socket: Annotated[str, typer.Option("--socket", help="Unix socket to listen on (created 0600: root only).")] = DEFAULT_SOCKET,
    timeout: Annotated[float, typer.Option("--timeout", help="Kill a call still running after this many seconds (0: never).")] = 300.0,
) -> None:
    """Serve the plugin's calls from one resident process: no start-up or imports per pod.

    Runs in the foreground until SIGTERM (then finishes the calls in progress). Launchers
    written by `kubenetctl cni install` use it when it listens on their --socket; each
    call still runs in its own process (a fork), in the caller's namespaces.
    """
    from kubenetctl.cni.server import serve as run

    run(socket, timeout)
