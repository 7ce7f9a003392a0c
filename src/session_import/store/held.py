"""Runs held for approval: a file that tripped a safety limit under <onLimit>hold</onLimit>,
rolled back, kept with what approving it needs and what it would have done."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from session_import.store.connection import Connection

_HELD_COLUMNS = (
    "run_id",
    "import_id",
    "config",
    "config_sha256",
    "file",
    "sha256",
    "reason",
    "counts",
    "held_at",
    "state",
    "decided_at",
    "applied_by",
)


def first_found(journal_rows: Iterable) -> list[tuple[int, str, str, str, str]]:
    """(record id, GUID, op, before) journal rows in order -> each existing session as the
    run first found it; a session the run created itself (no before) is none of them."""
    first: dict[int, tuple[int, str, str, str, str] | None] = {}
    for record_id, guid, op, before in journal_rows:
        if record_id not in first:
            first[record_id] = (
                None
                if before is None
                else (record_id, guid, json.loads(before)["title"], op, before)
            )
    return [entry for entry in first.values() if entry is not None]


class HeldRuns(Connection):
    def touched_sessions(self, run_id: int) -> list[tuple[int, str, str, str, str]]:
        """In the run's open transaction, before it is rolled back: each existing session
        its journal updates or cancels, as it first found it (id, GUID, title, op, record as
        JSON). A session the run created itself is none of them."""
        cursor = self.conn.execute(
            "SELECT record_id, guid, op, before FROM journal"
            " WHERE run_id = ? AND table_name = 'sessions' ORDER BY seq",
            (run_id,),
        )
        return first_found(cursor)

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
    ) -> None:
        self.conn.execute(
            "INSERT INTO held_runs (run_id, import_id, config, config_sha256, file, sha256,"
            " reason, counts, held_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run_id,
                import_id,
                config,
                config_sha256,
                file,
                sha256,
                reason,
                json.dumps(counts),
                held_at,
            ),
        )
        self.conn.executemany(
            "INSERT INTO held_sessions (run_id, session_id, guid, title, op, before)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ((run_id, *entry) for entry in sessions),
        )

    def held_run(self, run_id: int) -> dict | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_HELD_COLUMNS)} FROM held_runs WHERE run_id = ?", (run_id,)
        ).fetchone()
        return _held(row) if row else None

    def held_runs(self, import_id: str | None = None) -> list[dict]:
        """The runs still held (not approved nor discarded), oldest first."""
        where, params = "state = 'held'", []
        if import_id is not None:
            where += " AND import_id = ?"
            params.append(import_id)
        cursor = self.conn.execute(
            f"SELECT {', '.join(_HELD_COLUMNS)} FROM held_runs WHERE {where} ORDER BY run_id",
            params,
        )
        return [_held(row) for row in cursor]

    def held_sessions(self, run_id: int) -> Iterator[dict]:
        cursor = self.conn.execute(
            "SELECT session_id, guid, title, op, before FROM held_sessions WHERE run_id = ?"
            " ORDER BY rowid",
            (run_id,),
        )
        for session_id, guid, title, op, before in cursor:
            yield {
                "id": session_id,
                "guid": guid,
                "title": title,
                "op": op,
                "before": json.loads(before),
            }

    def decide_held(
        self, run_id: int, state: str, decided_at: str, applied_by: int | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE held_runs SET state = ?, decided_at = ?, applied_by = ? WHERE run_id = ?",
            (state, decided_at, applied_by, run_id),
        )


def _held(row: tuple) -> dict:
    held = dict(zip(_HELD_COLUMNS, row, strict=True))
    held["counts"] = json.loads(held["counts"])
    return held
