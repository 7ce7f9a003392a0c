"""Snapshot feeds (issue 19.1): with <missingSessions>cancel</missingSessions> the file is the
complete set of the import's sessions within a scope; those that no row matched are cancelled
in the file's transaction, journaled, revertable, and limited by --max-cancel (10% when no
limit is given)."""

from __future__ import annotations

import json

import pytest
from conftest import HEADER, SESSION_CONFIG, rows

SNAPSHOT_OPTIONS = "<missingSessions>cancel</missingSessions>{extra}"


def snapshot_config(ws, extra: str = "", name: str = "feed.xml"):
    options = SNAPSHOT_OPTIONS.format(extra=extra)
    text = SESSION_CONFIG.format(full_access="no").replace(
        "</sessionSearchField>", "</sessionSearchField>" + options
    )
    return ws.write(name, text)


def row(title: str, start: str, training: str = "TP-001", action: str = "M") -> str:
    return f"{action};{training};{title};;;open;{start};;jdupont;;"


# the run's clock is the machine's: a date far ahead is always in the future, one far back
# always in the past
FUTURE, PAST = "2099-03-01", "2001-03-01"


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def titles(ws) -> list[str]:
    return sorted(s["title"] for s in ws.export())


def first_night(ws, config, *lines: str):
    data = ws.write("night1.csv", rows(*lines))
    result = ws.run("run", "--max-cancel", "100%", config, data)
    assert result.exit_code == 0, result.stderr
    return data


def test_sessions_no_row_matched_are_cancelled_journaled_and_counted(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, *(row(f"S{n}", FUTURE) for n in range(1, 6)))
    before = {s["title"]: s for s in seeded.export()}
    data = seeded.write("night2.csv", rows(*(row(f"S{n}", FUTURE) for n in (1, 2, 3, 5))))
    result, report = seeded.import_rows(config, data, "--max-cancel", "1")
    assert result.exit_code == 0, result.stderr
    (entry,) = report["files"]
    assert entry["counts"]["cancelled"] == 1 and entry["counts"]["unchanged"] == 4
    assert entry["missing_cancelled"] == 1
    assert titles(seeded) == ["S1", "S2", "S3", "S5"]
    journal = json.loads(seeded.run("history", "5", "--format", "json").stdout)
    (change,) = journal["journal"] if isinstance(journal, dict) else journal
    assert change["guid"] == before["S4"]["guid"]


def test_scope_future_keeps_past_sessions_and_all_cancels_them(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("Old", PAST), row("New", FUTURE), row("Kept", FUTURE))
    data = seeded.write("night2.csv", rows(row("Kept", FUTURE)))
    result, report = seeded.import_rows(config, data, "--max-cancel", "100%")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["missing_cancelled"] == 1
    assert titles(seeded) == ["Kept", "Old"]

    every = snapshot_config(seeded, "<missingScope>all</missingScope>", name="feed2.xml")
    first_night(seeded, every, row("Old2", PAST), row("New2", FUTURE))
    data = seeded.write("night3.csv", rows(row("New2", FUTURE)))
    result, report = seeded.import_rows(every, data, "--max-cancel", "100%")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["missing_cancelled"] == 1
    # only the sessions of the import that ran (feed2): feed's own are never touched
    assert titles(seeded) == ["Kept", "New2", "Old"]


def test_mentioned_trainings_leave_the_other_trainings_sessions(seeded):
    config = snapshot_config(seeded, "<missingTrainings>mentioned</missingTrainings>")
    first_night(
        seeded,
        config,
        row("A1", FUTURE, "TP-001"),
        row("A2", FUTURE, "TP-001"),
        row("B1", FUTURE, "TP-002"),
    )
    data = seeded.write("night2.csv", rows(row("A1", FUTURE, "TP-001")))
    result, report = seeded.import_rows(config, data, "--max-cancel", "100%")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["missing_cancelled"] == 1
    assert titles(seeded) == ["A1", "B1"]


def test_a_rejected_row_that_found_its_session_keeps_it(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("S1", FUTURE), row("S2", FUTURE))
    data = seeded.write("night2.csv", rows(row("S1", FUTURE), "M;TP-001;S2;;;open;;;nobody;;"))
    result, report = seeded.import_rows(config, data, "--max-cancel", "100%")
    assert result.exit_code == 1
    assert report["files"][0]["missing_cancelled"] == 0
    assert titles(seeded) == ["S1", "S2"]


def test_an_empty_or_failed_file_cancels_nothing(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("S1", FUTURE), row("S2", FUTURE))
    empty = seeded.write("empty.csv", HEADER + "\n")
    result = seeded.run("run", "--max-cancel", "100%", config, empty)
    assert result.exit_code == 0, result.stderr
    broken = seeded.write("broken.csv", "sessionAction;trainingPathCode\nM;TP-001\n")
    assert seeded.run("run", "--max-cancel", "100%", config, broken).exit_code == 3
    rejected = seeded.write("rejected.csv", rows("M;TP-404;S9;;;open;;;jdupont;;"))
    assert seeded.run("run", "--max-cancel", "100%", config, rejected).exit_code == 3
    assert titles(seeded) == ["S1", "S2"]


def test_the_cancels_count_against_max_cancel_and_a_default_of_10_percent(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, *(row(f"S{n:02}", FUTURE) for n in range(1, 21)))
    # 20 sessions: the default 10% allows 2 cancels, not 3
    three_gone = seeded.write("n2.csv", rows(*(row(f"S{n:02}", FUTURE) for n in range(4, 21))))
    result = seeded.run("run", config, three_gone)
    assert result.exit_code == 3
    assert (
        "it would cancel 3 sessions, more than --max-cancel 10% allows (2 of the 20 sessions"
        in result.stderr
    )
    assert len(titles(seeded)) == 20
    assert seeded.run("run", "--max-cancel", "3", config, three_gone).exit_code == 0
    assert len(titles(seeded)) == 17


def test_revert_brings_the_cancelled_sessions_back(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("S1", FUTURE), row("S2", FUTURE))
    before = seeded.export()
    data = seeded.write("night2.csv", rows(row("S1", FUTURE)))
    assert seeded.run("run", "--max-cancel", "100%", config, data).exit_code == 0
    assert titles(seeded) == ["S1"]
    result = seeded.run("revert", "--db", seeded.db, "5")
    assert result.exit_code == 0, result.stderr
    assert seeded.export() == before


def test_a_dry_run_says_what_it_would_cancel_and_changes_nothing(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("S1", FUTURE), row("S2", FUTURE))
    before = seeded.export()
    data = seeded.write("night2.csv", rows(row("S1", FUTURE)))
    result, report = seeded.import_rows(config, data, "--dry-run", "--max-cancel", "100%")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["counts"]["cancelled"] == 1
    assert report["files"][0]["missing_cancelled"] == 1
    assert seeded.export() == before


def test_check_describes_the_snapshot(seeded):
    config = snapshot_config(seeded, "<missingTrainings>mentioned</missingTrainings>")
    result = seeded.run("check", config)
    assert result.exit_code == 0, result.stderr
    assert (
        "a snapshot feed: cancels the sessions import feed created, starting on or after the"
        " run's date, of the trainings the file names, that no row of the file matches"
    ) in result.stdout


def test_a_bad_snapshot_value_is_a_configuration_error(seeded):
    config = snapshot_config(seeded, "<missingScope>past</missingScope>")
    result = seeded.run("check", config)
    assert result.exit_code == 4
    assert '<missingScope> is "past"; write future or all (default future).' in result.stderr


def test_a_row_rejected_before_its_look_up_still_keeps_the_sessions_it_names(seeded):
    config = snapshot_config(seeded)
    first_night(seeded, config, row("S1", FUTURE), row("S2", FUTURE), row("S3", FUTURE))
    data = seeded.write(
        "night2.csv",
        rows(row("S1", FUTURE), row("S2", FUTURE, "TP-404"), row("S3", FUTURE, action="X")),
    )
    result, report = seeded.import_rows(config, data, "--max-cancel", "100%")
    assert result.exit_code == 1
    assert report["files"][0]["counts"]["rejected"] == 2
    assert report["files"][0]["missing_cancelled"] == 0
    assert titles(seeded) == ["S1", "S2", "S3"]
