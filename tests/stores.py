"""Stores for the tests that drive the library directly (the property tests): an empty
store of the backend the test runs on (conftest's ``store_backend``), and SQL on it
written once for both (``?`` placeholders)."""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path

from conftest import BACKENDS

from session_import.store import PostgresStore, Store, StoreInterface

_TABLES = (
    "import_digests",
    "held_sessions",
    "held_runs",
    "consolidators_due_rows",
    "consolidators_due",
    "journal",
    "outbox",
    "remote_ids",
    "remote_calls",
    "commands",
    "runs",
    "sessions",
    "groups",
    "users",
    "trainings",
    "id_marks",
    "run_locks",
)


@cache
def _sqlite_template(folder: Path) -> Path:
    path = folder / "template.db"
    Store(path).close()
    return path


@cache
def _pg_database(name: str = "store") -> str:
    url = BACKENDS.server().new_database()
    PostgresStore(url).close()
    return url


def empty_store(folder: Path, name: str = "store") -> StoreInterface:
    """An empty store at the current schema: a copy of a template file in ``folder``, or a
    database of the test session's PostgreSQL server emptied (ids start at 1 again); each
    ``name`` is a store of its own."""
    if BACKENDS.current == "postgresql":
        store = PostgresStore(_pg_database(name), create=False)
        store.conn.execute(f"TRUNCATE {', '.join(_TABLES)} RESTART IDENTITY")
        return store
    db = folder / f"{name}.db"
    shutil.copyfile(_sqlite_template(folder.parent), db)
    return Store(db)


def _sql(store: StoreInterface, sql: str) -> str:
    return sql.replace("?", "%s") if isinstance(store, PostgresStore) else sql


def execute_many(store: StoreInterface, sql: str, rows: list[tuple]) -> None:
    if isinstance(store, PostgresStore):
        with store.conn.cursor() as cursor:
            cursor.executemany(_sql(store, sql), rows)
    else:
        store.conn.executemany(sql, rows)


def rows_of(store: StoreInterface, sql: str, *params) -> list[dict]:
    cursor = store.conn.execute(_sql(store, sql), params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
