"""The rich views of a run: problems first, then the summary, and the live lines that a
command draws while it works (progress of each file, a publisher's waits).

Views compute nothing: they draw a ``report.Report``. Data is shown as written, its
control characters escaped (terminal_safe), so that a cell never drives the terminal.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from itertools import islice
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn
from rich.table import Table
from rich.text import Text

from session_import.outputs import rejects_paths
from session_import.report import COUNT_NAMES, FileReport, Report


class ViewMsg(StrEnum):
    """What the terminal views say around the data (the data itself comes from the run)."""

    TITLE = "session-import"
    TITLE_DRY_RUN = "session-import: dry run, nothing written"
    NOT_APPLIED = "not applied"
    NOT_APPLIED_LINE = (
        "{file} [{import_id}, {action}]: not applied: {rows} rows would have given"
        " {created} created, {updated} updated, {unchanged} unchanged, {cancelled} cancelled,"
        " {rejected} rejected, {warnings} warnings"
    )
    MORE_ROWS = "{file}: and {count} more rows: see {where}"
    MORE_WARNINGS = "{file}: and {count} more warnings: see {where}"
    MORE_CHANGES = "{file}: and {count} more changes: see {where}"
    ANY_REJECTS = "--rejects FILE or --report FILE"
    ANY_REPORT = "--report FILE"
    FINISHED = "Finished in {elapsed}."
    FINISHED_DRY_RUN = "Dry run finished in {elapsed}: nothing was written to the store."


# rejected rows, warnings and --diff changes shown per file on a terminal; the rest are in
# the rejects file and the JSON report (piped output, for cron's mail, lists them all)
TERMINAL_ROWS = 20


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def terminal_safe(text: str) -> str:
    """``text`` with its control characters (ESC and the other C0 and C1 codes) written as
    escapes (``\\x1b``), so that a cell never moves the cursor, recolours or retitles the
    terminal; the store and the files keep the value as it is."""
    return _CONTROL.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def say(console: Console, text: str) -> None:
    """One line of data as written: no markup, no emoji codes, no highlighting, no control
    codes. Piped, the line is written as it is: rich's rendering of each of a million
    rejected rows would cost more than the run."""
    text = terminal_safe(text)
    if console.is_terminal:
        console.print(text, markup=False, emoji=False, highlight=False, soft_wrap=True)
    else:
        console.file.write(text + "\n")


def _elapsed(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(round(seconds), 60)
    if minutes >= 60:
        return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}"
    return f"{minutes}:{seconds:02d}"


def _summary_line(f: FileReport) -> str:
    c = f.counts
    if f.refused:
        return ViewMsg.NOT_APPLIED_LINE.format(
            file=f.file, import_id=f.import_id, action=f.action, **c
        )
    by_digest = f" ({f.by_digest} by digest)" if f.by_digest else ""
    return (
        f"{f.file} [{f.import_id}, {f.action}]: {c['rows']} rows: {c['created']} created, "
        f"{c['updated']} updated, {c['unchanged']} unchanged{by_digest}, {c['cancelled']}"
        f" cancelled, {c['rejected']} rejected, {c['warnings']} warnings"
    )


def safe_cells(*texts: str) -> list[Text]:
    return [Text(terminal_safe(t)) for t in texts]


def _where(*given: tuple[Path | str | None, str]) -> str:
    named = [str(path) for path, _ in given if path]
    return " or ".join(named) if named else given[0][1]


def _value_text(value) -> str:
    return "" if value is None else str(value)


def field_changes(fields: dict, separator: str) -> str:
    """``name: old -> new`` for each field; none is shown as nothing."""
    return separator.join(
        " ".join(p for p in (f"{name}:", _value_text(old), "->", _value_text(new)) if p)
        for name, (old, new) in fields.items()
    )


def _capped(items: Iterator, terminal: bool) -> tuple[list | Iterator, Callable[[], int]]:
    """The items to show, and a count of those left out: all of them when not on a terminal."""
    if not terminal:
        return items, lambda: 0
    shown = list(islice(items, TERMINAL_ROWS))
    return shown, lambda: sum(1 for _ in items)


def render(
    report: Report,
    out: Console,
    err: Console,
    *,
    quiet: bool = False,
    verbose: bool = False,
    report_path: Path | str | None = None,
    rejects_path: Path | str | None = None,
) -> None:
    """Write the report: each file's problems first, then the summary (a table on a terminal,
    plain lines when piped) and a last line with the elapsed time; only errors when quiet.

    On a terminal each file shows at most TERMINAL_ROWS rejected rows, warnings and changes,
    then says where the others are (``report_path``, ``rejects_path``)."""
    if not quiet:
        for notice in report.notices:
            say(out, notice)
    rejects_files = rejects_paths(report, Path(rejects_path)) if rejects_path else {}
    for f in report.files:
        _file_errors(f, err, (rejects_files.get(f.file), ViewMsg.ANY_REJECTS), (report_path, ""))
        if not quiet:
            _file_warnings(f, out, report_path)
        if f.email is not None and not f.email["sent"]:
            say(err, f"{f.file}: the e-mail report was not sent: {f.email['error']}")
        if report.diff and not quiet:
            _file_changes(f, out, report_path)
    _run_errors(report, err)
    if not quiet:
        _summary(report, out, verbose)


def _file_errors(f: FileReport, err: Console, *where: tuple[Path | str | None, str]) -> None:
    """The file's own error, then its rejected rows (capped on a terminal)."""
    if f.error is not None:
        say(err, f"{f.file}: {f.error}" if not f.error.startswith(f.file) else f.error)
    rows, left_out = _capped(iter(f.rejected), err.is_terminal)
    for row in rows:
        say(err, f"{f.file}:{row.line}: " + " ".join(row.messages))
    if count := left_out():
        say(err, ViewMsg.MORE_ROWS.format(file=f.file, count=count, where=_where(*where)))


def _file_warnings(f: FileReport, out: Console, report_path: Path | str | None) -> None:
    warnings, left_out = _capped(iter(f.warnings), out.is_terminal)
    for line, messages in warnings:
        say(out, f"{f.file}:{line}: warning: " + " ".join(messages))
    if count := left_out():
        where = _where((report_path, ViewMsg.ANY_REPORT))
        say(out, ViewMsg.MORE_WARNINGS.format(file=f.file, count=count, where=where))


def _file_changes(f: FileReport, out: Console, report_path: Path | str | None) -> None:
    """--diff: each update's changed fields, ``GUID (title): name: old -> new, ...``."""
    changes, left_out = _capped(f.changes.with_titles(), out.is_terminal)
    for line, guid, title, fields in changes:
        who = f"{guid} ({title})" if guid and title else guid or ""
        said = (f"{who}: " if who else "") + field_changes(fields, ", ")
        say(out, f"{f.file}:{line}: {said}")
    if count := left_out():
        where = _where((report_path, ViewMsg.ANY_REPORT))
        say(out, ViewMsg.MORE_CHANGES.format(file=f.file, count=count, where=where))


def _run_errors(report: Report, err: Console) -> None:
    """Consolidators that failed, and why changes stay queued for a remote LMS."""
    for failure in report.consolidators:
        if failure.name == "emailReport" and any(
            f.email for f in report.files if f.file == failure.file
        ):
            continue  # said once above, with the file's e-mail status
        say(err, f"{failure.file}: {failure.name}: {failure.error}")
    for problem in report.publish_errors:
        say(err, problem)


def _summary(report: Report, out: Console, verbose: bool) -> None:
    """The counts of each file (a table on a terminal), what each publisher did, the
    rate with --verbose, and the elapsed time last."""
    prefix = "[dry run] " if report.dry_run else ""
    # a file that failed as a whole with no row counted: its error says it all, not a row of zeros
    counted = [f for f in report.files if f.error is None or f.counts["rows"]]
    if counted:
        if out.is_terminal:
            _summary_table(report, counted, out)
        else:
            for f in counted:
                say(out, prefix + _summary_line(f))
    for f in report.files:
        for publisher, counts in f.publishers.items():
            said = ", ".join(f"{n} {state}" for state, n in counts.items())
            earlier = f" (run {f.run_id})" if f.earlier_run else ""
            say(out, f"{prefix}{f.file}{earlier}: {publisher}: {said}")
    if verbose:
        for f in report.files:
            rate = f.counts["rows"] / f.seconds if f.seconds else 0.0
            say(out, f"{f.file}: run {f.run_id}, {f.seconds:.2f} s, {rate:.0f} rows/s")
    if counted:
        last = ViewMsg.FINISHED_DRY_RUN if report.dry_run else ViewMsg.FINISHED
        say(out, last.format(elapsed=_elapsed(report.seconds)))


def _summary_table(report: Report, files: list[FileReport], out: Console) -> None:
    title = ViewMsg.TITLE_DRY_RUN if report.dry_run else ViewMsg.TITLE
    table = Table(title=Text(title, style="bold yellow" if report.dry_run else "bold"))
    table.add_column("file")
    table.add_column("import / action")
    for name in COUNT_NAMES:
        table.add_column(name, justify="right")
    table.add_column("time", justify="right")
    for f in files:
        what = Text(terminal_safe(f"{f.import_id} / {f.action}"))
        if f.refused:  # on a line of its own, so that a long name never cuts it off
            what.append(f"\n{ViewMsg.NOT_APPLIED}", style="bold red")
        counts = [str(f.counts[n]) for n in COUNT_NAMES]
        table.add_row(Text(terminal_safe(f.file)), what, *safe_cells(*counts, _elapsed(f.seconds)))
    out.print(table)


# ---- live lines ----

# a task's own fields, given to Progress.add_task and update as keyword arguments
_NO_FIGURES: dict[str, Any] = {"percent": "", "rows": "", "rate": "", "left": ""}


def progress_display(out: Console, quiet: bool, no_progress: bool) -> Progress | None:
    """A live progress display on a terminal; None when piped, quiet or asked not to."""
    if not out.is_terminal or quiet or no_progress:
        return None
    return Progress(
        TextColumn("{task.description}", markup=False),
        SpinnerColumn(),
        BarColumn(),
        TextColumn("{task.fields[percent]}", markup=False),
        TextColumn("{task.fields[rows]}", markup=False),
        TextColumn("{task.fields[rate]}", markup=False),
        TextColumn("{task.fields[left]}", markup=False),
        console=out,
        transient=True,
    )


def progress_callback(
    progress: Progress | None,
) -> Callable[[str, str, int, int, int], None] | None:
    """Per file and action, on a rich progress line: a bar of the bytes read of the file's
    size, the rows done, the rate and the time left; None when there is no terminal to draw
    on. The pipeline calls it when the file starts, so that the rate and the time left are
    measured from there (they once were from the end of the first chunk: 2 billion rows/s)."""
    if progress is None:
        return None
    tasks: dict[tuple[str, str], tuple[TaskID, float]] = {}

    def update(file: str, action: str, rows: int, done: int, size: int) -> None:
        key = (file, action)
        if key not in tasks:
            name = terminal_safe(f"{Path(file).name} ({action})")
            task_id = progress.add_task(name, total=max(size, 1), **_NO_FIGURES)
            tasks[key] = (task_id, time.monotonic())
        task, started = tasks[key]
        elapsed = time.monotonic() - started
        done = min(done, size) if rows else 0  # the reader reads ahead: nothing is done yet
        figures = dict(
            _NO_FIGURES, rows=f"{rows:,} rows", percent=f"{100 * done / size:3.0f}%" if size else ""
        )
        if elapsed > 0 and rows:
            figures["rate"] = f"{rows / elapsed:,.0f} rows/s"
        if elapsed > 0 and done:
            left = elapsed * (size - done) / done
            figures["left"] = f"{int(left) // 60}:{int(left) % 60:02d} left"
        progress.update(task, completed=done, refresh=True, **figures)  # each chunk is drawn

    return update


def wait_lines(progress: Progress | None, err: Console) -> Callable[[str, float], None]:
    """A publisher's wait (pacing, lock, back-off). On a terminal: one live line of the
    progress display, its spinner turning while the publisher waits. Piped: a line once
    per reason, and for every long wait, so a paced delivery of hundreds of calls does
    not print hundreds of lines."""
    said: set[str] = set()
    task: list = []

    def waiting(why: str, seconds: float) -> None:
        text = f"{why}: waiting {seconds:.1f} s"
        if progress is not None:
            if task:
                progress.update(task[0], description=text)
            else:
                task.append(progress.add_task(text, total=None, **_NO_FIGURES))
            return
        if why in said and seconds < 5:
            return
        said.add(why)
        err.print(text, highlight=False, markup=False)

    return waiting
