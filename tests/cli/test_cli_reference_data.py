"""Trainings, learners and entities through `session-import run`, and the README's sample."""

from __future__ import annotations

import json

from conftest import ROOT, SAMPLE_CONFIGS, rows


def messages(report: dict) -> dict[int, list[str]]:
    return {r["line"]: r["messages"] for f in report["files"] for r in f["rejected"]}


TRAININGS_HEAD = "trainingAction;trainingPathCode;trainingTitle;trainingLocale;trainingModality;trainingDescription\n"


def test_training_action(ws):
    config = SAMPLE_CONFIGS / "trainings.xml"
    data = ws.write(
        "t.csv",
        TRAININGS_HEAD
        + "\n".join(
            [
                "M;TP-1;One;en-GB;Blended;First",
                "M;TP-2;Two;;e-learning;",
                "M;TP-3;;;blended;",
                "M;TP-1;One again;;blended;",
                "M;TP-1;One;;distancelearning;",
                "A;TP-9;Nine;;blended;",
                "X;TP-4;Four;;blended;",
            ]
        )
        + "\n",
    )
    result, report = ws.import_rows(config, data)
    assert result.exit_code == 1
    assert messages(report) == {
        3: [
            "The modality must be distancelearning, knowledgecommunity, learning_channel or blended, "
            "e-learning detected."
        ],
        4: ["Field trainingTitle is empty."],
        6: ["You can't change the training's modality."],
        7: ["The training to cancel is not found."],
        8: ["Invalid trainingAction value: X"],
    }
    counts = report["files"][0]["counts"]
    assert (counts["created"], counts["updated"], counts["rejected"]) == (1, 1, 5)
    (training,) = ws.export("trainings")
    assert {k: training[k] for k in ("path_code", "title", "locale", "modality")} == {
        "path_code": "TP-1",
        "title": "One again",
        "locale": "en-GB",
        "modality": "blended",
    }


def test_training_with_sessions_cannot_be_deleted(ws, sessions_config):
    ws.seed()
    ws.run("run", sessions_config, ws.write("s.csv", rows("M;TP-001;S;;;open;;;jdupont;;")))
    result, report = ws.import_rows(
        SAMPLE_CONFIGS / "trainings.xml",
        ws.write(
            "t.csv",
            TRAININGS_HEAD + "A;TP-001;Safety;;blended;\nA;TP-003;GDPR;;learning_channel;\n",
        ),
    )
    assert messages(report) == {
        2: ["Training TP-001 still has 1 sessions and cannot be deleted; cancel them first."]
    }
    assert [t["path_code"] for t in ws.export("trainings")] == ["TP-001", "TP-002"]


def test_learner_action_updates_the_oldest_match_and_keeps_logins_unique(ws):
    config = ws.write(
        "people.xml",
        """
        <actions><createOrUpdateLearnerAction>
          <options><traineeSearchField><candidateEmail/></traineeSearchField><fullAccess>yes</fullAccess></options>
          <fields><candidateLogin/><candidateEmail/><candidateName/></fields>
        </createOrUpdateLearnerAction></actions>
        """,
    )
    head = "candidateLogin;candidateEmail;candidateName\n"
    result = ws.run(
        "run", config, ws.write("a.csv", head + "ann;ann@x.org;Ann\nbob;bob@x.org;Bob\n;;Nobody\n")
    )
    assert result.exit_code == 1
    assert "No search field was provided to find the candidate." in result.stderr
    result, report = ws.import_rows(
        config, ws.write("b.csv", head + "annie;ann@x.org;Ann B\nbob;ann@x.org;Ann\n")
    )
    assert messages(report) == {3: ["Login bob is already used by another user."]}
    users = ws.export("users")
    assert [(u["login"], u["email"], u["name"]) for u in users] == [
        ("annie", "ann@x.org", "Ann B"),
        ("bob", "bob@x.org", "Bob"),
    ]


def test_learner_full_access_no(ws):
    own = ws.write(
        "own.xml",
        """
        <actions><createOrUpdateLearnerAction>
          <options><traineeSearchField><candidateLogin/></traineeSearchField></options>
          <fields><candidateLogin/><candidateName/></fields>
        </createOrUpdateLearnerAction></actions>
        """,
    )
    ws.seed()  # jdupont was created by the "teachers" import
    result, report = ws.import_rows(
        own, ws.write("a.csv", "candidateLogin;candidateName\njdupont;Renamed\n")
    )
    assert messages(report) == {
        2: [
            "User jdupont was not created by this import and cannot be modified (fullAccess is no)."
        ]
    }


def test_entity_action_builds_the_hierarchy_of_crossknowledges_example(ws):
    config = ws.write(
        "entities.xml",
        """
        <import-config><import id="entities">
          <providers><fileSystemSourceProvider>
            <fileName>entities.csv</fileName><skipFirstLine>no</skipFirstLine><delimiter>comma</delimiter>
          </fileSystemSourceProvider></providers>
          <actions><createOrUpdateEntityAction>
            <fields><hierarchyEntityName/><hierarchyEntityName/></fields>
          </createOrUpdateEntityAction></actions>
        </import></import-config>
        """,
    )
    (ws.root / "entities.csv").write_text(
        (ROOT / "tests/fixtures/ck-examples/createorupdate-entity-action-1.data.csv").read_text()
    )
    result, report = ws.import_rows(config, ws.root / "entities.csv")
    assert result.exit_code == 0, result.stderr
    groups = {g["name"]: g for g in ws.export("groups")}
    assert set(groups) == {"A", "B", "C"}  # A, then B and C under A
    assert groups["A"]["parent_guid"] is None
    assert groups["B"]["parent_guid"] == groups["C"]["parent_guid"] == groups["A"]["guid"]
    assert report["files"][0]["counts"]["created"] == 2
    data = ws.write("more.csv", "A,\n,B\nD,E\n")
    result, report = ws.import_rows(config, data)
    assert messages(report) == {2: ["Field hierarchyEntityName is empty."]}
    assert report["files"][0]["counts"]["unchanged"] == 1  # A alone exists already
    three = ws.write(
        "three.xml",
        config.read_text().replace(
            "<hierarchyEntityName/><hierarchyEntityName/>",
            "<hierarchyEntityName/><hierarchyEntityName/><hierarchyEntityName/>",
        ),
    )
    result, report = ws.import_rows(three, ws.write("gap.csv", "A,,C\n"))
    assert messages(report) == {1: ["Entity level 2 is empty but a deeper level is filled."]}


def test_the_readme_sample_runs_as_documented(ws):
    codes = {}
    for step in ("trainings", "teachers", "groups", "sessions"):
        report = ws.root / f"{step}.json"
        result = ws.run(
            "run",
            "--report",
            report,
            SAMPLE_CONFIGS / f"{step}.xml",
            ROOT / "sample_data" / f"{step}.csv",
        )
        codes[step] = result.exit_code
    assert codes == {"trainings": 0, "teachers": 0, "groups": 0, "sessions": 1}
    sessions = json.loads((ws.root / "sessions.json").read_text())["files"][0]
    assert sessions["counts"] == {
        "rows": 10,
        "created": 4,
        "updated": 1,
        "unchanged": 0,
        "cancelled": 0,
        "rejected": 5,
        "warnings": 0,
    }
    assert sorted(messages({"files": [sessions]})) == [7, 8, 9, 10, 11]
    again = ws.run("run", SAMPLE_CONFIGS / "sessions.xml", ROOT / "sample_data" / "sessions.csv")
    assert again.exit_code == 0 and "skipped (use --force to import it again)." in again.stdout
    assert ws.run("check", SAMPLE_CONFIGS / "sessions.xml").exit_code == 0
