"""Entering a namespace for good before exec, the way 'ip netns exec' does."""

from __future__ import annotations

import ctypes
import os

from kubenetctl.errors import KernelError
from kubenetctl.netlink import nsfs

MS_BIND, MS_REC, MS_SLAVE = 0x1000, 0x4000, 0x80000
MNT_DETACH = 2

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src: str, dst: str, fstype: str | None, flags: int) -> int:
    return _libc.mount(src.encode(), dst.encode(), fstype.encode() if fstype else None, flags, None)


def enter_for_exec(name: str) -> None:
    """Join the namespace, with a private mount namespace whose /sys shows its devices."""
    fd = nsfs.open_fd(name)
    try:
        nsfs.setns(fd)
    finally:
        os.close(fd)
    nsfs.unshare(nsfs.CLONE_NEWNS)
    if _mount("none", "/", None, MS_SLAVE | MS_REC) != 0:
        raise KernelError(f"cannot make / a slave mount: {os.strerror(ctypes.get_errno())}")
    if _libc.umount2(b"/sys", MNT_DETACH) == 0:
        _mount(name, "/sys", "sysfs", 0)
    etc = os.path.join("/etc/netns", name)
    if os.path.isdir(etc):
        for entry in os.listdir(etc):
            target = os.path.join("/etc", entry)
            if os.path.exists(target):
                _mount(os.path.join(etc, entry), target, None, MS_BIND)
