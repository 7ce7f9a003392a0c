"""The store is never made by accident (init), a store that cannot be used is told as such,
WAL, the online backup, the v4 migration, and the lock file (links refused, what it says)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT, SESSION_CONFIG, Workspace, rows

from session_import.store import MIGRATIONS, SCHEMA_VERSION

DROP_CONFIG = """
<import-config>
  <import id="nightly">
    <providers><fileSystemSourceProvider>
      <path>{drop}</path><fileName>night*.csv</fileName>
    </fileSystemSourceProvider></providers>
    <actions>
      <createOrUpdateSessionAction>
        <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
        <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
      </createOrUpdateSessionAction>
    </actions>
    <consolidators>
      <moveToBackupConsolidator><backupFolder>{backup}</backupFolder></moveToBackupConsolidator>
      <deleteProcessedFilesConsolidator/>
    </consolidators>
  </import>
</import-config>
"""


def missing_store_message(path: Path) -> str:
    return (
        f"The store {path} does not exist; nothing was read. Create it with `session-import "
        f"init --db {path}`, or give the --db (or SESSION_IMPORT_DB) of the store you meant.\n"
    )


@pytest.fixture
def bare(tmp_path) -> Workspace:
    """A folder without a store."""
    return Workspace(tmp_path, init=False)


def test_init_creates_an_empty_store_and_leaves_an_existing_one_as_it_is(bare):
    result = bare.run("init")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"Created the store {bare.db} (schema version {SCHEMA_VERSION}).\n"
    assert bare.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert bare.query("SELECT count(*) FROM sessions") == [(0,)]
    assert bare.query("PRAGMA journal_mode") == [("wal",)]
    bare.seed()
    again = bare.run("init")
    assert again.exit_code == 0
    assert again.stdout == (
        f"The store {bare.db} already exists (schema version {SCHEMA_VERSION}); "
        "it was left as it is.\n"
    )
    assert bare.query("SELECT count(*) FROM trainings")[0][0] > 0
    foreign = bare.root / "notes.db"
    foreign.write_text("my notes, not a store")
    refused = bare.run("init", "--db", foreign)
    assert refused.exit_code == 5
    assert refused.stderr == (
        f"{foreign} already exists and is not a session-import store; it was "
        "left as it is: give another --db path.\n"
    )
    assert foreign.read_text() == "my notes, not a store"


def test_run_publish_and_revert_refuse_a_store_that_does_not_exist(bare):
    drop, backup = bare.root / "drop", bare.root / "backup"
    drop.mkdir()
    night = drop / "night1.csv"
    night.write_text(
        "sessionAction;trainingPathCode;sessionTitle;teacherLogin\nM;TP-001;S;jdupont\n"
    )
    config = bare.write("nightly.xml", DROP_CONFIG.format(drop=drop, backup=backup))
    for argv in (["run", config], ["publish", config], ["revert", "--db", bare.db, "1"]):
        result = bare.run(*argv)
        assert result.exit_code == 5, argv
        assert result.stderr == missing_store_message(bare.db), argv
        assert result.stdout == ""
    assert not bare.db.exists() and not Path(f"{bare.db}.lock").exists()
    assert night.exists() and not backup.exists()  # nothing read, moved or deleted
    # through cron's environment: no --db, no SESSION_IMPORT_DB, another working directory
    cron = subprocess.run(
        [sys.executable, "-m", "session_import", "run", str(config)],
        cwd=bare.root / "drop",
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": str(bare.root)},
        stdin=subprocess.DEVNULL,
    )
    assert cron.returncode == 5
    assert cron.stderr == missing_store_message(drop / "session-import.db")
    assert sorted(p.name for p in drop.iterdir()) == ["night1.csv"]


def test_readers_say_the_same_for_a_missing_store(bare):
    for argv in (["export", "sessions"], ["history"], ["status"], ["backup", bare.root / "b.db"]):
        result = bare.run(*argv)
        assert result.exit_code == 5, argv
        assert result.stderr == missing_store_message(bare.db)
    assert not bare.db.exists()


def test_a_store_folder_that_does_not_exist_is_named_not_the_lock_file(bare, sessions_config):
    data = bare.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    db = bare.root / "no" / "such" / "store.db"
    for argv in (["run", "--db", db, sessions_config, data], ["init", "--db", db]):
        result = bare.run(*argv)
        assert result.exit_code == 5
        assert result.stderr == (
            f"The folder {db.parent} of the store {db} does not exist: create it (or give the "
            "--db, or SESSION_IMPORT_DB, you meant).\n"
        )
        assert "lock" not in result.stderr
    assert not (bare.root / "no").exists()


@pytest.fixture
def read_only_folder(tmp_path):
    """A real read-only file system (a tmpfs remounted read-only) holding a store."""
    if os.geteuid() != 0:
        pytest.skip("mounting a file system needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
        ).returncode
        != 0
    ):
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        Workspace(mount)  # init, while it is writable
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True)
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_store_on_a_read_only_file_system_says_so_before_any_lock(
    read_only_folder, sessions_config
):
    ws = Workspace(read_only_folder, init=False)
    data = Path(sessions_config).parent / "s.csv"
    data.write_text(rows("M;TP-001;A;;;open;;;jdupont;;"))
    result = ws.run("run", sessions_config, data)
    assert result.exit_code == 5
    assert result.stderr == (
        f"The store {ws.db} cannot be written (read-only file system): check its owner and "
        "permissions, and that its file system is not mounted read-only.\n"
    )
    export = ws.run("export", "sessions")  # reading still works
    assert export.exit_code == 0, export.stderr
    assert json.loads(export.stdout) == []


def test_a_folder_the_user_cannot_write_is_named(tmp_path):
    """As an unprivileged user (nobody): the store is writable, its folder is not."""
    if os.geteuid() != 0:
        pytest.skip("switching to another user needs root")
    folder = Path(tempfile.mkdtemp(prefix="si-perm-"))
    try:
        os.chmod(folder, 0o755)
        ws = Workspace(folder)
        os.chmod(ws.db, 0o666)
        config = folder / "sessions.xml"
        config.write_text(SESSION_CONFIG.format(full_access="no"))
        data = folder / "s.csv"
        data.write_text(rows("M;TP-001;A;;;open;;;jdupont;;"))
        os.chmod(folder, 0o755)
        result = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "session_import",
                "run",
                "--db",
                str(ws.db),
                str(config),
                str(data),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")},
        )
        assert result.returncode == 5, result.stderr
        assert result.stderr == (
            f"The folder {folder} of the store {ws.db} cannot be written (permission denied): the "
            "lock file and SQLite's -wal and -shm files live beside the store; check the folder's "
            "owner and permissions, and that its file system is not mounted read-only.\n"
        )
    finally:
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_backup_writes_a_consistent_copy_and_never_overwrites_the_store(ws, sessions_config):
    ws.seed()
    ws.run("run", sessions_config, ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;")))
    dest = ws.root / "backups" / "store-copy.db"
    dest.parent.mkdir()
    result = ws.run("backup", dest)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"Backed up the store {ws.db} to {dest} (schema version {SCHEMA_VERSION}, 1 sessions).\n"
    )
    copy = sqlite3.connect(dest)
    assert copy.execute("SELECT title FROM sessions").fetchall() == [("A",)]
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one self-contained file
    copy.close()
    assert sorted(p.name for p in dest.parent.iterdir()) == ["store-copy.db"]  # no temporary left
    into_folder = ws.run("backup", dest.parent)
    assert into_folder.exit_code == 0
    assert (dest.parent / "store.db").exists()
    before = ws.db.read_bytes()
    for target in (ws.db, Path(f"{ws.db}-wal"), Path(f"{ws.db}.lock"), ws.root / "." / "store.db"):
        refused = ws.run("backup", target)
        assert refused.exit_code == 2
        assert (
            refused.stderr
            == f"{target} is the store or one of its files; give another backup path.\n"
        )
    assert ws.db.read_bytes() == before
    unwritable = ws.run("backup", ws.root / "missing" / "copy.db")
    assert unwritable.exit_code == 3
    assert unwritable.stderr.startswith(
        f"Could not write the backup {ws.root / 'missing' / 'copy.db'}: "
    )


def v3_store(path: Path) -> None:
    """A store as version 3 of session-import left it, with one run and its journal."""
    conn = sqlite3.connect(path)
    for version in (1, 2, 3):
        conn.executescript(MIGRATIONS[version])
    conn.execute(
        "INSERT INTO trainings (guid, path_code, title, modality) VALUES ('G', 'TP-001', 'T', 'blended')"
    )
    conn.execute("INSERT INTO users (login) VALUES ('jdupont')")
    conn.execute(
        "INSERT INTO runs (import_id, action, file, sha256, started_at, ended_at, dry_run, counts,"
        " exit_code, pid) VALUES ('sessions', 'createOrUpdateSessionAction', '/old/s.csv', 'abc',"
        " '2026-11-30T02:00:00+01:00', '2026-11-30T02:00:05+01:00', 0, '{\"rows\": 1}', 0, 42)"
    )
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()


def test_a_version_3_store_is_migrated_in_place_by_the_first_command(ws, sessions_config):
    ws.db.unlink()
    v3_store(ws.db)
    said = ws.run("init")
    assert said.stdout == (
        f"The store {ws.db} already exists (schema version 3); it was left as it is "
        f"(the next command that opens it upgrades it to version {SCHEMA_VERSION}).\n"
    )
    assert ws.query("PRAGMA user_version") == [(3,)]
    history = ws.run("history", "--format", "json")
    assert history.exit_code == 0, history.stderr
    (old,) = json.loads(history.stdout)
    assert (old["id"], old["file"], old["kind"], old["outcome"]) == (
        1,
        "/old/s.csv",
        "import",
        "applied",
    )
    assert ws.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    # the old run is also the import's last command, for status
    assert ws.query("SELECT import_id, command, exit_code FROM commands") == [
        ("sessions", "run", 0)
    ]
    result = ws.run(
        "run", sessions_config, ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    )
    assert result.exit_code == 0, result.stderr
    assert ws.query("SELECT count(*) FROM sessions") == [(1,)]


def test_a_planted_lock_link_is_refused_and_its_target_untouched(ws, sessions_config):
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    victim = ws.root / "precious.conf"
    victim.write_text("do not truncate me\n")
    stat_before = victim.stat()
    lock = Path(f"{ws.db}.lock")
    lock.symlink_to(victim)
    for argv in (["run", sessions_config, data], ["revert", "--db", ws.db, "1"]):
        result = ws.run(*argv)
        assert result.exit_code == 5, argv
        assert result.stderr == (
            f"The lock file {lock} is a symbolic link (to {victim}); session-import never writes "
            "through a link: delete the link (the lock file holds no state) and run again.\n"
        )
    assert victim.read_text() == "do not truncate me\n"
    assert victim.stat().st_mtime_ns == stat_before.st_mtime_ns
    lock.unlink()
    dangling = ws.root / "created-through-the-link"
    lock.symlink_to(dangling)
    assert ws.run("run", sessions_config, data).exit_code == 5
    assert not dangling.exists()
    lock.unlink()
    os.link(victim, lock)  # a hard link: another name of the same file
    result = ws.run("run", sessions_config, data)
    assert result.exit_code == 5
    assert "is not a plain file of its own (a file with 2 names (hard links))" in result.stderr
    assert victim.read_text() == "do not truncate me\n"


def test_the_lock_file_says_no_run_holds_it_once_the_run_ended(ws, sessions_config):
    ws.seed()
    ws.run("run", sessions_config, ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;")))
    info = json.loads(Path(f"{ws.db}.lock").read_text())
    assert info["held"] is False
    assert info["what"] == f"session-import run {ws.root / 'sessions.xml'}"
    assert info["pid"] == os.getpid() and info["released"] >= info["since"]
    ignored = subprocess.run(
        ["git", "check-ignore", "store.db.lock", "session-import.db.lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert ignored.stdout.split() == ["store.db.lock", "session-import.db.lock"]
