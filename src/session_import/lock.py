"""One import at a time per store: an ``flock`` on a file beside the store.

The kernel drops an flock when its holder dies, however it dies (SIGKILL
included), so a killed run never blocks the next one; the file's content only
says who holds it, for the message of a run that has to wait.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path


class LockBusy(Exception):
    """Another import holds the lock, or the lock file cannot be opened or written (exit 5)."""


class ImportLock:
    def __init__(self, store_path: str | Path):
        self.path = Path(f"{store_path}.lock")
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0, what: str = "") -> None:
        """Take the lock, waiting at most ``timeout`` seconds; LockBusy says who holds it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise LockBusy(f"Cannot open the lock file {self.path}: {exc.strerror}.") from exc
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise LockBusy(f"Another import is running ({holder}).") from None
                time.sleep(0.05)
        self._fd = fd
        self._since = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
        try:
            self._describe(what)
        except OSError as exc:  # a full disk: no import may start, and none half-starts
            self.release()
            raise LockBusy(f"Cannot write the lock file {self.path}: {exc.strerror}.") from exc

    def describe(self, what: str) -> None:
        """Say, in the lock file, what the holder is doing now (e.g. which run)."""
        if self._fd is not None:
            self._describe(what)

    def _describe(self, what: str) -> None:
        data = json.dumps({"pid": os.getpid(), "since": self._since, "what": what}).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            info = json.loads(os.pread(fd, 4096, 0) or b"{}")
        except (OSError, ValueError):
            info = {}
        parts = [info.get("what") or "an import", f"since {info.get('since', 'an unknown time')}",
                 f"process {info.get('pid', 'unknown')}"]
        return ", ".join(parts)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ImportLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
