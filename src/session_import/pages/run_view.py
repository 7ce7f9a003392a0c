"""What the page of a run shows, worked out from the Report in one pass over each file's
rejected rows (a file may have a million): the reasons over every row, the rows listed
capped so that the page stays light."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from session_import.errors import ExitCode, worst
from session_import.pages import charts
from session_import.pages.reasons import Reason, Reasons
from session_import.report import COUNT_NAMES, FileReport, Report

# rejected rows listed in the table, in line order; past them, each reason still gets up to
# SAMPLES_PER_REASON rows, so that filtering by a rare reason shows some of its rows
TABLE_ROWS = 5000
SAMPLES_PER_REASON = 50
WARNING_ROWS = 1000
CHANGE_ROWS = 1000
VALUES_SHOWN = 12  # values (logins, codes...) named under each reason
PAGE_SIZE = 50  # rows of the table shown at a time when the script runs

EXIT_WORDS = {
    ExitCode.OK: "every row was applied",
    ExitCode.PARTIAL: "partial: some rows were rejected, the others applied",
    ExitCode.USAGE: "command-line usage error",
    ExitCode.FILE_FAILED: "a data file failed as a whole, or every one of its rows was rejected",
    ExitCode.CONFIG_INVALID: "the configuration is invalid; nothing was run",
    ExitCode.STORE_UNAVAILABLE: "the store is unavailable, or another import holds the lock",
    ExitCode.PUBLISH_PENDING: (
        "applied to the store; some changes still wait to be delivered to a remote LMS"
    ),
    ExitCode.HELD: "held for approval: a file went past a safety limit; nothing was applied",
    ExitCode.SIGINT: "interrupted (SIGINT): the file being applied was rolled back",
    ExitCode.SIGTERM: "interrupted (SIGTERM): the file being applied was rolled back",
}


def exit_words(code: int) -> str:
    try:
        return EXIT_WORDS[ExitCode(code)]
    except ValueError:
        return "unknown exit code"


def elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
        if minutes >= 60
        else f"{minutes}:{seconds:02d}"
    )


@dataclass
class ListedRow:
    line: int
    values: dict[str, str]
    messages: list[str]
    reasons: list[int]


@dataclass
class ListedWarning:
    line: int
    messages: list[str]


@dataclass
class ListedChange:
    line: int
    guid: str | None
    title: str | None
    fields: dict


@dataclass
class FileView:
    index: int
    report: FileReport
    counts: dict[str, int]
    exit_code: int
    reasons: list[Reason] = field(default_factory=list)
    rows: list[ListedRow] = field(default_factory=list)
    rows_total: int = 0
    warning_reasons: list[Reason] = field(default_factory=list)
    warnings: list[ListedWarning] = field(default_factory=list)
    warnings_total: int = 0
    changes: list[ListedChange] = field(default_factory=list)
    changes_total: int = 0
    outcome_chart: str = ""
    reason_chart: str = ""
    start_chart: str = ""

    @property
    def rows_capped(self) -> bool:
        return len(self.rows) < self.rows_total

    @property
    def fields(self) -> list[str]:
        """The value columns the listed rows hold, in the order first seen."""
        names: dict[str, None] = {}
        for row in self.rows:
            names.update(dict.fromkeys(row.values))
        return list(names)


@dataclass
class RunView:
    title: str
    imports: list[str]
    files: list[str]
    dry_run: bool
    started: datetime | None
    seconds: float
    exit_code: int
    totals: dict[str, int]
    file_views: list[FileView]
    notices: list[str]
    problems: list[str]
    stopped: list[str]
    command: str

    @property
    def exit_text(self) -> str:
        return exit_words(self.exit_code)

    @property
    def duration(self) -> str:
        return elapsed(self.seconds)


def _listed_rows(report: FileReport, view: FileView) -> None:
    reasons = Reasons()
    samples: dict[int, int] = {}
    for row in report.rejected:
        view.rows_total += 1
        ids = reasons.add(row.messages)
        if len(view.rows) < TABLE_ROWS or any(samples.get(i, 0) < SAMPLES_PER_REASON for i in ids):
            view.rows.append(ListedRow(row.line, row.values, row.messages, ids))
            for i in ids:
                samples[i] = samples.get(i, 0) + 1
    view.reasons = reasons.largest_first()


def _listed_warnings(report: FileReport, view: FileView) -> None:
    reasons = Reasons()
    for line, messages in report.warnings:
        view.warnings_total += 1
        reasons.add(messages)
        if len(view.warnings) < WARNING_ROWS:
            view.warnings.append(ListedWarning(line, messages))
    view.warning_reasons = reasons.largest_first()


def _listed_changes(report: FileReport, view: FileView) -> None:
    for line, guid, title, fields in report.changes.with_titles():
        view.changes_total += 1
        if len(view.changes) < CHANGE_ROWS:
            view.changes.append(ListedChange(line, guid, title, fields))


def file_view(index: int, report: FileReport, diff: bool) -> FileView:
    view = FileView(index, report, dict(report.counts), int(report.exit_code))
    _listed_rows(report, view)
    _listed_warnings(report, view)
    if diff:
        _listed_changes(report, view)
    view.outcome_chart = charts.outcome_bars(view.counts)
    if view.reasons:
        view.reason_chart = charts.reason_bars(view.reasons)
    dates = getattr(report, "start_dates", None)
    if dates:
        view.start_chart = charts.start_date_bars(dates)
    return view


def _problems(report: Report) -> list[str]:
    problems = [f"{c.file}: {c.name}: {c.error}" for c in report.consolidators]
    problems.extend(report.publish_errors)
    return problems


def run_view(report: Report, *, started: datetime | None = None, command: str = "run") -> RunView:
    totals = dict.fromkeys(COUNT_NAMES, 0)
    for f in report.files:
        for name in COUNT_NAMES:
            totals[name] += f.counts[name]
    imports = list(dict.fromkeys(f.import_id for f in report.files))
    files = list(dict.fromkeys(f.file for f in report.files))
    names = ", ".join(Path(f).name for f in files) or "no file"
    what = "dry run" if report.dry_run else command
    title = f"session-import {what}: {', '.join(imports) or 'no import'}, {names}"
    return RunView(
        title=title,
        imports=imports,
        files=files,
        dry_run=report.dry_run,
        started=started,
        seconds=report.seconds,
        exit_code=int(report.exit_code),
        totals=totals,
        file_views=[file_view(i, f, report.diff) for i, f in enumerate(report.files, 1)],
        notices=list(report.notices),
        problems=_problems(report),
        stopped=list(report.stopped),
        command=command,
    )


def file_run_view(reports: list[FileReport], when: datetime) -> RunView:
    """The page of one data file, as its consolidators see it once it is committed."""
    seconds = sum(r.seconds for r in reports)
    report = Report(files=list(reports))
    report.seconds = seconds
    view = run_view(report, started=when - timedelta(seconds=seconds))
    view.exit_code = int(worst(r.exit_code for r in reports))
    return view
