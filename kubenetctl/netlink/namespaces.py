"""Creating and removing named network namespaces.

Creation happens in this thread (unshare + bind mount, then back home) instead of
pyroute2.netns.create(), which forks a helper per namespace (~5 ms against ~1.5 ms).
"""

from __future__ import annotations

import errno
import os
from typing import Callable, Optional

from pyroute2 import netns as pr_netns

from kubenetctl.errors import Conflict, PermissionDenied
from kubenetctl.netlink import nsfs


def create(name: str, prepare: Optional[Callable[[], None]] = None) -> None:
    """Make namespace `name`. `prepare` runs inside the new namespace before it is given
    its name (bind-mounted): a namespace is never visible unprepared (unmarked), and if
    this process dies before the name is given, the kernel frees it with nothing left."""
    if nsfs.exists(name):
        raise Conflict(f"netns {name} already exists")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        nsfs.unshare(nsfs.CLONE_NEWNET)
        try:
            if prepare is not None:
                prepare()
            pr_netns.attach(name, "thread-self")
        except OSError as exc:
            _cleanup_mountpoint(name)
            if exc.errno in (errno.EPERM, errno.EACCES):
                raise PermissionDenied(f"cannot create netns {name}: operation not permitted", hint="run as root") from None
            raise
        finally:
            nsfs.setns(home)
    finally:
        os.close(home)


def _cleanup_mountpoint(name: str) -> None:
    try:
        os.unlink(nsfs.path(name))
    except OSError:
        pass


def remove(name: str) -> None:
    try:
        pr_netns.remove(name)
    except FileNotFoundError:
        pass


def stale(name: str) -> bool:
    """True when /run/netns/<name> is only a mountpoint file, no namespace is bound on it:
    what a process killed between creating the file and mounting leaves (ip netns add
    does the same two steps)."""
    try:
        return os.stat(nsfs.path(name)).st_dev != os.stat("/proc/self/ns/net").st_dev
    except FileNotFoundError:
        return False


def remove_stale(name: str) -> bool:
    """Remove such a leftover mountpoint file; True if there was one."""
    if not stale(name):
        return False
    _cleanup_mountpoint(name)
    return True
