"""Runs and reports that the page tests share: a sessions file whose titles and file name try
to run script, and a report of many rejected rows."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import SESSION_CONFIG, rows

from session_import.messages import Msg
from session_import.pages import StartDates
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
