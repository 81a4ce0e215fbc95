"""Per-lab state on disk: $KUBENETCTL_STATE_DIR/labs/<lab>/{state.json,journal.jsonl}.

- The directory defaults to /var/lib/kubenetctl (KUBENETCTL_STATE_DIR overrides it).
- state.json is replaced atomically (write a temporary file, fsync, rename), so a reader
  sees the old state or the new one, never half of one.
- journal.jsonl is appended to with one write() per record, so a record survives the
  process being killed; it is removed once folded into state.json.
- Every command that changes a lab holds an exclusive flock on the lab's directory;
  another kubenetctl working on the same lab gets a clear "busy" error (exit 8).
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from typing import Any, Iterator

from kubenetctl.errors import Busy, InvalidInput, NotFound, PermissionDenied
from kubenetctl.state.journal import LabState, fold

DEFAULT_STATE_DIR = "/var/lib/kubenetctl"
STATE_FILE = "state.json"
JOURNAL_FILE = "journal.jsonl"


def state_dir(explicit: str | None = None) -> str:
    return explicit or os.environ.get("KUBENETCTL_STATE_DIR") or DEFAULT_STATE_DIR


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Store:
    def __init__(self, root: str | None = None) -> None:
        self.root = state_dir(root)
        self.labs = os.path.join(self.root, "labs")

    def path(self, lab: str, name: str = "") -> str:
        if not lab or "/" in lab or lab in (".", "..") or "\0" in lab:
            raise InvalidInput(f"LAB: {lab!r} is not a lab name", hint="see 'kubenetctl lab list'")
        return os.path.join(self.labs, lab, name) if name else os.path.join(self.labs, lab)

    def exists(self, lab: str) -> bool:
        return os.path.isfile(self.path(lab, STATE_FILE)) or os.path.isfile(self.path(lab, JOURNAL_FILE))

    def names(self) -> list[str]:
        try:
            return sorted(n for n in os.listdir(self.labs) if not n.startswith(".") and os.path.isdir(self.path(n)))
        except FileNotFoundError:
            return []
        except PermissionError:
            raise PermissionDenied(f"cannot read the lab records in {self.labs}",
                                   hint="run as root, or set KUBENETCTL_STATE_DIR to a directory you can read") from None

    def missing(self, lab: str) -> NotFound:
        return NotFound(f"no lab named {lab!r} in {self.labs}", hint="see 'kubenetctl lab list' (or set KUBENETCTL_STATE_DIR)")

    # -- locking ---------------------------------------------------------------------
    @contextmanager
    def lock(self, lab: str, *, create: bool = False) -> Iterator[None]:
        """Hold the lab's lock. create: make its directory if needed (apply)."""
        path = self.path(lab)
        while True:
            if create:
                try:
                    os.makedirs(path, mode=0o700, exist_ok=True)
                except PermissionError:
                    raise PermissionDenied(f"cannot create the state directory {path}", hint="run as root, or set KUBENETCTL_STATE_DIR") from None
            try:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            except FileNotFoundError:
                raise self.missing(lab) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise Busy(f"lab {lab} is busy: another kubenetctl is working on it", hint="wait for it to finish, then retry") from None
                raise
            try:
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break  # still the lab's directory (not removed by a destroy we waited for)
            except FileNotFoundError:
                pass
            os.close(fd)
        try:
            yield
        finally:
            if create:  # nothing was recorded (invalid recipe, conflict): leave no empty directory
                try:
                    os.rmdir(path)
                except OSError:
                    pass
            os.close(fd)

    # -- state -----------------------------------------------------------------------
    def read(self, lab: str) -> LabState | None:
        """The state with any journal left by an interrupted run folded in. A record this
        version cannot make sense of is Busy ("unreadable"), naming the file and why."""
        state_path = self.path(lab, STATE_FILE)
        state = None
        try:
            with open(state_path, "rb") as fh:
                data = json.load(fh)
            if not isinstance(data, dict):
                raise ValueError(f"a JSON {type(data).__name__}, not a lab state object")
            state = LabState.from_dict(data)
        except FileNotFoundError:
            pass
        except PermissionError:
            raise PermissionDenied(f"cannot read the state of lab {lab} ({state_path})", hint="run as root") from None
        except (OSError, ValueError) as exc:
            raise _unreadable(lab, state_path, exc) from None
        try:
            records = self.journal_records(lab)
            if state is None and not records:
                return None
            if state is None:
                from kubenetctl.ownership import lab_owner

                state = LabState(lab, lab_owner(lab), status="applying")
            if records:
                fold(state, records)
                state.status = "interrupted"
        except (OSError, ValueError) as exc:
            raise _unreadable(lab, self.path(lab, JOURNAL_FILE), exc) from None
        return state

    def write(self, lab: str, state: LabState) -> None:
        state.updated = now()
        path = self.path(lab, STATE_FILE)
        tmp = f"{path}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(state.to_dict(), separators=(",", ":")))  # compact: C encoder, 1,000 pods in ms
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)

    def journal_records(self, lab: str) -> list[dict[str, Any]]:
        """The journal's records; a torn last line (the process died mid-write) never
        happened. ValueError for anything else that is not a record."""
        try:
            with open(self.path(lab, JOURNAL_FILE), "rb") as fh:  # PermissionError: read() saw it first
                lines = fh.read().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for n, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
            except ValueError:
                if n == len(lines):
                    break  # a record cut short by a crash: the rest never happened
                raise ValueError(f"line {n} is not a JSON record") from None
            if not isinstance(rec, dict):
                raise ValueError(f"line {n} is a JSON {type(rec).__name__}, not a record")
            out.append(rec)
        return out

    def journal(self, lab: str) -> "JournalWriter":
        return JournalWriter(self.path(lab, JOURNAL_FILE))

    def clear_journal(self, lab: str) -> None:
        try:
            os.unlink(self.path(lab, JOURNAL_FILE))
        except FileNotFoundError:
            pass

    def remove(self, lab: str) -> None:
        """Remove the lab's files and directory (destroy, once nothing is left)."""
        path = self.path(lab)
        for name in os.listdir(path):
            os.unlink(os.path.join(path, name))
        os.rmdir(path)


def _unreadable(lab: str, path: str, exc: Exception) -> Busy:
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Busy(f"the state of lab {lab} is unreadable ({path}: {why})",
                hint="move the file away to start over; objects of the lab then need deleting by hand")


class JournalWriter:
    """Appends one JSON line per record with a single write(): it survives kill -9."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.seq = 0

    def write(self, rec: dict[str, Any]) -> int:
        self.seq += 1
        rec["seq"] = self.seq
        os.write(self.fd, (json.dumps(rec, separators=(",", ":")) + "\n").encode())
        return self.seq

    def close(self) -> None:
        if self.fd >= 0:
            os.fsync(self.fd)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "JournalWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
