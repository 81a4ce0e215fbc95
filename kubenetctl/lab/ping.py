"""Real ICMP echo between namespaces, many at once, without a process per ping.

Each probe gets a raw ICMP socket opened inside its source namespace (a socket stays in
the namespace it was made in), then one loop sends echo requests and waits for the
replies of all probes together: a pingall of hundreds of pairs takes about one timeout,
not one timeout per pair. A probe succeeds when an echo reply with its identifier comes
back from the address it pinged. IPv4 only (recipes build IPv4 networks).
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from dataclasses import dataclass
from typing import Optional, Sequence

from kubenetctl.errors import KubenetError
from kubenetctl.netlink import nsfs

ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
BATCH = 256  # probes in flight at once (file descriptors)


@dataclass
class Probe:
    netns: Optional[str]  # None: the namespace kubenetctl runs in
    address: str
    reached: bool = False
    rtt_ms: Optional[float] = None
    error: Optional[str] = None


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


MARK = b"kubenetctl-check"


def _echo(ident: int, seq: int) -> bytes:
    payload = MARK + struct.pack("!d", time.time())
    header = struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, _checksum(header + payload), ident, seq) + payload


def _reply(packet: bytes) -> Optional[tuple[int, str, Optional[float]]]:
    """(identifier, source, send time) of an IPv4 echo reply, or None."""
    if len(packet) < 28:
        return None
    ihl = (packet[0] & 0x0F) * 4
    icmp = packet[ihl:]
    if len(icmp) < 8 or icmp[0] != ICMP_ECHO_REPLY:
        return None
    body = icmp[8:]
    sent = struct.unpack("!d", body[len(MARK):len(MARK) + 8])[0] if body.startswith(MARK) and len(body) >= len(MARK) + 8 else None
    return struct.unpack("!H", icmp[4:6])[0], socket.inet_ntoa(packet[12:16]), sent


def ping_all(probes: Sequence[Probe], timeout: float = 1.0, interval: float = 0.2) -> Sequence[Probe]:
    """Ping every probe's address from its namespace; fills reached/rtt_ms/error."""
    for start in range(0, len(probes), BATCH):
        _batch(probes[start:start + BATCH], timeout, interval, base=start)
    return probes


def _batch(probes: Sequence[Probe], timeout: float, interval: float, base: int) -> None:
    socks: dict[int, tuple[socket.socket, Probe, int]] = {}
    salt = os.getpid() & 0x3FFF
    try:
        for i, probe in enumerate(probes):
            try:
                with nsfs.entered(probe.netns):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            except (OSError, KubenetError) as exc:  # a namespace gone or not enterable
                probe.error = str(exc)
                continue
            sock.setblocking(False)
            ident = ((salt << 2) + base + i) & 0xFFFF
            socks[sock.fileno()] = (sock, probe, ident)
        pending = set(socks)
        deadline = time.monotonic() + timeout
        next_send = 0.0
        seq = 0
        while pending and time.monotonic() < deadline:
            now = time.monotonic()
            if now >= next_send:
                seq += 1
                for fd in pending:
                    sock, probe, ident = socks[fd]
                    try:
                        sock.sendto(_echo(ident, seq), (probe.address, 0))
                    except OSError as exc:  # no route: unreachable right away
                        probe.error = os.strerror(exc.errno) if exc.errno else str(exc)
                next_send = now + interval
            wait = max(0.0, min(next_send, deadline) - time.monotonic())
            ready, _, _ = select.select(list(pending), [], [], wait)
            for fd in ready:
                sock, probe, ident = socks[fd]
                while True:
                    try:
                        packet = sock.recv(2048)
                    except BlockingIOError:
                        break
                    got = _reply(packet)
                    if got is not None and got[:2] == (ident, probe.address):
                        probe.reached, probe.error = True, None
                        if got[2] is not None:
                            probe.rtt_ms = round((time.time() - got[2]) * 1000, 3)
                        pending.discard(fd)
                        break
    finally:
        for sock, _, _ in socks.values():
            sock.close()
