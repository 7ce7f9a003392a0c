"""What ``check`` prints: each import's files, format, actions, consolidators, publishers."""

from __future__ import annotations

from pathlib import Path

from session_import.config.model import (
    ActionConfig,
    Config,
    ProviderConfig,
    PublisherConfig,
    SnapshotConfig,
)
from session_import.limits import SNAPSHOT_MAX_CANCEL
from session_import.publishers import settings as publisher_settings

_FRAGMENT_HOMES = {
    "providers": "inside an <import>, before its <actions>",
    "fileSystemSourceProvider": "inside the <providers> of an <import>",
    "consolidators": "inside an <import>, after its <actions>",
    "options": "inside an action such as <createOrUpdateSessionAction>",
    "fields": "inside an action such as <createOrUpdateSessionAction>",
    "columnsMapping": "inside a <fileSystemSourceProvider>",
}

_DELIMITER_NAMES = {
    ";": "semicolon",
    ",": "comma",
    "|": "pipe",
    "\t": "tab",
    None: "detected among ; , | TAB",
}


def describe(config: Config) -> list[str]:
    """Plain lines saying what each import will read and do (the `check` command)."""
    if config.form == "fragment":
        home = _FRAGMENT_HOMES.get(
            config.fragment or "", "inside an <import> of an <import-config>"
        )
        line = f"{config.path}: a valid <{config.fragment}> fragment; it belongs {home} "
        return [line + "(a fragment cannot be run on its own)."]
    lines = [f"{config.path}: {len(config.imports)} import(s), {config.form} form"]
    for imp in config.imports:
        lines.append(f"import {imp.id} (line {imp.line})")
        lines.extend("  " + line for line in _describe_provider(imp.provider, config.path))
        for action in imp.actions:
            lines.extend("  " + line for line in _describe_action(action, imp.id))
        for c in imp.consolidators:
            opts = "; ".join(f"{k} {', '.join(v)}" for k, v in c.options.items())
            state = " (disabled)" if c.disabled else ""
            lines.append(f"  then {c.name}{state}" + (f": {opts}" if opts else ""))
        if imp.safety.max_rejects or imp.safety.max_cancel:
            lines.append(
                f"  safety: max rejects {imp.safety.max_rejects or '-'}, "
                f"max cancel {imp.safety.max_cancel or '-'}"
            )
        if imp.safety.on_limit == "hold":
            lines.append(
                "  a file past a limit is held for approval (exit 7): `session-import approve"
                " RUN` applies it, `discard RUN` drops it"
            )
        for p in imp.publishers:
            lines.append("  publishes every change to " + _describe_publisher(p))
    return lines


def _describe_publisher(p: PublisherConfig) -> str:
    return publisher_settings.describe(p.name, p.settings)


def _describe_provider(provider: ProviderConfig | None, config_path: Path) -> list[str]:
    if provider is None or provider.file_name is None:
        reads = "reads: the data files given on the command line"
    else:
        reads = f"reads: {provider.file_name} in {provider.path} (in name order)"
    p = provider or ProviderConfig.command_line(config_path.parent)
    header = "first line is a header" if p.skip_first_line else "no header line"
    dates = f"dates {p.date_format}" + (f" in {p.timezone}" if p.timezone else "")
    sheet = f", sheet {p.sheet_name}" if p.sheet_name else ""
    delimiter = _DELIMITER_NAMES.get(p.delimiter, repr(p.delimiter))
    if p.columns_mapping:
        names = ", ".join(c.name or "(ignored)" for c in p.columns_mapping)
        mapping = "columns by position: " + names
    else:
        mapping = "columns by header name, else in <fields> order"
    return [reads, f"format: {delimiter}, {p.encoding}, {header}, {dates}{sheet}", mapping]


def _describe_snapshot(snapshot: SnapshotConfig, import_id: str) -> str:
    scope = "starting on or after the run's date" if snapshot.scope == "future" else "of any date"
    trainings = ", of the trainings the file names" if snapshot.mentioned_trainings else ""
    return (
        f"a snapshot feed: cancels the sessions import {import_id} created, {scope}{trainings},"
        " that no row of the file matches (never for a file that failed or is empty; at most"
        f" --max-cancel, or {SNAPSHOT_MAX_CANCEL} of the sessions it may modify when no limit is"
        " given)"
    )


def _describe_action(action: ActionConfig, import_id: str) -> list[str]:
    names = ", ".join(f.name + ("*" if f.mandatory else "") for f in action.fields)
    lines = [f"{action.name} (line {action.line}): fields {names} (* mandatory)"]
    if action.search_fields:
        lines.append(f"  finds existing records by {' + '.join(action.search_fields)}")
    if action.full_access:
        lines.append("  may change any record, whoever created it (fullAccess yes)")
    else:
        lines.append(f"  changes only what import {import_id} created (fullAccess no)")
    if action.snapshot is not None:
        lines.append("  " + _describe_snapshot(action.snapshot, import_id))
    for f in action.fields:
        if f.written_codes:
            codes = ", ".join(f"{code!r} = {meaning}" for code, meaning in f.written_codes.items())
            lines.append(f"  {f.name} codes: {codes}")
    return lines
