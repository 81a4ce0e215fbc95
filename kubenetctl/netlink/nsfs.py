"""Named network namespaces on the filesystem (/run/netns), without pyroute2.

Cheap enough for `ns list` and shell completion: listing, existence checks and
entering a namespace for the current thread use only os and ctypes, so commands that
only read never pay for importing pyroute2 (~0.2 s).
"""

from __future__ import annotations

import ctypes
import errno
import os
from contextlib import contextmanager
from typing import Iterator

from kubenetctl.errors import InvalidInput, KernelError, NotFound, PermissionDenied
from kubenetctl.resources import where

NETNS_RUN_DIR: str | None = None  # None: $KUBENETCTL_NETNS_DIR or /run/netns, read at each call
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000

_libc = ctypes.CDLL(None, use_errno=True)


def run_dir() -> str:
    """Where named namespaces live; read at each call, not at import (`kubenetctl cni serve`
    imports this once and serves callers whose environments differ)."""
    return NETNS_RUN_DIR or os.environ.get("KUBENETCTL_NETNS_DIR", "/run/netns")


def path(name: str) -> str:
    """A name in /run/netns, or an absolute path to a namespace file (CNI_NETNS, /proc/PID/ns/net)."""
    return name if name.startswith("/") else os.path.join(run_dir(), name)


def exists(name: str) -> bool:
    return os.path.exists(path(name))


def list_names() -> list[str]:
    try:
        return sorted(n for n in os.listdir(run_dir()) if not n.startswith("."))
    except FileNotFoundError:
        return []


def missing(name: str) -> NotFound:
    return NotFound(
        f"network namespace {name!r} does not exist",
        hint=f"create it with 'kubenetctl ns add {name}' (kubenetctl never creates one implicitly)",
    )


def open_fd(name: str) -> int:
    """An O_RDONLY fd of a named namespace; NotFound if it is not there (never creates)."""
    try:
        return os.open(path(name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise missing(name) from None
    except PermissionError:
        raise PermissionDenied(f"cannot open network namespace {name!r}", hint="run as root") from None


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.EPERM, errno.EACCES):
            raise PermissionDenied(f"{what}: operation not permitted", hint="run as root (sudo kubenetctl ...)")
        raise KernelError(f"{what}: {os.strerror(err)}")


def setns(fd: int, nstype: int = CLONE_NEWNET) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


@contextmanager
def entered(name: str | None) -> Iterator[None]:
    """Run the body with this thread inside namespace `name` (None: stay where we are)."""
    if name is None:
        yield
        return
    target = open_fd(name)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns(target)
        try:
            yield
        finally:
            setns(home)
    finally:
        os.close(target)
        os.close(home)


def interface_names(name: str | None) -> list[str]:
    """Interface names in a namespace, read from /proc/thread-self/net/dev."""
    with entered(name):
        with open("/proc/thread-self/net/dev") as fh:
            lines = fh.read().splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines)


def sysctl_path(key: str) -> str:
    """net.ipv4.ip_forward or net/ipv4/conf/eth0.100/forwarding (slashes when a part has dots);
    never a path outside /proc/sys/net (validate.sysctl_key checks keys at the edges too)."""
    path = os.path.normpath("/proc/sys/" + (key if "/" in key else key.replace(".", "/")))
    if not path.startswith("/proc/sys/net/"):
        raise InvalidInput(f"sysctl {key!r} is not under net.*", hint="only per-namespace net.* sysctls can be set")
    return path


def read_sysctl(netns: str | None, key: str) -> str:
    with entered(netns), _sysctl_errors(netns, key):
        with open(sysctl_path(key)) as fh:
            return fh.read().strip()


def write_sysctl(netns: str | None, key: str, value: str) -> None:
    with entered(netns), _sysctl_errors(netns, key, value):
        with open(sysctl_path(key), "w") as fh:
            fh.write(value)


@contextmanager
def _sysctl_errors(netns: str | None, key: str, value: str | None = None) -> Iterator[None]:
    """What the kernel says about a sysctl file, as the errors people understand."""
    try:
        yield
    except FileNotFoundError:
        raise NotFound(f"sysctl {key} does not exist on this kernel ({where(netns)})") from None
    except IsADirectoryError:
        raise InvalidInput(f"sysctl {key} is a group of sysctls, not one", hint="name one of the keys under it") from None
    except PermissionError:
        raise PermissionDenied(f"cannot {'read' if value is None else 'write'} sysctl {key}", hint="run as root") from None
    except OSError as exc:
        if exc.errno == errno.EINVAL and value is not None:
            raise InvalidInput(f"sysctl {key}: the kernel refuses the value {value!r}") from None
        raise
