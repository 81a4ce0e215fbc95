"""The network configuration kubenetctl's plugin understands, checked field by field.

Bridge fields follow the reference bridge plugin (bridge, isGateway, isDefaultGateway,
forceAddress, ipMasq, mtu, hairpinMode, vlan); kubenetctl adds ipMasqBackend and
vlanUplink. The ipam section follows host-local (ranges, routes, dataDir, dns,
resolvConf). Requests for a specific IP or MAC come from CNI_ARGS, runtimeConfig or
args.cni; port mappings from runtimeConfig.portMappings in either key spelling.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Callable

from kubenetctl import validate
from kubenetctl.cni import spec
from kubenetctl.cni.request import Request
from kubenetctl.cni.spec import CniError
from kubenetctl.errors import InvalidInput
from kubenetctl.ipam.ranges import IP, RangeSet, parse_ipam_ranges

MASQ_BACKENDS = ("nftables", "iptables")


def bad(msg: str, details: str = "") -> CniError:
    return CniError(spec.INVALID_CONFIG, msg, details)


def _bool(conf: dict[str, Any], key: str, default: bool = False) -> bool:
    value = conf.get(key, default)
    if not isinstance(value, bool):
        raise bad(f"{key}: expected true or false, got {value!r}")
    return value


def _optional(conf: dict[str, Any], key: str, check: Callable[[Any, str], Any], default: Any = None) -> Any:
    """conf[key] checked by a validate.* function (its InvalidInput is CNI code 7), or None."""
    value = conf.get(key, default)
    return None if value is None else check(value, key)


@dataclass
class IpamConf:
    range_sets: list[RangeSet]
    routes: list[dict[str, Any]]
    data_dir: str | None
    dns: dict[str, Any]

    @classmethod
    def parse(cls, ipam: Any) -> "IpamConf":
        if not isinstance(ipam, dict):
            raise bad("ipam: missing or not an object", 'add "ipam": {"type": "...", "ranges": [[{"subnet": "..."}]]}')
        try:
            range_sets = parse_ipam_ranges(ipam)
        except InvalidInput as exc:
            raise bad(str(exc), exc.hint or "") from None
        routes = ipam.get("routes") or []
        if not isinstance(routes, list):
            raise bad("ipam.routes: expected a list of {dst, gw}")
        clean = []
        for i, r in enumerate(routes):
            if not isinstance(r, dict) or "dst" not in r:
                raise bad(f"ipam.routes[{i}]: expected an object with 'dst'")
            try:
                dst = ipaddress.ip_network(r["dst"], strict=False)
                gw = ipaddress.ip_address(r["gw"]) if r.get("gw") else None
            except (ValueError, TypeError):
                raise bad(f"ipam.routes[{i}]: {r!r} has an invalid dst or gw") from None
            if gw is not None and gw.version != dst.version:
                raise bad(f"ipam.routes[{i}]: gw {gw} and dst {dst} are of different IP versions")
            clean.append({"dst": str(dst), **({"gw": str(gw)} if gw else {})})
        data_dir = ipam.get("dataDir")
        if data_dir is not None and (not isinstance(data_dir, str) or not data_dir.startswith("/")):
            raise bad(f"ipam.dataDir: {data_dir!r} must be an absolute path")
        dns = ipam.get("dns") or {}
        if not isinstance(dns, dict):
            raise bad("ipam.dns: expected an object")
        if ipam.get("resolvConf"):
            dns = {**parse_resolv_conf(ipam["resolvConf"]), **dns}
        problems = spec.result_problems({"cniVersion": "1.0.0", "dns": dns}, "1.0.0")
        if problems:
            raise bad(f"ipam.dns: {problems[0]}")
        return cls(range_sets, clean, data_dir, dns)


def parse_resolv_conf(path: Any) -> dict[str, Any]:
    if not isinstance(path, str):
        raise bad("ipam.resolvConf: expected a file path")
    try:
        with open(path) as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise CniError(spec.IO_FAILURE, f"ipam.resolvConf: cannot read {path}: {exc.strerror}") from None
    dns: dict[str, Any] = {}
    for line in lines:
        parts = line.split("#", 1)[0].split()
        if len(parts) < 2:
            continue
        key, values = parts[0], parts[1:]
        if key == "nameserver":
            dns.setdefault("nameservers", []).append(values[0])
        elif key == "domain":
            dns["domain"] = values[0]
        elif key == "search":
            dns["search"] = values
        elif key == "options":
            dns.setdefault("options", []).extend(values)
    return dns


@dataclass(frozen=True)
class PortMapping:
    host_port: int
    container_port: int
    protocol: str
    host_ip: str | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"hostPort": self.host_port, "containerPort": self.container_port, "protocol": self.protocol}
        if self.host_ip:
            out["hostIP"] = self.host_ip
        return out


def port_mappings(req: Request) -> list[PortMapping]:
    """runtimeConfig.portMappings; keys in either spelling (hostPort or HostPort)."""
    raw = req.runtime_config.get("portMappings") or []
    if not isinstance(raw, list):
        raise bad("runtimeConfig.portMappings: expected a list")
    out = []
    for i, pm in enumerate(raw):
        if not isinstance(pm, dict):
            raise bad(f"runtimeConfig.portMappings[{i}]: expected an object")
        norm = {k[:1].lower() + k[1:]: v for k, v in pm.items()}
        if norm.get("hostIp") is not None and "hostIP" not in norm:
            norm["hostIP"] = norm["hostIp"]
        hp, cp = norm.get("hostPort"), norm.get("containerPort")
        for key, value in (("hostPort", hp), ("containerPort", cp)):
            try:
                validate.port(value, key)
            except InvalidInput:
                raise bad(f"runtimeConfig.portMappings[{i}].{key}: {value!r} is not a port (1..65535)") from None
        proto = str(norm.get("protocol") or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise bad(f"runtimeConfig.portMappings[{i}].protocol: {proto!r} is not tcp, udp or sctp")
        host_ip = norm.get("hostIP") or None
        if host_ip is not None:
            try:
                host_ip = str(ipaddress.ip_address(host_ip))
            except (ValueError, TypeError):
                raise bad(f"runtimeConfig.portMappings[{i}].hostIP: {host_ip!r} is not an IP address") from None
        out.append(PortMapping(hp, cp, proto, host_ip))
    return out


def requested_ips(req: Request) -> list[IP]:
    """IP requests: CNI_ARGS IP=a,b; runtimeConfig.ips; args.cni.ips (prefix lengths ignored)."""
    raw: list[Any] = []
    if req.args.get("IP"):
        raw += req.args["IP"].split(",")
    for source in (req.runtime_config.get("ips"), req.cni_args.get("ips")):
        if isinstance(source, list):
            raw += source
    out: list[IP] = []
    for value in raw:
        try:
            ip = ipaddress.ip_interface(str(value).strip()).ip
        except ValueError:
            raise CniError(spec.INVALID_ENV, f"requested IP {value!r} is not an IP address") from None
        if ip not in out:
            out.append(ip)
    return out


def requested_mac(req: Request) -> str | None:
    for value in (req.args.get("MAC"), req.runtime_config.get("mac"), req.cni_args.get("mac")):
        if value:
            if not isinstance(value, str) or not spec.MAC_RE.match(value) or int(value[:2], 16) & 1:
                raise CniError(spec.INVALID_ENV, f"requested MAC {value!r} is not a unicast MAC address")
            return value.lower()
    return None


@dataclass
class BridgeConf:
    bridge: str
    is_gateway: bool
    is_default_gateway: bool
    force_address: bool
    ip_masq: bool
    masq_backend: str | None
    mtu: int | None
    hairpin: bool
    vlan: int | None
    vlan_uplink: str | None
    ipam_type: str
    ipam: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, conf: dict[str, Any]) -> "BridgeConf":
        ipam = conf.get("ipam")
        if not isinstance(ipam, dict) or not isinstance(ipam.get("type"), str) or not ipam.get("type"):
            raise bad("ipam.type: missing", 'name the IPAM plugin, e.g. "ipam": {"type": "kubenetctl-cni", ...}')
        backend = conf.get("ipMasqBackend")
        if backend is not None and backend not in MASQ_BACKENDS:
            raise bad(f"ipMasqBackend: {backend!r} is not one of {', '.join(MASQ_BACKENDS)}")
        is_default = _bool(conf, "isDefaultGateway")
        vlan = _optional(conf, "vlan", validate.vlan_id)
        uplink = _optional(conf, "vlanUplink", validate.ifname)
        if vlan is not None and uplink is None:
            raise CniError(spec.UNSUPPORTED_FIELD, "vlan: tagging at the bridge port needs bridge VLAN filtering, "
                           "which kubenetctl does not program yet",
                           'give "vlanUplink": "<host NIC>" to carry the VLAN on a sub-interface <NIC>.<vlan>')
        if uplink is not None and vlan is None:
            raise bad("vlanUplink: needs \"vlan\" (the 802.1Q id)")
        return cls(
            bridge=_optional(conf, "bridge", validate.ifname, "cni0") or "cni0",
            is_gateway=_bool(conf, "isGateway") or is_default,
            is_default_gateway=is_default,
            force_address=_bool(conf, "forceAddress"),
            ip_masq=_bool(conf, "ipMasq"),
            masq_backend=backend,
            mtu=_optional(conf, "mtu", validate.mtu),
            hairpin=_bool(conf, "hairpinMode"),
            vlan=vlan,
            vlan_uplink=uplink,
            ipam_type=ipam["type"],
            ipam=ipam,
        )
