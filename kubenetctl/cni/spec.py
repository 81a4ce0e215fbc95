"""The CNI specification's data: versions, error codes, results in every version, and
checks that say plainly what is wrong with what a plugin returned. Pure, stdlib only
(the plugin imports this on every call: no typer, rich or pyroute2 here).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kubenetctl.validate import is_ip

SPEC_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

# error codes of the spec (1-99 reserved by it, 100+ plugin specific)
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENV = 4
IO_FAILURE = 5
DECODE_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
NOT_AVAILABLE_DAMAGED = 51
# kubenetctl's own codes (documented in docs/cni.md)
KERNEL_FAILURE = 100
CHECK_MISMATCH = 101
NO_ADDRESSES = 102
CONFLICT = 103
PERMISSION = 104
PLUGIN_FAILED = 105  # a delegated (IPAM) plugin failed without a usable error
INTERNAL = 999

CODE_NAMES = {
    INCOMPATIBLE_VERSION: "incompatible CNI version",
    UNSUPPORTED_FIELD: "unsupported field in network configuration",
    UNKNOWN_CONTAINER: "container unknown or does not exist",
    INVALID_ENV: "invalid necessary environment variables",
    IO_FAILURE: "I/O failure",
    DECODE_FAILURE: "failed to decode content",
    INVALID_CONFIG: "invalid network config",
    TRY_AGAIN_LATER: "try again later",
    NOT_AVAILABLE: "plugin not available",
    NOT_AVAILABLE_DAMAGED: "plugin not available, existing containers may be damaged",
}

COMMANDS = ("ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC")
# the first version that knows a command
COMMAND_SINCE = {"CHECK": "0.4.0", "STATUS": "1.1.0", "GC": "1.1.0"}

# libcni's rule for network names and container ids
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


class CniError(Exception):
    """An error a plugin reports: {"cniVersion", "code", "msg", "details"} on stdout, exit 1."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_dict(self, cni_version: str) -> dict[str, Any]:
        out: dict[str, Any] = {"cniVersion": cni_version, "code": self.code, "msg": self.msg}
        if self.details:
            out["details"] = self.details
        return out


def vtuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in version.split("."))
    except (AttributeError, ValueError):
        return (0,)


def allows(version: str, command: str) -> bool:
    since = COMMAND_SINCE.get(command)
    return since is None or vtuple(version) >= vtuple(since)


def code_label(code: Any) -> str:
    if isinstance(code, int) and code in CODE_NAMES:
        return CODE_NAMES[code]
    if isinstance(code, int) and code >= 100:
        return "plugin-specific error"
    return "unknown error code"


# -- results: one internal shape (1.x), encoded for any version --------------------------------
def encode_result(result: dict[str, Any], version: str) -> dict[str, Any]:
    """The result in the shape of `version` (1.x, 0.3.x/0.4.0, or 0.1.0/0.2.0)."""
    v = vtuple(version)
    if v >= (0, 3, 0):
        out: dict[str, Any] = {"cniVersion": version}
        if result.get("interfaces"):
            out["interfaces"] = result["interfaces"]
        ips = []
        for ip in result.get("ips", []):
            entry = dict(ip)
            entry.pop("version", None)
            if v < (1, 0, 0):
                entry = {"version": str(ipaddress.ip_interface(ip["address"]).version), **entry}
            ips.append(entry)
        if ips:
            out["ips"] = ips
        if result.get("routes"):
            out["routes"] = result["routes"]
        out["dns"] = result.get("dns") or {}
        return out
    out = {"cniVersion": version}
    for family, key in ((4, "ip4"), (6, "ip6")):
        ip = next((i for i in result.get("ips", []) if ipaddress.ip_interface(i["address"]).version == family), None)
        if ip is None:
            continue
        entry: dict[str, Any] = {"ip": ip["address"]}
        if ip.get("gateway"):
            entry["gateway"] = ip["gateway"]
        routes = [r for r in result.get("routes", []) if ipaddress.ip_network(r["dst"], strict=False).version == family]
        if routes:
            entry["routes"] = routes
        out[key] = entry
    if result.get("dns"):
        out["dns"] = result["dns"]
    return out


def decode_result(data: dict[str, Any]) -> dict[str, Any]:
    """Any version's result in the internal 1.x shape (for prevResult and the driver)."""
    if "ip4" in data or "ip6" in data or vtuple(str(data.get("cniVersion", ""))) < (0, 3, 0):
        ips, routes = [], []
        for key in ("ip4", "ip6"):
            entry = data.get(key)
            if isinstance(entry, dict) and entry.get("ip"):
                ips.append({k: v for k, v in (("address", entry["ip"]), ("gateway", entry.get("gateway"))) if v})
                routes.extend(entry.get("routes") or [])
        return {"cniVersion": data.get("cniVersion"), "ips": ips, "routes": routes, "dns": data.get("dns") or {}}
    out = {k: v for k, v in data.items() if k in ("cniVersion", "interfaces", "ips", "routes", "dns")}
    out["ips"] = [{k: v for k, v in ip.items() if k != "version"} for ip in data.get("ips") or [] if isinstance(ip, dict)]
    return out


# -- checking what a plugin returned ----------------------------------------------------------
def _cidr_problem(value: Any, field: str, interface_form: bool) -> str | None:
    if not isinstance(value, str) or "/" not in value:
        return f"{field} {value!r} is not an address with a prefix length (like 10.1.0.5/24)"
    try:
        if interface_form:
            ipaddress.ip_interface(value)
        else:
            ipaddress.ip_network(value, strict=False)
    except ValueError:
        return f"{field} {value!r} is not a valid CIDR"
    return None


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(x, str) for x in value)


def _dns_problems(dns: Any, field: str) -> list[str]:
    if dns is None:
        return []
    if not isinstance(dns, dict):
        return [f"{field} must be an object"]
    out = []
    for key in ("nameservers", "search", "options"):
        if key in dns and not _str_list(dns[key]):
            out.append(f"{field}.{key} must be a list of strings")
    if "domain" in dns and not isinstance(dns["domain"], str):
        out.append(f"{field}.domain must be a string")
    for i, ns in enumerate(dns.get("nameservers") or []):
        if isinstance(ns, str) and not is_ip(ns):
            out.append(f"{field}.nameservers[{i}] {ns!r} is not an IP address")
    return out


def _addr_gw_problems(obj: dict[str, Any], where: str, addr: str, gw: str, interface_form: bool) -> list[str]:
    """The address-and-gateway pair every result entry has (ips[], routes[], ip4/ip6)."""
    out = []
    if addr not in obj:
        out.append(f"{where}.{addr} is missing")
    else:
        p = _cidr_problem(obj[addr], f"{where}.{addr}", interface_form)
        if p:
            out.append(p)
    if obj.get(gw) is not None and not is_ip(obj[gw]):
        out.append(f"{where}.{gw} {obj[gw]!r} is not an IP address")
    return out


def _routes_problems(routes: Any, field: str) -> list[str]:
    if routes is None:
        return []
    if not isinstance(routes, list):
        return [f"{field} must be a list"]
    out = []
    for i, r in enumerate(routes):
        where = f"{field}[{i}]"
        if not isinstance(r, dict):
            out.append(f"{where} must be an object")
            continue
        out += _addr_gw_problems(r, where, "dst", "gw", False)
        for key in ("mtu", "advmss", "priority", "table"):
            if key in r and (not isinstance(r[key], int) or isinstance(r[key], bool) or r[key] < 0):
                out.append(f"{where}.{key} must be a non-negative integer")
        if "scope" in r and not isinstance(r["scope"], int):
            out.append(f"{where}.scope must be an integer")
    return out


def result_problems(data: Any, expected_version: str) -> list[str]:
    """Everything that makes `data` an invalid result for `expected_version` (empty: valid)."""
    if not isinstance(data, dict):
        return [f"the result is a JSON {type(data).__name__}, not an object"]
    out = []
    got = data.get("cniVersion")
    if got is None:
        out.append("cniVersion is missing")
    elif got != expected_version:
        out.append(f"cniVersion is {got!r} but the configuration asked for {expected_version!r}")
    v = vtuple(str(got or expected_version))
    if v < (0, 3, 0):
        for key in ("ip4", "ip6"):
            entry = data.get(key)
            if entry is None:
                continue
            if not isinstance(entry, dict):
                out.append(f"{key} must be an object with 'ip'")
                continue
            out += _addr_gw_problems(entry, key, "ip", "gateway", True)
            out += _routes_problems(entry.get("routes"), f"{key}.routes")
        return out + _dns_problems(data.get("dns"), "dns")
    interfaces = data.get("interfaces")
    n_if = 0
    if interfaces is not None:
        if not isinstance(interfaces, list):
            out.append("interfaces must be a list")
        else:
            n_if = len(interfaces)
            for i, itf in enumerate(interfaces):
                where = f"interfaces[{i}]"
                if not isinstance(itf, dict):
                    out.append(f"{where} must be an object")
                    continue
                if not isinstance(itf.get("name"), str) or not itf.get("name"):
                    out.append(f"{where}.name is missing or empty")
                if itf.get("mac") not in (None, "") and not (isinstance(itf["mac"], str) and MAC_RE.match(itf["mac"])):
                    # InfiniBand and other link types have longer hardware addresses
                    if not (isinstance(itf["mac"], str) and re.match(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2})+$", itf["mac"])):
                        out.append(f"{where}.mac {itf['mac']!r} is not a hardware address")
                if "sandbox" in itf and not isinstance(itf["sandbox"], str):
                    out.append(f"{where}.sandbox must be a string (the netns path)")
                if "mtu" in itf and (not isinstance(itf["mtu"], int) or itf["mtu"] < 0):
                    out.append(f"{where}.mtu must be a non-negative integer")
    ips = data.get("ips")
    if ips is not None:
        if not isinstance(ips, list):
            out.append("ips must be a list")
            ips = []
        for i, ip in enumerate(ips):
            where = f"ips[{i}]"
            if not isinstance(ip, dict):
                out.append(f"{where} must be an object")
                continue
            out += _addr_gw_problems(ip, where, "address", "gateway", True)
            if "interface" in ip:
                idx = ip["interface"]
                if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
                    out.append(f"{where}.interface must be a non-negative integer index into interfaces")
                elif idx >= n_if:
                    out.append(f"{where}.interface is {idx} but the result has {n_if} interface(s)")
            if v < (1, 0, 0):
                if ip.get("version") not in ("4", "6"):
                    out.append(f"{where}.version must be \"4\" or \"6\" in CNI {got}")
                elif "address" in ip and _cidr_problem(ip["address"], "", True) is None and \
                        str(ipaddress.ip_interface(ip["address"]).version) != ip["version"]:
                    out.append(f"{where}.version is {ip['version']} but the address is IPv{ipaddress.ip_interface(ip['address']).version}")
            elif "version" in ip:
                out.append(f"{where}.version is not part of CNI {got} results (it was removed in 1.0.0)")
    out += _routes_problems(data.get("routes"), "routes")
    out += _dns_problems(data.get("dns"), "dns")
    return out


def error_problems(data: Any) -> list[str]:
    """What is wrong with an error object a plugin printed (empty: valid)."""
    if not isinstance(data, dict):
        return [f"the error is a JSON {type(data).__name__}, not an object"]
    out = []
    code = data.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        out.append(f"code {code!r} is not an integer")
    elif code < 100 and code not in CODE_NAMES:
        out.append(f"code {code} is not defined by the spec (1-7, 11, 50, 51 are; 100 and up are plugin specific)")
    if not isinstance(data.get("msg"), str) or not data.get("msg"):
        out.append("msg is missing or empty")
    if "details" in data and not isinstance(data["details"], str):
        out.append("details must be a string")
    return out
