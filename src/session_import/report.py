"""The report of a run: counts, rejected rows, warnings and the exit code.

Views compute nothing: the terminal summary (render.py), the JSON report and the
rejects CSV (outputs.py) are renderings of one ``Report``. Rejected rows, warnings and
--diff changes can be as many as the file's rows: they are kept on disk
(spool.SpooledList) and every view reads them as a stream, so memory does not grow
with the number of problems. A FileReport's fields change only through its methods.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import TYPE_CHECKING

from session_import.errors import ExitCode, worst
from session_import.model import RowKind, RowOutcome
from session_import.spool import SpooledList

if TYPE_CHECKING:
    from session_import.pages.startdates import StartDates

COUNT_NAMES = ("rows", "created", "updated", "unchanged", "cancelled", "rejected", "warnings")


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
        entry = (change["line"], change.get("guid"), change.get("title"), change["fields"])
        self._entries.append(entry)

    def __iter__(self) -> Iterator[dict]:
        return (
            {"line": line, "guid": guid, "fields": fields}
            for line, guid, _, fields in self._entries
        )

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
    start_dates: StartDates | None = (
        None  # a session file's rows by start day, for the page's chart
    )
    held: bool = False  # refused by a safety limit and held for approval (<onLimit>hold)
    # a snapshot feed's sessions that no row matched, cancelled (counted in "cancelled")
    missing_cancelled: int | None = None
    # of the unchanged rows, those counted by their digest without being resolved again
    by_digest: int = 0

    @property
    def exit_code(self) -> ExitCode:
        if self.held:
            return ExitCode.HELD
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
            values, cells = row.get("values", {}), row.get("cells", [])
            self.rejected.append(RejectedRow(line, values, [message], cells))
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

    def read_as(
        self, header: list[str] | None, delimiter: str, encoding: str, newline: str
    ) -> None:
        """How the input is written, so that its rejects file re-imports as it is."""
        self.header = header
        self.delimiter = delimiter
        self.encoding = encoding
        self.newline = newline

    def count(self, outcome: RowOutcome, cells: list[str], values: dict[str, str]) -> None:
        """One row's outcome: its count, and its rejection, warnings and --diff change
        (``values`` copied only for a rejected row: most rows keep nothing)."""
        counts = self.counts
        counts["rows"] += 1
        if not outcome.issues:
            counts[outcome.kind] += 1
            if outcome.diff and self.keep_changes:
                self.changes.append(_change(outcome))
            return
        errors = [i.text for i in outcome.issues if not i.warning]
        warnings = [i.text for i in outcome.issues if i.warning]
        if outcome.kind == RowKind.REJECTED:
            counts["rejected"] += 1
            self.rejected.append(RejectedRow(outcome.line, dict(values), errors, list(cells)))
        else:
            counts[outcome.kind] += 1
        if warnings:
            self.add_warning(outcome.line, warnings, list(cells))
        if outcome.kind == RowKind.UPDATED and outcome.diff and self.keep_changes:
            self.changes.append(_change(outcome))

    def count_by_digest(self) -> None:
        """A row counted unchanged by its digest (session_import.digests): no issue, no change."""
        counts = self.counts
        counts["rows"] += 1
        counts["unchanged"] += 1
        self.by_digest += 1

    def cancelled_missing(self, count: int) -> None:
        """A snapshot feed cancelled ``count`` sessions that no row of the file matched."""
        self.missing_cancelled = count
        self.counts["cancelled"] += count

    def add_warning(self, line: int, messages: list[str], cells: list[str] | None = None) -> None:
        """A warning; ``cells`` are the raw cells of the row it is about (None: the file's own)."""
        self.warnings.append(line, messages, cells)
        self.counts["warnings"] += len(messages)

    def fail(self, message: str) -> None:
        """The file failed as a whole (unreadable, a mandatory column missing): nothing of it
        was applied, and what its rows gave so far means nothing."""
        self.error = message
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.by_digest = 0
        self.rejected.clear()
        self.changes.clear()
        # the rows' warnings no longer hold; the file's own (a header without an optional
        # column) still do
        kept = [
            (line, messages)
            for line, messages, cells in self.warnings.with_cells()
            if cells is None
        ]
        self.warnings = Warnings()
        for line, messages in kept:
            self.add_warning(line, messages)

    def refuse(self, message: str) -> None:
        """A safety limit stopped the file: nothing of it was applied, but its counts,
        rejected rows and warnings stay, as what it would have given, so that they say why."""
        self.error = message
        self.refused = True

    def finish(self, run_id: int, seconds: float) -> None:
        """The run recorded for the file, and how long the file took."""
        self.run_id = run_id
        self.seconds = seconds

    def emailed(self, sent: bool, error: str | None) -> None:
        """What the emailReport consolidator did (never the password)."""
        self.email = {"sent": sent, "error": error}

    def flush(self) -> None:
        """Write to disk what is still held in memory: a finished file keeps nothing there."""
        for kept in (self.rejected, self.warnings, self.changes):
            kept.flush()

    def to_json(self, diff: bool, *, streamed: bool = False) -> dict:
        """The file's part of the JSON report; ``streamed``: its lists as iterators, for
        ``write_json_report``, which writes them item by item."""
        rejected = (
            {"line": r.line, "values": r.values, "messages": r.messages} for r in self.rejected
        )
        warnings = ({"line": line, "messages": msgs} for line, msgs in self.warnings)
        out: dict[str, object] = {
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
        if self.held:
            out["held"] = True
        if self.missing_cancelled is not None:
            out["missing_cancelled"] = self.missing_cancelled
        if self.by_digest:
            out["unchanged_by_digest"] = self.by_digest
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


def _change(outcome: RowOutcome) -> dict:
    return {
        "line": outcome.line,
        "guid": outcome.guid,
        "title": outcome.title,
        "fields": outcome.diff,
    }
