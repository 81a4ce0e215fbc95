"""The pure half of --probe: building and recognising probe packets, comparing captures with the walk."""

from __future__ import annotations

import ipaddress
import struct

from kubenetctl.trace.compare import Observed, all_expected_seen, compare, points
from kubenetctl.trace.model import Point
from kubenetctl.trace.packets import Flow, checksum, icmp_echo, parse, tcp_syn
from kubenetctl.trace.pair import packet, resolve, trace_pair
from tests.synthetic import routed_overlay

PORTS = frozenset({8472})


def ipv4(src: str, dst: str, proto: int, payload: bytes, flags_frag: int = 0x4000) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, flags_frag, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ether(payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return b"\x0a\x00\x00\x00\x00\x02" + b"\x0a\x00\x00\x00\x00\x01" + tag + b"\x08\x00" + payload


def vxlan(inner: bytes, vni: int, sport: int = 40000, dport: int = 8472) -> bytes:
    body = struct.pack("!BBHI", 0x08, 0, 0, vni << 8) + inner
    udp = struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
    return ether(ipv4("192.168.77.1", "192.168.77.2", 17, udp))


def test_icmp_echo_is_valid_and_recognised():
    msg = icmp_echo(0x1234, 1, b"kubenetctl-probe")
    assert checksum(msg) == 0
    seen = parse(ether(ipv4("10.244.1.2", "10.244.2.2", 1, msg)), PORTS)
    assert seen.flow == Flow("10.244.1.2", "10.244.2.2", "icmp", 0x1234) and not seen.is_reply and seen.vni is None


def test_tcp_syn_checksum_covers_the_pseudo_header():
    seg = tcp_syn("10.0.0.1", "10.0.0.2", 40001, 80, 7, b"xx")
    pseudo = ipaddress.IPv4Address("10.0.0.1").packed + ipaddress.IPv4Address("10.0.0.2").packed + \
        struct.pack("!BBH", 0, 6, len(seg))
    assert checksum(pseudo + seg) == 0
    seen = parse(ether(ipv4("10.0.0.1", "10.0.0.2", 6, seg)), PORTS)
    assert seen.flow == Flow("10.0.0.1", "10.0.0.2", "tcp", 40001, 80) and not seen.is_reply


def test_vxlan_and_vlan_are_looked_through():
    inner = ether(ipv4("10.244.1.2", "10.244.2.2", 1, icmp_echo(7, 1, b"x" * 20)), vlan=100)
    seen = parse(vxlan(inner, vni=42), PORTS)
    assert seen.flow.src == "10.244.1.2" and seen.vni == 42
    assert parse(vxlan(inner, vni=42, dport=9999), PORTS).flow.proto == "udp"  # not a VXLAN port: plain UDP


def test_icmp_errors_point_at_the_quoted_flow():
    original = ipv4("10.244.1.2", "10.244.2.2", 1, icmp_echo(9, 1, b"y" * 40))
    err = struct.pack("!BBHHH", 3, 4, 0, 0, 1000) + original[:28]
    seen = parse(ether(ipv4("10.244.2.1", "10.244.1.2", 1, err)), PORTS)
    assert seen.flow == Flow("10.244.1.2", "10.244.2.2", "icmp", 9)
    assert seen.error == "fragmentation needed (mtu 1000)" and seen.error_from == "10.244.2.1"


def test_fragments_and_non_ip_are_ignored():
    assert parse(ether(ipv4("1.1.1.1", "2.2.2.2", 1, b"\0" * 16, flags_frag=0x0010)), PORTS) is None
    assert parse(b"\xff" * 12 + b"\x08\x06" + b"\0" * 28, PORTS) is None  # ARP


def _trace(lab=None):
    topo = (lab or routed_overlay()).topo()
    a, b = resolve(topo, "pod1", "SRC"), resolve(topo, "pod2", "DST")
    return trace_pair(topo, a, b, packet(a, b, "icmp", None, None))


def _seen_everywhere(trace, flow, skip=()):
    out = []
    for path, f, reply in ((trace.forward, flow, False), (trace.reply, flow.reversed(), True)):
        for i, hop in enumerate(path.hops if path else []):
            if (reply, i) in skip:
                continue
            from kubenetctl.trace.packets import Seen
            out.append(Observed(hop.point, Seen(f, is_reply=reply, vni=hop.encap["vni"] if hop.encap else None)))
    return out


FLOW = Flow("10.244.1.2", "10.244.2.2", "icmp", 77)


def test_every_hop_seen_agrees():
    t = _trace()
    caps = _seen_everywhere(t, FLOW)
    report = compare(t, caps, FLOW)
    assert report.agrees and report.summary == "as predicted: every hop seen, there and back"
    assert all_expected_seen(t, FLOW)(caps)
    assert Point("node1", "ul0", "out") in points(t)


def test_first_hop_not_seen_is_named():
    t = _trace()
    report = compare(t, _seen_everywhere(t, FLOW, skip={(False, 4), (False, 5)}), FLOW)
    assert not report.agrees and report.forward.vanished == 4
    assert report.summary == ("the forward probe vanished at hop 5: not seen out ul0 in node1, "
                              "last seen at hop 4 (vxlan0 in node1)")


def test_a_capture_of_another_flow_or_vni_does_not_count():
    t = _trace()
    other = Flow("10.244.1.2", "10.244.2.2", "icmp", 78)
    assert compare(t, _seen_everywhere(t, other), FLOW).forward.vanished == 0
    from kubenetctl.trace.packets import Seen
    caps = [c if c.point != Point("node1", "ul0", "out") else Observed(c.point, Seen(FLOW, False, vni=5))
            for c in _seen_everywhere(t, FLOW)]
    assert compare(t, caps, FLOW).forward.vanished == 4


def test_predicted_stop_confirmed_and_contradicted():
    lab = routed_overlay().drop_fdb("node1", "vxlan0", "0e:00:00:00:00:02")
    t = _trace(lab)
    caps = _seen_everywhere(t, FLOW)
    report = compare(t, caps, FLOW)
    assert report.agrees and report.summary == "as predicted: the probe vanished after hop 4 (vxlan0 in node1)"
    assert not all_expected_seen(t, FLOW)(caps)  # a predicted stop waits for the whole timeout
    from kubenetctl.trace.packets import Seen
    caps.append(Observed(Point("node1", "ul0", "out"), Seen(FLOW, False, vni=1)))
    report = compare(t, caps, FLOW)
    assert not report.agrees and "went further than predicted: it was seen on ul0 in node1" in report.summary
