"""Reports that say why: a tripped safety limit keeps what the file would have given; the
journal and --diff read as text; a rejects file keeps the input's byte order mark and line
breaks."""

from __future__ import annotations

import json
import re

from conftest import HEADER, rows
from smtp import smtp_server  # noqa: F401 - a real SMTP server on 127.0.0.1
from terminal import run_on_a_terminal

from session_import import consolidators

LIMITED = """
<import-config><import id="sessions">
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid/><sessionId/><sessionStatus/>
      <sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators>
    <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
    <moveToBackupConsolidator><backupFolder>backup</backupFolder></moveToBackupConsolidator>
  </consolidators>
</import></import-config>
"""

LIMIT = (
    "2 of its 3 rows were rejected, more than --max-rejects 1 allows (1); nothing of the file "
    "was applied."
)


def test_a_tripped_max_rejects_shows_the_rows_behind_it_everywhere(ws):
    ws.seed()
    config = ws.write("limited.xml", LIMITED)
    data = ws.write(
        "s.csv",
        rows(
            "M;TP-001;A;;;open;;;jdupont;;",
            "M;TP-001;B;;;open;;;nobody;;",
            "M;TP-009;C;;;open;;;jdupont;;",
        ),
    )
    report, rejects = ws.root / "r.json", ws.root / "rejects.csv"
    result = ws.run(
        "run", "--max-rejects", "1", "--report", report, "--rejects", rejects, config, data
    )
    assert result.exit_code == 3
    assert result.stderr.splitlines() == [
        f"{data}: {LIMIT}",
        f"{data}:3: Teacher with login nobody is not found.",
        f"{data}:4: Training with training path code TP-009 is not found.",
    ]
    assert result.stdout.splitlines()[0] == (
        f"{data} [sessions, createOrUpdateSessionAction]: not applied: 3 rows would have given 1 created,"
        " 0 updated, 0 unchanged, 0 cancelled, 2 rejected, 0 warnings"
    )
    (entry,) = json.loads(report.read_text())["files"]
    assert entry["applied"] is False and entry["error"] == f"{data}: {LIMIT}"
    assert entry["counts"] == {
        "rows": 3,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "cancelled": 0,
        "rejected": 2,
        "warnings": 0,
    }
    assert [(r["line"], r["messages"]) for r in entry["rejected"]] == [
        (3, ["Teacher with login nobody is not found."]),
        (4, ["Training with training path code TP-009 is not found."]),
    ]
    assert rejects.read_text().splitlines() == [
        f"{HEADER};errors",
        "M;TP-001;B;;;open;;;nobody;;;Teacher with login nobody is not found.",
        "M;TP-009;C;;;open;;;jdupont;;;Training with training path code TP-009 is not found.",
    ]
    (log,) = (ws.root / "logs").iterdir()
    assert log.read_text().splitlines() == [
        f'Line number:1,ERROR,"{data}: {LIMIT}"',  # quoted: the message holds a comma
        "Line number:3,ERROR,M,TP-001,B,,,open,,,nobody,,,Teacher with login nobody is not found.",
        "Line number:4,ERROR,M,TP-009,C,,,open,,,jdupont,,,Training with training path code TP-009 is not found.",
    ]
    assert ws.query("SELECT count(*) FROM sessions") == [(0,)]  # nothing applied
    assert data.exists() and not (ws.root / "backup").exists()  # a failed file is never moved
    code, text = run_on_a_terminal(ws, "--max-rejects", "1", config, data)
    assert code == 3 and "Teacher with login nobody is not found." in text
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)  # without colours
    assert re.search(
        r"│ sessions / createOrUpdateSessionAction +│ +3 │ +1 │ +0 │ +0 │ +0 │ +2 │ +0 │.*\n"
        r"│ +│ not applied +│",
        plain,
    )


def test_a_tripped_max_cancel_keeps_the_counts_it_would_have_given(ws, sessions_config):
    ws.seed()
    ws.run(
        "run",
        sessions_config,
        ws.write("a.csv", rows(*(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(4)))),
    )
    data = ws.write("c.csv", rows("A;TP-001;S0;;;;;;jdupont;;", "A;TP-001;S1;;;;;;jdupont;;"))
    result, report = ws.import_rows(sessions_config, data, "--max-cancel", "1")
    assert result.exit_code == 3
    (entry,) = report["files"]
    assert entry["applied"] is False
    assert entry["counts"]["cancelled"] == 2 and entry["counts"]["rows"] == 2
    assert "it would cancel 2 sessions, more than --max-cancel 1 allows" in entry["error"]
    assert ws.query("SELECT count(*) FROM sessions") == [(4,)]


def test_a_file_that_cannot_be_read_keeps_no_counts(ws, sessions_config):
    ws.seed()
    data = ws.root / "s.csv"
    data.write_bytes(
        rows("M;TP-001;A;;;open;;;nobody;;").encode() + b"M;TP-001;\xff;;;open;;;jdupont;;\n"
    )
    result, report = ws.import_rows(sessions_config, data)
    assert result.exit_code == 3
    (entry,) = report["files"]
    assert entry["applied"] is False and "cannot be decoded as utf-8" in entry["error"]
    assert entry["counts"] == dict.fromkeys(entry["counts"], 0) and entry["rejected"] == []
    assert "Teacher with login nobody" not in result.stderr
    assert "not applied" not in result.stdout


def test_history_and_diff_show_values_as_text_and_references_by_their_keys(ws, sessions_config):
    ws.seed()
    ws.run(
        "run",
        sessions_config,
        ws.write("a.csv", rows("M;TP-001;Sécurité;;;open;2026-12-01;;jdupont;;")),
    )
    created = ws.query("SELECT max(id) FROM runs")[0][0]
    guid = ws.export()[0]["guid"]
    plain = ws.run("history", "--db", ws.db, str(created))
    assert plain.stdout == (
        f"line 2: session {guid} (Sécurité) created: title: -> Sécurité; status: -> open; "
        "start_date: -> 2026-12-01; training_path_code: -> TP-001; teacher_login: -> jdupont; "
        "created_by_import: -> sessions; updated_by_import: -> sessions\n"
    )
    data = ws.write("b.csv", rows("M;TP-001;Sécurité;;;closed;;;amartin;France;"))
    result = ws.run("run", "--diff", sessions_config, data)
    assert result.stdout.splitlines()[0] == (
        f"{data}:2: {guid} (Sécurité): status: open -> closed, teacher_login: jdupont -> amartin, "
        "group_name: -> France"
    )
    updated = ws.query("SELECT max(id) FROM runs")[0][0]
    plain = ws.run("history", "--db", ws.db, str(updated))
    assert plain.stdout == (
        f"line 2: session {guid} (Sécurité) updated: status: open -> closed; teacher_login: jdupont -> amartin; "
        "group_name: -> France\n"
    )
    (entry,) = json.loads(ws.run("history", "--db", ws.db, "--format", "json", str(updated)).stdout)
    assert entry["title"] == "Sécurité" and entry["guid"] == guid
    assert entry["fields"] == {
        "status": ["open", "closed"],
        "teacher_login": ["jdupont", "amartin"],
        "group_name": [None, "France"],
    }
    trainings = ws.query("SELECT id FROM runs WHERE import_id = 'trainings'")[0][0]
    assert ws.run("history", "--db", ws.db, str(trainings)).stdout.startswith(
        "line 2: training TP-001 created: "
    )


def rejects_of(ws, config, name: str, content: bytes) -> bytes:
    data = ws.root / name
    data.write_bytes(content)
    target = ws.root / f"{name}.rejects.csv"
    assert ws.run("run", "--rejects", target, config, data).exit_code == 1
    return target.read_bytes()


def test_a_rejects_file_keeps_the_byte_order_mark_and_the_line_breaks(ws, sessions_config):
    ws.seed()
    good, bad = "M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;"
    expected = [f"{HEADER};errors", f"{bad};Teacher with login nobody is not found."]
    with_bom = rejects_of(
        ws,
        sessions_config,
        "bom.csv",
        b"\xef\xbb\xbf" + "\n".join([HEADER, good, bad, ""]).encode(),
    )
    assert with_bom == b"\xef\xbb\xbf" + "\n".join([*expected, ""]).encode()
    windows = rejects_of(
        ws, sessions_config, "crlf.csv", "\r\n".join([HEADER, good, bad, ""]).encode()
    )
    assert windows == "\r\n".join([*expected, ""]).encode()
    old_mac = rejects_of(ws, sessions_config, "cr.csv", "\r".join([HEADER, good, bad, ""]).encode())
    assert old_mac == "\r".join([*expected, ""]).encode()


MAILED = LIMITED.replace(
    "<moveToBackupConsolidator><backupFolder>backup</backupFolder></moveToBackupConsolidator>",
    "<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>",
)


def test_the_e_mail_of_many_rejected_rows_lists_some_and_attaches_all(ws, smtp_server, monkeypatch):  # noqa: F811
    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    ws.seed()
    config = ws.write("mailed.xml", MAILED)
    data = ws.write("s.csv", rows(*(f"M;TP-001;S{i};;;open;;;nobody;;" for i in range(130))))
    assert ws.run("run", config, data).exit_code == 3
    (message,) = server.inbox.messages
    text = message.get_body(("plain",)).get_content()
    assert "  line 101: Teacher with login nobody is not found." in text
    assert "  line 102: " not in text
    assert "  and 30 more rows: see the attached s.rejects.csv." in text
    (attachment,) = message.iter_attachments()
    assert len(attachment.get_content().splitlines()) == 131
    monkeypatch.setattr(consolidators, "MAX_ATTACHMENT", 2_000)  # the limit, made small
    assert ws.run("run", config, data).exit_code == 3
    message = server.inbox.messages[-1]
    text = message.get_body(("plain",)).get_content()
    assert "and 30 more rows: see the error log or the --rejects file." in text
    assert (
        "The rejects file is larger than 2,000 characters and is not attached: write it with"
        " --rejects, or read the error log."
    ) in text
    assert list(message.iter_attachments()) == []


def test_the_e_mail_of_a_tripped_limit_shows_the_rows(ws, smtp_server, monkeypatch):  # noqa: F811
    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    ws.seed()
    config = ws.write("mailed.xml", MAILED)
    data = ws.write(
        "s.csv",
        rows(
            "M;TP-001;A;;;open;;;jdupont;;",
            "M;TP-001;B;;;open;;;nobody;;",
            "M;TP-009;C;;;open;;;jdupont;;",
        ),
    )
    assert ws.run("run", "--max-rejects", "1", config, data).exit_code == 3
    (message,) = server.inbox.messages
    assert (
        message["Subject"] == "session-import: sessions s.csv: failed as a whole, nothing applied"
    )
    text = message.get_body(("plain",)).get_content()
    assert LIMIT in text and "  line 3: Teacher with login nobody is not found." in text
    (attachment,) = message.iter_attachments()
    assert attachment.get_content().splitlines()[1:] == [
        "M;TP-001;B;;;open;;;nobody;;;Teacher with login nobody is not found.",
        "M;TP-009;C;;;open;;;jdupont;;;Training with training path code TP-009 is not found.",
    ]
