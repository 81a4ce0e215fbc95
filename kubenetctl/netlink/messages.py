"""Netlink messages for the fast path (wire.Channel), built with pyroute2's message classes.

Only the frequent, simple requests: links (veth, bridge) and their settings, addresses,
routes. Everything else goes through pyroute2's IPRoute API.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any, Optional

from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP, ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTN_UNICAST = 1
RT_TABLE_COMPAT = 252  # rtm_table when the table id does not fit in 8 bits (RTA_TABLE has it)


def _updown(msg: ifinfmsg, up: Optional[bool]) -> None:
    if up is not None:
        msg["flags"] = IFF_UP if up else 0
        msg["change"] = IFF_UP


def link_new(name: str, kind: str, *, mtu: Optional[int] = None, mac: Optional[str] = None,
             master: Optional[int] = None, up: Optional[bool] = None, peer: Optional[dict[str, Any]] = None) -> ifinfmsg:
    """RTM_NEWLINK for a bridge or a veth. peer: name, and optionally ns_fd, mtu, mac (a
    veth peer cannot be brought up at creation: the kernel opens it before it is paired)."""
    msg = ifinfmsg()
    _updown(msg, up)
    attrs: list[Any] = [("IFLA_IFNAME", name)]
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if mac is not None:
        attrs.append(("IFLA_ADDRESS", mac))
    if master is not None:
        attrs.append(("IFLA_MASTER", master))
    info: list[Any] = [("IFLA_INFO_KIND", kind)]
    if peer is not None:
        pattrs: list[Any] = [("IFLA_IFNAME", peer["name"])]
        if peer.get("ns_fd") is not None:
            pattrs.append(("IFLA_NET_NS_FD", peer["ns_fd"]))
        if peer.get("mtu") is not None:
            pattrs.append(("IFLA_MTU", peer["mtu"]))
        if peer.get("mac") is not None:
            pattrs.append(("IFLA_ADDRESS", peer["mac"]))
        info.append(("IFLA_INFO_DATA", {"attrs": [("VETH_INFO_PEER", {"attrs": pattrs})]}))
    attrs.append(("IFLA_LINKINFO", {"attrs": info}))
    msg["attrs"] = attrs
    return msg


def link_set(index: Optional[int] = None, name: Optional[str] = None, *, alias: Optional[str] = None,
             up: Optional[bool] = None, master: Optional[int] = None, mtu: Optional[int] = None,
             mac: Optional[str] = None) -> ifinfmsg:
    """RTM_SETLINK by index, or by name when the index is not known (index 0)."""
    msg = ifinfmsg()
    msg["index"] = index or 0
    _updown(msg, up)
    attrs: list[Any] = []
    if not index:
        attrs.append(("IFLA_IFNAME", name))
    if alias is not None:
        attrs.append(("IFLA_IFALIAS", alias))
    if master is not None:
        attrs.append(("IFLA_MASTER", master))  # 0: no master
    if mtu is not None:
        attrs.append(("IFLA_MTU", mtu))
    if mac is not None:
        attrs.append(("IFLA_ADDRESS", mac))
    msg["attrs"] = attrs
    return msg


def link_by_name(name: str) -> ifinfmsg:
    """RTM_GETLINK / RTM_DELLINK of a link named `name`."""
    msg = ifinfmsg()
    msg["attrs"] = [("IFLA_IFNAME", name)]
    return msg


def address(index: int, cidr: str, proto: Optional[int] = None) -> ifaddrmsg:
    iface = ipaddress.ip_interface(cidr)
    msg = ifaddrmsg()
    msg["family"] = socket.AF_INET6 if iface.version == 6 else socket.AF_INET
    msg["prefixlen"] = iface.network.prefixlen
    msg["index"] = index
    attrs: list[Any] = [("IFA_LOCAL", str(iface.ip)), ("IFA_ADDRESS", str(iface.ip))]
    if proto is not None:
        attrs.append(("IFA_PROTO", proto))
    msg["attrs"] = attrs
    return msg


def route(dst: str, *, via: Optional[str], oif: Optional[int], onlink: bool, table: int, metric: Optional[int],
          src: Optional[str], proto: Optional[int], onlink_flag: int, delete: bool = False) -> rtmsg:
    """RTM_NEWROUTE (scope as iproute2 picks it: link without a gateway) or, with delete,
    RTM_DELROUTE matching any scope, type and protocol."""
    net = ipaddress.ip_network(dst)
    msg = rtmsg()
    msg["family"] = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    msg["dst_len"] = net.prefixlen
    msg["table"] = table if table < 256 else RT_TABLE_COMPAT
    msg["type"] = 0 if delete else RTN_UNICAST
    msg["scope"] = RT_SCOPE_NOWHERE if delete else RT_SCOPE_UNIVERSE if via or net.version == 6 else RT_SCOPE_LINK
    if proto is not None:
        msg["proto"] = proto
    if onlink:
        msg["flags"] = onlink_flag
    attrs: list[Any] = [("RTA_TABLE", table)]
    if net.prefixlen:
        attrs.append(("RTA_DST", str(net.network_address)))
    if via:
        attrs.append(("RTA_GATEWAY", via))
    if oif is not None:
        attrs.append(("RTA_OIF", oif))
    if metric is not None:
        attrs.append(("RTA_PRIORITY", metric))
    if src:
        attrs.append(("RTA_PREFSRC", src))
    msg["attrs"] = attrs
    return msg
