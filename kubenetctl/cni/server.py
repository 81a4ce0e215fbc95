"""`kubenetctl cni serve`: a resident fork server that takes interpreter start-up and
imports off every CNI call (what "thick" CNI plugins do with a daemon).

The server imports the plugin and the netlink layer once, then for every call the lean
launcher hands over (cni/client.py: argv, environment, umask, and the descriptors of its
stdin, stdout, stderr, network namespace, mount namespace and working directory) it
forks a child that takes on the caller's context and runs the plugin's own entry point,
kubenetctl.cni.plugin.main(). Each call is its own process, as when a runtime execs the
plugin: calls run in parallel, IPAM serialises them with host-local's flock, a failed ADD
rolls back in that process, and nothing a call does survives it.

What the child inherits from the server and what it takes from the caller:
- imported modules only: the server never opens a netlink socket or an event loop, so
  every child opens its own (Sessions in cni/bridge.py);
- the caller's network and mount namespaces (setns when they differ from the server's:
  `ip netns exec` gives its commands a /sys of their own), working directory, umask,
  environment and argv; stdin, stdout, stderr are the caller's own descriptors;
- the server's credentials, cgroup, rlimits and security context: the socket is
  reachable by the server's user only (0600, and the peer's uid is checked both ways).

The child reports its exit status itself (X), so a server that dies or restarts does not
lose the answer of a call in progress. The server reaps every child through a pidfd and
speaks for the ones that cannot: a child killed (timeout, or the caller went away) or
crashed before writing gets the spec's error JSON sent to its caller (E); a child that
failed before the plugin started makes the caller run the plugin in process (R).

A page of shared memory tells the server how far a child got: SETUP (taking on the
caller's context), RUNNING (the plugin runs), WROTE (something went to stdout), REPORTED
(the caller has its answer); it also holds the config's cniVersion for that error JSON.
"""

from __future__ import annotations

import fcntl
import gc
import importlib
import io
import json
import mmap
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Callable, NoReturn

from kubenetctl import __version__
from kubenetctl.cni import client
from kubenetctl.errors import Busy, Conflict, InvalidInput, KernelError, NotFound, PermissionDenied

DEFAULT_SOCKET = client.DEFAULT_SOCKET
DEFAULT_TIMEOUT = 300.0  # seconds; the IPAM lock alone may be waited on for 60 s
REQUEST_WAIT = 5.0  # seconds a connection may take to send its request
# everything a call imports (tests/integration/test_cni_server.py checks this against a real ADD/CHECK/DEL)
PRELOAD = (
    "kubenetctl.cni.plugin", "kubenetctl.cni.bridge", "kubenetctl.cni.ipam_ops", "kubenetctl.cni.netconf",
    "kubenetctl.cni.masq", "kubenetctl.cni.invoke", "kubenetctl.ipam.allocator", "kubenetctl.ipam.store",
    "kubenetctl.execute", "kubenetctl.netlink.backend", "kubenetctl.netlink.session", "kubenetctl.netlink.observe",
    "kubenetctl.netlink.nsfs", "traceback", "shlex",
)
SETUP, RUNNING, WROTE, REPORTED = 0, 1, 2, 3
_VERSION_AT, _VERSION_MAX = 2, 64
_UCRED = struct.Struct("3i")


def preload() -> None:
    from kubenetctl.netlink import lean

    lean.install()
    for name in PRELOAD:
        importlib.import_module(name)


# -- the child: become the caller's plugin process ------------------------------------------
class _MarkedStdout(io.FileIO):
    """fd 1, noting in the shared page that the plugin has started to write."""

    def __init__(self, page: mmap.mmap) -> None:
        super().__init__(1, "w", closefd=False)
        self._page = page

    def write(self, data):  # type: ignore[no-untyped-def, override]
        if self._page[0] == RUNNING:
            self._page[0] = WROTE
        return super().write(data)


def _same_ns(fd: int, own: str) -> bool:
    a, b = os.fstat(fd), os.stat(own)
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _take_context(req: client.Request, fds: list[int], keep: int) -> None:
    """Enter the caller's namespaces, directory, umask, stdio and environment; close the rest."""
    from kubenetctl.netlink import nsfs

    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stdin, stdout, stderr, netns, mntns, cwd = fds
    if not _same_ns(netns, "/proc/self/ns/net"):
        nsfs.setns(netns, nsfs.CLONE_NEWNET)
    if not _same_ns(mntns, "/proc/self/ns/mnt"):
        nsfs.setns(mntns, nsfs.CLONE_NEWNS)  # allowed: a forked child has one thread
    os.fchdir(cwd)
    os.umask(req.umask)
    for target, fd in enumerate((stdin, stdout, stderr)):
        os.dup2(fd, target)
    os.closerange(3, keep)  # the server's listener, lock, other callers' sockets, pidfds ...
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))
    os.environb.clear()
    os.environb.update(req.environ)
    sys.argv = [os.fsdecode(a) for a in req.argv]


def _note_version(page: mmap.mmap, stdin: bytes) -> None:
    try:
        version = json.loads(stdin).get("cniVersion")
    except Exception:
        return
    if isinstance(version, str) and 0 < len(version.encode()) <= _VERSION_MAX - _VERSION_AT - 1:
        raw = version.encode()
        page[1] = len(raw)
        page[_VERSION_AT:_VERSION_AT + len(raw)] = raw


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _run_plugin(page: mmap.mmap) -> int:
    """kubenetctl.cni.plugin.main() on the caller's stdio; its exit status."""
    from kubenetctl.cni import plugin

    stdin = _read_all(0)
    _note_version(page, stdin)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(_MarkedStdout(page)), encoding="utf-8")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace",
                                  line_buffering=True)
    try:
        code = plugin.main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what an uncaught exception does to a Python process: traceback, status 1
        traceback.print_exc()
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except OSError:
            pass
    return code


def _child(req: client.Request, fds: list[int], conn: socket.socket, page: mmap.mmap) -> NoReturn:
    code = 1
    try:
        try:
            _take_context(req, fds, conn.fileno())
        except BaseException as exc:
            page[0] = REPORTED
            conn.send(b"R" + f"cannot take on the caller's context: {exc}".encode(errors="replace"))
            return
        page[0] = RUNNING
        conn.send(b"S")
        code = _run_plugin(page)
        page[0] = REPORTED
        conn.send(b"X%d" % code)
    except BaseException:
        pass  # the caller went away; the server sees the exit status
    finally:
        os._exit(code & 0xFF)


# -- the server -------------------------------------------------------------------------------
@dataclass(eq=False)
class Job:
    conn: socket.socket
    pid: int
    pidfd: int
    page: mmap.mmap
    deadline: float | None
    killed: str = ""
    watching: bool = True  # for the caller hanging up

    def kill(self, why: str) -> None:
        if not self.killed and self.page[0] != REPORTED and self.pidfd >= 0:
            self.killed = why
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def version(self, default: str) -> str:
        """The cniVersion of the call's config, as the child noted it."""
        n = self.page[1]
        return self.page[_VERSION_AT:_VERSION_AT + n].decode(errors="replace") if n else default


def _send(conn: socket.socket, message: bytes) -> None:
    try:
        conn.send(message, socket.MSG_DONTWAIT)
    except OSError:
        pass  # the caller is gone


def _stdio_open() -> None:
    """fds 0-2 must be taken, or descriptors received from callers could land there."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


def _must_be_a_socket(path: str) -> bool:
    """Whether something is at `path`; Conflict if it is not a socket."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return False
    if not stat.S_ISSOCK(mode):
        raise Conflict(f"{path} exists and is not a socket", hint="remove it or choose another --socket")
    return True


def _lock_and_bind(path: str) -> tuple[socket.socket, int]:
    """Listen on `path` (mode 0600), holding `path`.lock so that one server serves it."""
    if len(os.fsencode(path)) > 107:
        raise InvalidInput(f"--socket {path}: a unix socket path is at most 107 bytes")
    _must_be_a_socket(path)  # before anything is created; checked again under the lock
    parent = os.path.dirname(path) or "."
    try:
        if parent == os.path.dirname(DEFAULT_SOCKET):
            os.makedirs(parent, mode=0o755, exist_ok=True)  # only the default's /run/kubenetctl
        elif not os.path.isdir(parent):
            raise NotFound(f"--socket {path}: the directory {parent} does not exist", hint="create it first")
        while True:
            lock = os.open(path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(lock)
                raise Busy(f"another kubenetctl cni server is serving {path}", hint="stop it first") from None
            try:
                if os.stat(path + ".lock").st_ino == os.fstat(lock).st_ino:
                    break  # still the lock file (not one a stopping server just removed)
            except FileNotFoundError:
                pass
            os.close(lock)
    except PermissionError:
        raise PermissionDenied(f"cannot create {path}", hint="run the server as root") from None
    except OSError as exc:
        raise KernelError(f"cannot create {path}: {exc.strerror}") from None
    try:
        if _must_be_a_socket(path):
            os.unlink(path)  # stale: its server is gone, since we hold the lock
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        old = os.umask(0o177)
        try:
            sock.bind(path)
        finally:
            os.umask(old)
        os.chmod(path, 0o600)
        sock.listen(socket.SOMAXCONN)
        sock.setblocking(False)
        return sock, lock
    except BaseException:
        os.close(lock)
        raise


class Server:
    def __init__(self, path: str, timeout: float, log: Callable[[str], None]) -> None:
        self.path, self.timeout, self.log = path, timeout, log
        self.sel = selectors.DefaultSelector()
        self.jobs: set[Job] = set()
        self.pending: dict[socket.socket, float] = {}
        self.listener: socket.socket | None = None
        self.lock = -1
        self.ino = 0
        self.resume_at: float | None = None
        self.stopping = self.aborting = False
        self.served = 0

    # -- life cycle
    def open(self) -> None:
        try:
            os.close(os.pidfd_open(os.getpid()))
        except (AttributeError, OSError):
            raise KernelError("the CNI server needs pidfds (Linux 5.3 or later)") from None
        _stdio_open()
        self.listener, self.lock = _lock_and_bind(self.path)
        self.ino = os.stat(self.path).st_ino
        self.sel.register(self.listener, selectors.EVENT_READ, self._accept)
        self._wake_r, wake_w = socket.socketpair()
        wake_w.setblocking(False)
        self._wake_w = wake_w  # keep it referenced: set_wakeup_fd writes to its fd
        self._wake_r.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, self._woken)
        signal.set_wakeup_fd(wake_w.fileno())
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping:
            self.aborting = True
        self.stopping = True

    def _woken(self, sock: socket.socket) -> None:
        try:
            while sock.recv(64):
                pass
        except BlockingIOError:
            pass

    def _stop_listening(self) -> None:
        if self.listener is None:
            return
        if self.resume_at is None:  # else accepting is paused and it is not registered
            self.sel.unregister(self.listener)
        self.listener.close()
        self.listener = None
        try:
            if os.stat(self.path).st_ino == self.ino:  # still ours, not a newer server's
                os.unlink(self.path)
        except FileNotFoundError:
            pass
        for conn in list(self.pending):
            self.sel.unregister(conn)
            _send(conn, b"Rthe server is stopping")
            conn.close()
        self.pending.clear()
        if self.jobs:
            self.log(f"stopping: no new calls; waiting for {len(self.jobs)} running")

    def close(self) -> None:
        self._stop_listening()
        signal.set_wakeup_fd(-1)
        for job in list(self.jobs):  # only after a second signal: they finish and report on their own
            self._forget(job)
        self.sel.close()
        if self.lock >= 0:
            try:  # remove the lock file while holding it (a newer server re-checks its inode)
                if os.stat(self.path + ".lock").st_ino == os.fstat(self.lock).st_ino:
                    os.unlink(self.path + ".lock")
            except FileNotFoundError:
                pass
            os.close(self.lock)
            self.lock = -1

    def run(self) -> None:
        if threading.active_count() > 1:
            self.log("warning: threads are running; forking them is unsafe")
        gc.freeze()  # imported objects stay put: children share those pages instead of copying them
        while not self.aborting and not (self.stopping and not self.jobs):
            if self.stopping:
                self._stop_listening()
            for key, _ in self.sel.select(self._wait()):
                try:
                    key.data(key.fileobj)
                except Exception as exc:  # one bad call never takes the server down
                    self.log(f"error: {type(exc).__name__}: {exc}")
            self._expire()

    def _wait(self) -> float | None:
        times = [d for d in self.pending.values()] + [j.deadline for j in self.jobs if j.deadline and not j.killed]
        if self.resume_at is not None:
            times.append(self.resume_at)
        return max(0.0, min(times) - time.monotonic()) if times else None

    def _expire(self) -> None:
        now = time.monotonic()
        for conn, deadline in list(self.pending.items()):
            if deadline <= now:
                self.sel.unregister(conn)
                del self.pending[conn]
                conn.close()
        for job in self.jobs:
            if job.deadline is not None and job.deadline <= now:
                job.kill(f"was killed: it timed out after {self.timeout:g} s (kubenetctl cni serve --timeout)")
        if self.resume_at is not None and self.resume_at <= now and self.listener is not None:
            self.resume_at = None
            self.sel.register(self.listener, selectors.EVENT_READ, self._accept)

    # -- one call
    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS: pause instead of spinning
            self.log(f"accept: {exc.strerror}; pausing for 0.1 s")
            self.sel.unregister(listener)
            self.resume_at = time.monotonic() + 0.1
            return
        self.pending[conn] = time.monotonic() + REQUEST_WAIT
        self.sel.register(conn, selectors.EVENT_READ, self._request)

    def _request(self, conn: socket.socket) -> None:
        self.sel.unregister(conn)
        del self.pending[conn]
        fds: list[int] = []
        try:
            data, anc, flags, _ = conn.recvmsg(client.MAX_MESSAGE, socket.CMSG_SPACE(4 * client.NFDS),
                                               socket.MSG_DONTWAIT | socket.MSG_CMSG_CLOEXEC)
            for level, kind, blob in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.extend(client.unpack_fds(blob))
        except OSError:
            data, flags = b"", 0
        started = False
        try:
            if data:
                req, refusal = self._check(conn, data, flags, fds)
                if req is None:
                    _send(conn, b"R" + refusal.encode())
                else:
                    started = self._start(conn, req, fds)
        finally:
            for fd in fds:  # the child has its own copies
                os.close(fd)
            if not started:
                conn.close()

    def _check(self, conn: socket.socket, data: bytes, flags: int, fds: list[int]) -> tuple[client.Request | None, str]:
        if flags & socket.MSG_TRUNC:
            return None, "request too large"
        if flags & socket.MSG_CTRUNC or len(fds) != client.NFDS:
            return None, f"expected {client.NFDS} descriptors"
        pid, uid, _gid = _UCRED.unpack(conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
        if uid != os.geteuid():
            return None, f"uid {uid} is not the server's"
        try:
            req = client.decode(data)
        except ValueError as exc:
            return None, str(exc)
        if req.version != __version__:
            return None, f"the launcher is kubenetctl {req.version}, the server {__version__}: restart the server"
        if req.pid != pid:
            return None, "the caller runs in another PID namespace"
        return req, ""

    def _start(self, conn: socket.socket, req: client.Request, fds: list[int]) -> bool:
        """Fork the call's child; False (and the caller told to run the plugin itself) if it cannot."""
        page = mmap.mmap(-1, mmap.PAGESIZE)
        for stream in (sys.stdout, sys.stderr):  # nothing buffered may reach a caller's stdio
            stream.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            page.close()
            _send(conn, b"R" + f"fork: {exc.strerror}".encode())
            return False
        if pid == 0:
            _child(req, fds, conn, page)
        self.served += 1
        deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        try:
            pidfd = os.pidfd_open(pid)
        except OSError as exc:  # EMFILE: still reap it, waiting for it here
            self.log(f"pidfd_open: {exc.strerror}; waiting for call {pid} before serving others")
            job = Job(conn, pid, -1, page, None, watching=False)
            self.jobs.add(job)
            self._reap(job)
            return True
        job = Job(conn, pid, pidfd, page, deadline)
        self.jobs.add(job)
        self.sel.register(pidfd, selectors.EVENT_READ, lambda _fd: self._reap(job))
        self.sel.register(conn, selectors.EVENT_READ, lambda _c: self._hangup(job))
        return True

    def _hangup(self, job: Job) -> None:
        if job not in self.jobs:  # reaped earlier in the same round of events
            return
        try:
            if job.conn.recv(16, socket.MSG_DONTWAIT):
                return  # callers send nothing after the request; ignore it
        except BlockingIOError:
            return
        except OSError:
            pass
        self.sel.unregister(job.conn)
        job.watching = False
        job.kill("was killed: the caller went away")  # as a runtime kills a plugin it gives up on

    def _reap(self, job: Job) -> None:
        _, status = os.waitpid(job.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        state = job.page[0]
        how = f"exit status {code}" if code >= 0 else f"signal {-code}"
        if state == SETUP:
            _send(job.conn, b"R" + f"the server's child died before the plugin started ({how})".encode())
        elif state == RUNNING and code < 0:
            from kubenetctl.cni import spec

            why = job.killed or f"was killed by signal {-code}"
            err = spec.CniError(spec.INTERNAL, f"kubenetctl-cni: the plugin process {why}",
                                "it ran in a child of `kubenetctl cni serve`; anything it did before is not rolled back")
            _send(job.conn, b"E" + json.dumps(err.to_dict(job.version(spec.SPEC_VERSION))).encode() + b"\n")
        elif state != REPORTED:
            _send(job.conn, b"X%d" % (code if code >= 0 else 128 - code))
        if job.killed or code < 0:
            self.log(f"call {job.pid} {job.killed or 'ended with ' + how}")
        self._forget(job)

    def _forget(self, job: Job) -> None:
        self.jobs.discard(job)
        if job.watching:
            self.sel.unregister(job.conn)
        if job.pidfd >= 0:
            self.sel.unregister(job.pidfd)
            os.close(job.pidfd)
        job.conn.close()
        job.page.close()


def _log(message: str) -> None:
    print(f"kubenetctl cni serve: {message}", file=sys.stderr, flush=True)


def serve(path: str = DEFAULT_SOCKET, timeout: float = DEFAULT_TIMEOUT, log: Callable[[str], None] = _log) -> int:
    """Serve until SIGTERM/SIGINT (then finish the calls in progress; a second signal: exit now)."""
    if timeout < 0:
        raise InvalidInput(f"--timeout {timeout:g}: must be 0 (none) or more seconds")
    preload()
    server = Server(path, timeout, log)
    server.open()
    try:
        log(f"listening on {path} (pid {os.getpid()}, kubenetctl {__version__}, "
            f"timeout {f'{timeout:g} s' if timeout else 'none'})")
        server.run()
    finally:
        server.close()
    log(f"stopped after {server.served} calls")
    return 0
