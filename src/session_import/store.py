"""The embedded SQLite store: schema, bulk look-ups, changes applied in one transaction per file.

This is the only module that writes SQL. Look-ups take sets of keys (one query per
chunk of rows, never one per row); changes are written with ``executemany``.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from operator import attrgetter
from pathlib import Path

SCHEMA_VERSION = 3
_IN_BATCH = 500  # keys per IN (...) list, well under SQLite's variable limit

_SCHEMA_V1 = """
CREATE TABLE trainings (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    path_code TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    locale TEXT,
    modality TEXT NOT NULL,
    description TEXT,
    created_by_import TEXT,
    updated_by_import TEXT
);
CREATE INDEX trainings_title ON trainings(title);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    login TEXT UNIQUE,
    ref_number TEXT,
    email TEXT,
    name TEXT,
    firstname TEXT,
    created_by_import TEXT,
    updated_by_import TEXT
);
CREATE INDEX users_ref_number ON users(ref_number);
CREATE INDEX users_email ON users(email);

CREATE TABLE groups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    parent_id INTEGER REFERENCES groups(id),
    created_by_import TEXT,
    updated_by_import TEXT
);
CREATE INDEX groups_name ON groups(name);
CREATE UNIQUE INDEX groups_parent_name ON groups(ifnull(parent_id, 0), name);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    guid TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    start_date TEXT,
    end_date TEXT,
    training_id INTEGER NOT NULL REFERENCES trainings(id),
    teacher_id INTEGER REFERENCES users(id),
    group_id INTEGER REFERENCES groups(id),
    created_by_import TEXT,
    updated_by_import TEXT
);
CREATE INDEX sessions_title ON sessions(title, training_id);
CREATE INDEX sessions_start ON sessions(start_date);
CREATE INDEX sessions_end ON sessions(end_date);
CREATE INDEX sessions_training ON sessions(training_id);
CREATE INDEX sessions_teacher ON sessions(teacher_id, start_date);
"""

_SCHEMA_V2 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id TEXT NOT NULL,
    action TEXT,
    file TEXT,
    sha256 TEXT,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    dry_run INTEGER NOT NULL,
    counts TEXT,
    exit_code INTEGER,
    reverts_run INTEGER REFERENCES runs(id),
    pid INTEGER
);
CREATE INDEX runs_import_sha ON runs(import_id, sha256);

CREATE TABLE journal (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    line INTEGER,
    table_name TEXT NOT NULL,
    op TEXT NOT NULL,
    record_id INTEGER NOT NULL,
    guid TEXT,
    before TEXT,
    after TEXT,
    PRIMARY KEY (run_id, seq)
);
CREATE INDEX journal_record ON journal(table_name, record_id, run_id);
"""

# the outbox of changes to publish to remote LMSs (section 9 of the SPEC): queued in
# the file's transaction, delivered after its commit, kept as the record of delivery
_SCHEMA_V3 = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id TEXT NOT NULL,
    publisher TEXT NOT NULL,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    line INTEGER,
    session_id INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('create', 'update', 'cancel')),
    session TEXT NOT NULL,
    changed TEXT,
    row TEXT,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'published', 'rejected', 'skipped')),
    attempted INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    warning INTEGER NOT NULL DEFAULT 0,
    done_at TEXT
);
CREATE INDEX outbox_queue ON outbox(import_id, publisher, state, id);
CREATE INDEX outbox_session ON outbox(session_id, publisher, id);
CREATE INDEX outbox_run ON outbox(run_id);

CREATE TABLE remote_ids (
    session_id INTEGER NOT NULL,
    publisher TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    PRIMARY KEY (session_id, publisher)
);
CREATE INDEX remote_ids_owner ON remote_ids(publisher, remote_id);

-- when the latest calls to a rate-limited service were sent (Unix time), so that the
-- next command's pacing counts them: a publish right after a run must not trip the limit
CREATE TABLE remote_calls (
    publisher TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX remote_calls_at ON remote_calls(publisher, at)
"""

# version reached -> script that reaches it from the one before
MIGRATIONS: dict[int, str] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3}


class StoreUnavailable(Exception):
    """The store cannot be opened, is not ours, or is busy (exit 5)."""


@dataclass(slots=True)
class SessionRecord:
    id: int
    guid: str
    title: str
    status: str
    start_date: str | None
    end_date: str | None
    training_id: int
    teacher_id: int | None
    group_id: int | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class TrainingRecord:
    id: int
    guid: str
    path_code: str
    title: str
    locale: str | None
    modality: str
    description: str | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class UserRecord:
    id: int
    login: str | None
    ref_number: str | None
    email: str | None
    name: str | None
    firstname: str | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class GroupRecord:
    id: int
    guid: str
    name: str
    parent_id: int | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(frozen=True)
class Change:
    """One change to one record, as the row that made it left it."""

    line: int
    table: str  # "sessions", "trainings", "users", "groups"
    op: str  # "create", "update", "delete"
    before: object | None  # a *Record, or None for a create
    after: object | None  # a *Record, or None for a delete


_RECORDS = {
    "sessions": SessionRecord,
    "trainings": TrainingRecord,
    "users": UserRecord,
    "groups": GroupRecord,
}
_COLUMNS = {table: [f.name for f in fields(cls)] for table, cls in _RECORDS.items()}


_GETTERS = {cls: attrgetter(*_COLUMNS[table]) for table, cls in _RECORDS.items()}
_NAMES = {cls: _COLUMNS[table] for table, cls in _RECORDS.items()}


# a record's column that holds another record's id -> (that record's table, its key)
_REFERENCES = {
    "training_id": ("trainings", "path_code"),
    "teacher_id": ("users", "login"),
    "group_id": ("groups", "name"),
    "parent_id": ("groups", "name"),
}

# json.dumps(..., ensure_ascii=False) builds a new encoder at every call
_encode = json.JSONEncoder(ensure_ascii=False).encode


def _record_json(record) -> str | None:
    """The record as a JSON object (what the journal keeps); asdict() is several times slower."""
    if record is None:
        return None
    cls = type(record)
    return _encode(dict(zip(_NAMES[cls], _GETTERS[cls](record))))


def record_from(table: str, values: dict):
    return _RECORDS[table](**values)


def _group(keys: Iterable[tuple[str, int]]) -> dict[str, set[int]]:
    grouped: dict[str, set[int]] = {}
    for table, record_id in keys:
        grouped.setdefault(table, set()).add(record_id)
    return grouped


def _chunks(values: list, size: int = _IN_BATCH) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


class Store:
    def __init__(self, path: str | Path, busy_timeout: float = 5.0):
        self.path = Path(path)
        try:
            self.conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=busy_timeout, check_same_thread=False
            )
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA cache_size = -65536")
            self._migrate()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"The store {self.path} cannot be opened: {exc}.") from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rollback(self) -> None:
        """Roll back; a connection that already lost its transaction (I/O error) has nothing to undo."""
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"The store {self.path} has schema version {version}, newer than this "
                f"session-import knows ({SCHEMA_VERSION}); upgrade session-import."
            )
        if version == 0:
            tables = self.conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
            if tables:
                raise StoreUnavailable(
                    f"The store {self.path} is an SQLite file that session-import did not "
                    "create; give another --db path."
                )
        if version == SCHEMA_VERSION:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self.conn.execute(statement)
            self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One data file's work: committed at the end, or rolled back on error or ``rollback``."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(
                f"The store {self.path} is busy ({exc}): another program holds it; "
                "nothing was written."
            ) from exc
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        if rollback:
            self.conn.execute("ROLLBACK")
        else:
            self.conn.execute("COMMIT")

    # ---- look-ups in bulk ----

    def _select(self, table: str, where: str, values: Iterable) -> list:
        cls = _RECORDS[table]
        cols = ", ".join(_COLUMNS[table])
        keys = list(dict.fromkeys(v for v in values if v is not None))
        out = []
        for part in _chunks(keys):
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {cols} FROM {table} WHERE {where} IN ({marks})"
            out.extend(cls(*row) for row in self.conn.execute(sql, part))
        return out

    def sessions_by(self, column: str, values: Iterable) -> list[SessionRecord]:
        assert column in ("id", "guid", "title", "start_date", "end_date")
        return self._select("sessions", column, values)

    def longest_session_days(self) -> float:
        """The longest duration of a timed session, in days (bounds the overlap search)."""
        value = self.conn.execute(
            "SELECT max(julianday(end_date) - julianday(start_date)) FROM sessions"
            " WHERE length(start_date) = 19 AND length(end_date) = 19"
        ).fetchone()[0]
        return max(value or 0.0, 0.0)

    def sessions_overlapping(self, windows: Iterable[tuple[int, str, str, str]]) -> list[SessionRecord]:
        """Sessions of a teacher that overlap a window: (teacher id, earliest start, start, end).

        ``earliest start`` is the window's start less the longest session, so the
        (teacher_id, start_date) index is scanned over a short range only.
        """
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS overlap_window"
            " (teacher_id INTEGER, earliest TEXT, start TEXT, end TEXT)"
        )
        self.conn.execute("DELETE FROM overlap_window")
        self.conn.executemany("INSERT INTO overlap_window VALUES (?, ?, ?, ?)", windows)
        cols = ", ".join(f"s.{c}" for c in _COLUMNS["sessions"])
        # CROSS JOIN keeps the windows as the outer loop: without statistics on the
        # temp table the planner would scan every session once per chunk.
        sql = (
            f"SELECT DISTINCT {cols} FROM overlap_window w CROSS JOIN sessions s"
            " ON s.teacher_id = w.teacher_id AND s.start_date >= w.earliest"
            " AND s.start_date < w.end AND s.end_date > w.start"
        )
        return [SessionRecord(*row) for row in self.conn.execute(sql)]

    def trainings_by(self, column: str, values: Iterable) -> list[TrainingRecord]:
        assert column in ("id", "path_code", "title")
        return self._select("trainings", column, values)

    def users_by(self, column: str, values: Iterable) -> list[UserRecord]:
        assert column in ("id", "login", "ref_number", "email")
        return self._select("users", column, values)

    def groups_by(self, column: str, values: Iterable) -> list[GroupRecord]:
        assert column in ("id", "guid", "name")
        return self._select("groups", column, values)

    def session_counts_by_training(self, training_ids: Iterable[int]) -> dict[int, int]:
        counts: dict[int, int] = {}
        for part in _chunks(list(set(training_ids))):
            marks = ", ".join("?" * len(part))
            sql = (
                f"SELECT training_id, count(*) FROM sessions WHERE training_id IN ({marks}) "
                "GROUP BY training_id"
            )
            counts.update(self.conn.execute(sql, part))
        return counts

    def modifiable_sessions(self, import_id: str, full_access: bool) -> int:
        """How many sessions an import may update or cancel (the base of --max-cancel N%)."""
        if full_access:
            return self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM sessions WHERE created_by_import = ?", (import_id,)
        ).fetchone()[0]

    def next_id(self, table: str) -> int:
        """The next id to assign: ids are never reused, even after a delete."""
        seq = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        top = self.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return max(seq[0] if seq else 0, top or 0) + 1

    # ---- writes ----

    def apply(self, changes: list[Change]) -> None:
        """Write a chunk's changes: creates, then updates, then deletes, each table in turn.

        Within a chunk a record is created before it is updated and updated before
        it is deleted, so grouping by operation keeps the one-by-one outcome.
        """
        for table in ("groups", "users", "trainings", "sessions"):
            cols = _COLUMNS[table]
            mine = [c for c in changes if c.table == table]
            creates = [c.after for c in mine if c.op == "create"]
            updates = [c.after for c in mine if c.op == "update"]
            values = _GETTERS[_RECORDS[table]]
            if creates:
                marks = ", ".join("?" * len(cols))
                self.conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    (values(r) for r in creates),
                )
            if updates:
                sets = ", ".join(f"{c} = ?" for c in cols[1:])
                self.conn.executemany(
                    f"UPDATE {table} SET {sets} WHERE id = ?",
                    (values(r)[1:] + (r.id,) for r in updates),
                )
        # deletes in reverse dependency order: sessions before trainings
        for table in ("sessions", "trainings", "users", "groups"):
            ids = [(c.before.id,) for c in changes if c.table == table and c.op == "delete"]
            if ids:
                self.conn.executemany(f"DELETE FROM {table} WHERE id = ?", ids)

    # ---- runs and their journal ----

    def begin_run(self, import_id: str, action: str, file: str, sha256: str | None,
                  started_at: str, dry_run: bool, reverts_run: int | None = None) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (import_id, action, file, sha256, started_at, dry_run, reverts_run,"
            " pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (import_id, action, file, sha256, started_at, int(dry_run), reverts_run, os.getpid()),
        )
        return cur.lastrowid

    def end_run(self, run_id: int, ended_at: str, counts: dict, exit_code: int) -> None:
        self.conn.execute(
            "UPDATE runs SET ended_at = ?, counts = ?, exit_code = ? WHERE id = ?",
            (ended_at, json.dumps(counts), exit_code, run_id),
        )

    def journal(self, run_id: int, changes: list[Change]) -> None:
        start = self.conn.execute(
            "SELECT ifnull(max(seq), 0) FROM journal WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        self.conn.executemany(
            "INSERT INTO journal (run_id, seq, line, table_name, op, record_id, guid, before, after)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (run_id, start + i, c.line, c.table, c.op, (c.after or c.before).id,
                 getattr(c.after or c.before, "guid", None),
                 _record_json(c.before), _record_json(c.after))
                for i, c in enumerate(changes, start=1)
            ),
        )

    def applied_run(self, import_id: str, sha256: str) -> tuple[int, str] | None:
        """The run that applied a file with this SHA-256 for this import (not a dry run)."""
        return self.conn.execute(
            "SELECT id, ended_at FROM runs WHERE import_id = ? AND sha256 = ? AND dry_run = 0"
            " AND exit_code IN (0, 1, 6) ORDER BY id LIMIT 1",
            (import_id, sha256),
        ).fetchone()

    def runs(self) -> list[dict]:
        cursor = self.conn.execute(
            "SELECT r.id, r.import_id, r.action, r.file, r.sha256, r.started_at, r.ended_at,"
            " r.dry_run, r.counts, r.exit_code, r.reverts_run,"
            " (SELECT count(*) FROM outbox o WHERE o.run_id = r.id AND o.state = 'pending')"
            " AS pending FROM runs r ORDER BY r.id DESC"
        )
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            run = dict(zip(names, row))
            run["dry_run"] = bool(run["dry_run"])
            run["counts"] = json.loads(run["counts"]) if run["counts"] else None
            out.append(run)
        return out

    def run_journal(self, run_id: int) -> list[dict]:
        cursor = self.conn.execute(
            "SELECT seq, line, table_name, op, record_id, guid, before, after FROM journal"
            " WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [
            {"seq": seq, "line": line, "table": table, "op": op, "id": record_id, "guid": guid,
             "before": json.loads(before) if before else None,
             "after": json.loads(after) if after else None}
            for seq, line, table, op, record_id, guid, before, after in cursor
        ]

    def journal_entries(self, run_id: int) -> Iterator[dict]:
        """A run's journal as ``run_journal`` gives it, but read from a cursor one entry at a
        time (a run may hold millions), each entry with ``keys``: for each record id its
        before and after values hold (``training_id``...), that record's key (training path
        code, teacher login, group name), or None when the record is gone."""
        keys = [
            f"(SELECT {key} FROM {table} WHERE id = json_extract(j.{side}, '$.{column}'))"
            for side in ("before", "after") for column, (table, key) in _REFERENCES.items()
        ]
        cursor = self.conn.execute(
            "SELECT seq, line, table_name, op, record_id, guid, before, after, " + ", ".join(keys)
            + " FROM journal j WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        width = len(_REFERENCES)
        for seq, line, table, op, record_id, guid, before, after, *found in cursor:
            yield {
                "seq": seq, "line": line, "table": table, "op": op, "id": record_id, "guid": guid,
                "before": json.loads(before) if before else None,
                "after": json.loads(after) if after else None,
                "keys": {"before": dict(zip(_REFERENCES, found[:width])),
                         "after": dict(zip(_REFERENCES, found[width:]))},
            }

    def later_changes(self, run_id: int, keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """(table, record id) -> the first later run that changed that record."""
        found: dict[tuple[str, int], int] = {}
        for table, ids in _group(keys).items():
            for part in _chunks(sorted(ids)):
                marks = ", ".join("?" * len(part))
                sql = (
                    "SELECT j.record_id, min(j.run_id) FROM journal j JOIN runs r ON r.id = j.run_id"
                    f" WHERE j.table_name = ? AND j.record_id IN ({marks}) AND j.run_id > ?"
                    " AND r.dry_run = 0 GROUP BY j.record_id"
                )
                for record_id, later in self.conn.execute(sql, [table, *part, run_id]):
                    found[(table, record_id)] = later
        return found

    # ---- outbox (publishing to remote LMSs) ----

    def enqueue(self, import_id: str, publishers: Iterable[str], run_id: int,
                changes: list[Change], rows: dict[int, dict]) -> None:
        """Queue each session change for each publisher, in the caller's transaction.

        ``rows`` maps a line to its cells and values, kept for a remote rejection.
        """
        publishers = list(publishers)
        mine = [c for c in changes if c.table == "sessions"]
        if not publishers or not mine:
            return
        records = [r for c in mine for r in (c.before, c.after) if r is not None]
        trainings = {t.id: t for t in self.trainings_by("id", {r.training_id for r in records})}
        teachers = {u.id: u for u in self.users_by("id", {r.teacher_id for r in records} - {None})}

        def remote_view(record) -> dict:
            training = trainings[record.training_id]
            teacher = teachers.get(record.teacher_id)
            return {
                "guid": record.guid, "title": record.title,
                "start": record.start_date, "end": record.end_date,
                "training_path_code": training.path_code, "training_title": training.title,
                "training_locale": training.locale, "training_modality": training.modality,
                "teacher_ref_number": teacher.ref_number if teacher else None,
            }

        queued = []
        for change in mine:
            kind = {"create": "create", "update": "update", "delete": "cancel"}[change.op]
            after = remote_view(change.after or change.before)
            changed = None
            if kind == "update":
                before = remote_view(change.before)
                changed = json.dumps(sorted(k for k in after if after[k] != before[k]))
            row = rows.get(change.line)
            for publisher in publishers:
                queued.append((import_id, publisher, run_id, change.line,
                               (change.after or change.before).id, kind,
                               json.dumps(after, ensure_ascii=False), changed,
                               json.dumps(row, ensure_ascii=False) if row else None))
        self.conn.executemany(
            "INSERT INTO outbox (import_id, publisher, run_id, line, session_id, kind, session,"
            " changed, row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            queued,
        )

    def queued(self, import_id: str, publisher: str, limit: int = 2000,
               after: int = 0) -> list[dict]:
        """The next ``limit`` pending changes (ids over ``after``) of an import for a
        publisher, in queue order, each with the session's remote id when its create was
        delivered. A change waits while another import holds an older pending change of
        the same session: its turn comes after that one, whichever import delivers it."""
        cursor = self.conn.execute(
            "SELECT o.id, o.run_id, o.line, o.session_id, o.kind, o.session, o.changed, o.row,"
            " o.attempted, r.remote_id FROM outbox o LEFT JOIN remote_ids r"
            " ON r.session_id = o.session_id AND r.publisher = o.publisher"
            " WHERE o.import_id = ? AND o.publisher = ? AND o.state = 'pending' AND o.id > ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.session_id = o.session_id"
            " AND p.publisher = o.publisher AND p.id < o.id AND p.state = 'pending'"
            " AND p.import_id != o.import_id)"
            " ORDER BY o.id LIMIT ?",
            (import_id, publisher, after, limit),
        )
        return [
            {"id": id_, "run_id": run_id, "line": line, "session_id": session_id, "kind": kind,
             "session": json.loads(session), "changed": json.loads(changed) if changed else [],
             "row": json.loads(row) if row else None, "attempted": bool(attempted),
             "remote_id": remote_id}
            for id_, run_id, line, session_id, kind, session, changed, row, attempted, remote_id
            in cursor
        ]

    def remote_owner(self, publisher: str, remote_id: str) -> int | None:
        """The local session that a remote id belongs to, if any."""
        row = self.conn.execute(
            "SELECT session_id FROM remote_ids WHERE publisher = ? AND remote_id = ?",
            (publisher, remote_id),
        ).fetchone()
        return row[0] if row else None

    def pending_counts(self, import_id: str, publisher: str) -> dict[int, int]:
        """run id -> changes of that run still waiting for this publisher."""
        return dict(self.conn.execute(
            "SELECT run_id, count(*) FROM outbox WHERE import_id = ? AND publisher = ?"
            " AND state = 'pending' GROUP BY run_id", (import_id, publisher),
        ))

    def mark_attempted(self, ids: Iterable[int]) -> None:
        with self.transaction():
            self.conn.executemany("UPDATE outbox SET attempted = 1 WHERE id = ?", ((i,) for i in ids))

    def settle_many(self, settled: list[tuple]) -> None:
        """Record what became of queued changes, in one transaction: (entry id, state,
        when, message, warning, (session id, publisher, remote id) or None) each."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE outbox SET state = ?, message = ?, warning = ?, done_at = ? WHERE id = ?",
                [(state, message, int(warning), when, entry_id)
                 for entry_id, state, when, message, warning, _ in settled],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO remote_ids (session_id, publisher, remote_id)"
                " VALUES (?, ?, ?)", [remote for *_, remote in settled if remote is not None],
            )

    def note_pending(self, entry_id: int, message: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE outbox SET message = ? WHERE id = ?", (message, entry_id))

    def recent_calls(self, publisher: str, since: float) -> list[float]:
        return [at for (at,) in self.conn.execute(
            "SELECT at FROM remote_calls WHERE publisher = ? AND at > ? ORDER BY at",
            (publisher, since),
        )]

    def record_calls(self, publisher: str, calls: list[float], keep_after: float) -> None:
        """Keep the calls sent after ``keep_after``: the ones a window can still count."""
        with self.transaction():
            self.conn.execute("DELETE FROM remote_calls WHERE publisher = ?", (publisher,))
            self.conn.executemany(
                "INSERT INTO remote_calls (publisher, at) VALUES (?, ?)",
                ((publisher, at) for at in calls if at > keep_after),
            )

    def publishers_of_run(self, run_id: int) -> list[str]:
        return [p for (p,) in self.conn.execute(
            "SELECT DISTINCT publisher FROM outbox WHERE run_id = ? ORDER BY publisher", (run_id,)
        )]

    def run_file(self, run_id: int) -> tuple[str, str, str] | None:
        """(import id, action, file) of a run."""
        return self.conn.execute(
            "SELECT import_id, action, file FROM runs WHERE id = ?", (run_id,)
        ).fetchone()

    # ---- export ----

    def export(self, kind: str) -> tuple[list[str], Iterator[dict]]:
        """The column names of ``kind``, and its records as dicts in id order."""
        queries = {
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
        publishing = kind == "sessions" and self.conn.execute(
            "SELECT 1 FROM outbox LIMIT 1").fetchone() is not None
        sql = queries[kind]
        if publishing:
            # per session, from the outbox's (session_id, publisher, id) index: its remote
            # ids, and the worst state over its publishers of its latest change
            sql = sql.replace("s.created_by_import, s.updated_by_import", """s.created_by_import,
                       s.updated_by_import,
                       (SELECT json_group_object(p.publisher, r.remote_id)
                        FROM (SELECT DISTINCT publisher FROM outbox WHERE session_id = s.id) p
                        LEFT JOIN remote_ids r ON r.session_id = s.id AND r.publisher = p.publisher
                       ) AS remote,
                       (SELECT max(CASE o.state WHEN 'rejected' THEN 2 WHEN 'pending' THEN 1
                                   ELSE 0 END)
                        FROM outbox o WHERE o.id IN (SELECT max(id) FROM outbox
                                                     WHERE session_id = s.id GROUP BY publisher)
                       ) AS publish_state""")
        cursor = self.conn.execute(sql)
        names = [d[0] for d in cursor.description]
        if not publishing:
            return names, (dict(zip(names, row)) for row in cursor)
        states = {None: None, 0: "published", 1: "pending", 2: "rejected"}

        def with_remote(row):
            record = dict(zip(names, row))
            remote = json.loads(record["remote"]) if record["remote"] else {}
            record["remote"] = remote or None
            record["publish_state"] = states[record["publish_state"]]
            return record

        return names, (with_remote(row) for row in cursor)
