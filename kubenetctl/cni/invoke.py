"""Finding a plugin in CNI_PATH and running it: shared by the runtime driver and by the
plugin when it delegates IPAM to another plugin. Stdlib only."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from kubenetctl.cni import spec
from kubenetctl.cni.spec import CniError

CNI_ENV = ("CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH")


def find_plugin(plugin_type: str, paths: Sequence[str]) -> str | None:
    if not plugin_type or "/" in plugin_type or plugin_type in (".", ".."):
        return None
    for d in paths:
        candidate = os.path.join(d, plugin_type)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass
class Outcome:
    path: str
    returncode: int
    stdout: bytes
    stderr: bytes
    seconds: float
    unrun: str = ""  # why it could not be run, or was killed (then nothing it printed counts)

    def json(self) -> Any:
        return json.loads(self.stdout)


def run_plugin(path: str, cni_env: Mapping[str, str], stdin: bytes, timeout: float = 120.0) -> Outcome:
    """Run one plugin with exactly these CNI_* variables (others inherited, stale CNI_* dropped)."""
    env = {k: v for k, v in os.environ.items() if k not in CNI_ENV}
    env.update({k: v for k, v in cni_env.items() if v is not None})
    start = time.perf_counter()
    try:
        proc = subprocess.run([path], input=stdin, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:  # an ordinary plugin failure: described, rolled back
        return Outcome(path, 124, b"", b"", time.perf_counter() - start, f"killed after {timeout:.0f} s without an answer")
    except OSError as exc:  # not executable, a missing #! interpreter, ...
        return Outcome(path, 126, b"", b"", time.perf_counter() - start, f"cannot run {path}: {exc.strerror or exc}")
    return Outcome(path, proc.returncode, proc.stdout, proc.stderr, time.perf_counter() - start)


def delegate(plugin_type: str, command: str, env: Mapping[str, str], stdin: bytes, paths: Sequence[str]) -> dict[str, Any] | None:
    """Run another plugin (an IPAM plugin named by ipam.type) like the reference plugins'
    ipam.ExecAdd/ExecDel: its error becomes ours; ADD returns its result."""
    path = find_plugin(plugin_type, paths)
    if path is None:
        raise CniError(spec.INVALID_CONFIG, f"failed to find plugin {plugin_type!r} in path {list(paths)}")
    cni_env = {k: env.get(k, "") for k in CNI_ENV}
    cni_env["CNI_COMMAND"] = command
    out = run_plugin(path, cni_env, stdin)
    if out.unrun:
        raise CniError(spec.PLUGIN_FAILED, f"{plugin_type}: {out.unrun}")
    if out.returncode != 0:
        try:
            err = out.json()
            raise CniError(int(err["code"]), f"{plugin_type}: {err['msg']}", str(err.get("details") or ""))
        except (ValueError, KeyError, TypeError):
            text = (out.stdout or out.stderr).decode(errors="replace").strip()
            raise CniError(spec.PLUGIN_FAILED, f"{plugin_type} failed (exit {out.returncode})", text[:500]) from None
    if command != "ADD":
        return None
    try:
        data = out.json()
    except ValueError:
        raise CniError(spec.PLUGIN_FAILED, f"{plugin_type} returned a result that is not JSON",
                       out.stdout.decode(errors="replace")[:500]) from None
    problems = spec.result_problems(data, str(json.loads(stdin).get("cniVersion") or "0.1.0"))
    if problems:
        raise CniError(spec.PLUGIN_FAILED, f"{plugin_type} returned an invalid result: {'; '.join(problems)}")
    return spec.decode_result(data)
