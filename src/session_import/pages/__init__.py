"""One self-contained HTML page per run, a page of recent nights, and the e-mail's HTML part.

The pages carry their CSS, script and charts inline and make no request to any server, so
they work as a mail attachment, offline and under a strict Content-Security-Policy: each
page declares its own (``default-src 'none'``, the inline style and script allowed by
their hash only). Jinja2 escapes every value from a file or the store; the script moves
and hides rows, never writes markup.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from itertools import islice
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from session_import import __version__
from session_import.outputs import atomic_write
from session_import.pages.history_view import JOURNAL_LINES, JOURNAL_RUNS, history_view
from session_import.pages.reasons import Reasons
from session_import.pages.run_view import (
    PAGE_SIZE,
    SAMPLES_PER_REASON,
    TABLE_ROWS,
    VALUES_SHOWN,
    elapsed,
    exit_words,
    file_run_view,
    run_view,
)
from session_import.pages.startdates import StartDates
from session_import.report import COUNT_NAMES, FileReport, Report

__all__ = [
    "StartDates",
    "email_html",
    "history_page",
    "run_page",
    "run_page_for_file",
    "write_history_page",
    "write_run_page",
]

PUBLISH_STATES = ("published", "rejected", "pending", "skipped")


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("session_import.pages", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.globals.update(
        exit_words=exit_words,
        elapsed=elapsed,
        names=COUNT_NAMES,
        publish_states=PUBLISH_STATES,
        values_shown=VALUES_SHOWN,
        table_rows=TABLE_ROWS,
        samples=SAMPLES_PER_REASON,
        page_size=PAGE_SIZE,
        journal_lines=JOURNAL_LINES,
        journal_runs=JOURNAL_RUNS,
        version=__version__,
    )
    return env


@cache
def _static(name: str) -> str:
    return resources.files("session_import.pages").joinpath("templates", name).read_text("utf-8")


def _hash(text: str) -> str:
    return (
        "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"
    )


@cache
def _inline() -> dict:
    css, js = _static("page.css"), _static("page.js")
    csp = (
        f"default-src 'none'; style-src {_hash(css)}; script-src {_hash(js)}; img-src data:;"
        " base-uri 'none'; form-action 'none'"
    )
    return {"css": Markup(css), "js": Markup(js), "csp": Markup(csp)}


def _render(template: str, **context) -> Iterator[str]:
    written = datetime.now(UTC).astimezone().isoformat(timespec="seconds")
    return _environment().get_template(template).generate(written=written, **_inline(), **context)


def run_page(
    report: Report, *, started: datetime | None = None, command: str = "run"
) -> Iterator[str]:
    """The page of a run (or a publish), as pieces of text."""
    return _render("run.html.j2", view=run_view(report, started=started, command=command))


def run_page_for_file(reports: list[FileReport], when: datetime) -> Iterator[str]:
    """The page of one committed data file (the ``<htmlReport>`` consolidator)."""
    return _render("run.html.j2", view=file_run_view(reports, when))


def history_page(
    runs: list[dict],
    outcome: Callable[[dict], str],
    journal: Callable[[int], Iterable[str]] | None = None,
    since: str | None = None,
) -> Iterator[str]:
    """The page of recent nights; ``journal(run_id)`` gives the lines `history RUN` prints."""
    return _render("history.html.j2", view=history_view(runs, outcome, journal, since))


def _write(path: Path, pieces: Iterable[str]) -> None:
    atomic_write(Path(path), lambda handle: handle.writelines(pieces))


def write_run_page(
    report: Report, path: Path, *, started: datetime | None = None, command: str = "run"
) -> None:
    """``--html FILE`` of run and publish; OutputError when it cannot be written."""
    _write(path, run_page(report, started=started, command=command))


def write_history_page(
    path: Path,
    runs: list[dict],
    outcome: Callable[[dict], str],
    journal: Callable[[int], Iterable[str]] | None = None,
    since: str | None = None,
) -> None:
    _write(path, history_page(runs, outcome, journal, since))


class _EmailPart:
    def __init__(
        self,
        report: FileReport,
        rows_limit: int,
        more_rows: Callable[[int], str],
        more_warnings: Callable[[int], str],
    ) -> None:
        self.action, self.counts, self.error = report.action, report.counts, report.error
        reasons = Reasons()
        self.rows: list[tuple[int, list[str]]] = []
        left = 0
        for row in report.rejected:
            reasons.add(row.messages)
            if len(self.rows) < rows_limit:
                self.rows.append((row.line, row.messages))
            else:
                left += 1
        self.reasons = reasons.largest_first() if len(self.rows) > 1 else []
        self.more_rows = more_rows(left) if left else ""
        warnings = iter(report.warnings)
        self.warnings = list(islice(warnings, rows_limit))
        left = sum(1 for _ in warnings)
        self.more_warnings = more_warnings(left) if left else ""


def email_html(
    import_id: str,
    path: Path,
    reports: list[FileReport],
    *,
    subject: str,
    run_id: int | None,
    rows_limit: int,
    more_rows: Callable[[int], str],
    more_warnings: Callable[[int], str],
    notes: list[str],
    exit_code: int | None = None,
) -> str:
    """The e-mail's HTML part, from the templates of the pages (no script, no SVG: mail
    clients run neither)."""
    parts = [_EmailPart(r, rows_limit, more_rows, more_warnings) for r in reports]
    return "".join(
        _environment()
        .get_template("email.html.j2")
        .generate(
            import_id=import_id,
            path=str(path),
            run_id=run_id,
            parts=parts,
            notes=notes,
            subject=subject,
            exit_code=exit_code,
            exit_text=exit_words(exit_code) if exit_code is not None else "",
        )
    )
