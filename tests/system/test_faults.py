"""Faults produced for real: processes killed mid-run, signals, a second import, a busy store.

Each test starts `python -m session_import run` as a real process on a file
large enough to be caught in the middle of its transaction.
"""

from __future__ import annotations

import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import SESSION_CONFIG, Workspace, rows

pytestmark = pytest.mark.slow

ROWS = 60_000


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Workspace:
    """A seeded store, a session config and a large file, copied by each test."""
    ws = Workspace(tmp_path_factory.mktemp("template"))
    ws.seed()
    ws.write("sessions.xml", SESSION_CONFIG.format(full_access="no"))
    lines = [
        f"M;TP-00{1 + i % 3};Session {i};;;open;2026-12-01;2026-12-02;jdupont;;"
        for i in range(ROWS)
    ]
    ws.write("big.csv", rows(*lines))
    return ws


@pytest.fixture
def fresh(template, tmp_path) -> Workspace:
    for name in ("store.db", "sessions.xml", "big.csv"):
        shutil.copy(template.root / name, tmp_path / name)
    return Workspace(tmp_path)


def start(ws: Workspace, *args: str) -> subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "session_import",
        "run",
        "--db",
        str(ws.db),
        *args,
        str(ws.root / "sessions.xml"),
        str(ws.root / "big.csv"),
    ]
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ws.root
    )


def wait_for_lock_holder(ws: Workspace, proc: subprocess.Popen, timeout: float = 20) -> None:
    """Until the run holds the lock and has started writing (its run row exists)."""
    lock = Path(f"{ws.db}.lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()}")
        if lock.exists() and str(proc.pid) in lock.read_text(errors="replace"):
            return
        time.sleep(0.02)
    pytest.fail("the run never took the lock")


def sessions(ws: Workspace) -> int:
    return ws.query("SELECT count(*) FROM sessions")[0][0]


def integrity(ws: Workspace) -> str:
    return ws.query("PRAGMA integrity_check")[0][0]


def finish(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-m",
        "session_import",
        "run",
        "--db",
        str(ws.db),
        *args,
        str(ws.root / "sessions.xml"),
        str(ws.root / "big.csv"),
    ]
    return subprocess.run(argv, capture_output=True, text=True, cwd=ws.root, timeout=600)


@pytest.mark.parametrize("delay", [0.0, 0.4, 1.2, 3.0])
def test_sigkill_leaves_nothing_or_everything_and_the_next_run_finishes(fresh, delay):
    proc = start(fresh)
    wait_for_lock_holder(fresh, proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert integrity(fresh) == "ok"
    assert sessions(fresh) in (0, ROWS)
    again = finish(fresh, "--lock-timeout", "5")  # the dead run's lock does not block
    assert again.returncode == 0, again.stderr
    assert sessions(fresh) == ROWS
    titles = fresh.query("SELECT count(DISTINCT title) FROM sessions")[0][0]
    assert titles == ROWS


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_roll_back_and_release_the_lock(fresh, sig, code):
    proc = start(fresh)
    wait_for_lock_holder(fresh, proc)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    name = signal.Signals(sig).name
    assert err.endswith(
        f"Interrupted by {name}: the file being applied ({fresh.root / 'big.csv'})"
        " was rolled back; nothing of it was written.\n"
    )
    assert sessions(fresh) == 0
    assert integrity(fresh) == "ok"
    runs = fresh.query("SELECT count(*) FROM runs WHERE dry_run = 0")[0][0]
    assert runs == 3  # only the seeding runs: the interrupted one left nothing
    assert finish(fresh).returncode == 0


def test_a_second_import_waits_then_gives_up_with_who_holds_the_lock(fresh):
    proc = start(fresh)
    wait_for_lock_holder(fresh, proc)
    second = finish(fresh, "--lock-timeout", "0.3", "--dry-run")
    assert second.returncode == 5
    assert second.stderr.startswith("Another import is running (session-import run ")
    assert f"process {proc.pid})" in second.stderr and ", since 20" in second.stderr
    waited = finish(fresh, "--lock-timeout", "300")  # waits for the first one to finish
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    assert waited.returncode == 0
    assert "was already imported by run" in waited.stdout


def test_a_store_held_busy_by_another_program_exits_5_and_writes_nothing(fresh):
    holder = sqlite3.connect(fresh.db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        result = finish(fresh, "--lock-timeout", "1")
        assert result.returncode == 5
        assert "is busy" in result.stderr and "nothing was written" in result.stderr
        assert time.monotonic() - started >= 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert sessions(fresh) == 0
    assert finish(fresh).returncode == 0
    assert sessions(fresh) == ROWS


def test_a_store_that_fills_up_mid_run_exits_5_and_keeps_what_it_had(fresh, monkeypatch):
    """SQLite itself raises SQLITE_FULL: the store's page limit is lowered to just above its size."""
    from session_import import store as store_module

    real_init = store_module.Store.__init__

    def small_store(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
        self.conn.execute(f"PRAGMA max_page_count = {pages + 20}")

    monkeypatch.setattr(store_module.Store, "__init__", small_store)
    before = fresh.query("SELECT count(*) FROM runs")
    result = fresh.run("run", fresh.root / "sessions.xml", fresh.root / "big.csv")
    assert result.exit_code == 5
    assert "database or disk is full" in result.stderr
    assert "rolled back" in result.stderr
    assert sessions(fresh) == 0
    assert fresh.query("SELECT count(*) FROM runs") == before
    assert integrity(fresh) == "ok"
