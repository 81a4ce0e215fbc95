"""ADD and DEL latency of kubenetctl-cni against the reference bridge + host-local pair.

Not a test: run as root, `python bench/cni.py [--pods 20] [--rounds 2]`. Everything runs in
namespaces this script creates and deletes (one "host" namespace per plugin, so bridges,
veth host ends and rules never touch the machine), with the same kind of config: a bridge
with a gateway, a /16 range, no masquerade. Calls alternate between the plugins so that
machine noise hits both alike; the report gives medians and the ratio ours/reference.

Variants of our plugin:
- console script: what `pip install` puts in bin/ (python with site);
- lean launcher: what `kubenetctl cni install` writes (python -I -S, explicit sys.path),
  on a node without `kubenetctl cni serve` (its socket does not exist: one stat);
- lean launcher + server: the same launcher with `kubenetctl cni serve` running (started
  and stopped by this script on a socket of its own): the launcher imports only its
  client, the server forks a child that already has the plugin and pyroute2 imported.

Python start-up share: the bare interpreter, the plugin's VERSION (interpreter + the
plugin module, no pyroute2), and importing the netlink layer (lean pyroute2) in-process;
for the server path, the launcher's own cost (-I -S + its client module) and a VERSION
answered by the server (start-up + a fork and exit of the server's child, no netlink).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubenetctl.cni.install import install  # noqa: E402
from kubenetctl.netlink import nsfs  # noqa: E402

REF = "/usr/lib/cni"
PREFIX = f"knb{os.getpid() % 10000}"


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@contextmanager
def namespaces(names: list[str]):
    try:
        for n in names:
            sh("ip", "netns", "add", n)
        yield
    finally:
        for n in names:
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


@contextmanager
def cni_server(socket_path: str):
    """`kubenetctl cni serve` on its own socket for the duration of the run."""
    exe = Path(sys.executable).parent / "kubenetctl"
    proc = subprocess.Popen([str(exe), "cni", "serve", "--socket", socket_path], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(socket_path):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"kubenetctl cni serve did not start: {proc.stderr.read().decode()}")
            time.sleep(0.02)
        yield
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def timed_call(exe: str, host: str, command: str, conf: bytes, pod: str, cid: str, cni_path: str) -> float:
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CNI_COMMAND": command,
           "CNI_CONTAINERID": cid, "CNI_NETNS": f"/run/netns/{pod}", "CNI_IFNAME": "eth0", "CNI_PATH": cni_path}
    with nsfs.entered(host):  # the child is forked from this thread: it starts in the host namespace
        start = time.perf_counter()
        proc = subprocess.run([exe], input=conf, env=env, capture_output=True)
        took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{exe} {command} failed: {proc.stdout.decode()} {proc.stderr.decode()}")
    return took


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def startup(python: str, lean_launcher: str, console: str, served: str) -> dict[str, float]:
    def t(cmd: list[str], stdin: bytes = b"", env: dict | None = None, n: int = 15) -> float:
        xs = []
        for _ in range(n):
            s = time.perf_counter()
            subprocess.run(cmd, input=stdin, capture_output=True, env=env)
            xs.append(time.perf_counter() - s)
        return median_ms(xs)

    ver = {**os.environ, "CNI_COMMAND": "VERSION"}
    netlink = ("import time; s=time.perf_counter(); from kubenetctl.netlink import lean; lean.install(); "
               "import kubenetctl.netlink.backend, kubenetctl.cni.bridge; print((time.perf_counter()-s)*1000)")
    imports = [float(subprocess.run([python, "-c", netlink], capture_output=True, text=True, cwd=ROOT).stdout) for _ in range(7)]
    full = ("import time; s=time.perf_counter(); import pyroute2; print((time.perf_counter()-s)*1000)")
    imports_full = [float(subprocess.run([python, "-c", full], capture_output=True, text=True).stdout) for _ in range(7)]
    from kubenetctl.cni.install import search_path

    client = f"import sys; sys.path[:0] = {search_path()!r}; from kubenetctl import __version__; import kubenetctl.cni.client"
    return {
        "python -c pass": t([python, "-c", "pass"]),
        "python -I -S -c pass": t([python, "-I", "-S", "-c", "pass"]),
        "python -I -S + the launcher's client module (no call)": t([python, "-I", "-S", "-c", client]),
        "VERSION, console script": t([console], b"{}", ver),
        "VERSION, lean launcher": t([lean_launcher], b"{}", ver),
        "VERSION, lean launcher + server": t([served], b"{}", ver),
        "import netlink layer + bridge (lean pyroute2), in-process": statistics.median(imports),
        "import pyroute2 (whole package), in-process": statistics.median(imports_full),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root: the plugins create namespaces, bridges and veths")
    for p in ("bridge", "host-local"):
        if not os.access(f"{REF}/{p}", os.X_OK):
            raise SystemExit("needs containernetworking-plugins (apt-get install containernetworking-plugins)")
    console = str(Path(sys.executable).parent / "kubenetctl-cni")
    tmp = Path(tempfile.mkdtemp(prefix="kn-bench-"))
    sock = str(tmp / "cni.sock")
    lean = install(str(tmp / "bin"), "kubenetctl-cni", socket=str(tmp / "no-server.sock"))
    served = install(str(tmp / "sbin"), "kubenetctl-cni", socket=sock)
    variants = {
        "reference bridge+host-local": (f"{REF}/bridge", "bridge", "host-local", REF),
        "kubenetctl-cni (console script)": (console, "kubenetctl-cni", "kubenetctl-cni", str(tmp / "bin")),
        "kubenetctl-cni (lean launcher)": (lean, "kubenetctl-cni", "kubenetctl-cni", str(tmp / "bin")),
        "kubenetctl-cni (lean + server)": (served, "kubenetctl-cni", "kubenetctl-cni", str(tmp / "sbin")),
    }
    hosts = {v: f"{PREFIX}h{i}" for i, v in enumerate(variants)}
    pods = {v: [f"{PREFIX}v{i}p{j}" for j in range(args.pods)] for i, v in enumerate(variants)}
    confs = {}
    for v, (exe, typ, ipam, _) in variants.items():
        confs[v] = json.dumps({
            "cniVersion": "1.0.0", "name": f"bench{len(confs)}", "type": typ, "bridge": "cni0", "isGateway": True,
            "ipam": {"type": ipam, "dataDir": str(tmp / "data"), "ranges": [[{"subnet": "10.201.0.0/16"}]]},
        }).encode()
    times: dict[str, dict[str, list[float]]] = {v: {"ADD": [], "DEL": []} for v in variants}
    every = [*hosts.values(), *(p for ps in pods.values() for p in ps)]
    with namespaces(every), cni_server(sock):
        for v, (exe, *_rest, cni_path) in variants.items():  # warm-up: bridge creation, page cache, .pyc
            timed_call(exe, hosts[v], "ADD", confs[v], pods[v][0], "warm", cni_path)
            timed_call(exe, hosts[v], "DEL", confs[v], pods[v][0], "warm", cni_path)
        for r in range(args.rounds):
            for command in ("ADD", "DEL"):
                for j in range(args.pods):
                    for v, (exe, *_rest, cni_path) in variants.items():
                        times[v][command].append(timed_call(exe, hosts[v], command, confs[v], pods[v][j], f"c{r}x{j}", cni_path))
        share = startup(sys.executable, lean, console, served)
    subprocess.run(["rm", "-rf", str(tmp)])
    ref = "reference bridge+host-local"
    print(f"CNI plugin latency, medians of {args.pods * args.rounds} calls each (2 cores, noisy: compare the ratios)\n")
    print(f"{'plugin':34} {'ADD ms':>8} {'DEL ms':>8} {'ADD ratio':>10} {'DEL ratio':>10}")
    for v in variants:
        add, dele = median_ms(times[v]["ADD"]), median_ms(times[v]["DEL"])
        print(f"{v:34} {add:8.1f} {dele:8.1f} {add / median_ms(times[ref]['ADD']):9.1f}x {dele / median_ms(times[ref]['DEL']):9.1f}x")
    print("\nPython start-up share (medians, ms):")
    for k, val in share.items():
        print(f"  {k:58} {val:7.1f}")
    lean_add = median_ms(times["kubenetctl-cni (lean launcher)"]["ADD"])
    fixed = share["VERSION, lean launcher"] + share["import netlink layer + bridge (lean pyroute2), in-process"]
    print(f"\n  start-up + imports of the lean launcher: {fixed:.1f} ms of its {lean_add:.1f} ms ADD "
          f"({100 * fixed / lean_add:.0f}%); the rest is netlink work and IPAM")
    served_add = median_ms(times["kubenetctl-cni (lean + server)"]["ADD"])
    overhead = share["VERSION, lean launcher + server"]
    print(f"  with the server, a call that does nothing (VERSION) costs {overhead:.1f} ms of its {served_add:.1f} ms ADD "
          f"({100 * overhead / served_add:.0f}%); the rest is the ADD itself")


if __name__ == "__main__":
    main()
