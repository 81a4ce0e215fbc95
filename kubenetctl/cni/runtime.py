"""The runtime side of CNI, like libcni (what cnitool drives), with the checks it lacks.

- load(): a network by name from NETCONFPATH (.conflist files first, then .conf/.json
  single-plugin files, each in file-name order, as libcni does) or from a file path.
- Driver: runs a list's plugins from CNI_PATH. ADD in order, passing each result as the
  next plugin's prevResult; on a failure, DEL of the whole list in reverse (what a
  runtime does); DEL in reverse with the cached ADD result as prevResult; CHECK with it;
  STATUS and GC (cniVersion 1.1.0 lists). Every result and error a plugin prints is
  checked against the spec, and what is wrong is said in words.
- The result cache has libcni's layout and format (<cacheDir>/results/<net>-<id>-<ifname>,
  kind cniCacheV1), so a runtime using libcni and kubenetctl can share it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from kubenetctl.cni import spec
from kubenetctl.cni.invoke import Outcome, find_plugin, run_plugin
from kubenetctl.errors import Busy, Conflict, ExitCode, InvalidInput, KubenetError, NotFound, PermissionDenied
from kubenetctl.ipam.store import CNI_STATE_DIR

DEFAULT_NETCONFPATH = "/etc/cni/net.d"
DEFAULT_CNI_PATH = "/opt/cni/bin:/usr/lib/cni"  # the reference plugins: upstream, then Debian's
DEFAULT_CACHE_DIR = CNI_STATE_DIR
CACHE_KIND = "cniCacheV1"


class PluginFailed(KubenetError):
    """A plugin reported an error, or printed something the spec does not allow."""

    exit_code = ExitCode.KERNEL

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None,
                 error: dict[str, Any] | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.error = error
        if code in (spec.INCOMPATIBLE_VERSION, spec.UNSUPPORTED_FIELD, spec.INVALID_ENV, spec.DECODE_FAILURE,
                    spec.INVALID_CONFIG):
            self.exit_code = ExitCode.USAGE
        elif code == spec.TRY_AGAIN_LATER:
            self.exit_code = ExitCode.BUSY


# -- configuration ------------------------------------------------------------------------------
@dataclass
class NetworkList:
    name: str
    cni_version: str
    plugins: list[dict[str, Any]]
    source: str
    raw: bytes
    disable_check: bool = False
    disable_gc: bool = False


def _load_json(path: str) -> tuple[Any, bytes]:
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return json.loads(raw), raw
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON: {exc.msg}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None


def _as_list(data: Any, raw: bytes, path: str) -> NetworkList:
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: the configuration must be a JSON object")
    name = data.get("name")
    if not isinstance(name, str) or not spec.NAME_RE.match(name):
        raise InvalidInput(f"{path}: name {name!r} is missing or holds characters other than letters, digits, '_', '.', '-'")
    version = data.get("cniVersion") or "0.1.0"
    offered = data.get("cniVersions")
    if offered is not None:  # CNI 1.1: the runtime picks the highest version it also speaks
        usable = [v for v in spec.SUPPORTED_VERSIONS if isinstance(offered, list) and v in offered]
        if not usable:
            raise InvalidInput(f"{path}: cniVersions {offered!r} names no version kubenetctl speaks",
                               hint=f"kubenetctl speaks {', '.join(spec.SUPPORTED_VERSIONS)}")
        version = usable[-1]
    if version not in spec.SUPPORTED_VERSIONS:
        raise InvalidInput(f"{path}: cniVersion {version!r} is not one of {', '.join(spec.SUPPORTED_VERSIONS)}")
    if "plugins" in data:
        plugins = data["plugins"]
        if not isinstance(plugins, list) or not plugins:
            raise InvalidInput(f"{path}: plugins must be a non-empty list")
        raw_list = raw
    else:  # a single-plugin .conf: a list of one, as libcni's ConfListFromConf
        plugins = [data]
        raw_list = json.dumps({"cniVersion": version, "name": name, "plugins": [data]}).encode()
    for i, p in enumerate(plugins):
        if not isinstance(p, dict) or not isinstance(p.get("type"), str) or not p["type"]:
            raise InvalidInput(f"{path}: plugins[{i}].type is missing")
    return NetworkList(name, version, plugins, path, raw_list, bool(data.get("disableCheck")),
                       bool(data.get("disableGC")))


def load(network: str, netconfpath: str | None = None) -> NetworkList:
    """A network by name from the config directory, or the list in a file."""
    if os.sep in network or network.endswith((".conf", ".conflist", ".json")):
        data, raw = _load_json(network)
        return _as_list(data, raw, network)
    d = netconfpath or DEFAULT_NETCONFPATH
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        raise NotFound(f"configuration directory {d} does not exist", hint="set NETCONFPATH or pass a file") from None
    except NotADirectoryError:
        raise InvalidInput(f"NETCONFPATH {d} is not a directory", hint="pass a configuration file as NETWORK instead") from None
    except PermissionError:
        raise PermissionDenied(f"cannot read the configuration directory {d}", hint="run as root") from None
    lists = [n for n in names if n.endswith(".conflist")]
    singles = [n for n in names if n.endswith((".conf", ".json"))]
    for n in lists + singles:
        path = os.path.join(d, n)
        try:
            data, raw = _load_json(path)
        except InvalidInput:
            continue  # libcni skips files it cannot parse while searching; a direct load reports them
        if isinstance(data, dict) and data.get("name") == network:
            return _as_list(data, raw, path)
    known = []
    for n in lists + singles:
        try:
            data, _ = _load_json(os.path.join(d, n))
            if isinstance(data, dict) and isinstance(data.get("name"), str):
                known.append(data["name"])
        except KubenetError:
            pass
    raise NotFound(f"no network named {network!r} in {d}",
                   hint=f"networks there: {', '.join(sorted(set(known)))}" if known else "the directory has no CNI configuration")


# -- one attachment -----------------------------------------------------------------------------
@dataclass
class Attachment:
    container_id: str
    netns: str
    ifname: str = "eth0"
    args: list[tuple[str, str]] = field(default_factory=list)
    cap_args: dict[str, Any] = field(default_factory=dict)

    @property
    def cni_args(self) -> str:
        return ";".join(f"{k}={v}" for k, v in self.args)


def default_container_id(netns: str) -> str:
    """cnitool's choice: "cnitool-" + the first 20 hex digits of sha512(netns path)."""
    return "cnitool-" + hashlib.sha512(netns.encode()).hexdigest()[:20]


def parse_args(text: str) -> list[tuple[str, str]]:
    out = []
    for pair in filter(None, (p.strip() for p in (text or "").split(";"))):
        k, sep, v = pair.partition("=")
        if not sep or not k:
            raise InvalidInput(f"--args: {pair!r} is not KEY=VALUE", hint="write them as K1=V1;K2=V2")
        out.append((k, v))
    return out


def parse_cap_args(text: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"--cap-args: invalid JSON at column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise InvalidInput("--cap-args: expected a JSON object, like '{\"portMappings\": [...]}'")
    return data


# -- what happened --------------------------------------------------------------------------------
@dataclass
class Step:
    plugin: str
    command: str
    seconds: float
    ok: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"plugin": self.plugin, "command": self.command, "ok": self.ok,
                "milliseconds": round(self.seconds * 1000, 1), **({"note": self.note} if self.note else {})}


@dataclass
class Report:
    network: NetworkList
    command: str
    steps: list[Step] = field(default_factory=list)
    result: dict[str, Any] | None = None
    raw_result: bytes = b""
    extra: dict[str, Any] = field(default_factory=dict)


def describe_error(plugin: str, command: str, out: Outcome) -> PluginFailed:
    """A plugin's failure in words: its CNI error, or what is wrong with what it printed."""
    if out.unrun:
        return PluginFailed(f"plugin {plugin} failed ({command}): {out.unrun}")
    stderr = out.stderr.decode(errors="replace").strip()
    try:
        err = json.loads(out.stdout)
    except ValueError:
        text = out.stdout.decode(errors="replace").strip()
        why = "printed nothing on stdout" if not text else f"printed something that is not JSON: {text[:200]!r}"
        return PluginFailed(f"plugin {plugin} failed ({command}): exit {out.returncode} and {why} "
                            "(the spec wants an error object on stdout)",
                            hint=f"its stderr: {stderr[:300]}" if stderr else None)
    problems = spec.error_problems(err)
    if problems:
        return PluginFailed(f"plugin {plugin} failed ({command}) with an invalid error object: {'; '.join(problems)}",
                            hint=f"stdout: {out.stdout.decode(errors='replace').strip()[:300]}", error=err if isinstance(err, dict) else None)
    code = err["code"]
    details = f": {err['details']}" if err.get("details") else ""
    return PluginFailed(f"plugin {plugin} failed ({command}): {err['msg']}{details} [code {code}: {spec.code_label(code)}]",
                        code=code, error=err, hint=f"its stderr: {stderr[:300]}" if stderr else None)


# -- the driver -----------------------------------------------------------------------------------
class Driver:
    def __init__(self, cni_path: Iterable[str], cache_dir: str = DEFAULT_CACHE_DIR,
                 on_step: Callable[[Step], None] | None = None) -> None:
        self.cni_path = [p for p in cni_path if p]
        self.cache_dir = cache_dir
        self.on_step = on_step

    # plumbing ----------------------------------------------------------------------------
    def plugin_path(self, plugin_type: str) -> str:
        path = find_plugin(plugin_type, self.cni_path)
        if path is None:
            raise NotFound(f"plugin {plugin_type!r} is not in CNI_PATH ({':'.join(self.cni_path) or 'empty'})",
                           hint="install it there or add its directory to CNI_PATH")
        return path

    def config_for(self, nl: NetworkList, plugin: dict[str, Any], att: Attachment | None,
                   prev: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> bytes:
        conf = dict(plugin)
        conf["name"] = nl.name
        conf["cniVersion"] = nl.cni_version
        caps = plugin.get("capabilities") if isinstance(plugin.get("capabilities"), dict) else {}
        runtime = {k: v for k, v in (att.cap_args if att else {}).items() if caps.get(k)}
        if runtime:
            conf["runtimeConfig"] = runtime
        else:
            conf.pop("runtimeConfig", None)
        if prev is not None:
            conf["prevResult"] = prev
        conf.update(extra or {})
        return json.dumps(conf, sort_keys=True).encode()

    def invoke(self, nl: NetworkList, plugin: dict[str, Any], command: str, att: Attachment | None,
               prev: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> tuple[Outcome, Step]:
        path = self.plugin_path(plugin["type"])
        env = {"CNI_COMMAND": command, "CNI_PATH": os.pathsep.join(self.cni_path)}
        if att is not None:
            env.update(CNI_CONTAINERID=att.container_id, CNI_NETNS=att.netns, CNI_IFNAME=att.ifname, CNI_ARGS=att.cni_args)
        out = run_plugin(path, env, self.config_for(nl, plugin, att, prev, extra))
        step = Step(plugin["type"], command, out.seconds, out.returncode == 0)
        if self.on_step:
            self.on_step(step)
        return out, step

    def _ok_or_raise(self, plugin: dict[str, Any], command: str, out: Outcome) -> None:
        if out.returncode != 0:
            err = describe_error(plugin["type"], command, out)
            if command == "CHECK":
                err.exit_code = ExitCode.CHECK_FAILED if err.exit_code == ExitCode.KERNEL else err.exit_code
            raise err

    # the cache ---------------------------------------------------------------------------
    def cache_path(self, net: str, att: Attachment) -> str:
        for part, what in ((net, "network name"), (att.container_id, "container id")):
            if not spec.NAME_RE.match(part):
                raise InvalidInput(f"{what} {part!r} may only hold letters, digits, '_', '.' and '-'")
        if "/" in att.ifname or att.ifname in (".", ".."):
            raise InvalidInput(f"interface name {att.ifname!r} contains '/'")
        return os.path.join(self.cache_dir, "results", f"{net}-{att.container_id}-{att.ifname}")

    def cached(self, nl: NetworkList, att: Attachment) -> dict[str, Any] | None:
        path = self.cache_path(nl.name, att)
        try:
            with open(path) as fh:
                data = json.load(fh)
        except FileNotFoundError:
            return None
        except (ValueError, OSError) as exc:
            raise Busy(f"{path}: the cached result cannot be read ({exc})",
                       hint="delete the file if the attachment is gone") from None
        return data if isinstance(data, dict) else None

    def write_cache(self, nl: NetworkList, att: Attachment, result: dict[str, Any]) -> None:
        path = self.cache_path(nl.name, att)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        doc = {"kind": CACHE_KIND, "containerId": att.container_id, "config": base64.b64encode(nl.raw).decode(),
               "ifName": att.ifname, "networkName": nl.name, "netns": att.netns, "result": result}
        if att.args:
            doc["cniArgs"] = [[k, v] for k, v in att.args]
        if att.cap_args:
            doc["capabilityArgs"] = att.cap_args
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)

    def drop_cache(self, nl: NetworkList, att: Attachment) -> None:
        try:
            os.unlink(self.cache_path(nl.name, att))
        except FileNotFoundError:
            pass

    def cached_attachments(self, net: str) -> list[dict[str, Any]]:
        d = os.path.join(self.cache_dir, "results")
        out = []
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        for n in names:
            if not n.startswith(net + "-"):
                continue
            try:
                with open(os.path.join(d, n)) as fh:
                    data = json.load(fh)
            except (OSError, ValueError):
                continue
            if isinstance(data, dict) and data.get("networkName") == net:
                data["_file"] = os.path.join(d, n)
                out.append(data)
        return out

    # commands ----------------------------------------------------------------------------
    def add(self, nl: NetworkList, att: Attachment, rollback: bool = True) -> Report:
        report = Report(nl, "ADD")
        if self.cached(nl, att) is not None:
            raise Conflict(
                f"attachment {nl.name}/{att.container_id}/{att.ifname} already exists "
                f"(cached result in {os.path.join(self.cache_dir, 'results')})",
                hint="DEL it first ('kubenetctl cni del'); a second ADD would fail and its rollback would tear down the first",
            )
        prev: dict[str, Any] | None = None
        raw = b""
        done = 0
        try:
            for plugin in nl.plugins:
                out, step = self.invoke(nl, plugin, "ADD", att, prev)
                report.steps.append(step)
                done += 1
                self._ok_or_raise(plugin, "ADD", out)
                try:
                    result = json.loads(out.stdout)
                except ValueError:
                    raise PluginFailed(f"plugin {plugin['type']} (ADD) exited 0 but its result is not JSON: "
                                       f"{out.stdout.decode(errors='replace')[:200]!r}") from None
                problems = spec.result_problems(result, nl.cni_version)
                if problems:
                    step.ok = False
                    raise PluginFailed(f"plugin {plugin['type']} (ADD) returned an invalid CNI {nl.cni_version} result: "
                                       + "; ".join(problems))
                prev, raw = result, out.stdout
        except KubenetError as exc:
            undo = nl.plugins[:done - 1] if _invalid_config(exc) else nl.plugins[:done]
            if rollback and undo:
                notes = self._rollback(nl, att, prev, undo, report)
                exc.hint = "; ".join(filter(None, [exc.hint, notes]))
            raise
        if prev is None:
            raise PluginFailed("the network list has no plugins")
        self.write_cache(nl, att, prev)
        report.result, report.raw_result = prev, raw
        return report

    def _rollback(self, nl: NetworkList, att: Attachment, prev: dict[str, Any] | None,
                  plugins: list[dict[str, Any]], report: Report) -> str:
        failed = []
        for plugin in reversed(plugins):
            try:
                out, step = self.invoke(nl, plugin, "DEL", att, prev)
                step.note = "rollback"
                report.steps.append(step)
                if out.returncode != 0:
                    failed.append(str(describe_error(plugin["type"], "DEL", out)))
            except KubenetError as exc:
                failed.append(str(exc))
        if failed:
            return "rollback DEL failed too: " + " | ".join(failed)
        return f"rolled back: DEL ran on {', '.join(p['type'] for p in reversed(plugins))}"

    def delete(self, nl: NetworkList, att: Attachment) -> Report:
        report = Report(nl, "DEL")
        cache = self.cached(nl, att)
        prev = cache.get("result") if cache else None
        if prev is not None and spec.vtuple(nl.cni_version) < (0, 4, 0):
            prev = None  # prevResult on DEL arrived with 0.4.0
        if cache is None:
            report.extra["note"] = "no cached result: DEL ran without prevResult"
        errors = []
        for plugin in reversed(nl.plugins):
            out, step = self.invoke(nl, plugin, "DEL", att, prev)
            report.steps.append(step)
            if out.returncode != 0:
                errors.append(describe_error(plugin["type"], "DEL", out))
        if errors:
            raise PluginFailed(" | ".join(str(e) for e in errors),
                               hint="DEL must succeed when things are already gone; the cached result is kept")
        self.drop_cache(nl, att)
        return report

    def check(self, nl: NetworkList, att: Attachment) -> Report:
        report = Report(nl, "CHECK")
        if not spec.allows(nl.cni_version, "CHECK"):
            raise InvalidInput(f"network {nl.name} has cniVersion {nl.cni_version}: CHECK needs 0.4.0 or later")
        if nl.disable_check:
            report.extra["note"] = "disableCheck is set: nothing run"
            return report
        cache = self.cached(nl, att)
        if cache is None or not isinstance(cache.get("result"), dict):
            raise NotFound(f"no cached ADD result for {nl.name}-{att.container_id}-{att.ifname} in "
                           f"{os.path.join(self.cache_dir, 'results')}", hint="run 'kubenetctl cni add' first")
        for plugin in nl.plugins:
            out, step = self.invoke(nl, plugin, "CHECK", att, cache["result"])
            report.steps.append(step)
            self._ok_or_raise(plugin, "CHECK", out)
        report.result = cache["result"]
        return report

    def status(self, nl: NetworkList) -> Report:
        report = Report(nl, "STATUS")
        if not spec.allows(nl.cni_version, "STATUS"):
            report.extra["note"] = f"cniVersion {nl.cni_version} predates STATUS (1.1.0): nothing run, the network counts as ready"
            return report
        for plugin in nl.plugins:
            out, step = self.invoke(nl, plugin, "STATUS", None)
            report.steps.append(step)
            self._ok_or_raise(plugin, "STATUS", out)
        return report

    def gc(self, nl: NetworkList, valid: list[tuple[str, str]] | None = None) -> Report:
        """GC with the valid attachments given, or else the cached ones whose netns still exists;
        cache entries of the others are removed after the plugins ran."""
        report = Report(nl, "GC")
        cached = self.cached_attachments(nl.name)
        if valid is None:
            keep = [c for c in cached if not c.get("netns") or os.path.exists(c["netns"])]
            valid = [(c["containerId"], c["ifName"]) for c in keep]
        report.extra["validAttachments"] = [{"containerID": c, "ifname": i} for c, i in valid]
        stale = [c for c in cached if (c.get("containerId"), c.get("ifName")) not in set(valid)]
        if not spec.allows(nl.cni_version, "GC"):
            report.extra["note"] = f"cniVersion {nl.cni_version} predates GC (1.1.0): no plugin run"
        elif nl.disable_gc:
            report.extra["note"] = "disableGC is set: no plugin run"
        else:
            extra = {"cni.dev/valid-attachments": report.extra["validAttachments"]}
            for plugin in nl.plugins:
                out, step = self.invoke(nl, plugin, "GC", None, None, extra)
                report.steps.append(step)
                self._ok_or_raise(plugin, "GC", out)
        for c in stale:
            os.unlink(c["_file"])
        report.extra["staleCacheEntries"] = [os.path.basename(c["_file"]) for c in stale]
        return report

    def versions(self, nl: NetworkList) -> Report:
        report = Report(nl, "VERSION")
        rows = []
        for plugin in nl.plugins:
            out, step = self.invoke(nl, plugin, "VERSION", None)
            report.steps.append(step)
            self._ok_or_raise(plugin, "VERSION", out)
            try:
                info = json.loads(out.stdout)
                supported = info["supportedVersions"]
            except (ValueError, KeyError, TypeError):
                raise PluginFailed(f"plugin {plugin['type']} (VERSION) printed no supportedVersions: "
                                   f"{out.stdout.decode(errors='replace')[:200]!r}") from None
            rows.append({"plugin": plugin["type"], "path": self.plugin_path(plugin["type"]),
                         "supportedVersions": supported, "supportsList": nl.cni_version in supported})
        report.extra["plugins"] = rows
        unsupported = [r["plugin"] for r in rows if not r["supportsList"]]
        if unsupported:
            report.extra["note"] = f"{', '.join(unsupported)} cannot speak cniVersion {nl.cni_version}"
        return report


def _invalid_config(exc: KubenetError) -> bool:
    """The failing plugin refused its configuration (CNI code 7): it created nothing, and the
    same configuration would make its rollback DEL fail the same way; the plugins before it
    are still rolled back."""
    return isinstance(exc, PluginFailed) and exc.code == 7
