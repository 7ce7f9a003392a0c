"""The HTML pages as files: what they show, what they escape, that they ask no server for
anything, the <htmlReport> consolidator and the e-mail that carries the page."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import HEADER, SESSION_CONFIG, rows
from test_consolidators import CONFIG, serve_through_environment, smtp_server  # noqa: F401
from test_publish_perculus import (  # noqa: F401 - fixtures: a Perculus emulator on 127.0.0.1
    credentials,
    data,
    perculus_emulator,
    session_row,
    setup,
)

from session_import.messages import Msg
from session_import.pages import history_page, run_page, startdates
from session_import.pages.reasons import Reasons
from session_import.pages.run_view import SAMPLES_PER_REASON, TABLE_ROWS
from session_import.pages.startdates import StartDates
from session_import.report import FileReport, RejectedRow, Report

HOSTILE_TITLE = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "</script><script>alert(2)</script>"


def hostile_run(ws, *extra: str) -> tuple[Path, dict, str]:
    """A sessions file whose titles try to run script, three unknown teachers among its rows;
    its page, JSON report and stdout."""
    ws.seed()
    config = ws.write("sessions.xml", SESSION_CONFIG.format(full_access="no"))
    data = ws.write(
        "<b>night</b>.csv",
        rows(
            f"M;TP-001;{HOSTILE_TITLE};;;open;2026-12-01;2026-12-01;jdupont;;",
            f"M;TP-001;{HOSTILE_SCRIPT};;;open;2026-12-02;2026-12-02;jdupont;;",
            f"M;TP-001;A {HOSTILE_TITLE};;;open;2026-12-03;;nobody;;",
            f"M;TP-001;B {HOSTILE_SCRIPT};;;open;2026-12-03;;<i>ghost</i>;;",
            "M;TP-001;C;;;open;2026-12-04;;nobody2;;",
            "M;TP-009;D;;;open;01/12/2026;;jdupont;;",
        ),
    )
    page, report = ws.root / "out" / "run.html", ws.root / "r.json"
    result = ws.run("run", "--html", page, "--report", report, *extra, config, data)
    assert result.exit_code == 1, result.stderr
    return page, json.loads(report.read_text()), page.read_text()


def test_run_page_shows_the_counts_the_reasons_and_the_rows(ws):
    page, report, text = hostile_run(ws)
    (entry,) = report["files"]
    cards = dict(re.findall(r'data-count="(\w+)">(\d+)<', text))
    assert {name: int(n) for name, n in cards.items()} == entry["counts"]
    assert (
        'data-exit-code="1"' in text
        and "partial: some rows were rejected, the others applied" in text
    )
    assert 'dry run</dt><dd id="dry-run">no</dd>' in text
    # the three unknown teachers are one reason, with their logins
    teacher = re.search(
        r'<li data-reason="(\d+)"><span class="reason-label">Teacher with login … is not'
        r' found\.</span> <span class="times">× <b class="reason-count">3</b>',
        text,
    )
    assert teacher
    for login in ("nobody", "nobody2", "&lt;i&gt;ghost&lt;/i&gt;"):
        assert f'<span class="value">{login}</span>' in text
    assert text.count(f'data-reasons=" {teacher.group(1)} "') == 3
    listed = re.findall(r'<tr data-line="(\d+)"', text)
    assert [int(n) for n in listed] == [r["line"] for r in entry["rejected"]]
    assert "Session rows by start date" in text and "1 not a date" in text


def test_hostile_text_is_escaped_everywhere(ws):
    page, report, text = hostile_run(ws, "--diff")
    assert "<img" not in text
    assert text.count("<script>") == 1 and text.count("</script>") == 1  # the page's own
    assert html.escape(HOSTILE_TITLE, quote=False) in text
    assert "&lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "&lt;b&gt;night&lt;/b&gt;.csv" in text and "<b>night</b>" not in text


def _inline(text: str, tag: str) -> str:
    return re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL).group(1)


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def test_the_page_needs_no_server_and_allows_only_its_own_style_and_script(ws):
    _, _, text = hostile_run(ws)
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', text).group(1)
    assert policy.startswith("default-src 'none';")
    assert f"style-src {_sha(_inline(text, 'style'))};" in policy
    assert f"script-src {_sha(_inline(text, 'script'))};" in policy
    links = re.findall(r'\s(?:src|href|action)="([^"]*)"', text)
    assert links and all(link.startswith(("#", "data:")) for link in links)
    assert "url(" not in text and "@import" not in text
    assert " style=" not in text  # the policy refuses style attributes


def test_a_dry_run_page_says_so(ws):
    ws.seed()
    config = ws.write("sessions.xml", SESSION_CONFIG.format(full_access="no"))
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    page = ws.root / "dry.html"
    assert ws.run("run", "--dry-run", "--html", page, config, data).exit_code == 0
    text = page.read_text()
    assert "yes: nothing was written to the store" in text and "session-import dry run" in text
    assert "every row was applied" in text


def test_the_html_page_is_never_the_store(ws, sessions_config):
    data = ws.write("s.csv", rows())
    result = ws.run("run", "--html", ws.db, sessions_config, data)
    assert result.exit_code == 2 and "--html" in result.stderr


def test_history_page_per_import_and_night_with_each_journal(ws):
    hostile_run(ws)
    page = ws.root / "nights.html"
    result = ws.run("history", "--html", page, "--since", "30d")
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    runs = json.loads(ws.run("history", "--format", "json").stdout)
    session_run = next(r for r in runs if r["import_id"] == "sessions")
    assert f'<a href="#run-{session_run["id"]}">run {session_run["id"]}</a>' in text
    journal = ws.run("history", str(session_run["id"])).stdout.splitlines()
    for line in journal:
        assert f"<li>{html.escape(line, quote=False)}</li>" in text.replace("&#34;", '"').replace(
            "&#39;", "'"
        )
    assert "<img" not in text and text.count("<script>") == 1
    section = text[text.index('data-import="sessions"') :]
    section = section[: section.find("</section>")]
    day = session_run["started_at"][:10]
    night = re.search(
        rf'data-night="{day}" data-rows="(\d+)" data-rejected="(\d+)" data-failures="(\d+)"',
        section,
    )
    assert night and tuple(map(int, night.groups())) == (
        session_run["counts"]["rows"],
        session_run["counts"]["rejected"],
        0,
    )


def test_history_html_takes_no_run(ws):
    result = ws.run("history", "1", "--html", ws.root / "x.html")
    assert result.exit_code == 2


# ---- the page of a large file ----


def large_report(n: int) -> Report:
    report = FileReport("big.csv", "nightly", "createOrUpdateSessionAction")
    report.start_dates = StartDates()
    for line in range(2, n + 2):
        login = f"user{line % 1000}"
        messages = [Msg.TEACHER_NOT_FOUND.format(value=login)]
        if line % 97 == 0:
            messages.append(Msg.START_DATE_INVALID.format(value="31/02/2026"))
            report.start_dates.add(False)
        else:
            report.start_dates.add(f"2026-12-{line % 28 + 1:02d}")
        report.rejected.append(
            RejectedRow(
                line,
                {"teacherLogin": login, "sessionTitle": f"S{line}"},
                messages,
                [login, f"S{line}"],
            )
        )
    report.counts.update(rows=n, rejected=n)
    return Report(files=[report])


def test_a_large_file_is_grouped_capped_and_sampled():
    text = "".join(run_page(large_report(20_000), started=datetime.now(UTC)))
    assert '<b class="reason-count">20000</b>' in text
    invalid = sum(1 for line in range(2, 20_002) if line % 97 == 0)
    assert f'<b class="reason-count">{invalid}</b>' in text
    listed = len(re.findall(r'<tr data-line="', text))
    # the first TABLE_ROWS rows, and a reason seen less than SAMPLES_PER_REASON times among them
    # gets more of its rows past them
    assert TABLE_ROWS <= listed <= TABLE_ROWS + SAMPLES_PER_REASON
    assert f"lists {listed} of the 20000 rejected rows" in text
    assert len(text) < 5_000_000


# ---- pieces ----


@pytest.mark.parametrize("template", list(Msg))
def test_every_message_template_is_its_own_reason(template):
    placeholders = re.findall(r"\{(\w+)\}", template.value)
    text = template.format(**{name: f"<{name}>" for name in placeholders})
    reasons = Reasons()
    reasons.add([text])
    (reason,) = reasons.largest_first()
    assert reason.label == re.sub(r"\{\w+\}", "…", template.value)
    if placeholders:
        assert list(reason.values) == [" · ".join(f"<{name}>" for name in placeholders)]


def test_a_message_of_no_template_is_a_reason_of_its_own():
    reasons = Reasons()
    assert reasons.add(["Something new."]) == [1]
    assert reasons.add(["Something new.", "Teacher with login x is not found."]) == [1, 2]
    assert [(r.label, r.rows) for r in reasons.largest_first()] == [
        ("Something new.", 2),
        ("Teacher with login … is not found.", 1),
    ]


def test_start_dates_become_months_then_years_past_their_cap(monkeypatch):
    monkeypatch.setattr(startdates, "MAX_KEYS", 10)
    dates = StartDates()
    for day in range(1, 29):
        dates.add(f"2026-01-{day:02d}")
    assert dates.unit == "month" and dates.counts == {"2026-01": 28}
    for year in range(2000, 2012):
        dates.add(f"{year}-02-01T09:00:00")
    assert dates.unit == "year" and sum(dates.counts.values()) == 40
    dates.add(False)
    dates.add(None)
    assert (dates.not_a_date, dates.empty, dates.total) == (1, 1, 42)


def test_publishing_is_shown_per_publisher():
    report = FileReport("s.csv", "nightly", "createOrUpdateSessionAction")
    report.publishers = {"perculus": {"published": 3, "rejected": 1, "pending": 2, "skipped": 0}}
    text = "".join(run_page(Report(files=[report])))
    assert (
        '<tr data-publisher="perculus"><td>perculus</td><td data-state="published">3</td>'
        '<td data-state="rejected">1</td><td data-state="pending">2</td>'
    ) in text
    assert 'data-exit-code="6"' in text


def test_history_page_counts_nights_and_failures():
    runs = [
        {
            "id": 3,
            "import_id": "n",
            "file": "c.csv",
            "started_at": "2026-12-02T02:00:00+01:00",
            "ended_at": None,
            "dry_run": False,
            "counts": None,
            "exit_code": None,
            "pending": 0,
        },
        {
            "id": 2,
            "import_id": "n",
            "file": "b.csv",
            "started_at": "2026-12-02T01:00:00+01:00",
            "ended_at": "x",
            "dry_run": False,
            "counts": {"rows": 5, "rejected": 5},
            "exit_code": 3,
        },
        {
            "id": 1,
            "import_id": "n",
            "file": "a.csv",
            "started_at": "2026-12-01T01:00:00+01:00",
            "ended_at": "x",
            "dry_run": False,
            "counts": {"rows": 9, "rejected": 1},
            "exit_code": 1,
        },
        {
            "id": 0,
            "import_id": "n",
            "file": "a.csv",
            "started_at": "2026-12-01T00:30:00+01:00",
            "ended_at": "x",
            "dry_run": True,
            "counts": {"rows": 9, "rejected": 9},
            "exit_code": 3,
        },
    ]
    text = "".join(history_page(runs, lambda run: "o", lambda run_id: iter([f"line {run_id}"])))
    assert 'data-night="2026-12-02" data-rows="5" data-rejected="5" data-failures="2"' in text
    assert 'data-night="2026-12-01" data-rows="9" data-rejected="1" data-failures="0"' in text
    assert '<a href="#import-1-2026-12-01">' in text and 'id="import-1-2026-12-01"' in text
    assert "<li>line 3</li>" in text


# ---- <htmlReport> ----

PAGE_CONSOLIDATORS = """
    <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
    <emailReport><targetEmail>admin@example.org</targetEmail></emailReport>
    <htmlReport/>
"""


def test_html_report_next_to_the_error_log_and_attached_to_the_email(
    ws,
    monkeypatch,
    smtp_server,  # noqa: F811
):
    server = smtp_server()
    serve_through_environment(monkeypatch, server)
    ws.seed()
    ws.write(
        "drop/sessions_1.csv",
        rows(
            "M;TP-001;Paris;;;open;2026-12-01;;jdupont;;",
            f"M;TP-001;{HOSTILE_TITLE};;;open;;;nobody;;",
        ),
    )
    config = ws.write("nightly.xml", CONFIG.format(consolidators=PAGE_CONSOLIDATORS))
    assert "then htmlReport" in ws.run("check", config).stdout
    result = ws.run("run", config)
    assert result.exit_code == 1, result.stderr
    page, log = sorted((ws.root / "logs").iterdir(), key=lambda p: p.suffix)
    assert (log.suffix, page.suffix) == (".log", ".html")
    assert page.name == log.name.removesuffix(".log") + ".html"
    text = page.read_text()
    assert 'data-count="rejected">1<' in text and "<img" not in text
    (message,) = server.inbox.messages
    csv_part, page_part = message.iter_attachments()
    assert page_part.get_filename() == page.name and page_part.get_content_type() == "text/html"
    assert page_part.get_payload(decode=True) == page.read_bytes()
    body = message.get_body(("html",)).get_content()
    assert "Reasons for rejection" not in body  # one rejected row: nothing to group
    assert "<td>3</td><td>Teacher with login nobody is not found.</td>" in body
    assert f"The page of this file's run is attached as {page.name}." in html.unescape(body)
    assert "<script" not in body and "<svg" not in body


def test_html_report_of_a_clean_file_too(ws):
    ws.seed()
    ws.write("drop/sessions_1.csv", rows("M;TP-001;Paris;;;open;2026-12-01;;jdupont;;"))
    config = ws.write(
        "nightly.xml",
        CONFIG.format(consolidators="<htmlReport><location>pages</location></htmlReport>"),
    )
    assert ws.run("run", config).exit_code == 0
    (page,) = (ws.root / "pages").iterdir()
    assert (
        page.name.endswith("_sessions_1.csv.html") and "every row was applied" in page.read_text()
    )


def test_html_report_needs_a_location(ws):
    config = ws.write("nightly.xml", CONFIG.format(consolidators="<htmlReport/>"))
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert "The location parameter is missing." in result.stderr


def test_the_email_groups_the_reasons_of_several_rows(ws, monkeypatch, smtp_server):  # noqa: F811
    server = smtp_server()
    serve_through_environment(monkeypatch, server)
    ws.seed()
    ws.write("drop/sessions_1.csv", rows(*(f"M;TP-001;T{i};;;open;;;ghost{i};;" for i in range(5))))
    config = ws.write(
        "nightly.xml",
        CONFIG.format(
            consolidators="<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>"
        ),
    )
    assert ws.run("run", config).exit_code == 3
    (message,) = server.inbox.messages
    body = message.get_body(("html",)).get_content()
    assert (
        '<span class="reason-label">Teacher with login … is not found.</span> <span class="times">'
        '× <b class="reason-count">5</b> rows</span>'
    ) in body
    assert "Exit code <b>3</b>" in body
    assert len(list(message.iter_attachments())) == 1  # no <htmlReport>: the rejects file only
    assert HEADER.split(";")[0] in list(message.iter_attachments())[0].get_content()


# ---- publishing ----


def test_run_and_publish_pages_show_each_publisher(setup):  # noqa: F811
    ws, emulator, write_config = setup
    night = ws.write("night.csv", data(*(session_row(n) for n in range(3))))
    page = ws.root / "run.html"
    down = write_config(url="http://127.0.0.1:9")  # nothing listens on the discard port
    assert ws.run("run", "--html", page, "--publish-timeout", "20", down, night).exit_code == 6
    text = page.read_text()
    assert 'data-exit-code="6"' in text and '<td data-state="pending">3</td>' in text
    published = ws.root / "publish.html"
    result = ws.run("publish", "--html", published, write_config())
    assert result.exit_code == 0, result.stderr
    text = published.read_text()
    assert "session-import publish" in text and "delivery of an earlier run" in text
    assert (
        '<tr data-publisher="perculus"><td>perculus</td><td data-state="published">3</td>' in text
    )
