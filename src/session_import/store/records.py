"""Records: look-ups in bulk (one query per chunk of keys, never one per row) and the
chunk's changes written with ``executemany``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from operator import attrgetter

from session_import.model import (
    RECORD_TYPES,
    ChangeOp,
    GroupRecord,
    SessionRecord,
    TrainingRecord,
    UserRecord,
)
from session_import.store.connection import Connection, chunks
from session_import.store.schema import ON_DEMAND_INDEXES

# table -> its columns, in the order of its record's fields; and the getter of their values
COLUMNS = {table: [f.name for f in fields(cls)] for table, cls in RECORD_TYPES.items()}
GETTERS = {cls: attrgetter(*COLUMNS[table]) for table, cls in RECORD_TYPES.items()}


class Records(Connection):
    def _select(self, table: str, where: str, values: Iterable) -> list:
        cls = RECORD_TYPES[table]
        cols = ", ".join(COLUMNS[table])
        keys = list(dict.fromkeys(v for v in values if v is not None))
        out: list = []
        for part in chunks(keys):
            marks = ", ".join("?" * len(part))
            sql = f"SELECT {cols} FROM {table} WHERE {where} IN ({marks})"
            out.extend(cls(*row) for row in self.conn.execute(sql, part))
        return out

    def _index_sessions_by(self, column: str) -> None:
        """Before the first statement that needs it: the index of the sessions by this
        column (ON_DEMAND_INDEXES), made in the open transaction if the store lacks it (a
        store of a million sessions takes a second or two, once; a dry run's is rolled
        back with the rest)."""
        self.conn.execute(ON_DEMAND_INDEXES[column][1])

    def sessions_by(self, column: str, values: Iterable) -> list[SessionRecord]:
        assert column in ("id", "guid", "title", "start_date", "end_date")
        keys = [v for v in values if v is not None]
        if keys and column in ON_DEMAND_INDEXES:
            self._index_sessions_by(column)
        return self._select("sessions", column, keys)

    def longest_session_days(self) -> float:
        """The longest duration of a timed session, in days (bounds the overlap search)."""
        value = self.conn.execute(
            "SELECT max(julianday(end_date) - julianday(start_date)) FROM sessions"
            " WHERE length(start_date) = 19 AND length(end_date) = 19"
        ).fetchone()[0]
        return max(value or 0.0, 0.0)

    def sessions_overlapping(
        self, windows: Iterable[tuple[int, str, str, str]]
    ) -> list[SessionRecord]:
        """Sessions of a teacher that overlap a window: (teacher id, earliest start, start, end).

        ``earliest start`` is the window's start less the longest session, so the
        (teacher_id, start_date) index is scanned over a short range only.
        """
        self.conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS overlap_window"
            " (teacher_id INTEGER, earliest TEXT, start TEXT, end TEXT)"
        )
        self.conn.execute("DELETE FROM overlap_window")
        self.conn.executemany("INSERT INTO overlap_window VALUES (?, ?, ?, ?)", windows)
        cols = ", ".join(f"s.{c}" for c in COLUMNS["sessions"])
        # CROSS JOIN keeps the windows as the outer loop: without statistics on the
        # temp table the planner would scan every session once per chunk.
        sql = (
            f"SELECT DISTINCT {cols} FROM overlap_window w CROSS JOIN sessions s"
            " ON s.teacher_id = w.teacher_id AND s.start_date >= w.earliest"
            " AND s.start_date < w.end AND s.end_date > w.start"
        )
        return [SessionRecord(*row) for row in self.conn.execute(sql)]

    def trainings_by(self, column: str, values: Iterable) -> list[TrainingRecord]:
        assert column in ("id", "path_code", "title")
        return self._select("trainings", column, values)

    def users_by(self, column: str, values: Iterable) -> list[UserRecord]:
        assert column in ("id", "login", "ref_number", "email")
        return self._select("users", column, values)

    def groups_by(self, column: str, values: Iterable) -> list[GroupRecord]:
        assert column in ("id", "guid", "name")
        return self._select("groups", column, values)

    def session_counts_by_training(self, training_ids: Iterable[int]) -> dict[int, int]:
        ids = list(set(training_ids))
        if ids:
            self._index_sessions_by("training_id")
        counts: dict[int, int] = {}
        for part in chunks(ids):
            marks = ", ".join("?" * len(part))
            sql = (
                f"SELECT training_id, count(*) FROM sessions WHERE training_id IN ({marks}) "
                "GROUP BY training_id"
            )
            counts.update(self.conn.execute(sql, part))
        return counts

    def modifiable_sessions(self, import_id: str, full_access: bool) -> int:
        """How many sessions an import may update or cancel (the base of --max-cancel N%)."""
        if full_access:
            return self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM sessions WHERE created_by_import = ?", (import_id,)
        ).fetchone()[0]

    def next_id(self, table: str) -> int:
        """The next id to assign: ids are never reused, even after a delete."""
        seq = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
        ).fetchone()
        top = self.conn.execute(f"SELECT max(id) FROM {table}").fetchone()[0]
        return max(seq[0] if seq else 0, top or 0) + 1

    def apply(self, changes: list[ChangeOp]) -> None:
        """Write a chunk's changes: creates, then updates, then deletes, each table in turn.

        Within a chunk a record is created before it is updated and updated before
        it is deleted, so grouping by operation keeps the one-by-one outcome.
        """
        for table in ("groups", "users", "trainings", "sessions"):
            cols = COLUMNS[table]
            mine = [c for c in changes if c.table == table]
            creates = [c.after for c in mine if c.op == "create"]
            updates = [c.record for c in mine if c.op == "update"]
            values = GETTERS[RECORD_TYPES[table]]
            if creates:
                marks = ", ".join("?" * len(cols))
                self.conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})",
                    (values(r) for r in creates),
                )
            if updates:
                sets = ", ".join(f"{c} = ?" for c in cols[1:])
                self.conn.executemany(
                    f"UPDATE {table} SET {sets} WHERE id = ?",
                    (values(r)[1:] + (r.id,) for r in updates),
                )
        # deletes in reverse dependency order: sessions before trainings
        for table in ("sessions", "trainings", "users", "groups"):
            ids = [(c.record.id,) for c in changes if c.table == table and c.op == "delete"]
            if ids and table == "trainings":  # each delete looks for the sessions of its training
                self._index_sessions_by("training_id")
            if ids:
                self.conn.executemany(f"DELETE FROM {table} WHERE id = ?", ids)
