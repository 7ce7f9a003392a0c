"""The commands on a PostgreSQL store where it differs from a file: the password from
libpq's places, a database without a store, backups with pg_dump."""

from __future__ import annotations

from conftest import ROOT, SAMPLE_CONFIGS, Workspace

from session_import.store.postgres.schema import SCHEMA_VERSION
from session_import.store.postgres.url import masked


def _without_password(url: str) -> tuple[str, str]:
    head, tail = url.split("@", 1)
    user, password = head.rsplit(":", 1)
    return f"{user}@{tail}", password


def test_the_password_comes_from_pgpassword_and_is_never_shown(tmp_path, pg_url, monkeypatch):
    url, password = _without_password(pg_url)
    ws = Workspace(tmp_path, init=False, db=url)
    monkeypatch.setenv("PGPASSWORD", "wrong")
    refused = ws.run("init")
    assert refused.exit_code == 5
    assert refused.stderr.startswith(f"The store {url} cannot be reached: ")
    assert "password authentication failed" in refused.stderr and "wrong" not in refused.stderr
    monkeypatch.setenv("PGPASSWORD", password)
    created = ws.run("init")
    assert created.stdout == f"Created the store {url} (schema version {SCHEMA_VERSION}).\n"
    ws.seed()
    assert [t["path_code"] for t in ws.export("trainings")] == ["TP-001", "TP-002", "TP-003"]


def test_a_database_without_a_store_is_refused_until_init(tmp_path, pg_url):
    ws = Workspace(tmp_path, init=False, db=pg_url)
    result = ws.run("run", SAMPLE_CONFIGS / "trainings.xml", ROOT / "sample_data" / "trainings.csv")
    assert result.exit_code == 5
    assert result.stderr == (
        f"The database {masked(pg_url)} holds no session-import store; nothing was read. Create"
        f" it with `session-import init --db {masked(pg_url)}`, or give the --db (or"
        " SESSION_IMPORT_DB) of the store you meant.\n"
    )
    assert ws.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_backup_points_to_pg_dump(tmp_path, pg_url):
    ws = Workspace(tmp_path, db=pg_url)
    result = ws.run("backup", tmp_path / "copy.db")
    assert result.exit_code == 2
    assert "back up the PostgreSQL store" in result.stderr and "pg_dump" in result.stderr
    assert not (tmp_path / "copy.db").exists()
