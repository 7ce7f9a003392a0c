"""The store: the only place with SQL. ``StoreInterface`` is what the rest of the package
uses of a store; ``Store`` is its SQLite backend, ``PostgresStore`` its PostgreSQL one,
chosen by ``--db``: a ``postgresql://`` URL, else the path of an SQLite file."""

from pathlib import Path

from session_import.lock import ImportLock
from session_import.store.connection import StoreMsg, check_location
from session_import.store.interface import (
    BackupFailed,
    BackupRefused,
    StoreError,
    StoreInterface,
    StoreUnavailable,
)
from session_import.store.postgres.backend import PostgresStore, init_pg_store
from session_import.store.postgres.lock import AdvisoryLock
from session_import.store.postgres.url import is_postgres_url, masked
from session_import.store.schema import MIGRATIONS, SCHEMA_VERSION, init_store
from session_import.store.sqlite import Store


def open_store(
    db: str | Path, busy_timeout: float = 5.0, *, create: bool = True, writable: bool = True
) -> StoreInterface:
    """The store ``db`` names, SQLite's or PostgreSQL's."""
    if is_postgres_url(db):
        return PostgresStore(str(db), busy_timeout, create=create, writable=writable)
    return Store(db, busy_timeout, create=create, writable=writable)


def create_store(db: str | Path) -> str:
    """`session-import init`, on either backend; what was done, as a sentence."""
    if is_postgres_url(db):
        return init_pg_store(str(db))
    return init_store(db)


def run_lock(db: str | Path) -> ImportLock | AdvisoryLock:
    """The run lock of ``db``: an flock beside an SQLite file, advisory locks on a server."""
    if is_postgres_url(db):
        return AdvisoryLock(str(db))
    return ImportLock(db)


def shown(db: str | Path) -> str:
    """``db`` as a message may show it: a URL with its password masked."""
    return masked(str(db)) if is_postgres_url(db) else str(db)


__all__ = [
    "MIGRATIONS",
    "PostgresStore",
    "SCHEMA_VERSION",
    "BackupFailed",
    "BackupRefused",
    "Store",
    "StoreError",
    "StoreInterface",
    "StoreMsg",
    "StoreUnavailable",
    "check_location",
    "create_store",
    "init_store",
    "is_postgres_url",
    "open_store",
    "run_lock",
    "shown",
]
