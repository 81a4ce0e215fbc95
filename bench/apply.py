#!/usr/bin/env python3
"""Apply N pods with kubenetctl against a shell script doing the same with one `ip`
command per step, in the same run; print times and ratios, re-apply and destroy times,
and peak memory.

    sudo .venv/bin/python bench/apply.py                  # 100 and 1000 pods
    sudo .venv/bin/python bench/apply.py 100 300          # other sizes
    sudo nice -n -10 .venv/bin/python bench/apply.py --repeat 3   # each size 3 times (busy machine)

Topology (both ways): an underlay namespace with a bridge, a node namespace joined to it,
a bridge cni0 with the gateway in the node, and per pod a namespace, a veth whose peer is
created straight in the pod's namespace as eth0, attached to cni0, an address, lo and
eth0 up, and a default route. kubenetctl does more per object (it marks each one as the
lab's and journals every step); the script does not.

This is a measurement, not a test: the machine is shared and noisy, so compare the
ratios printed by one run (wall clock, and CPU time, which other load disturbs less);
before each build the kernel is given time to finish cleaning up the previous teardown.
Results are also written to bench/results/apply-<time>.json.
"""

from __future__ import annotations

import json
import argparse
import os
import random
import resource
import shutil
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TAG = "knb" + "".join(random.choices(string.ascii_lowercase + string.digits, k=4))


def recipe(lab: str, pods: int) -> str:
    return f"""apiVersion: kubenetctl/v1
kind: Lab
metadata: {{name: {lab}}}
spec:
  underlay: {{cidr: 192.168.90.0/24}}
  nodes:
    - {{name: node1, podCIDR: 10.100.0.0/20}}
  networks:
    - {{name: podnet, cidr: 10.100.0.0/16, bridge: cni0}}
  pods:
    - {{name: p, node: node1, replicas: {pods}, networks: [podnet]}}
"""


def script(prefix: str, pods: int) -> str:
    """The same topology, one ip command per step (what people write by hand)."""
    ul, node = f"{prefix}-underlay", f"{prefix}-node1"
    lines = [
        "set -e",
        f"ip netns add {ul}",
        f"ip -n {ul} link add br-underlay type bridge",
        f"ip -n {ul} addr add 192.168.90.1/24 dev br-underlay",
        f"ip -n {ul} link set br-underlay up",
        f"ip netns add {node}",
        f"ip -n {ul} link add node1 type veth peer name eth0 netns {node}",
        f"ip -n {ul} link set node1 master br-underlay up",
        f"ip -n {node} addr add 192.168.90.2/24 dev eth0",
        f"ip -n {node} link set eth0 up",
        f"ip -n {node} route add default via 192.168.90.1",
        f"ip netns exec {node} sysctl -qw net.ipv4.ip_forward=1",
        f"ip -n {node} link add cni0 type bridge",
        f"ip -n {node} addr add 10.100.0.1/20 dev cni0",
        f"ip -n {node} link set cni0 up",
    ]
    for i in range(pods):
        pod, veth, ip = f"{prefix}-p-{i}", f"v{TAG}{i}", f"10.100.{(i + 2) // 256}.{(i + 2) % 256}"
        lines += [
            f"ip netns add {pod}",
            f"ip -n {node} link add {veth} type veth peer name eth0 netns {pod}",
            f"ip -n {node} link set {veth} master cni0 up",
            f"ip -n {pod} addr add {ip}/20 dev eth0",
            f"ip -n {pod} link set lo up",
            f"ip -n {pod} link set eth0 up",
            f"ip -n {pod} route add default via 10.100.0.1",
        ]
    return "\n".join(lines) + "\n"


def run(cmd: list[str], env: dict[str, str] | None = None, stdin: str | None = None) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds (user + system, with the processes it waited for), peak
    RSS in MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if stdin:
        proc.stdin.write(stdin)  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read() if proc.stderr else ''}")  # type: ignore[union-attr]
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def namespaces(prefix: str) -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(prefix)]


def probe() -> float:
    """Time to make and remove a namespace with a veth: slow while the kernel is still
    cleaning up namespaces deleted before (that work runs later, in a kernel thread)."""
    name = f"{TAG}-probe{random.randrange(10**9)}"
    start = time.perf_counter()
    subprocess.run(["ip", "netns", "add", name], check=True)
    subprocess.run(["ip", "-n", name, "link", "add", "name", "pa", "type", "veth", "peer", "name", "pb"], check=True)
    subprocess.run(["ip", "netns", "del", name], check=True)
    return time.perf_counter() - start


def settle(baseline: float, limit: float = 60.0) -> float:
    """Wait until the kernel has finished the last teardown, so that no phase pays for the
    one before it; returns the seconds waited."""
    start = time.perf_counter()
    quiet = 0
    while quiet < 3 and time.perf_counter() - start < limit:
        quiet = quiet + 1 if probe() < 1.5 * baseline else 0
        time.sleep(0.2)
    return time.perf_counter() - start


def teardown_script(prefix: str) -> float:
    names = namespaces(prefix)
    start = time.perf_counter()
    for name in names:
        subprocess.run(["ip", "netns", "del", name], check=True)
    return time.perf_counter() - start


def main() -> None:
    if os.geteuid() != 0:
        raise SystemExit("run as root: the benchmark creates namespaces")
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000], help="pod counts (default: 100 1000)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each size")
    args = parser.parse_args()
    repeat, sizes = args.repeat, args.sizes
    exe = shutil.which("kubenetctl", path=str(Path(sys.executable).parent)) or shutil.which("kubenetctl")
    kn = [exe] if exe else [sys.executable, "-m", "kubenetctl"]
    results = []
    with tempfile.TemporaryDirectory(prefix="kubenetctl-bench-") as tmp:
        env = {**os.environ, "KUBENETCTL_STATE_DIR": os.path.join(tmp, "state")}
        try:
            baseline = min(probe() for _ in range(5))
            for pods in [p for p in sizes for _ in range(repeat)]:
                prefix = f"{TAG}-sh{pods}"
                settle(baseline)
                sh_time, sh_cpu, _ = run(["bash", "-s"], stdin=script(prefix, pods))
                sh_down = teardown_script(prefix)

                lab = f"{TAG}-kn{pods}"
                path = os.path.join(tmp, f"{lab}.yaml")
                Path(path).write_text(recipe(lab, pods))
                settle(baseline)
                kn_time, kn_cpu, kn_rss = run([*kn, "apply", path, "--no-progress"], env)
                made = len(namespaces(lab))
                assert made == pods + 2, f"expected {pods + 2} namespaces, found {made}"
                noop_time, _, noop_rss = run([*kn, "apply", path, "--no-progress"], env)
                down_time, _, down_rss = run([*kn, "destroy", lab, "--no-progress"], env)
                assert namespaces(lab) == []
                row = {
                    "pods": pods, "script_s": round(sh_time, 3), "kubenetctl_s": round(kn_time, 3),
                    "speedup": round(sh_time / kn_time, 2), "script_cpu_s": round(sh_cpu, 3),
                    "kubenetctl_cpu_s": round(kn_cpu, 3), "cpu_ratio": round(sh_cpu / kn_cpu, 2),
                    "loadavg_1min": round(os.getloadavg()[0], 1), "reapply_noop_s": round(noop_time, 3),
                    "destroy_s": round(down_time, 3), "script_teardown_s": round(sh_down, 3),
                    "peak_rss_mib": {"apply": round(kn_rss, 1), "reapply": round(noop_rss, 1), "destroy": round(down_rss, 1)},
                }
                results.append(row)
                print(f"{pods:>5} pods: script {sh_time:6.2f} s, kubenetctl apply {kn_time:6.2f} s "
                      f"-> {sh_time / kn_time:4.1f}x faster (CPU {sh_cpu:.2f} s vs {kn_cpu:.2f} s: {sh_cpu / kn_cpu:.1f}x) | "
                      f"re-apply (no-op) {noop_time:5.2f} s | "
                      f"destroy {down_time:5.2f} s (script teardown {sh_down:5.2f} s) | "
                      f"peak RSS apply {kn_rss:.0f} MiB, re-apply {noop_rss:.0f} MiB, destroy {down_rss:.0f} MiB | load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            for name in namespaces(TAG):
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"apply-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps({
        "cpus": os.cpu_count(), "kernel": os.uname().release, "results": results,
        "maxrss_children_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }, indent=1) + "\n")


if __name__ == "__main__":
    main()
