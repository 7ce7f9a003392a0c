"""The store's SQL schema: each version's DDL, the migrations between them, and the check
that a store's header version matches the tables it holds."""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

from session_import.store.connection import StoreMsg, check_location, connect, opening
from session_import.store.interface import StoreUnavailable

SCHEMA_VERSION = 7

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

# session column -> the index a store makes before the first statement that needs it (a
# look-up of sessions by date, a count of sessions by training, a training's delete), not
# with the schema: each index costs every session written, and most configurations
# never look sessions up by their dates or count them by training. Stores made before
# keep these indexes (schema version 1 had them).
ON_DEMAND_INDEXES = {
    column: (name, f"CREATE INDEX IF NOT EXISTS {name} ON sessions({column})")
    for column, name in (
        ("start_date", "sessions_start"),
        ("end_date", "sessions_end"),
        ("training_id", "sessions_training"),
    )
}
# runs held for approval (<onLimit>hold</onLimit>): a file that tripped a safety limit was
# rolled back and its run recorded (exit 7); held_runs keeps what approving it needs (the
# configuration, the file and their SHA-256) and what it would have done (its counts), and
# held_sessions each existing session it would have updated or cancelled, as it found it,
# so that an approval refuses when one of them changed since
_SCHEMA_V6_HELD = """
CREATE TABLE held_runs (
    run_id INTEGER PRIMARY KEY REFERENCES runs(id),
    import_id TEXT NOT NULL,
    config TEXT NOT NULL,
    config_sha256 TEXT,
    file TEXT NOT NULL,
    sha256 TEXT,
    reason TEXT NOT NULL,
    counts TEXT NOT NULL,
    held_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'approved', 'discarded')),
    decided_at TEXT,
    applied_by INTEGER REFERENCES runs(id)
);
CREATE INDEX held_runs_import ON held_runs(import_id, state);

CREATE TABLE held_sessions (
    run_id INTEGER NOT NULL REFERENCES held_runs(run_id),
    session_id INTEGER NOT NULL,
    guid TEXT NOT NULL,
    title TEXT NOT NULL,
    op TEXT NOT NULL,
    before TEXT NOT NULL
);
CREATE INDEX held_sessions_run ON held_sessions(run_id)
"""

# each import's digests of the session rows it applied (session_import.digests): by the
# key of a row's search and training cells, one digest of the row's cells and of its
# session's record as the row left it, that session, the criteria its search used (bits)
# and the run
_SCHEMA_V7_DIGESTS = """
CREATE TABLE import_digests (
    import_id TEXT NOT NULL,
    key INTEGER NOT NULL,
    digest BLOB NOT NULL,
    session_id INTEGER NOT NULL,
    criteria INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    PRIMARY KEY (import_id, key)
) WITHOUT ROWID
"""

# version reached -> script that reaches it from the one before
MIGRATIONS: dict[int, str] = {
    1: _SCHEMA_V1,
    2: _SCHEMA_V2,
    3: _SCHEMA_V3,
    4: _SCHEMA_V4_DUE,
    5: _SCHEMA_V5,
    6: _SCHEMA_V6_HELD,
    7: _SCHEMA_V7_DIGESTS,
}


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
    """The tables and indexes of the schema a store holds (not those made on demand)."""
    on_demand = {name for name, _ in ON_DEMAND_INDEXES.values()}
    return {
        (kind, name)
        for kind, name in conn.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index')"
            " AND name NOT LIKE 'sqlite_%'"
        )
        if name not in on_demand
    }


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the store to SCHEMA_VERSION in one transaction, refusing one that is newer,
    foreign or whose header does not match its tables."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version != SCHEMA_VERSION:
        _check_version(conn, path, version)
    if version > SCHEMA_VERSION:
        raise StoreUnavailable(
            StoreMsg.NEWER.format(path=path, version=version, known=SCHEMA_VERSION)
        )
    if version == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[
            0
        ]
        if tables:
            raise StoreUnavailable(StoreMsg.FOREIGN.format(path=path))
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[target].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _check_version(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """The header's schema version must be the one the store's tables are of: a flipped
    bit there must not pass for a newer store, nor run a migration over a newer one."""
    by_version = _objects_by_version()
    present = _objects(conn)
    holds = max((v for v, objects in by_version.items() if objects <= present), default=0)
    if version == 0:
        if not holds:
            return  # empty, or not ours: said below
    elif 0 < version <= SCHEMA_VERSION:
        if holds == version:
            return
    elif version > SCHEMA_VERSION and not (
        holds == SCHEMA_VERSION and present <= by_version[SCHEMA_VERSION]
    ):
        return  # a newer store adds tables or indexes
    raise StoreUnavailable(StoreMsg.VERSION_DAMAGED.format(path=path, version=version, holds=holds))


def open_current(
    path: Path, busy_timeout: float = 5.0, *, create: bool = True, writable: bool = True
) -> sqlite3.Connection:
    """A connection to the store at the current schema, migrated if it was older."""
    with opening(path):
        conn = connect(path, busy_timeout, create=create, writable=writable)
        migrate(conn, path)
    return conn


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
    open_current(path).close()
    return StoreMsg.CREATED.format(path=path, version=SCHEMA_VERSION)
