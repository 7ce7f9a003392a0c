"""The session action end to end, through `session-import run`: every message of SPEC §4, exit codes."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE_CONFIGS, rows


def messages(report: dict) -> dict[int, list[str]]:
    return {r["line"]: r["messages"] for f in report["files"] for r in f["rejected"]}


@pytest.fixture
def seeded(ws):
    ws.seed()
    return ws


def test_creates_updates_and_cancels_in_file_order(seeded, sessions_config):
    data = seeded.write(
        "s.csv",
        rows(
            "M;TP-001;Paris;;;open;2026-12-01;2026-12-02;jdupont;France;",
            "M;TP-001;Berlin;;;closed;2026-12-03;;amartin;;",
            "M;TP-001;Paris;;;closed;;;jdupont;;",  # updates the session row 2 created
            "A;TP-001;Berlin;;;;;;amartin;;",  # cancels the one row 3 created
        ),
    )
    result, report = seeded.import_rows(sessions_config, data)
    assert result.exit_code == 0, result.stderr
    counts = report["files"][0]["counts"]
    assert counts == {
        "rows": 4,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "cancelled": 1,
        "rejected": 0,
        "warnings": 0,
    }
    sessions = seeded.export()
    assert [(s["title"], s["status"], s["start_date"], s["end_date"]) for s in sessions] == [
        ("Paris", "closed", "2026-12-01", "2026-12-02")
    ]
    paris = sessions[0]
    assert paris["teacher_login"] == "jdupont"
    assert paris["group_name"] == "France"
    assert paris["training_path_code"] == "TP-001"
    assert paris["created_by_import"] == "sessions"
    assert paris["guid"] == paris["guid"].upper() and len(paris["guid"]) == 36


def test_second_run_is_unchanged(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Paris;;;open;2026-12-01;;jdupont;;"))
    seeded.import_rows(sessions_config, data)
    result, report = seeded.import_rows(sessions_config, data, "--force")
    assert result.exit_code == 0
    assert report["files"][0]["counts"]["unchanged"] == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("M;TP-001;;;;open;;;jdupont;;", ["Field sessionTitle is empty."]),
        (
            "M;TP-009;T;;;open;;;jdupont;;",
            ["Training with training path code TP-009 is not found."],
        ),
        ("M;;T;;;open;;;jdupont;;", ["Field trainingPathCode is empty."]),
        ("X;TP-001;T;;;open;;;jdupont;;", ["Invalid sessionAction value: X"]),
        ("M;TP-001;T;;;archived;;;jdupont;;", ["Invalid sessionStatus value: archived"]),
        ("M;TP-001;T;;;open;;;nobody;;", ["Teacher with login nobody is not found."]),
        ("M;TP-001;T;;;open;;;jdupont;Atlantis;", ["Group with name Atlantis is not found."]),
        ("M;TP-001;T;;;open;;;jdupont;;NOPE", ["Group with guid NOPE is not found."]),
        ("M;TP-001;T;;;open;2026-02-30;;jdupont;;", ["Start date 2026-02-30 not valid."]),
        ("M;TP-001;T;;;open;;tomorrow;jdupont;;", ["End date tomorrow not valid."]),
        (
            "M;TP-001;T;;;open;2026-12-05;2026-12-01;jdupont;;",
            ["End date 2026-12-01 is before start date 2026-12-05."],
        ),
        (
            "M;TP-001;T;0C6D0F5A-0000-4000-8000-000000000000;;open;;;jdupont;;",
            ["Session with guid 0C6D0F5A-0000-4000-8000-000000000000 is not found."],
        ),
        ("M;TP-001;T;;999;open;;;jdupont;;", ["Session with id 999 is not found."]),
        ("A;TP-001;Nowhere;;;;;;jdupont;;", ["The session to cancel is not found."]),
        ("M;TP-001;T;;;open;;", ["Line has 8 columns, 11 expected."]),
        (
            "X;TP-001;;;;archived;2026-13-01;;nobody;;",
            [
                "Field sessionTitle is empty.",
                "Invalid sessionAction value: X",
                "Invalid sessionStatus value: archived",
                "Start date 2026-13-01 not valid.",
                "Teacher with login nobody is not found.",
            ],
        ),
    ],
)
def test_each_row_message_word_for_word(seeded, sessions_config, line, expected):
    data = seeded.write("s.csv", rows("M;TP-002;Kept;;;open;;;lchen;;", line))
    result, report = seeded.import_rows(sessions_config, data)
    assert result.exit_code == 1, result.stderr
    assert messages(report) == {3: expected}
    assert f"s.csv:3: {expected[0]}" in result.stderr


def test_duplicated_group_name(seeded, sessions_config):
    groups = seeded.write(
        "g.csv", "hierarchyEntityName;hierarchyEntityName\nAmericas;Paris\nEurope;Paris\n"
    )
    assert seeded.run("run", SAMPLE_CONFIGS / "groups.xml", groups).exit_code == 0
    data = seeded.write("s.csv", rows("M;TP-001;T;;;open;;;jdupont;Paris;"))
    result, report = seeded.import_rows(sessions_config, data)
    assert messages(report) == {2: ["Group with name Paris is duplicated."]}
    assert result.exit_code == 3  # every row rejected


def test_duplicated_session_names_every_search_field(seeded):
    config = seeded.write(
        "two.xml",
        """
        <actions><createOrUpdateSessionAction>
          <options><sessionSearchField><sessionTitle/><sessionStartDate/></sessionSearchField>
            <fullAccess>yes</fullAccess></options>
          <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionStartDate/>
            <teacherLogin/></fields>
        </createOrUpdateSessionAction></actions>
        """,
    )
    seed = seeded.write(
        "seed.csv",
        "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;teacherLogin\n"
        "M;TP-001;Intro;2026-12-01;jdupont\nM;TP-002;Intro;2026-12-02;jdupont\n",
    )
    assert seeded.run("run", config, seed).exit_code == 0
    # searched without the training: the same title and day in two trainings
    other = seeded.write(
        "other.xml",
        """
        <actions><createOrUpdateSessionAction>
          <options><sessionSearchField><sessionTitle/></sessionSearchField>
            <fullAccess>yes</fullAccess></options>
          <fields><sessionAction/><sessionTitle/><teacherLogin/></fields>
        </createOrUpdateSessionAction></actions>
        """,
    )
    data = seeded.write(
        "d.csv", "sessionAction;sessionTitle;teacherLogin\nA;Intro;jdupont\nM;New;jdupont\n"
    )
    result, report = seeded.import_rows(other, data)
    assert messages(report) == {
        2: ["Session with sessionTitle Intro is duplicated."],
        3: ["Cannot create a session without valid training course."],
    }
    assert result.exit_code == 3


def test_full_access_no_protects_other_imports_sessions(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;Shared;;;open;;;jdupont;;"))
    seeded.import_rows(sessions_config, data)
    guid = seeded.export()[0]["guid"]
    other = seeded.write("other-import.xml", sessions_config.read_text())
    result, report = seeded.import_rows(
        other, seeded.write("u.csv", rows("M;TP-001;Shared;;;closed;;;jdupont;;"))
    )
    assert messages(report) == {
        2: [
            f"Session {guid} was not created by this import and cannot be modified (fullAccess is no)."
        ]
    }
    assert seeded.export()[0]["status"] == "open"
    full = seeded.write(
        "full.xml", sessions_config.read_text().replace(">no</fullAccess>", ">yes</fullAccess>")
    )
    result, report = seeded.import_rows(
        full, seeded.write("u.csv", rows("M;TP-001;Shared;;;closed;;;jdupont;;"))
    )
    assert result.exit_code == 0
    assert seeded.export()[0]["status"] == "closed"
    assert seeded.export()[0]["updated_by_import"] == "full"


def test_empty_cell_keeps_and_null_resets(seeded, sessions_config):
    seeded.import_rows(
        sessions_config,
        seeded.write("a.csv", rows("M;TP-001;Keep;;;open;2026-12-01;2026-12-02;jdupont;France;")),
    )
    seeded.import_rows(
        sessions_config, seeded.write("b.csv", rows("M;TP-001;Keep;;;;;NULL;jdupont;NULL;"))
    )
    session = seeded.export()[0]
    assert session["start_date"] == "2026-12-01"
    assert session["end_date"] is None
    assert session["group_name"] is None
    assert session["status"] == "open"


def test_update_checks_end_against_the_stored_start(seeded, sessions_config):
    seeded.import_rows(
        sessions_config, seeded.write("a.csv", rows("M;TP-001;S;;;open;2026-12-05;;jdupont;;"))
    )
    result, report = seeded.import_rows(
        sessions_config, seeded.write("b.csv", rows("M;TP-001;S;;;;;2026-12-01;jdupont;;"))
    )
    assert messages(report) == {2: ["End date 2026-12-01 is before start date 2026-12-05."]}


def test_guid_and_id_find_the_session_they_name(seeded):
    config = seeded.write(
        "byguid.xml",
        """
        <actions><createOrUpdateSessionAction>
          <options><sessionSearchField><sessionTitle/><sessionId/><sessionGuid/></sessionSearchField>
            <fullAccess>yes</fullAccess></options>
          <fields><sessionAction/><trainingPathCode/><sessionTitle><mandatory>no</mandatory></sessionTitle>
            <sessionGuid/><sessionID/><sessionStatus/><teacherLogin/></fields>
        </createOrUpdateSessionAction></actions>
        """,
    )
    header = "sessionAction;trainingPathCode;sessionTitle;sessionGuid;sessionId;sessionStatus;teacherLogin\n"
    result = seeded.run(
        "run", config, seeded.write("a.csv", header + "M;TP-001;First;;;open;jdupont\n")
    )
    assert result.exit_code == 0, result.stderr
    assert "field <sessionID> read as <sessionId>." in result.stderr
    session = seeded.export()[0]
    data = seeded.write(
        "b.csv",
        header
        + f"M;TP-001;;{session['guid'].lower()};;closed;jdupont\n"
        + f"M;TP-001;Renamed;;{session['id']};;jdupont\n",
    )
    result, report = seeded.import_rows(config, data)
    assert result.exit_code == 1, result.stderr  # row 3 searches title Renamed and id: no match
    assert messages(report) == {3: [f"Session with id {session['id']} is not found."]}
    assert seeded.export()[0]["status"] == "closed"


def test_dry_run_reports_the_same_and_writes_nothing(seeded, sessions_config):
    data = seeded.write(
        "s.csv", rows("M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;")
    )
    dry, dry_report = seeded.import_rows(sessions_config, data, "--dry-run")
    assert seeded.query("select count(*) from sessions") == [(0,)]
    real, real_report = seeded.import_rows(sessions_config, data)
    assert dry.exit_code == real.exit_code == 1
    assert dry_report["dry_run"] is True and real_report["dry_run"] is False
    assert dry_report["files"] == real_report["files"]
    assert seeded.query("select title from sessions") == [("A",)]


def test_diff_shows_old_and_new_values(seeded, sessions_config):
    seeded.import_rows(
        sessions_config, seeded.write("a.csv", rows("M;TP-001;S;;;open;2026-12-01;;jdupont;;"))
    )
    data = seeded.write("b.csv", rows("M;TP-001;S;;;closed;2026-12-02;;amartin;;"))
    result, report = seeded.import_rows(sessions_config, data, "--diff", "--dry-run")
    guid = seeded.export()[0]["guid"]
    assert report["files"][0]["changes"] == [
        {
            "line": 2,
            "guid": guid,
            "fields": {
                "status": ["open", "closed"],
                "start_date": ["2026-12-01", "2026-12-02"],
                "teacher_login": ["jdupont", "amartin"],
            },
        }
    ]
    assert (
        f"b.csv:2: {guid} (S): status: open -> closed, start_date: 2026-12-01 -> 2026-12-02, "
        "teacher_login: jdupont -> amartin\n"
    ) in result.stdout


def test_report_json_shape(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;A;;;open;;;nobody;;"))
    result, report = seeded.import_rows(sessions_config, data)
    assert report == {
        "dry_run": False,
        "files": [
            {
                "file": str(data),
                "import": "sessions",
                "action": "createOrUpdateSessionAction",
                "counts": {
                    "rows": 1,
                    "created": 0,
                    "updated": 0,
                    "unchanged": 0,
                    "cancelled": 0,
                    "rejected": 1,
                    "warnings": 0,
                },
                "rejected": [
                    {
                        "line": 2,
                        "values": dict(
                            zip(
                                [
                                    "sessionAction",
                                    "trainingPathCode",
                                    "sessionTitle",
                                    "sessionGuid",
                                    "sessionId",
                                    "sessionStatus",
                                    "sessionStartDate",
                                    "sessionEndDate",
                                    "teacherLogin",
                                    "groupName",
                                    "groupGuid",
                                ],
                                ["M", "TP-001", "A", "", "", "open", "", "", "nobody", "", ""],
                                strict=True,
                            )
                        ),
                        "messages": ["Teacher with login nobody is not found."],
                    }
                ],
                "warnings": [],
            }
        ],
        "consolidators": [],
        "exit_code": 3,
    }
    assert result.exit_code == 3


def test_rejects_file_round_trips(seeded, sessions_config):
    data = seeded.write(
        "s.csv",
        rows(
            "M;TP-001;=HYPERLINK(1);;;open;;;nobody;;",
            "M;TP-001;Fine;;;open;;;jdupont;;",
        ),
    )
    rejects = seeded.root / "out" / "rejects.csv"
    result = seeded.run("run", "--rejects", rejects, sessions_config, data)
    assert result.exit_code == 1
    text = rejects.read_text()
    lines = text.splitlines()
    assert lines[0].split(";")[-1] == "errors"
    assert lines[1].startswith("M;TP-001;'=HYPERLINK(1);")
    assert lines[1].endswith(";Teacher with login nobody is not found.")
    fixed = rejects.read_text().replace("nobody", "lchen")
    rejects.write_text(fixed)
    result = seeded.run("run", sessions_config, rejects)
    assert result.exit_code == 0, result.stderr
    assert "=HYPERLINK(1)" in [s["title"] for s in seeded.export()]


def test_empty_file_exits_0(seeded, sessions_config):
    result = seeded.run("run", sessions_config, seeded.write("e.csv", HEADER_ONLY))
    assert result.exit_code == 0


HEADER_ONLY = rows()


def test_missing_mandatory_column_fails_the_file(seeded, sessions_config):
    data = seeded.write("s.csv", "sessionAction;trainingPathCode;teacherLogin\nM;TP-001;jdupont\n")
    result, report = seeded.import_rows(sessions_config, data)
    assert result.exit_code == 3
    assert "Mandatory column sessionTitle is missing from the header." in result.stderr
    assert report["files"][0]["counts"]["rows"] == 0


def test_optional_column_missing_is_a_warning_on_line_1(seeded, sessions_config):
    data = seeded.write(
        "s.csv",
        "sessionAction;trainingPathCode;sessionTitle;teacherLogin\nM;TP-001;T;jdupont\n",
    )
    result, report = seeded.import_rows(sessions_config, data)
    assert result.exit_code == 0
    warnings = report["files"][0]["warnings"]
    assert {
        "line": 1,
        "messages": [
            "Column sessionStatus is missing from the header; the field is left as it is."
        ],
    } in warnings
    assert report["files"][0]["counts"]["warnings"] == len(warnings)


def test_undecodable_file_fails_as_a_whole_and_applies_nothing(seeded, sessions_config):
    good = "\n".join(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(10))
    data = seeded.root / "bad.csv"
    data.write_bytes((rows(good) + "M;TP-001;Caf\xe9;;;open;;;jdupont;;\n").encode("latin-1"))
    result, report = seeded.import_rows(sessions_config, data)
    assert result.exit_code == 3
    assert f"{data}:12:" in result.stderr
    assert seeded.query("select count(*) from sessions") == [(0,)]


def test_worst_exit_code_over_several_files(seeded):
    config = seeded.write(
        "multi.xml",
        """
        <import-config><import id="multi">
          <providers><fileSystemSourceProvider>
            <fileName>in_*.csv</fileName><path>drop</path>
          </fileSystemSourceProvider></providers>
          <actions><createOrUpdateSessionAction>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction></actions>
        </import></import-config>
        """,
    )
    head = "sessionAction;trainingPathCode;sessionTitle;teacherLogin\n"
    seeded.write("drop/in_1.csv", head + "M;TP-001;A;jdupont\n")
    seeded.write("drop/in_2.csv", head + "M;TP-001;B;jdupont\nM;TP-001;C;nobody\n")
    result = seeded.run("run", config)
    assert result.exit_code == 1, result.stderr
    seeded.write("drop/in_3.csv", "sessionAction;teacherLogin\nM;x\n")
    assert seeded.run("run", config).exit_code == 3


def test_glob_matching_nothing_exits_0(ws):
    config = ws.write(
        "none.xml",
        """
        <import-config><import>
          <providers><fileSystemSourceProvider><fileName>nothing_*.csv</fileName></fileSystemSourceProvider></providers>
          <actions><createOrUpdateSessionAction>
            <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
            <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/></fields>
          </createOrUpdateSessionAction></actions>
        </import></import-config>
        """,
    )
    result = ws.run("run", config)
    assert result.exit_code == 0
    assert f"No file matches nothing_*.csv in {ws.root}." in result.stdout


def test_invalid_config_exits_4_and_runs_nothing(ws):
    config = ws.write(
        "bad.xml",
        """
        <actions><createOrUpdateSessionAction>
          <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
          <fields><sessionAction/><sessionTitel/></fields>
        </createOrUpdateSessionAction></actions>
        """,
    )
    result = ws.run("run", config, ws.write("d.csv", "x\n1\n"))
    assert result.exit_code == 4
    assert (
        f"{config}:3: unknown field <sessionTitel> in <fields>; did you mean <sessionTitle>?"
        in result.stderr
    )
    assert not ws.db.exists() or ws.query("select count(*) from sessions") == [(0,)]


def test_usage_errors_exit_2(ws, sessions_config):
    assert ws.run("run").exit_code == 2
    assert ws.run("run", "--no-such-option", sessions_config).exit_code == 2
    assert ws.run("run", sessions_config).exit_code == 2  # no provider and no data file


def test_store_that_cannot_be_opened_exits_5(ws, sessions_config):
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    not_a_db = ws.write("junk.db", "this is not sqlite " * 100)
    result = ws.run("run", "--db", not_a_db, sessions_config, data)
    assert result.exit_code == 5
    assert str(not_a_db) in result.stderr
    result = ws.run("run", "--db", ws.root / "missing" / "dir" / "s.db", sessions_config, data)
    assert result.exit_code == 5


def test_export_csv_and_json_keys(seeded, sessions_config):
    seeded.import_rows(
        sessions_config,
        seeded.write("s.csv", rows("M;TP-001;=1+1;;;open;2026-12-01;;jdupont;France;")),
    )
    sessions = seeded.export("sessions")
    assert list(sessions[0]) == [
        "id",
        "guid",
        "title",
        "status",
        "start_date",
        "end_date",
        "training_path_code",
        "training_id",
        "teacher_login",
        "group_guid",
        "group_name",
        "created_by_import",
        "updated_by_import",
    ]
    assert list(seeded.export("trainings")[0]) == [
        "id",
        "guid",
        "path_code",
        "title",
        "locale",
        "modality",
    ]
    assert list(seeded.export("users")[0]) == [
        "id",
        "login",
        "ref_number",
        "email",
        "name",
        "firstname",
    ]
    groups = seeded.export("groups")
    assert list(groups[0]) == ["id", "guid", "name", "parent_guid"]
    europe = next(g for g in groups if g["name"] == "Europe")
    assert next(g for g in groups if g["name"] == "France")["parent_guid"] == europe["guid"]
    out = seeded.root / "sessions.csv"
    assert seeded.run("export", "sessions", "--format", "csv", "--output", out).exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("id,guid,title,")
    assert ",'=1+1,open," in lines[1]


def test_report_json_is_valid_after_run(seeded, sessions_config):
    data = seeded.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    path = seeded.root / "r.json"
    seeded.run("run", "--report", path, sessions_config, data)
    assert json.loads(path.read_text())["exit_code"] == 0
