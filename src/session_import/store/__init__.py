"""The store: the only place with SQL; ``Store`` is its SQLite backend."""

from session_import.store.connection import StoreMsg, check_location
from session_import.store.interface import (
    BackupFailed,
    BackupRefused,
    StoreError,
    StoreUnavailable,
)
from session_import.store.schema import MIGRATIONS, SCHEMA_VERSION, init_store
from session_import.store.sqlite import Store

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "BackupFailed",
    "BackupRefused",
    "Store",
    "StoreError",
    "StoreMsg",
    "StoreUnavailable",
    "check_location",
    "init_store",
]
