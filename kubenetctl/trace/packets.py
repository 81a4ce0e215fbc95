"""Probe packets: build the ones we send, recognise them in captured frames (pure).

A captured frame is parsed down to its innermost IPv4 packet, through 802.1Q tags and
VXLAN (UDP to a VXLAN port), so that the same probe is recognised on a pod's veth, on a
bridge and, encapsulated, on the underlay. ICMP errors (fragmentation needed, port
unreachable, ...) are recognised by the packet they quote.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

ETH_P_IP, ETH_P_8021Q, ETH_P_8021AD = 0x0800, 0x8100, 0x88A8
PROTO_NUM = {"icmp": 1, "tcp": 6, "udp": 17}
ICMP_ECHO_REPLY, ICMP_UNREACH, ICMP_ECHO, ICMP_TIME_EXCEEDED = 0, 3, 8, 11
UNREACH_CODES = {0: "net unreachable", 1: "host unreachable", 3: "port unreachable", 4: "fragmentation needed",
                 9: "net prohibited", 10: "host prohibited", 13: "administratively prohibited"}
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10


@dataclass(frozen=True)
class Flow:
    """A probe's identity: addresses, protocol, and the ICMP id or the ports."""

    src: str
    dst: str
    proto: str
    ident: int  # ICMP echo id, or the source port for TCP/UDP
    dport: int = 0

    def reversed(self) -> "Flow":
        if self.proto == "icmp":
            return Flow(self.dst, self.src, "icmp", self.ident)
        return Flow(self.dst, self.src, self.proto, self.dport, self.ident)


@dataclass(frozen=True)
class Seen:
    """What a captured frame carries at its innermost level."""

    flow: Flow
    is_reply: bool  # ICMP echo reply / TCP with ACK or RST
    vni: int | None = None  # set when the frame was VXLAN-encapsulated
    error: str | None = None  # an ICMP error about `flow` ("fragmentation needed (mtu 1400)")
    error_from: str | None = None


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo(ident: int, seq: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    csum = checksum(head + payload)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + payload


def tcp_syn(src: str, dst: str, sport: int, dport: int, seq: int, payload: bytes = b"") -> bytes:
    """A SYN segment (data in a SYN is legal; it pads the probe to the asked size)."""
    head = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, TCP_SYN, 65535, 0, 0)
    pseudo = ipaddress.ip_address(src).packed + ipaddress.ip_address(dst).packed + struct.pack(
        "!BBH", 0, PROTO_NUM["tcp"], len(head) + len(payload))
    csum = checksum(pseudo + head + payload)
    return head[:16] + struct.pack("!H", csum) + head[18:] + payload


def parse(frame: bytes, vxlan_ports: frozenset[int]) -> Seen | None:
    """The innermost IPv4 packet of an Ethernet frame, or None when it is not IPv4."""
    return _ethernet(frame, vxlan_ports, None, 0)


def _ethernet(frame: bytes, ports: frozenset[int], vni: int | None, depth: int) -> Seen | None:
    if len(frame) < 14 or depth > 3:
        return None
    offset = 12
    (ethertype,) = struct.unpack_from("!H", frame, offset)
    while ethertype in (ETH_P_8021Q, ETH_P_8021AD) and len(frame) >= offset + 6:
        offset += 4
        (ethertype,) = struct.unpack_from("!H", frame, offset)
    if ethertype != ETH_P_IP:
        return None
    return _ipv4(frame[offset + 2:], ports, vni, depth)


def _ipv4(data: bytes, ports: frozenset[int], vni: int | None, depth: int) -> Seen | None:
    if len(data) < 20 or data[0] >> 4 != 4:
        return None
    ihl = (data[0] & 0x0F) * 4
    proto = data[9]
    src, dst = str(ipaddress.IPv4Address(data[12:16])), str(ipaddress.IPv4Address(data[16:20]))
    frag_offset = struct.unpack_from("!H", data, 6)[0] & 0x1FFF
    body = data[ihl:]
    if frag_offset:  # a later fragment: no L4 header to read
        return None
    if proto == PROTO_NUM["udp"] and len(body) >= 8:
        sport, dport = struct.unpack_from("!HH", body, 0)
        if dport in ports and len(body) >= 16 and body[8] & 0x08:
            inner_vni = int.from_bytes(body[12:15], "big")
            return _ethernet(body[16:], ports, inner_vni, depth + 1)
        return Seen(Flow(src, dst, "udp", sport, dport), is_reply=False, vni=vni)
    if proto == PROTO_NUM["tcp"] and len(body) >= 4:
        sport, dport = struct.unpack_from("!HH", body, 0)
        flags = body[13] if len(body) >= 14 else 0
        return Seen(Flow(src, dst, "tcp", sport, dport), is_reply=bool(flags & (TCP_ACK | TCP_RST)), vni=vni)
    if proto == PROTO_NUM["icmp"] and len(body) >= 8:
        kind, code = body[0], body[1]
        if kind in (ICMP_ECHO, ICMP_ECHO_REPLY):
            (ident,) = struct.unpack_from("!H", body, 4)
            return Seen(Flow(src, dst, "icmp", ident), is_reply=kind == ICMP_ECHO_REPLY, vni=vni)
        if kind in (ICMP_UNREACH, ICMP_TIME_EXCEEDED):
            quoted = _ipv4(body[8:], frozenset(), None, depth + 1)
            if quoted is None:
                return None
            text = UNREACH_CODES.get(code, f"code {code}") if kind == ICMP_UNREACH else "time exceeded"
            if kind == ICMP_UNREACH and code == 4:
                text += f" (mtu {struct.unpack_from('!H', body, 6)[0]})"
            return Seen(quoted.flow, is_reply=False, vni=vni, error=text, error_from=src)
    return None

