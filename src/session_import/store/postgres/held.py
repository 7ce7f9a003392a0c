"""Runs held for approval and a snapshot feed's sessions, on PostgreSQL: the same methods
as store/held.py and store/snapshots.py, over the same tables (schema version 6)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from session_import.store.held import first_found

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


class PgHeldRuns:
    conn: Any

    def session_ids_of_import(
        self, import_id: str, since: str | None, training_ids: Iterable[int] | None
    ) -> Iterator[int]:
        where = "created_by_import = %s"
        params: list[Any] = [import_id]
        if since is not None:
            where += " AND start_date >= %s"
            params.append(since)
        if training_ids is not None:
            where += " AND training_id = ANY(%s)"
            params.append(sorted(set(training_ids)))
        cursor = self.conn.execute(f"SELECT id FROM sessions WHERE {where} ORDER BY id", params)
        while rows := cursor.fetchmany(5000):
            for (session_id,) in rows:
                yield session_id

    def touched_sessions(self, run_id: int) -> list[tuple[int, str, str, str, str]]:
        cursor = self.conn.execute(
            "SELECT record_id, guid, op, before FROM journal"
            " WHERE run_id = %s AND table_name = 'sessions' ORDER BY seq",
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
            " reason, counts, held_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
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
        rows = [(run_id, *entry) for entry in sessions]
        if rows:
            with self.conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO held_sessions (run_id, session_id, guid, title, op, before)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )

    def held_run(self, run_id: int) -> dict | None:
        row = self.conn.execute(
            f"SELECT {', '.join(_HELD_COLUMNS)} FROM held_runs WHERE run_id = %s", (run_id,)
        ).fetchone()
        return _held(row) if row else None

    def held_runs(self, import_id: str | None = None) -> list[dict]:
        where, params = "state = 'held'", []
        if import_id is not None:
            where += " AND import_id = %s"
            params.append(import_id)
        cursor = self.conn.execute(
            f"SELECT {', '.join(_HELD_COLUMNS)} FROM held_runs WHERE {where} ORDER BY run_id",
            params,
        )
        return [_held(row) for row in cursor]

    def held_sessions(self, run_id: int) -> Iterator[dict]:
        cursor = self.conn.execute(
            "SELECT session_id, guid, title, op, before FROM held_sessions WHERE run_id = %s"
            " ORDER BY id",
            (run_id,),
        )
        for session_id, guid, title, op, before in cursor.fetchall():
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
            "UPDATE held_runs SET state = %s, decided_at = %s, applied_by = %s WHERE run_id = %s",
            (state, decided_at, applied_by, run_id),
        )


def _held(row: tuple) -> dict:
    held = dict(zip(_HELD_COLUMNS, row, strict=True))
    held["counts"] = json.loads(held["counts"])
    return held
