"""Netlink sessions, one per network namespace, that never create a namespace.

pyroute2's `IPRoute(netns=X)` creates X when it is missing (unless flags=0) and forks a
helper process to open the socket (~5 ms). Here the socket is opened by entering the
namespace in this thread (setns), which fails cleanly when the namespace is missing and
costs ~0.1 ms; all sessions share one event loop so that a 1,000-namespace lab does not
hold 1,000 event loops' worth of file descriptors.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import OrderedDict

from pyroute2 import IPRoute

from kubenetctl.netlink import nsfs

NETLINK_ROUTE = 0


class Sessions:
    """Open IPRoute handles keyed by namespace name (None: the namespace we run in)."""

    def __init__(self, max_open: int = 128) -> None:
        self._open: OrderedDict[str | None, IPRoute] = OrderedDict()
        self._max_open = max_open
        self._loop = asyncio.new_event_loop()
        self.host_fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)

    def get(self, netns: str | None) -> IPRoute:
        ipr = self._open.get(netns)
        if ipr is not None:
            self._open.move_to_end(netns)
            return ipr
        if netns is None:
            ipr = IPRoute(use_event_loop=self._loop)
        else:
            with nsfs.entered(netns):
                sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
            ipr = IPRoute(fileno=sock.detach(), use_event_loop=self._loop)
        return self._keep(netns, ipr)

    def open_here(self, netns: str) -> IPRoute:
        """A session for the namespace this thread is in now, kept under `netns`
        (used while a new namespace is being made, before it has its name)."""
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
        self.forget(netns)
        return self._keep(netns, IPRoute(fileno=sock.detach(), use_event_loop=self._loop))

    def _keep(self, netns: str | None, ipr: IPRoute) -> IPRoute:
        self._open[netns] = ipr
        while len(self._open) > self._max_open:
            _, old = self._open.popitem(last=False)
            old.close()
        return ipr

    def ns_fd(self, netns: str | None) -> int:
        """An fd for IFLA_NET_NS_FD; the caller closes it (host fd is shared: do not close)."""
        return self.host_fd if netns is None else nsfs.open_fd(netns)

    def forget(self, netns: str | None) -> None:
        ipr = self._open.pop(netns, None)
        if ipr is not None:
            ipr.close()

    def close(self) -> None:
        while self._open:
            _, ipr = self._open.popitem()
            ipr.close()
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
