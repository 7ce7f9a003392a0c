"""The report of a run: counts, rejected rows, warnings, the exit code, and its views.

Views compute nothing: the terminal summary, the JSON report and the rejects CSV
are renderings of one ``Report``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path

from rich.console import Console
from rich.table import Table

from session_import.reader import neutralise_formula


class ExitCode(IntEnum):
    OK = 0  # every row applied (warnings allowed), or an empty file
    PARTIAL = 1  # some rows rejected, the others applied
    USAGE = 2  # command-line usage error
    FILE_FAILED = 3  # a file failed as a whole, or every one of its rows was rejected
    CONFIG_INVALID = 4  # the configuration is invalid; nothing was run
    STORE_UNAVAILABLE = 5  # the store cannot be opened, or another import holds the lock
    PUBLISH_PENDING = 6  # applied to the store, some changes not yet delivered to a remote LMS
    SIGINT = 130
    SIGTERM = 143


# how bad each code is, for the worst of several files
_SEVERITY = [ExitCode.OK, ExitCode.PUBLISH_PENDING, ExitCode.PARTIAL, ExitCode.FILE_FAILED,
             ExitCode.CONFIG_INVALID, ExitCode.STORE_UNAVAILABLE, ExitCode.SIGINT, ExitCode.SIGTERM]


def worst(codes) -> ExitCode:
    return max((ExitCode(c) for c in codes), key=_SEVERITY.index, default=ExitCode.OK)


COUNT_NAMES = ("rows", "created", "updated", "unchanged", "cancelled", "rejected", "warnings")


@dataclass
class RejectedRow:
    line: int
    values: dict[str, str]
    messages: list[str]
    cells: list[str]


@dataclass
class FileReport:
    file: str
    import_id: str
    action: str
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_NAMES, 0))
    rejected: list[RejectedRow] = field(default_factory=list)
    warnings: list[tuple[int, list[str]]] = field(default_factory=list)
    changes: list[dict] = field(default_factory=list)  # --diff: {"line", "guid", "fields"}
    keep_changes: bool = False  # only --diff keeps them: memory must not grow with the file
    error: str | None = None  # the file failed as a whole
    email: dict | None = None  # {"sent": bool, "error": str | None} when an emailReport ran
    warning_cells: dict[int, list[str]] = field(default_factory=dict)  # raw cells of warned rows
    run_id: int | None = None  # the run recorded in the store for this file
    seconds: float = 0.0
    # how the input was written, for a rejects file that re-imports as it is
    header: list[str] | None = None
    delimiter: str = ";"
    encoding: str = "utf-8"
    # publisher -> {"published", "rejected", "pending", "skipped"} for this file's changes
    publishers: dict[str, dict[str, int]] = field(default_factory=dict)
    # a report of what was delivered now for a file imported by an earlier run
    earlier_run: bool = False
    delivered_lines: set = field(default_factory=set)  # earlier run: lines counted already

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

    def add_delivery(self, publisher: str, delivered) -> None:
        """What a publisher did with this file's changes: counts, and each remote rejection
        turns its row (applied locally) into a rejected row with the service's message."""
        counts = self.publishers.setdefault(publisher, dict.fromkeys(delivered.counts, 0))
        for state, n in delivered.counts.items():
            # pending is what waits now; the others add up over the deliveries of a command
            counts[state] = n if state == "pending" else counts.get(state, 0) + n
        by_line = {r.line: r for r in self.rejected}
        for line, row, message, kind in delivered.rejected:
            known = by_line.get(line)
            if known is not None:
                known.messages.append(message)
                continue
            row = row or {}
            by_line[line] = RejectedRow(line, row.get("values", {}), [message], row.get("cells", []))
            self.rejected.append(by_line[line])
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

    def add_warning(self, line: int, messages: list[str]) -> None:
        self.warnings.append((line, messages))
        self.counts["warnings"] += len(messages)

    def fail(self, message: str) -> None:
        """The file failed as a whole: nothing of it was applied."""
        self.error = message
        self.counts = dict.fromkeys(COUNT_NAMES, 0)
        self.rejected.clear()
        self.changes.clear()
        # nothing was applied: the rows' warnings no longer hold; the file's own (a header
        # without an optional column) still do
        self.warnings = [(line, m) for line, m in self.warnings if line not in self.warning_cells]
        self.warning_cells.clear()
        self.counts["warnings"] = sum(len(m) for _, m in self.warnings)

    def to_json(self, diff: bool) -> dict:
        out = {
            "file": self.file,
            "import": self.import_id,
            "action": self.action,
            "counts": dict(self.counts),
            "rejected": [
                {"line": r.line, "values": r.values, "messages": r.messages} for r in self.rejected
            ],
            "warnings": [{"line": line, "messages": msgs} for line, msgs in self.warnings],
        }
        if self.error is not None:
            out["error"] = self.error
        if self.email is not None:
            out["email"] = self.email
        if self.publishers:
            out["publishers"] = self.publishers
        if self.earlier_run:
            out["earlier_run"] = True
        if diff:
            out["changes"] = self.changes
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

    @property
    def exit_code(self) -> ExitCode:
        if self.exit_override is not None:
            return self.exit_override
        return worst(f.exit_code for f in self.files)

    def to_json(self) -> dict:
        out = {
            "dry_run": self.dry_run,
            "files": [f.to_json(self.diff) for f in self.files],
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


class OutputError(Exception):
    """A report or rejects file could not be written."""


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


def write_json_report(report: Report, path: Path) -> None:
    _atomic_write(path, lambda h: json.dump(report.to_json(), h, indent=2, ensure_ascii=False))


def rejects_paths(report: Report, path: Path) -> dict[str, Path]:
    """Data file -> its rejects file: ``path`` itself, or one per data file when several have rejects."""
    files = list(dict.fromkeys(f.file for f in report.files if f.rejected))
    path = Path(path)
    if len(files) <= 1:
        return {name: path for name in files}
    return {name: path.with_name(f"{path.stem}-{Path(name).stem}{path.suffix}") for name in files}


def rejects_csv(report: Report, file: str) -> str:
    """The rejected rows of one data file in its own delimiter and header, plus ``errors``.

    A row rejected by several actions of one import is written once, with all
    its messages. Formula-like cells are neutralised so a spreadsheet never runs them.
    """
    parts = [f for f in report.files if f.file == file and f.rejected]
    first = parts[0]
    rows: dict[int, RejectedRow] = {}
    for part in parts:
        for row in part.rejected:
            if row.line in rows:
                rows[row.line].messages.extend(row.messages)
            else:
                rows[row.line] = RejectedRow(row.line, row.values, list(row.messages), row.cells)
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=first.delimiter, lineterminator="\r\n")
    if first.header is not None:
        writer.writerow([neutralise_formula(c) for c in first.header] + ["errors"])
    for line in sorted(rows):
        row = rows[line]
        writer.writerow(
            [neutralise_formula(c) for c in row.cells] + [neutralise_formula(" ".join(row.messages))]
        )
    return buffer.getvalue()


def write_rejects(report: Report, path: Path) -> list[Path]:
    """One rejects file per data file that has rejected rows (see ``rejects_paths``)."""
    written = []
    for name, target in rejects_paths(report, path).items():
        encoding = next(f.encoding for f in report.files if f.file == name)
        text = rejects_csv(report, name)
        _atomic_write(target, lambda handle, text=text: handle.write(text), encoding)
        written.append(target)
    return written


# ---- terminal ----


def _summary_line(f: FileReport) -> str:
    c = f.counts
    return (
        f"{f.file} [{f.import_id}, {f.action}]: {c['rows']} rows: {c['created']} created, "
        f"{c['updated']} updated, {c['unchanged']} unchanged, {c['cancelled']} cancelled, "
        f"{c['rejected']} rejected, {c['warnings']} warnings"
    )


def render(report: Report, out: Console, err: Console, *, quiet: bool = False, verbose: bool = False) -> None:
    """Write the report: a table on a terminal, plain lines when piped, only errors when quiet."""
    for notice in report.notices:
        if not quiet:
            out.print(notice, highlight=False, markup=False, soft_wrap=True)
    prefix = "[dry run] " if report.dry_run else ""
    # a file that failed as a whole with no row counted: its error says it all, not a row of zeros
    counted = [f for f in report.files if f.error is None or f.counts["rows"]]
    if not quiet and counted:
        if out.is_terminal:
            table = Table(title=f"{prefix}session-import", show_lines=False)
            table.add_column("file")
            table.add_column("import / action")
            for name in COUNT_NAMES:
                table.add_column(name, justify="right")
            for f in counted:
                counts = [str(f.counts[n]) for n in COUNT_NAMES]
                table.add_row(f.file, f"{f.import_id} / {f.action}", *counts)
            out.print(table)
        else:
            for f in counted:
                out.print(prefix + _summary_line(f), highlight=False, markup=False, soft_wrap=True)
    if not quiet:
        for f in report.files:
            for publisher, counts in f.publishers.items():
                said = ", ".join(f"{n} {state}" for state, n in counts.items())
                earlier = f" (run {f.run_id})" if f.earlier_run else ""
                out.print(f"{prefix}{f.file}{earlier}: {publisher}: {said}",
                          highlight=False, markup=False, soft_wrap=True)
    for problem in report.publish_errors:
        err.print(problem, highlight=False, markup=False, soft_wrap=True)
    if verbose and not quiet:
        for f in report.files:
            rate = f.counts["rows"] / f.seconds if f.seconds else 0.0
            out.print(f"{f.file}: run {f.run_id}, {f.seconds:.2f} s, {rate:.0f} rows/s",
                      highlight=False, markup=False, soft_wrap=True)
    for failure in report.consolidators:
        if failure.name == "emailReport" and any(f.email for f in report.files if f.file == failure.file):
            continue  # said once below, with the file's e-mail status
        err.print(f"{failure.file}: {failure.name}: {failure.error}",
                  highlight=False, markup=False, soft_wrap=True)
    for f in report.files:
        if f.error is not None:
            err.print(f"{f.file}: {f.error}" if not f.error.startswith(f.file) else f.error,
                      highlight=False, markup=False, soft_wrap=True)
        for row in f.rejected:
            err.print(f"{f.file}:{row.line}: " + " ".join(row.messages),
                      highlight=False, markup=False, soft_wrap=True)
        if not quiet:
            for line, messages in f.warnings:
                out.print(f"{f.file}:{line}: warning: " + " ".join(messages),
                          highlight=False, markup=False, soft_wrap=True)
        if f.email is not None and not f.email["sent"]:
            err.print(f"{f.file}: the e-mail report was not sent: {f.email['error']}",
                      highlight=False, markup=False, soft_wrap=True)
        if report.diff and not quiet:
            for change in f.changes:
                fields = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in change["fields"].items())
                out.print(f"{f.file}:{change['line']}: {change['guid']} {fields}",
                          highlight=False, markup=False, soft_wrap=True)


# ---- history ----

_DONE = {"create": "created", "update": "updated", "delete": "cancelled"}


def journal_view(entry: dict) -> dict:
    """One journal entry as a user reads it: the fields that changed, before and after."""
    before, after = entry["before"] or {}, entry["after"] or {}
    names = [k for k in (after or before) if k != "id"]
    fields = {k: [before.get(k), after.get(k)] for k in names if before.get(k) != after.get(k)}
    return {
        "line": entry["line"],
        "table": entry["table"],
        "guid": entry["guid"],
        "id": entry["id"],
        "done": _DONE[entry["op"]] if entry["table"] == "sessions" else entry["op"] + "d",
        "fields": fields,
    }


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
            table.add_row(*row)
        out.print(table)
        return
    for row in rows:
        out.print("\t".join(row), highlight=False, markup=False, soft_wrap=True)


def render_journal(run_id: int, entries: list[dict], out: Console) -> None:
    if not entries:
        out.print(f"Run {run_id} changed nothing.", highlight=False)
        return
    rows = []
    for e in entries:
        fields = "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in e["fields"].items())
        rows.append((str(e["line"]), e["guid"] or f"{e['table']} {e['id']}", e["done"], fields))
    if out.is_terminal:
        table = Table(title=f"run {run_id}: one line per change")
        for name in ("line", "record", "done", "before -> after"):
            table.add_column(name)
        for row in rows:
            table.add_row(*row)
        out.print(table)
        return
    for line, who, done, fields in rows:
        out.print(f"line {line}: {who} {done}: {fields}", highlight=False, markup=False, soft_wrap=True)
