"""`session-import copy-store SRC DST`: a whole store into an empty one, SQLite to
PostgreSQL or back, in one transaction of the destination; the rows of every table are
counted on both sides afterwards.

Both stores are at the current schema version (opening the source migrates it first).
Ids are kept, and so is each table's high-water mark (the next id a store hands out): a
copied store goes on exactly as the original would have.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import psycopg

from session_import.errors import ExitCode, SessionImportError
from session_import.store.digests import DIGEST_COLUMNS

# in an order that every reference points backwards (groups refer to groups: deferred)
TABLES = {
    "trainings": [
        "id",
        "guid",
        "path_code",
        "title",
        "locale",
        "modality",
        "description",
        "created_by_import",
        "updated_by_import",
    ],
    "users": [
        "id",
        "login",
        "ref_number",
        "email",
        "name",
        "firstname",
        "created_by_import",
        "updated_by_import",
    ],
    "groups": ["id", "guid", "name", "parent_id", "created_by_import", "updated_by_import"],
    "sessions": [
        "id",
        "guid",
        "title",
        "status",
        "start_date",
        "end_date",
        "training_id",
        "teacher_id",
        "group_id",
        "created_by_import",
        "updated_by_import",
    ],
    "runs": [
        "id",
        "import_id",
        "action",
        "file",
        "sha256",
        "started_at",
        "ended_at",
        "dry_run",
        "counts",
        "exit_code",
        "reverts_run",
        "pid",
        "kind",
        "reason",
        "applied_by",
    ],
    "journal": [
        "run_id",
        "seq",
        "line",
        "table_name",
        "op",
        "record_id",
        "guid",
        "before",
        "after",
    ],
    "outbox": [
        "id",
        "import_id",
        "publisher",
        "run_id",
        "line",
        "session_id",
        "kind",
        "session",
        "changed",
        "row",
        "state",
        "attempted",
        "message",
        "warning",
        "done_at",
    ],
    "remote_ids": ["session_id", "publisher", "remote_id"],
    "remote_calls": ["publisher", "at"],
    "consolidators_due": ["run_id", "import_id", "names", "backup", "stamp", "reports"],
    "consolidators_due_rows": ["run_id", "report", "kind", "entry"],
    "commands": [
        "id",
        "import_id",
        "command",
        "started_at",
        "ended_at",
        "exit_code",
        "counts",
        "seconds",
        "runs_after",
        "pid",
    ],
    "held_runs": [
        "run_id",
        "import_id",
        "config",
        "config_sha256",
        "file",
        "sha256",
        "reason",
        "counts",
        "held_at",
        "state",
        "decided_at",
        "applied_by",
    ],
    "held_sessions": ["run_id", "session_id", "guid", "title", "op", "before"],
    "import_digests": ["import_id", *DIGEST_COLUMNS],
}
# the tables whose ids a store hands out itself, with a high-water mark to carry over
COUNTED_IDS = ("trainings", "users", "groups", "sessions", "runs", "outbox", "commands")
_ORDER = {
    "journal": "run_id, seq",
    "remote_ids": "session_id, publisher",
    "remote_calls": "publisher, at",
    "consolidators_due": "run_id",
    "held_runs": "run_id",
    "import_digests": "import_id, key",
}
_BATCH = 5000


class NotEmpty(Exception):
    """The destination already holds rows: (table, count) each."""


class CountsDiffer(Exception):
    """After the copy, a table holds another number of rows than the source's."""


class CopyMsg(StrEnum):
    COPIED = (
        "Copied the store {src} into {dst} (schema version {version}): {counts}; every"
        " table's rows were counted on both sides."
    )
    NOT_EMPTY = (
        "The store {dst} is not empty ({tables}); nothing was copied: copy-store copies into"
        " an empty store only (a new SQLite file, or an empty database)."
    )
    SAME = "{src} and {dst} are the same store; nothing was copied."
    COUNTS = "After copying {src} into {dst}, the rows differ ({tables}); the copy was rolled back."


class CopyRefused(SessionImportError):
    """copy-store was given a destination it must not write (exit 2)."""

    exit_code = ExitCode.USAGE


class CopyFailed(SessionImportError):
    """The copy did not hold the source's rows: it was rolled back (exit 5)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


@dataclass
class Copied:
    counts: dict[str, int]


def _is_pg(conn) -> bool:
    return isinstance(conn, psycopg.Connection)


def _order(conn, table: str) -> str:
    if table in _ORDER:
        return _ORDER[table]
    if table in ("consolidators_due_rows", "held_sessions"):
        return "id" if _is_pg(conn) else "rowid"
    return "id"


def _count(conn, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def counts(conn) -> dict[str, int]:
    return {table: _count(conn, table) for table in TABLES}


def _rows(conn, table: str) -> Iterator[tuple]:
    sql = f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {_order(conn, table)}"
    if _is_pg(conn):
        with conn.cursor(name=f"copy_{table}", withhold=True) as cursor:
            cursor.itersize = _BATCH
            cursor.execute(sql)
            yield from cursor
    else:
        yield from conn.execute(sql)


def _marks(conn) -> dict[str, int]:
    """table -> the highest id it ever handed out."""
    if _is_pg(conn):
        marks = dict(conn.execute("SELECT table_name, last_id FROM id_marks").fetchall())
        for table in ("runs", "outbox", "commands"):
            last = conn.execute(
                "SELECT last_value FROM pg_sequences WHERE schemaname = current_schema()"
                " AND sequencename = %s",
                (f"{table}_id_seq",),
            ).fetchone()
            if last and last[0] is not None:
                marks[table] = last[0]
    else:
        marks = dict(conn.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    for table in COUNTED_IDS:
        top = conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0] or 0
        marks[table] = max(marks.get(table, 0), top)
    return marks


def _write_marks(conn, marks: dict[str, int]) -> None:
    if _is_pg(conn):
        for table in ("trainings", "users", "groups", "sessions"):
            conn.execute(
                "INSERT INTO id_marks (table_name, last_id) VALUES (%s, %s)"
                " ON CONFLICT (table_name) DO UPDATE SET last_id = excluded.last_id",
                (table, marks[table]),
            )
        for table in ("runs", "outbox", "commands"):
            if marks[table]:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), %s)", (marks[table],)
                )
    else:
        conn.execute("DELETE FROM sqlite_sequence")
        conn.executemany(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)",
            [(t, m) for t, m in marks.items() if m and t in COUNTED_IDS],
        )


def _insert(conn, table: str, rows: Iterator[tuple]) -> None:
    columns = TABLES[table]
    if _is_pg(conn):
        with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def copy_store(source, destination) -> Copied:
    """Copy every table of ``source``'s connection into ``destination``'s (stores opened
    at the current schema); NotEmpty refuses a destination that holds any row."""
    src, dst = source.conn, destination.conn
    held = {table: n for table, n in counts(dst).items() if n}
    if held:
        raise NotEmpty(held)
    expected = counts(src)
    with destination.transaction():
        if _is_pg(dst):
            dst.execute("SET CONSTRAINTS ALL DEFERRED")
        else:
            dst.execute("PRAGMA defer_foreign_keys = ON")
        for table in TABLES:
            _insert(dst, table, _rows(src, table))
        _write_marks(dst, _marks(src))
        found = counts(dst)
        if found != expected:
            differ = {t: (expected[t], found[t]) for t in TABLES if expected[t] != found[t]}
            raise CountsDiffer(differ)
    return Copied(expected)


def _same(src: str, dst: str) -> bool:
    from session_import.store import is_postgres_url

    if is_postgres_url(src) or is_postgres_url(dst):
        return src == dst
    try:
        return os.path.samefile(src, dst)
    except OSError:
        return os.path.realpath(src) == os.path.realpath(dst)


def _copied(source, target, src: str, dst: str) -> Copied:
    from session_import.store import shown

    try:
        return copy_store(source, target)
    except NotEmpty as exc:
        tables = ", ".join(f"{n} {t}" for t, n in exc.args[0].items())
        raise CopyRefused(CopyMsg.NOT_EMPTY.format(dst=shown(dst), tables=tables)) from None
    except CountsDiffer as exc:
        tables = ", ".join(f"{t}: {a} then {b}" for t, (a, b) in exc.args[0].items())
        raise CopyFailed(
            CopyMsg.COUNTS.format(src=shown(src), dst=shown(dst), tables=tables)
        ) from None


def copy_between(src: str, dst: str, lock_timeout: float = 0.0) -> str:
    """`session-import copy-store SRC DST`: both stores locked as a revert locks them (no
    run writes to either meanwhile); DST is created when it does not exist (an SQLite file)
    or holds no store (a database). What was done, as a sentence."""
    from session_import.store import SCHEMA_VERSION, open_store, run_lock, shown

    if _same(src, dst):
        raise CopyRefused(CopyMsg.SAME.format(src=shown(src), dst=shown(dst)))
    locks = [run_lock(src), run_lock(dst)]
    try:
        for lock in locks:
            lock.acquire(lock_timeout, what="session-import copy-store", exclusive_store=True)
        source = open_store(src, create=False)
        try:
            target = open_store(dst, create=True)
            try:
                copied = _copied(source, target, src, dst)
            finally:
                target.close()
        finally:
            source.close()
    finally:
        for lock in reversed(locks):
            lock.release()
    counts_text = ", ".join(f"{n} {t}" for t, n in copied.counts.items() if n) or "no rows"
    return CopyMsg.COPIED.format(
        src=shown(src), dst=shown(dst), version=SCHEMA_VERSION, counts=counts_text
    )
