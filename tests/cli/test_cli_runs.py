"""Runs you can trust: history, revert, already-imported files, safety limits, --diff, warnings."""

from __future__ import annotations

import json

import pytest
from conftest import rows


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def history(ws, *args):
    result = ws.run("history", "--db", ws.db, "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_every_run_is_recorded_with_its_journal(seeded, sessions_config):
    data = seeded.write(
        "s.csv",
        rows(
            "M;TP-001;Paris;;;open;2026-12-01;;jdupont;;",
            "M;TP-001;Paris;;;closed;;;jdupont;;",
            "M;TP-001;Bad;;;open;;;nobody;;",
        ),
    )
    assert seeded.run("run", sessions_config, data).exit_code == 1
    runs = history(seeded)
    latest = runs[0]
    assert latest["import_id"] == "sessions"
    assert latest["file"] == str(data)
    assert len(latest["sha256"]) == 64
    assert latest["dry_run"] is False and latest["exit_code"] == 1
    assert latest["counts"]["created"] == 1 and latest["counts"]["rejected"] == 1
    assert latest["started_at"] <= latest["ended_at"]
    journal = history(seeded, str(latest["id"]))
    assert [(e["line"], e["done"]) for e in journal] == [(2, "created"), (3, "updated")]
    assert journal[1]["fields"] == {"status": ["open", "closed"]}
    assert journal[0]["guid"] == seeded.export()[0]["guid"]
    plain = seeded.run("history", "--db", seeded.db, str(latest["id"]))
    assert (
        f"line 3: session {journal[1]['guid']} (Paris) updated: status: open -> closed\n"
        in plain.stdout
    )


def test_dry_run_is_recorded_without_changes(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;jdupont;;"))
    seeded.run("run", "--dry-run", sessions_config, data)
    latest = history(seeded)[0]
    assert latest["dry_run"] is True
    assert history(seeded, str(latest["id"])) == []


def test_same_file_is_skipped_unless_forced(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;jdupont;;"))
    seeded.run("run", sessions_config, data)
    first = history(seeded)[0]["id"]
    again = seeded.run("run", sessions_config, data)
    assert again.exit_code == 0
    assert f"File {data} was already imported by run {first} on " in again.stdout
    assert "skipped (use --force to import it again)." in again.stdout
    forced = seeded.run("run", "--force", "--report", seeded.root / "r.json", sessions_config, data)
    assert forced.exit_code == 0
    assert json.loads((seeded.root / "r.json").read_text())["files"][0]["counts"]["unchanged"] == 1


def test_a_file_that_failed_is_not_skipped_next_time(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;nobody;;"))
    assert seeded.run("run", sessions_config, data).exit_code == 3
    assert seeded.run("run", sessions_config, data).exit_code == 3  # tried again, not skipped


def test_revert_undoes_creates_updates_and_cancels(seeded, sessions_config):
    seeded.run(
        "run",
        sessions_config,
        seeded.write(
            "a.csv",
            rows(
                "M;TP-001;Keep;;;open;2026-12-01;;jdupont;;",
                "M;TP-001;Gone;;;open;;;jdupont;;",
            ),
        ),
    )
    before = seeded.export()
    seeded.run(
        "run",
        sessions_config,
        seeded.write(
            "b.csv",
            rows(
                "M;TP-001;Keep;;;closed;2026-12-02;;amartin;;",
                "A;TP-001;Gone;;;;;;jdupont;;",
                "M;TP-001;New;;;open;;;jdupont;;",
            ),
        ),
    )
    run_b = history(seeded)[0]["id"]
    dry = seeded.run("revert", "--db", seeded.db, "--dry-run", str(run_b))
    assert dry.exit_code == 0, dry.stderr
    assert "1 deleted, 1 restored, 1 recreated" in dry.stdout
    assert len(seeded.export()) == 2 and {s["title"] for s in seeded.export()} == {"Keep", "New"}
    result = seeded.run("revert", "--db", seeded.db, str(run_b))
    assert result.exit_code == 0, result.stderr
    assert seeded.export() == before  # same GUIDs and ids back
    latest = history(seeded)[0]
    assert latest["reverts_run"] == run_b
    again = seeded.run("revert", "--db", seeded.db, str(run_b))
    assert again.exit_code == 1
    assert f"was changed since by run {latest['id']}" in again.stderr


def test_revert_refuses_when_a_later_run_changed_a_session(seeded, sessions_config):
    seeded.run("run", sessions_config, seeded.write("a.csv", rows("M;TP-001;S;;;open;;;jdupont;;")))
    first = history(seeded)[0]["id"]
    seeded.run(
        "run", sessions_config, seeded.write("b.csv", rows("M;TP-001;S;;;closed;;;jdupont;;"))
    )
    second = history(seeded)[0]["id"]
    guid = seeded.export()[0]["guid"]
    result = seeded.run("revert", "--db", seeded.db, str(first))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Run {first} cannot be reverted: session {guid} was changed since by run {second}; "
        f"revert run {second} first."
    )
    assert seeded.export()[0]["status"] == "closed"


def test_max_rejects_applies_nothing(seeded, sessions_config):
    data = seeded.write(
        "s.csv",
        rows(
            "M;TP-001;A;;;open;;;jdupont;;",
            "M;TP-001;B;;;open;;;nobody;;",
            "M;TP-001;C;;;open;;;nobody;;",
        ),
    )
    result = seeded.run("run", "--max-rejects", "1", sessions_config, data)
    assert result.exit_code == 3
    assert "2 of its 3 rows were rejected, more than --max-rejects 1 allows (1)" in result.stderr
    assert seeded.query("select count(*) from sessions") == [(0,)]
    assert seeded.run("run", "--max-rejects", "70%", sessions_config, data).exit_code == 1
    assert seeded.run("run", "--max-rejects", "lots", sessions_config, data).exit_code == 2


def test_max_cancel_from_the_config_safety_element(seeded):
    config = seeded.write(
        "safe.xml",
        """
        <import-config><import id="safe">
          <actions><createOrUpdateSessionAction>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction></actions>
          <safety><maxCancel>25%</maxCancel></safety>
        </import></import-config>
        """,
    )
    head = "sessionAction;trainingPathCode;sessionTitle;teacherLogin\n"
    seeded.run(
        "run",
        config,
        seeded.write("a.csv", head + "".join(f"M;TP-001;S{i};jdupont\n" for i in range(8))),
    )
    cancel = seeded.write(
        "c.csv", head + "A;TP-001;S1;jdupont\nA;TP-001;S2;jdupont\nA;TP-001;S3;jdupont\n"
    )
    result = seeded.run("run", config, cancel)
    assert result.exit_code == 3
    assert (
        "it would cancel 3 sessions, more than --max-cancel 25% allows (2 of the 8 sessions "
        "this import may modify); nothing of the file was applied."
    ) in result.stderr
    assert seeded.query("select count(*) from sessions") == [(8,)]
    assert seeded.run("run", "--max-cancel", "3", config, cancel).exit_code == 0
    assert seeded.query("select count(*) from sessions") == [(5,)]


def test_teacher_double_booking_is_a_warning(seeded):
    config = seeded.write(
        "times.xml",
        """
        <import-config><import id="times">
          <providers><fileSystemSourceProvider>
            <fileName>x.csv</fileName><dateFormat>YYYY-MM-DD HH:II</dateFormat>
            <timezone>Europe/Paris</timezone>
          </fileSystemSourceProvider></providers>
          <actions><createOrUpdateSessionAction>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionStartDate/>
              <sessionEndDate/><teacherLogin/></fields>
          </createOrUpdateSessionAction></actions>
        </import></import-config>
        """,
    )
    head = (
        "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;sessionEndDate;teacherLogin\n"
    )
    seeded.run(
        "run",
        config,
        seeded.write(
            "a.csv", head + "M;TP-001;Morning;2026-12-01 09:00;2026-12-01 12:00;jdupont\n"
        ),
    )
    morning = seeded.export()[0]["guid"]
    data = seeded.write(
        "b.csv",
        head
        + "M;TP-001;Overlap;2026-12-01 11:00;2026-12-01 13:00;jdupont\n"
        + "M;TP-001;After;2026-12-01 13:00;2026-12-01 14:00;amartin\n"
        + "M;TP-001;Gap;2026-03-29 02:30;2026-03-29 04:00;amartin\n"
        + "M;TP-001;Twice;2026-10-25 02:30;2026-10-25 04:00;lchen\n",
    )
    result, report = seeded.import_rows(config, data)
    assert result.exit_code == 1
    f = report["files"][0]
    assert f["warnings"] == [
        {
            "line": 2,
            "messages": [
                f"Teacher jdupont is already booked on session Morning ({morning}) at that time."
            ],
        },
        {
            "line": 5,
            "messages": [
                "Start date 2026-10-25 02:30 is ambiguous in timezone Europe/Paris; the earlier time was used."
            ],
        },
    ]
    assert f["rejected"][0]["messages"] == [
        "Start date 2026-03-29 02:30 does not exist in timezone Europe/Paris."
    ]
    assert f["counts"]["created"] == 3 and f["counts"]["warnings"] == 2


def test_output_that_cannot_be_written(seeded, sessions_config):
    data = seeded.write(
        "s.csv", rows("M;TP-001;A;;;open;;;nobody;;", "M;TP-001;B;;;open;;;jdupont;;")
    )
    result = seeded.run("run", "--report", "/dev/full", sessions_config, data)
    assert result.exit_code == 5  # a full disk is the machine's problem, as a failing store is
    assert "Could not write /dev/full: No space left on device. Free some space" in result.stderr
    not_a_folder = seeded.write("plain-file", "x")
    target = not_a_folder / "rejects.csv"
    result = seeded.run("run", "--force", "--rejects", target, sessions_config, data)
    assert result.exit_code == 3
    assert f"Could not write {target}" in result.stderr
    report = seeded.root / "kept.json"
    report.write_text("previous report")
    result = seeded.run(
        "run", "--force", "--report", report, "--rejects", target, sessions_config, data
    )
    assert json.loads(report.read_text())["exit_code"] == 1  # the report was written whole
