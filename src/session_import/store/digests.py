"""Each import's row digests (session_import.digests says what they are for), written once
for both stores: the SQL below takes ``?`` and the PostgreSQL store's class swaps in its
own placeholder and key list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

from session_import.model import SessionRecord
from session_import.store.connection import chunks

DIGEST_COLUMNS = ("key", "digest", "session_id", "criteria", "run_id")
SESSION_COLUMNS = tuple(f.name for f in fields(SessionRecord))
# keys per IN (...) list: under the 999 variables an SQLite before 3.32 takes
_KEYS_PER_QUERY = 990
# the tables a session row's look-ups read besides the sessions
REFERENCE_TABLES = ("trainings", "users", "groups")


class Digests:
    conn: Any
    _MARK = "?"

    def _sql(self, text: str) -> str:
        return text if self._MARK == "?" else text.replace("?", self._MARK)

    def _keyed(self, head: str, params: list, keys: Sequence[int]) -> list[tuple]:
        out: list[tuple] = []
        for part in chunks(list(keys), _KEYS_PER_QUERY):
            marks = ", ".join("?" * len(part))
            out += self.conn.execute(f"{head} AND d.key IN ({marks})", [*params, *part]).fetchall()
        return out

    def has_digests(self, import_id: str) -> bool:
        row = self.conn.execute(
            self._sql("SELECT 1 FROM import_digests WHERE import_id = ? LIMIT 1"), (import_id,)
        ).fetchone()
        return row is not None

    def digests_of(self, import_id: str, keys: Sequence[int]) -> dict[int, tuple]:
        """key -> (key, digest, criteria, run id, and the columns of its session), for the
        keys whose session still exists."""
        cols = ", ".join(f"s.{c}" for c in SESSION_COLUMNS)
        head = self._sql(
            f"SELECT d.key, d.digest, d.criteria, d.run_id, {cols} FROM import_digests d"
            " JOIN sessions s ON s.id = d.session_id WHERE d.import_id = ?"
        )
        return {row[0]: row for row in self._keyed(head, [import_id], keys)}

    def save_digests(self, import_id: str, run_id: int, rows: Iterable[tuple]) -> None:
        """``rows``: (key, digest, session id, criteria)."""
        cols = ", ".join(DIGEST_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in DIGEST_COLUMNS[1:])
        marks = ", ".join("?" * len(DIGEST_COLUMNS))
        self.conn.cursor().executemany(
            self._sql(
                f"INSERT INTO import_digests (import_id, {cols}) VALUES (?, {marks})"
                f" ON CONFLICT (import_id, key) DO UPDATE SET {updates}"
            ),
            [(import_id, *row, run_id) for row in rows],
        )

    def drop_digests(self, import_id: str, run_id: int) -> None:
        """The digests the run wrote for the import."""
        self.conn.execute(
            self._sql("DELETE FROM import_digests WHERE import_id = ? AND run_id = ?"),
            (import_id, run_id),
        )

    def reference_changes(self, tables: Iterable[str]) -> int:
        """The latest run whose journal changes a record of one of ``tables`` (0: none)."""
        latest = 0
        for table in tables:
            assert table in REFERENCE_TABLES
            row = self.conn.execute(
                self._sql("SELECT max(run_id) FROM journal WHERE table_name = ?"), (table,)
            ).fetchone()
            latest = max(latest, row[0] or 0)
        return latest

    def duplicated_sessions(self, columns: Sequence[str]) -> set[int]:
        """The sessions that share their values of ``columns`` with another session."""
        cols = ", ".join(columns)
        same = " AND ".join(f"s.{c} = d.{c}" for c in columns)
        sql = (
            f"SELECT s.id FROM sessions s JOIN (SELECT {cols} FROM sessions GROUP BY {cols}"
            f" HAVING count(*) > 1) d ON {same}"
        )
        return {row[0] for row in self.conn.execute(sql)}

    def sole_writer(self) -> bool:
        """Whether no other command can be writing to the store now (SQLite: one writer)."""
        return True
