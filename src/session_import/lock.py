"""One import at a time per store: an ``flock`` on a file beside the store.

The kernel drops an flock when its holder dies, however it dies (SIGKILL
included), so a killed run never blocks the next one; the file's content only
says who holds it (``"held": true``), or who last held it and when it let go
(``"held": false``), for the message of a run that has to wait and for ``status``.
The flock, not the content, decides: a killed run's file still says ``held``.

The file is opened without following a symbolic link (a link planted under its
name would make a root run truncate whatever it points to), and must be a plain
file with no other name (a hard link).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from session_import.errors import ExitCode, SessionImportError


class LockBusy(SessionImportError):
    """Another import holds the lock, or the lock file cannot be used (exit 5)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class LockMsg(StrEnum):
    BUSY = "Another import is running ({holder})."
    CANNOT_OPEN = "Cannot open the lock file {path}: {reason}."
    CANNOT_WRITE = "Cannot write the lock file {path}: {reason}."
    LINK = (
        "The lock file {path} is a symbolic link (to {target}); session-import never writes "
        "through a link: delete the link (the lock file holds no state) and run again."
    )
    NOT_PLAIN = (
        "The lock file {path} is not a plain file of its own ({what}); session-import never "
        "writes to it: delete it (the lock file holds no state) and run again."
    )


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def read_holder(store_path: str | Path) -> dict:
    """What the lock file says (who holds it or last held it); {} when there is none.
    Read only, never locked: safe while a run holds the lock."""
    path = Path(f"{store_path}.lock")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    finally:
        os.close(fd)
    return info if isinstance(info, dict) else {}


class ImportLock:
    def __init__(self, store_path: str | Path):
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, what: str = "") -> None:
        """Take the lock, waiting at most ``timeout`` seconds; LockBusy says who holds it."""
        fd = self._open()
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise LockBusy(LockMsg.BUSY.format(holder=holder)) from None
                time.sleep(0.05)
        self._fd = fd
        self._since = _now()
        self._what = what
        try:
            self._describe(fd, what)
        except OSError as exc:  # a full disk: no import may start, and none half-starts
            self.release()
            raise LockBusy(
                LockMsg.CANNOT_WRITE.format(path=self.path, reason=exc.strerror)
            ) from exc

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                try:
                    target = os.readlink(self.path)
                except OSError:
                    target = "somewhere else"
                raise LockBusy(LockMsg.LINK.format(path=self.path, target=target)) from exc
            raise LockBusy(
                LockMsg.CANNOT_OPEN.format(path=self.path, reason=exc.strerror or exc)
            ) from exc
        info = os.fstat(fd)
        what = None
        if not stat.S_ISREG(info.st_mode):
            what = "not a regular file"
        elif info.st_nlink > 1:
            what = f"a file with {info.st_nlink} names (hard links)"
        if what is not None:
            os.close(fd)
            raise LockBusy(LockMsg.NOT_PLAIN.format(path=self.path, what=what))
        return fd

    def describe(self, what: str) -> None:
        """Say, in the lock file, what the holder is doing now (e.g. which run)."""
        if self._fd is not None:
            self._describe(self._fd, what)

    def _describe(self, fd: int, what: str, **released) -> None:
        self._what = what
        data = json.dumps(
            {
                "held": not released,
                "pid": os.getpid(),
                "since": self._since,
                "what": what,
                **released,
            }
        ).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            info = {}
        parts = [
            info.get("what") or "an import",
            f"since {info.get('since', 'an unknown time')}",
            f"process {info.get('pid', 'unknown')}",
        ]
        return ", ".join(parts)

    def release(self) -> None:
        if self._fd is not None:
            # a full disk must not keep the lock: the flock is what counts
            with contextlib.suppress(OSError):
                self._describe(self._fd, self._what, released=_now())
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ImportLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
