"""The exit codes, and the one base of every fatal error.

A fatal cause is a subclass of ``SessionImportError`` that carries its exit code, so the
command layer turns any of them into a message and an exit with one ``except``.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every row applied (warnings allowed), or an empty file
    PARTIAL = 1  # some rows rejected, the others applied
    USAGE = 2  # command-line usage error
    FILE_FAILED = 3  # a file failed as a whole, or every one of its rows was rejected
    CONFIG_INVALID = 4  # the configuration is invalid; nothing was run
    STORE_UNAVAILABLE = 5  # the store cannot be opened, or another import holds the lock
    PUBLISH_PENDING = 6  # applied to the store, some changes not yet delivered to a remote LMS
    HELD = 7  # a file tripped a safety limit and is held for approval (approve or discard it)
    SIGINT = 130
    SIGTERM = 143


# how bad each code is, for the worst of several files
_SEVERITY = [
    ExitCode.OK,
    ExitCode.PUBLISH_PENDING,
    ExitCode.PARTIAL,
    ExitCode.HELD,
    ExitCode.FILE_FAILED,
    ExitCode.CONFIG_INVALID,
    ExitCode.STORE_UNAVAILABLE,
    ExitCode.SIGINT,
    ExitCode.SIGTERM,
]


def worst(codes) -> ExitCode:
    return max((ExitCode(c) for c in codes), key=_SEVERITY.index, default=ExitCode.OK)


class SessionImportError(Exception):
    """A problem that stops a command: the message says what and how to fix it."""

    exit_code: ExitCode = ExitCode.FILE_FAILED

    def explain(self) -> str:
        """What the user reads: the message, which says what to do."""
        return str(self)
