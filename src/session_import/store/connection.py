"""The SQLite connection: opening (location checks, PRAGMAs, WAL), transactions, checkpoint
and backup, and the translation of sqlite3's errors into the store's own."""

from __future__ import annotations

import functools
import inspect
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from enum import StrEnum
from pathlib import Path
from typing import Self, TypeVar

from session_import.store.interface import (
    BackupFailed,
    BackupRefused,
    StoreError,
    StoreUnavailable,
)

# once a command holds the store, how long any later statement (the commit above all)
# waits for another connection: a reader never costs a night its work. --lock-timeout
# only bounds the wait to start.
WRITE_WAIT_SECONDS = 600.0
_IN_BATCH = 500  # keys per IN (...) list, well under SQLite's variable limit
T = TypeVar("T")


def chunks(values: list, size: int = _IN_BATCH) -> Iterator[list]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _is_damaged(exc: sqlite3.Error) -> bool:
    """SQLite's own verdict that a file is not a (sound) database."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
    ) or "unsupported file format" in str(exc)


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
    BUSY = "The store {path} is busy ({error}): another program holds it; nothing was written."
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
    BACKED_UP = (
        "Backed up the store {path} to {dest} (schema version {version}, {sessions} sessions)."
    )


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
        raise StoreUnavailable(
            StoreMsg.NOT_WRITABLE.format(path=path, reason=_unwritable_reason(path))
        )
    if writable and not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnavailable(
            StoreMsg.FOLDER_NOT_WRITABLE.format(
                folder=folder, path=path, reason=_unwritable_reason(folder)
            )
        )
    return path


@contextmanager
def opening(path: Path) -> Iterator[None]:
    """What went wrong opening the store, as StoreUnavailable."""
    try:
        yield
    except sqlite3.Error as exc:
        if _is_damaged(exc):
            raise StoreUnavailable(StoreMsg.DAMAGED.format(path=path, reason=exc)) from exc
        if _no_space(path.absolute().parent):
            raise StoreUnavailable(StoreMsg.NO_SPACE.format(path=path, error=exc)) from exc
        raise StoreUnavailable(StoreMsg.CANNOT_OPEN.format(path=path, error=exc)) from exc


def connect(path: Path, busy_timeout: float, *, create: bool, writable: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), in WAL mode when it can."""
    # on a read-only file system nothing can change the store, and SQLite could not
    # create the -shm file a WAL reader needs: it is read as an immutable file
    frozen = not create and not writable and _read_only_fs(path)
    target: str | Path = path
    if frozen:
        target = f"{path.absolute().as_uri()}?mode=ro&immutable=1"
    elif not create:
        target = f"{path.absolute().as_uri()}?mode=rw"
    conn = sqlite3.connect(
        target, isolation_level=None, timeout=busy_timeout, check_same_thread=False, uri=not create
    )
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -65536")
    if not frozen:
        _use_wal(conn)
    return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """WAL is kept in the file: set once, by the first command that can (it needs a moment
    alone with the store; a store held by another program stays as it is until then)."""
    if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    with suppress(sqlite3.OperationalError):
        conn.execute("PRAGMA journal_mode = WAL")


@contextmanager
def store_errors() -> Iterator[None]:
    """sqlite3's errors, as StoreError with SQLite's own words."""
    try:
        yield
    except sqlite3.Error as exc:
        raise StoreError(str(exc)) from exc


def translated(rows: Iterator) -> Iterator:
    """Rows read lazily from a cursor, raising StoreError instead of sqlite3's errors."""
    try:
        yield from rows
    except sqlite3.Error as exc:
        raise StoreError(str(exc)) from exc


def _raising_store_errors(method):
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(*args, **kwargs):
            return translated(method(*args, **kwargs))

        return generator

    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except sqlite3.Error as exc:
            raise StoreError(str(exc)) from exc

    return call


def raising_store_errors(cls: type[T]) -> type[T]:
    """Class decorator: no public method of the store lets an sqlite3 error out, each one
    becomes a StoreError with SQLite's own words, so nothing outside the package needs
    sqlite3. ``transaction`` translates its own; a method that returns a cursor's rows
    lazily wraps them in ``translated``."""
    for name, member in inspect.getmembers(cls, inspect.isfunction):
        if not name.startswith("_") and name != "transaction":
            setattr(cls, name, _raising_store_errors(member))
    return cls


class Connection:
    """The store's connection and what it does as a whole: transactions, checkpoint, backup."""

    path: Path
    conn: sqlite3.Connection
    _holding: bool  # once a write transaction began, later waits use WRITE_WAIT_SECONDS

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
        own = {
            Path(f"{self.path}{suffix}").resolve()
            for suffix in ("", "-wal", "-shm", "-journal", ".lock")
        }
        if dest.resolve() in own or (
            dest.exists() and self.path.exists() and os.path.samefile(dest, self.path)
        ):
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
                with suppress(OSError):
                    os.unlink(tmp_name)
        return StoreMsg.BACKED_UP.format(
            path=self.path.absolute(), dest=dest.absolute(), version=version, sessions=sessions
        )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _rollback(self) -> None:
        """Roll back; a connection that already lost its transaction (I/O error) has nothing
        to undo."""
        with suppress(sqlite3.Error):
            self.conn.execute("ROLLBACK")

    @contextmanager
    def transaction(self, *, rollback: bool = False) -> Iterator[None]:
        """One data file's work: committed at the end, or rolled back on error or ``rollback``."""
        self._begin()
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        with store_errors():
            self.conn.execute("ROLLBACK" if rollback else "COMMIT")

    @store_errors()
    def _begin(self) -> None:
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreUnavailable(StoreMsg.BUSY.format(path=self.path, error=exc)) from exc
        if not self._holding:
            self._holding = True
            self.conn.execute(f"PRAGMA busy_timeout = {int(WRITE_WAIT_SECONDS * 1000)}")
