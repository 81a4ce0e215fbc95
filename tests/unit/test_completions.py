"""The shipped completion scripts are what the CLI generates, and they work."""

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import kn_inprocess

COMPLETIONS = Path(__file__).resolve().parents[2] / "completions"


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_committed_scripts_are_current(shell):
    result = kn_inprocess("completion", shell)
    assert result.code == 0, result
    committed = (COMPLETIONS / f"kubenetctl.{shell}").read_text()
    assert committed == result.stdout, (
        f"completions/kubenetctl.{shell} is stale: regenerate with "
        f"'kubenetctl completion {shell} > completions/kubenetctl.{shell}'"
    )


def test_unknown_shell_is_a_usage_error():
    result = kn_inprocess("completion", "tcsh")
    assert result.code == 2 and "not one of bash, zsh, fish" in result.stderr


def _bash_complete(*words: str) -> list[str]:
    script = (
        f"source {COMPLETIONS / 'kubenetctl.bash'}\n"
        'COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _kubenetctl; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(["bash", "-c", script, "bash", "kubenetctl", *words], capture_output=True, text=True, check=True)
    return [line for line in out.stdout.splitlines() if line]


def test_bash_completes_commands_options_and_values():
    assert "veth" in _bash_complete("") and "vxlan" in _bash_complete("")
    assert _bash_complete("vxlan", "peer", "") == ["add", "del", "list"]
    assert "--peer-netns" in _bash_complete("veth", "add", "x", "--peer-")
    assert _bash_complete("-o", "") == ["table", "json", "yaml"]
    assert _bash_complete("--output", "j") == ["json"]


@pytest.mark.parametrize("shell,flag", [("zsh", "-n"), ("fish", "-n")])
def test_zsh_and_fish_scripts_parse(shell, flag):
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed (scripts/test installs it)")
    subprocess.run([exe, flag, str(COMPLETIONS / f"kubenetctl.{shell}")], check=True)


def test_fish_completes_values():
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (scripts/test installs it)")
    out = subprocess.run(
        ["fish", "-c", f"source {COMPLETIONS / 'kubenetctl.fish'}; complete -C 'kubenetctl -o '"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert [line.split("\t")[0] for line in out.splitlines()] == ["json", "table", "yaml"]
