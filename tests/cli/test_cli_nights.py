"""Every night on record (skips, no file, failures), history --since, file names on a terminal,
files named on the command line are the caller's, --quiet's dated lines, --log-format json."""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from conftest import rows
from terminal import on_a_terminal
from test_cli_store import DROP_CONFIG

HEAD = "sessionAction;trainingPathCode;sessionTitle;teacherLogin\n"


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def history(ws, *args):
    result = ws.run("history", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def drop(seeded):
    """The nightly import of a drop folder, with a backup folder and the delete consolidator."""
    folder, backup = seeded.root / "drop", seeded.root / "backup"
    folder.mkdir()
    config = seeded.write("nightly.xml", DROP_CONFIG.format(drop=folder, backup=backup))
    return seeded, config, folder, backup


def test_a_skipped_file_a_night_without_file_and_a_failed_file_are_on_record(drop):
    ws, config, folder, backup = drop
    empty = ws.run("run", config)
    assert empty.exit_code == 0
    assert empty.stdout == f"No file matches night*.csv in {folder}.\n"
    (no_file,) = history(ws)[:1]
    assert (no_file["kind"], no_file["file"], no_file["exit_code"]) == (
        "no_file",
        str(folder / "night*.csv"),
        0,
    )
    assert no_file["outcome"] == f"No file matches night*.csv in {folder}."

    night = folder / "night1.csv"
    night.write_text(HEAD + "M;TP-001;S;jdupont\n")
    assert ws.run("run", config).exit_code == 0
    applied = history(ws)[0]
    assert (applied["kind"], applied["outcome"]) == ("import", "applied")
    # the provider's folder gets the same file again (backed up and dropped a second time)
    night.write_text(HEAD + "M;TP-001;S;jdupont\n")
    for _ in range(2):  # a skip is never taken for the run that applied the file
        skipped = ws.run("run", config)
        assert skipped.exit_code == 0
        assert f"File {night} was already imported by run {applied['id']} on " in skipped.stdout
        skip = history(ws)[0]
        assert (skip["kind"], skip["applied_by"], skip["sha256"]) == (
            "skip",
            applied["id"],
            applied["sha256"],
        )
        assert skip["outcome"] == f"skipped: already imported by run {applied['id']}"

    night.write_text("sessionAction;trainingPathCode\nM;TP-001\n")
    failed = ws.run("run", config)
    assert failed.exit_code == 3
    record = history(ws)[0]
    assert record["kind"] == "import" and record["exit_code"] == 3
    assert (
        record["reason"] == f"{night}:1: Mandatory column sessionTitle is missing from the header."
    )
    assert (
        record["outcome"]
        == f"failed: {night}:1: Mandatory column sessionTitle is missing from the header."
    )
    assert night.exists()  # a failed file is never moved

    table = ws.run("history")  # piped: a line per run, the outcome last
    assert table.stdout.splitlines()[0].endswith(
        f"\tfailed: {night}:1: Mandatory column sessionTitle is missing from the header."
    )


def test_a_dry_run_skip_is_recorded_as_a_dry_run(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    seeded.run("run", sessions_config, data)
    assert seeded.run("run", "--dry-run", sessions_config, data).exit_code == 0
    latest = history(seeded)[0]
    assert (latest["kind"], latest["dry_run"]) == ("skip", True)


@pytest.mark.sqlite_only  # the runs' times are rewritten with sqlite3
def test_history_since_a_duration_or_a_date(seeded, sessions_config):
    seeded.run("run", sessions_config, seeded.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;")))
    # an old night, written as another offset would write it
    conn = sqlite3.connect(seeded.db)
    conn.execute("UPDATE runs SET started_at = '2026-01-10T23:30:00-05:00' WHERE id = 1")
    conn.commit()
    conn.close()
    everything = [r["id"] for r in history(seeded)]
    assert everything == [4, 3, 2, 1]
    assert [r["id"] for r in history(seeded, "--since", "7d")] == [4, 3, 2]
    # 2026-01-10T23:30-05:00 is 2026-01-11T04:30 UTC: after 04:00 UTC, before 05:00 UTC
    assert [r["id"] for r in history(seeded, "--since", "2026-01-11T04:00+00:00")] == everything
    assert [r["id"] for r in history(seeded, "--since", "2026-01-11T05:00+00:00")] == [4, 3, 2]
    today = datetime.now(UTC).astimezone().date().isoformat()
    assert [r["id"] for r in history(seeded, "--since", today)] == [4, 3, 2]
    bad = seeded.run("history", "--since", "last week")
    assert bad.exit_code == 2
    assert (
        "'last week' is neither a duration (7d, 26h) nor a date (2026-12-01, or 2026-12-01T02:00)."
        in bad.stderr
    )


def test_history_on_a_narrow_terminal_keeps_file_names_whole(seeded, sessions_config):
    deep = seeded.root / "a-long-folder-name" / "another-level-of-folders" / "and-one-more-below-it"
    data = deep / "sessions-2026-12-01-nightly-export.csv"
    deep.mkdir(parents=True)
    data.write_text(rows("M;TP-001;A;;;open;;;jdupont;;"))
    assert seeded.run("run", sessions_config, data).exit_code == 0
    code, text = on_a_terminal("history", "--db", str(seeded.db), columns=100)
    assert code == 0
    assert "sessions-2026-12-01-nightly-export.csv" in text
    assert "a-long-folder-name" not in text  # the name, not a cut-off path


def test_files_named_on_the_command_line_are_never_moved_or_deleted(drop):
    ws, config, folder, backup = drop
    corrected = ws.root / "night-corrected.csv"  # a corrected rejects file, imported by hand
    corrected.write_text(HEAD + "M;TP-001;Fixed;jdupont\n")
    result = ws.run("run", config, corrected)
    assert result.exit_code == 0, result.stderr
    assert corrected.read_text() == HEAD + "M;TP-001;Fixed;jdupont\n"
    assert not backup.exists()
    listed = folder / "night2.csv"
    listed.write_text(HEAD + "M;TP-001;Listed;jdupont\n")
    assert ws.run("run", config).exit_code == 0
    assert not listed.exists() and (backup / "night2.csv").exists()  # the provider's own file is


def test_quiet_is_silent_on_a_clean_night_and_dated_on_a_bad_one(drop):
    ws, config, folder, _ = drop
    (folder / "night1.csv").write_text(HEAD + "M;TP-001;S;jdupont\n")
    clean = ws.run("run", "--quiet", config)
    assert (clean.exit_code, clean.stdout, clean.stderr) == (0, "", "")
    bad = folder / "night2.csv"
    bad.write_text("sessionAction;trainingPathCode\nM;TP-001\n")
    result = ws.run("run", "--quiet", config)
    assert result.exit_code == 3
    run_id = history(ws)[0]["id"]
    error, summary = result.stderr.splitlines()
    assert error == f"{bad}:1: Mandatory column sessionTitle is missing from the header."
    stamp, rest = summary.split(" ", 1)
    assert abs(datetime.fromisoformat(stamp) - datetime.now(UTC)) < timedelta(minutes=5)
    assert rest == (
        f"{bad} [nightly, createOrUpdateSessionAction]: run {run_id}, exit 3: 0 rows, "
        "0 created, 0 updated, 0 unchanged, 0 cancelled, 0 rejected, 0 warnings: "
        f"{bad}:1: Mandatory column sessionTitle is missing from the header."
    )


def test_json_log_is_one_event_per_line_on_stderr(drop):
    ws, config, folder, backup = drop
    night = folder / "night1.csv"
    night.write_text(HEAD + "M;TP-001;S;jdupont\nM;TP-001;T;nobody\n")
    plain = ws.run("run", "--dry-run", config)
    result = ws.run("run", "--log-format", "json", config)
    assert result.exit_code == 1
    # stdout stays as it is (but for the dry run's marks and the time each took)
    *lines, last = result.stdout.splitlines()
    *plain_lines, plain_last = plain.stdout.replace("[dry run] ", "").splitlines()
    assert lines == plain_lines
    assert re.fullmatch(r"Finished in \d+\.\d\d s\.", last), last
    assert re.fullmatch(
        r"Dry run finished in \d+\.\d\d s: nothing was written to the store\.", plain_last
    ), plain_last
    events = [json.loads(line) for line in result.stderr.splitlines()]
    run_id = history(ws)[0]["id"]
    names = [e["event"] for e in events]
    assert names == [
        "command_started",
        "file_started",
        "rejected_row",
        "file_ended",
        "consolidator",
        "consolidator",
        "command_ended",
    ]
    for event in events:
        when = datetime.fromisoformat(event["ts"])
        assert when.utcoffset() is not None and re.search(r"[+-]\d\d:\d\d$", event["ts"])
        assert event["level"] in ("info", "warning", "error")
    started, file_started, rejected, ended, backup_event, delete_event, command_ended = events
    assert started["command"] == "run" and started["config"] == str(config)
    assert file_started == {
        "ts": file_started["ts"],
        "level": "info",
        "event": "file_started",
        "import": "nightly",
        "file": str(night),
    }
    assert rejected["run_id"] == run_id and rejected["line"] == 3 and rejected["level"] == "error"
    assert rejected["messages"] == ["Teacher with login nobody is not found."]
    assert ended["run_id"] == run_id and ended["exit_code"] == 1
    assert ended["counts"] == {
        "rows": 2,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "cancelled": 0,
        "rejected": 1,
        "warnings": 0,
    }
    assert (backup_event["consolidator"], backup_event["ok"]) == ("moveToBackupConsolidator", True)
    assert delete_event["consolidator"] == "deleteProcessedFilesConsolidator"
    assert (command_ended["exit_code"], command_ended["level"]) == (1, "error")


def test_json_log_turns_other_errors_into_events(ws, sessions_config):
    result = ws.run(
        "run",
        "--log-format",
        "json",
        ws.write("bad.xml", "<actions><nope/></actions>"),
        ws.write("s.csv", rows()),
    )
    assert result.exit_code == 4
    events = [json.loads(line) for line in result.stderr.splitlines()]
    assert events[0]["event"] == "command_started"
    assert events[-1]["event"] == "command_ended" and events[-1]["exit_code"] == 4
    messages = [e for e in events if e["event"] == "message"]
    assert messages and all(
        e["level"] == "error" and "bad.xml:1:" in e["message"] for e in messages
    )
