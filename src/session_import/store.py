"""The embedded SQLite store: schema, bulk look-ups, changes applied in one transaction per file.

This is the only module that writes SQL. Look-ups take sets of keys (one query per
chunk of rows, never one per row); changes are written with ``executemany``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from enum import StrEnum
from functools import cache
from operator import attrgetter
from pathlib import Path

from session_import.errors import ExitCode, SessionImportError

SCHEMA_VERSION = 5
# once a command holds the store, how long any later statement (the commit above all)
# waits for another connection: a reader never costs a night its work. --lock-timeout
# only bounds the wait to start.
WRITE_WAIT_SECONDS = 600.0
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

# the consolidators of a committed file that have not run yet (the run was stopped after
# its commit: a signal, a kill, a full disk): written in the file's own transaction, each
# removed once it ran, so that the import's next run completes them. ``reports`` is what
# they report on (each action's counts and how the input was written, as JSON), and
# consolidators_due_rows its rejected rows and warnings, a row each (a file may have a
# million); ``backup`` is the backup's outcome so far ("moved", "copied", "failed"), which
# the delete depends on.
_SCHEMA_V4_DUE = """
CREATE TABLE consolidators_due (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    import_id TEXT NOT NULL,
    names TEXT NOT NULL,
    backup TEXT,
    stamp TEXT NOT NULL,
    reports TEXT NOT NULL
);
CREATE INDEX consolidators_due_import ON consolidators_due(import_id);

CREATE TABLE consolidators_due_rows (
    run_id INTEGER NOT NULL REFERENCES consolidators_due(run_id),
    report INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('rejected', 'warning')),
    entry TEXT NOT NULL
);
CREATE INDEX consolidators_due_rows_run ON consolidators_due_rows(run_id, report, kind)
"""

# every night on record: a run row for a file skipped as already imported or a glob that
# matched nothing, the reason of a file that failed as a whole, and one row per import
# for each run or publish command, written when it starts (a command killed before its
# end stays without ended_at) and completed with the exit code it gave that import
_SCHEMA_V5 = """
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'import'
    CHECK (kind IN ('import', 'skip', 'no_file', 'revert'));
ALTER TABLE runs ADD COLUMN reason TEXT;
ALTER TABLE runs ADD COLUMN applied_by INTEGER REFERENCES runs(id);
UPDATE runs SET kind = 'revert' WHERE reverts_run IS NOT NULL;
CREATE INDEX runs_started ON runs(started_at);

CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id TEXT NOT NULL,
    command TEXT NOT NULL CHECK (command IN ('run', 'publish')),
    started_at TEXT NOT NULL,
    ended_at TEXT,
    exit_code INTEGER,
    counts TEXT,
    seconds REAL,
    runs_after INTEGER NOT NULL,
    pid INTEGER
);
CREATE INDEX commands_import ON commands(import_id, id);
INSERT INTO commands (import_id, command, started_at, ended_at, exit_code, counts, runs_after, pid)
    SELECT import_id, 'run', started_at, ended_at, exit_code, counts, id - 1, pid FROM runs
    WHERE dry_run = 0 AND kind = 'import' ORDER BY id
"""

# version reached -> script that reaches it from the one before
MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4_DUE, 5: _SCHEMA_V5,
}


class StoreUnavailable(SessionImportError):
    """The store cannot be opened, is not ours, or is busy (exit 5)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


def is_damaged(exc: sqlite3.Error) -> bool:
    """SQLite's own verdict that a file is not a (sound) database."""
    code = getattr(exc, "sqlite_errorcode", None)
    return (code in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
            or "unsupported file format" in str(exc))


@cache
def _objects_by_version() -> dict[int, frozenset[tuple[str, str]]]:
    """version -> the (type, name) of each table and index a store of that version holds."""
    conn = sqlite3.connect(":memory:")
    try:
        out = {}
        for version in sorted(MIGRATIONS):
            for statement in MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
            out[version] = frozenset(_objects(conn))
        return out
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> set[tuple[str, str]]:
    return set(conn.execute(
        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
        " AND name NOT LIKE 'sqlite_%'"
    ))
class BackupRefused(SessionImportError):
    """The backup's destination is the store itself or one of its files (exit 2)."""

    exit_code = ExitCode.USAGE


class BackupFailed(SessionImportError):
    """The backup could not be written (exit 3)."""

    exit_code = ExitCode.FILE_FAILED


class StoreMsg(StrEnum):
    DAMAGED = (
        "The store {path} is damaged or is not an SQLite file ({reason}); nothing was read or"
        " written. Check --db, or restore the store from a backup."
    )
    VERSION_DAMAGED = (
        "The store {path} is damaged: its header says schema version {version}, but it holds the"
        " tables of version {holds}; nothing was read or written. Restore it from a backup."
    )
    MISSING = (
        "The store {path} does not exist; nothing was read. Create it with `session-import init "
        "--db {path}`, or give the --db (or SESSION_IMPORT_DB) of the store you meant."
    )
    FOLDER_MISSING = (
        "The folder {folder} of the store {path} does not exist: create it (or give the --db, or "
        "SESSION_IMPORT_DB, you meant)."
    )
    NOT_A_FILE = "The store {path} is not a file; give the path of the store file."
    NOT_WRITABLE = (
        "The store {path} cannot be written ({reason}): check its owner and permissions, and "
        "that its file system is not mounted read-only."
    )
    FOLDER_NOT_WRITABLE = (
        "The folder {folder} of the store {path} cannot be written ({reason}): the lock file "
        "and SQLite's -wal and -shm files live beside the store; check the folder's owner and "
        "permissions, and that its file system is not mounted read-only."
    )
    CANNOT_OPEN = "The store {path} cannot be opened: {error}."
    NO_SPACE = (
        "The store {path} cannot be opened ({error}): its file system has no space left (SQLite"
        " needs some beside the store for its -wal and -shm files); nothing was read or written."
        " Free some space and run the command again."
    )
    NEWER = (
        "The store {path} has schema version {version}, newer than this session-import knows"
        " ({known}); upgrade session-import (if no newer session-import wrote it, the store is"
        " damaged: restore it from a backup)."
    )
    FOREIGN = (
        "The store {path} is an SQLite file that session-import did not create; give another "
        "--db path."
    )
    BUSY = (
        "The store {path} is busy ({error}): another program holds it; nothing was written."
    )
    CREATED = "Created the store {path} (schema version {version})."
    EXISTS = "The store {path} already exists (schema version {version}); it was left as it is."
    EXISTS_OLDER = (
        "The store {path} already exists (schema version {version}); it was left as it is "
        "(the next command that opens it upgrades it to version {known})."
    )
    EXISTS_FOREIGN = (
        "{path} already exists and is not a session-import store; it was left as it is: give "
        "another --db path."
    )
    BACKUP_IS_STORE = "{dest} is the store or one of its files; give another backup path."
    BACKUP_FAILED = "Could not write the backup {dest}: {reason}."
    BACKED_UP = "Backed up the store {path} to {dest} (schema version {version}, {sessions} sessions)."


def _unwritable_reason(path: Path) -> str:
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return "read-only file system"
    except OSError as exc:
        return exc.strerror or str(exc)
    return "permission denied"


def _no_space(folder: Path) -> bool:
    """Less room left than the -shm file SQLite creates to open a store in WAL mode."""
    try:
        info = os.statvfs(folder)
    except OSError:
        return False
    return info.f_bavail * info.f_frsize < 64 * 1024


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_location(path: str | Path, *, must_exist: bool = True, writable: bool = True) -> Path:
    """The store's path, absolute; StoreUnavailable says what to check when the store or its
    folder is missing or cannot be written, before anything (the lock file included) is touched."""
    path = Path(path).absolute()
    folder = path.parent
    if not folder.is_dir():
        raise StoreUnavailable(StoreMsg.FOLDER_MISSING.format(folder=folder, path=path))
    if not path.exists():
        if must_exist:
            raise StoreUnavailable(StoreMsg.MISSING.format(path=path))
    elif not path.is_file():
        raise StoreUnavailable(StoreMsg.NOT_A_FILE.format(path=path))
    elif writable and not os.access(path, os.W_OK):
        raise StoreUnavailable(StoreMsg.NOT_WRITABLE.format(path=path, reason=_unwritable_reason(path)))
    if writable and not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(StoreMsg.FOLDER_NOT_WRITABLE.format(
            folder=folder, path=path, reason=_unwritable_reason(folder)))
    return path


def init_store(path: str | Path) -> str:
    """`session-import init`: create an empty store at the current schema, or leave an
    existing one as it is; returns what was done, as a sentence."""
    path = Path(path).absolute()
    if path.exists():
        check_location(path, writable=False)
        try:
            conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            finally:
                conn.close()
        except sqlite3.Error:
            version, tables = 0, 1
        if version == 0 and tables:
            raise StoreUnavailable(StoreMsg.EXISTS_FOREIGN.format(path=path))
        if version < SCHEMA_VERSION:
            return StoreMsg.EXISTS_OLDER.format(path=path, version=version, known=SCHEMA_VERSION)
        return StoreMsg.EXISTS.format(path=path, version=version)
    check_location(path, must_exist=False)
    Store(path, create=True).close()
    return StoreMsg.CREATED.format(path=path, version=SCHEMA_VERSION)


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
    """The store, in WAL mode: readers (export, history, status, backup) never wait for a
    run and never make its commit wait; they see the store as of the last commit.

    ``create`` False (what every command but ``init`` uses) refuses a store that does not
    exist instead of creating an empty one; ``writable`` False only reads.
    """

    def __init__(self, path: str | Path, busy_timeout: float = 5.0, *, create: bool = True,
                 writable: bool = True):
        self.path = Path(path)
        self._holding = False  # once a write transaction began, later waits use WRITE_WAIT
        if not create:
            check_location(self.path, writable=writable)
        # on a read-only file system nothing can change the store, and SQLite could not
        # create the -shm file a WAL reader needs: it is read as an immutable file
        frozen = not create and not writable and _read_only_fs(self.path)
        try:
            target = self.path
            if frozen:
                target = f"{self.path.absolute().as_uri()}?mode=ro&immutable=1"
            elif not create:
                target = f"{self.path.absolute().as_uri()}?mode=rw"
            self.conn = sqlite3.connect(
                target, isolation_level=None, timeout=busy_timeout, check_same_thread=False,
                uri=not create,
            )
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA cache_size = -65536")
            if not frozen:
                self._use_wal()
            self._migrate()
        except sqlite3.Error as exc:
            if is_damaged(exc):
                raise StoreUnavailable(StoreMsg.DAMAGED.format(path=self.path, reason=exc)) from exc
            if _no_space(self.path.absolute().parent):
                raise StoreUnavailable(StoreMsg.NO_SPACE.format(path=self.path, error=exc)) from exc
            raise StoreUnavailable(StoreMsg.CANNOT_OPEN.format(path=self.path, error=exc)) from exc

    def _use_wal(self) -> None:
        """WAL is kept in the file: set once, by the first command that can (it needs a moment
        alone with the store; a store held by another program stays as it is until then)."""
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return
        try:
            self.conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError:
            pass

    def checkpoint(self) -> None:
        """Copy the WAL into the store and empty it, so it never grows past one file's work.
        It never waits: with a reader in the middle of a transaction, what it still needs
        stays for the next checkpoint."""
        self.conn.execute("PRAGMA busy_timeout = 0")
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            self.conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT_SECONDS * 1000)}")

    def backup(self, dest: str | Path) -> str:
        """A consistent copy of the store as of its last commit, even while a run writes
        (SQLite's online backup), written beside ``dest`` then renamed over it."""
        dest = Path(dest)
        if dest.is_dir():
            dest = dest / self.path.name
        own = {Path(f"{self.path}{suffix}").resolve() for suffix in ("", "-wal", "-shm", "-journal", ".lock")}
        if dest.resolve() in own or (dest.exists() and self.path.exists()
                                     and os.path.samefile(dest, self.path)):
            raise BackupRefused(StoreMsg.BACKUP_IS_STORE.format(dest=dest))
        tmp_name = None
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            copy = sqlite3.connect(tmp_name, isolation_level=None)
            try:
                self.conn.backup(copy)
                copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
                version = copy.execute("PRAGMA user_version").fetchone()[0]
                sessions = copy.execute("SELECT count(*) FROM sessions").fetchone()[0]
            finally:
                copy.close()
            with open(tmp_name, "rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(tmp_name, 0o600)  # the store holds personal data: the copy is the owner's
            os.replace(tmp_name, dest)
            tmp_name = None
        except (OSError, sqlite3.Error) as exc:
            reason = getattr(exc, "strerror", None) or exc
            raise BackupFailed(StoreMsg.BACKUP_FAILED.format(dest=dest, reason=reason)) from exc
        finally:
            if tmp_name is not None:
                try:
                    os.unlink(tmp_name)
                except OSError:
                    pass
        return StoreMsg.BACKED_UP.format(path=self.path.absolute(), dest=dest.absolute(),
                                         version=version, sessions=sessions)

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
        if version != SCHEMA_VERSION:
            self._check_version(version)
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                StoreMsg.NEWER.format(path=self.path, version=version, known=SCHEMA_VERSION)
            )
        if version == 0:
            tables = self.conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'"
            ).fetchone()[0]
            if tables:
                raise StoreUnavailable(StoreMsg.FOREIGN.format(path=self.path))
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

    def _check_version(self, version: int) -> None:
        """The header's schema version must be the one the store's tables are of: a flipped
        bit there must not pass for a newer store, nor run a migration over a newer one."""
        by_version = _objects_by_version()
        present = _objects(self.conn)
        holds = max((v for v, objects in by_version.items() if objects <= present), default=0)
        if version == 0:
            if not holds:
                return  # empty, or not ours: said below
        elif 0 < version <= SCHEMA_VERSION:
            if holds == version:
                return
        elif version > SCHEMA_VERSION and not (
                holds == SCHEMA_VERSION and present <= by_version[SCHEMA_VERSION]):
            return  # a newer store adds tables or indexes
        raise StoreUnavailable(
            StoreMsg.VERSION_DAMAGED.format(path=self.path, version=version, holds=holds)
        )

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One data file's work: committed at the end, or rolled back on error or ``rollback``."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(StoreMsg.BUSY.format(path=self.path, error=exc)) from exc
        if not self._holding:
            self._holding = True
            self.conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT_SECONDS * 1000)}")
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
            " pid, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (import_id, action, file, sha256, started_at, int(dry_run), reverts_run, os.getpid(),
             "revert" if reverts_run is not None else "import"),
        )
        return cur.lastrowid

    def end_run(self, run_id: int, ended_at: str, counts: dict, exit_code: int,
                reason: str | None = None) -> None:
        self.conn.execute(
            "UPDATE runs SET ended_at = ?, counts = ?, exit_code = ?, reason = ? WHERE id = ?",
            (ended_at, json.dumps(counts), exit_code, reason, run_id),
        )

    def record_night(self, import_id: str, kind: str, file: str, when: str, dry_run: bool, *,
                     action: str | None = None, sha256: str | None = None,
                     reason: str | None = None, applied_by: int | None = None) -> int:
        """A night that applied nothing, on record as a run of its own (exit 0, no counts):
        ``skip`` (the file was already imported by run ``applied_by``) or ``no_file``."""
        assert kind in ("skip", "no_file")
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (import_id, action, file, sha256, started_at, ended_at, dry_run,"
                " exit_code, pid, kind, reason, applied_by) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (import_id, action, file, sha256, when, when, int(dry_run), os.getpid(), kind,
                 reason, applied_by),
            )
        return cur.lastrowid

    # ---- commands: one row per import for each run or publish ----

    def begin_commands(self, import_ids: Iterable[str], command: str, started_at: str) -> dict[str, int]:
        """Committed at once, so that a command killed before its end is on record too."""
        ids = {}
        with self.transaction():
            runs_after = self.conn.execute("SELECT ifnull(max(id), 0) FROM runs").fetchone()[0]
            for import_id in dict.fromkeys(import_ids):
                ids[import_id] = self.conn.execute(
                    "INSERT INTO commands (import_id, command, started_at, runs_after, pid)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (import_id, command, started_at, runs_after, os.getpid()),
                ).lastrowid
        return ids

    def end_commands(self, ended: dict[int, tuple[str, int, dict]], seconds: float) -> None:
        """command id -> (ended at, exit code, rows by outcome); ``seconds`` it took."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE commands SET ended_at = ?, exit_code = ?, counts = ?, seconds = ? WHERE id = ?",
                [(at, code, json.dumps(counts), seconds, cid)
                 for cid, (at, code, counts) in ended.items()],
            )

    def known_imports(self) -> list[str]:
        return [i for (i,) in self.conn.execute(
            "SELECT import_id FROM commands UNION SELECT import_id FROM runs"
            " WHERE kind != 'revert' ORDER BY 1"
        )]

    def latest_commands(self, import_id: str, limit: int = 2) -> list[dict]:
        """The import's last commands, newest first."""
        return self._dicts(
            "SELECT id, import_id, command, started_at, ended_at, exit_code, counts, seconds,"
            " runs_after, pid FROM commands WHERE import_id = ? ORDER BY id DESC LIMIT ?", (import_id, limit),
            json_columns=("counts",),
        )

    def last_success(self, import_id: str) -> dict | None:
        rows = self._dicts(
            "SELECT id, command, started_at, ended_at, exit_code FROM commands"
            " WHERE import_id = ? AND exit_code = 0 ORDER BY id DESC LIMIT 1", (import_id,))
        return rows[0] if rows else None

    def runs_of_command(self, command: dict) -> list[dict]:
        """The runs (files) a command recorded for its import, in order."""
        return self._dicts(
            "SELECT id, file, started_at, ended_at, exit_code, counts, kind, reason, applied_by"
            " FROM runs WHERE import_id = ? AND id > ? AND dry_run = 0 AND kind != 'revert'"
            " AND id <= ifnull((SELECT min(runs_after) FROM commands c WHERE c.import_id = ?"
            " AND c.id > ?), 9223372036854775807) ORDER BY id",
            (command["import_id"], command["runs_after"], command["import_id"], command["id"]),
            json_columns=("counts",),
        )

    def pending_by_publisher(self, import_id: str) -> dict[str, int]:
        return dict(self.conn.execute(
            "SELECT publisher, count(*) FROM outbox WHERE import_id = ? AND state = 'pending'"
            " GROUP BY publisher ORDER BY publisher", (import_id,)))

    def publishers_of_import(self, import_id: str) -> list[str]:
        return [p for (p,) in self.conn.execute(
            "SELECT DISTINCT publisher FROM outbox WHERE import_id = ? ORDER BY publisher",
            (import_id,))]

    def _dicts(self, sql: str, params: tuple, json_columns: tuple[str, ...] = ()) -> list[dict]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            record = dict(zip(names, row))
            for name in json_columns:
                record[name] = json.loads(record[name]) if record[name] else None
            out.append(record)
        return out

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
        """The latest run that applied a file with this SHA-256 for this import (not a dry
        run) and is still applied: a reverted run no longer counts."""
        for run_id, ended_at in self.conn.execute(
            "SELECT id, ended_at FROM runs WHERE import_id = ? AND sha256 = ? AND dry_run = 0"
            " AND kind = 'import' AND exit_code IN (0, 1, 6) ORDER BY id DESC",
            (import_id, sha256),
        ).fetchall():
            if not self.reverted(run_id):
                return run_id, ended_at
        return None

    def reverted(self, run_id: int) -> bool:
        """Whether a revert undid the run (and was not itself reverted since)."""
        reverts = self.conn.execute(
            "SELECT id FROM runs WHERE reverts_run = ? AND dry_run = 0 AND exit_code = 0",
            (run_id,),
        ).fetchall()
        return any(not self.reverted(revert) for (revert,) in reverts)

    def runs(self, since: str | None = None) -> list[dict]:
        """The runs, newest first; ``since`` (ISO 8601, with an offset) keeps those started then
        or later, compared as instants whatever offset each was written with."""
        where = " WHERE julianday(r.started_at) >= julianday(?)" if since else ""
        cursor = self.conn.execute(
            "SELECT r.id, r.import_id, r.action, r.file, r.sha256, r.started_at, r.ended_at,"
            " r.dry_run, r.counts, r.exit_code, r.reverts_run, r.kind, r.reason, r.applied_by,"
            " (SELECT count(*) FROM outbox o WHERE o.run_id = r.id AND o.state = 'pending')"
            f" AS pending FROM runs r{where} ORDER BY r.id DESC", (since,) if since else ()
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

    def defer_foreign_keys(self) -> None:
        """Check the references at the end of the open transaction, not at each statement."""
        self.conn.execute("PRAGMA defer_foreign_keys = ON")

    def broken_references(self) -> dict[tuple[str, int], list[tuple[str, str, str]]]:
        """Within a transaction whose checks are deferred: (table, id) of each record that
        a session or a group still refers to -> the referring records, (table, guid, title
        or name) each, in id order."""
        found: dict[tuple[str, int], list[tuple[str, str, str]]] = {}
        for child, label in (("sessions", "title"), ("groups", "name")):
            columns = {fk[0]: (fk[2], fk[3]) for fk in
                       self.conn.execute(f"PRAGMA foreign_key_list({child})")}
            rows = self.conn.execute(f"PRAGMA foreign_key_check({child})").fetchall()
            by_id: dict[int, list[int]] = {}
            for _, rowid, _, fkid in rows:
                by_id.setdefault(rowid, []).append(fkid)
            for part in _chunks(sorted(by_id)):
                marks = ", ".join("?" * len(part))
                cursor = self.conn.execute(
                    f"SELECT * FROM {child} WHERE id IN ({marks}) ORDER BY id", part)
                names = [d[0] for d in cursor.description]
                for row in cursor:
                    record = dict(zip(names, row))
                    for fkid in by_id[record["id"]]:
                        parent, column = columns[fkid]
                        key = (parent, record[column])
                        found.setdefault(key, []).append((child, record["guid"], record[label]))
        return found

    def last_recorded(self, table: str, record_id: int) -> dict | None:
        """A record as the journal last saw it (for one that no longer exists)."""
        row = self.conn.execute(
            "SELECT ifnull(after, before) FROM journal WHERE table_name = ? AND record_id = ?"
            " ORDER BY run_id DESC, seq DESC LIMIT 1", (table, record_id),
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else None

    # ---- consolidators still due after a commit ----

    def add_due_consolidators(self, run_id: int, import_id: str, names: list[str], stamp: str,
                              reports: str, rows: Iterable[tuple[int, str, str]]) -> None:
        """In the file's own transaction: these consolidators are still to run for it, on
        ``reports`` and its ``rows`` (report index, "rejected" or "warning", JSON entry),
        written as they come."""
        self.conn.execute(
            "INSERT INTO consolidators_due (run_id, import_id, names, stamp, reports)"
            " VALUES (?, ?, ?, ?, ?)",
            (run_id, import_id, json.dumps(names), stamp, reports),
        )
        self.conn.executemany(
            "INSERT INTO consolidators_due_rows (run_id, report, kind, entry) VALUES (?, ?, ?, ?)",
            ((run_id, *row) for row in rows),
        )

    def due_rows(self, run_id: int, report: int, kind: str) -> Iterator[str]:
        """The JSON entries kept for one report of a run with consolidators due, in order."""
        cursor = self.conn.execute(
            "SELECT entry FROM consolidators_due_rows WHERE run_id = ? AND report = ? AND kind = ?"
            " ORDER BY rowid", (run_id, report, kind))
        return (entry for (entry,) in cursor)

    def due_consolidators(self, import_id: str) -> list[dict]:
        """The runs of an import whose consolidators have not all run, oldest first."""
        cursor = self.conn.execute(
            "SELECT d.run_id, r.file, r.sha256, d.names, d.backup, d.stamp, d.reports"
            " FROM consolidators_due d JOIN runs r ON r.id = d.run_id"
            " WHERE d.import_id = ? ORDER BY d.run_id",
            (import_id,),
        )
        return [
            {"run_id": run_id, "file": file, "sha256": sha256, "names": json.loads(names),
             "backup": backup, "stamp": stamp, "reports": reports}
            for run_id, file, sha256, names, backup, stamp, reports in cursor
        ]

    def due_names(self, run_id: int) -> list[str]:
        row = self.conn.execute(
            "SELECT names FROM consolidators_due WHERE run_id = ?", (run_id,)).fetchone()
        return json.loads(row[0]) if row else []

    def consolidator_done(self, run_id: int, name: str, backup: str | None) -> None:
        """One consolidator of the run ran (or failed and was reported): no longer due."""
        with self.transaction():
            left = [n for n in self.due_names(run_id) if n != name]
            if left:
                self.conn.execute(
                    "UPDATE consolidators_due SET names = ?, backup = ? WHERE run_id = ?",
                    (json.dumps(left), backup, run_id),
                )
            else:
                self.drop_due_consolidators([run_id])

    def drop_due_consolidators(self, run_ids: Iterable[int]) -> None:
        """In the caller's transaction: those runs' consolidators are no longer wanted (the
        file was imported again, or the run reverted)."""
        run_ids = list(run_ids)
        self.conn.executemany(
            "DELETE FROM consolidators_due_rows WHERE run_id = ?", ((r,) for r in run_ids))
        self.conn.executemany(
            "DELETE FROM consolidators_due WHERE run_id = ?", ((r,) for r in run_ids))

    def pending_of_runs(self, run_ids: Iterable[int]) -> dict[int, int]:
        """run id -> its changes still waiting for a publisher."""
        found: dict[int, int] = {}
        for part in _chunks(sorted(set(run_ids))):
            marks = ", ".join("?" * len(part))
            found.update(self.conn.execute(
                f"SELECT run_id, count(*) FROM outbox WHERE run_id IN ({marks})"
                " AND state = 'pending' GROUP BY run_id", part))
        return found

    def pending_of_imports(self, import_ids: Iterable[str]) -> int:
        ids = sorted(set(import_ids))
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return self.conn.execute(
            f"SELECT count(*) FROM outbox WHERE import_id IN ({marks}) AND state = 'pending'",
            ids).fetchone()[0]

    def committed(self, run_id: int) -> bool:
        found = self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
        return found is not None

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

    # the row beside a publisher's calls that holds (boot id, wall clock - boot clock) of
    # the command that recorded them: publisher "zoho" -> "zoho@boot <id>", at = the offset
    _ANCHOR = "{publisher}@boot "

    def pace_anchor(self, publisher: str) -> tuple[str, float] | None:
        prefix = self._ANCHOR.format(publisher=publisher)
        row = self.conn.execute(
            "SELECT publisher, at FROM remote_calls WHERE substr(publisher, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchone()
        return None if row is None else (row[0][len(prefix):], row[1])

    def record_calls(self, publisher: str, calls: list[float], keep_after: float,
                     anchor: tuple[str, float] | None = None) -> None:
        """Keep the calls sent after ``keep_after``: the ones a window can still count."""
        prefix = self._ANCHOR.format(publisher=publisher)
        with self.transaction():
            self.conn.execute(
                "DELETE FROM remote_calls WHERE publisher = ? OR substr(publisher, 1, ?) = ?",
                (publisher, len(prefix), prefix),
            )
            self.conn.executemany(
                "INSERT INTO remote_calls (publisher, at) VALUES (?, ?)",
                ((publisher, at) for at in calls if at > keep_after),
            )
            if anchor is not None:
                self.conn.execute("INSERT INTO remote_calls (publisher, at) VALUES (?, ?)",
                                  (prefix + anchor[0], anchor[1]))

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
