"""kubenetctl's CNI plugin: the `kubenetctl-cni` executable a runtime finds in CNI_PATH.

One binary, two roles, chosen from the configuration:
- network plugin, when the config's "type" names this executable: a bridge network
  (cni/bridge.py) whose IPAM is done in process when ipam.type also names it, or by the
  plugin ipam.type names (host-local, static, ...);
- IPAM plugin, when another plugin (the reference bridge, macvlan, ...) delegates to it
  through "ipam": {"type": "kubenetctl-cni"}: host-local-compatible allocation.

run() takes the environment, stdin and stdout as arguments (unit tests call it in
process). Errors are the spec's JSON on stdout with exit 1; logs go to stderr only.
Start-up matters (a runtime runs this for every pod): nothing here imports typer, rich
or yaml, and pyroute2 is loaded (lean, see netlink/lean.py) only by commands that touch
the kernel.
"""

from __future__ import annotations

import json
import os
import sys
from typing import IO, Any, Mapping

from kubenetctl.cni import request, spec
from kubenetctl.cni.spec import CniError
from kubenetctl.errors import KubenetError

PLUGIN_TYPE = "kubenetctl-cni"


def to_cni_error(exc: BaseException) -> CniError:
    """Map kubenetctl's errors to the spec's codes (docs/cni.md lists the plugin's own)."""
    from kubenetctl.errors import Busy, CheckFailed, Conflict, InvalidInput, PermissionDenied
    from kubenetctl.ipam.allocator import AddressesExhausted
    from kubenetctl.ipam.store import StoreCorrupt

    if isinstance(exc, CniError):
        return exc
    if isinstance(exc, KubenetError):
        codes = ((AddressesExhausted, spec.NO_ADDRESSES), (StoreCorrupt, spec.IO_FAILURE), (Busy, spec.TRY_AGAIN_LATER),
                 (InvalidInput, spec.INVALID_CONFIG), (Conflict, spec.CONFLICT), (PermissionDenied, spec.PERMISSION),
                 (CheckFailed, spec.CHECK_MISMATCH))  # first match wins: subclasses before their bases
        code = next((c for cls, c in codes if isinstance(exc, cls)), spec.KERNEL_FAILURE)
        return CniError(code, str(exc), exc.hint or "")
    if isinstance(exc, OSError):
        return CniError(spec.IO_FAILURE, f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
    return CniError(spec.INTERNAL, f"internal error: {type(exc).__name__}: {exc}",
                    "a bug in kubenetctl-cni; please report it with the network configuration")


def _prev_result(req: request.Request) -> dict[str, Any]:
    prev = req.config.get("prevResult")
    if not isinstance(prev, dict):
        raise CniError(spec.INVALID_CONFIG, "CHECK needs prevResult (the result of the ADD)")
    problems = spec.result_problems(prev, str(prev.get("cniVersion") or req.version))
    if problems:
        raise CniError(spec.INVALID_CONFIG, f"prevResult is not a valid CNI result: {problems[0]}")
    return spec.decode_result(prev)


def _network_mode(config: dict[str, Any], prog: str) -> bool:
    ipam = config.get("ipam")
    delegated = isinstance(ipam, dict) and ipam.get("type") == prog and config.get("type") != prog
    return not delegated


def handle(req: request.Request, prog: str) -> dict[str, Any] | None:
    """Carry out one parsed request; the result (ADD, VERSION) or None."""
    if req.command == "VERSION":
        return None
    network = _network_mode(req.config, prog)
    if network:
        from kubenetctl.cni import bridge

        if req.command == "ADD":
            return bridge.add(req, prog)
        if req.command == "DEL":
            bridge.delete(req, prog)
        elif req.command == "CHECK":
            bridge.check(req, prog, _prev_result(req))
        elif req.command == "GC":
            bridge.gc(req, prog)
        elif req.command == "STATUS":
            bridge.status(req, prog)
        return None
    from kubenetctl.cni import ipam_ops
    from kubenetctl.cni.netconf import IpamConf

    ipam = IpamConf.parse(req.config.get("ipam"))
    if req.command == "ADD":
        return ipam_ops.add(req, ipam)[0]
    if req.command == "DEL":
        ipam_ops.delete(req, ipam)
    elif req.command == "CHECK":
        prev = _prev_result(req)
        ipam_ops.check(req, ipam, [ip["address"] for ip in prev.get("ips") or []])
    elif req.command == "GC":
        ipam_ops.gc(req, ipam, ipam_ops.valid_attachments(req))
    elif req.command == "STATUS":
        ipam_ops.status(req, ipam)
    return None


def _version_doc(stdin: bytes) -> dict[str, Any]:
    asked = spec.SPEC_VERSION
    try:
        data = json.loads(stdin) if stdin.strip() else {}
        if isinstance(data, dict) and isinstance(data.get("cniVersion"), str) and data["cniVersion"]:
            asked = data["cniVersion"]
    except ValueError:
        pass
    return {"cniVersion": asked, "supportedVersions": list(spec.SUPPORTED_VERSIONS)}


def run(env: Mapping[str, str], stdin: bytes, stdout: IO[str], prog: str = PLUGIN_TYPE) -> int:
    version = spec.SPEC_VERSION
    try:
        if env.get("CNI_COMMAND") == "VERSION":
            stdout.write(json.dumps(_version_doc(stdin)) + "\n")
            return 0
        req = request.parse(env, stdin)
        version = req.version
        result = handle(req, prog)
        if result is not None:
            stdout.write(json.dumps(spec.encode_result(result, version)) + "\n")
        return 0
    except Exception as exc:  # every failure becomes the spec's error JSON
        err = to_cni_error(exc)
        if err.code == spec.INTERNAL or env.get("KUBENETCTL_CNI_DEBUG"):
            import traceback  # a bug: the traceback goes to stderr, the error JSON to stdout

            traceback.print_exception(exc, file=sys.stderr)
        try:
            cfg_version = json.loads(stdin).get("cniVersion") or version
        except Exception:
            cfg_version = version
        stdout.write(json.dumps(err.to_dict(cfg_version if isinstance(cfg_version, str) else version)) + "\n")
        return 1


def main() -> int:
    prog = os.path.basename(sys.argv[0])
    if not prog or prog.endswith(".py") or prog.startswith("-"):  # python -m kubenetctl.cni.plugin
        prog = PLUGIN_TYPE
    stdin = b"" if sys.stdin is None else sys.stdin.buffer.read()
    code = run(os.environ, stdin, sys.stdout, prog)
    sys.stdout.flush()
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
