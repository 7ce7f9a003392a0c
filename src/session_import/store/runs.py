"""Runs and what hangs on them: the runs and nights on record, the commands, the journal
of every change (what a revert reads), and the consolidators still due after a commit."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from functools import cache

from session_import.model import ChangeOp
from session_import.store.connection import Connection, chunks, translated
from session_import.store.records import COLUMNS, GETTERS

# a record's column that holds another record's id -> (that record's table, its key)
_REFERENCES = {
    "training_id": ("trainings", "path_code"),
    "teacher_id": ("users", "login"),
    "group_id": ("groups", "name"),
    "parent_id": ("groups", "name"),
}


@cache
def _staging(table: str, op: str) -> tuple[str, str, str, str]:
    """The statements that stage one kind of journal row (a chunk's creates of sessions...)
    in a TEMP table: its CREATE, its DELETE, the INSERT of a row, and the INSERT ... SELECT
    that moves its rows into the journal, SQLite building each record's JSON: several times
    faster than encoding it in Python, row by row."""
    columns = COLUMNS[table]
    sides = [side for side, absent in (("before", "create"), ("after", "delete")) if op != absent]
    staged = ["seq", "line"] + [f"{side}_{c}" for side in sides for c in columns]
    name = f"journal_{table}_{op}"

    def record(side: str) -> str:
        if side not in sides:
            return "NULL"
        return "json_object(" + ", ".join(f"'{c}', {side}_{c}" for c in columns) + ")"

    last = sides[-1]  # the record as the change left it, or as it was before a delete
    guid = f"{last}_guid" if "guid" in columns else "NULL"
    # no declared types: the staged values keep theirs (text, integer or null)
    create = f"CREATE TEMP TABLE IF NOT EXISTS {name} ({', '.join(staged)})"
    insert = f"INSERT INTO {name} VALUES ({', '.join('?' * len(staged))})"
    move = (
        "INSERT INTO journal (run_id, seq, line, table_name, op, record_id, guid, before,"
        f" after) SELECT ?, seq, line, '{table}', '{op}', {last}_id, {guid},"
        f" {record('before')}, {record('after')} FROM {name}"
    )
    return create, f"DELETE FROM {name}", insert, move


def _group(keys: Iterable[tuple[str, int]]) -> dict[str, set[int]]:
    grouped: dict[str, set[int]] = {}
    for table, record_id in keys:
        grouped.setdefault(table, set()).add(record_id)
    return grouped


class Runs(Connection):
    """The runs, the nights that applied nothing, and one row per import for each command."""

    def begin_run(
        self,
        import_id: str,
        action: str,
        file: str,
        sha256: str | None,
        started_at: str,
        dry_run: bool,
        reverts_run: int | None = None,
    ) -> int:
        cur = self.conn.execute(
            "INSERT INTO runs (import_id, action, file, sha256, started_at, dry_run, reverts_run,"
            " pid, kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                import_id,
                action,
                file,
                sha256,
                started_at,
                int(dry_run),
                reverts_run,
                os.getpid(),
                "revert" if reverts_run is not None else "import",
            ),
        )
        return _inserted_id(cur)

    def end_run(
        self, run_id: int, ended_at: str, counts: dict, exit_code: int, reason: str | None = None
    ) -> None:
        self.conn.execute(
            "UPDATE runs SET ended_at = ?, counts = ?, exit_code = ?, reason = ? WHERE id = ?",
            (ended_at, json.dumps(counts), exit_code, reason, run_id),
        )

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
    ) -> int:
        """A night that applied nothing, on record as a run of its own (exit 0, no counts):
        ``skip`` (the file was already imported by run ``applied_by``) or ``no_file``."""
        assert kind in ("skip", "no_file")
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO runs (import_id, action, file, sha256, started_at, ended_at, dry_run,"
                " exit_code, pid, kind, reason, applied_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
                (
                    import_id,
                    action,
                    file,
                    sha256,
                    when,
                    when,
                    int(dry_run),
                    os.getpid(),
                    kind,
                    reason,
                    applied_by,
                ),
            )
        return _inserted_id(cur)

    def committed(self, run_id: int) -> bool:
        found = self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone()
        return found is not None

    def run_file(self, run_id: int) -> tuple[str, str, str] | None:
        """(import id, action, file) of a run."""
        return self.conn.execute(
            "SELECT import_id, action, file FROM runs WHERE id = ?", (run_id,)
        ).fetchone()

    def applied_run(self, import_id: str, sha256: str) -> tuple[int, str] | None:
        """The latest run that applied a file with this SHA-256 for this import (not a dry
        run) and is still applied: a reverted run no longer counts."""
        for run_id, ended_at in self.conn.execute(
            "SELECT id, ended_at FROM runs WHERE import_id = ? AND sha256 = ? AND dry_run = 0"
            " AND kind = 'import' AND exit_code IN (0, 1, 6) ORDER BY id DESC",
            (import_id, sha256),
        ).fetchall():
            if not self.reverted(run_id):
                return run_id, ended_at
        return None

    def reverted(self, run_id: int) -> bool:
        """Whether a revert undid the run (and was not itself reverted since)."""
        reverts = self.conn.execute(
            "SELECT id FROM runs WHERE reverts_run = ? AND dry_run = 0 AND exit_code = 0",
            (run_id,),
        ).fetchall()
        return any(not self.reverted(revert) for (revert,) in reverts)

    def runs(self, since: str | None = None) -> list[dict]:
        """The runs, newest first; ``since`` (ISO 8601, with an offset) keeps those started then
        or later, compared as instants whatever offset each was written with."""
        where = " WHERE julianday(r.started_at) >= julianday(?)" if since else ""
        cursor = self.conn.execute(
            "SELECT r.id, r.import_id, r.action, r.file, r.sha256, r.started_at, r.ended_at,"
            " r.dry_run, r.counts, r.exit_code, r.reverts_run, r.kind, r.reason, r.applied_by,"
            " (SELECT count(*) FROM outbox o WHERE o.run_id = r.id AND o.state = 'pending')"
            f" AS pending FROM runs r{where} ORDER BY r.id DESC",
            (since,) if since else (),
        )
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            run = dict(zip(names, row, strict=True))
            run["dry_run"] = bool(run["dry_run"])
            run["counts"] = json.loads(run["counts"]) if run["counts"] else None
            out.append(run)
        return out

    def begin_commands(
        self, import_ids: Iterable[str], command: str, started_at: str
    ) -> dict[str, int]:
        """Committed at once, so that a command killed before its end is on record too."""
        ids = {}
        with self.transaction():
            runs_after = self.conn.execute("SELECT ifnull(max(id), 0) FROM runs").fetchone()[0]
            for import_id in dict.fromkeys(import_ids):
                ids[import_id] = _inserted_id(
                    self.conn.execute(
                        "INSERT INTO commands (import_id, command, started_at, runs_after, pid)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (import_id, command, started_at, runs_after, os.getpid()),
                    )
                )
        return ids

    def end_commands(self, ended: dict[int, tuple[str, int, dict]], seconds: float) -> None:
        """command id -> (ended at, exit code, rows by outcome); ``seconds`` it took."""
        with self.transaction():
            self.conn.executemany(
                "UPDATE commands SET ended_at = ?, exit_code = ?, counts = ?, seconds = ?"
                " WHERE id = ?",
                [
                    (at, code, json.dumps(counts), seconds, cid)
                    for cid, (at, code, counts) in ended.items()
                ],
            )

    def known_imports(self) -> list[str]:
        return [
            i
            for (i,) in self.conn.execute(
                "SELECT import_id FROM commands UNION SELECT import_id FROM runs"
                " WHERE kind != 'revert' ORDER BY 1"
            )
        ]

    def latest_commands(self, import_id: str, limit: int = 2) -> list[dict]:
        """The import's last commands, newest first."""
        return self._dicts(
            "SELECT id, import_id, command, started_at, ended_at, exit_code, counts, seconds,"
            " runs_after, pid FROM commands WHERE import_id = ? ORDER BY id DESC LIMIT ?",
            (import_id, limit),
            json_columns=("counts",),
        )

    def last_success(self, import_id: str) -> dict | None:
        rows = self._dicts(
            "SELECT id, command, started_at, ended_at, exit_code FROM commands"
            " WHERE import_id = ? AND exit_code = 0 ORDER BY id DESC LIMIT 1",
            (import_id,),
        )
        return rows[0] if rows else None

    def runs_of_command(self, command: dict) -> list[dict]:
        """The runs (files) a command recorded for its import, in order."""
        return self._dicts(
            "SELECT id, file, started_at, ended_at, exit_code, counts, kind, reason, applied_by"
            " FROM runs WHERE import_id = ? AND id > ? AND dry_run = 0 AND kind != 'revert'"
            " AND id <= ifnull((SELECT min(runs_after) FROM commands c WHERE c.import_id = ?"
            " AND c.id > ?), 9223372036854775807) ORDER BY id",
            (command["import_id"], command["runs_after"], command["import_id"], command["id"]),
            json_columns=("counts",),
        )

    def _dicts(self, sql: str, params: tuple, json_columns: tuple[str, ...] = ()) -> list[dict]:
        cursor = self.conn.execute(sql, params)
        names = [d[0] for d in cursor.description]
        out = []
        for row in cursor:
            record = dict(zip(names, row, strict=True))
            for name in json_columns:
                record[name] = json.loads(record[name]) if record[name] else None
            out.append(record)
        return out


class Journal(Connection):
    """Every change a run made, before and after, and what a revert checks against it."""

    def journal(self, run_id: int, changes: list[ChangeOp]) -> None:
        """The chunk's changes, each with its record before and after as JSON objects (the
        readers parse them: the text is SQLite's, without spaces)."""
        start = self.conn.execute(
            "SELECT ifnull(max(seq), 0) FROM journal WHERE run_id = ?", (run_id,)
        ).fetchone()[0]
        by_kind: dict[tuple[str, str], list[tuple]] = {}
        for seq, c in enumerate(changes, start=start + 1):
            row = (seq, c.line)
            if c.before is not None:
                row += GETTERS[type(c.before)](c.before)
            if c.after is not None:
                row += GETTERS[type(c.after)](c.after)
            by_kind.setdefault((c.table, c.op), []).append(row)
        for kind, rows in by_kind.items():
            create, clear, insert, move = _staging(*kind)
            self.conn.execute(create)
            self.conn.execute(clear)
            self.conn.executemany(insert, rows)
            self.conn.execute(move, (run_id,))

    def run_journal(self, run_id: int) -> list[dict]:
        cursor = self.conn.execute(
            "SELECT seq, line, table_name, op, record_id, guid, before, after FROM journal"
            " WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        return [
            {
                "seq": seq,
                "line": line,
                "table": table,
                "op": op,
                "id": record_id,
                "guid": guid,
                "before": json.loads(before) if before else None,
                "after": json.loads(after) if after else None,
            }
            for seq, line, table, op, record_id, guid, before, after in cursor
        ]

    def journal_entries(self, run_id: int) -> Iterator[dict]:
        """A run's journal as ``run_journal`` gives it, but read from a cursor one entry at a
        time (a run may hold millions), each entry with ``keys``: for each record id its
        before and after values hold (``training_id``...), that record's key (training path
        code, teacher login, group name), or None when the record is gone."""
        keys = [
            f"(SELECT {key} FROM {table} WHERE id = json_extract(j.{side}, '$.{column}'))"
            for side in ("before", "after")
            for column, (table, key) in _REFERENCES.items()
        ]
        cursor = self.conn.execute(
            "SELECT seq, line, table_name, op, record_id, guid, before, after, "
            + ", ".join(keys)
            + " FROM journal j WHERE run_id = ? ORDER BY seq",
            (run_id,),
        )
        width = len(_REFERENCES)
        for seq, line, table, op, record_id, guid, before, after, *found in cursor:
            yield {
                "seq": seq,
                "line": line,
                "table": table,
                "op": op,
                "id": record_id,
                "guid": guid,
                "before": json.loads(before) if before else None,
                "after": json.loads(after) if after else None,
                "keys": {
                    "before": dict(zip(_REFERENCES, found[:width], strict=True)),
                    "after": dict(zip(_REFERENCES, found[width:], strict=True)),
                },
            }

    def later_changes(
        self, run_id: int, keys: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        """(table, record id) -> the first later run that changed that record."""
        found: dict[tuple[str, int], int] = {}
        for table, ids in _group(keys).items():
            for part in chunks(sorted(ids)):
                marks = ", ".join("?" * len(part))
                sql = (
                    "SELECT j.record_id, min(j.run_id) FROM journal j"
                    " JOIN runs r ON r.id = j.run_id"
                    f" WHERE j.table_name = ? AND j.record_id IN ({marks}) AND j.run_id > ?"
                    " AND r.dry_run = 0 GROUP BY j.record_id"
                )
                for record_id, later in self.conn.execute(sql, [table, *part, run_id]):
                    found[(table, record_id)] = later
        return found

    def defer_foreign_keys(self) -> None:
        """Check the references at the end of the open transaction, not at each statement."""
        self.conn.execute("PRAGMA defer_foreign_keys = ON")

    def broken_references(self) -> dict[tuple[str, int], list[tuple[str, str, str]]]:
        """Within a transaction whose checks are deferred: (table, id) of each record that
        a session or a group still refers to -> the referring records, (table, guid, title
        or name) each, in id order."""
        found: dict[tuple[str, int], list[tuple[str, str, str]]] = {}
        for child, label in (("sessions", "title"), ("groups", "name")):
            columns = {
                fk[0]: (fk[2], fk[3])
                for fk in self.conn.execute(f"PRAGMA foreign_key_list({child})")
            }
            rows = self.conn.execute(f"PRAGMA foreign_key_check({child})").fetchall()
            by_id: dict[int, list[int]] = {}
            for _, rowid, _, fkid in rows:
                by_id.setdefault(rowid, []).append(fkid)
            for part in chunks(sorted(by_id)):
                marks = ", ".join("?" * len(part))
                cursor = self.conn.execute(
                    f"SELECT * FROM {child} WHERE id IN ({marks}) ORDER BY id", part
                )
                names = [d[0] for d in cursor.description]
                for row in cursor:
                    record = dict(zip(names, row, strict=True))
                    for fkid in by_id[record["id"]]:
                        parent, column = columns[fkid]
                        key = (parent, record[column])
                        found.setdefault(key, []).append((child, record["guid"], record[label]))
        return found

    def last_recorded(self, table: str, record_id: int) -> dict | None:
        """A record as the journal last saw it (for one that no longer exists)."""
        row = self.conn.execute(
            "SELECT ifnull(after, before) FROM journal WHERE table_name = ? AND record_id = ?"
            " ORDER BY run_id DESC, seq DESC LIMIT 1",
            (table, record_id),
        ).fetchone()
        return json.loads(row[0]) if row and row[0] else None


class DueConsolidators(Connection):
    """The consolidators of a committed file that have not run yet."""

    def add_due_consolidators(
        self,
        run_id: int,
        import_id: str,
        names: list[str],
        stamp: str,
        reports: str,
        rows: Iterable[tuple[int, str, str]],
    ) -> None:
        """In the file's own transaction: these consolidators are still to run for it, on
        ``reports`` and its ``rows`` (report index, "rejected" or "warning", JSON entry),
        written as they come."""
        self.conn.execute(
            "INSERT INTO consolidators_due (run_id, import_id, names, stamp, reports)"
            " VALUES (?, ?, ?, ?, ?)",
            (run_id, import_id, json.dumps(names), stamp, reports),
        )
        self.conn.executemany(
            "INSERT INTO consolidators_due_rows (run_id, report, kind, entry) VALUES (?, ?, ?, ?)",
            ((run_id, *row) for row in rows),
        )

    def due_rows(self, run_id: int, report: int, kind: str) -> Iterator[str]:
        """The JSON entries kept for one report of a run with consolidators due, in order."""
        cursor = self.conn.execute(
            "SELECT entry FROM consolidators_due_rows WHERE run_id = ? AND report = ? AND kind = ?"
            " ORDER BY rowid",
            (run_id, report, kind),
        )
        return translated(entry for (entry,) in cursor)

    def due_consolidators(self, import_id: str) -> list[dict]:
        """The runs of an import whose consolidators have not all run, oldest first."""
        cursor = self.conn.execute(
            "SELECT d.run_id, r.file, r.sha256, d.names, d.backup, d.stamp, d.reports"
            " FROM consolidators_due d JOIN runs r ON r.id = d.run_id"
            " WHERE d.import_id = ? ORDER BY d.run_id",
            (import_id,),
        )
        return [
            {
                "run_id": run_id,
                "file": file,
                "sha256": sha256,
                "names": json.loads(names),
                "backup": backup,
                "stamp": stamp,
                "reports": reports,
            }
            for run_id, file, sha256, names, backup, stamp, reports in cursor
        ]

    def due_names(self, run_id: int) -> list[str]:
        row = self.conn.execute(
            "SELECT names FROM consolidators_due WHERE run_id = ?", (run_id,)
        ).fetchone()
        return json.loads(row[0]) if row else []

    def consolidator_done(self, run_id: int, name: str, backup: str | None) -> None:
        """One consolidator of the run ran (or failed and was reported): no longer due."""
        with self.transaction():
            left = [n for n in self.due_names(run_id) if n != name]
            if left:
                self.conn.execute(
                    "UPDATE consolidators_due SET names = ?, backup = ? WHERE run_id = ?",
                    (json.dumps(left), backup, run_id),
                )
            else:
                self.drop_due_consolidators([run_id])

    def drop_due_consolidators(self, run_ids: Iterable[int]) -> None:
        """In the caller's transaction: those runs' consolidators are no longer wanted (the
        file was imported again, or the run reverted)."""
        run_ids = list(run_ids)
        self.conn.executemany(
            "DELETE FROM consolidators_due_rows WHERE run_id = ?", ((r,) for r in run_ids)
        )
        self.conn.executemany(
            "DELETE FROM consolidators_due WHERE run_id = ?", ((r,) for r in run_ids)
        )


def _inserted_id(cursor: sqlite3.Cursor) -> int:
    """The id an INSERT gave its row (the cursor types it as optional)."""
    if cursor.lastrowid is None:
        raise sqlite3.InterfaceError("an INSERT gave no row id")
    return cursor.lastrowid
