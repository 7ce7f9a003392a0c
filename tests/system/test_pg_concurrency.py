"""Several hosts on one PostgreSQL store, for real: `python -m session_import` processes
against the tests' server, killed, signalled, started together.

Each "host" is a process of its own with its own connections: what the server holds for
one (an advisory lock, row locks, a transaction) is what another host would meet.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import psycopg
import pytest
from conftest import HEADER, SESSION_CONFIG, Workspace, rows

pytestmark = pytest.mark.slow

ROWS = 30_000


def _cli(ws: Workspace, *args: str) -> list[str]:
    return [sys.executable, "-m", "session_import", *args[:1], "--db", ws.db, *args[1:]]


def start(ws: Workspace, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        _cli(ws, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ws.root
    )


def finish(ws: Workspace, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cli(ws, *args), capture_output=True, text=True, cwd=ws.root, timeout=600)


def query(ws: Workspace, sql: str, *params) -> list[tuple]:
    with psycopg.connect(ws.db, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]


def wait_until(check, proc: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the run ended early: {proc.communicate()}")
        if check():
            return
        time.sleep(0.02)
    pytest.fail("timed out")


def holds_a_run(ws: Workspace, pid: int) -> bool:
    """The process holds its run lock and its store connection is inside a transaction."""
    found = query(
        ws,
        "SELECT (SELECT count(*) FROM run_locks WHERE pid = %s),"
        " (SELECT count(*) FROM pg_stat_activity WHERE xact_start IS NOT NULL"
        " AND application_name = 'session-import ' || %s::text)",
        pid,
        pid,
    )
    return found[0][0] > 0 and found[0][1] > 0


@pytest.fixture
def ws(tmp_path, pg_url) -> Workspace:
    ws = Workspace(tmp_path, db=pg_url)
    ws.seed()
    return ws


@pytest.fixture
def big(ws) -> Workspace:
    ws.write("sessions.xml", SESSION_CONFIG.format(full_access="no"))
    lines = [
        f"M;TP-00{1 + i % 3};Session {i};;;open;2026-12-01;2026-12-02;jdupont;;"
        for i in range(ROWS)
    ]
    ws.write("big.csv", rows(*lines))
    return ws


def sessions(ws: Workspace) -> int:
    return query(ws, "SELECT count(*) FROM sessions")[0][0]


@pytest.mark.parametrize("delay", [0.0, 0.5, 2.0])
def test_a_killed_run_leaves_nothing_or_all_and_never_blocks_the_next(big, delay):
    proc = start(big, "run", str(big.root / "sessions.xml"), str(big.root / "big.csv"))
    wait_until(lambda: holds_a_run(big, proc.pid), proc)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert sessions(big) in (0, ROWS)
    again = finish(
        big, "run", "--lock-timeout", "5", str(big.root / "sessions.xml"), str(big.root / "big.csv")
    )
    assert again.returncode == 0, again.stderr
    assert sessions(big) == ROWS
    assert query(big, "SELECT count(DISTINCT title) FROM sessions")[0][0] == ROWS


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_rolls_the_file_back_and_releases_the_lock(big, sig, code):
    proc = start(big, "run", str(big.root / "sessions.xml"), str(big.root / "big.csv"))
    wait_until(lambda: holds_a_run(big, proc.pid), proc)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert "was rolled back; nothing of it was written." in err
    assert sessions(big) == 0
    assert query(big, "SELECT count(*) FROM run_locks")[0][0] == 0
    assert (
        finish(big, "run", str(big.root / "sessions.xml"), str(big.root / "big.csv")).returncode
        == 0
    )


def test_the_same_import_waits_and_names_the_host_and_process_that_holds_it(big):
    proc = start(big, "run", str(big.root / "sessions.xml"), str(big.root / "big.csv"))
    wait_until(lambda: holds_a_run(big, proc.pid), proc)
    second = finish(
        big,
        "run",
        "--lock-timeout",
        "0.3",
        "--dry-run",
        str(big.root / "sessions.xml"),
        str(big.root / "big.csv"),
    )
    assert second.returncode == 5
    assert second.stderr.startswith("Another import is running (session-import run ")
    assert f"process {proc.pid} on {socket.gethostname()})" in second.stderr
    assert ", since 20" in second.stderr
    assert big.db.split("@")[0].split(":")[-1] not in second.stderr + second.stdout  # password
    proc.communicate(timeout=300)
    assert proc.returncode == 0


def test_two_hosts_given_the_same_file_at_once_import_it_once(big):
    argv = (
        "run",
        "--lock-timeout",
        "300",
        "--report",
        "{report}",
        str(big.root / "sessions.xml"),
        str(big.root / "big.csv"),
    )
    procs = [
        start(big, *[a.format(report=big.root / f"r{i}.json") for a in argv]) for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sessions(big) == ROWS
    applied = query(
        big, "SELECT id FROM runs WHERE import_id = 'sessions' AND kind = 'import' AND dry_run = 0"
    )
    assert len(applied) == 1
    skipped = query(big, "SELECT applied_by FROM runs WHERE kind = 'skip'")
    assert skipped == applied
    said = "".join(out for out, _ in outs)
    assert f"was already imported by run {applied[0][0]} on " in said


def test_different_imports_run_side_by_side_and_create_distinct_ids(ws):
    for name in ("east", "west"):
        ws.write(f"{name}.xml", SESSION_CONFIG.format(full_access="no"))
        ws.write(
            f"{name}.csv",
            rows(
                *[
                    f"M;TP-001;{name} {i};;;open;2026-12-01;2026-12-02;jdupont;;"
                    for i in range(5000)
                ]
            ),
        )
    procs = [
        start(
            ws, "run", "--lock-timeout", "0", str(ws.root / f"{n}.xml"), str(ws.root / f"{n}.csv")
        )
        for n in ("east", "west")
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs  # neither waited for the other's lock
    assert query(
        ws,
        "SELECT created_by_import, count(*), count(DISTINCT id) FROM sessions"
        " GROUP BY 1 ORDER BY 1",
    ) == [("east", 5000, 5000), ("west", 5000, 5000)]
    assert query(ws, "SELECT count(*) FROM journal WHERE table_name = 'sessions'") == [(10000,)]


def test_two_imports_updating_one_session_at_once_lose_no_update(ws):
    """Import A reads the session and is frozen inside its transaction (SIGSTOP); import B
    changes another field of it meanwhile: B waits on A's row lock, then reads what A
    committed, so the session ends with both changes and B's journal starts from A's."""
    config = SESSION_CONFIG.format(full_access="yes")
    ws.write("a.xml", config)
    # B's file has no teacher column: B leaves the teacher as it is
    ws.write(
        "b.xml",
        config.replace("<teacherLogin/>", "<teacherLogin><mandatory>no</mandatory></teacherLogin>"),
    )
    ws.write("seed.csv", rows("M;TP-001;Shared;;;open;2026-12-01;2026-12-02;jdupont;;"))
    assert finish(ws, "run", str(ws.root / "a.xml"), str(ws.root / "seed.csv")).returncode == 0
    # A: the shared session gets a new teacher, then thousands of other rows keep A busy
    ws.write(
        "a.csv",
        rows(
            "M;TP-001;Shared;;;open;2026-12-01;2026-12-02;lchen;;",
            *[f"M;TP-002;A {i};;;open;2026-12-01;2026-12-02;jdupont;;" for i in range(20000)],
        ),
    )
    header = HEADER.replace(";teacherLogin", "")
    ws.write("b.csv", f"{header}\nM;TP-001;Shared;;;closed;2026-12-01;2026-12-02;;\n")
    (shared,) = query(ws, "SELECT id FROM sessions WHERE title = 'Shared'")[0]
    a = start(ws, "run", str(ws.root / "a.xml"), str(ws.root / "a.csv"))
    b = None

    def a_locked_the_session() -> bool:
        try:
            with psycopg.connect(ws.db, autocommit=True) as conn:
                conn.execute("SELECT 1 FROM sessions WHERE id = %s FOR UPDATE NOWAIT", (shared,))
            return False
        except psycopg.errors.LockNotAvailable:
            return True

    try:
        wait_until(a_locked_the_session, a)
        a.send_signal(signal.SIGSTOP)
        try:
            b = start(ws, "run", str(ws.root / "b.xml"), str(ws.root / "b.csv"))
            wait_until(
                lambda: (
                    query(
                        ws,
                        "SELECT count(*) FROM pg_stat_activity WHERE"
                        " application_name = %s AND wait_event_type = 'Lock'",
                        f"session-import {b.pid}",
                    )[0][0]
                    == 1
                ),
                b,
            )
        finally:
            a.send_signal(signal.SIGCONT)
        outs = [p.communicate(timeout=600) for p in (a, b)]
    finally:
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert [a.returncode, b.returncode] == [0, 0], outs
    teacher, status = query(
        ws,
        "SELECT u.login, s.status FROM sessions s JOIN users u"
        " ON u.id = s.teacher_id WHERE s.id = %s",
        shared,
    )[0]
    assert (teacher, status) == ("lchen", "closed")
    (before,) = query(
        ws,
        "SELECT j.before FROM journal j JOIN runs r ON r.id = j.run_id"
        " WHERE r.import_id = 'b' AND j.record_id = %s",
        shared,
    )[0]
    assert json.loads(before)["status"] == "open"
    assert (
        json.loads(before)["teacher_id"]
        != query(ws, "SELECT id FROM users WHERE login = 'jdupont'")[0][0]
    )
