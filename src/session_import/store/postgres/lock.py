"""The run lock of a PostgreSQL store: session advisory locks, held by a connection of
their own, which the server releases when that connection ends, however its process ended
(a SIGKILL, a host that went away once TCP keepalives give up on it).

An import holds its own key: different imports run at the same time from any hosts, the
same import never twice at once. Every run also holds the store's key shared; a revert
holds it exclusively, as it may touch any import's sessions. The ``run_locks`` table says
who holds a key (host, process, since when, what), for the message of a run that has to
wait; the lock, not the table, decides: a row is believed only while its connection still
holds that key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import psycopg

from session_import.lock import LockBusy
from session_import.store.postgres.url import masked, scrub

BUSY = "Another import is running ({holder})."
CANNOT_CONNECT = "The store {url} cannot be reached: {error}."
# a dead host's connection is dropped by the server after about a minute without answer
KEEPALIVE: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 20,
    "keepalives_interval": 5,
    "keepalives_count": 4,
}
SERVER_KEEPALIVE = (
    "SET tcp_keepalives_idle = 20; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4"
)
_POLL = 0.05


def key(kind: str, name: str = "") -> int:
    """A signed 64-bit advisory lock key, from session-import's own name space."""
    digest = hashlib.sha256(f"session-import\0{kind}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


STORE_KEY = key("store")
SCHEMA_KEY = key("schema")


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


class AdvisoryLock:
    """``acquire`` takes the keys of ``imports`` (each exclusive, in a fixed order, and the
    store's shared), or with ``exclusive_store`` the store's alone, exclusively."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        # psycopg rows are tuples whose columns the SQL says; None while no lock is held
        self.conn: Any = None
        self._held: list[tuple[int, bool]] = []

    def acquire(
        self,
        timeout: float = 0.0,
        what: str = "",
        imports: Iterable[str] = (),
        exclusive_store: bool = False,
        publishing: bool = False,
    ) -> None:
        """``publishing``: the imports' keys shared, so that several hosts publish one
        import at once (each queued change is claimed by one of them) while no run of it
        writes."""
        try:
            self.conn = psycopg.connect(self.conninfo, autocommit=True, **KEEPALIVE)
        except psycopg.Error as exc:
            raise LockBusy(
                CANNOT_CONNECT.format(
                    url=masked(self.conninfo), error=scrub(str(exc).strip(), self.conninfo)
                )
            ) from None
        try:
            self.conn.execute(SERVER_KEEPALIVE)
            self._forget_the_dead()
            wanted = [(STORE_KEY, exclusive_store)]
            if not exclusive_store:
                wanted += [(k, not publishing) for k in sorted({key("import", i) for i in imports})]
            deadline = time.monotonic() + max(timeout, 0.0)
            since = _now()
            for lock_key, exclusive in wanted:
                self._take(lock_key, exclusive, deadline)
                self._say(lock_key, since, what)
        except BaseException:
            self.release()
            raise

    def _forget_the_dead(self) -> None:
        """Rows of connections that ended (a killed run) say nothing any more."""
        with contextlib.suppress(psycopg.errors.UndefinedTable):  # no store yet: opening it says so
            self.conn.execute(
                "DELETE FROM run_locks WHERE backend_pid NOT IN (SELECT pid FROM pg_stat_activity)"
            )

    def _say(self, lock_key: int, since: str, what: str) -> None:
        with contextlib.suppress(psycopg.errors.UndefinedTable):
            self.conn.execute(
                "INSERT INTO run_locks (lock_key, backend_pid, host, pid, since, what)"
                " VALUES (%s, pg_backend_pid(), %s, %s, %s, %s)"
                " ON CONFLICT (lock_key, backend_pid) DO UPDATE SET host = excluded.host,"
                " pid = excluded.pid, since = excluded.since, what = excluded.what",
                (lock_key, socket.gethostname(), os.getpid(), since, what),
            )

    def _take(self, lock_key: int, exclusive: bool, deadline: float) -> None:
        function = "pg_try_advisory_lock" if exclusive else "pg_try_advisory_lock_shared"
        while True:
            if self.conn.execute(f"SELECT {function}(%s)", (lock_key,)).fetchone()[0]:
                self._held.append((lock_key, exclusive))
                return
            if time.monotonic() >= deadline:
                raise LockBusy(BUSY.format(holder=self.holder(lock_key)))
            time.sleep(_POLL)

    def holder(self, lock_key: int) -> str:
        """Who holds the key now: what, since when, which process on which host."""
        try:
            row = self._holder_row(lock_key)
        except psycopg.errors.UndefinedTable:
            row = None
        if row is None:
            return "an import, since an unknown time, process unknown on an unknown host"
        what, since, pid, host = row
        return f"{what or 'an import'}, since {since}, process {pid} on {host}"

    def _holder_row(self, lock_key: int) -> tuple | None:
        return self.conn.execute(
            "SELECT r.what, r.since, r.pid, r.host FROM run_locks r"
            " JOIN pg_locks l ON l.pid = r.backend_pid AND l.locktype = 'advisory'"
            " AND l.granted AND l.objsubid = 1"
            " AND ((l.classid::bigint << 32) | l.objid::bigint) = r.lock_key"
            " WHERE r.lock_key = %s AND r.backend_pid != pg_backend_pid()"
            " ORDER BY l.mode = 'ExclusiveLock' DESC, r.since LIMIT 1",
            (lock_key,),
        ).fetchone()

    def describe(self, what: str) -> None:
        """Say what the holder is doing now (e.g. which run)."""
        if self.conn is not None and self._held:
            with contextlib.suppress(psycopg.errors.UndefinedTable):
                self.conn.execute(
                    "UPDATE run_locks SET what = %s WHERE backend_pid = pg_backend_pid()", (what,)
                )

    def release(self) -> None:
        if self.conn is None:
            return
        try:
            if not self.conn.closed:
                for lock_key, exclusive in reversed(self._held):
                    function = "pg_advisory_unlock" if exclusive else "pg_advisory_unlock_shared"
                    self.conn.execute(f"SELECT {function}(%s)", (lock_key,))
                self.conn.execute("DELETE FROM run_locks WHERE backend_pid = pg_backend_pid()")
        except psycopg.Error:
            pass  # the connection is gone: so are its locks
        finally:
            self._held = []
            self.conn.close()
            self.conn = None

    def __enter__(self) -> AdvisoryLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
