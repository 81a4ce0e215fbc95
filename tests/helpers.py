"""Helpers shared by the test lanes: run the CLI, ping between namespaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

from typer.testing import CliRunner

from kubenetctl.cli.main import app


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def __str__(self) -> str:
        return f"exit {self.code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}"


_runner = CliRunner()


def kn_inprocess(*args: str) -> CliResult:
    result = _runner.invoke(app, list(args), catch_exceptions=False)
    return CliResult(result.exit_code, result.stdout, result.stderr)


def installed_entry_point() -> str | None:
    """The console script installed beside this interpreter (the venv's), else on PATH."""
    beside = os.path.join(os.path.dirname(sys.executable), "kubenetctl")
    return beside if os.access(beside, os.X_OK) else shutil.which("kubenetctl")


def one_error_line(result: CliResult) -> str:
    """The one error line a failed command printed (a hint line may follow; never a traceback)."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("kubenetctl: error: "), result
    assert all(line.startswith("  hint: ") for line in lines[1:]), result
    assert "Traceback" not in result.stderr, result
    return lines[0]


def kn_argv() -> list[str]:
    """How to start this checkout's kubenetctl as a process."""
    exe = installed_entry_point()
    return [exe] if exe else [sys.executable, "-m", "kubenetctl"]


def kn_process(*args: str, env: dict[str, str] | None = None) -> CliResult:
    """Run the installed entry point as a real process (exit codes, stderr, start-up)."""
    proc = subprocess.run([*kn_argv(), *args], capture_output=True, text=True, env={**os.environ, **(env or {})})
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def ping(netns: str, dst: str, count: int = 1, size: int | None = None, dont_fragment: bool = False, timeout: int = 2) -> bool:
    """Real ICMP echo from inside `netns` (iputils ping); True when a reply came back."""
    cmd = ["ip", "netns", "exec", netns, "ping", "-n", "-q", "-c", str(count), "-W", str(timeout)]
    if count > 1:
        cmd += ["-i", "0.2"]
    if size is not None:
        cmd += ["-s", str(size)]
    if dont_fragment:
        cmd += ["-M", "do"]
    proc = subprocess.run([*cmd, dst], capture_output=True, text=True)
    return proc.returncode == 0


def wait_for(cond: Any, what: str, timeout: float = 20.0) -> None:
    """Poll cond() until it is true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
