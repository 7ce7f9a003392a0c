"""A snapshot feed's missing sessions: those of an import, within a scope, that no row of
tonight's file matched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from session_import.model import SessionRecord
from session_import.store.connection import Connection, chunks
from session_import.store.records import COLUMNS


class MissingSessions(Connection):
    def sessions_of_import(
        self, import_id: str, since: str | None, training_ids: Iterable[int] | None
    ) -> Iterator[SessionRecord]:
        """The sessions ``import_id`` created, in id order: those starting on or after
        ``since`` (an ISO date) when it is given, of ``training_ids`` when they are given."""
        cols = ", ".join(COLUMNS["sessions"])
        where, params = "created_by_import = ?", [import_id]
        if since is not None:
            where += " AND start_date >= ?"
            params.append(since)
        if training_ids is None:
            yield from self._sessions_where(cols, where, params)
            return
        for part in chunks(sorted(set(training_ids))):
            marks = ", ".join("?" * len(part))
            yield from self._sessions_where(
                cols, f"{where} AND training_id IN ({marks})", [*params, *part]
            )

    def _sessions_where(self, cols: str, where: str, params: list) -> Iterator[SessionRecord]:
        sql = f"SELECT {cols} FROM sessions WHERE {where} ORDER BY id"
        for row in self.conn.execute(sql, params).fetchall():
            yield SessionRecord(*row)
