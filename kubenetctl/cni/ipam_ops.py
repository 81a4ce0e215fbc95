"""host-local-style IPAM as CNI operations, in process: the plugin's IPAM mode, and the
bridge network's IPAM when ipam.type names kubenetctl's own plugin."""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from kubenetctl.cni import spec
from kubenetctl.cni.netconf import IpamConf, requested_ips
from kubenetctl.cni.request import Request
from kubenetctl.cni.spec import CniError
from kubenetctl.ipam import allocator
from kubenetctl.ipam.allocator import Lease
from kubenetctl.ipam.store import FileStore


def store(req: Request, ipam: IpamConf) -> FileStore:
    return FileStore(ipam.data_dir, req.name)


def add(req: Request, ipam: IpamConf) -> tuple[dict[str, Any], list[Lease]]:
    """Allocate; the result has ips (without interface), routes and dns."""
    leases = allocator.allocate(store(req, ipam), ipam.range_sets, req.container_id, req.ifname, requested_ips(req))
    result = {
        "ips": [{"address": lease.cidr, "gateway": str(lease.gateway)} for lease in leases],
        "routes": [dict(r) for r in ipam.routes],
        "dns": dict(ipam.dns),
    }
    return result, leases


def undo(req: Request, ipam: IpamConf, leases: Iterable[Lease]) -> None:
    allocator.release_leases(store(req, ipam), leases, req.container_id, req.ifname)


def delete(req: Request, ipam: IpamConf) -> list[str]:
    return allocator.release(store(req, ipam), req.container_id, req.ifname)


def check(req: Request, ipam: IpamConf, prev_ips: Iterable[str] = ()) -> None:
    held = {a.ip for a in store(req, ipam).by_id(req.container_id, req.ifname)}
    if not held:
        raise CniError(spec.CHECK_MISMATCH, f"no address is allocated to container {req.container_id} "
                       f"interface {req.ifname} in network {req.name}")
    for cidr in prev_ips:
        ip = str(ipaddress.ip_interface(cidr).ip)
        if any(ipaddress.ip_address(ip) in rs for rs in ipam.range_sets) and ip not in held:
            raise CniError(spec.CHECK_MISMATCH, f"prevResult lists {ip} but the IPAM store does not hold it "
                           f"for container {req.container_id} interface {req.ifname}",
                           f"held: {', '.join(sorted(held))}")


def valid_attachments(req: Request) -> set[tuple[str, str]]:
    raw = req.config.get("cni.dev/valid-attachments")
    if raw is None:
        raise CniError(spec.INVALID_CONFIG, "GC needs cni.dev/valid-attachments")
    if not isinstance(raw, list):
        raise CniError(spec.INVALID_CONFIG, "cni.dev/valid-attachments: expected a list of {containerID, ifname}")
    out = set()
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("containerID"), str) or not isinstance(item.get("ifname"), str):
            raise CniError(spec.INVALID_CONFIG, f"cni.dev/valid-attachments[{i}]: expected {{containerID, ifname}}")
        out.add((item["containerID"], item["ifname"]))
    return out


def gc(req: Request, ipam: IpamConf, valid: set[tuple[str, str]]) -> list[str]:
    """Release every allocation whose (container id, ifname) is not a valid attachment."""
    st = store(req, ipam)
    if not st.exists():
        return []
    released = []
    with st.locked():
        for a in st.allocations():
            if a.attached(valid):
                continue
            if st.release(a.ip, a.container_id, a.ifname):
                released.append(a.ip)
    return released


def status(req: Request, ipam: IpamConf) -> None:
    """STATUS: the store is usable and every range set still has a free address."""
    st = store(req, ipam)
    try:
        with st.locked(timeout=5):
            taken = {ipaddress.ip_address(a.ip) for a in st.allocations()}
    except Exception as exc:
        raise CniError(spec.NOT_AVAILABLE, f"the IPAM store of network {req.name} is not usable: {exc}") from None
    for rs in ipam.range_sets:
        if sum(1 for ip in taken if ip in rs) >= rs.size():
            raise CniError(spec.NOT_AVAILABLE, f"no IP addresses available in range set: {rs}",
                           "free stale addresses with: kubenetctl ipam gc")
