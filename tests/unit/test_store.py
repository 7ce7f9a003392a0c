"""The store file: versioned schema, migrations that keep data, refusal of foreign files."""

from __future__ import annotations

import sqlite3

import pytest

from session_import.store import MIGRATIONS, SCHEMA_VERSION, Store, StoreUnavailable


def test_new_store_has_the_current_schema(tmp_path):
    Store(tmp_path / "s.db").close()
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "trainings", "users", "groups", "runs", "journal"} <= tables
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {
        "sessions_title",
        "sessions_teacher",
        "trainings_title",
        "users_ref_number",
        "users_email",
        "groups_name",
    } <= indexes
    # made when a run needs them (a configuration that searches sessions by date, a training
    # action, a revert): each one costs every session written
    assert not {"sessions_start", "sessions_end", "sessions_training"} & indexes


def test_the_indexes_made_on_demand_are_made_once_and_kept(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.sessions_by("start_date", ["2027-01-01"])
        with store.transaction():
            store.session_counts_by_training([1])
            store.sessions_by("end_date", ["2027-01-01"])
    with Store(tmp_path / "s.db") as store:  # the shape check ignores them
        indexes = {
            r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        store.sessions_by("start_date", ["2027-01-01"])
    assert {"sessions_start", "sessions_end", "sessions_training"} <= indexes


def test_a_version_1_store_is_migrated_and_keeps_its_data(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[1])
    conn.execute(
        "INSERT INTO trainings (guid, path_code, title, modality) VALUES ('G', 'TP', 'T', 'blended')"
    )
    conn.execute(
        "INSERT INTO sessions (guid, title, status, training_id) VALUES ('S', 'Kept', 'open', 1)"
    )
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Store(path) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.conn.execute("SELECT title FROM sessions").fetchall() == [("Kept",)]
        assert store.runs() == []


def test_a_newer_or_foreign_file_is_refused(tmp_path):
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StoreUnavailable, match="newer than this session-import knows"):
        Store(newer)
    foreign = tmp_path / "foreign.db"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.close()
    with pytest.raises(StoreUnavailable, match="did not create"):
        Store(foreign)


def test_ids_are_never_reused_after_a_delete(tmp_path):
    with Store(tmp_path / "s.db") as store:
        store.conn.execute(
            "INSERT INTO trainings (guid, path_code, title, modality) VALUES ('G', 'TP', 'T', 'blended')"
        )
        store.conn.execute(
            "INSERT INTO sessions (id, guid, title, status, training_id) VALUES (7, 'S', 'x', 'open', 1)"
        )
        store.conn.execute("DELETE FROM sessions WHERE id = 7")
        assert store.next_id("sessions") == 8
