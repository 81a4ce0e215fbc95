"""Errors a person can act on, each with a documented exit code.

Every error kubenetctl raises on purpose is a KubenetError: one line that says what
went wrong and where, an optional hint, and the exit code the CLI returns. The table
below is the contract documented in the README; scripts may branch on it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: unexpected exception (rerun with -vv for the traceback)
    USAGE = 2  # bad input: invalid name, CIDR, MAC, VLAN id, VNI, port, MTU, option, recipe
    NOT_FOUND = 3  # something referenced does not exist (namespace, link, lab, config)
    CONFLICT = 4  # exists with another kind/attributes, or not created by kubenetctl
    PERMISSION = 5  # needs root (CAP_NET_ADMIN / CAP_SYS_ADMIN)
    UNSUPPORTED = 6  # this kernel lacks the feature (802.1Q, ipvlan, ...)
    CHECK_FAILED = 7  # a connectivity expectation or CNI CHECK failed
    BUSY = 8  # another kubenetctl holds the lock, or recorded state is unreadable
    KERNEL = 9  # the kernel refused an operation for another reason


EXIT_CODE_DOCS: dict[ExitCode, str] = {
    ExitCode.OK: "success (also: nothing to do, or already in the wanted state)",
    ExitCode.INTERNAL: "internal error: a bug; rerun with -vv for the traceback and report it",
    ExitCode.USAGE: "invalid input: name, CIDR, MAC, VLAN id, VNI, port, MTU, option or recipe field",
    ExitCode.NOT_FOUND: "a namespace, link, lab or file that was named does not exist",
    ExitCode.CONFLICT: "an object exists with another kind or attributes, or kubenetctl did not create it",
    ExitCode.PERMISSION: "not allowed: run as root (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)",
    ExitCode.UNSUPPORTED: "this kernel lacks the feature (for example 802.1Q VLAN or ipvlan)",
    ExitCode.CHECK_FAILED: "a connectivity expectation or a CNI CHECK failed",
    ExitCode.BUSY: "another kubenetctl holds the lock, or the recorded state is unreadable",
    ExitCode.KERNEL: "the kernel refused the operation for another reason (message says which)",
}


class KubenetError(Exception):
    """Base of every error meant for a person. `str(err)` is the one-line message."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


class InvalidInput(KubenetError):
    exit_code = ExitCode.USAGE


class NotFound(KubenetError):
    exit_code = ExitCode.NOT_FOUND


class Conflict(KubenetError):
    exit_code = ExitCode.CONFLICT


class PermissionDenied(KubenetError):
    exit_code = ExitCode.PERMISSION


class Unsupported(KubenetError):
    exit_code = ExitCode.UNSUPPORTED


class CheckFailed(KubenetError):
    exit_code = ExitCode.CHECK_FAILED


class Busy(KubenetError):
    exit_code = ExitCode.BUSY


class KernelError(KubenetError):
    exit_code = ExitCode.KERNEL
