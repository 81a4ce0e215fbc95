"""The launcher's side of `kubenetctl cni serve`: hand one plugin call to the resident
server, or report that none answered so that the launcher runs the plugin itself.

The lean launcher (cni/install.py) imports this before anything else, under python -I -S,
so it loads only what costs nothing: `sys` and `posix` are built in and `_socket` is one
small extension module. `socket` would add ~6 ms for its enums and `json` ~7 ms, against
a whole call of a few ms through the server (bench/cni.py measures it).

The protocol, one SOCK_SEQPACKET connection per call (each message arrives whole):

  request  "kncni/1" NUL version NUL pid NUL umask NUL argc NUL argv... NUL env...
           (kubenetctl's version, this process's pid and umask, argv, then K=V pairs; all
           bytes, NUL-separated), carrying six descriptors with SCM_RIGHTS: stdin, stdout,
           stderr, this process's network namespace, mount namespace and working directory.
  replies  R<reason>  refused before the plugin started: nothing ran, run it in process
           S          the plugin started: from here on a fallback could run it twice
           X<status>  the plugin's exit status; the caller still waits for the end of the
                      connection, which comes once the plugin process has exited
           E<json>    the plugin process died or timed out before writing anything:
                      print this spec error JSON and exit 1

call() returns the exit status, or None when the plugin did not start (no server, a
stale socket, a socket not owned by our uid, a refusal, KUBENETCTL_CNI_NO_SERVER=1).
Once S has arrived it never returns None: if the connection then ends without a status
(the server and the plugin process both died), the error is printed and the status is 1.
"""

import posix
import sys

DEFAULT_SOCKET = "/run/kubenetctl/cni.sock"
MAGIC = b"kncni/1"
NO_SERVER_ENV = b"KUBENETCTL_CNI_NO_SERVER"
SOCKET_ENV = b"KUBENETCTL_CNI_SOCKET"
NFDS = 6  # stdin, stdout, stderr, netns, mntns, cwd
MAX_MESSAGE = 1 << 17  # a request must fit in one datagram of the socket's send buffer
LOST = (b'{"cniVersion": "1.1.0", "code": 999, "msg": "kubenetctl-cni: the server and the plugin '
        b'process went away before reporting; the outcome of this call is unknown"}\n')


def encode(version: str, pid: int, umask: int, argv: list[bytes], environ: list[bytes]) -> bytes:
    """The request message (without its descriptors)."""
    head = [MAGIC, version.encode(), b"%d" % pid, b"%d" % umask, b"%d" % len(argv)]
    for field in (*argv, *environ):
        if b"\0" in field:
            raise ValueError("a NUL byte in argv or the environment")
    return b"\0".join(head + list(argv) + list(environ))


class Request:
    """A decoded request: what the server's child needs to become the plugin process."""

    def __init__(self, version: str, pid: int, umask: int, argv: list[bytes], environ: dict[bytes, bytes]) -> None:
        self.version, self.pid, self.umask, self.argv, self.environ = version, pid, umask, argv, environ


def decode(data: bytes) -> Request:
    """Parse a request message; ValueError says what is wrong with it."""
    fields = data.split(b"\0")
    if len(fields) < 5 or fields[0] != MAGIC:
        raise ValueError("not a kubenetctl-cni request (protocol kncni/1)")
    try:
        pid, umask, argc = int(fields[2]), int(fields[3]), int(fields[4])
    except ValueError:
        raise ValueError("malformed request header") from None
    if argc < 1 or len(fields) < 5 + argc or not 0 <= umask <= 0o777:
        raise ValueError("malformed request header")
    environ = {}
    for item in fields[5 + argc:]:
        key, sep, value = item.partition(b"=")
        if not sep or not key:
            raise ValueError(f"malformed environment entry {item[:40]!r}")
        environ[key] = value
    return Request(fields[1].decode(errors="replace"), pid, umask, fields[5:5 + argc], environ)


def pack_fds(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)


def unpack_fds(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 4], sys.byteorder, signed=True) for i in range(0, len(data) - len(data) % 4, 4)]


def socket_path(default: str) -> bytes | None:
    """Where to look for the server, or None when the environment says not to."""
    env = posix.environ
    if env.get(NO_SERVER_ENV, b"0") not in (b"", b"0"):
        return None
    return env.get(SOCKET_ENV) or default.encode()


def _say(text: str) -> None:
    try:
        posix.write(2, f"kubenetctl-cni: {text}\n".encode(errors="replace"))
    except OSError:
        pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[posix.write(fd, data):]


def _own_fds() -> list[int]:
    flags = posix.O_RDONLY | posix.O_CLOEXEC
    opened: list[int] = []
    try:
        for path in (b"/proc/self/ns/net", b"/proc/self/ns/mnt"):
            opened.append(posix.open(path, flags))
        opened.append(posix.open(b".", posix.O_PATH | posix.O_DIRECTORY | posix.O_CLOEXEC))
    except OSError:
        for fd in opened:
            posix.close(fd)
        raise
    return opened


def _replies(sock, path: bytes) -> int | None:  # type: ignore[no-untyped-def]
    started = False
    while True:
        msg = sock.recv(MAX_MESSAGE)
        kind = msg[:1]
        if kind == b"X":
            # The end of the connection means the plugin process is gone (its copy closes at its exit,
            # the server's once it has reaped it): return no earlier than an exec'd plugin would.
            while sock.recv(MAX_MESSAGE):
                pass
            return int(msg[1:])
        if kind == b"S":
            started = True
        elif kind == b"E":
            _write_all(1, msg[1:])
            return 1
        elif kind == b"R" and not started:
            _say(f"the server at {path.decode(errors='replace')} refused the call "
                 f"({msg[1:].decode(errors='replace')}); running in process")
            return None
        elif not msg:  # the connection ended without a status
            if not started:
                return None
            _write_all(1, LOST)
            return 1


def call(default_socket: str, version: str) -> int | None:
    """Run this plugin call through the server: its exit status, or None if it did not start."""
    path = socket_path(default_socket)
    if path is None:
        return None
    try:
        posix.stat(path)
    except OSError:
        return None  # no server on this node: the common case costs one stat
    import _socket

    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
    try:
        try:
            sock.connect(path)
            cred = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, 12)
        except OSError:
            return None  # stale socket (no listener), or not ours to use
        if int.from_bytes(cred[4:8], sys.byteorder) != posix.geteuid():
            _say(f"{path.decode(errors='replace')} is not served by this user; running in process")
            return None
        umask = posix.umask(0o022)
        posix.umask(umask)
        env = [k + b"=" + v for k, v in posix.environ.items()]
        argv = [a.encode(sys.getfilesystemencoding(), "surrogateescape") for a in sys.argv]
        message = encode(version, posix.getpid(), umask, argv, env)
        if len(message) > MAX_MESSAGE:
            return None
        try:
            fds = _own_fds()
        except OSError:
            return None
        try:
            sock.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, pack_fds([0, 1, 2, *fds]))])
        except OSError:
            return None  # e.g. a closed stdin: nothing was sent
        finally:
            for fd in fds:
                posix.close(fd)
        return _replies(sock, path)
    finally:
        sock.close()
