"""Live probe: send one real packet and capture it on every interface of the predicted path.

Capture sockets are AF_PACKET sockets opened inside each namespace (this thread enters
the namespace, opens and binds the socket, and comes back: the socket stays attached to
that namespace's device). A socket is created with protocol 0, so it sees nothing until
it is bound to its one device. The probe is sent from the source namespace with DF set
(an MTU problem shows as a drop, not as fragments). Standard library sockets only.
"""

from __future__ import annotations

import errno
import os
import random
import selectors
import socket
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

from kubenetctl.errors import NotFound, PermissionDenied
from kubenetctl.netlink import nsfs
from kubenetctl.trace.model import IP_HEADER, ICMP_HEADER, TCP_HEADER, UDP_HEADER, Packet, Point
from kubenetctl.trace.compare import Observed
from kubenetctl.trace.packets import Flow, icmp_echo, parse, tcp_syn

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
IP_MTU_DISCOVER, IP_PMTUDISC_DO = 10, 2
TOKEN = b"kubenetctl-probe"


@dataclass
class ProbeRun:
    flow: Flow
    captures: list[Observed] = field(default_factory=list)
    send_error: str | None = None
    elapsed: float = 0.0


def _capture_socket(point_ns: str | None, dev: str) -> socket.socket:
    with nsfs.entered(point_ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        try:
            sock.bind((dev, ETH_P_ALL))
        except OSError as exc:
            sock.close()
            if exc.errno == errno.ENODEV:
                raise NotFound(f"cannot capture on {dev}: it does not exist in "
                               f"{'netns ' + point_ns if point_ns else 'the host netns'}") from None
            raise
    sock.setblocking(False)
    return sock


def _payload(size: int, header: int) -> bytes:
    room = max(size - IP_HEADER - header, len(TOKEN))
    return (TOKEN * (room // len(TOKEN) + 1))[:room]


def _sender(src_ns: str | None, pkt: Packet) -> tuple[socket.socket, Flow, bytes, tuple[str, int]]:
    with nsfs.entered(src_ns):
        if pkt.proto == "icmp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            sock.bind((pkt.src, 0))
            ident = random.randint(1, 0xFFFF)
            data = icmp_echo(ident, 1, _payload(pkt.size, ICMP_HEADER))
            flow = Flow(pkt.src, pkt.dst, "icmp", ident)
            target = (pkt.dst, 0)
        elif pkt.proto == "udp":
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((pkt.src, 0))
            data = _payload(pkt.size, UDP_HEADER)
            flow = Flow(pkt.src, pkt.dst, "udp", sock.getsockname()[1], pkt.dport or 0)
            target = (pkt.dst, pkt.dport or 0)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
            sock.bind((pkt.src, 0))
            sport = random.randint(40000, 60999)
            data = tcp_syn(pkt.src, pkt.dst, sport, pkt.dport or 0, random.getrandbits(32),
                           _payload(pkt.size, TCP_HEADER) if pkt.size > IP_HEADER + TCP_HEADER else b"")
            flow = Flow(pkt.src, pkt.dst, "tcp", sport, pkt.dport or 0)
            target = (pkt.dst, 0)
    sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
    return sock, flow, data, target


def probe(
    points: Iterable[Point],
    src_ns: str | None,
    pkt: Packet,
    *,
    vxlan_ports: frozenset[int] = frozenset({4789, 8472}),
    timeout: float = 1.0,
    done: Callable[[list[Observed], Flow], bool] | None = None,
) -> ProbeRun:
    """Capture on every point's interface, send `pkt` from `src_ns`, collect what matches.

    Stops at `timeout` seconds, or earlier once `done(captures, flow)` says everything
    expected was seen.
    """
    if os.geteuid() != 0:
        raise PermissionDenied("trace --probe needs root", hint="run it with sudo (it opens packet sockets in namespaces)")
    sockets: dict[tuple[str | None, str], socket.socket] = {}
    sel = selectors.DefaultSelector()
    sender = None
    try:
        for point in points:
            key = (point.netns, point.dev)
            if key not in sockets:
                sockets[key] = _capture_socket(point.netns, point.dev)
                sel.register(sockets[key], selectors.EVENT_READ, key)
        sender, flow, data, target = _sender(src_ns, pkt)
        run = ProbeRun(flow)
        reverse = flow.reversed()
        start = time.monotonic()
        try:
            sender.sendto(data, target)
        except OSError as exc:
            run.send_error = f"{os.strerror(exc.errno or 0).lower()} (errno {exc.errno})" if exc.errno else str(exc)
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for sk, _ in sel.select(left):
                _drain(sk.fileobj, sk.data, vxlan_ports, (flow, reverse), start, run)  # type: ignore[arg-type]
            if done is not None and done(run.captures, flow):
                break
        run.elapsed = time.monotonic() - start
        return run
    finally:
        sel.close()
        for sock in sockets.values():
            sock.close()
        if sender is not None:
            sender.close()


def _drain(sock: socket.socket, key: tuple[str | None, str], ports: frozenset[int], flows: tuple[Flow, Flow],
           start: float, run: ProbeRun) -> None:
    while True:
        try:
            data, addr = sock.recvfrom(65535)
        except BlockingIOError:
            return
        except OSError:  # ENETDOWN: the device is down; nothing to capture there
            return
        seen = parse(data, ports)
        if seen is None or seen.flow not in flows:
            continue
        direction = "out" if addr[2] == PACKET_OUTGOING else "in"
        run.captures.append(Observed(Point(key[0], key[1], direction), seen, time.monotonic() - start))
