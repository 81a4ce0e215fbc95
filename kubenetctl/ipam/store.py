"""The reference host-local plugin's on-disk store, byte for byte.

    <dataDir>/<network>/lock                  flock(LOCK_EX) around every change
    <dataDir>/<network>/<ip>                  "<containerID>\\r\\n<ifname>", created O_EXCL
    <dataDir>/<network>/last_reserved_ip.<i>  the last address reserved from range set i

host-local writes "\\r\\n" between id and ifname; files with "\\n" (hand-made, or other
implementations) and the legacy one-line form (container id only) are read too. Because
both implementations take the same flock and create each address file with O_EXCL, the
reference plugin and kubenetctl can share one data directory without handing out an
address twice. Pure file I/O: no kernel objects.
"""

from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from kubenetctl.errors import Busy, InvalidInput, PermissionDenied

CNI_STATE_DIR = "/var/lib/cni"  # libcni's: results/ (its cache) and networks/ (host-local's store)
DEFAULT_DATA_DIR = CNI_STATE_DIR + "/networks"
LAST_IP_PREFIX = "last_reserved_ip."
LOCK_FILE = "lock"
LINE_BREAK = "\r\n"
# CNI's rule for network names and container ids (libcni utils.cniReg): no '/', no '..'
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class StoreCorrupt(Busy):
    """A store file that cannot be read as host-local wrote it."""


@dataclass(frozen=True)
class Allocation:
    ip: str
    container_id: str
    ifname: str | None  # None: the legacy one-line file (container id only)
    path: str

    def to_dict(self) -> dict[str, str | None]:
        return {"ip": self.ip, "containerID": self.container_id, "ifname": self.ifname}

    def attached(self, valid: set[tuple[str, str]]) -> bool:
        """Is it one of these (container id, ifname) attachments? A legacy file, which names
        no interface, belongs to every attachment of its container."""
        if self.ifname is None:
            return any(cid == self.container_id for cid, _ in valid)
        return (self.container_id, self.ifname) in valid


def attachment(text: str, field: str) -> tuple[str, str]:
    """CONTAINER_ID[/IFNAME] as typed on a command line (the interface defaults to eth0)."""
    cid, _, ifname = text.partition("/")
    if not cid:
        raise InvalidInput(f"{field}: {text!r} is not CONTAINER_ID[/IFNAME]")
    return cid, ifname or "eth0"


def check_network_name(name: str, field: str = "name") -> str:
    if not isinstance(name, str) or not SAFE_NAME.match(name):
        raise InvalidInput(
            f"{field}: network name {name!r} may only hold letters, digits, '_', '.' and '-' and must start "
            "with a letter or digit",
            hint="it names a directory under the IPAM data directory",
        )
    return name


def parse_owner(text: str) -> tuple[str, str | None] | None:
    """(container id, ifname) from an address file's content; None when unreadable."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) == 1 and lines[0]:
        return lines[0], None
    if len(lines) == 2 and lines[0] and lines[1]:
        return lines[0], lines[1]
    return None


def _ip_name(name: str) -> str | None:
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return None


class FileStore:
    def __init__(self, data_dir: str | None, network: str) -> None:
        self.data_dir = data_dir or DEFAULT_DATA_DIR
        self.network = check_network_name(network)
        self.dir = os.path.join(self.data_dir, network)

    # -- locking ------------------------------------------------------------------
    @contextmanager
    def locked(self, timeout: float = 60.0) -> Iterator["FileStore"]:
        """Hold host-local's lock (flock on <dir>/lock); Busy after `timeout` seconds."""
        try:
            os.makedirs(self.dir, mode=0o755, exist_ok=True)
            fd = os.open(os.path.join(self.dir, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError:
            raise PermissionDenied(f"cannot open the IPAM store {self.dir}", hint="run as root") from None
        except OSError as exc:
            raise Busy(f"cannot open the IPAM store {self.dir}: {exc.strerror}") from None
        try:
            deadline = time.monotonic() + timeout
            pause = 0.0005
            while True:  # flock has no timeout: try, then back off (0.5 ms doubling to 20 ms)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise Busy(f"the IPAM store {self.dir} stayed locked for {timeout:.0f} s",
                                   hint="another CNI plugin holds it; try again") from None
                    time.sleep(pause)
                    pause = min(pause * 2, 0.02)
            yield self
        finally:
            os.close(fd)  # closing drops the flock

    # -- reading ------------------------------------------------------------------
    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def _read(self, path: str) -> str:
        try:
            with open(path, "rb") as fh:
                return fh.read(4096).decode("utf-8")
        except UnicodeDecodeError:
            raise StoreCorrupt(f"{path}: not a text file", hint=self._repair_hint(path)) from None

    def _repair_hint(self, path: str) -> str:
        return f"look at it and delete it if no container uses {os.path.basename(path)} (this frees the address)"

    def allocations(self) -> list[Allocation]:
        """Every address file, sorted by address; StoreCorrupt names an unreadable one."""
        out = []
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        for name in names:
            ip = _ip_name(name)
            if ip is None:
                continue  # lock, last_reserved_ip.N, or not ours
            path = os.path.join(self.dir, name)
            try:
                text = self._read(path)
            except FileNotFoundError:  # released meanwhile
                continue
            owner = parse_owner(text)
            if owner is None:
                raise StoreCorrupt(
                    f"{path}: expected '<container id>' and '<ifname>' on two lines, found {text[:60]!r}",
                    hint=self._repair_hint(path),
                )
            out.append(Allocation(ip, owner[0], owner[1], path))
        return sorted(out, key=lambda a: ipaddress.ip_address(a.ip).packed.rjust(16, b"\0"))

    def owner_of(self, ip: str) -> tuple[str, str | None] | None:
        path = os.path.join(self.dir, ip)
        try:
            text = self._read(path)
        except FileNotFoundError:
            return None
        owner = parse_owner(text)
        if owner is None:
            raise StoreCorrupt(f"{path}: unreadable content {text[:60]!r}", hint=self._repair_hint(path))
        return owner

    def by_id(self, container_id: str, ifname: str) -> list[Allocation]:
        return [a for a in self.allocations() if a.container_id == container_id.strip() and a.ifname == ifname]

    def last_reserved(self, range_id: int) -> str | None:
        path = os.path.join(self.dir, f"{LAST_IP_PREFIX}{range_id}")
        try:
            text = self._read(path).strip()
        except FileNotFoundError:
            return None
        if _ip_name(text) is None:
            raise StoreCorrupt(
                f"{path}: {text[:60]!r} is not an IP address",
                hint="delete it: allocation then restarts from the start of the range",
            )
        return text

    # -- changing (call with the lock held) ------------------------------------------
    def reserve(self, ip: str, container_id: str, ifname: str, range_id: int) -> bool:
        """Create <dir>/<ip> with O_EXCL; False when the address is taken."""
        path = os.path.join(self.dir, ip)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, (container_id.strip() + LINE_BREAK + ifname).encode())
        except OSError:
            os.close(fd)
            os.unlink(path)
            raise
        os.close(fd)
        self.set_last_reserved(range_id, ip)
        return True

    def set_last_reserved(self, range_id: int, ip: str | None) -> None:
        path = os.path.join(self.dir, f"{LAST_IP_PREFIX}{range_id}")
        if ip is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
            return
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w") as fh:
            fh.write(ip)
        os.replace(tmp, path)

    def release(self, ip: str, container_id: str | None = None, ifname: str | None = None) -> bool:
        """Delete <dir>/<ip>; with an owner given, only if the file names that owner."""
        path = os.path.join(self.dir, ip)
        if container_id is not None:
            owner = self.owner_of(ip)
            if owner is None or owner[0] != container_id.strip() or (ifname is not None and owner[1] not in (ifname, None)):
                return False
        try:
            os.unlink(path)
            return True
        except FileNotFoundError:
            return False
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                raise PermissionDenied(f"cannot delete {path}", hint="run as root") from None
            raise

    def release_by_id(self, container_id: str, ifname: str) -> list[str]:
        """host-local's ReleaseByID: every address of (id, ifname); when none match, the
        legacy files that hold only the container id."""
        allocs = self.allocations()
        cid = container_id.strip()
        match = [a for a in allocs if a.container_id == cid and a.ifname == ifname]
        if not match:
            match = [a for a in allocs if a.container_id == cid and a.ifname is None]
        return [a.ip for a in match if self.release(a.ip)]
