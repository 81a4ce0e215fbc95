"""Is the container an allocation was made for still there?

The store holds only the container id and the interface name, so kubenetctl decides with
two pieces of evidence, in this order:
1. the runtime's result cache (libcni layout, <cacheDir>/results/<network>-<id>-<ifname>)
   records the attachment's netns path: alive when that path still exists;
2. otherwise, some network namespace on this machine (in /run/netns or held by a running
   process) carries the allocated address on an interface of that name: alive.
Neither: gone (after a reboot every allocation is gone: /run/netns and the processes
are new). gather() collects the evidence (kernel and files); decide() is pure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from kubenetctl.ipam.store import CNI_STATE_DIR, Allocation


@dataclass(frozen=True)
class Verdict:
    alive: bool
    netns: str | None
    why: str


@dataclass
class Evidence:
    cached_netns: dict[tuple[str, str, str], str]  # (network, container id, ifname) -> netns path
    addresses: dict[tuple[str, str], str]  # (ip, ifname) -> netns path
    netns_exists: dict[str, bool]


def decide(network: str, alloc: Allocation, ev: Evidence) -> Verdict:
    ifname = alloc.ifname or "eth0"
    cached = ev.cached_netns.get((network, alloc.container_id, ifname))
    if cached:
        if ev.netns_exists.get(cached, False):
            return Verdict(True, cached, f"result cache: netns {cached} exists")
        return Verdict(False, cached, f"result cache: netns {cached} is gone")
    holder = ev.addresses.get((alloc.ip, ifname))
    if holder is not None:
        return Verdict(True, holder, f"{alloc.ip} is on {ifname} in {holder}")
    return Verdict(False, None, f"no network namespace has {alloc.ip} on {ifname}")


def gather(cache_dir: str | None, need_kernel: bool = True) -> Evidence:
    cached: dict[tuple[str, str, str], str] = {}
    d = os.path.join(cache_dir or CNI_STATE_DIR, "results")
    try:
        names = os.listdir(d)
    except OSError:
        names = []
    for n in names:
        try:
            with open(os.path.join(d, n)) as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("netns"):
            cached[(str(data.get("networkName")), str(data.get("containerId")), str(data.get("ifName")))] = data["netns"]
    addresses: dict[tuple[str, str], str] = {}
    if need_kernel:
        from kubenetctl.netlink.addrs import interface_addresses

        addresses = interface_addresses()
    return Evidence(cached, addresses, {p: os.path.exists(p) for p in set(cached.values())})

