"""VXLAN overlay arithmetic and the flannel-style peer entries (pure)."""

from __future__ import annotations

import ipaddress

from kubenetctl.resources import Fdb, Neighbor, Resource, Route

VXLAN_OVERHEAD_V4 = 50  # outer IPv4 20 + UDP 8 + VXLAN 8 + inner Ethernet 14
VXLAN_OVERHEAD_V6 = 70
FLANNEL_PORT = 8472
FLOOD_MAC = "00:00:00:00:00:00"


def overlay_mtu(underlay_mtu: int, underlay_ipv6: bool = False) -> int:
    return underlay_mtu - (VXLAN_OVERHEAD_V6 if underlay_ipv6 else VXLAN_OVERHEAD_V4)


def flood_peer(netns: str | None, device: str, remote: str) -> list[Resource]:
    """L2 flood overlay: BUM traffic goes to every remote VTEP (all-zeros FDB entry)."""
    return [Fdb(netns, device, FLOOD_MAC, remote)]


def gateway_of(pod_cidr: str) -> str:
    """flannel names a remote node's subnet by its network address (10.244.2.0)."""
    return str(ipaddress.ip_network(pod_cidr).network_address)


def unicast_peer(
    netns: str | None, device: str, remote: str, vtep_mac: str, pod_cidr: str, gateway: str | None = None
) -> list[Resource]:
    """flannel's per-node entries: route onlink to the remote subnet via its .0 on the VXLAN
    device, a permanent neighbour for that .0 with the remote VTEP's MAC, and an FDB entry
    sending that MAC to the remote node's underlay address."""
    gw = gateway or gateway_of(pod_cidr)
    return [
        Fdb(netns, device, vtep_mac, remote),
        Neighbor(netns, device, gw, vtep_mac),
        Route(netns, pod_cidr, via=gw, dev=device, onlink=True),
    ]
