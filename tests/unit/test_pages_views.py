"""The pages' views and pieces: reasons grouped by message template, start dates counted,
the cap of a large file, publishing and the nights of the history page."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hostile_runs import large_report

from session_import.messages import Msg
from session_import.pages import history_page, run_page, startdates
from session_import.pages.reasons import Reasons
from session_import.pages.run_view import SAMPLES_PER_REASON, TABLE_ROWS
from session_import.pages.startdates import StartDates
from session_import.report import FileReport, Report


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
