"""The high level of a recipe with its defaults filled in and replicas expanded (pure).

Shared by the whole-file checks (check.py) and the compiler (compile.py), so both see
the same pods, the same network kinds and the same MTUs. Tolerates a partial recipe
(invalid items are None and are skipped).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional, TypeVar

from kubenetctl.overlay import overlay_mtu
from kubenetctl.recipe.load import Path
from kubenetctl.recipe.model import Attachment, Network, Node, Pod, Recipe

UNDERLAY = "underlay"  # reserved: the namespace that joins simulated nodes
DEFAULT_NODE_PREFIX = 24
T = TypeVar("T")


def items(values: list[Optional[T]], section: str) -> Iterator[tuple[int, Path, T]]:
    for i, value in enumerate(values):
        if value is not None:
            yield i, ("spec", section, i), value


@dataclass
class NodeInfo:
    name: str
    index: int
    path: Path
    spec: Node
    underlay_ip: Optional[str]


@dataclass
class NetInfo:
    name: str
    path: Path
    spec: Network
    cidr: ipaddress.IPv4Network | ipaddress.IPv6Network
    l2: bool  # one segment across nodes (flood overlay or VLAN): pods use the whole cidr's prefix
    mtu: int
    gateway: bool
    prefix: int  # of each node's slice


@dataclass
class PodInfo:
    name: str
    node: Optional[str]
    path: Path
    template: str
    attachments: list[Attachment]


@dataclass
class Topology:
    recipe: Recipe
    lab: str
    underlay: ipaddress.IPv4Network | ipaddress.IPv6Network
    nodes: dict[str, NodeInfo] = field(default_factory=dict)
    networks: dict[str, NetInfo] = field(default_factory=dict)
    pods: list[PodInfo] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=dict)  # replica set name -> pod names

    def netns(self, name: str) -> str:
        return f"{self.lab}-{name}"


def underlay_address(underlay: Any, index: int) -> Optional[str]:
    address = underlay.network_address + index + 2
    return str(address) if address < underlay.broadcast_address else None


def build(recipe: Recipe) -> Topology:
    spec = recipe.spec
    underlay = ipaddress.ip_network(spec.underlay.cidr)
    topo = Topology(recipe, recipe.metadata.name, underlay)
    for i, path, node in items(spec.nodes, "nodes"):
        if node.name not in topo.nodes:
            topo.nodes[node.name] = NodeInfo(node.name, i, path, node, node.underlayIP or underlay_address(underlay, i))
    for _, path, net in items(spec.networks, "networks"):
        if net.name in topo.networks:
            continue
        cidr = ipaddress.ip_network(net.cidr)
        l2 = net.vlan is not None or (net.overlay is not None and net.overlay.mode == "flood")
        mtu = net.mtu or (overlay_mtu(spec.underlay.mtu) if net.overlay else spec.underlay.mtu)
        prefix = net.nodePrefix or max(DEFAULT_NODE_PREFIX, cidr.prefixlen)
        gateway = (not l2) if net.gateway is None else net.gateway
        topo.networks[net.name] = NetInfo(net.name, path, net, cidr, l2, mtu, gateway, prefix)
    for _, path, pod in items(spec.pods, "pods"):
        names = [pod.name] if pod.replicas is None else [f"{pod.name}-{k}" for k in range(pod.replicas)]
        topo.groups.setdefault(pod.name, []).extend(names)
        for k, name in enumerate(names):
            node = pod_node(pod, k)
            topo.pods.append(PodInfo(name, node, path, pod.name, list(pod.networks)))
    return topo


def pod_node(pod: Pod, k: int) -> Optional[str]:
    if pod.nodes:
        return pod.nodes[k % len(pod.nodes)]
    return pod.node
