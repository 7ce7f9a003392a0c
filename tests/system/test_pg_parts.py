"""The PostgreSQL store's parts against a real server: its URL shown without a password,
its versioned schema, the run lock as session advisory locks (released when the holder
dies)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import psycopg
import pytest

from session_import.store.postgres import schema
from session_import.store.postgres.lock import SCHEMA_KEY, AdvisoryLock, LockBusy
from session_import.store.postgres.url import is_postgres_url, masked, scrub


@pytest.mark.parametrize(
    "db, expected",
    [
        ("postgresql://u@h:5432/d", True),
        ("POSTGRES://u@h/d", True),
        ("store.db", False),
        ("./postgresql://x", False),
        ("/tmp/postgres.db", False),
    ],
)
def test_a_url_names_a_postgres_store(db, expected):
    assert is_postgres_url(db) is expected


@pytest.mark.parametrize(
    "url, shown",
    [
        (
            "postgresql://ann:s3cr%40t@db.example:5433/lms",
            "postgresql://ann:***@db.example:5433/lms",
        ),
        ("postgresql://ann@db.example/lms", "postgresql://ann@db.example/lms"),
        (
            "postgresql://ann@db/lms?sslmode=require&password=hunter2",
            "postgresql://ann@db/lms?sslmode=require&password=***",
        ),
        ("postgresql://[::1]:5432/lms", "postgresql://[::1]:5432/lms"),
    ],
)
def test_a_url_is_shown_with_its_password_masked(url, shown):
    assert masked(url) == shown


def test_an_error_quoting_the_url_is_scrubbed():
    url = "postgresql://ann:s3cr%40t@db/lms"
    text = scrub(f"cannot connect to {url}: password s3cr@t refused", url)
    assert "s3cr" not in text and "postgresql://ann:***@db/lms" in text


def _connect(url):
    return psycopg.connect(url, autocommit=True)


def test_the_schema_is_created_once_at_the_current_version(pg_url):
    with _connect(pg_url) as conn:
        assert schema.current_version(conn) == 0
        assert schema.migrate(conn, SCHEMA_KEY) == (0, schema.SCHEMA_VERSION)
        assert schema.migrate(conn, SCHEMA_KEY) == (schema.SCHEMA_VERSION,) * 2
        tables = {
            t
            for (t,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
        assert tables == set(schema.OWN_TABLES)
        indexes = {
            i
            for (i,) in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
        }
        assert {
            "sessions_teacher",
            "outbox_queue",
            "runs_started",
            "groups_parent_name",
            "journal_record",
            "commands_import",
        } <= indexes


def test_an_older_store_is_migrated_with_its_data(pg_url):
    with _connect(pg_url) as conn:
        conn.execute(
            "CREATE TABLE schema_version (version INTEGER NOT NULL,"
            " one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one))"
        )
        conn.execute("INSERT INTO schema_version VALUES (4)")
        for version in range(1, 5):
            for statement in schema.MIGRATIONS[version].split(";"):
                if statement.strip():
                    conn.execute(statement)
        conn.execute(
            "INSERT INTO runs (import_id, started_at, ended_at, dry_run, exit_code)"
            " VALUES ('nightly', '2024-01-01T00:00:00+00:00', '2024-01-01T00:01:00+00:00',"
            " 0, 0)"
        )
        assert schema.migrate(conn, SCHEMA_KEY) == (4, schema.SCHEMA_VERSION)
        assert conn.execute("SELECT import_id, command, runs_after FROM commands").fetchall() == [
            ("nightly", "run", 0)
        ]
        assert conn.execute("SELECT kind FROM runs").fetchall() == [("import",)]


def test_someone_elses_tables_are_left_alone(pg_url):
    with _connect(pg_url) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
        assert (
            schema.migrate(conn, SCHEMA_KEY)[1] == schema.SCHEMA_VERSION
        )  # other tables beside ours are fine
    with _connect(pg_url) as conn:
        conn.execute("DROP TABLE schema_version")
        with pytest.raises(schema.ForeignTables):
            schema.migrate(conn, SCHEMA_KEY)


def test_a_newer_store_is_refused(pg_url):
    with _connect(pg_url) as conn:
        schema.migrate(conn, SCHEMA_KEY)
        conn.execute("UPDATE schema_version SET version = 99")
        with pytest.raises(schema.NewerSchema) as caught:
            schema.migrate(conn, SCHEMA_KEY)
        assert caught.value.version == 99


def test_two_hosts_creating_the_schema_at_once_create_it_once(pg_url):
    code = (
        "import sys, psycopg; from session_import.store.postgres import schema;"
        " from session_import.store.postgres.lock import SCHEMA_KEY;"
        " c = psycopg.connect(sys.argv[1], autocommit=True);"
        " print(schema.migrate(c, SCHEMA_KEY))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, pg_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outs
    v = schema.SCHEMA_VERSION
    assert sorted(o for o, _ in outs) == [f"(0, {v})\n", f"({v}, {v})\n", f"({v}, {v})\n"]


@pytest.fixture
def store_url(pg_url):
    with _connect(pg_url) as conn:
        schema.migrate(conn, SCHEMA_KEY)
    return pg_url


def test_the_same_import_never_runs_twice_at_once(store_url):
    with AdvisoryLock(store_url) as first:
        first.acquire(what="session-import run nightly.xml", imports=["nightly"])
        second = AdvisoryLock(store_url)
        started = time.monotonic()
        with pytest.raises(LockBusy) as caught:
            second.acquire(timeout=0.3, imports=["nightly"])
        assert time.monotonic() - started >= 0.3
        message = str(caught.value)
        assert message.startswith(
            "Another import is running (session-import run nightly.xml, since "
        )
        assert f"process {os.getpid()} on {socket.gethostname()})." in message


def test_different_imports_run_at_once_and_a_revert_waits_for_them(store_url):
    with AdvisoryLock(store_url) as first, AdvisoryLock(store_url) as second:
        first.acquire(what="run a", imports=["a"])
        second.acquire(what="run b", imports=["b", "c"])
        revert = AdvisoryLock(store_url)
        with pytest.raises(LockBusy, match=r"Another import is running \(run [ab], since"):
            revert.acquire(what="revert 3", exclusive_store=True)
    with AdvisoryLock(store_url) as revert:
        revert.acquire(what="revert 3", exclusive_store=True)
        with pytest.raises(LockBusy, match=r"\(revert 3, since .* process \d+ on "):
            AdvisoryLock(store_url).acquire(imports=["a"])


def test_a_lock_is_given_up_as_soon_as_it_is_released(store_url):
    lock = AdvisoryLock(store_url)
    lock.acquire(imports=["a"])
    lock.describe("run a, file 2")
    lock.release()
    with AdvisoryLock(store_url) as again:
        again.acquire(imports=["a"])
        with _connect(store_url) as conn:
            rows = conn.execute("SELECT what FROM run_locks").fetchall()
        assert rows == [("",), ("",)]


def test_a_killed_holder_never_blocks_the_next_run(store_url):
    code = (
        "import sys, time; from session_import.store.postgres.lock import AdvisoryLock;"
        " lock = AdvisoryLock(sys.argv[1]);"
        " lock.acquire(what='run nightly', imports=['nightly']);"
        " print('held', flush=True); time.sleep(600)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, store_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockBusy, match=rf"process {holder.pid} on "):
            AdvisoryLock(store_url).acquire(imports=["nightly"])
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        with AdvisoryLock(store_url) as next_run:
            next_run.acquire(timeout=10, imports=["nightly"])
            with _connect(store_url) as conn:
                pids = {p for (p,) in conn.execute("SELECT pid FROM run_locks")}
            assert pids == {os.getpid()}
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
