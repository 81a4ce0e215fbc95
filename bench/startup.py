#!/usr/bin/env python3
"""Per-invocation cost of kubenetctl commands against bare Python, in one run.

    python bench/startup.py [--runs 30]

Baselines: `python -c pass` (the floor) and `python -c "import pyroute2"` (what a CLI
that imports its netlink library up front pays). Reports the median wall time of each
command and its ratio to both. Not a test: numbers go in notes, never in CI assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def entry_point() -> str:
    beside = Path(sys.executable).parent / "kubenetctl"
    return str(beside) if beside.exists() else "kubenetctl"


def timed(cmd: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    kn = entry_point()
    comp = Path(__file__).resolve().parents[1] / "completions" / "kubenetctl.bash"
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "python -c 'import pyroute2'": [sys.executable, "-c", "import pyroute2"],
        "kubenetctl --help": [kn, "--help"],
        "kubenetctl ns list": [kn, "ns", "list"],
        "kubenetctl completion bash": [kn, "completion", "bash"],
        "bash TAB completion (shipped script)": [
            "bash", "-c", f"source {comp}; COMP_WORDS=(kubenetctl veth add x --pe); COMP_CWORD=4; _kubenetctl",
        ],
        "kubenetctl link list (pays pyroute2)": [kn, "link", "list"],
    }
    results = {name: timed(cmd, args.runs) for name, cmd in cases.items()}
    floor = results["python -c pass"]
    pyroute2 = results["python -c 'import pyroute2'"]
    print(f"{'command':42} {'median':>9} {'x python':>9} {'x pyroute2':>11}   ({args.runs} runs each, {os.cpu_count()} cpus)")
    for name, value in results.items():
        print(f"{name:42} {value * 1000:7.1f}ms {value / floor:8.2f}x {value / pyroute2:10.2f}x")


if __name__ == "__main__":
    main()
