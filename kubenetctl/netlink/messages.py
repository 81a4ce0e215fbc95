"""Netlink request bodies for the fast path (wire.Channel): bridges, veths, link settings,
addresses, routes, and link lookups by name.

These few messages make up nearly all of a large lab's requests. pyroute2's generic
message classes take 30-200 µs to encode each one (about 0.5 ms of Python per pod); the
same bytes packed here take a few µs. pyroute2 stays the reference: the unit tests
(tests/unit/test_messages.py) require these bytes to be identical to what pyroute2's
ifinfmsg / ifaddrmsg / rtmsg encode for the same request. Everything else is built by
pyroute2.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from typing import Any, Optional

IFF_UP = 1
RT_SCOPE_UNIVERSE, RT_SCOPE_LINK, RT_SCOPE_NOWHERE = 0, 253, 255
RTN_UNICAST = 1
RT_TABLE_COMPAT = 252  # rtm_table when the table id does not fit in 8 bits (RTA_TABLE has it)

# attribute numbers (linux/if_link.h, if_addr.h, rtnetlink.h, veth.h)
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER = 1, 3, 4, 10
IFLA_LINKINFO, IFLA_IFALIAS, IFLA_NET_NS_FD = 18, 20, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL, IFA_PROTO = 1, 2, 11
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_PREFSRC, RTA_TABLE = 1, 4, 5, 6, 7, 15

IFINFO = struct.Struct("=BxHiII")  # family, type, index, flags, change
IFADDR = struct.Struct("=BBBBI")  # family, prefixlen, flags, scope, index
RTMSG = struct.Struct("=BBBBBBBBI")  # family, dst_len, src_len, tos, table, protocol, scope, type, flags


def _nla(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def _u32(kind: int, value: int) -> bytes:
    return _nla(kind, struct.pack("=I", value))


def _text(kind: int, value: str) -> bytes:
    return _nla(kind, value.encode() + b"\0")


def _mac(kind: int, value: str) -> bytes:
    return _nla(kind, bytes.fromhex(value.replace(":", "")))


def _ip(kind: int, value: str) -> bytes:
    return _nla(kind, ipaddress.ip_address(value).packed)


def _ifinfo(index: int = 0, up: Optional[bool] = None) -> bytes:
    flags, change = (0, 0) if up is None else (IFF_UP if up else 0, IFF_UP)
    return IFINFO.pack(socket.AF_UNSPEC, 0, index, flags, change)


def link_new(name: str, kind: str, *, mtu: Optional[int] = None, mac: Optional[str] = None,
             master: Optional[int] = None, up: Optional[bool] = None, peer: Optional[dict[str, Any]] = None) -> bytes:
    """RTM_NEWLINK for a bridge or a veth. peer: name, and optionally ns_fd, mtu, mac (a
    veth peer cannot be brought up at creation: the kernel opens it before it is paired)."""
    body = _ifinfo(up=up) + _text(IFLA_IFNAME, name)
    if mtu is not None:
        body += _u32(IFLA_MTU, mtu)
    if mac is not None:
        body += _mac(IFLA_ADDRESS, mac)
    if master is not None:
        body += _u32(IFLA_MASTER, master)
    info = _text(IFLA_INFO_KIND, kind)
    if peer is not None:
        pbody = _ifinfo() + _text(IFLA_IFNAME, peer["name"])
        if peer.get("ns_fd") is not None:
            pbody += _u32(IFLA_NET_NS_FD, peer["ns_fd"])
        if peer.get("mtu") is not None:
            pbody += _u32(IFLA_MTU, peer["mtu"])
        if peer.get("mac") is not None:
            pbody += _mac(IFLA_ADDRESS, peer["mac"])
        info += _nla(IFLA_INFO_DATA, _nla(VETH_INFO_PEER, pbody))
    return body + _nla(IFLA_LINKINFO, info)


def link_set(index: Optional[int] = None, name: Optional[str] = None, *, alias: Optional[str] = None,
             up: Optional[bool] = None, master: Optional[int] = None, mtu: Optional[int] = None,
             mac: Optional[str] = None) -> bytes:
    """RTM_SETLINK by index, or by name when the index is not known (index 0)."""
    body = _ifinfo(index or 0, up)
    if not index:
        body += _text(IFLA_IFNAME, name or "")
    if alias is not None:
        body += _text(IFLA_IFALIAS, alias)
    if master is not None:
        body += _u32(IFLA_MASTER, master)  # 0: no master
    if mtu is not None:
        body += _u32(IFLA_MTU, mtu)
    if mac is not None:
        body += _mac(IFLA_ADDRESS, mac)
    return body


def link_by_name(name: str, ext_mask: Optional[int] = None) -> bytes:
    """RTM_GETLINK / RTM_DELLINK of a link named `name`."""
    body = _ifinfo() + _text(IFLA_IFNAME, name)
    return body + (_u32(29, ext_mask) if ext_mask is not None else b"")  # 29: IFLA_EXT_MASK


def address(index: int, cidr: str, proto: Optional[int] = None) -> bytes:
    iface = ipaddress.ip_interface(cidr)
    family = socket.AF_INET6 if iface.version == 6 else socket.AF_INET
    body = IFADDR.pack(family, iface.network.prefixlen, 0, 0, index)
    body += _ip(IFA_LOCAL, str(iface.ip)) + _ip(IFA_ADDRESS, str(iface.ip))
    if proto is not None:
        body += _nla(IFA_PROTO, struct.pack("=B", proto))
    return body


def route(dst: str, *, via: Optional[str], oif: Optional[int], onlink: bool, table: int, metric: Optional[int],
          src: Optional[str], proto: Optional[int], onlink_flag: int, delete: bool = False) -> bytes:
    """RTM_NEWROUTE (scope as iproute2 picks it: link without a gateway) or, with delete,
    RTM_DELROUTE matching any scope, type and protocol."""
    net = ipaddress.ip_network(dst)
    family = socket.AF_INET6 if net.version == 6 else socket.AF_INET
    scope = RT_SCOPE_NOWHERE if delete else RT_SCOPE_UNIVERSE if via or net.version == 6 else RT_SCOPE_LINK
    body = RTMSG.pack(family, net.prefixlen, 0, 0, table if table < 256 else RT_TABLE_COMPAT, proto or 0, scope,
                      0 if delete else RTN_UNICAST, onlink_flag if onlink else 0)
    body += _u32(RTA_TABLE, table)
    if net.prefixlen:
        body += _ip(RTA_DST, str(net.network_address))
    if via:
        body += _ip(RTA_GATEWAY, via)
    if oif is not None:
        body += _u32(RTA_OIF, oif)
    if metric is not None:
        body += _u32(RTA_PRIORITY, metric)
    if src:
        body += _ip(RTA_PREFSRC, src)
    return body
