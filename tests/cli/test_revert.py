"""Reverts that refuse cleanly (issue 14.5): a training, teacher or group that sessions
still use is never deleted from under them, and the refusal names those sessions; a dry
run says what it would do; a reverted run's file is no longer "already imported".

Before: reverting the trainings run of the sample exited 5 with `The store failed:
FOREIGN KEY constraint failed; ...`.
"""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, SAMPLE_CONFIGS, rows

from session_import import history as history_module

TRAININGS, TEACHERS, GROUPS = 1, 2, 3  # the seeding runs


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def history(ws):
    return json.loads(ws.run("history", "--format", "json").stdout)


def sessions(ws) -> list[dict]:
    return ws.export()


def revert_run(ws, *args):
    return ws.run("revert", "--db", ws.db, *map(str, args))


def nothing_changed(ws, before_runs: int, before_sessions: list[dict]) -> None:
    assert ws.query("SELECT count(*) FROM runs WHERE dry_run = 0") == [(before_runs,)]
    assert sessions(ws) == before_sessions
    assert ws.query("SELECT count(*) FROM trainings") == [(3,)]
    assert ws.query("SELECT count(*) FROM users") == [(3,)]
    assert ws.query("SELECT count(*) FROM groups") == [(5,)]


def test_a_trainings_run_whose_trainings_sessions_use_is_refused_naming_them(
    seeded, sessions_config
):
    data = seeded.write(
        "s.csv",
        rows(
            *(f"M;TP-001;Safety {n};;;open;;;jdupont;;" for n in range(1, 8)),
            "M;TP-002;Leaders;;;open;;;amartin;;",
        ),
    )
    assert seeded.run("run", sessions_config, data).exit_code == 0
    made = sessions(seeded)
    named = ", ".join(f"session {s['title']} ({s['guid']})" for s in made[:5])
    expected = (
        f"Run 1 cannot be reverted: training TP-001 is still used by {named} and 2 more;"
        " change or cancel them first.\n"
        f"Run 1 cannot be reverted: training TP-002 is still used by session Leaders"
        f" ({made[7]['guid']}); change or cancel them first.\n"
    )
    for dry in ([], ["--dry-run"]):
        result = revert_run(seeded, *dry, TRAININGS)
        assert (result.exit_code, result.stderr, result.stdout) == (1, expected, "")
        nothing_changed(seeded, 4, made)


def test_a_teachers_or_groups_run_that_sessions_use_is_refused(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;jdupont;France;"))
    assert seeded.run("run", sessions_config, data).exit_code == 0
    (paris,) = sessions(seeded)
    result = revert_run(seeded, TEACHERS)
    assert result.exit_code == 1
    assert result.stderr == (
        "Run 2 cannot be reverted: teacher jdupont is still used by session Paris"
        f" ({paris['guid']}); change or cancel them first.\n"
    )
    result = revert_run(seeded, GROUPS)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Run 3 cannot be reverted: group France ({paris['group_guid']}) is still used by session"
        f" Paris ({paris['guid']}); change or cancel them first.\n"
    )
    nothing_changed(seeded, 4, [paris])


def test_a_group_with_a_child_group_created_later_is_not_deleted(seeded):
    spain = seeded.write("spain.csv", "hierarchyEntityName;hierarchyEntityName\nEurope;Spain\n")
    assert seeded.run("run", SAMPLE_CONFIGS / "groups.xml", spain).exit_code == 0
    groups = {g["name"]: g for g in seeded.export("groups")}
    result = revert_run(seeded, GROUPS)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Run 3 cannot be reverted: group Europe ({groups['Europe']['guid']}) is still used by"
        f" group Spain ({groups['Spain']['guid']}); change or cancel them first.\n"
    )
    assert seeded.query("SELECT count(*) FROM groups") == [(6,)]


def test_a_session_that_would_come_back_without_its_training_is_refused(seeded, sessions_config):
    assert (
        seeded.run(
            "run",
            sessions_config,
            seeded.write("a.csv", rows("M;TP-003;GDPR Toronto;;;open;;;lchen;;")),
        ).exit_code
        == 0
    )
    (gdpr,) = sessions(seeded)
    assert (
        seeded.run(
            "run",
            sessions_config,
            seeded.write("b.csv", rows("A;TP-003;GDPR Toronto;;;;;;lchen;;")),
        ).exit_code
        == 0
    )
    cancel_run = history(seeded)[0]["id"]
    gone = seeded.write(
        "gone.csv",
        "trainingAction;trainingPathCode;trainingTitle;trainingLocale;"
        "trainingModality;trainingDescription\nA;TP-003;GDPR for managers;en-GB;"
        "learning_channel;\n",
    )
    assert seeded.run("run", SAMPLE_CONFIGS / "trainings.xml", gone).exit_code == 0
    result = revert_run(seeded, cancel_run)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Run {cancel_run} cannot be reverted: session GDPR Toronto ({gdpr['guid']}) would come"
        " back with training TP-003, which no longer exists; revert the run that deleted it"
        " first.\n"
    )
    assert sessions(seeded) == []


def test_past_a_count_the_records_still_used_are_summed_up(seeded, sessions_config, monkeypatch):
    monkeypatch.setattr(history_module, "RECORDS_NAMED", 1)
    data = seeded.write("s.csv", rows(*(f"M;TP-00{n};S{n};;;open;;;jdupont;;" for n in (1, 2, 3))))
    assert seeded.run("run", sessions_config, data).exit_code == 0
    lines = revert_run(seeded, TRAININGS).stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("Run 1 cannot be reverted: training TP-001 ")
    assert lines[1] == "Run 1 cannot be reverted: 2 more records are still used."


def test_a_dry_run_revert_says_what_it_would_do(seeded, sessions_config):
    assert (
        seeded.run(
            "run", sessions_config, seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;jdupont;;"))
        ).exit_code
        == 0
    )
    made = sessions(seeded)
    result = revert_run(seeded, "--dry-run", 4)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "[dry run] Run 4 would be reverted: 1 deleted, 0 restored,"
        " 0 recreated; nothing was changed.\n"
    )
    assert sessions(seeded) == made
    assert history(seeded)[0]["dry_run"] is True
    done = revert_run(seeded, 4)
    assert done.stdout == "Run 4 reverted by run 6: 1 deleted, 0 restored, 0 recreated.\n"
    assert sessions(seeded) == []


def test_a_file_whose_run_was_reverted_imports_again(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;;;jdupont;;"))
    assert seeded.run("run", sessions_config, data).exit_code == 0  # run 4
    assert revert_run(seeded, 4).exit_code == 0  # run 5
    again, report = seeded.import_rows(sessions_config, data)  # run 6: not "already imported"
    assert again.exit_code == 0 and "already imported" not in again.stdout
    assert report["files"][0]["counts"]["created"] == 1
    skipped = seeded.run("run", sessions_config, data)  # run 7: the skip, on record
    assert skipped.stdout.startswith(f"File {data} was already imported by run 6 on ")
    refused = revert_run(seeded, 7)
    assert (refused.exit_code, refused.stderr) == (
        1,
        "Run 7 applied nothing (a file skipped as already imported): there is nothing to revert.\n",
    )
    # a revert undone by another revert: the file's run is applied again
    assert revert_run(seeded, 6).exit_code == 0  # run 8
    assert revert_run(seeded, 8).exit_code == 0  # run 9 puts run 6's session back
    back = seeded.run("run", sessions_config, data)
    assert back.stdout.startswith(f"File {data} was already imported by run 6 on ")
    assert [s["title"] for s in sessions(seeded)] == ["Paris"]


def test_the_sample_reference_runs_refuse_to_go_while_the_sample_sessions_use_them(ws):
    for step in ("trainings", "teachers", "groups", "sessions"):
        ws.run("run", SAMPLE_CONFIGS / f"{step}.xml", ROOT / "sample_data" / f"{step}.csv")
    for run_id in (TRAININGS, TEACHERS, GROUPS):
        result = revert_run(ws, run_id)
        assert result.exit_code == 1, result.stderr
        assert "FOREIGN KEY" not in result.stderr
        assert all(
            line.startswith(f"Run {run_id} cannot be reverted: ")
            for line in result.stderr.splitlines()
        )
