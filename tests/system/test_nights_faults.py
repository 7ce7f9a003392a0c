"""Readers at the moment of the commit, a backup during a run, the WAL's size, a killed night
in `status`: each with real processes against a run of a file large enough to be caught
in the middle of its transaction."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from conftest import Workspace
from test_faults import ROWS, fresh, template, wait_for_lock_holder  # noqa: F401  (fixtures)

from session_import.store import Store, StoreUnavailable

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "session_import"]


def start_run(ws: Workspace, *args: str) -> subprocess.Popen:
    """`session-import run` with the default --lock-timeout 0."""
    return subprocess.Popen(
        [
            *CLI,
            "run",
            "--db",
            str(ws.db),
            *args,
            str(ws.root / "sessions.xml"),
            str(ws.root / "big.csv"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ws.root,
    )


READ_TRANSACTION = textwrap.dedent("""
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN")
    first = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    print(first, flush=True)
    sys.stdin.read()  # held open until the test closes stdin, after the run committed
    second = conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
    conn.execute("COMMIT")
    print(second, flush=True)
""")

EXPORT_LOOP = textwrap.dedent("""
    import json, os, subprocess, sys
    db, stop = sys.argv[1], sys.argv[2]
    while not os.path.exists(stop):
        done = subprocess.run([sys.executable, "-m", "session_import", "export", "sessions",
                               "--db", db], capture_output=True, text=True)
        count = len(json.loads(done.stdout)) if done.returncode == 0 else None
        print(json.dumps([done.returncode, count, done.stderr.strip()]), flush=True)
""")


def test_readers_at_commit_time_never_cost_the_night(fresh):
    """An export loop and an open read transaction (another process) while a run writes and
    commits: with the rollback journal the commit met `database is locked` (exit 5, the file
    rolled back); with WAL the run commits and every reader sees 0 or all rows."""
    reader = subprocess.Popen(
        [sys.executable, "-c", READ_TRANSACTION, str(fresh.db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "0"  # its snapshot is taken, its transaction open
    stop = fresh.root / "stop-exports"
    exports = subprocess.Popen(
        [sys.executable, "-c", EXPORT_LOOP, str(fresh.db), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    run = start_run(fresh)
    wait_for_lock_holder(fresh, run)
    during = [
        subprocess.run(
            [*CLI, *argv, "--db", str(fresh.db)], capture_output=True, text=True, timeout=120
        )
        for argv in (["history"], ["status"])
    ]
    _, err = run.communicate(timeout=600)
    stop.touch()
    seen = [json.loads(line) for line in exports.communicate(timeout=120)[0].splitlines()]
    second, _ = reader.communicate("", timeout=60)
    assert run.returncode == 0, err
    assert fresh.query("SELECT count(*) FROM sessions") == [(ROWS,)]
    assert second.strip() == "0"  # the open transaction kept its snapshot to its end
    assert seen, "the export loop never ran"
    assert all(code == 0 for code, _, _ in seen), seen
    assert {count for _, count, _ in seen} <= {0, ROWS}
    for result in during:
        assert result.returncode in (0, 1), result.stderr  # status: 1, the import never succeeded
        assert "locked" not in result.stderr
    assert "sessions: never ran; a run is running since " in during[1].stdout


def test_the_wal_is_emptied_after_each_file_while_a_reader_stays_connected(fresh):
    """An idle connection keeps SQLite from deleting the WAL when the run closes: only the
    checkpoint after the file keeps it from staying the size of the whole file's work."""
    idle = sqlite3.connect(fresh.db)
    idle.execute("SELECT 1 FROM sessions LIMIT 1").fetchall()
    try:
        run = start_run(fresh)
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        wal = Path(f"{fresh.db}-wal")
        assert wal.exists()
        assert wal.stat().st_size < 1 << 20, wal.stat().st_size  # the file's work was tens of MB
        assert idle.execute("SELECT count(*) FROM sessions").fetchone()[0] == ROWS
    finally:
        idle.close()


def test_a_backup_taken_during_a_run_is_a_consistent_store(fresh):
    run = start_run(fresh)
    wait_for_lock_holder(fresh, run)
    copy = fresh.root / "copy.db"
    backup = subprocess.run(
        [*CLI, "backup", "--db", str(fresh.db), str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    _, err = run.communicate(timeout=600)
    assert backup.returncode == 0, backup.stderr
    assert run.returncode == 0, err
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM sessions").fetchone()[0] in (0, ROWS)
        assert (
            conn.execute("SELECT count(*) FROM runs WHERE import_id = 'trainings'").fetchone()[0]
            == 1
        )
    finally:
        conn.close()


def test_a_night_killed_in_the_middle_shows_in_status_as_never_finished(fresh):
    run = start_run(fresh)
    wait_for_lock_holder(fresh, run)
    time.sleep(0.5)
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    status = subprocess.run(
        [*CLI, "status", "--db", str(fresh.db), "--config", str(fresh.root / "sessions.xml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert status.returncode == 1
    (started,) = fresh.query("SELECT started_at FROM commands WHERE import_id = 'sessions'")[0:1]
    assert status.stderr.splitlines()[0] == (
        f"sessions: the run started {started[0]} (process {run.pid}) never finished: it was "
        "killed or interrupted, or the store failed."
    )
    assert fresh.query("SELECT count(*) FROM sessions") == [(0,)]
    again = subprocess.run(
        [
            *CLI,
            "run",
            "--db",
            str(fresh.db),
            str(fresh.root / "sessions.xml"),
            str(fresh.root / "big.csv"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    after = subprocess.run(
        [*CLI, "status", "--db", str(fresh.db), "--config", str(fresh.root / "sessions.xml")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert after.returncode == 0, after.stderr


def test_once_a_command_holds_the_store_a_busy_store_is_waited_for_not_given_up(tmp_path):
    """--lock-timeout 0 bounds the wait to start; after that (the next file, the commit, a
    delivery's bookkeeping) another program's write transaction is waited out."""
    ws = Workspace(tmp_path)
    other = sqlite3.connect(ws.db, isolation_level=None, check_same_thread=False)
    store = Store(ws.db, busy_timeout=0, create=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="is busy"), store.transaction():
            pass  # the start: --lock-timeout 0
        other.execute("COMMIT")
        with store.transaction():  # the command now holds the store
            store.begin_run("nightly", "x", "a.csv", None, "2026-12-01T02:00:00+01:00", False)
        other.execute("BEGIN IMMEDIATE")
        threading.Timer(0.5, other.execute, ["COMMIT"]).start()
        with store.transaction():  # the next file: waits for the other program, then writes
            store.begin_run("nightly", "x", "b.csv", None, "2026-12-01T02:00:01+01:00", False)
    finally:
        store.close()
    assert ws.query("SELECT file FROM runs ORDER BY id") == [("a.csv",), ("b.csv",)]
    other.close()
