"""The pages through the commands a user types: what `run --html`, `history --html` and
`<htmlReport>` write, what they escape, that the page asks no server for anything, and the
e-mail that carries the page."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re

from conftest import HEADER, SESSION_CONFIG, rows
from hostile_runs import HOSTILE_TITLE, hostile_run
from smtp import smtp_server  # noqa: F401  (a fixture)

CONFIG = """
<import-config><import id="nightly">
  <providers><fileSystemSourceProvider><fileName>sessions_*.csv</fileName><path>drop</path></fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/><sessionStatus/><sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators>
    {consolidators}
  </consolidators>
</import></import-config>
"""


def serve_through_environment(monkeypatch, server) -> None:
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)


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


# ---- <htmlReport> and the e-mail ----

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
