"""Kernel errors (errno from netlink) turned into errors a person can act on.

Branches on the errno only, never on message text.
"""

from __future__ import annotations

import errno
import os

from kubenetctl.errors import (
    Busy,
    Conflict,
    InvalidInput,
    KernelError,
    KubenetError,
    NotFound,
    PermissionDenied,
    Unsupported,
)
from kubenetctl.plan.ops import CREATE, REPLACE, Op
from kubenetctl.resources import Link, Route, where

KERNEL_CONFIG = {  # kind: (what people call it, kernel option, module)
    "vlan": ("802.1Q", "CONFIG_VLAN_8021Q", "8021q"),
    "vxlan": ("VXLAN", "CONFIG_VXLAN", "vxlan"),
    "macvlan": ("macvlan", "CONFIG_MACVLAN", "macvlan"),
    "bridge": ("bridge", "CONFIG_BRIDGE", "bridge"),
    "veth": ("veth", "CONFIG_VETH", "veth"),
    "ipvlan": ("ipvlan", "CONFIG_IPVLAN", "ipvlan"),
    "dummy": ("dummy", "CONFIG_DUMMY", "dummy"),
}


def unsupported_kind(kind: str) -> Unsupported:
    label, option, module = KERNEL_CONFIG.get(kind, (kind, "CONFIG_" + kind.upper(), kind))
    return Unsupported(
        f"this kernel has no {label} support ({option})",
        hint=f"load it with 'modprobe {module}' on the host (a container cannot), or use a kernel built with {option}",
    )


def translate(code: int, op: Op) -> KubenetError:
    res = op.resource
    what = f"cannot {op.action} {res.describe()}"
    creating = op.action in (CREATE, REPLACE)
    if code in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{what}: operation not permitted", hint="run as root (sudo kubenetctl ...)")
    if code == errno.EOPNOTSUPP and creating and isinstance(res, Link):
        return unsupported_kind(res.kind)
    if code == errno.EEXIST and creating and isinstance(res, Link) and res.kind == "vlan":
        # the name was free a moment ago: the parent already has a sub-interface with this id
        return Conflict(
            f"{what}: {res.parent} in the {where(res.parent_netns)} already has a sub-interface for VLAN {res.vlan_id}",
            hint="a parent carries each VLAN id once: pick another --id, or delete the other sub-interface",
        )
    if code == errno.EEXIST and creating and isinstance(res, Link) and res.kind == "veth" and res.peer:
        # the name was free a moment ago: the peer's name is the one taken
        return Conflict(f"{what}: {res.peer} already exists in the {where(res.peer_netns)}",
                        hint="pick another peer name, or delete that link first")
    if code == errno.EEXIST:
        return Conflict(f"{what}: it already exists", hint="another process created it meanwhile; run again")
    if code == errno.EADDRINUSE and isinstance(res, Link) and res.kind == "vxlan":
        return Conflict(
            f"{what}: another VXLAN device in this namespace already uses VNI {res.vni} on UDP port {res.port}",
            hint="pick another VNI or port, or delete the other device",
        )
    if code == errno.ENETUNREACH and isinstance(res, Route):
        return InvalidInput(
            f"{what}: gateway {res.via} is not on a network directly connected to {res.dev or 'any interface'}",
            hint="add an address in the gateway's subnet first, or mark the route --onlink",
        )
    if code in (errno.ERANGE, errno.EINVAL) and isinstance(res, Link) and res.mtu is not None:
        return InvalidInput(f"{what}: the device does not accept MTU {res.mtu}", hint="check the device's MTU range")
    if code in (errno.ENODEV, errno.ENOENT, errno.ESRCH):
        return NotFound(f"{what}: a device it refers to does not exist")
    if code == errno.EBUSY:
        return Busy(f"{what}: the device is busy")
    if code == errno.EINVAL:
        return InvalidInput(f"{what}: the kernel rejected the settings as invalid (EINVAL)")
    return KernelError(f"{what}: {os.strerror(code)} (errno {code})")
