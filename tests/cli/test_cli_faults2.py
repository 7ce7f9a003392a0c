"""Faults of the command line found by a hostile review, each kept as a test through the
command a user types: an output that is the store (13.9), a damaged store header and a
lock timeout of `nan` (13.12), a data file that does not exist, a closed pipe, the help
(14.9)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import click
import pytest
from conftest import rows

from session_import.cli import main
from session_import.store import SCHEMA_VERSION


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


# ---- 13.9: an output that is the store -------------------------------------------------------


def spellings(ws) -> list[tuple[str, str, str]]:
    """(output path, what it is, the file it is) for each way of naming the store or a file
    beside it."""
    root = ws.root
    (root / "link.json").symlink_to(ws.db)
    (root / "sub").mkdir(exist_ok=True)
    os.link(ws.db, root / "hard.json")
    store = str(ws.db)
    return [
        (store, "the store", store),
        (f"{store}-wal", "the store's write-ahead log", f"{store}-wal"),
        (f"{store}-shm", "the store's shared-memory index", f"{store}-shm"),
        (f"{store}-journal", "the store's rollback journal", f"{store}-journal"),
        (f"{store}.lock", "the store's lock file", f"{store}.lock"),
        (str(root / "link.json"), "the store", store),
        (str(root / "sub" / ".." / "store.db"), "the store", store),
        (str(root / "hard.json"), "the store", store),
    ]


def test_an_output_that_is_the_store_or_one_of_its_files_is_refused_before_any_work(
    seeded, sessions_config
):
    data = seeded.write(
        "s.csv", rows("M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;")
    )
    before = digest(seeded.db)
    lock_before = Path(f"{seeded.db}.lock").read_bytes()
    runs = seeded.query("SELECT count(*) FROM runs")
    for output, what, real in spellings(seeded):
        why = f"{output} is {what} ({real}): writing there would destroy the store; give another path."
        for argv, option in (
            (("run", "--report", output, sessions_config, data), "--report"),
            (("run", "--rejects", output, sessions_config, data), "--rejects"),
            (("publish", "--report", output, sessions_config), "--report"),
            (("export", "sessions", "--output", output), "--output"),
        ):
            result = seeded.run(*argv)
            assert result.exit_code == 2, (argv, result.stderr)
            assert f"Error: Invalid value for '{option}': {why}\n" in result.stderr, argv
    assert digest(seeded.db) == before
    assert Path(f"{seeded.db}.lock").read_bytes() == lock_before
    assert not any(Path(f"{seeded.db}{suffix}").exists() for suffix in ("-wal", "-shm", "-journal"))
    assert seeded.query("SELECT count(*) FROM runs") == runs  # nothing ran


def test_a_store_reached_through_a_link_is_protected_where_its_files_really_are(
    seeded, sessions_config
):
    link = seeded.root / "elsewhere.db"
    link.symlink_to(seeded.db)
    data = seeded.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    result = seeded.run(
        "run", "--db", link, "--report", f"{seeded.db}-journal", sessions_config, data
    )
    assert result.exit_code == 2
    assert "is the store's rollback journal" in result.stderr
    fine = seeded.run(
        "run", "--db", link, "--report", seeded.root / "r.json", sessions_config, data
    )
    assert fine.exit_code == 0, fine.stderr


# ---- 13.12: a damaged header, a lock timeout of nan ------------------------------------------


@pytest.mark.parametrize(
    ("offset", "mask", "says"),
    [
        (63, 0x80, None),  # the schema version in the header, + 128: was "upgrade session-import"
        (61, 0x01, None),  # + 65536: likewise
        (60, 0x80, None),  # negative: was a Python traceback (KeyError)
        (63, 0x00, None),  # the version zeroed, as in a new store (not one flip: the whole field)
        (0, 0x01, "file is not a database"),
        (28, 0x01, "database disk image is malformed"),
        (47, 0x01, "unsupported file format"),
    ],
)
def test_a_store_with_a_flipped_header_byte_is_said_damaged(
    seeded, sessions_config, offset, mask, says
):
    image = bytearray(seeded.db.read_bytes())
    assert int.from_bytes(image[60:64], "big") == SCHEMA_VERSION  # user_version
    if mask:
        image[offset] ^= mask
    else:
        image[60:64] = bytes(4)
    seeded.db.write_bytes(bytes(image))
    if says is None:
        version = int.from_bytes(image[60:64], "big", signed=True)
        expected = (
            f"The store {seeded.db} is damaged: its header says schema version {version},"
            f" but it holds the tables of version {SCHEMA_VERSION}; nothing was read or"
            " written. Restore it from a backup.\n"
        )
    else:
        expected = (
            f"The store {seeded.db} is damaged or is not an SQLite file ({says}); nothing"
            " was read or written. Check --db, or restore the store from a backup.\n"
        )
    data = seeded.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    for argv in (("export", "sessions"), ("history",), ("run", sessions_config, data)):
        result = seeded.run(*argv)
        assert (result.exit_code, result.stderr) == (5, expected), argv
    assert seeded.db.read_bytes() == bytes(image)  # nothing written


def test_a_store_of_a_newer_session_import_is_told_to_upgrade(seeded):
    conn = sqlite3.connect(seeded.db)
    conn.execute("CREATE TABLE added_by_a_later_version (id INTEGER)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    result = seeded.run("export", "sessions")
    assert result.exit_code == 5
    assert result.stderr == (
        f"The store {seeded.db} has schema version {SCHEMA_VERSION + 1}, newer than this"
        f" session-import knows ({SCHEMA_VERSION}); upgrade session-import (if no newer"
        " session-import wrote it, the store is damaged: restore it from a backup).\n"
    )


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "NaN", "soon"])
def test_a_timeout_that_is_not_a_finite_number_of_seconds_is_a_usage_error(
    seeded, sessions_config, value
):
    for argv, option in (
        (("run", "--lock-timeout", value, sessions_config), "--lock-timeout"),
        (("publish", "--lock-timeout", value, sessions_config), "--lock-timeout"),
        (("revert", "--db", seeded.db, "--lock-timeout", value, "1"), "--lock-timeout"),
        (("run", "--publish-timeout", value, sessions_config), "--publish-timeout"),
        (("publish", "--publish-timeout", value, sessions_config), "--publish-timeout"),
    ):
        result = seeded.run(*argv)
        assert result.exit_code == 2, (argv, result.stderr)
        assert (
            f"Error: Invalid value for '{option}': {value} is not a number of seconds: give a"
            " finite number, 0 or more (e.g. 30).\n"
        ) in result.stderr


# ---- 14.9: a missing data file, a closed pipe, the help --------------------------------------


def test_a_data_file_that_does_not_exist_says_so_and_nothing_else(seeded, sessions_config):
    missing = seeded.root / "missing.csv"
    result, report = seeded.import_rows(sessions_config, missing)
    assert result.exit_code == 3
    assert result.stdout == ""  # no line of zero counts before the error
    assert result.stderr == f"{missing}: cannot be opened: No such file or directory.\n"
    assert report["files"][0]["error"] == f"{missing}: cannot be opened: No such file or directory."


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ("export", "sessions"),
        ("export", "sessions", "--format", "csv"),
        ("history", "4", "--format", "json"),
    ],
)
def test_a_reader_that_stops_early_ends_the_command_quietly(seeded, sessions_config, argv):
    """`session-import export sessions | head -1`, with a real pipe: far more than a pipe
    holds is written, so the command meets the closed pipe."""
    data = seeded.write(
        "s.csv", rows(*(f"M;TP-001;Session {n};;;open;;;jdupont;;" for n in range(3000)))
    )
    assert seeded.run("run", sessions_config, data).exit_code == 0
    export = subprocess.Popen(
        [sys.executable, "-m", "session_import", *argv, "--db", str(seeded.db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    head = subprocess.run(["head", "-1"], stdin=export.stdout, capture_output=True, timeout=60)
    export.stdout.close()
    stderr = export.stderr.read().decode()
    export.stderr.close()
    assert export.wait(timeout=60) == 0, stderr
    assert stderr == ""
    assert head.stdout.decode().startswith(("[", "id,"))


def test_help_mentions_workbooks_and_the_exit_codes(ws):
    helped = ws.run("--help")
    assert helped.exit_code == 0
    text = " ".join(helped.stdout.split())
    assert "Excel workbooks (.xlsx)" in text
    for code, meaning in (
        ("0", "every row applied"),
        ("1", "some rows rejected"),
        ("2", "command-line usage error"),
        ("3", "a data file failed as a whole"),
        ("4", "the configuration is invalid"),
        ("5", "the store is unavailable"),
        ("6", "applied to the store; some changes still wait"),
        ("130, 143", "interrupted by SIGINT or SIGTERM"),
    ):
        assert f" {code} {meaning}" in text, code
    run_help = " ".join(ws.run("run", "--help").stdout.split())
    assert "CSV or .xlsx" in run_help


def test_every_option_of_every_command_has_a_help_text():
    missing = []
    commands = [("session-import", main), *((name, c) for name, c in main.commands.items())]
    for name, command in commands:
        with click.Context(command) as ctx:
            for param in command.get_params(ctx):  # --help included
                if isinstance(param, click.Option) and not (param.help or "").strip():
                    missing.append(f"{name} {param.opts[0]}")
            assert (command.get_short_help_str() or "").strip(), name
    assert missing == []
    assert len(commands) >= 7
