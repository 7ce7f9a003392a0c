"""A snapshot feed's missing sessions: those of an import, within a scope, that no row of
tonight's file matched."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from session_import.store.connection import Connection, chunks


class MissingSessions(Connection):
    def session_ids_of_import(
        self, import_id: str, since: str | None, training_ids: Iterable[int] | None
    ) -> Iterator[int]:
        """The ids of the sessions ``import_id`` created, in id order, read as they are
        used (a million sessions are never all in memory): those starting on or after
        ``since`` (an ISO date) when it is given, of ``training_ids`` when they are given."""
        where, params = "created_by_import = ?", [import_id]
        if since is not None:
            where += " AND start_date >= ?"
            params.append(since)
        if training_ids is None:
            yield from self._ids_where(where, params)
            return
        for part in chunks(sorted(set(training_ids))):
            marks = ", ".join("?" * len(part))
            yield from self._ids_where(f"{where} AND training_id IN ({marks})", [*params, *part])

    def _ids_where(self, where: str, params: list) -> Iterator[int]:
        sql = f"SELECT id FROM sessions WHERE {where} ORDER BY id"
        for (session_id,) in self.conn.execute(sql, params):
            yield session_id
