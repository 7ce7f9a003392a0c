"""A full disk, for real (issues 13.8 and 13.3): a small tmpfs mounted for each test and
filled to its last page. Every command on it exits 5 with a clear message and no
traceback, whatever was being written: the lock, the store, the report, the rejects
file, an export, the standard output. A run whose store fills up while it records its
deliveries says that its file was committed, and the next run completes it.

Mounting needs root (as these machines run the suite); elsewhere the tests are skipped
with the reason.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import Workspace, rows
from emulators.perculus import (
    PerculusEmulator,
    perculus_emulator,  # noqa: F401  (fixture)
)
from test_after_commit import DUE, LOG_LINE, NIGHT, nightly_config, perculus_env  # noqa: F401

FULL = "No space left on device"


class SmallDisk:
    def __init__(self, mount: Path):
        self.mount = mount
        self.filler = mount / "filler"

    def fill(self) -> None:
        """Write until the file system refuses even one byte more."""
        with open(self.filler, "ab", buffering=0) as handle:
            for size in (1 << 16, 1 << 12, 1 << 9, 1):
                block = b"\0" * size
                while True:
                    try:
                        handle.write(block)
                    except OSError as exc:
                        assert exc.errno == errno.ENOSPC
                        break

    def free(self) -> None:
        self.filler.unlink()


@pytest.fixture
def disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here ({done.stderr.strip()}): run as root")
    try:
        yield SmallDisk(mount)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def on_disk(ws: Workspace, disk: SmallDisk) -> Workspace:
    """A workspace whose store (and its lock) lives on the small disk, seeded."""
    ws.db = disk.mount / "store.db"
    assert ws.run("init").exit_code == 0
    ws.seed()
    return ws


def command(
    *argv: str, stdout=subprocess.PIPE, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "session_import", *argv],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def store_bytes(ws: Workspace) -> bytes:
    return Path(ws.db).read_bytes()


def test_a_run_whose_lock_cannot_be_written_exits_5(ws, disk, sessions_config):
    ws.db = disk.mount / "fresh.db"
    assert ws.run("init").exit_code == 0
    disk.fill()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    for argv in (
        ("run", sessions_config, data),
        ("publish", sessions_config),
        ("revert", "--db", ws.db, "1"),
    ):
        result = ws.run(*argv)
        assert result.exit_code == 5, (argv, result.stderr)
        assert result.stderr == f"Cannot write the lock file {ws.db}.lock: {FULL}.\n"


def test_a_run_on_a_full_store_exits_5_and_the_store_keeps_what_it_had(
    on_disk, disk, sessions_config
):
    data = on_disk.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    before = store_bytes(on_disk)
    disk.fill()  # a store in WAL mode needs room for its -wal and -shm files to open
    result = on_disk.run("run", sessions_config, data)
    assert result.exit_code == 5
    assert result.stderr == (
        f"The store {on_disk.db} cannot be opened (disk I/O error): its file system has no space"
        " left (SQLite needs some beside the store for its -wal and -shm files); nothing was read"
        " or written. Free some space and run the command again.\n"
    )
    assert store_bytes(on_disk) == before
    disk.free()
    assert on_disk.run("run", sessions_config, data).exit_code == 0


def test_revert_and_a_dry_run_on_a_full_store_exit_5(on_disk, disk, sessions_config):
    before = store_bytes(on_disk)
    disk.fill()
    reverted = on_disk.run("revert", "--db", on_disk.db, "3")
    assert reverted.exit_code == 5
    assert reverted.stderr == (
        f"The store {on_disk.db} cannot be opened (disk I/O error): its file system has no space"
        " left (SQLite needs some beside the store for its -wal and -shm files); nothing was read"
        " or written. Free some space and run the command again.\n"
    )
    data = on_disk.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    dry = on_disk.run("run", "--dry-run", sessions_config, data)
    assert dry.exit_code == 5
    assert dry.stderr == (
        f"The store {on_disk.db} cannot be opened (disk I/O error): its file system has no space"
        " left (SQLite needs some beside the store for its -wal and -shm files); nothing was read"
        " or written. Free some space and run the command again.\n"
    )
    assert store_bytes(on_disk) == before


@pytest.mark.slow
def test_publish_on_a_full_store_exits_5_and_keeps_the_queue(
    on_disk, disk, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    down = nightly_config(on_disk, "http://127.0.0.1:9")  # nothing listens: changes stay queued
    on_disk.write("night.csv", NIGHT)
    assert on_disk.run("run", down).exit_code == 1  # one row rejected; 4 changes wait
    config = nightly_config(on_disk, perculus_emulator.base_url)
    disk.fill()
    result = on_disk.run("publish", config)
    assert result.exit_code == 5
    assert result.stderr.endswith(
        f"The store {on_disk.db} cannot be opened (disk I/O error): its file system has no space"
        " left (SQLite needs some beside the store for its -wal and -shm files); nothing was read"
        " or written. Free some space and run the command again.\n"
    )
    disk.free()
    assert on_disk.run("publish", config).exit_code == 0
    assert len(perculus_emulator.sessions) == 4


def test_reports_rejects_and_exports_on_a_full_disk_exit_5_and_leave_no_half_file(
    ws, disk, sessions_config
):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;"))
    disk.fill()
    report, rejects = disk.mount / "r.json", disk.mount / "rejects.csv"
    result = ws.run("run", "--report", report, "--rejects", rejects, sessions_config, data)
    assert result.exit_code == 5
    assert (
        f"Could not write {report}: {FULL}. Free some space and run the command again.\n"
        in result.stderr
    )
    assert (
        f"Could not write {rejects}: {FULL}. Free some space and run the command again.\n"
        in result.stderr
    )
    assert ws.query("SELECT count(*) FROM sessions") == [(1,)]  # the store (elsewhere) has the run
    output = disk.mount / "sessions.json"
    exported = ws.run("export", "sessions", "--output", output)
    assert exported.exit_code == 5
    assert (
        exported.stderr
        == f"Could not write {output}: {FULL}. Free some space and run the command again.\n"
    )
    assert sorted(p.name for p in disk.mount.iterdir()) == ["filler"]  # no half-written file


@pytest.mark.slow
def test_standard_output_on_a_full_disk_exits_5_for_every_command(ws, disk, sessions_config):
    ws.seed()
    disk.fill()
    for argv in (
        ("export", "sessions", "--db", str(ws.db)),
        ("history", "--db", str(ws.db)),
        ("history", "1", "--format", "json", "--db", str(ws.db)),
        ("check", str(sessions_config)),
        ("--help",),
    ):
        with open(disk.mount / "out.txt", "w") as out:
            done = command(*argv, stdout=out)
        assert done.returncode == 5, (argv, done.stderr)
        assert done.stderr == (
            f"Could not write the standard output: {FULL}. Free some space and"
            " run the command again.\n"
        ), argv


@pytest.mark.slow
def test_a_store_that_fills_up_while_recording_deliveries_says_the_file_was_committed(
    ws: Workspace, disk, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    ws.db = disk.mount / "store.db"
    assert ws.run("init").exit_code == 0
    ws.seed()
    config = nightly_config(ws, perculus_emulator.base_url)
    night = ws.write("night.csv", NIGHT)
    report_path = ws.root / "report.json"
    release = perculus_emulator.hold_next(1, path="/auth/connect/token")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "session_import",
            "run",
            "--db",
            str(ws.db),
            "--report",
            str(report_path),
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ws.root,
    )
    deadline = time.monotonic() + 60
    while not perculus_emulator.calls("/auth/connect/token"):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached Perculus"
        time.sleep(0.02)
    disk.fill()  # committed, now publishing: recording what Perculus answers needs room
    release.set()
    try:
        out, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        raise
    stopped = (
        f"The store {ws.db} failed (database or disk is full) after {night} was committed"
        " as run 4: 4 changes still to publish (the next run or publish delivers them);"
        f" its consolidators {DUE} are still due (the next run completes them)."
    )
    assert proc.returncode == 5, err
    assert stopped in err.splitlines() and "Traceback" not in err
    report = json.loads(report_path.read_text())
    assert report["exit_code"] == 5 and report["stopped"] == [stopped]
    assert report["files"][0]["counts"]["created"] == 4

    disk.free()
    result = ws.run("run", config)
    assert result.exit_code == 0, result.stderr
    assert f"That run was stopped before its consolidators: {DUE} ran now." in result.stdout
    assert (ws.root / "logs").exists() and next(
        (ws.root / "logs").iterdir()
    ).read_text() == LOG_LINE
    assert not night.exists() and (ws.root / "backup" / "night.csv").exists()
    assert sorted(s["name"] for s in perculus_emulator.sessions.values()) == [
        f"Session {n}" for n in range(1, 5)
    ]  # each once: the look-up found none sent before
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'published'") == [(4,)]
    assert os.path.exists(ws.db)
