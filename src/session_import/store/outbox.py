"""The outbox of session changes to publish to remote LMSs: queued in the file's
transaction, delivered after its commit, kept as the record of delivery; and the pacing
of calls to a rate-limited service."""

from __future__ import annotations

import json
from collections.abc import Iterable

from session_import.model import ChangeOp, RecordOp, SessionRecord
from session_import.publishers.payload import changed_fields, session_payload
from session_import.store.connection import chunks
from session_import.store.records import Records


class Outbox(Records):
    """The outbox; a change queued carries the session as a remote LMS sees it, which it
    reads from the records."""

    def enqueue(
        self,
        import_id: str,
        publishers: Iterable[str],
        run_id: int,
        changes: list[ChangeOp],
        rows: dict[int, dict],
    ) -> None:
        """Queue each session change for each publisher, in the caller's transaction.

        ``rows`` maps a line to its cells and values, kept for a remote rejection.
        """
        publishers = list(publishers)
        mine = [c for c in changes if c.table == "sessions"]
        if not publishers or not mine:
            return
        records = [r for c in mine for r in (c.before, c.after) if isinstance(r, SessionRecord)]
        trainings = {t.id: t for t in self.trainings_by("id", {r.training_id for r in records})}
        teachers = {u.id: u for u in self.users_by("id", {r.teacher_id for r in records} - {None})}

        def remote_view(record) -> dict:
            return session_payload(
                record, trainings[record.training_id], teachers.get(record.teacher_id)
            )

        queued = []
        for change in mine:
            kind = RecordOp(change.op).outbox_kind
            after = remote_view(change.record)
            changed = None
            if kind == "update":
                changed = changed_fields(remote_view(change.before), after)
            row = rows.get(change.line)
            for publisher in publishers:
                queued.append(
                    (
                        import_id,
                        publisher,
                        run_id,
                        change.line,
                        change.record.id,
                        kind,
                        json.dumps(after, ensure_ascii=False),
                        changed,
                        json.dumps(row, ensure_ascii=False) if row else None,
                    )
                )
        self.conn.executemany(
            "INSERT INTO outbox (import_id, publisher, run_id, line, session_id, kind, session,"
            " changed, row) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            queued,
        )

    def queued(
        self, import_id: str, publisher: str, limit: int = 2000, after: int = 0
    ) -> list[dict]:
        """The next ``limit`` pending changes (ids over ``after``) of an import for a
        publisher, in queue order, each with the session's remote id when its create was
        delivered. A change waits while another import holds an older pending change of
        the same session: its turn comes after that one, whichever import delivers it."""
        cursor = self.conn.execute(
            "SELECT o.id, o.run_id, o.line, o.session_id, o.kind, o.session, o.changed, o.row,"
            " o.attempted, r.remote_id FROM outbox o LEFT JOIN remote_ids r"
            " ON r.session_id = o.session_id AND r.publisher = o.publisher"
            " WHERE o.import_id = ? AND o.publisher = ? AND o.state = 'pending' AND o.id > ?"
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.session_id = o.session_id"
            " AND p.publisher = o.publisher AND p.id < o.id AND p.state = 'pending'"
            " AND p.import_id != o.import_id)"
            " ORDER BY o.id LIMIT ?",
            (import_id, publisher, after, limit),
        )
        return [
            {
                "id": id_,
                "run_id": run_id,
                "line": line,
                "session_id": session_id,
                "kind": kind,
                "session": json.loads(session),
                "changed": json.loads(changed) if changed else [],
                "row": json.loads(row) if row else None,
                "attempted": bool(attempted),
                "remote_id": remote_id,
            }
            for (
                id_,
                run_id,
                line,
                session_id,
                kind,
                session,
                changed,
                row,
                attempted,
                remote_id,
            ) in cursor
        ]

    def remote_owner(self, publisher: str, remote_id: str) -> int | None:
        """The local session that a remote id belongs to, if any."""
        row = self.conn.execute(
            "SELECT session_id FROM remote_ids WHERE publisher = ? AND remote_id = ?",
            (publisher, remote_id),
        ).fetchone()
        return row[0] if row else None

    def pending_counts(self, import_id: str, publisher: str) -> dict[int, int]:
        """run id -> changes of that run still waiting for this publisher."""
        return dict(
            self.conn.execute(
                "SELECT run_id, count(*) FROM outbox WHERE import_id = ? AND publisher = ?"
                " AND state = 'pending' GROUP BY run_id",
                (import_id, publisher),
            )
        )

    def pending_of_runs(self, run_ids: Iterable[int]) -> dict[int, int]:
        """run id -> its changes still waiting for a publisher."""
        found: dict[int, int] = {}
        for part in chunks(sorted(set(run_ids))):
            marks = ", ".join("?" * len(part))
            found.update(
                self.conn.execute(
                    f"SELECT run_id, count(*) FROM outbox WHERE run_id IN ({marks})"
                    " AND state = 'pending' GROUP BY run_id",
                    part,
                )
            )
        return found

    def pending_of_imports(self, import_ids: Iterable[str]) -> int:
        ids = sorted(set(import_ids))
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        return self.conn.execute(
            f"SELECT count(*) FROM outbox WHERE import_id IN ({marks}) AND state = 'pending'", ids
        ).fetchone()[0]

    def pending_by_publisher(self, import_id: str) -> dict[str, int]:
        return dict(
            self.conn.execute(
                "SELECT publisher, count(*) FROM outbox WHERE import_id = ? AND state = 'pending'"
                " GROUP BY publisher ORDER BY publisher",
                (import_id,),
            )
        )

    def publishers_of_import(self, import_id: str) -> list[str]:
        return [
            p
            for (p,) in self.conn.execute(
                "SELECT DISTINCT publisher FROM outbox WHERE import_id = ? ORDER BY publisher",
                (import_id,),
            )
        ]

    def publishers_of_run(self, run_id: int) -> list[str]:
        return [
            p
            for (p,) in self.conn.execute(
                "SELECT DISTINCT publisher FROM outbox WHERE run_id = ? ORDER BY publisher",
                (run_id,),
            )
        ]

    def mark_attempted(self, ids: Iterable[int]) -> None:
        with self.transaction():
            self.conn.executemany(
                "UPDATE outbox SET attempted = 1 WHERE id = ?", ((i,) for i in ids)
            )

    def settle_many(self, settled: list[tuple]) -> None:
        """Record what became of queued changes, in one transaction: (entry id, state,
        when, message, warning, (session id, publisher, remote id) or None) each."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE outbox SET state = ?, message = ?, warning = ?, done_at = ? WHERE id = ?",
                [
                    (state, message, int(warning), when, entry_id)
                    for entry_id, state, when, message, warning, _ in settled
                ],
            )
            self.conn.executemany(
                "INSERT OR REPLACE INTO remote_ids (session_id, publisher, remote_id)"
                " VALUES (?, ?, ?)",
                [remote for *_, remote in settled if remote is not None],
            )

    def note_pending(self, entry_id: int, message: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE outbox SET message = ? WHERE id = ?", (message, entry_id))

    def recent_calls(self, publisher: str, since: float) -> list[float]:
        return [
            at
            for (at,) in self.conn.execute(
                "SELECT at FROM remote_calls WHERE publisher = ? AND at > ? ORDER BY at",
                (publisher, since),
            )
        ]

    # the row beside a publisher's calls that holds (boot id, wall clock - boot clock) of
    # the command that recorded them: publisher "zoho" -> "zoho@boot <id>", at = the offset
    _ANCHOR = "{publisher}@boot "

    def pace_anchor(self, publisher: str) -> tuple[str, float] | None:
        prefix = self._ANCHOR.format(publisher=publisher)
        row = self.conn.execute(
            "SELECT publisher, at FROM remote_calls WHERE substr(publisher, 1, ?) = ?",
            (len(prefix), prefix),
        ).fetchone()
        return None if row is None else (row[0][len(prefix) :], row[1])

    def record_calls(
        self,
        publisher: str,
        calls: list[float],
        keep_after: float,
        anchor: tuple[str, float] | None = None,
    ) -> None:
        """Keep the calls sent after ``keep_after``: the ones a window can still count."""
        prefix = self._ANCHOR.format(publisher=publisher)
        with self.transaction():
            self.conn.execute(
                "DELETE FROM remote_calls WHERE publisher = ? OR substr(publisher, 1, ?) = ?",
                (publisher, len(prefix), prefix),
            )
            self.conn.executemany(
                "INSERT INTO remote_calls (publisher, at) VALUES (?, ?)",
                ((publisher, at) for at in calls if at > keep_after),
            )
            if anchor is not None:
                self.conn.execute(
                    "INSERT INTO remote_calls (publisher, at) VALUES (?, ?)",
                    (prefix + anchor[0], anchor[1]),
                )
