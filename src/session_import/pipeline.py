"""run_import: read, map, validate, resolve, store, report, for every file of every import."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from session_import.config import ActionConfig, Config, ImportConfig, ProviderConfig
from session_import.dates import compile_date_format
from session_import.mapping import ColumnMap, MissingColumn, build_column_map
from session_import.messages import Issue
from session_import.reader import DataFileError, open_data_file
from session_import.report import FileReport, RejectedRow, Report
from session_import.resolve import (
    REJECTED,
    UPDATED,
    EntityResolver,
    LearnerResolver,
    Outcome,
    SessionResolver,
    TrainingResolver,
)
from session_import.schema import ENTITY_ACTION, LEARNER_ACTION, SESSION_ACTION, TRAINING_ACTION
from session_import.store import Store
from session_import.validate import (
    validate_entity,
    validate_learner,
    validate_session,
    validate_training,
)

CHUNK_ROWS = 5000


class UsageError(Exception):
    """The command line asks for something the configuration cannot do (exit 2)."""


@dataclass(frozen=True)
class RunOptions:
    dry_run: bool = False
    diff: bool = False
    chunk_rows: int = CHUNK_ROWS


def data_files(imp: ImportConfig, given: list[Path], config: Config) -> tuple[list[Path], str | None]:
    """The files an import reads, and a notice when its glob matched nothing."""
    if given:
        return list(given), None
    provider = imp.provider
    if provider is None or provider.file_name is None:
        raise UsageError(
            f"import {imp.id} has no <fileSystemSourceProvider>; give the data file on the command line."
        )
    files = sorted(p for p in provider.path.glob(provider.file_name) if p.is_file())
    if not files:
        return [], f"No file matches {provider.file_name} in {provider.path}."
    return files, None


def run_import(config: Config, store: Store, given: list[Path] | None = None,
               options: RunOptions = RunOptions()) -> Report:
    """Run every import of ``config``; DATA files replace the provider's (one import only)."""
    given = [Path(p) for p in given or []]
    if given and len(config.imports) != 1:
        raise UsageError(
            f"{config.path} has {len(config.imports)} imports; data files on the command line "
            "need a configuration with exactly one import."
        )
    report = Report(dry_run=options.dry_run, diff=options.diff)
    for imp in config.imports:
        files, notice = data_files(imp, given, config)
        if notice:
            report.notices.append(notice)
        provider = imp.provider or ProviderConfig.command_line(config.path.parent)
        if given and imp.provider is not None:
            provider = imp.provider
        for path in files:
            report.files.extend(import_file(imp, provider, path, store, options))
    return report


def import_file(imp: ImportConfig, provider: ProviderConfig, path: Path, store: Store,
                options: RunOptions) -> list[FileReport]:
    """One data file, in one transaction: every action of the import runs over it in turn."""
    reports = [FileReport(str(path), imp.id, a.name) for a in imp.actions]
    try:
        with store.transaction(rollback=options.dry_run):
            for action, file_report in zip(imp.actions, reports):
                _run_action(action, imp, provider, path, store, file_report, options)
                if file_report.error is not None:
                    raise _FileFailed(file_report.error)
    except _FileFailed as failed:
        for r in reports:
            r.fail(str(failed))
    return reports


class _FileFailed(Exception):
    pass


def _records(path: Path, provider: ProviderConfig):
    return open_data_file(
        path,
        encoding=provider.encoding,
        delimiter=provider.delimiter,
        has_header=provider.skip_first_line,
    )


def _chunks(iterator: Iterator, size: int) -> Iterator[list]:
    while chunk := list(islice(iterator, size)):
        yield chunk


def _run_action(action: ActionConfig, imp: ImportConfig, provider: ProviderConfig, path: Path,
                store: Store, report: FileReport, options: RunOptions) -> None:
    try:
        with _records(path, provider) as data:
            report.header = data.header
            report.delimiter = data.delimiter
            report.encoding = provider.encoding
            try:
                columns = build_column_map(action, provider, data.header)
            except MissingColumn as exc:
                report.error = f"{path}:1: {exc}"
                return
            for message in columns.warnings:
                report.add_warning(1, [message])
            stage = _STAGES[action.name](action, imp, provider, store)
            for chunk in _chunks(iter(data), options.chunk_rows):
                _run_chunk(stage, columns, chunk, report)
    except DataFileError as exc:
        report.error = str(exc)


def _run_chunk(stage, columns: ColumnMap, records, report: FileReport) -> None:
    prepared: list[tuple] = []  # (row, typed input, issues) or (row-ish, None, issues)
    for record in records:
        mapped = columns.map(record.line, record.cells)
        if isinstance(mapped, Issue):
            prepared.append((record, None, [mapped]))
            continue
        typed, issues = stage.validate(mapped)
        prepared.append((mapped, typed, issues))
    stage.prepare([typed for _, typed, _ in prepared if typed is not None])
    for row, typed, issues in prepared:
        if typed is None:
            outcome = Outcome(row.line, REJECTED, issues)
            values = {}
        else:
            outcome = stage.resolve(typed, issues)
            values = dict(row.values)
        _count(report, outcome, row.cells, values)
    stage.flush()


def _count(report: FileReport, outcome: Outcome, cells: list[str], values: dict[str, str]) -> None:
    report.counts["rows"] += 1
    errors = [i.text for i in outcome.issues if not i.warning]
    warnings = [i.text for i in outcome.issues if i.warning]
    if outcome.kind == REJECTED:
        report.counts["rejected"] += 1
        report.rejected.append(RejectedRow(outcome.line, values, errors, list(cells)))
    else:
        report.counts[outcome.kind] += 1
    if warnings:
        report.add_warning(outcome.line, warnings)
    if outcome.kind == UPDATED and outcome.diff:
        report.changes.append({"line": outcome.line, "guid": outcome.guid, "fields": outcome.diff})


# ---- one adapter per action: validate a mapped row, prepare a chunk, resolve a row ----


class _SessionStage:
    def __init__(self, action, imp, provider, store):
        self.action = action
        self.fmt = compile_date_format(provider.date_format)
        self.zone = provider.timezone
        self.resolver = SessionResolver(action, imp.id, store)

    def validate(self, row):
        return validate_session(row, self.action, self.fmt, self.zone)

    def prepare(self, inputs):
        self.resolver.prepare(inputs)

    def resolve(self, typed, issues):
        return self.resolver.resolve(typed, issues)

    def flush(self):
        return self.resolver.flush()


class _TrainingStage(_SessionStage):
    def __init__(self, action, imp, provider, store):
        self.action = action
        self.resolver = TrainingResolver(action, imp.id, store)

    def validate(self, row):
        return validate_training(row, self.action)


class _LearnerStage(_SessionStage):
    def __init__(self, action, imp, provider, store):
        self.action = action
        self.resolver = LearnerResolver(action, imp.id, store)

    def validate(self, row):
        return validate_learner(row, self.action)


class _EntityStage(_SessionStage):
    def __init__(self, action, imp, provider, store):
        self.action = action
        self.resolver = EntityResolver(action, imp.id, store)

    def validate(self, row):
        levels, issues = validate_entity(row, self.action)
        return (row.line, levels), issues

    def prepare(self, inputs):
        self.resolver.prepare([levels for _, levels in inputs])

    def resolve(self, typed, issues):
        line, levels = typed
        return self.resolver.resolve(line, levels, issues)


_STAGES = {
    SESSION_ACTION: _SessionStage,
    TRAINING_ACTION: _TrainingStage,
    LEARNER_ACTION: _LearnerStage,
    ENTITY_ACTION: _EntityStage,
}
