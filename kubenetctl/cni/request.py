"""One plugin invocation: the CNI_* environment and the JSON on stdin, checked as the spec
and libcni's skel check them. Pure: the environment and stdin are passed in.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from kubenetctl.cni import spec
from kubenetctl.validate import IFNAMSIZ
from kubenetctl.cni.spec import CniError

# environment each command needs (CNI_NETNS is optional on DEL: the runtime may have lost it)
REQUIRED_ENV = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"),
    "GC": (),
    "STATUS": (),
}


@dataclass
class Request:
    command: str
    config: dict[str, Any]
    version: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    cni_path: list[str] = field(default_factory=list)
    args: dict[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    stdin: bytes = b""

    @property
    def name(self) -> str:
        return self.config["name"]

    @property
    def runtime_config(self) -> dict[str, Any]:
        rc = self.config.get("runtimeConfig")
        return rc if isinstance(rc, dict) else {}

    @property
    def cni_args(self) -> dict[str, Any]:
        """The `args.cni` convention (IPs, MAC requested through the config)."""
        args = self.config.get("args")
        cni = args.get("cni") if isinstance(args, dict) else None
        return cni if isinstance(cni, dict) else {}


def check_container_id(value: str) -> str:
    if not value:
        raise CniError(spec.UNKNOWN_CONTAINER, "missing containerID")
    if not spec.NAME_RE.match(value):
        raise CniError(spec.INVALID_ENV, "invalid characters in containerID", value)
    return value


def check_ifname(value: str) -> str:
    if not value:
        raise CniError(spec.INVALID_ENV, "interface name is empty")
    if len(value.encode()) > IFNAMSIZ:
        raise CniError(spec.INVALID_ENV, "interface name is too long",
                       f"{value!r} is {len(value.encode())} bytes; Linux allows {IFNAMSIZ}")
    if value in (".", "..") or any(c in value for c in "/:") or any(c.isspace() for c in value):
        raise CniError(spec.INVALID_ENV, "interface name contains / or : or whitespace, or is . or ..", value)
    return value


def check_network_name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise CniError(spec.INVALID_CONFIG, "missing network name")
    if not spec.NAME_RE.match(value):
        raise CniError(spec.INVALID_CONFIG, "invalid characters found in network name", value)
    return value


def parse_cni_args(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CniError(spec.INVALID_ENV, f"CNI_ARGS: {pair!r} is not KEY=VALUE")
        out[key] = value
    return out


def decode_config(stdin: bytes) -> dict[str, Any]:
    try:
        data = json.loads(stdin or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CniError(spec.DECODE_FAILURE, f"error decoding the network configuration on stdin: {exc}") from None
    if not isinstance(data, dict):
        raise CniError(spec.DECODE_FAILURE, "the network configuration on stdin must be a JSON object")
    return data


def config_version(config: dict[str, Any]) -> str:
    version = config.get("cniVersion") or "0.1.0"  # absent means 0.1.0, as in libcni
    if not isinstance(version, str) or version not in spec.SUPPORTED_VERSIONS:
        raise CniError(spec.INCOMPATIBLE_VERSION, "incompatible CNI versions",
                       f"config is {version!r}, plugin supports {list(spec.SUPPORTED_VERSIONS)}")
    return version


def parse(env: Mapping[str, str], stdin: bytes) -> Request:
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise CniError(spec.INVALID_ENV, "required env variables [CNI_COMMAND] missing")
    if command not in spec.COMMANDS:
        raise CniError(spec.INVALID_ENV, f"unknown CNI_COMMAND {command!r}", f"expected one of {', '.join(spec.COMMANDS)}")
    if command == "VERSION":
        return Request(command, {}, spec.SPEC_VERSION, env=env, stdin=stdin)
    config = decode_config(stdin)
    version = config_version(config)
    if not spec.allows(version, command):
        raise CniError(spec.INCOMPATIBLE_VERSION, f"config version does not allow {command}",
                       f"{command} needs cniVersion {spec.COMMAND_SINCE[command]} or later, config is {version}")
    missing = [k for k in REQUIRED_ENV[command] if not env.get(k)]
    if missing:
        raise CniError(spec.INVALID_ENV, f"required env variables [{', '.join(missing)}] missing")
    check_network_name(config.get("name"))
    req = Request(command, config, version, env=env, stdin=stdin,
                  cni_path=[p for p in env.get("CNI_PATH", "").split(os.pathsep) if p],
                  args=parse_cni_args(env.get("CNI_ARGS", "")))
    if command in ("ADD", "CHECK", "DEL"):
        req.container_id = check_container_id(env.get("CNI_CONTAINERID", ""))
        req.ifname = check_ifname(env.get("CNI_IFNAME", ""))
        req.netns = env.get("CNI_NETNS", "")
    return req
