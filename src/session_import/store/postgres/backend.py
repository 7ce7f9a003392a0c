"""The PostgreSQL store: the SQLite store's methods, the same answers, over psycopg 3.

Look-ups take sets of keys (``= ANY(%s)``, one query per chunk of rows); a chunk's
creates, its journal and its outbox go in with ``COPY``, its updates through a temporary
table when there are many. Inside a file's transaction every record read is locked
(``FOR UPDATE``): a second run that reads the same session waits for the first's commit
and then sees its values, so no update is lost. Ids are handed out as on SQLite (the next
after the highest ever used, never reused) from a per-table high-water mark, locked from
a file's first create to its commit: files that create records of one table commit one
after the other, the rest runs side by side.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from enum import StrEnum
from operator import attrgetter
from typing import Any

import psycopg

from session_import.model import RECORD_TYPES, RecordOp
from session_import.publishers.payload import changed_fields, session_payload
from session_import.store.interface import BackupRefused, StoreError, StoreUnavailable
from session_import.store.postgres import schema
from session_import.store.postgres.digests import PgDigests
from session_import.store.postgres.held import PgHeldRuns
from session_import.store.postgres.lock import KEEPALIVE, SCHEMA_KEY, SERVER_KEEPALIVE, key
from session_import.store.postgres.pace import SharedPacer
from session_import.store.postgres.url import masked, scrub

WRITE_WAIT_SECONDS = 600.0
_UPDATE_VIA_COPY = 64  # updates of one table in a chunk above which a temporary table pays
_RUN_IDS_KEY = key("run ids")
# changes a publishing worker claims at a time: small enough that workers share a queue,
# as large as a Perculus batch
CLAIM_PAGE = 100

RECORD_TABLES = ("trainings", "users", "groups", "sessions")


RECORDS = RECORD_TYPES
COLUMNS = {table: [f.name for f in fields(cls)] for table, cls in RECORDS.items()}
GETTERS = {cls: attrgetter(*COLUMNS[table]) for table, cls in RECORDS.items()}
NAMES = {cls: COLUMNS[table] for table, cls in RECORDS.items()}
REFERENCES = {
    "training_id": ("trainings", "path_code"),
    "teacher_id": ("users", "login"),
    "group_id": ("groups", "name"),
    "parent_id": ("groups", "name"),
}
_encode = json.JSONEncoder(ensure_ascii=False).encode


class PgMsg(StrEnum):
    CANNOT_CONNECT = "The store {url} cannot be reached: {error}."
    MISSING = (
        "The database {url} holds no session-import store; nothing was read. Create it with"
        " `session-import init --db {url}`, or give the --db (or SESSION_IMPORT_DB) of the store"
        " you meant."
    )
    NEWER = (
        "The store {url} has schema version {version}, newer than this session-import knows"
        " ({known}); upgrade session-import."
    )
    FOREIGN = (
        "The database {url} holds tables named as a session-import store's ({tables}) but no"
        " schema version: they are not session-import's; give another database, or another"
        " schema first in its search_path."
    )
    CREATED = "Created the store {url} (schema version {version})."
    EXISTS = "The store {url} already exists (schema version {version}); it was left as it is."
    EXISTS_OLDER = (
        "The store {url} already exists (schema version {version}); it was left as it is (the"
        " next command that opens it upgrades it to version {known})."
    )
    FAILED = "The store {url} failed: {error}"
    NO_BACKUP = (
        "session-import backup copies an SQLite store; back up the PostgreSQL store {url} with"
        ' pg_dump (README, "A PostgreSQL store").'
    )


def _unavailable(url: str, exc: BaseException) -> StoreUnavailable:
    """What a command says of a store it cannot open, password masked."""
    if isinstance(exc, schema.NoStore):
        return StoreUnavailable(PgMsg.MISSING.format(url=masked(url)))
    if isinstance(exc, schema.NewerSchema):
        return StoreUnavailable(
            PgMsg.NEWER.format(url=masked(url), version=exc.version, known=schema.SCHEMA_VERSION)
        )
    if isinstance(exc, schema.ForeignTables):
        return StoreUnavailable(
            PgMsg.FOREIGN.format(url=masked(url), tables=", ".join(exc.args[0]))
        )
    error = scrub(str(exc).strip().replace("\n", " "), url)
    return StoreUnavailable(PgMsg.CANNOT_CONNECT.format(url=masked(url), error=error))


def _store_error(store: PostgresStore, exc: psycopg.Error) -> StoreError:
    return StoreError(store.scrub(str(exc).strip()))


def _raising_store_errors(method):
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self, *args, **kwargs):
            try:
                yield from method(self, *args, **kwargs)
            except psycopg.Error as exc:
                raise _store_error(self, exc) from exc

        return generator

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise _store_error(self, exc) from exc

    return call


def raising_store_errors(cls):
    """No public method lets a psycopg error out: each becomes a StoreError in the server's
    words, the URL's password masked. A method that returns rows lazily translates its own."""
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_") and name not in ("transaction", "export"):
            setattr(cls, name, _raising_store_errors(member))
    return cls


def init_pg_store(url: str) -> str:
    """`session-import init` on a PostgreSQL database: create the store's tables, or leave
    an existing store as it is; what was done, as a sentence."""
    try:
        with psycopg.connect(url, autocommit=True, **KEEPALIVE) as conn:
            version = schema.current_version(conn)
            if version == 0:
                schema.migrate(conn, SCHEMA_KEY)
                return PgMsg.CREATED.format(url=masked(url), version=schema.SCHEMA_VERSION)
    except (psycopg.Error, schema.ForeignTables) as exc:
        raise _unavailable(url, exc) from None
    if version < schema.SCHEMA_VERSION:
        return PgMsg.EXISTS_OLDER.format(
            url=masked(url), version=version, known=schema.SCHEMA_VERSION
        )
    return PgMsg.EXISTS.format(url=masked(url), version=version)


def _record_json(record) -> str | None:
    if record is None:
        return None
    cls = type(record)
    return _encode(dict(zip(NAMES[cls], GETTERS[cls](record), strict=True)))


@raising_store_errors
class PostgresStore(PgHeldRuns, PgDigests):
    """``url`` is a libpq URL; ``path`` is what messages show of it (password masked)."""

    def __init__(
        self, url: str, busy_timeout: float = 5.0, *, create: bool = True, writable: bool = True
    ):
        # psycopg's rows are tuples whose columns the SQL says: the connection is typed Any
        self.conn: Any
        self.url = url
        self.path = masked(url)
        self._in_transaction = False
        self._run_ids: list[int] = []  # run ids handed out in the open transaction
        self._worker: int | None = None  # the key held while this store publishes
        try:
            self.conn = self._connect()
        except psycopg.Error as exc:
            raise _unavailable(url, exc) from None
        try:
            if create:
                schema.migrate(self.conn, SCHEMA_KEY)
            else:
                version = schema.current_version(self.conn)
                if version == 0:
                    raise schema.NoStore()
                if version != schema.SCHEMA_VERSION and writable:
                    schema.migrate(self.conn, SCHEMA_KEY)
                elif version > schema.SCHEMA_VERSION:
                    raise schema.NewerSchema(version)
        except (psycopg.Error, schema.NoStore, schema.NewerSchema, schema.ForeignTables) as exc:
            self.conn.close()
            raise _unavailable(url, exc) from None
        except BaseException:
            self.conn.close()
            raise

    # ---- connection ----

    def _connect(self) -> psycopg.Connection:
        conn = psycopg.connect(self.url, autocommit=True, **KEEPALIVE)
        try:
            conn.execute(SERVER_KEEPALIVE)
            conn.execute(f"SET lock_timeout = {int(WRITE_WAIT_SECONDS * 1000)}")
            conn.execute(
                "SELECT set_config('application_name', %s, false)",
                (f"session-import {os.getpid()}",),
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _reconnect(self) -> None:
        """A connection a signal interrupted in the middle of a statement cannot go on:
        closing it ends its transaction on the server (nothing of it is kept), and a new
        one reads what was committed."""
        self.conn.close()
        self._worker = None  # its key went with the old connection, and so did its claims
        with contextlib.suppress(psycopg.Error):  # the methods called next say it failed
            self.conn = self._connect()

    def close(self) -> None:
        try:
            if not self.conn.closed and not self._in_transaction:
                self.release_claims()
        except psycopg.Error:
            pass  # the connection is gone: so are its claims
        finally:
            self.conn.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def checkpoint(self) -> None:
        """Nothing to do: the server keeps its own write-ahead log."""

    def backup(self, dest) -> str:
        raise BackupRefused(PgMsg.NO_BACKUP.format(url=self.path))

    def scrub(self, text: str) -> str:
        return scrub(text, self.url)

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One data file's work: committed at the end, or rolled back on error or ``rollback``."""
        try:
            self.conn.execute("BEGIN")
        except psycopg.Error as exc:
            raise _store_error(self, exc) from exc
        self._in_transaction = True
        self._run_ids = []
        try:
            yield
        except BaseException:
            self._end("ROLLBACK")
            raise
        try:
            self._end("ROLLBACK" if rollback else "COMMIT")
        except psycopg.Error as exc:
            raise _store_error(self, exc) from exc

    def _end(self, how: str) -> None:
        try:
            if not self.conn.closed:
                self.conn.execute(how)
        except psycopg.Error:
            if how == "COMMIT":
                raise
            self._reconnect()
        finally:
            self._in_transaction = False
            if how == "ROLLBACK" and self._run_ids and not self.conn.closed:
                self._give_back_run_ids()

    def defer_foreign_keys(self) -> None:
        self.conn.execute("SET CONSTRAINTS ALL DEFERRED")

    # ---- look-ups in bulk ----

    def _select(self, table: str, where: str, values: Iterable) -> list:
        cls = RECORDS[table]
        keys = list(dict.fromkeys(v for v in values if v is not None))
        if not keys:
            return []
        lock = " ORDER BY id FOR UPDATE" if self._in_transaction else ""
        sql = f"SELECT {', '.join(COLUMNS[table])} FROM {table} WHERE {where} = ANY(%s){lock}"
        return [cls(*row) for row in self.conn.execute(sql, (keys,))]

    def sessions_by(self, column: str, values: Iterable) -> list:
        assert column in ("id", "guid", "title", "start_date", "end_date")
        return self._select("sessions", column, values)

    def trainings_by(self, column: str, values: Iterable) -> list:
        assert column in ("id", "path_code", "title")
        return self._select("trainings", column, values)

    def users_by(self, column: str, values: Iterable) -> list:
        assert column in ("id", "login", "ref_number", "email")
        return self._select("users", column, values)

    def groups_by(self, column: str, values: Iterable) -> list:
        assert column in ("id", "guid", "name")
        return self._select("groups", column, values)

    def longest_session_days(self) -> float:
        value = self.conn.execute(
            "SELECT max(extract(epoch FROM end_date::timestamp - start_date::timestamp))"
            " / 86400.0 FROM sessions WHERE length(start_date) = 19 AND length(end_date) = 19"
        ).fetchone()[0]
        return max(float(value or 0.0), 0.0)

    def sessions_overlapping(self, windows: Iterable[tuple[int, str, str, str]]) -> list:
        windows = list(windows)
        if not windows:
            return []
        teachers, earliest, starts, ends = (list(column) for column in zip(*windows, strict=True))
        cols = ", ".join(f"s.{c}" for c in COLUMNS["sessions"])
        sql = (
            f"SELECT DISTINCT {cols} FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::text[])"
            " AS w(teacher_id, earliest, start_at, end_at) JOIN sessions s"
            " ON s.teacher_id = w.teacher_id AND s.start_date >= w.earliest"
            " AND s.start_date < w.end_at AND s.end_date > w.start_at"
        )
        cls = RECORDS["sessions"]
        return [cls(*row) for row in self.conn.execute(sql, (teachers, earliest, starts, ends))]

    def session_counts_by_training(self, training_ids: Iterable[int]) -> dict[int, int]:
        ids = list(set(training_ids))
        if not ids:
            return {}
        return dict(
            self.conn.execute(
                "SELECT training_id, count(*) FROM sessions WHERE training_id = ANY(%s)"
                " GROUP BY training_id",
                (ids,),
            ).fetchall()
        )

    def modifiable_sessions(self, import_id: str, full_access: bool) -> int:
        if full_access:
            return self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM sessions WHERE created_by_import = %s", (import_id,)
        ).fetchone()[0]

    def next_id(self, table: str) -> int:
        """The next id to assign: ids are never reused, even after a delete. In a
        transaction, the table's mark stays locked to its end: no other file hands out
        the same ids."""
        assert table in RECORD_TABLES
        lock = " FOR UPDATE" if self._in_transaction else ""
        self.conn.execute(
            "INSERT INTO id_marks (table_name, last_id) VALUES (%s, 0) ON CONFLICT DO NOTHING",
            (table,),
        )
        mark = self.conn.execute(
            f"SELECT last_id FROM id_marks WHERE table_name = %s{lock}", (table,)
        ).fetchone()[0]
        top = self.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return max(mark, top or 0) + 1

    # ---- writes ----

    def apply(self, changes: list) -> None:
        for table in ("groups", "users", "trainings", "sessions"):
            cols = COLUMNS[table]
            mine = [c for c in changes if c.table == table]
            creates = [c.after for c in mine if c.op == "create"]
            updates = [c.after for c in mine if c.op == "update"]
            values = GETTERS[RECORDS[table]]
            if creates:
                with self.conn.cursor().copy(
                    f"COPY {table} ({', '.join(cols)}) FROM STDIN"
                ) as copy:
                    for record in creates:
                        copy.write_row(values(record))
            if updates:
                self._update(table, cols, [values(r) for r in updates])
        for table in ("sessions", "trainings", "users", "groups"):
            ids = [c.before.id for c in changes if c.table == table and c.op == "delete"]
            if ids:
                self.conn.execute(f"DELETE FROM {table} WHERE id = ANY(%s)", (ids,))

    def _update(self, table: str, cols: list[str], rows: list[tuple]) -> None:
        if len(rows) < _UPDATE_VIA_COPY:
            sets = ", ".join(f"{c} = %s" for c in cols[1:])
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {table} SET {sets} WHERE id = %s",
                    [row[1:] + (row[0],) for row in rows],
                )
            return
        staging = f"staged_{table}"
        self.conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {staging}"
            f" (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        self.conn.execute(f"TRUNCATE {staging}")
        with self.conn.cursor().copy(f"COPY {staging} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        sets = ", ".join(f"{c} = n.{c}" for c in cols[1:])
        self.conn.execute(f"UPDATE {table} t SET {sets} FROM {staging} n WHERE t.id = n.id")

    # ---- runs and their journal ----

    def _new_run_id(self) -> int:
        """The next run id, under a short lock so that one rolled back can be given back:
        on one host, run ids follow each other as on SQLite."""
        with self._run_id_lock():
            run_id = self.conn.execute(
                "SELECT nextval(pg_get_serial_sequence('runs', 'id'))"
            ).fetchone()[0]
        self._run_ids.append(run_id)
        return run_id

    @contextmanager
    def _run_id_lock(self) -> Iterator[None]:
        self.conn.execute("SELECT pg_advisory_lock(%s)", (_RUN_IDS_KEY,))
        try:
            yield
        finally:
            self.conn.execute("SELECT pg_advisory_unlock(%s)", (_RUN_IDS_KEY,))

    def _give_back_run_ids(self) -> None:
        given, self._run_ids = sorted(self._run_ids, reverse=True), []
        try:
            with self._run_id_lock():
                for run_id in given:
                    last = self.conn.execute(
                        "SELECT last_value FROM pg_sequences WHERE schemaname = current_schema()"
                        " AND sequencename = %s",
                        (self._runs_sequence(),),
                    ).fetchone()[0]
                    if last != run_id:
                        break
                    self.conn.execute(
                        "SELECT setval(pg_get_serial_sequence('runs', 'id'), %s, %s)",
                        (max(run_id - 1, 1), run_id > 1),
                    )
        except psycopg.Error:
            pass  # a gap in the run ids is all it costs

    def _runs_sequence(self) -> str:
        name = self.conn.execute("SELECT pg_get_serial_sequence('runs', 'id')").fetchone()[0]
        return name.split(".")[-1].strip('"')

    def begin_run(
        self,
        import_id: str,
        action: str,
        file: str,
        sha256: str | None,
        started_at: str,
        dry_run: bool,
        reverts_run: int | None = None,
    ) -> int:
        run_id = self._new_run_id()
        self.conn.execute(
            "INSERT INTO runs (id, import_id, action, file, sha256, started_at, dry_run,"
            " reverts_run, pid, kind) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                run_id,
                import_id,
                action,
                file,
                sha256,
                started_at,
                int(dry_run),
                reverts_run,
                os.getpid(),
                "revert" if reverts_run is not None else "import",
            ),
        )
        return run_id

    def end_run(
        self, run_id: int, ended_at: str, counts: dict, exit_code: int, reason: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE runs SET ended_at = %s, counts = %s, exit_code = %s, reason = %s WHERE id = %s",
            (ended_at, json.dumps(counts), exit_code, reason, run_id),
        )

    def record_night(
        self,
        import_id: str,
        kind: str,
        file: str,
        when: str,
        dry_run: bool,
        *,
        action: str | None = None,
        sha256: str | None = None,
        reason: str | None = None,
        applied_by: int | None = None,
    ) -> int:
        assert kind in ("skip", "no_file")
        with self.transaction():
            run_id = self._new_run_id()
            self.conn.execute(
                "INSERT INTO runs (id, import_id, action, file, sha256, started_at, ended_at,"
                " dry_run, exit_code, pid, kind, reason, applied_by)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 0, %s, %s, %s, %s)",
                (
                    run_id,
                    import_id,
                    action,
                    file,
                    sha256,
                    when,
                    when,
                    int(dry_run),
                    os.getpid(),
                    kind,
                    reason,
                    applied_by,
                ),
            )
        return run_id

    def begin_commands(
        self, import_ids: Iterable[str], command: str, started_at: str
    ) -> dict[str, int]:
        ids = {}
        with self.transaction():
            runs_after = self.conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
            for import_id in dict.fromkeys(import_ids):
                ids[import_id] = self.conn.execute(
                    "INSERT INTO commands (import_id, command, started_at, runs_after, pid)"
                    " VALUES (%s, %s, %s, %s, %s) RETURNING id",
                    (import_id, command, started_at, runs_after, os.getpid()),
                ).fetchone()[0]
        return ids

    def end_commands(self, ended: dict[int, tuple[str, int, dict]], seconds: float) -> None:
        with self.transaction(), self.conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE commands SET ended_at = %s, exit_code = %s, counts = %s, seconds = %s"
                " WHERE id = %s",
                [
                    (at, code, json.dumps(counts), seconds, cid)
                    for cid, (at, code, counts) in ended.items()
                ],
            )

    def known_imports(self) -> list[str]:
        return [
            i
            for (i,) in self.conn.execute(
                "SELECT import_id FROM commands UNION SELECT import_id FROM runs"
                " WHERE kind != 'revert' ORDER BY 1"
            )
        ]

    def latest_commands(self, import_id: str, limit: int = 2) -> list[dict]:
        return self._dicts(
            "SELECT id, import_id, command, started_at, ended_at, exit_code, counts, seconds,"
            " runs_after, pid FROM commands WHERE import_id = %s ORDER BY id DESC LIMIT %s",
            (import_id, limit),
            json_columns=("counts",),
        )

    def last_success(self, import_id: str) -> dict | None:
        rows = self._dicts(
            "SELECT id, command, started_at, ended_at, exit_code FROM commands"
            " WHERE import_id = %s AND exit_code = 0 ORDER BY id DESC LIMIT 1",
            (import_id,),
        )
        return rows[0] if rows else None

    def runs_of_command(self, command: dict) -> list[dict]:
        return self._dicts(
            "SELECT id, file, started_at, ended_at, exit_code, counts, kind, reason, applied_by"
            " FROM runs WHERE import_id = %s AND id > %s AND dry_run = 0 AND kind != 'revert'"
            " AND id <= coalesce((SELECT min(runs_after) FROM commands c WHERE c.import_id = %s"
            " AND c.id > %s), 9223372036854775807) ORDER BY id",
            (command["import_id"], command["runs_after"], command["import_id"], command["id"]),
            json_columns=("counts",),
        )

    def pending_by_publisher(self, import_id: str) -> dict[str, int]:
        return dict(
            self.conn.execute(
                "SELECT publisher, count(*) FROM outbox WHERE import_id = %s AND state = 'pending'"
                " GROUP BY publisher ORDER BY publisher",
                (import_id,),
            ).fetchall()
        )

    def publishers_of_import(self, import_id: str) -> list[str]:
        return [
            p
            for (p,) in self.conn.execute(
                "SELECT DISTINCT publisher FROM outbox WHERE import_id = %s ORDER BY publisher",
                (import_id,),
            )
        ]

    def _dicts(self, sql: str, params: tuple, json_columns: tuple[str, ...] = ()) -> list[dict]:
        cursor = self.conn.execute(sql, params)
        names = [d.name for d in cursor.description]
        out = []
        for row in cursor:
            record = dict(zip(names, row, strict=True))
            for name in json_columns:
                record[name] = json.loads(record[name]) if record[name] else None
            out.append(record)
        return out

    def journal(self, run_id: int, changes: list) -> None:
        start = self.conn.execute(
            "SELECT coalesce(max(seq), 0) FROM journal WHERE run_id = %s", (run_id,)
        ).fetchone()[0]
        with self.conn.cursor().copy(
            "COPY journal (run_id, seq, line, table_name, op, record_id, guid, before, after)"
            " FROM STDIN"
        ) as copy:
            for i, c in enumerate(changes, start=start + 1):
                record = c.after or c.before
                copy.write_row(
                    (
                        run_id,
                        i,
                        c.line,
                        c.table,
                        c.op,
                        record.id,
                        getattr(record, "guid", None),
                        _record_json(c.before),
                        _record_json(c.after),
                    )
                )

    def applied_run(self, import_id: str, sha256: str) -> tuple[int, str] | None:
        for run_id, ended_at in self.conn.execute(
            "SELECT id, ended_at FROM runs WHERE import_id = %s AND sha256 = %s AND dry_run = 0"
            " AND kind = 'import' AND exit_code IN (0, 1, 6) ORDER BY id DESC",
            (import_id, sha256),
        ).fetchall():
            if not self.reverted(run_id):
                return run_id, ended_at
        return None

    def reverted(self, run_id: int) -> bool:
        reverts = self.conn.execute(
            "SELECT id FROM runs WHERE reverts_run = %s AND dry_run = 0 AND exit_code = 0",
            (run_id,),
        ).fetchall()
        return any(not self.reverted(revert) for (revert,) in reverts)

    def runs(self, since: str | None = None) -> list[dict]:
        where = " WHERE r.started_at::timestamptz >= %s::timestamptz" if since else ""
        cursor = self.conn.execute(
            "SELECT r.id, r.import_id, r.action, r.file, r.sha256, r.started_at, r.ended_at,"
            " r.dry_run, r.counts, r.exit_code, r.reverts_run, r.kind, r.reason, r.applied_by,"
            " (SELECT count(*) FROM outbox o WHERE o.run_id = r.id AND o.state = 'pending')"
            f" AS pending FROM runs r{where} ORDER BY r.id DESC",
            (since,) if since else (),
        )
        names = [d.name for d in cursor.description]
        out = []
        for row in cursor:
            run = dict(zip(names, row, strict=True))
            run["dry_run"] = bool(run["dry_run"])
            run["counts"] = json.loads(run["counts"]) if run["counts"] else None
            out.append(run)
        return out

    def run_journal(self, run_id: int) -> list[dict]:
        cursor = self.conn.execute(
            "SELECT seq, line, table_name, op, record_id, guid, before, after FROM journal"
            " WHERE run_id = %s ORDER BY seq",
            (run_id,),
        )
        return [
            {
                "seq": seq,
                "line": line,
                "table": table,
                "op": op,
                "id": record_id,
                "guid": guid,
                "before": json.loads(before) if before else None,
                "after": json.loads(after) if after else None,
            }
            for seq, line, table, op, record_id, guid, before, after in cursor
        ]

    def journal_entries(self, run_id: int) -> Iterator[dict]:
        keys = [
            f"(SELECT {key_column} FROM {table} WHERE id = (j.{side}::json ->> '{column}')::bigint)"
            for side in ("before", "after")
            for column, (table, key_column) in REFERENCES.items()
        ]
        width = len(REFERENCES)
        # a server-side cursor (held past its transaction): a run may hold millions
        with self.conn.cursor(name=f"journal_{run_id}_{id(self)}", withhold=True) as cursor:
            cursor.itersize = 2000
            cursor.execute(
                "SELECT seq, line, table_name, op, record_id, guid, before, after, "
                + ", ".join(keys)
                + " FROM journal j WHERE run_id = %s ORDER BY seq",
                (run_id,),
            )
            for seq, line, table, op, record_id, guid, before, after, *found in cursor:
                yield {
                    "seq": seq,
                    "line": line,
                    "table": table,
                    "op": op,
                    "id": record_id,
                    "guid": guid,
                    "before": json.loads(before) if before else None,
                    "after": json.loads(after) if after else None,
                    "keys": {
                        "before": dict(zip(REFERENCES, found[:width], strict=True)),
                        "after": dict(zip(REFERENCES, found[width:], strict=True)),
                    },
                }

    def later_changes(
        self, run_id: int, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        grouped: dict[str, set[int]] = {}
        for table, record_id in keys:
            grouped.setdefault(table, set()).add(record_id)
        found: dict[tuple[str, int], int] = {}
        for table, ids in grouped.items():
            for record_id, later in self.conn.execute(
                "SELECT j.record_id, min(j.run_id) FROM journal j JOIN runs r ON r.id = j.run_id"
                " WHERE j.table_name = %s AND j.record_id = ANY(%s) AND j.run_id > %s"
                " AND r.dry_run = 0 GROUP BY j.record_id",
                (table, sorted(ids), run_id),
            ):
                found[(table, record_id)] = later
        return found

    # a referring table -> (its column, the table it refers to), and the label of its records
    _FOREIGN_KEYS = {
        "sessions": (
            "title",
            [("training_id", "trainings"), ("teacher_id", "users"), ("group_id", "groups")],
        ),
        "groups": ("name", [("parent_id", "groups")]),
    }

    def broken_references(self) -> dict[tuple[str, int], list[tuple[str, str, str]]]:
        """Within a transaction whose checks are deferred: (table, id) of each record that a
        session or a group still refers to -> the referring records, in id order."""
        found: dict[tuple[str, int], list[tuple[str, str, str]]] = {}
        for child, (label, references) in self._FOREIGN_KEYS.items():
            missing = " OR ".join(
                f"(c.{column} IS NOT NULL AND NOT EXISTS"
                f" (SELECT 1 FROM {parent} p WHERE p.id = c.{column}))"
                for column, parent in references
            )
            columns = ", ".join(column for column, _ in references)
            rows = self.conn.execute(
                f"SELECT c.guid, c.{label}, {columns} FROM {child} c WHERE {missing} ORDER BY c.id"
            ).fetchall()
            for guid, name, *ids in rows:
                for (_, parent), record_id in zip(references, ids, strict=True):
                    if record_id is None:
                        continue
                    exists = self.conn.execute(
                        f"SELECT 1 FROM {parent} WHERE id = %s", (record_id,)
                    ).fetchone()
                    if exists is None:
                        found.setdefault((parent, record_id), []).append((child, guid, name))
        return found

    def last_recorded(self, table: str, record_id: int) -> dict | None:
        row = self.conn.execute(
            "SELECT coalesce(after, before) FROM journal WHERE table_name = %s AND record_id = %s"
            " ORDER BY run_id DESC, seq DESC LIMIT 1",
            (table, record_id),
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    # ---- consolidators still due after a commit ----

    def add_due_consolidators(
        self,
        run_id: int,
        import_id: str,
        names: list[str],
        stamp: str,
        reports: str,
        rows: Iterable[tuple[int, str, str]],
    ) -> None:
        self.conn.execute(
            "INSERT INTO consolidators_due (run_id, import_id, names, stamp, reports)"
            " VALUES (%s, %s, %s, %s, %s)",
            (run_id, import_id, json.dumps(names), stamp, reports),
        )
        with self.conn.cursor().copy(
            "COPY consolidators_due_rows (run_id, report, kind, entry) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row((run_id, *row))

    def due_rows(self, run_id: int, report: int, kind: str) -> Iterator[str]:
        cursor = self.conn.execute(
            "SELECT entry FROM consolidators_due_rows WHERE run_id = %s AND report = %s"
            " AND kind = %s ORDER BY id",
            (run_id, report, kind),
        )
        return (entry for (entry,) in cursor)

    def due_consolidators(self, import_id: str) -> list[dict]:
        cursor = self.conn.execute(
            "SELECT d.run_id, r.file, r.sha256, d.names, d.backup, d.stamp, d.reports"
            " FROM consolidators_due d JOIN runs r ON r.id = d.run_id"
            " WHERE d.import_id = %s ORDER BY d.run_id",
            (import_id,),
        )
        return [
            {
                "run_id": run_id,
                "file": file,
                "sha256": sha256,
                "names": json.loads(names),
                "backup": backup,
                "stamp": stamp,
                "reports": reports,
            }
            for run_id, file, sha256, names, backup, stamp, reports in cursor
        ]

    def due_names(self, run_id: int) -> list[str]:
        row = self.conn.execute(
            "SELECT names FROM consolidators_due WHERE run_id = %s", (run_id,)
        ).fetchone()
        return json.loads(row[0]) if row else []

    def consolidator_done(self, run_id: int, name: str, backup: str | None) -> None:
        with self.transaction():
            left = [n for n in self.due_names(run_id) if n != name]
            if left:
                self.conn.execute(
                    "UPDATE consolidators_due SET names = %s, backup = %s WHERE run_id = %s",
                    (json.dumps(left), backup, run_id),
                )
            else:
                self.drop_due_consolidators([run_id])

    def drop_due_consolidators(self, run_ids: Iterable[int]) -> None:
        run_ids = list(run_ids)
        if not run_ids:
            return
        self.conn.execute("DELETE FROM consolidators_due_rows WHERE run_id = ANY(%s)", (run_ids,))
        self.conn.execute("DELETE FROM consolidators_due WHERE run_id = ANY(%s)", (run_ids,))

    def pending_of_runs(self, run_ids: Iterable[int]) -> dict[int, int]:
        ids = sorted(set(run_ids))
        if not ids:
            return {}
        return dict(
            self.conn.execute(
                "SELECT run_id, count(*) FROM outbox WHERE run_id = ANY(%s) AND state = 'pending'"
                " GROUP BY run_id",
                (ids,),
            ).fetchall()
        )

    def pending_of_imports(self, import_ids: Iterable[str]) -> int:
        ids = sorted(set(import_ids))
        if not ids:
            return 0
        return self.conn.execute(
            "SELECT count(*) FROM outbox WHERE import_id = ANY(%s) AND state = 'pending'", (ids,)
        ).fetchone()[0]

    def committed(self, run_id: int) -> bool:
        return (
            self.conn.execute("SELECT 1 FROM runs WHERE id = %s", (run_id,)).fetchone() is not None
        )

    # ---- outbox ----

    def enqueue(
        self,
        import_id: str,
        publishers: Iterable[str],
        run_id: int,
        changes: list,
        rows: dict[int, dict],
    ) -> None:
        publishers = list(publishers)
        mine = [c for c in changes if c.table == "sessions"]
        if not publishers or not mine:
            return
        records = [r for c in mine for r in (c.before, c.after) if r is not None]
        trainings = {t.id: t for t in self.trainings_by("id", {r.training_id for r in records})}
        teachers = {u.id: u for u in self.users_by("id", {r.teacher_id for r in records} - {None})}

        def remote_view(record) -> dict:
            return session_payload(
                record, trainings[record.training_id], teachers.get(record.teacher_id)
            )

        with self.conn.cursor().copy(
            "COPY outbox (import_id, publisher, run_id, line, session_id, kind, session,"
            " changed, row) FROM STDIN"
        ) as copy:
            for change in mine:
                kind = RecordOp(change.op).outbox_kind
                after = remote_view(change.after or change.before)
                changed = None
                if kind == "update":
                    changed = changed_fields(remote_view(change.before), after)
                row = rows.get(change.line)
                for publisher in publishers:
                    copy.write_row(
                        (
                            import_id,
                            publisher,
                            run_id,
                            change.line,
                            (change.after or change.before).id,
                            kind,
                            json.dumps(after, ensure_ascii=False),
                            changed,
                            json.dumps(row, ensure_ascii=False) if row else None,
                        )
                    )

    def _worker_key(self) -> int:
        """This connection's publishing key, held (a session advisory lock) from its first
        claim to its end: a claim is another worker's while that key is held."""
        if self._worker is None:
            self._worker = key("worker", os.urandom(16).hex())
            self.conn.execute("SELECT pg_advisory_lock(%s)", (self._worker,))
        return self._worker

    def queued(
        self, import_id: str, publisher: str, limit: int = 2000, after: int = 0
    ) -> list[dict]:
        """The next pending changes (ids over ``after``, at most ``limit`` and CLAIM_PAGE) of
        an import for a publisher, in queue order, each with the session's remote id when
        its create was delivered, and each claimed by this worker: several workers (hosts)
        publish at once, each change by one of them.

        A change waits while an older pending change of its session is another import's,
        is claimed by another live worker, or was passed over earlier in this pass (its
        claim was held elsewhere then): a session's changes go in order, whoever delivers
        them. Claims are taken one worker at a time (under a transaction advisory lock:
        claiming takes milliseconds, delivering may take minutes, and claims taken side by
        side could split one session's changes) and last as long as the worker's key
        (``FOR UPDATE SKIP LOCKED`` passes over rows that another claim still writes)."""
        me = self._worker_key()
        sql = (
            "WITH live AS MATERIALIZED (SELECT (l.classid::bigint << 32) | l.objid::bigint"
            " AS worker FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.objsubid = 1),"
            " picked AS (SELECT o.id FROM outbox o"
            " WHERE o.import_id = %(import)s AND o.publisher = %(publisher)s"
            " AND o.state = 'pending' AND o.id > %(after)s"
            " AND (o.claimed_by IS NULL OR o.claimed_by = %(me)s"
            " OR o.claimed_by NOT IN (SELECT worker FROM live))"
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.session_id = o.session_id"
            " AND p.publisher = o.publisher AND p.id < o.id AND p.state = 'pending'"
            " AND (p.import_id != o.import_id"
            " OR (p.claimed_by != %(me)s AND p.claimed_by IN (SELECT worker FROM live))"
            " OR (p.id <= %(after)s AND p.claimed_by IS DISTINCT FROM %(me)s)))"
            " ORDER BY o.id LIMIT %(limit)s FOR UPDATE OF o SKIP LOCKED)"
            " UPDATE outbox o SET claimed_by = %(me)s WHERE o.id IN (SELECT id FROM picked)"
            " RETURNING o.id, o.run_id, o.line, o.session_id, o.kind, o.session, o.changed,"
            " o.row, o.attempted, (SELECT r.remote_id FROM remote_ids r"
            " WHERE r.session_id = o.session_id AND r.publisher = o.publisher)"
        )
        with self.transaction():
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(%s)", (key("claim", f"{import_id}\0{publisher}"),)
            )
            found = self.conn.execute(
                sql,
                {
                    "import": import_id,
                    "publisher": publisher,
                    "after": after,
                    "limit": min(limit, CLAIM_PAGE),
                    "me": me,
                },
            ).fetchall()
        found.sort(key=lambda row: row[0])
        return [
            {
                "id": id_,
                "run_id": run_id,
                "line": line,
                "session_id": session_id,
                "kind": kind,
                "session": json.loads(session),
                "changed": json.loads(changed) if changed else [],
                "row": json.loads(row) if row else None,
                "attempted": bool(attempted),
                "remote_id": remote_id,
            }
            for (
                id_,
                run_id,
                line,
                session_id,
                kind,
                session,
                changed,
                row,
                attempted,
                remote_id,
            ) in found
        ]

    def lock_holder(self) -> dict:
        """A run that holds its import's advisory lock now, on any host: its connection is
        alive (the server says so), whatever its process id means on this host."""
        row = self.conn.execute(
            "SELECT r.pid, r.host, r.since, r.what FROM run_locks r JOIN pg_locks l"
            " ON l.pid = r.backend_pid AND l.locktype = 'advisory' AND l.granted"
            " AND l.objsubid = 1 AND ((l.classid::bigint << 32) | l.objid::bigint) = r.lock_key"
            " WHERE l.mode = 'ExclusiveLock' ORDER BY r.since DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return {}
        pid, host, since, what = row
        return {"held": True, "live": True, "pid": pid, "host": host, "since": since, "what": what}

    def release_claims(self) -> None:
        """This worker's claims on changes it did not settle: others may take them now."""
        if self._worker is None:
            return
        self.conn.execute(
            "UPDATE outbox SET claimed_by = NULL WHERE claimed_by = %s", (self._worker,)
        )
        self.conn.execute("SELECT pg_advisory_unlock(%s)", (self._worker,))
        self._worker = None

    def remote_owner(self, publisher: str, remote_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT session_id FROM remote_ids WHERE publisher = %s AND remote_id = %s",
            (publisher, remote_id),
        ).fetchone()
        return row[0] if row else None

    def pending_counts(self, import_id: str, publisher: str) -> dict[int, int]:
        """run id -> changes of that run still waiting for this publisher: those another
        live worker claimed are in its hands, not waiting."""
        return dict(
            self.conn.execute(
                "SELECT run_id, count(*) FROM outbox WHERE import_id = %s AND publisher = %s"
                " AND state = 'pending' AND (claimed_by IS NULL OR claimed_by = %s OR claimed_by"
                " NOT IN (SELECT (l.classid::bigint << 32) | l.objid::bigint FROM pg_locks l"
                " WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1))"
                " GROUP BY run_id",
                (import_id, publisher, self._worker),
            ).fetchall()
        )

    def mark_attempted(self, ids: Iterable[int]) -> None:
        with self.transaction():
            self.conn.execute("UPDATE outbox SET attempted = 1 WHERE id = ANY(%s)", (list(ids),))

    def settle_many(self, settled: list[tuple]) -> None:
        with self.transaction(), self.conn.cursor() as cursor:
            cursor.executemany(
                "UPDATE outbox SET state = %s, message = %s, warning = %s, done_at = %s"
                " WHERE id = %s",
                [
                    (state, message, int(warning), when, entry_id)
                    for entry_id, state, when, message, warning, _ in settled
                ],
            )
            remotes = [remote for *_, remote in settled if remote is not None]
            if remotes:
                cursor.executemany(
                    "INSERT INTO remote_ids (session_id, publisher, remote_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT (session_id, publisher) DO UPDATE"
                    " SET remote_id = excluded.remote_id",
                    remotes,
                )

    def note_pending(self, entry_id: int, message: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE outbox SET message = %s WHERE id = %s", (message, entry_id))

    def shared_pacer(self, publisher: str, pacer):
        """The pacer a client of this store uses: every worker's calls counted together
        (see session_import.store.postgres.pace); ``pacer`` gives the limit."""
        if pacer is None:
            return None
        return SharedPacer(self.conn, publisher, pacer.max_requests, pacer.span, pacer.clock)

    def recent_calls(self, publisher: str, since: float) -> list[float]:
        """None to add to a command's own pacer: the shared pacer counts them in the store."""
        return []

    def pace_anchor(self, publisher: str) -> tuple[str, float] | None:
        return None

    def record_calls(
        self,
        publisher: str,
        calls: list[float],
        keep_after: float,
        anchor: tuple[str, float] | None = None,
    ) -> None:
        """The shared pacer recorded each call when it was sent: only calls older than any
        window (an hour, on the server's clock) are dropped."""
        self.conn.execute(
            "DELETE FROM remote_calls WHERE publisher = %s"
            " AND at < extract(epoch FROM clock_timestamp()) - 3600",
            (publisher,),
        )

    def publishers_of_run(self, run_id: int) -> list[str]:
        return [
            p
            for (p,) in self.conn.execute(
                "SELECT DISTINCT publisher FROM outbox WHERE run_id = %s ORDER BY publisher",
                (run_id,),
            )
        ]

    def run_file(self, run_id: int) -> tuple[str, str, str] | None:
        return self.conn.execute(
            "SELECT import_id, action, file FROM runs WHERE id = %s", (run_id,)
        ).fetchone()

    # ---- export ----

    _EXPORTS = {
        "sessions": """
            SELECT s.id, s.guid, s.title, s.status, s.start_date, s.end_date,
                   t.path_code AS training_path_code, s.training_id,
                   u.login AS teacher_login, g.guid AS group_guid, g.name AS group_name,
                   s.created_by_import, s.updated_by_import
            FROM sessions s
            JOIN trainings t ON t.id = s.training_id
            LEFT JOIN users u ON u.id = s.teacher_id
            LEFT JOIN groups g ON g.id = s.group_id
            ORDER BY s.id""",
        "trainings": """
            SELECT id, guid, path_code, title, locale, modality FROM trainings ORDER BY id""",
        "users": """
            SELECT id, login, ref_number, email, name, firstname FROM users ORDER BY id""",
        "groups": """
            SELECT g.id, g.guid, g.name, p.guid AS parent_guid
            FROM groups g LEFT JOIN groups p ON p.id = g.parent_id ORDER BY g.id""",
    }

    def export(self, kind: str) -> tuple[list[str], Iterator[dict]]:
        publishing = (
            kind == "sessions"
            and self.conn.execute("SELECT 1 FROM outbox LIMIT 1").fetchone() is not None
        )
        sql = self._EXPORTS[kind]
        if publishing:
            sql = sql.replace(
                "s.created_by_import, s.updated_by_import",
                """s.created_by_import,
                   s.updated_by_import,
                   (SELECT json_object_agg(p.publisher, r.remote_id)::text
                    FROM (SELECT DISTINCT publisher FROM outbox WHERE session_id = s.id) p
                    LEFT JOIN remote_ids r ON r.session_id = s.id AND r.publisher = p.publisher
                   ) AS remote,
                   (SELECT max(CASE o.state WHEN 'rejected' THEN 2 WHEN 'pending' THEN 1
                               ELSE 0 END)
                    FROM outbox o WHERE o.id IN (SELECT max(id) FROM outbox
                                                 WHERE session_id = s.id GROUP BY publisher)
                   ) AS publish_state""",
            )
        cursor = self.conn.cursor(name=f"export_{kind}_{id(self)}", withhold=True)
        cursor.itersize = 2000
        try:
            cursor.execute(sql)
        except psycopg.Error as exc:
            raise _store_error(self, exc) from exc
        names = [d.name for d in cursor.description]
        states = {None: None, 0: "published", 1: "pending", 2: "rejected"}

        def rows() -> Iterator[dict]:
            try:
                for row in cursor:
                    record = dict(zip(names, row, strict=True))
                    if publishing:
                        remote = json.loads(record["remote"]) if record["remote"] else {}
                        record["remote"] = remote or None
                        record["publish_state"] = states[record["publish_state"]]
                    yield record
            except psycopg.Error as exc:
                raise _store_error(self, exc) from exc
            finally:
                cursor.close()

        return names, rows()
