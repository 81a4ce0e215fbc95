"""Helpers for the CNI tests: a disposable "host" namespace for plugins to run in, plugin
invocation with the CNI environment, and kernel state read with iproute2 (`ip -j`).

Plugins run inside a test namespace (`ip netns exec HOST plugin`), so the bridge, the host
ends of the veths, the forwarding sysctl and any nftables/iptables rules live in that
namespace and vanish with it: the tests never touch the machine's own network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

REF_DIR = "/usr/lib/cni"
PLUGIN = "kubenetctl-cni"


def plugin_exe() -> str:
    """The installed console script (the venv's bin, next to this interpreter)."""
    exe = Path(sys.executable).parent / PLUGIN
    if exe.exists():
        return str(exe)
    found = shutil.which(PLUGIN)
    assert found, "kubenetctl-cni is not installed: pip install -e ."
    return found


def kubenetctl_exe() -> str:
    from tests.helpers import installed_entry_point

    return installed_entry_point() or "kubenetctl"


def has_reference(*names: str) -> bool:
    return all(os.access(os.path.join(REF_DIR, n), os.X_OK) for n in names)


def cni_bin(tmp_path: Path) -> str:
    """A CNI_PATH directory holding our plugin (a symlink to the console script)."""
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    link = d / PLUGIN
    if not link.exists():
        link.symlink_to(plugin_exe())
    return str(d)


@dataclass
class Call:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def call(plugin: str, command: str, conf: dict | bytes | str, *, host: str | None = None, netns: str | None = None,
         container_id: str | None = "c1", ifname: str | None = "eth0", cni_path: str = "", args: str = "",
         extra_env: dict[str, str] | None = None) -> Call:
    """Run one plugin the way a runtime does: CNI_* in the environment, config on stdin."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
    env["CNI_COMMAND"] = command
    for key, value in (("CNI_CONTAINERID", container_id), ("CNI_NETNS", netns), ("CNI_IFNAME", ifname),
                       ("CNI_PATH", cni_path), ("CNI_ARGS", args)):
        if value:
            env[key] = value
    env.update(extra_env or {})
    data = conf if isinstance(conf, (bytes, str)) else json.dumps(conf)
    cmd = [plugin] if host is None else ["ip", "netns", "exec", host, plugin]
    proc = subprocess.run(cmd, input=data if isinstance(data, bytes) else data.encode(), env=env,
                          capture_output=True, timeout=60)
    return Call(proc.returncode, proc.stdout.decode(), proc.stderr.decode())


def netns_path(name: str) -> str:
    return f"/run/netns/{name}"


def ip_j(*args: str, netns: str | None = None) -> list[dict]:
    cmd = ["ip", "-j", *(["-n", netns] if netns else []), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def links(netns: str) -> dict[str, dict]:
    return {link["ifname"]: link for link in ip_j("-d", "link", "show", netns=netns)}


def addresses(netns: str, ifname: str) -> list[str]:
    out = []
    for link in ip_j("addr", "show", "dev", ifname, netns=netns):
        for a in link.get("addr_info", []):
            if a.get("scope") != "link":
                out.append(f"{a['local']}/{a['prefixlen']}")
    return sorted(out)


def routes(netns: str, family: str = "-4") -> list[tuple]:
    return sorted((r["dst"], r.get("gateway"), r.get("dev")) for r in ip_j(family, "route", "show", netns=netns))


def nft_tables(netns: str) -> list[str]:
    assert shutil.which("nft"), "nft is not installed: nothing could be checked (scripts/setup --test installs it)"
    out = subprocess.run(["ip", "netns", "exec", netns, "nft", "list", "tables"], capture_output=True, text=True,
                         check=True).stdout
    return sorted(line.strip() for line in out.splitlines() if line.strip())


def iptables_nat(netns: str) -> list[str]:
    assert shutil.which("iptables"), "iptables is not installed: nothing could be checked (scripts/setup --test installs it)"
    out = subprocess.run(["ip", "netns", "exec", netns, "iptables", "-t", "nat", "-S"], capture_output=True, text=True,
                         check=True).stdout
    return [line for line in out.splitlines() if not line.startswith("-P ")]


def store_files(data_dir: Path, network: str) -> list[str]:
    d = data_dir / network
    return sorted(os.listdir(d)) if d.exists() else []


def store_ips(data_dir: Path, network: str) -> list[str]:
    return [n for n in store_files(data_dir, network) if n not in ("lock",) and not n.startswith("last_reserved_ip")]


def add_netns(*names: str) -> None:
    for n in names:
        subprocess.run(["ip", "netns", "add", n], check=True)


def bridge_conf(name: str, data_dir: Path, bridge: str, subnet: str = "10.88.0.0/24", version: str = "1.1.0",
                **fields: Any) -> dict:
    ipam = {"type": PLUGIN, "dataDir": str(data_dir), "ranges": [[{"subnet": subnet}]]}
    ipam.update(fields.pop("ipam", {}))
    return {"cniVersion": version, "name": name, "type": PLUGIN, "bridge": bridge, "ipam": ipam, **fields}


# -- kubenetctl cni serve ---------------------------------------------------------------------
class CniServer:
    """`kubenetctl cni serve` on a socket of its own, as a real process; stop() or kill() it.

    The socket lives in a short /tmp directory (a unix socket path has at most 107 bytes);
    the server's log goes to a file the tests read."""

    def __init__(self, log_dir: Path, timeout: float | None = None, socket: str | None = None) -> None:
        import tempfile

        self.dir = tempfile.mkdtemp(prefix="kncs")
        self.socket = socket or os.path.join(self.dir, "cni.sock")
        self.log = log_dir / "server.log"
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    def start(self) -> "CniServer":
        import socket

        from tests.helpers import wait_for

        cmd = [kubenetctl_exe(), "cni", "serve", "--socket", self.socket]
        if self.timeout is not None:
            cmd += ["--timeout", str(self.timeout)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        def listening() -> bool:
            assert self.proc is not None and self.proc.poll() is None, f"the server exited: {self.log_text()}"
            with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
                return s.connect_ex(self.socket) == 0

        try:
            wait_for(listening, "the server to listen", timeout=30)
        except BaseException:  # never leave a server (or its directory) behind
            self.kill()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> list[int]:
        """Processes whose parent is the server (its calls in progress, or leaked ones)."""
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.pid:
                    out.append(int(entry))
        return out

    def fds(self) -> list[str]:
        return sorted(os.readlink(f"/proc/{self.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self) -> int:
        """SIGTERM: the server finishes the calls in progress and exits."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.terminate()
        code = self.proc.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
        return code

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text()

    def served(self, stopping: bool = False) -> int:
        """Stop the server (stopping: wait for it to stop on its own) once its children are
        reaped, check it exited 0, and return how many calls it says it served."""
        import re

        from tests.helpers import wait_for

        wait_for(lambda: self.children() == [], "every child to be reaped", timeout=10)  # the last may be exiting
        if stopping:
            assert self.proc is not None and self.proc.wait(timeout=30) == 0, self.log_text()
        assert self.stop() == 0, self.log_text()
        found = re.findall(r"stopped after (\d+) calls", self.log_text())
        assert found, self.log_text()
        return int(found[-1])


def lean_launcher(tmp_path: Path, socket: str, name: str = PLUGIN) -> str:
    """`kubenetctl cni install` into tmp_path/lean, looking for the server on `socket`."""
    from kubenetctl.cni.install import install

    return install(str(tmp_path / "lean"), name, socket=socket)


@contextmanager
def running_server(log_dir: Path, timeout: float | None = None, socket: str | None = None) -> Iterator[CniServer]:
    """A started server; afterwards it must have no child left, and stop cleanly (exit 0)."""
    server = CniServer(log_dir, timeout, socket).start()
    try:
        yield server
        if server.proc is not None and server.proc.poll() is None:
            server.served()
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.kill()
        shutil.rmtree(server.dir, ignore_errors=True)
