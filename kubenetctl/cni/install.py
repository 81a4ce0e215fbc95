"""Installing the plugin into a CNI bin directory as a lean launcher.

A runtime execs the plugin for every pod, so interpreter start-up is paid each time.
pip's console script starts Python normally, and `site` then processes every .pth file
of the environment (an editable install adds an import hook: ~13 ms here; a plain
install a few ms). The launcher written here starts Python with -I -S instead:

- -I (isolated): PYTHON* variables and the user's site directory are ignored; a plugin
  run as root by a runtime should not pick up modules from the caller's environment;
- -S: no `site`; the launcher puts exactly the directories holding kubenetctl and
  pyroute2 (its only dependency the plugin imports; the rest is stdlib) on sys.path.

Robustness: those directories are recorded when the launcher is written, and the
launcher is tried before it is put in place (imports of the plugin and of the netlink
layer under the same flags, then VERSION); if the check fails nothing is installed.
After upgrading or moving the environment, run the install again.

With `kubenetctl cni serve` running, the launcher hands each call to that resident
server (cni/client.py, cni/server.py) and pays neither start-up beyond -I -S nor any
import of the plugin; without a server it runs the plugin itself, as before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from kubenetctl import __version__
from kubenetctl.cni.client import DEFAULT_SOCKET
from kubenetctl.errors import Conflict, InvalidInput, KernelError

MARK = "# kubenetctl-cni launcher"
SHEBANG_MAX = 127


def search_path() -> list[str]:
    import importlib.util

    import kubenetctl

    dirs = [os.path.dirname(os.path.dirname(os.path.abspath(kubenetctl.__file__)))]
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.origin is None:
        raise KernelError("pyroute2 is not installed in this environment")
    dirs.append(os.path.dirname(os.path.dirname(spec.origin)))
    return list(dict.fromkeys(dirs))


def launcher_text(python: str, paths: list[str], socket: str = DEFAULT_SOCKET) -> str:
    return (
        f"#!{python} -IS\n"
        f"{MARK} written by `kubenetctl cni install` (kubenetctl {__version__}).\n"
        "# -I: ignore PYTHON* variables and the user site; -S: skip site (.pth processing) at every call.\n"
        "# The paths are where kubenetctl and pyroute2 were installed: rerun the install after an upgrade.\n"
        "# First the call is offered to `kubenetctl cni serve` on the socket (KUBENETCTL_CNI_SOCKET overrides it,\n"
        "# KUBENETCTL_CNI_NO_SERVER=1 skips it); when no server takes it, the plugin runs here.\n"
        "import sys\n"
        f"sys.path[:0] = {json.dumps(paths)}\n"
        "from kubenetctl import __version__\n"
        "from kubenetctl.cni.client import call\n"
        f"code = call({json.dumps(socket)}, __version__)\n"
        "if code is None:\n"
        "    from kubenetctl.cni.plugin import main\n"
        "    code = main()\n"
        "sys.exit(code)\n"
    )


def _selftest(python: str, paths: list[str], launcher: str) -> None:
    probe = (f"import sys; sys.path[:0] = {json.dumps(paths)}\n"
             "import kubenetctl.cni.client, kubenetctl.cni.plugin, kubenetctl.cni.bridge\n"
             "from kubenetctl.netlink import lean; lean.install()\n"
             "import kubenetctl.netlink.backend\n")
    out = subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True)
    if out.returncode != 0:
        raise KernelError("the lean launcher cannot import the plugin with -I -S",
                          hint=(out.stderr.strip().splitlines() or ["?"])[-1])
    env = {"CNI_COMMAND": "VERSION", "PATH": os.environ.get("PATH", ""), "KUBENETCTL_CNI_NO_SERVER": "1"}
    out = subprocess.run([launcher], input=b'{"cniVersion": "1.0.0"}', capture_output=True, env=env)
    try:
        ok = out.returncode == 0 and "1.0.0" in json.loads(out.stdout)["supportedVersions"]
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise KernelError("the lean launcher does not answer VERSION",
                          hint=(out.stdout or out.stderr).decode(errors="replace").strip()[:300])


def install(directory: str, name: str = "kubenetctl-cni", force: bool = False, socket: str = DEFAULT_SOCKET) -> str:
    if "/" in name or name in ("", ".", ".."):
        raise InvalidInput(f"--name: {name!r} is not a file name")
    if not socket.startswith("/"):
        raise InvalidInput(f"--socket: {socket!r} is not an absolute path")
    python = sys.executable
    if len(python) + 6 > SHEBANG_MAX:
        raise InvalidInput(f"the interpreter path {python} is too long for a #! line", hint="use a shorter venv path")
    target = os.path.join(directory, name)
    if os.path.lexists(target) and not force:
        try:
            with open(target, errors="replace") as fh:
                ours = MARK in fh.read(512)
        except OSError:
            ours = False
        if not ours:
            raise Conflict(f"{target} exists and is not a kubenetctl-cni launcher", hint="pass --force to replace it")
    paths = search_path()
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(launcher_text(python, paths, socket))
        os.chmod(tmp, 0o755)
        _selftest(python, paths, tmp)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
