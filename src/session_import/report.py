"""The report of a run: counts, rejected rows, warnings, the exit code, and its views.

Views compute nothing: the terminal summary, the JSON report and the rejects CSV
are renderings of one ``Report``. Rejected rows, warnings and --diff changes can be
as many as the file's rows: they are kept on disk (spool.SpooledList) and every view
reads them as a stream, so memory does not grow with the number of problems.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from itertools import groupby, islice
from operator import attrgetter
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from session_import.errors import ExitCode, SessionImportError, worst
from session_import.reader import neutralise_formula
from session_import.spool import SpooledList

COUNT_NAMES = ("rows", "created", "updated", "unchanged", "cancelled", "rejected", "warnings")


class ViewMsg(StrEnum):
    """What the terminal views say around the data (the data itself comes from the run)."""

    TITLE = "session-import"
    TITLE_DRY_RUN = "session-import: dry run, nothing written"
    NOT_APPLIED = "not applied"
    NOT_APPLIED_LINE = (
        "{file} [{import_id}, {action}]: not applied: {rows} rows would have given {created} created,"
        " {updated} updated, {unchanged} unchanged, {cancelled} cancelled, {rejected} rejected,"
        " {warnings} warnings"
    )
    MORE_ROWS = "{file}: and {count} more rows: see {where}"
    MORE_WARNINGS = "{file}: and {count} more warnings: see {where}"
    MORE_CHANGES = "{file}: and {count} more changes: see {where}"
    ANY_REJECTS = "--rejects FILE or --report FILE"
    ANY_REPORT = "--report FILE"
    FINISHED = "Finished in {elapsed}."
    FINISHED_DRY_RUN = "Dry run finished in {elapsed}: nothing was written to the store."
    NOTHING_CHANGED = "Run {run_id} changed nothing."


# rejected rows, warnings and --diff changes shown per file on a terminal; the rest are in
# the rejects file and the JSON report (piped output, for cron's mail, lists them all)
TERMINAL_ROWS = 20


@dataclass
class RejectedRow:
    line: int
    values: dict[str, str]
    messages: list[str]
    cells: list[str]


_by_line = attrgetter("line")


def merge_rows(streams: Iterable[Iterable[RejectedRow]]) -> Iterator[RejectedRow]:
    """Rows of streams sorted by line, merged into one sorted stream; the rows of one line
    (several actions, or several publishers, rejected it) become one with all its messages."""
    streams = list(streams)
    merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_by_line)
    for line, group in groupby(merged, key=_by_line):
        first, *others = group
        if others:
            more = [m for other in others for m in other.messages]
            first = RejectedRow(line, first.values, first.messages + more, first.cells)
        yield first


class RejectedRows:
    """A file's rejected rows, on disk, read back sorted by line (see ``merge_rows``)."""

    def __init__(self) -> None:
        self._entries = SpooledList()

    def append(self, row: RejectedRow) -> None:
        self._entries.append((row.line, row.values, row.messages, row.cells))

    def __iter__(self) -> Iterator[RejectedRow]:
        return merge_rows([(RejectedRow(*entry) for entry in self._entries)])

    def __bool__(self) -> bool:
        return bool(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def flush(self) -> None:
        self._entries.flush()


class Warnings:
    """A file's warnings, on disk, sorted by line: iterate for (line, messages); a row's
    warnings keep its raw cells (None for a file-level warning) for the error log."""

    def __init__(self) -> None:
        self._entries = SpooledList()

    def append(self, line: int, messages: list[str], cells: list[str] | None = None) -> None:
        self._entries.append((line, messages, cells))

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        return ((line, messages) for line, messages, _ in self._entries)

    def with_cells(self) -> Iterator[tuple[int, list[str], list[str] | None]]:
        return iter(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def flush(self) -> None:
        self._entries.flush()


class Changes:
    """--diff: the fields each update changed, on disk, in line order. Iterate for the
    report's ``{"line", "guid", "fields"}``; ``with_titles`` adds the session's title."""

    def __init__(self) -> None:
        self._entries = SpooledList()

    def append(self, change: dict) -> None:
        self._entries.append((change["line"], change.get("guid"), change.get("title"), change["fields"]))

    def __iter__(self) -> Iterator[dict]:
        return ({"line": line, "guid": guid, "fields": fields} for line, guid, _, fields in self._entries)

    def with_titles(self) -> Iterator[tuple[int, str | None, str | None, dict]]:
        return iter(self._entries)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    def flush(self) -> None:
        self._entries.flush()


@dataclass
class FileReport:
    file: str
    import_id: str
    action: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    rejected: RejectedRows = field(default_factory=RejectedRows)
    warnings: Warnings = field(default_factory=Warnings)
    changes: Changes = field(default_factory=Changes)  # --diff: {"line", "guid", "fields"}
    keep_changes: bool = False  # only --diff keeps them
    error: str | None = None  # the file failed as a whole
    # a safety limit refused the file: nothing was applied, and the counts, rejected rows and
    # warnings are what it would have given
    refused: bool = False
    email: dict | None = None  # {"sent": bool, "error": str | None} when an emailReport ran
    run_id: int | None = None  # the run recorded in the store for this file
    seconds: float = 0.0
    # how the input was written, for a rejects file that re-imports as it is
    header: list[str] | None = None
    delimiter: str = ";"
    encoding: str = "utf-8"  # utf-8-sig for an input with a UTF-8 byte order mark
    newline: str = "\r\n"
    # publisher -> {"published", "rejected", "pending", "skipped"} for this file's changes
    publishers: dict[str, dict[str, int]] = field(default_factory=dict)
    # a report of what was delivered now for a file imported by an earlier run
    earlier_run: bool = False
    delivered_lines: set = field(default_factory=set)  # earlier run: lines counted already
    remote_rejected: set = field(default_factory=set)  # lines a remote LMS rejected (this command)
    start_dates: object = None  # a session file's pages.StartDates, for the page's chart

    @property
    def exit_code(self) -> ExitCode:
        if self.error is not None:
            return ExitCode.FILE_FAILED
        rows, rejected = self.counts["rows"], self.counts["rejected"]
        if rejected and rejected == rows:
            return ExitCode.FILE_FAILED
        if rejected:
            return ExitCode.PARTIAL
        if any(counts["pending"] for counts in self.publishers.values()):
            return ExitCode.PUBLISH_PENDING
        return ExitCode.OK

    @property
    def applied(self) -> bool:
        """Whether the file's rows went to the store (in a dry run: would have gone)."""
        return self.error is None

    def add_delivery(self, publisher: str, delivered) -> None:
        """What a publisher did with this file's changes: counts, and each remote rejection
        turns its row (applied locally) into a rejected row with the service's message."""
        counts = self.publishers.setdefault(publisher, dict.fromkeys(delivered.counts, 0))
        for state, n in delivered.counts.items():
            # pending is what waits now; the others add up over the deliveries of a command
            counts[state] = n if state == "pending" else counts.get(state, 0) + n
        for line, row, message, kind in delivered.rejected:
            if line in self.remote_rejected:
                # another publisher rejected it too: its message joins the row's (merge_rows)
                self.rejected.append(RejectedRow(line, {}, [message], []))
                continue
            self.remote_rejected.add(line)
            row = row or {}
            self.rejected.append(RejectedRow(line, row.get("values", {}), [message], row.get("cells", [])))
            self.counts["rejected"] += 1
            if self.earlier_run:
                self.counts["rows"] += 1
                self.delivered_lines.add(line)
            elif self.counts.get(kind, 0) > 0:
                self.counts[kind] -= 1
        if self.earlier_run:
            # the rows of an earlier run whose changes were delivered now: counted like a
            # run counts them, so that rows still add up and the exit code means the same
            for line, kind in delivered.settled:
                if line not in self.delivered_lines:
                    self.delivered_lines.add(line)
                    self.counts["rows"] += 1
                    self.counts[kind] += 1
        for line, message in delivered.warnings:
            self.add_warning(line, [message])

    def add_warning(self, line: int, messages: list[str], cells: list[str] | None = None) -> None:
        """A warning; ``cells`` are the raw cells of the row it is about (None: the file's own)."""
        self.warnings.append(line, messages, cells)
        self.counts["warnings"] += len(messages)

    def fail(self, message: str) -> None:
        """The file failed as a whole (unreadable, a mandatory column missing): nothing of it
        was applied, and what its rows gave so far means nothing."""
        self.error = message
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.rejected.clear()
        self.changes.clear()
        # the rows' warnings no longer hold; the file's own (a header without an optional
        # column) still do
        kept = [(line, messages) for line, messages, cells in self.warnings.with_cells() if cells is None]
        self.warnings = Warnings()
        for line, messages in kept:
            self.add_warning(line, messages)

    def refuse(self, message: str) -> None:
        """A safety limit stopped the file: nothing of it was applied, but its counts,
        rejected rows and warnings stay, as what it would have given, so that they say why."""
        self.error = message
        self.refused = True

    def flush(self) -> None:
        """Write to disk what is still held in memory: a finished file keeps nothing there."""
        for kept in (self.rejected, self.warnings, self.changes):
            kept.flush()

    def to_json(self, diff: bool, *, streamed: bool = False) -> dict:
        """The file's part of the JSON report; ``streamed``: its lists as iterators, for
        ``write_json_report``, which writes them item by item."""
        rejected = ({"line": r.line, "values": r.values, "messages": r.messages} for r in self.rejected)
        warnings = ({"line": line, "messages": msgs} for line, msgs in self.warnings)
        out = {
            "file": self.file,
            "import": self.import_id,
            "action": self.action,
            "counts": dict(self.counts),
            "rejected": rejected if streamed else list(rejected),
            "warnings": warnings if streamed else list(warnings),
        }
        if self.error is not None:
            out["applied"] = False
            out["error"] = self.error
        if self.email is not None:
            out["email"] = self.email
        if self.publishers:
            out["publishers"] = self.publishers
        if self.earlier_run:
            out["earlier_run"] = True
        if diff:
            out["changes"] = iter(self.changes) if streamed else list(self.changes)
        return out


@dataclass
class ConsolidatorFailure:
    """A consolidator that failed while running: reported, the exit code unchanged."""

    name: str
    file: str
    error: str


@dataclass
class Report:
    dry_run: bool = False
    diff: bool = False
    files: list[FileReport] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  # run-level lines, e.g. no file matched
    # why changes stay queued for a remote LMS (refused credentials, service down)
    publish_errors: list[str] = field(default_factory=list)
    consolidators: list[ConsolidatorFailure] = field(default_factory=list)
    exit_override: ExitCode | None = None
    # (file, run id once begun) while a file's transaction is open: what a stop rolls back
    applying: tuple[str, int | None] | None = None
    stopped: list[str] = field(default_factory=list)  # why the command stopped, and what is left
    seconds: float = 0.0  # how long the command's work took

    @property
    def exit_code(self) -> ExitCode:
        if self.exit_override is not None:
            return self.exit_override
        return worst(f.exit_code for f in self.files)

    def to_json(self, *, streamed: bool = False) -> dict:
        out = {
            "dry_run": self.dry_run,
            "files": [f.to_json(self.diff, streamed=streamed) for f in self.files],
            "consolidators": [
                {"name": c.name, "file": c.file, "error": c.error} for c in self.consolidators
            ],
            "exit_code": int(self.exit_code),
        }
        if self.publish_errors:
            out["publish_errors"] = list(self.publish_errors)
        if self.stopped:
            out["stopped"] = list(self.stopped)
        return out


def rejected_lines(reports: Iterable[FileReport]) -> int:
    """Rows rejected by any of the reports, each line counted once."""
    return sum(1 for _ in merge_rows([iter(r.rejected) for r in reports]))


class OutputError(SessionImportError):
    """A report or rejects file could not be written."""

    exit_code = ExitCode.FILE_FAILED


def _atomic_write(path: Path, write, encoding: str = "utf-8") -> None:
    """Write through a temporary file in the same folder, so a failure never leaves half a file."""
    path = Path(path)
    tmp_name = None
    try:
        if path.exists() and not path.is_file():
            # a device or a pipe (/dev/stdout, /dev/full): write to it, never replace it
            with open(path, "w", encoding=encoding, newline="") as handle:
                write(handle)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except (OSError, UnicodeError) as exc:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
        reason = getattr(exc, "strerror", None) or exc
        raise OutputError(f"Could not write {path}: {reason}.") from exc


# ---- JSON, streamed ----

_encode = json.JSONEncoder(ensure_ascii=False).encode
_encode_indented = json.JSONEncoder(ensure_ascii=False, indent=2).encode


def write_json(value, write: Callable[[str], object], depth: int = 0) -> None:
    """``json.dump(value, indent=2, ensure_ascii=False)``, written piece by piece: an
    iterator is written as an array, one item at a time (each item whole: it holds no
    iterator), so that a million rejected rows are never in memory together. The text is
    the same as json.dump's."""
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, Iterator):
        first = True
        for item in value:
            write(("[" if first else ",") + inner + _encode_indented(item).replace("\n", inner))
            first = False
        write("[]" if first else "\n" + "  " * depth + "]")
    elif isinstance(value, dict) and value:
        for i, (key, item) in enumerate(value.items()):
            write(("{" if i == 0 else ",") + inner + _encode(key) + ": ")
            write_json(item, write, depth + 1)
        write("\n" + "  " * depth + "}")
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            write(("[" if i == 0 else ",") + inner)
            write_json(item, write, depth + 1)
        write("\n" + "  " * depth + "]")
    else:
        write(_encode(value))


def write_json_report(report: Report, path: Path) -> None:
    _atomic_write(path, lambda h: write_json(report.to_json(streamed=True), h.write))


# ---- rejects file ----


def rejects_paths(report: Report, path: Path) -> dict[str, Path]:
    """Data file -> its rejects file: ``path`` itself, or one per data file when several have rejects."""
    files = list(dict.fromkeys(f.file for f in report.files if f.rejected))
    path = Path(path)
    if len(files) <= 1:
        return {name: path for name in files}
    return {name: path.with_name(f"{path.stem}-{Path(name).stem}{path.suffix}") for name in files}


def write_rejects_csv(report: Report, file: str, handle) -> None:
    """The rejected rows of one data file in its own delimiter, header and line breaks,
    plus ``errors``, written row by row.

    A row rejected by several actions of one import is written once, with all
    its messages. Formula-like cells are neutralised so a spreadsheet never runs them.
    """
    parts = [f for f in report.files if f.file == file and f.rejected]
    first = parts[0]
    writer = csv.writer(handle, delimiter=first.delimiter, lineterminator=first.newline)
    if first.header is not None:
        writer.writerow([neutralise_formula(c) for c in first.header] + ["errors"])
    for row in merge_rows([iter(part.rejected) for part in parts]):
        writer.writerow(
            [neutralise_formula(c) for c in row.cells] + [neutralise_formula(" ".join(row.messages))]
        )


class _TooLong(Exception):
    pass


class _BoundedText(io.StringIO):
    def __init__(self, limit: int | None):
        super().__init__()
        self.limit = limit

    def write(self, text: str) -> int:
        if self.limit is not None and self.tell() + len(text) > self.limit:
            raise _TooLong
        return super().write(text)


def rejects_csv(report: Report, file: str, max_chars: int | None = None) -> str | None:
    """What ``--rejects`` writes for one data file, as text; None when it would be longer
    than ``max_chars`` (an e-mail attachment must stay small)."""
    buffer = _BoundedText(max_chars)
    try:
        write_rejects_csv(report, file, buffer)
    except _TooLong:
        return None
    return buffer.getvalue()


def write_rejects(report: Report, path: Path) -> list[Path]:
    """One rejects file per data file that has rejected rows (see ``rejects_paths``)."""
    written = []
    for name, target in rejects_paths(report, path).items():
        encoding = next(f.encoding for f in report.files if f.file == name)
        _atomic_write(target, lambda handle, name=name: write_rejects_csv(report, name, handle), encoding)
        written.append(target)
    return written


# ---- terminal ----

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def terminal_safe(text: str) -> str:
    """``text`` with its control characters (ESC and the other C0 and C1 codes) written as
    escapes (``\\x1b``), so that a cell never moves the cursor, recolours or retitles the
    terminal; the store and the files keep the value as it is."""
    return _CONTROL.sub(lambda m: _SHORT_ESCAPES.get(m.group(), f"\\x{ord(m.group()):02x}"), text)


def _say(console: Console, text: str) -> None:
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
    return f"{minutes // 60}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes}:{seconds:02d}"


def _summary_line(f: FileReport) -> str:
    c = f.counts
    if f.refused:
        return ViewMsg.NOT_APPLIED_LINE.format(file=f.file, import_id=f.import_id, action=f.action, **c)
    return (
        f"{f.file} [{f.import_id}, {f.action}]: {c['rows']} rows: {c['created']} created, "
        f"{c['updated']} updated, {c['unchanged']} unchanged, {c['cancelled']} cancelled, "
        f"{c['rejected']} rejected, {c['warnings']} warnings"
    )


def _cells(*texts: str) -> list[Text]:
    return [Text(terminal_safe(t)) for t in texts]


def _where(*given: tuple[Path | str | None, str]) -> str:
    named = [str(path) for path, _ in given if path]
    return " or ".join(named) if named else given[0][1]


def _value_text(value) -> str:
    return "" if value is None else str(value)


def _field_changes(fields: dict, separator: str) -> str:
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


def render(report: Report, out: Console, err: Console, *, quiet: bool = False, verbose: bool = False,
           report_path: Path | str | None = None, rejects_path: Path | str | None = None) -> None:
    """Write the report: each file's problems first, then the summary (a table on a terminal,
    plain lines when piped) and a last line with the elapsed time; only errors when quiet.

    On a terminal each file shows at most TERMINAL_ROWS rejected rows, warnings and changes,
    then says where the others are (``report_path``, ``rejects_path``)."""
    for notice in report.notices:
        if not quiet:
            _say(out, notice)
    rejects_files = rejects_paths(report, Path(rejects_path)) if rejects_path else {}
    for f in report.files:
        if f.error is not None:
            _say(err, f"{f.file}: {f.error}" if not f.error.startswith(f.file) else f.error)
        rows, left_out = _capped(iter(f.rejected), err.is_terminal)
        for row in rows:
            _say(err, f"{f.file}:{row.line}: " + " ".join(row.messages))
        if count := left_out():
            where = _where((rejects_files.get(f.file), ViewMsg.ANY_REJECTS), (report_path, ""))
            _say(err, ViewMsg.MORE_ROWS.format(file=f.file, count=count, where=where))
        if not quiet:
            warnings, left_out = _capped(iter(f.warnings), out.is_terminal)
            for line, messages in warnings:
                _say(out, f"{f.file}:{line}: warning: " + " ".join(messages))
            if count := left_out():
                where = _where((report_path, ViewMsg.ANY_REPORT))
                _say(out, ViewMsg.MORE_WARNINGS.format(file=f.file, count=count, where=where))
        if f.email is not None and not f.email["sent"]:
            _say(err, f"{f.file}: the e-mail report was not sent: {f.email['error']}")
        if report.diff and not quiet:
            changes, left_out = _capped(f.changes.with_titles(), out.is_terminal)
            for line, guid, title, fields in changes:
                who = f"{guid} ({title})" if guid and title else guid or ""
                _say(out, f"{f.file}:{line}: " + (f"{who}: " if who else "") + _field_changes(fields, ", "))
            if count := left_out():
                where = _where((report_path, ViewMsg.ANY_REPORT))
                _say(out, ViewMsg.MORE_CHANGES.format(file=f.file, count=count, where=where))
    for failure in report.consolidators:
        if failure.name == "emailReport" and any(f.email for f in report.files if f.file == failure.file):
            continue  # said once above, with the file's e-mail status
        _say(err, f"{failure.file}: {failure.name}: {failure.error}")
    for problem in report.publish_errors:
        _say(err, problem)
    if quiet:
        return
    prefix = "[dry run] " if report.dry_run else ""
    # a file that failed as a whole with no row counted: its error says it all, not a row of zeros
    counted = [f for f in report.files if f.error is None or f.counts["rows"]]
    if counted:
        if out.is_terminal:
            _summary_table(report, counted, out)
        else:
            for f in counted:
                _say(out, prefix + _summary_line(f))
    for f in report.files:
        for publisher, counts in f.publishers.items():
            said = ", ".join(f"{n} {state}" for state, n in counts.items())
            earlier = f" (run {f.run_id})" if f.earlier_run else ""
            _say(out, f"{prefix}{f.file}{earlier}: {publisher}: {said}")
    if verbose:
        for f in report.files:
            rate = f.counts["rows"] / f.seconds if f.seconds else 0.0
            _say(out, f"{f.file}: run {f.run_id}, {f.seconds:.2f} s, {rate:.0f} rows/s")
    if counted:
        last = ViewMsg.FINISHED_DRY_RUN if report.dry_run else ViewMsg.FINISHED
        _say(out, last.format(elapsed=_elapsed(report.seconds)))


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
        table.add_row(Text(terminal_safe(f.file)), what, *_cells(*counts, _elapsed(f.seconds)))
    out.print(table)


# ---- history ----

_DONE = {"create": "created", "update": "updated", "delete": "cancelled"}
# a record's id in the journal -> the name the view gives the key of that record
_REFERENCE_NAMES = {
    "training_id": "training_path_code",
    "teacher_id": "teacher_login",
    "group_id": "group_name",
    "parent_id": "parent_name",
}
# what names a record for a person, beside its GUID or id
_LABELS = {"sessions": "title", "trainings": "path_code", "users": "login", "groups": "name"}
_KIND = {"sessions": "session", "trainings": "training", "users": "user", "groups": "group"}


def _readable(record: dict, keys: dict) -> dict:
    """A journal record as a person reads it: references by their key, not their id."""
    out = {}
    for name, value in record.items():
        if name in ("id", "guid"):  # the record's identity, shown beside its changes
            continue
        if name in _REFERENCE_NAMES:
            key = keys.get(name)
            out[_REFERENCE_NAMES[name]] = key if key is not None or value is None else f"(gone, id {value})"
        else:
            out[name] = value
    return out


def journal_view(entry: dict) -> dict:
    """One journal entry as a user reads it: the fields that changed, before and after,
    references by their keys (training path code, teacher login, group name) when the
    entry has ``keys`` (Store.journal_entries), and a session's title."""
    keys = entry.get("keys") or {"before": {}, "after": {}}
    before = _readable(entry["before"] or {}, keys["before"])
    after = _readable(entry["after"] or {}, keys["after"])
    names = list(after or before)
    fields = {k: [before.get(k), after.get(k)] for k in names if before.get(k) != after.get(k)}
    view = {
        "line": entry["line"],
        "table": entry["table"],
        "guid": entry["guid"],
        "id": entry["id"],
    }
    label = _LABELS.get(entry["table"])
    if label is not None:  # a session's title, a training's path code... beside its GUID
        view[label] = (after or before).get(label)
    view["done"] = _DONE[entry["op"]] if entry["table"] == "sessions" else entry["op"] + "d"
    view["fields"] = fields
    return view


def run_outcome(run: dict) -> str:
    """What a recorded run came to, in a few words (history's last column, status)."""
    kind = run.get("kind") or "import"
    if kind == "skip":
        return f"skipped: already imported by run {run.get('applied_by')}"
    if kind == "no_file":
        return run.get("reason") or "no file"
    if kind == "revert":
        return f"revert of run {run.get('reverts_run')}"
    if run.get("reason"):
        return f"failed: {run['reason']}"
    counts = run.get("counts") or {}
    if run.get("exit_code") == ExitCode.FILE_FAILED:
        return "every row rejected"
    if counts.get("rejected"):
        return f"{counts['rejected']} row{'s' if counts['rejected'] != 1 else ''} rejected"
    return "dry run" if run.get("dry_run") else "applied"


def render_runs(runs: list[dict], out: Console) -> None:
    columns = ("id", "import", "file", "sha256", "started", "ended", "dry run", "counts", "exit",
               "to publish", "outcome")
    rows = []
    for r in runs:
        counts = r["counts"] or {}
        summary = ", ".join(f"{counts[k]} {k}" for k in COUNT_NAMES if counts.get(k))
        what = r["file"] or ""
        if r["reverts_run"]:
            what = f"revert of run {r['reverts_run']}"
        elif out.is_terminal:
            what = Path(what).name  # a cut-off path helps nobody: the name stays whole
        rows.append((str(r["id"]), r["import_id"], what, (r["sha256"] or "")[:12], r["started_at"],
                     r["ended_at"] or "", "yes" if r["dry_run"] else "no", summary,
                     "" if r["exit_code"] is None else str(r["exit_code"]),
                     str(r.get("pending") or 0), run_outcome(r)))
    if out.is_terminal:
        table = Table(title="session-import runs, newest first")
        for name in columns:
            table.add_column(name, no_wrap=name in ("id", "file", "started"))
        for row in rows:
            table.add_row(*_cells(*row))
        out.print(table)
        return
    for row in rows:  # the tabs separate the columns: only the cells are made safe
        out.file.write("\t".join(terminal_safe(cell) for cell in row) + "\n")


def journal_line(view: dict) -> str:
    """``line 3: session GUID (title) updated: status: open -> closed; ...``"""
    who = view["guid"] or str(view["id"])
    label = view.get(_LABELS.get(view["table"], ""))
    if view["table"] == "sessions":
        who = f"session {who}" + (f" ({label})" if label else "")
    else:
        who = f"{_KIND.get(view['table'], view['table'])} {label or who}"
    return f"line {view['line']}: {who} {view['done']}: {_field_changes(view['fields'], '; ')}"


def render_journal(run_id: int, views: Iterable[dict], out: Console) -> None:
    """A run's journal, one line per change, written as it is read (a run may hold millions)."""
    empty = True
    for view in views:
        empty = False
        _say(out, journal_line(view))
    if empty:
        _say(out, ViewMsg.NOTHING_CHANGED.format(run_id=run_id))
