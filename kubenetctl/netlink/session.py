"""Netlink sessions, one per network namespace, that never create a namespace.

pyroute2's `IPRoute(netns=X)` creates X when it is missing (unless flags=0) and forks a
helper process to open the socket (~5 ms). Here the sockets are opened by entering the
namespace in this thread (setns), which fails cleanly when the namespace is missing and
costs ~0.1 ms; all sessions share one event loop so that a 1,000-namespace lab does not
hold 1,000 event loops' worth of file descriptors. Sessions join no multicast group
(pyroute2's default joins them all): otherwise every change in a namespace queues a
notification that the next request reads and parses, and a 1,000-pod node slows down
with every pod.

Each session has a socket for the fast path of frequent simple requests (wire.Channel),
and, made on first use (it costs ~0.5 ms), pyroute2's IPRoute for everything else.
"""

from __future__ import annotations

import asyncio
import os
import resource
import socket
from collections import OrderedDict
from typing import Optional

from pyroute2 import IPRoute

from kubenetctl.netlink import nsfs
from kubenetctl.netlink.wire import Channel

NETLINK_ROUTE = 0


def _socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)


class _Session:
    def __init__(self, loop: asyncio.AbstractEventLoop, netns: str | None) -> None:
        """Opens the fast-path socket in the namespace this thread is in now; pyroute2's
        IPRoute is made on first use (most sessions never need it)."""
        self._loop = loop
        self._netns = netns
        self._ipr: Optional[IPRoute] = None
        self.fast = Channel(_socket())

    @property
    def ipr(self) -> IPRoute:
        if self._ipr is None:
            if self._netns is None:  # the namespace we run in
                self._ipr = IPRoute(use_event_loop=self._loop, groups=0)
            else:
                with nsfs.entered(self._netns):
                    sock = _socket()
                self._ipr = IPRoute(fileno=sock.detach(), use_event_loop=self._loop, groups=0)
        return self._ipr

    def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
        self.fast.close()


def _room_for_sessions() -> int:
    """How many sessions may stay open: each holds a file descriptor or two, so lift the
    soft limit on open files to the hard one (a 1,000-pod lab reuses each pod's session
    several times; closing and reopening them costs ~10% of an apply)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (ValueError, OSError):
            pass
    room = 65536 if soft == resource.RLIM_INFINITY else soft
    return max(64, min(4096, (room - 64) // 3))


class Sessions:
    """Open sessions keyed by namespace name (None: the namespace we run in)."""

    def __init__(self, max_open: int | None = None) -> None:
        self._open: OrderedDict[str | None, _Session] = OrderedDict()
        self._max_open = max_open if max_open is not None else _room_for_sessions()
        self._loop = asyncio.new_event_loop()
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def _session(self, netns: str | None) -> _Session:
        session = self._open.get(netns)
        if session is not None:
            self._open.move_to_end(netns)
            return session
        with nsfs.entered(netns):
            session = _Session(self._loop, netns)
        return self._keep(netns, session)

    def get(self, netns: str | None) -> IPRoute:
        """pyroute2's IPRoute for the namespace."""
        return self._session(netns).ipr

    def fast(self, netns: str | None) -> Channel:
        """The fast path (wire.Channel) for the namespace."""
        return self._session(netns).fast

    def open_here(self, netns: str) -> Channel:
        """A session for the namespace this thread is in now, kept under `netns`
        (used while a new namespace is being made, before it has its name)."""
        self.forget(netns)
        return self._keep(netns, _Session(self._loop, netns)).fast

    def _keep(self, netns: str | None, session: _Session) -> _Session:
        self._open[netns] = session
        while len(self._open) > self._max_open:
            _, old = self._open.popitem(last=False)
            old.close()
        return session

    def ns_fd(self, netns: str | None) -> int:
        """An fd for IFLA_NET_NS_FD; the caller closes it (host fd is shared: do not close)."""
        return self.host_fd if netns is None else nsfs.open_fd(netns)

    def forget(self, netns: str | None) -> None:
        session = self._open.pop(netns, None)
        if session is not None:
            session.close()

    def close(self) -> None:
        while self._open:
            _, session = self._open.popitem()
            session.close()
        if not self._loop.is_closed():
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
            self._loop.close()
        if self.host_fd >= 0:
            os.close(self.host_fd)
            self.host_fd = -1

    def __enter__(self) -> "Sessions":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
