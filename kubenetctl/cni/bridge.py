"""The bridge network kubenetctl's plugin implements, built on the resource model.

ADD: the bridge (shared, kept like the reference plugin keeps it), its gateway address and
forwarding; then, inside one executor transaction, a veth whose host end "veth<8 hex>" is
a port of the bridge and whose other end is CNI_IFNAME in the pod's netns, created
straight there, with the addresses and routes IPAM handed out; then masquerade/port
mappings. Any failure undoes the transaction, releases the addresses and removes the
rules, so a failed ADD leaves nothing of its own behind.

DEL removes the pod's interface (its host end goes with it), releases the addresses and
removes the rules; every part that is already gone is success.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from typing import Any

from kubenetctl import validate
from kubenetctl.cni import invoke, ipam_ops, masq, spec
from kubenetctl.cni.netconf import BridgeConf, IpamConf, port_mappings, requested_mac
from kubenetctl.cni.request import Request
from kubenetctl.cni.spec import CniError
from kubenetctl.errors import Conflict, KubenetError
from kubenetctl.plan.ops import CREATE, DELETE, UPDATE, Op
from kubenetctl.resources import Address, Link, Route, Sysctl
from kubenetctl.snapshot import Snapshot

log = logging.getLogger("kubenetctl.cni")
VETH_TRIES = 5


def owner(req: Request) -> str:
    return f"cni/{req.name}"


class Kernel:
    """The executor over netlink, opened only when a command needs the kernel (the
    import of the netlink layer is most of the plugin's start-up cost)."""

    def __init__(self, req: Request) -> None:
        from kubenetctl.netlink import lean

        lean.install()
        from kubenetctl.execute import Executor
        from kubenetctl.netlink.backend import NetlinkBackend
        from kubenetctl.netlink.session import Sessions

        self.sessions = Sessions()
        self.ex = Executor(NetlinkBackend(self.sessions), owner(req))

    def close(self) -> None:
        self.sessions.close()

    def link(self, netns: str | None, name: str) -> Link | None:
        snap = self.ex.observe_one(Link(netns, name, "veth"))
        found = snap.get(("link", netns, name))
        return found if isinstance(found, Link) else None

    def snapshot(self, netns: str | None, types: frozenset[str], peers: bool = True) -> Snapshot:
        return self.ex.snapshot(netns, types, peers)


def _netns(req: Request) -> str:
    path = req.netns
    if not path.startswith("/"):
        raise CniError(spec.INVALID_ENV, f"CNI_NETNS {path!r} is not an absolute path to a network namespace")
    if not os.path.exists(path):
        raise CniError(spec.INVALID_ENV, f"CNI_NETNS {path} does not exist")
    return path


def _ipam(req: Request, conf: BridgeConf, prog: str) -> IpamConf | None:
    """In-process IPAM when ipam.type names this plugin; None means delegate."""
    return IpamConf.parse(conf.ipam) if conf.ipam_type == prog else None


def random_mac() -> str:
    """A locally administered unicast MAC (known before creation, so the result needs no dump)."""
    b = bytearray(secrets.token_bytes(6))
    b[0] = (b[0] & 0xFC) | 0x02
    return ":".join(f"{x:02x}" for x in b)


def add(req: Request, prog: str) -> dict[str, Any]:
    conf = BridgeConf.parse(req.config)
    ipam = _ipam(req, conf, prog)
    netns = _netns(req)
    mac = requested_mac(req) or random_mac()
    ports = port_mappings(req)
    which = masq.backend(conf.masq_backend, ports) if (conf.ip_masq or ports) else None
    kernel = Kernel(req)
    try:
        if kernel.link(netns, req.ifname) is not None:
            raise CniError(spec.CONFLICT, f"interface {req.ifname} already exists in {netns}",
                           "ADD of an attachment that exists: DEL it first")
        if ipam is not None:
            ipam_result, leases = ipam_ops.add(req, ipam)
            undo_ipam = lambda: ipam_ops.undo(req, ipam, leases)  # noqa: E731
        else:
            ipam_result = invoke.delegate(conf.ipam_type, "ADD", req.env, req.stdin, req.cni_path) or {}
            undo_ipam = lambda: invoke.delegate(conf.ipam_type, "DEL", req.env, req.stdin, req.cni_path)  # noqa: E731
        try:
            ips = ipam_result.get("ips") or []
            if not ips:
                raise CniError(spec.INVALID_CONFIG, f"IPAM plugin {conf.ipam_type} returned no IP addresses")
            bridge_mac = _bridge(kernel, conf, ips)
            host, host_mac = _attach(kernel, req, conf, netns, mac, ips, ipam_result.get("routes") or [])
            if which is not None:
                try:
                    masq.setup(which, req.name, req.container_id, req.ifname, [ip["address"] for ip in ips],
                               conf.ip_masq, ports)
                except BaseException:
                    try:
                        masq.teardown(which, req.name, req.container_id, req.ifname)
                    except Exception as exc:  # keep the first error; the veth still goes
                        log.warning("rollback: removing the masquerade rules failed: %s", exc)
                    finally:
                        kernel.ex.remove(Link(netns, req.ifname, "veth"), force=True)
                    raise
        except BaseException:
            try:
                undo_ipam()
            except Exception as exc:  # keep the first error; say what could not be undone
                log.warning("rollback: releasing the addresses failed: %s", exc)
            raise
    finally:
        kernel.close()
    pod_itf: dict[str, Any] = {"name": req.ifname, "mac": mac, "sandbox": netns}
    if conf.mtu:
        pod_itf["mtu"] = conf.mtu
    return {
        "interfaces": [{"name": conf.bridge, "mac": bridge_mac}, {"name": host, "mac": host_mac}, pod_itf],
        "ips": [{"address": ip["address"], **({"gateway": ip["gateway"]} if ip.get("gateway") else {}), "interface": 2}
                for ip in ips],
        "routes": _result_routes(conf, ips, ipam_result.get("routes") or []),
        "dns": ipam_result.get("dns") or {},
    }


def _create_shared(kernel: Kernel, res: Any) -> None:
    """Create a shared object (bridge, gateway address) seen absent a moment ago; a
    parallel ADD may create it at the same moment, and then its EEXIST is success."""
    try:
        kernel.ex.apply(Op(CREATE, res))
    except Conflict:
        if kernel.ex.observe_one(res).get(res.key) is None:
            raise


def _bridge(kernel: Kernel, conf: BridgeConf, ips: list[dict[str, Any]]) -> str | None:
    """The bridge and what hangs off it; not part of the rollback (other pods use it).
    Returns the bridge's MAC (set at creation, so that it does not follow its ports)."""
    snap = kernel.snapshot(None, frozenset({"link", "address"}), peers=False)  # one bridge: no peer lookups
    current = snap.get(("link", None, conf.bridge))
    if isinstance(current, Link) and current.kind != "bridge":
        raise CniError(spec.CONFLICT, f"{conf.bridge} exists and is a {current.kind}, not a bridge")
    if current is None:
        current = Link(None, conf.bridge, "bridge", mtu=conf.mtu, mac=random_mac(), up=True)
        _create_shared(kernel, current)
    elif not current.up:
        kernel.ex.set_link(None, conf.bridge, up=True)
    if conf.vlan_uplink is not None:
        sub = f"{conf.vlan_uplink}.{conf.vlan}"
        if len(sub.encode()) > validate.IFNAMSIZ:
            sub = f"vlan{conf.vlan}"
        if snap.get(("link", None, sub)) is None:
            _create_shared(kernel, Link(None, sub, "vlan", parent=conf.vlan_uplink, parent_netns=None,
                                        vlan_id=conf.vlan, master=conf.bridge, mtu=conf.mtu, up=True))
    if not conf.is_gateway:
        return current.mac  # type: ignore[union-attr]
    have = [a for a in snap.of_type("address") if a.link == conf.bridge]  # type: ignore[union-attr]
    for ip in ips:
        if not ip.get("gateway"):
            continue
        net = ipaddress.ip_interface(ip["address"]).network
        gw = f"{ip['gateway']}/{net.prefixlen}"
        if any(str(ipaddress.ip_interface(a.cidr)) == gw for a in have):  # type: ignore[union-attr]
            continue
        for other in have:
            theirs = ipaddress.ip_interface(other.cidr)  # type: ignore[union-attr]
            if theirs.version == net.version and theirs.network == net:
                if not conf.force_address:
                    raise CniError(spec.CONFLICT, f"{conf.bridge} already has address {theirs} in {net}, "
                                   f"the gateway should be {gw}", 'set "forceAddress": true to replace it')
                kernel.ex.remove(other, force=True)
        _create_shared(kernel, Address(None, conf.bridge, gw))
        _forwarding(kernel, net.version)
    return current.mac  # type: ignore[union-attr]


def _forwarding(kernel: Kernel, version: int) -> None:
    from kubenetctl.netlink import nsfs

    key = "net.ipv4.ip_forward" if version == 4 else "net/ipv6/conf/all/forwarding"
    if nsfs.read_sysctl(None, key) != "1":
        kernel.ex.apply(Op(UPDATE, Sysctl(None, key, "1")))


def _attach(kernel: Kernel, req: Request, conf: BridgeConf, netns: str, mac: str,
            ips: list[dict[str, Any]], ipam_routes: list[dict[str, Any]]) -> tuple[str, str]:
    """The veth and the pod's addresses and routes, all or nothing; (host end, its MAC).

    Everything here is new (the pod's interface was checked absent, the host end's name
    is random), so operations are applied without observing first; the transaction still
    records each one and undoes them on failure."""
    with kernel.ex.transaction():
        host, host_mac = "", random_mac()
        for attempt in range(VETH_TRIES):
            host = "veth" + secrets.token_hex(4)
            pod = Link(netns, req.ifname, "veth", mtu=conf.mtu, mac=mac, up=True, peer=host, peer_netns=None)
            peer = Link(None, host, "veth", mtu=conf.mtu, mac=host_mac, up=True, master=conf.bridge,
                        peer=req.ifname, peer_netns=netns)
            try:
                kernel.ex.apply(Op(CREATE, pod, peer=peer))
                break
            except Conflict:  # the random host name exists (or the pod's interface appeared meanwhile)
                if attempt == VETH_TRIES - 1 or kernel.link(netns, req.ifname) is not None:
                    raise
        if conf.hairpin:
            _write_sysfs(f"/sys/class/net/{host}/brport/hairpin_mode", "1")
        if any(ipaddress.ip_interface(ip["address"]).version == 6 for ip in ips):
            kernel.ex.apply(Op(CREATE, Sysctl(netns, f"net/ipv6/conf/{req.ifname}/accept_dad", "0")))
        for ip in ips:
            kernel.ex.apply(Op(CREATE, Address(netns, req.ifname, str(ipaddress.ip_interface(ip["address"])))))
        for route in _result_routes(conf, ips, ipam_routes):
            kernel.ex.apply(Op(CREATE, Route(netns, route["dst"], via=route.get("gw"), dev=req.ifname)))
    return host, host_mac


def _result_routes(conf: BridgeConf, ips: list[dict[str, Any]], ipam_routes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """IPAM's routes with the gateway filled in per family; the default route when isDefaultGateway."""
    gateways = {}
    for ip in ips:
        if ip.get("gateway"):
            gateways.setdefault(ipaddress.ip_interface(ip["address"]).version, ip["gateway"])
    out: list[dict[str, Any]] = []
    for r in ipam_routes:
        dst = ipaddress.ip_network(r["dst"], strict=False)
        gw = r.get("gw") or gateways.get(dst.version)
        out.append({"dst": str(dst), **({"gw": gw} if gw else {})})
    if conf.is_default_gateway:
        for version, gw in sorted(gateways.items()):
            default = "0.0.0.0/0" if version == 4 else "::/0"
            if not any(r["dst"] == default for r in out):
                out.append({"dst": default, "gw": gw})
    return out


def _write_sysfs(path: str, value: str) -> None:
    try:
        with open(path, "w") as fh:
            fh.write(value)
    except OSError as exc:
        raise CniError(spec.KERNEL_FAILURE, f"cannot write {path}: {exc.strerror}") from None


def delete(req: Request, prog: str) -> None:
    conf = BridgeConf.parse(req.config)
    ipam = _ipam(req, conf, prog)
    first: CniError | None = None  # the IPAM's failure; the link and NAT rules still go
    try:
        if ipam is not None:
            ipam_ops.delete(req, ipam)
        else:
            invoke.delegate(conf.ipam_type, "DEL", req.env, req.stdin, req.cni_path)
    except (CniError, KubenetError) as exc:
        from kubenetctl.cni.plugin import to_cni_error

        first = to_cni_error(exc)
    if req.netns and os.path.exists(req.netns):
        kernel = Kernel(req)
        try:
            current = kernel.link(req.netns, req.ifname)
            if current is not None and current.kind == "veth":  # its host end goes with it
                kernel.ex.apply(Op(DELETE, current, before=current))
            elif current is not None:
                log.warning("DEL: %s in %s is a %s, not this plugin's veth: left alone", req.ifname, req.netns, current.kind)
        finally:
            kernel.close()
    if conf.ip_masq or req.runtime_config.get("portMappings"):
        masq.teardown(conf.masq_backend, req.name, req.container_id, req.ifname)
    if first is not None:
        raise first


def check(req: Request, prog: str, prev: dict[str, Any]) -> None:
    conf = BridgeConf.parse(req.config)
    ipam = _ipam(req, conf, prog)
    netns = _netns(req)
    interfaces = prev.get("interfaces") or []
    idx = next((i for i, itf in enumerate(interfaces)
                if itf.get("name") == req.ifname and itf.get("sandbox") == netns), None)
    if idx is None:
        raise CniError(spec.CHECK_MISMATCH, f"prevResult has no interface {req.ifname} in sandbox {netns}")
    want = interfaces[idx]
    prev_ips = [ip["address"] for ip in prev.get("ips") or [] if ip.get("interface", idx) == idx]
    kernel = Kernel(req)
    try:
        snap = kernel.snapshot(netns, frozenset({"link", "address", "route"}))
        link = snap.get(("link", netns, req.ifname))
        if not isinstance(link, Link):
            raise CniError(spec.CHECK_MISMATCH, f"interface {req.ifname} does not exist in {netns}")
        if link.kind != "veth":
            raise CniError(spec.CHECK_MISMATCH, f"{req.ifname} in {netns} is a {link.kind}, not a veth")
        if want.get("mac") and link.mac != want["mac"].lower():
            raise CniError(spec.CHECK_MISMATCH, f"{req.ifname} has MAC {link.mac}, prevResult says {want['mac']}")
        have = {a.cidr for a in snap.of_type("address") if a.link == req.ifname}  # type: ignore[union-attr]
        for cidr in prev_ips:
            if str(ipaddress.ip_interface(cidr)) not in have:
                raise CniError(spec.CHECK_MISMATCH, f"{req.ifname} in {netns} lacks address {cidr}",
                               f"it has: {', '.join(sorted(have)) or 'none'}")
        routes = {(r.dst, r.via) for r in snap.of_type("route")}  # type: ignore[union-attr]
        for r in prev.get("routes") or []:
            dst = str(ipaddress.ip_network(r["dst"], strict=False))
            if (dst, r.get("gw")) not in routes and not (r.get("gw") is None and any(d == dst for d, _ in routes)):
                raise CniError(spec.CHECK_MISMATCH, f"route {dst}{' via ' + r['gw'] if r.get('gw') else ''} "
                               f"is missing in {netns}")
        host = kernel.link(None, link.peer) if link.peer else None
        if host is None or host.master != conf.bridge:
            raise CniError(spec.CHECK_MISMATCH, f"the host end of {req.ifname} is not a port of bridge {conf.bridge}")
    finally:
        kernel.close()
    if ipam is not None:
        ipam_ops.check(req, ipam, prev_ips)
    else:
        invoke.delegate(conf.ipam_type, "CHECK", req.env, req.stdin, req.cni_path)


def gc(req: Request, prog: str) -> None:
    conf = BridgeConf.parse(req.config)
    valid = ipam_ops.valid_attachments(req)
    ipam = _ipam(req, conf, prog)
    if ipam is not None:
        ipam_ops.gc(req, ipam, valid)
    elif req.cni_path:
        invoke.delegate(conf.ipam_type, "GC", req.env, req.stdin, req.cni_path)
    for cid, ifname in masq.attachments(req.name):
        if (cid, ifname) not in valid:
            masq.teardown(None, req.name, cid, ifname)


def status(req: Request, prog: str) -> None:
    conf = BridgeConf.parse(req.config)
    ipam = _ipam(req, conf, prog)
    if ipam is not None:
        ipam_ops.status(req, ipam)
    elif req.cni_path:
        invoke.delegate(conf.ipam_type, "STATUS", req.env, req.stdin, req.cni_path)
    if conf.ip_masq:
        masq.backend(conf.masq_backend)
