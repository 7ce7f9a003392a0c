"""What the page of recent nights shows: per import, each night's rows, rejected rows and
failed runs, and each run with the journal `history RUN` prints."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice

from session_import.pages import charts
from session_import.pages.run_view import exit_words
from session_import.report import COUNT_NAMES

JOURNAL_LINES = 200  # journal lines per run on the page; `history RUN` prints them all
JOURNAL_RUNS = 200  # runs, newest first, whose journal the page carries
# exit codes of a run that failed: the file as a whole, the store, a signal
FAILED = frozenset({3, 4, 5, 130, 143})


@dataclass
class RunRow:
    run: dict
    outcome: str
    summary: str
    journal: list[str] | None = None  # None: not carried on the page
    journal_more: bool = False

    @property
    def id(self) -> int:
        return self.run["id"]

    @property
    def failed(self) -> bool:
        return self.run.get("exit_code") in FAILED or (
            self.run.get("ended_at") is None and self.run.get("exit_code") is None
        )

    @property
    def exit_text(self) -> str:
        code = self.run.get("exit_code")
        return "did not finish" if code is None else f"{code}: {exit_words(code)}"


@dataclass
class Night:
    night: str
    rows: int = 0
    rejected: int = 0
    failures: int = 0
    runs: list[RunRow] = field(default_factory=list)


@dataclass
class ImportHistory:
    import_id: str
    anchor: str
    nights: list[Night]  # oldest first, as the chart reads
    chart: str = ""


@dataclass
class HistoryView:
    title: str
    since: str | None
    imports: list[ImportHistory]
    runs: int


def _summary(counts: dict | None) -> str:
    counts = counts or {}
    return ", ".join(f"{counts[k]} {k}" for k in COUNT_NAMES if counts.get(k))


def history_view(
    runs: list[dict],
    outcome: Callable[[dict], str],
    journal: Callable[[int], Iterable[str]] | None = None,
    since: str | None = None,
) -> HistoryView:
    """``runs`` newest first (Store.runs); ``journal(run_id)`` the lines `history RUN` prints."""
    by_import: dict[str, dict[str, Night]] = {}
    for position, run in enumerate(runs):
        row = RunRow(run, outcome(run), _summary(run.get("counts")))
        if journal is not None and position < JOURNAL_RUNS:
            lines = list(islice(journal(run["id"]), JOURNAL_LINES + 1))
            row.journal, row.journal_more = lines[:JOURNAL_LINES], len(lines) > JOURNAL_LINES
        day = (run.get("started_at") or "")[:10] or "unknown"
        night = by_import.setdefault(run["import_id"], {}).setdefault(day, Night(day))
        night.runs.append(row)
        if run.get("dry_run"):
            continue  # it changed nothing: listed, not counted
        counts = run.get("counts") or {}
        night.rows += counts.get("rows", 0)
        night.rejected += counts.get("rejected", 0)
        night.failures += row.failed
    imports = []
    for index, (import_id, nights) in enumerate(sorted(by_import.items()), 1):
        ordered = [nights[k] for k in sorted(nights)]
        history = ImportHistory(import_id, f"import-{index}", ordered)
        history.chart = charts.night_bars(ordered, history.anchor)
        imports.append(history)
    title = "session-import: recent nights" + (f" since {since}" if since else "")
    return HistoryView(title, since, imports, len(runs))
