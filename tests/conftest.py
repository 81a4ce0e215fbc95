"""Test lanes, unique names, and the leak check.

- tests/unit: no root, no kernel objects.
- tests/integration: root on this kernel (marked `root` automatically).
- tests/fullkernel: need 802.1Q and friends (marked `fullkernel`); on a kernel without
  them they are reported as skipped with the reason, and scripts/kernel-lane runs them
  inside Debian's kernel under QEMU.

Every namespace and link a test creates is named from this run's prefix (kt + 4 random
characters) and the test's own tag, so that runs and tests never touch each other's
objects, let alone anything else on the machine. A test that leaves something behind
fails; the session fails if anything with this run's prefix is still there at the end.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import string
import subprocess
from pathlib import Path

import pytest

RUN_ID = os.environ.get("KUBENETCTL_TEST_RUN_ID") or "".join(random.choices(string.ascii_lowercase + string.digits, k=4))
PREFIX = f"kt{RUN_ID}"
_tags = (f"{a}{b}" for a, b in itertools.product(string.ascii_lowercase + string.digits, repeat=2))
ROOT = os.geteuid() == 0
# loaded, or loadable on demand (Debian builds 8021q as a module the kernel loads itself)
HAS_8021Q = os.path.exists("/proc/net/vlan/config") or (
    os.path.exists("/proc/sys/kernel/modprobe")
    and subprocess.run(["modinfo", "8021q"], capture_output=True).returncode == 0
)
# scripts/test (and any CI): it installed every tool, so a test skipped for want of one fails
STRICT_SKIPS = bool(os.environ.get("KUBENETCTL_STRICT_SKIPS") or os.environ.get("CI"))
FULL_KERNEL_REASON = (
    "this kernel has no 802.1Q support (CONFIG_VLAN_8021Q): runs in the full-kernel lane "
    "(scripts/kernel-lane, Debian's kernel under QEMU)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        path = Path(str(item.fspath))
        if "integration" in path.parts or "fullkernel" in path.parts:
            item.add_marker(pytest.mark.root)
        if "fullkernel" in path.parts:
            item.add_marker(pytest.mark.fullkernel)
        if "root" in item.keywords and not ROOT:
            item.add_marker(pytest.mark.skip(reason="needs root: creates real namespaces and links"))
        elif "fullkernel" in item.keywords and not HAS_8021Q:
            item.add_marker(pytest.mark.skip(reason=FULL_KERNEL_REASON))


# -- what exists on the machine (read with iproute2: an oracle independent of kubenetctl) --
def ip_json(*args: str, netns: str | None = None, tool: str = "ip") -> list[dict]:
    """`ip -j ...` (or `bridge -j ...` with tool="bridge") as parsed JSON."""
    cmd = [tool, "-j", *(["-n", netns] if netns else []), *args]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip() else []


def netns_names() -> list[str]:
    return [n["name"] for n in ip_json("netns", "list")]


def host_links() -> list[str]:
    return [link["ifname"] for link in ip_json("link", "show")]


def ours(prefix: str) -> tuple[list[str], list[str]]:
    return (
        [n for n in netns_names() if n.startswith(prefix)],
        [link for link in host_links() if link.startswith(prefix)],
    )


def remove(namespaces: list[str], links: list[str]) -> None:
    for link in links:
        subprocess.run(["ip", "link", "del", link], capture_output=True)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


from tests.helpers import kn_inprocess  # noqa: E402


@pytest.fixture
def kn():  # type: ignore[no-untyped-def]
    """Run kubenetctl in this process: kn("veth", "add", ...) -> CliResult."""
    return kn_inprocess


class Names:
    """Unique names for one test: namespaces kt<run>-<tag>-<base>, links kt<run><tag><base>."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.ns_prefix = f"{PREFIX}-{tag}-"
        self.link_prefix = f"{PREFIX}{tag}"

    def ns(self, base: str) -> str:
        return self.ns_prefix + base

    def link(self, base: str) -> str:
        name = self.link_prefix + base
        assert len(name.encode()) <= 15, f"test link name {name!r} too long"
        return name

    def leftovers(self) -> tuple[list[str], list[str]]:
        nss, links = ours(self.link_prefix)  # also namespaces named from the link prefix
        return sorted(set(nss) | set(ours(self.ns_prefix)[0])), links


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    report = yield
    if STRICT_SKIPS and report.skipped and isinstance(report.longrepr, tuple) and "802.1Q" not in report.longrepr[2]:
        # only what this kernel lacks may be skipped in CI; a missing package is CI's defect
        report.outcome = "failed"
        report.longrepr = f"skipped, though scripts/setup --test installs what every test needs: {report.longrepr[2]}"
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def names(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Unique names; afterwards anything left with them is removed, and a test that
    passed but left something behind fails at teardown (a leak is a defect)."""
    n = Names(next(_tags))
    yield n
    if not ROOT:
        return
    nss, links = n.leftovers()
    remove(nss, links)
    passed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.passed
    if (nss or links) and passed:
        pytest.fail(f"test leaked namespaces {nss} and links {links}")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not ROOT:
        return
    nss, links = ours(PREFIX)
    if nss or links:
        remove(nss, links)
        session.config.stash[_LEAK] = (nss, links)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_LEAK = pytest.StashKey[tuple]()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    leak = config.stash.get(_LEAK, None)
    if leak:
        terminalreporter.write_line(
            f"LEAK CHECK FAILED: still present at the end of the run: namespaces {leak[0]}, links {leak[1]}",
            red=True,
        )
    elif ROOT:
        terminalreporter.write_line(f"leak check: nothing named {PREFIX}* left behind")
