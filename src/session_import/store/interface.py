"""What the pipeline, the resolver, the publishers and the commands use of a store.

A backend implements ``StoreInterface`` and raises only the exceptions below: its own
driver's errors, its pragmas, temporary tables and schema bookkeeping stay inside it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from session_import.errors import ExitCode, SessionImportError
from session_import.model import ChangeOp, GroupRecord, SessionRecord, TrainingRecord, UserRecord

if TYPE_CHECKING:
    from session_import.publishers.contract import CallPacer


class StoreUnavailable(SessionImportError):
    """The store cannot be opened, is not ours, or is busy (exit 5)."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class StoreError(SessionImportError):
    """A statement failed on a store that was open (a full disk, an I/O error, a damaged
    page): exit 5, with the backend's own words."""

    exit_code = ExitCode.STORE_UNAVAILABLE

    def explain(self) -> str:
        return f"The store failed: {self}; nothing of the work in progress was written."


class BackupRefused(SessionImportError):
    """The backup's destination is the store itself or one of its files (exit 2)."""

    exit_code = ExitCode.USAGE


class BackupFailed(SessionImportError):
    """The backup could not be written (exit 3)."""

    exit_code = ExitCode.FILE_FAILED


class StoreInterface(Protocol):
    """What a store offers; ``Store`` (SQLite) is one, a PostgreSQL store another."""

    @property
    def path(self) -> Path | str:
        """What messages name: the file, or the URL with its password masked."""
        ...

    # ---- the connection ----
    def transaction(self, *, rollback: bool = False) -> AbstractContextManager[None]: ...
    def defer_foreign_keys(self) -> None:
        """Check the references at the end of the open transaction (a revert's order)."""

    def checkpoint(self) -> None:
        """After a file's commit: keep the backend's log small (a no-op where it has none)."""

    def backup(self, dest: str | Path) -> str: ...
    def close(self) -> None: ...

    # ---- records: look-ups in bulk and writes ----
    def sessions_by(self, column: str, values: Iterable) -> list[SessionRecord]: ...
    def trainings_by(self, column: str, values: Iterable) -> list[TrainingRecord]: ...
    def users_by(self, column: str, values: Iterable) -> list[UserRecord]: ...
    def groups_by(self, column: str, values: Iterable) -> list[GroupRecord]: ...
    def longest_session_days(self) -> float: ...
    def sessions_overlapping(
        self, windows: Iterable[tuple[int, str, str, str]]
    ) -> list[SessionRecord]: ...
    def session_counts_by_training(self, training_ids: Iterable[int]) -> dict[int, int]: ...
    def modifiable_sessions(self, import_id: str, full_access: bool) -> int: ...
    def next_id(self, table: str) -> int: ...
    def apply(self, changes: list[ChangeOp]) -> None: ...
    def session_ids_of_import(
        self, import_id: str, since: str | None, training_ids: Iterable[int] | None
    ) -> Iterator[int]:
        """A snapshot feed's candidates: the ids of the sessions the import created,
        starting on or after ``since`` when given, of ``training_ids`` when given, in id
        order, read as they are used."""

    # ---- row digests (session_import.digests) ----
    def has_digests(self, import_id: str) -> bool: ...
    def digests_of(self, import_id: str, keys: Sequence[int]) -> dict[int, tuple]: ...
    def save_digests(self, import_id: str, run_id: int, rows: Iterable[tuple]) -> None: ...
    def drop_digests(self, import_id: str, run_id: int) -> None: ...
    def reference_changes(self, tables: Iterable[str]) -> int: ...
    def duplicated_sessions(self, columns: Sequence[str]) -> set[int]: ...
    def sole_writer(self) -> bool: ...

    # ---- runs, nights, commands ----
    def begin_run(
        self,
        import_id: str,
        action: str,
        file: str,
        sha256: str | None,
        started_at: str,
        dry_run: bool,
        reverts_run: int | None = None,
    ) -> int: ...
    def end_run(
        self, run_id: int, ended_at: str, counts: dict, exit_code: int, reason: str | None = None
    ) -> None: ...
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
    ) -> int: ...
    def committed(self, run_id: int) -> bool: ...
    def run_file(self, run_id: int) -> tuple[str, str, str] | None: ...
    def applied_run(self, import_id: str, sha256: str) -> tuple[int, str] | None: ...
    def runs(self, since: str | None = None) -> list[dict]: ...
    def begin_commands(
        self, import_ids: Iterable[str], command: str, started_at: str
    ) -> dict[str, int]: ...
    def end_commands(self, ended: dict[int, tuple[str, int, dict]], seconds: float) -> None: ...
    def known_imports(self) -> list[str]: ...
    def latest_commands(self, import_id: str, limit: int = 2) -> list[dict]: ...
    def last_success(self, import_id: str) -> dict | None: ...
    def runs_of_command(self, command: dict) -> list[dict]: ...

    # ---- the journal, and what a revert checks ----
    def journal(self, run_id: int, changes: list[ChangeOp]) -> None: ...
    def run_journal(self, run_id: int) -> list[dict]: ...
    def journal_entries(self, run_id: int) -> Iterator[dict]: ...
    def later_changes(
        self, run_id: int, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]: ...
    def broken_references(self) -> dict[tuple[str, int], list[tuple[str, str, str]]]: ...
    def last_recorded(self, table: str, record_id: int) -> dict | None: ...

    # ---- consolidators still due after a commit ----
    def add_due_consolidators(
        self,
        run_id: int,
        import_id: str,
        names: list[str],
        stamp: str,
        reports: str,
        rows: Iterable[tuple[int, str, str]],
    ) -> None: ...
    def due_rows(self, run_id: int, report: int, kind: str) -> Iterator[str]: ...
    def due_consolidators(self, import_id: str) -> list[dict]: ...
    def due_names(self, run_id: int) -> list[str]: ...
    def consolidator_done(self, run_id: int, name: str, backup: str | None) -> None: ...
    def drop_due_consolidators(self, run_ids: Iterable[int]) -> None: ...

    # ---- the outbox ----
    def enqueue(
        self,
        import_id: str,
        publishers: Iterable[str],
        run_id: int,
        changes: list[ChangeOp],
        rows: dict[int, dict],
    ) -> None: ...
    def queued(
        self, import_id: str, publisher: str, limit: int = 2000, after: int = 0
    ) -> list[dict]: ...
    def remote_owner(self, publisher: str, remote_id: str) -> int | None: ...
    def pending_counts(self, import_id: str, publisher: str) -> dict[int, int]: ...
    def pending_of_runs(self, run_ids: Iterable[int]) -> dict[int, int]: ...
    def pending_of_imports(self, import_ids: Iterable[str]) -> int: ...
    def pending_by_publisher(self, import_id: str) -> dict[str, int]: ...
    def publishers_of_import(self, import_id: str) -> list[str]: ...
    def publishers_of_run(self, run_id: int) -> list[str]: ...
    def mark_attempted(self, ids: Iterable[int]) -> None: ...
    def settle_many(self, settled: list[tuple]) -> None: ...
    def note_pending(self, entry_id: int, message: str) -> None: ...
    def recent_calls(self, publisher: str, since: float) -> list[float]: ...
    def pace_anchor(self, publisher: str) -> tuple[str, float] | None: ...
    def record_calls(
        self,
        publisher: str,
        calls: list[float],
        keep_after: float,
        anchor: tuple[str, float] | None = None,
    ) -> None: ...
    def shared_pacer(self, publisher: str, pacer: CallPacer | None) -> CallPacer | None:
        """The pacer a client uses: its own on SQLite (one writer at a time), one counted in
        the store for every worker on a server."""

    def lock_holder(self) -> dict:
        """Who holds the run lock ("held", "pid", and "live" when the store itself knows the
        holder is alive), or who last held it; {} when nobody ever did."""

    def release_claims(self) -> None:
        """The queued changes this store's worker claimed and did not settle are free again
        (a no-op where one worker publishes at a time)."""

    # ---- runs held for approval ----
    def touched_sessions(self, run_id: int) -> list[tuple[int, str, str, str, str]]:
        """In the run's open transaction: each existing session its journal updates or
        cancels, as first found (id, GUID, title, op, record as JSON)."""

    def hold_run(
        self,
        run_id: int,
        import_id: str,
        config: str,
        config_sha256: str | None,
        file: str,
        sha256: str | None,
        reason: str,
        counts: dict,
        held_at: str,
        sessions: Iterable[tuple[int, str, str, str, str]],
    ) -> None: ...
    def held_run(self, run_id: int) -> dict | None: ...
    def held_runs(self, import_id: str | None = None) -> list[dict]: ...
    def held_sessions(self, run_id: int) -> Iterator[dict]: ...
    def decide_held(
        self, run_id: int, state: str, decided_at: str, applied_by: int | None = None
    ) -> None: ...

    # ---- export ----
    def export(self, kind: str) -> tuple[list[str], Iterator[dict]]: ...
