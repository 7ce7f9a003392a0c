"""copy-store: a SQLite store into an empty PostgreSQL store and back, every table kept."""

from __future__ import annotations

import sqlite3

import pytest
from conftest import ROOT, SAMPLE_CONFIGS, Workspace

from session_import.store import SCHEMA_VERSION, Store
from session_import.store.postgres.backend import PostgresStore
from session_import.store.postgres.copy import TABLES, NotEmpty, copy_store, counts
from session_import.store.postgres.url import masked


def _busy_sqlite_store(tmp_path):
    """A store with records, runs, a journal, a revert and a dry run."""
    ws = Workspace(tmp_path)
    ws.seed()
    result = ws.run("run", SAMPLE_CONFIGS / "sessions.xml", ROOT / "sample_data" / "sessions.csv")
    assert result.exit_code in (0, 1), result.stderr
    assert ws.run("revert", "--db", ws.db, "4").exit_code == 0
    return ws


def _dump(conn, table):
    order = {
        "journal": "run_id, seq",
        "remote_ids": "session_id, publisher",
        "remote_calls": "publisher, at",
        "consolidators_due": "run_id",
        "consolidators_due_rows": "run_id, report, kind, entry",
        "held_runs": "run_id",
        "held_sessions": "run_id, session_id",
        "import_digests": "import_id, key",
    }.get(table, "id")
    return [
        tuple(r)
        for r in conn.execute(
            f"SELECT {', '.join(TABLES[table])} FROM {table} ORDER BY {order}"
        ).fetchall()
    ]


def test_a_sqlite_store_goes_to_postgresql_and_back_whole(tmp_path, pg_url):
    ws = _busy_sqlite_store(tmp_path)
    with Store(ws.db, create=False) as source:
        source.conn.execute(
            "INSERT INTO sessions (id, guid, title, status, training_id)"
            " VALUES (40, 'G40', 'gone', 'open', 1)"
        )
        source.conn.execute("DELETE FROM sessions WHERE id = 40")
        with PostgresStore(pg_url) as pg:
            copied = copy_store(source, pg)
            assert copied.counts == counts(source.conn)
            for table in TABLES:
                assert _dump(pg.conn, table) == _dump(source.conn, table), table
            assert pg.next_id("sessions") == source.next_id("sessions") == 41
            with pytest.raises(NotEmpty):
                copy_store(source, pg)
            back = tmp_path / "back.db"
            with Store(back) as again:
                copy_store(pg, again)
                for table in TABLES:
                    assert _dump(again.conn, table) == _dump(source.conn, table), table
                assert again.next_id("sessions") == 41
    conn = sqlite3.connect(back)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def test_copy_store_moves_a_store_to_postgresql_and_back_through_the_command(tmp_path, pg_url):
    ws = _busy_sqlite_store(tmp_path)
    before = ws.export()
    history = ws.run("history", "--format", "json").stdout
    moved = ws.run("copy-store", str(ws.db), pg_url)
    assert moved.exit_code == 0, moved.stderr
    assert moved.stdout.startswith(
        f"Copied the store {ws.db} into {masked(pg_url)} (schema version {SCHEMA_VERSION}):"
    )
    assert "every table's rows were counted on both sides." in moved.stdout
    assert pg_url.split("@")[0].rsplit(":", 1)[1] not in moved.stdout + moved.stderr
    on_pg = Workspace(tmp_path, init=False, db=pg_url)
    assert on_pg.export() == before
    assert on_pg.run("history", "--format", "json").stdout == history
    again = ws.run("copy-store", str(ws.db), pg_url)
    assert again.exit_code == 2
    assert again.stderr.startswith(f"The store {masked(pg_url)} is not empty (")
    back = tmp_path / "back" / "store.db"
    back.parent.mkdir()
    returned = ws.run("copy-store", pg_url, str(back))
    assert returned.exit_code == 0, returned.stderr
    assert Workspace(back.parent, init=False, db=back).export() == before
    assert ws.run("copy-store", str(ws.db), str(ws.db)).exit_code == 2
