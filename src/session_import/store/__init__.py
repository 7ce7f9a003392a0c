"""The store: the only place with SQL. ``StoreInterface`` is what the rest of the package
uses of a store; ``Store`` is its SQLite backend."""

from session_import.store.connection import StoreMsg, check_location
from session_import.store.interface import (
    BackupFailed,
    BackupRefused,
    StoreError,
    StoreInterface,
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
    "StoreInterface",
    "StoreMsg",
    "StoreUnavailable",
    "check_location",
    "init_store",
]
