"""run_import: read, map, validate, resolve, store, report, for every file of every import."""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from itertools import islice
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol, TypeVar

from session_import.catalog import ENTITY_ACTION, LEARNER_ACTION, SESSION_ACTION, TRAINING_ACTION
from session_import.config import (
    ActionConfig,
    Config,
    ImportConfig,
    ProviderConfig,
    SnapshotConfig,
)
from session_import.consolidators import run_consolidators
from session_import.dates import compile_date_format
from session_import.digests import DigestGate
from session_import.errors import ExitCode, SessionImportError, worst
from session_import.limits import (
    SNAPSHOT_MAX_CANCEL,
    Limit,
    cancels_exceeded,
    parse_limit,
    rejects_exceeded,
)
from session_import.mapping import ColumnMap, FileLayoutError, build_column_map
from session_import.messages import Issue
from session_import.model import ChangeOp, RecordOp, RowKind, RowOutcome
from session_import.pages import StartDates
from session_import.paths import RunPathMsg, leads_outside
from session_import.publishers import deliver, make_clients
from session_import.reference import EntityResolver, LearnerResolver, TrainingResolver
from session_import.report import FileReport, RejectedRow, Report
from session_import.resolve import SessionResolver
from session_import.sources import DataFile, DataFileError, open_data_file, rejects_layout
from session_import.store import StoreError, StoreInterface
from session_import.validate import (
    session_validator,
    validate_entity,
    validate_learner,
    validate_training,
)
from session_import.watch.events import Event, EventName, Observer, file_ended

CHUNK_ROWS = 5000
BACKUP = "moveToBackupConsolidator"
DELETE = "deleteProcessedFilesConsolidator"

_T = TypeVar("_T")


class UsageError(SessionImportError):
    """The command line asks for something the configuration cannot do (exit 2)."""

    exit_code = ExitCode.USAGE


class RunMsg(StrEnum):
    NO_PROVIDER = (
        "import {import_id} has no <fileSystemSourceProvider>; give the data file on the command"
        " line."
    )
    NO_MATCH = "No file matches {pattern} in {folder}."
    DATA_NEEDS_ONE = (
        "{config} has {count} imports; data files on the command line need a configuration with"
        " exactly one import."
    )
    ALREADY_IMPORTED = (
        "File {file} was already imported by run {run} on {when}; skipped (use --force to"
        " import it again)."
    )
    ALREADY_IMPORTED_DUE_RAN = (
        "File {file} was already imported by run {run} on {when}; skipped (use --force to"
        " import it again). That run was stopped before its consolidators: {names} ran now."
    )
    ALREADY_IMPORTED_DUE_LEFT = (
        "File {file} was already imported by run {run} on {when}; skipped (use --force to"
        " import it again). That run was stopped before its consolidators: {names} are still"
        " due; the next run that is not a dry run completes them."
    )
    DUE_RAN = "Run {run} ({file}) was stopped before its consolidators: {names} ran now."
    DUE_LEFT = (
        "Run {run} ({file}) was stopped before its consolidators: {names} are still due; the"
        " next run that is not a dry run completes them."
    )
    DUE_FILE_CHANGED = (
        "Run {run}: {file} is no longer as that run imported it (moved, deleted or replaced"
        " since), so {names} was not done for it."
    )
    # a command stopped by a signal or by a failing store: what is true of the files
    INTERRUPTED = "Interrupted by {signal}"
    STORE_FAILED = "The store {db} failed ({error})"
    ROLLED_BACK = (
        "{cause}: the file being applied ({file}) was rolled back; nothing of it was written."
    )
    AFTER_COMMIT = "{cause} after {file} was committed as run {run}: {left}."
    AFTER_COMMIT_UNKNOWN = (
        "{cause} after {file} was committed as run {run}; the next run completes what is left"
        " of it (publishing, consolidators)."
    )
    STILL_TO_PUBLISH = "{count} changes still to publish (the next run or publish delivers them)"
    STILL_DUE = "its consolidators {names} are still due (the next run completes them)"
    HELD = (
        "{file} is held for approval as run {run}: `session-import approve {run}` applies it"
        " as it is, `session-import discard {run}` drops it."
    )
    WOULD_HOLD = "{file} would be held for approval (a dry run keeps nothing)."
    NO_FILE = "{cause}: no file was being applied."
    NO_FILE_PENDING = (
        "{cause}: no file was being applied; {count} changes still to publish (the next run or"
        " publish delivers them)."
    )


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    diff: bool = False
    force: bool = False
    max_rejects: Limit | None = None  # from the command line; else the import's <safety>
    max_cancel: Limit | None = None
    on_limit: str | None = None  # "fail" or "hold", from the command line; else <safety>
    # the configuration's file: a held run keeps it (and its SHA-256) for its approval
    config_path: Path | None = None
    chunk_rows: int = CHUNK_ROWS
    # every row validated and resolved, the import's digests read by none (they are still
    # written): --resolve-all
    resolve_all: bool = False
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC).astimezone())
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))  # SMTP settings
    # called when a file's action starts and after each chunk with (file, action, rows done so
    # far, bytes of the file read, the file's size); the CLI draws a progress bar
    on_progress: Callable[[str, str, int, int, int], None] | None = None
    publish_timeout: float = 15 * 60  # seconds a run may spend delivering to remote LMSs
    # called before a publisher waits (rate limit, lock) with (why, seconds)
    on_wait: Callable[[str, float], None] | None = None
    # called with each event of the run (file started and ended, rejected rows, deliveries...)
    on_event: Observer | None = None

    def emit(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)


# what the provider listed is the import's to move or delete; a file named on the command
# line is the caller's (a corrected rejects file imported by hand must not vanish)
_LISTED_ONLY = ("moveToBackupConsolidator", "deleteProcessedFilesConsolidator")


def data_files(imp: ImportConfig, given: list[Path]) -> tuple[list[Path], str | None]:
    """The files an import reads, and a notice when its glob matched nothing."""
    if given:
        return list(given), None
    provider = imp.provider
    if provider is None or provider.file_name is None:
        raise UsageError(RunMsg.NO_PROVIDER.format(import_id=imp.id))
    files = sorted(p for p in provider.path.glob(provider.file_name) if p.is_file())
    if not files:
        return [], RunMsg.NO_MATCH.format(pattern=provider.file_name, folder=provider.path)
    return files, None


def run_import(
    config: Config,
    store: StoreInterface,
    given: list[Path] | None = None,
    options: RunOptions = RunOptions(),
    report: Report | None = None,
) -> Report:
    """Run every import of ``config``; DATA files replace the provider's (one import only).

    ``report`` (the caller's, so that it still holds what was done when a signal or a
    failing store stops the run) receives the outcome.
    """
    given = [Path(p) for p in given or []]
    if given and len(config.imports) != 1:
        raise UsageError(
            RunMsg.DATA_NEEDS_ONE.format(config=config.path, count=len(config.imports))
        )
    report = report if report is not None else Report(dry_run=options.dry_run, diff=options.diff)
    if options.config_path is None:
        options = dataclasses.replace(options, config_path=config.path)
    started = time.monotonic()
    budget = _PublishBudget(options.publish_timeout)
    for imp in config.imports:
        files, notice = data_files(imp, given)
        if notice:
            # (only a provider's glob that matched nothing gives a notice)
            assert imp.provider is not None and imp.provider.file_name is not None
            report.notices.append(notice)
            store.record_night(
                imp.id,
                "no_file",
                str(imp.provider.path / imp.provider.file_name),
                options.clock().isoformat(timespec="seconds"),
                options.dry_run,
                reason=notice,
            )
            options.emit(Event(EventName.NO_FILE, "warning", imp.id, fields={"message": notice}))
        provider = imp.provider or ProviderConfig.command_line(config.path.parent)
        publishing = bool(imp.publishers) and not options.dry_run
        delivered = False
        # files named on the command line are the caller's: never moved or deleted
        consolidating = (
            imp
            if not given
            else dataclasses.replace(
                imp, consolidators=tuple(c for c in imp.consolidators if c.name not in _LISTED_ONLY)
            )
        )
        # consolidators that runs stopped after their commit left undone: run id -> what is due
        due = {d["run_id"]: d for d in store.due_consolidators(imp.id)}
        for path in files:
            options.emit(Event(EventName.FILE_STARTED, import_id=imp.id, file=str(path)))
            file_reports = import_file(
                consolidating, provider, path, store, options, report, listed=not given, due=due
            )
            store.checkpoint()
            for event in file_ended(file_reports):
                options.emit(event)
            report.files.extend(file_reports)
            if publishing and any(r.run_id for r in file_reports):
                publish_import(imp, store, report, options, budget)
                delivered = True
            if file_reports and not options.dry_run:
                failures = _consolidate(consolidating, store, path, file_reports, options)
                report.consolidators.extend(failures)
                _emit_consolidators(options, consolidating, path, file_reports, failures)
        for left in due.values():  # runs whose file is not among tonight's
            if options.dry_run:
                report.notices.append(
                    RunMsg.DUE_LEFT.format(
                        run=left["run_id"], file=left["file"], names=", ".join(left["names"])
                    )
                )
                continue
            names = _complete_due(imp, store, report, left, options)
            if names:
                report.notices.append(
                    RunMsg.DUE_RAN.format(
                        run=left["run_id"], file=left["file"], names=", ".join(names)
                    )
                )
        if publishing and not delivered:  # nothing new tonight: what earlier runs left
            publish_import(imp, store, report, options, budget)
    report.seconds = time.monotonic() - started
    return report


def _consolidate(
    imp: ImportConfig,
    store: StoreInterface,
    path: Path,
    reports: list[FileReport],
    options: RunOptions,
) -> list:
    """The import's consolidators over one file; a committed file's list of those still due
    shrinks as each one runs."""
    run_id = reports[0].run_id
    assert run_id is not None  # (the reports are those of a finished run)

    def done(name: str, backup: str | None) -> None:
        store.consolidator_done(run_id, name, backup)

    committed = all(r.error is None for r in reports)
    return run_consolidators(
        imp, path, reports, options.clock(), options.environ, on_done=done if committed else None
    )


def _enabled_consolidators(imp: ImportConfig) -> list[str]:
    return [c.name for c in imp.consolidators if not c.disabled]


def _due_reports(reports: list[FileReport]) -> str:
    """What the consolidators report on, as JSON, kept with a committed file's due list;
    its rejected rows and warnings go beside it, a row each (``_due_rows``)."""
    return json.dumps(
        [
            {
                "file": r.file,
                "import": r.import_id,
                "action": r.action,
                "counts": r.counts,
                "header": r.header,
                "delimiter": r.delimiter,
                "encoding": r.encoding,
                "newline": r.newline,
            }
            for r in reports
        ],
        ensure_ascii=False,
    )


def _due_rows(reports: list[FileReport]) -> Iterator[tuple[int, str, str]]:
    encode = json.JSONEncoder(ensure_ascii=False).encode
    for i, r in enumerate(reports):
        for row in r.rejected:
            yield i, "rejected", encode([row.line, row.values, row.messages, row.cells])
        for line, messages, cells in r.warnings.with_cells():
            yield i, "warning", encode([line, messages, cells])


def _reports_of_due(store: StoreInterface, text: str, run_id: int) -> list[FileReport]:
    reports = []
    for i, r in enumerate(json.loads(text)):
        report = FileReport(
            r["file"],
            r["import"],
            r["action"],
            counts=r["counts"],
            run_id=run_id,
            header=r["header"],
            delimiter=r["delimiter"],
            encoding=r["encoding"],
            newline=r["newline"],
        )
        for entry in store.due_rows(run_id, i, "rejected"):
            report.rejected.append(RejectedRow(*json.loads(entry)))
        for entry in store.due_rows(run_id, i, "warning"):
            line, messages, cells = json.loads(entry)
            report.warnings.append(line, messages, cells)
        report.flush()
        reports.append(report)
    return reports


def _complete_due(
    imp: ImportConfig, store: StoreInterface, report: Report, due: dict, options: RunOptions
) -> list[str]:
    """Run the consolidators a stopped run left, on what it reported; the names that ran.

    The backup and the delete act on the data file: only when it is still the one the run
    imported (same place, same SHA-256), never on a file that replaced it.
    """
    run_id, path = due["run_id"], Path(due["file"])
    names = [n for n in _enabled_consolidators(imp) if n in due["names"]]
    if {BACKUP, DELETE} & set(names) and file_sha256(path) != due["sha256"]:
        still_there = path.exists()
        unmet = [
            n
            for n in names
            if n == BACKUP or (n == DELETE and still_there and due["backup"] in (None, "copied"))
        ]
        if unmet:
            report.notices.append(
                RunMsg.DUE_FILE_CHANGED.format(run=run_id, file=path, names=" and ".join(unmet))
            )
        names = [n for n in names if n not in (BACKUP, DELETE)]
    if names:
        report.consolidators.extend(
            run_consolidators(
                imp,
                path,
                _reports_of_due(store, due["reports"], run_id),
                datetime.fromisoformat(due["stamp"]),
                options.environ,
                due=names,
                backup=due["backup"],
                on_done=lambda name, backup: store.consolidator_done(run_id, name, backup),
            )
        )
    with store.transaction():
        store.drop_due_consolidators([run_id])
    return names


def stop_explained(
    report: Report,
    store: StoreInterface,
    cause: str,
    import_ids: list[str],
    plain: str | None = None,
) -> list[str]:
    """What a command stopped by a signal or a failing store leaves behind, truly: the file
    being applied was rolled back; a file committed before has changes still to publish or
    consolidators still due, which the next run completes. ``plain`` is said instead when
    no committed file has work left (a busy store's own message says it all)."""
    lines = _stop_lines(report, store, cause, import_ids)
    if plain is not None and not any(line.startswith(f"{cause} after ") for line in lines):
        return [plain]
    return lines


def _stop_lines(
    report: Report, store: StoreInterface, cause: str, import_ids: list[str]
) -> list[str]:
    committed: dict[int, str] = {}
    if not report.dry_run:
        committed = {
            r.run_id: r.file
            for r in report.files
            if r.run_id is not None and not r.earlier_run and r.error is None
        }
    try:
        if report.applying is not None:
            file, run_id = report.applying
            if run_id is None or not store.committed(run_id):
                return [RunMsg.ROLLED_BACK.format(cause=cause, file=file)]
            committed[run_id] = file  # the signal came just after its commit
        lines = []
        pending = store.pending_of_runs(committed)
        for run_id, file in committed.items():
            left = []
            if pending.get(run_id):
                left.append(RunMsg.STILL_TO_PUBLISH.format(count=pending[run_id]))
            names = store.due_names(run_id)
            if names:
                left.append(RunMsg.STILL_DUE.format(names=", ".join(names)))
            if left:
                lines.append(
                    RunMsg.AFTER_COMMIT.format(
                        cause=cause, file=file, run=run_id, left="; ".join(left)
                    )
                )
        if lines:
            return lines
        count = store.pending_of_imports(import_ids)
    except StoreError:  # the store cannot even be read: what is known without it
        if report.applying is not None and report.applying[1] is None:
            return [RunMsg.ROLLED_BACK.format(cause=cause, file=report.applying[0])]
        if committed:
            run_id, file = max(committed.items())
            return [RunMsg.AFTER_COMMIT_UNKNOWN.format(cause=cause, file=file, run=run_id)]
        return [RunMsg.NO_FILE.format(cause=cause)]
    if count:
        return [RunMsg.NO_FILE_PENDING.format(cause=cause, count=count)]
    return [RunMsg.NO_FILE.format(cause=cause)]


def _emit_consolidators(
    options: RunOptions, imp: ImportConfig, path: Path, reports: list[FileReport], failures
) -> None:
    failed = {f.name: f.error for f in failures}
    run_id = reports[0].run_id
    for consolidator in imp.consolidators:
        if consolidator.disabled:
            continue
        error = failed.get(consolidator.name)
        fields = {"consolidator": consolidator.name, "ok": error is None}
        if error is not None:
            fields["error"] = error
        options.emit(
            Event(
                EventName.CONSOLIDATOR,
                "info" if error is None else "error",
                imp.id,
                str(path),
                run_id,
                fields,
            )
        )


class _PublishBudget:
    """--publish-timeout: the seconds a command may spend delivering, whatever its
    imports took; each delivery uses up what it spends."""

    def __init__(self, seconds: float):
        self.left = seconds

    def deliver(self, work: Callable[[float], _T]) -> _T:
        started = time.monotonic()
        try:
            return work(started + max(self.left, 0.0))
        finally:
            self.left -= time.monotonic() - started


def publish_pending(
    config: Config,
    store: StoreInterface,
    options: RunOptions = RunOptions(),
    report: Report | None = None,
) -> Report:
    """The `publish` command: deliver what every import of ``config`` has queued."""
    report = report if report is not None else Report()
    started = time.monotonic()
    budget = _PublishBudget(options.publish_timeout)
    for imp in config.imports:
        if imp.publishers:
            publish_import(imp, store, report, options, budget)
    report.seconds = time.monotonic() - started
    return report


def publish_import(
    imp: ImportConfig,
    store: StoreInterface,
    report: Report,
    options: RunOptions,
    budget: _PublishBudget,
) -> None:
    """Deliver what the import has queued (this file's changes and any left from earlier
    runs) and put the outcome in the reports of the runs that made the changes."""
    clients = make_clients(imp, options.environ)
    try:
        result = budget.deliver(
            lambda deadline: deliver(
                store,
                imp.id,
                clients,
                deadline=deadline,
                on_wait=options.on_wait,
                wall_clock=lambda: options.clock().timestamp(),
            )
        )
    finally:
        for client in clients:
            client.close()
    for message in result.errors:
        if message not in report.publish_errors:
            report.publish_errors.append(message)
        options.emit(Event(EventName.DELIVERY_ERROR, "error", imp.id, fields={"message": message}))
    for publisher, runs in result.runs.items():
        for run_id, delivered in runs.items():
            file_report = _report_of_run(report, store, run_id)
            file_report.add_delivery(publisher, delivered)
            level = (
                "warning"
                if delivered.counts.get("pending") or delivered.counts.get("rejected")
                else "info"
            )
            options.emit(
                Event(
                    EventName.DELIVERY,
                    level,
                    imp.id,
                    file_report.file,
                    run_id,
                    {"publisher": publisher, "counts": dict(delivered.counts)},
                )
            )


def _report_of_run(report: Report, store: StoreInterface, run_id: int) -> FileReport:
    for file_report in report.files:
        if file_report.run_id == run_id and file_report.action == SESSION_ACTION:
            return file_report
    recorded = store.run_file(run_id)
    assert recorded is not None  # (a queued change belongs to a recorded run)
    import_id, _, file = recorded
    file_report = FileReport(file, import_id, SESSION_ACTION, run_id=run_id, earlier_run=True)
    report.files.append(file_report)
    return file_report


def file_sha256(path: Path) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    except OSError:
        return None  # the reader reports why the file cannot be read
    return digest.hexdigest()


def _limits(imp: ImportConfig, options: RunOptions) -> tuple[Limit | None, Limit | None]:
    rejects = options.max_rejects or (
        parse_limit(imp.safety.max_rejects) if imp.safety.max_rejects else None
    )
    cancel = options.max_cancel or (
        parse_limit(imp.safety.max_cancel) if imp.safety.max_cancel else None
    )
    if cancel is None and any(a.snapshot is not None for a in imp.actions):
        cancel = parse_limit(SNAPSHOT_MAX_CANCEL)
    return rejects, cancel


def _skip_applied(
    imp: ImportConfig,
    path: Path,
    sha256: str,
    store: StoreInterface,
    options: RunOptions,
    report: Report,
    due: dict[int, dict],
) -> bool:
    """Whether the file was already imported: then it is recorded as skipped, and the
    consolidators its earlier run left due are completed (or named, on a dry run)."""
    applied = store.applied_run(imp.id, sha256)
    if not applied:
        return False
    run_id, when = applied
    left = due.pop(run_id, None)
    notice = RunMsg.ALREADY_IMPORTED.format(file=path, run=run_id, when=when)
    if left is not None and options.dry_run:
        notice = RunMsg.ALREADY_IMPORTED_DUE_LEFT.format(
            file=path, run=run_id, when=when, names=", ".join(left["names"])
        )
    elif left is not None:
        names = _complete_due(imp, store, report, left, options)
        if names:  # (none when the configuration no longer has them)
            notice = RunMsg.ALREADY_IMPORTED_DUE_RAN.format(
                file=path, run=run_id, when=when, names=", ".join(names)
            )
    report.notices.append(notice)
    skip = store.record_night(
        imp.id,
        "skip",
        str(path),
        options.clock().isoformat(timespec="seconds"),
        options.dry_run,
        action=",".join(a.name for a in imp.actions),
        sha256=sha256,
        applied_by=run_id,
    )
    options.emit(
        Event(
            EventName.FILE_SKIPPED,
            import_id=imp.id,
            file=str(path),
            run_id=skip,
            fields={"applied_by": run_id, "message": notice},
        )
    )
    return True


def import_file(
    imp: ImportConfig,
    provider: ProviderConfig,
    path: Path,
    store: StoreInterface,
    options: RunOptions,
    report: Report,
    listed: bool = False,
    due: dict[int, dict] | None = None,
) -> list[FileReport]:
    """One data file, in one transaction: every action of the import runs over it in turn.

    The run is recorded with its journal in the same transaction, and so are the
    import's consolidators, as due until each has run; a dry run or a file that failed
    as a whole is rolled back and then recorded without journal. ``due`` holds what
    stopped runs left undone: a file skipped as already imported completes its run's.
    """
    due = {} if due is None else due
    # a file the provider's glob listed must really be in its folder (a link may lead anywhere)
    refusal = _outside_provider_folder(provider, path) if listed else None
    sha256 = None if refusal else file_sha256(path)
    if (
        sha256
        and not options.force
        and _skip_applied(imp, path, sha256, store, options, report, due)
    ):
        return []
    reports = [
        FileReport(str(path), imp.id, a.name, keep_changes=options.diff) for a in imp.actions
    ]
    action_names = ",".join(a.name for a in imp.actions)
    started = options.clock().isoformat(timespec="seconds")
    timer = time.perf_counter()
    max_rejects, max_cancel = _limits(imp, options)
    failure: str | None = None
    consolidators = [] if options.dry_run else _enabled_consolidators(imp)
    superseded = (
        []
        if options.dry_run
        else [d["run_id"] for d in due.values() if sha256 and d["sha256"] == sha256]
    )
    report.applying = (str(path), None)
    ran = 0  # actions that ran: a safety limit refuses them, they keep what they would have given
    refused = False
    holding = _Holding((options.on_limit or imp.safety.on_limit) == "hold", options.dry_run)
    sessions_done = False  # a session action ran over the file (and wrote digests)
    try:
        with store.transaction(rollback=options.dry_run):
            run_id = store.begin_run(
                imp.id, action_names, str(path), sha256, started, options.dry_run
            )
            report.applying = (str(path), run_id)
            if refusal is not None:
                failure = refusal
                raise _FileFailed(failure)
            for action, file_report in zip(imp.actions, reports, strict=True):
                modifiable = store.modifiable_sessions(imp.id, action.full_access)
                _run_action(action, imp, provider, path, store, file_report, options, run_id)
                ran += 1
                sessions_done = _after_action(
                    store, imp, run_id, action, file_report, sessions_done
                )
                failure = file_report.error
                if failure is None:
                    failure = _limit_failure(path, file_report, max_rejects, max_cancel, modifiable)
                    refused = failure is not None
                    if refused:
                        holding.capture(store, run_id)
                if failure is not None:
                    raise _FileFailed(failure)
            for r in reports:
                r.flush()  # a failure to keep them rolls the file back
            store.end_run(
                run_id,
                options.clock().isoformat(timespec="seconds"),
                _total(reports),
                int(worst(r.exit_code for r in reports)),
            )
            if consolidators:
                store.add_due_consolidators(
                    run_id,
                    imp.id,
                    consolidators,
                    options.clock().isoformat(),
                    _due_reports(reports),
                    _due_rows(reports),
                )
            # imported again (--force): this run's consolidators stand for the earlier one's
            store.drop_due_consolidators(superseded)
    except _FileFailed as failed:
        _mark_failed(reports, str(failed), refused=ran if refused else 0)
        holding.mark(reports)
    else:
        for run in superseded:
            due.pop(run, None)
    report.applying = None
    if options.dry_run or failure is not None:
        with store.transaction():
            run_id = store.begin_run(
                imp.id, action_names, str(path), sha256, started, options.dry_run
            )
            store.end_run(
                run_id,
                options.clock().isoformat(timespec="seconds"),
                _total(reports),
                int(worst(r.exit_code for r in reports)),
                failure,
            )
            holding.record(imp, path, sha256, store, options, reports, run_id, failure)
    holding.notice(report, path, run_id)
    for r in reports:
        r.finish(run_id, time.perf_counter() - timer)
    return reports


@dataclass
class _Holding:
    """A file that a safety limit refuses under <onLimit>hold</onLimit>: rolled back, and
    kept as a held run with what approving it needs and what it would have done."""

    wanted: bool
    dry_run: bool
    held: bool = False
    touched: list[tuple[int, str, str, str, str]] = field(default_factory=list)

    def capture(self, store: StoreInterface, run_id: int) -> None:
        """A limit refused the file: in its transaction still, what it would change."""
        self.held = self.wanted
        if self.held and not self.dry_run:
            self.touched = store.touched_sessions(run_id)

    def mark(self, reports: list[FileReport]) -> None:
        for r in reports:
            r.held = self.held

    def record(
        self,
        imp: ImportConfig,
        path: Path,
        sha256: str | None,
        store: StoreInterface,
        options: RunOptions,
        reports: list[FileReport],
        run_id: int,
        failure: str | None,
    ) -> None:
        if not self.held or self.dry_run or failure is None:
            return
        config = options.config_path
        store.hold_run(
            run_id,
            imp.id,
            str(config.resolve()) if config is not None else "",
            file_sha256(config) if config is not None else None,
            str(path.resolve()),
            sha256,
            failure,
            _total(reports),
            options.clock().isoformat(timespec="seconds"),
            self.touched,
        )

    def notice(self, report: Report, path: Path, run_id: int) -> None:
        if self.held:
            template = RunMsg.WOULD_HOLD if self.dry_run else RunMsg.HELD
            report.notices.append(template.format(file=path, run=run_id))


def _mark_failed(reports: list[FileReport], failure: str, refused: int) -> None:
    """The first ``refused`` actions ran and a safety limit refused them; the others failed."""
    for i, r in enumerate(reports):
        if i < refused:
            r.refuse(failure)
        else:
            r.fail(failure)
        r.flush()


def _outside_provider_folder(provider: ProviderConfig, path: Path) -> str | None:
    """Why a listed file is not read: a symbolic link that leads outside the provider's folder."""
    target = leads_outside(path, provider.path)
    if target is None:
        return None
    message = RunPathMsg.FILE_OUTSIDE.format(target=target, folder=provider.path)
    return str(DataFileError(str(path), 0, message))


def _limit_failure(
    path: Path,
    report: FileReport,
    max_rejects: Limit | None,
    max_cancel: Limit | None,
    modifiable: int,
) -> str | None:
    problem = rejects_exceeded(max_rejects, report.counts["rejected"], report.counts["rows"])
    if problem is None and report.action == SESSION_ACTION:
        problem = cancels_exceeded(max_cancel, report.counts["cancelled"], modifiable)
    return f"{path}: {problem}" if problem else None


def _after_action(
    store: StoreInterface,
    imp: ImportConfig,
    run_id: int,
    action: ActionConfig,
    report: FileReport,
    sessions_done: bool,
) -> bool:
    """Whether a session action ran over the file so far. An action after it that changed
    a record drops the digests it wrote: they were made before that change, in this run."""
    counts = report.counts
    if sessions_done and (counts["created"] or counts["updated"] or counts["cancelled"]):
        store.drop_digests(imp.id, run_id)
    return sessions_done or action.name == SESSION_ACTION


def _total(reports: list[FileReport]) -> dict[str, int]:
    total = dict.fromkeys(reports[0].counts, 0)
    for r in reports:
        for name, value in r.counts.items():
            total[name] += value
    return total


class _FileFailed(Exception):
    pass


def _records(path: Path, provider: ProviderConfig):
    return open_data_file(
        path,
        encoding=provider.encoding,
        delimiter=provider.delimiter,
        has_header=provider.skip_first_line,
        sheet_name=provider.sheet_name,
        date_format=provider.date_format,
    )


def _chunks(iterator: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(iterator, size)):
        yield chunk


def _run_action(
    action: ActionConfig,
    imp: ImportConfig,
    provider: ProviderConfig,
    path: Path,
    store: StoreInterface,
    report: FileReport,
    options: RunOptions,
    run_id: int,
) -> None:
    try:
        with _records(path, provider) as data:
            # an Excel input's rejects file is UTF-8
            encoding, newline = data.encoding, report.newline
            if isinstance(data, DataFile):
                encoding, newline = rejects_layout(path, data.encoding)
            report.read_as(data.header, data.delimiter, encoding, newline)
            try:
                columns = build_column_map(action, provider, data.header, data.split_sample)
            except FileLayoutError as exc:
                report.fail(f"{path}:1: {exc}")
                return
            for message in columns.warnings:
                report.add_warning(1, [message])
            stage = _stage(action, imp, provider, store)
            if action.name == SESSION_ACTION:
                report.start_dates = StartDates()
            # only session changes are published; a dry run queues nothing
            publishing = action.name == SESSION_ACTION and not options.dry_run
            publishers = [p.name for p in imp.publishers] if publishing else []
            rows: dict[int, dict] | None = {} if publishers else None
            gate = _digest_gate(action, imp, provider, store, options, run_id, columns)
            if options.on_progress is not None:
                options.on_progress(str(path), action.name, 0, data.bytes_read, data.size)
            for chunk in _chunks(iter(data), options.chunk_rows):
                with _collector_paused():
                    changes = _run_chunk(stage, columns, chunk, report, rows, gate)
                    store.apply(changes)
                    store.journal(run_id, changes)
                    if gate is not None:
                        gate.done()
                    if rows is not None:
                        store.enqueue(imp.id, publishers, run_id, changes, rows)
                        rows.clear()
                if options.on_progress is not None:
                    options.on_progress(
                        str(path), action.name, report.counts["rows"], data.bytes_read, data.size
                    )
            if action.snapshot is not None:
                _cancel_missing(action.snapshot, imp, stage, store, report, options, run_id)
    except DataFileError as exc:
        report.fail(str(exc))


def _digest_gate(
    action: ActionConfig,
    imp: ImportConfig,
    provider: ProviderConfig,
    store: StoreInterface,
    options: RunOptions,
    run_id: int,
    columns: ColumnMap,
) -> DigestGate | None:
    """A session action's digests: read unless --resolve-all, written by a run that
    commits while no other command writes the store."""
    if action.name != SESSION_ACTION or not action.search_fields:
        return None
    write = not options.dry_run and store.sole_writer()
    read = not options.resolve_all
    return DigestGate(action, provider, imp.id, store, run_id, columns, read=read, write=write)


def _cancel_missing(
    snapshot: SnapshotConfig,
    imp: ImportConfig,
    stage: _Stage,
    store: StoreInterface,
    report: FileReport,
    options: RunOptions,
    run_id: int,
) -> None:
    """A snapshot feed, after its rows: the import's sessions within the scope that no row
    matched are cancelled in the file's transaction, journaled and queued like any cancel.

    An empty file, or one whose every row was rejected, says nothing of what exists: it
    cancels nothing (nor does a file that failed as a whole, which never gets here).
    """
    rows = report.counts["rows"]
    resolver = stage.resolver
    assert isinstance(resolver, SessionResolver) and resolver.matched is not None
    if rows == 0 or report.counts["rejected"] == rows:
        report.cancelled_missing(0)
        return
    since = options.clock().date().isoformat() if snapshot.scope == "future" else None
    trainings = resolver.trainings_named if snapshot.mentioned_trainings else None
    matched = resolver.matched
    missing = [
        session_id
        for session_id in store.session_ids_of_import(imp.id, since, trainings)
        if session_id not in matched
    ]
    publishers = [p.name for p in imp.publishers] if not options.dry_run else []
    for start in range(0, len(missing), options.chunk_rows):
        found = store.sessions_by("id", missing[start : start + options.chunk_rows])
        changes = [
            ChangeOp(0, "sessions", RecordOp.DELETE.value, record, None)
            for record in sorted(found, key=attrgetter("id"))
        ]
        store.apply(changes)
        store.journal(run_id, changes)
        if publishers:
            store.enqueue(imp.id, publishers, run_id, changes, {})
    report.cancelled_missing(len(missing))


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused while a chunk is worked out and written.

    A chunk makes tens of thousands of objects that live until its end (the view, its
    records, the changes, the rows written to the store), so the collector would run
    over and over, scanning them, and find nothing: reference counting frees the chunk's
    data. One collection of the young objects afterwards frees any cycle all the same,
    so memory stays flat. A caller's own setting (collector off) is left as it is.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect(1)


def _run_chunk(
    stage,
    columns: ColumnMap,
    records,
    report: FileReport,
    rows: dict[int, dict] | None = None,
    gate: DigestGate | None = None,
) -> list[ChangeOp]:
    """One chunk; ``rows`` (when publishing) receives each applied row's cells and values;
    ``gate`` counts unchanged the rows its digests vouch for, before any validation."""
    mapped_rows = [(record, columns.map(record.line, record.cells)) for record in records]
    if gate is not None:
        gate.load([m for _, m in mapped_rows if not isinstance(m, Issue)])
    # (row, typed input, issues), (row-ish, None, issues), or (row, Skipped, None)
    prepared: list[tuple] = []
    start_dates = report.start_dates
    for record, mapped in mapped_rows:
        if isinstance(mapped, Issue):
            prepared.append((record, None, [mapped]))
            continue
        if gate is not None:
            skipped = gate.skip(mapped)
            if skipped is not None:
                prepared.append((mapped, skipped, None))
                if start_dates is not None:
                    start_dates.add(skipped.start)
                continue
        typed, issues = stage.validate(mapped)
        if gate is not None:
            gate.full(typed)
        prepared.append((mapped, typed, issues))
        if start_dates is not None:
            start_dates.add(typed.start)
        if rows is not None:
            rows[mapped.line] = {"cells": list(mapped.cells), "values": dict(mapped.values)}
    stage.prepare(
        [typed for _, typed, issues in prepared if typed is not None and issues is not None]
    )
    count = report.count
    for row, typed, issues in prepared:
        if issues is None:
            report.count_by_digest()
            stage.resolver.skipped(typed)
            continue
        if typed is None:
            outcome = RowOutcome(row.line, RowKind.REJECTED, issues)
            values = {}
        else:
            outcome = stage.resolve(typed, issues)
            values = row.values
            if gate is not None:
                resolver = stage.resolver
                gate.resolved(typed, outcome, resolver.last_record, resolver.last_criteria)
        count(outcome, row.cells, values)
    return stage.flush()


# ---- one stage per action: validate a mapped row, prepare a chunk, resolve a row ----


class _ChunkResolver(Protocol):
    def prepare(self, inputs: list[Any], /) -> None: ...

    def resolve(self, typed: Any, issues: list[Issue], /) -> RowOutcome: ...

    def flush(self) -> list[ChangeOp]: ...


@dataclass
class _Stage:
    resolver: _ChunkResolver
    validate: Callable

    def prepare(self, inputs) -> None:
        self.resolver.prepare(inputs)

    def resolve(self, typed, issues) -> RowOutcome:
        return self.resolver.resolve(typed, issues)

    def flush(self) -> list[ChangeOp]:
        return self.resolver.flush()


def _stage(
    action: ActionConfig, imp: ImportConfig, provider: ProviderConfig, store: StoreInterface
) -> _Stage:
    if action.name == SESSION_ACTION:
        fmt = compile_date_format(provider.date_format)
        return _Stage(
            SessionResolver(action, imp.id, store),
            session_validator(action, fmt, provider.timezone),
        )
    if action.name == TRAINING_ACTION:
        return _Stage(
            TrainingResolver(action, imp.id, store), lambda row: validate_training(row, action)
        )
    if action.name == LEARNER_ACTION:
        return _Stage(
            LearnerResolver(action, imp.id, store), lambda row: validate_learner(row, action)
        )
    assert action.name == ENTITY_ACTION
    return _Stage(EntityResolver(action, imp.id, store), lambda row: validate_entity(row, action))
