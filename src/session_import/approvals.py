"""Held runs: `approve RUN` applies a file that a safety limit held, as a new run, when
neither the file, its configuration nor any session it would touch changed since;
`discard RUN` drops it."""

from __future__ import annotations

import dataclasses
from enum import StrEnum
from pathlib import Path

from session_import.config import Config, load_config
from session_import.errors import ExitCode, SessionImportError
from session_import.limits import Limit
from session_import.pipeline import RunOptions, file_sha256, run_import
from session_import.report import Report
from session_import.store import StoreInterface

# an approved run is applied whatever the limits say: a person looked at it
_NO_LIMIT = Limit(100, True, "100%")
_NAMED = 5  # sessions named in a refusal, then "and N more"


class ApprovalMsg(StrEnum):
    NOT_HELD = "Run {run} is not a held run; `session-import status` lists the held runs."
    DECIDED = "Run {run} is no longer held: it was {state} on {when}."
    NO_IMPORT = (
        "Run {run} cannot be approved: its configuration {config} no longer has the import"
        " {import_id}."
    )
    CONFIG_CHANGED = (
        "Run {run} cannot be approved: its configuration {config} changed since it was held"
        " ({how}); run the import again."
    )
    FILE_CHANGED = (
        "Run {run} cannot be approved: its file {file} changed since it was held ({how});"
        " run the import again."
    )
    SESSIONS_CHANGED = (
        "Run {run} cannot be approved: {sessions} changed since it was held; run the import again."
    )
    SESSION = "session {title} ({guid})"
    MORE = "{named} and {more} more"
    GONE = "it is no longer there"
    DIFFERENT = "SHA-256 {was} when held, {now} now"
    APPROVED = "Run {run} ({file}) was approved: applied as run {new}."
    NOT_APPLIED = "Run {run} ({file}) was approved, but its file failed again: {error}"
    DISCARDED = "Run {run} ({file}) was discarded: nothing of it was applied."


class ApprovalRefused(SessionImportError):
    """The held run cannot be approved or discarded as it is (exit 1, like a refused revert)."""

    exit_code = ExitCode.PARTIAL


def _still_held(store: StoreInterface, run_id: int) -> dict:
    held = store.held_run(run_id)
    if held is None:
        raise ApprovalRefused(ApprovalMsg.NOT_HELD.format(run=run_id))
    if held["state"] != "held":
        raise ApprovalRefused(
            ApprovalMsg.DECIDED.format(run=run_id, state=held["state"], when=held["decided_at"])
        )
    return held


def _changed(was: str | None, path: Path) -> str | None:
    """How a file differs from the SHA-256 it had, or None when it is the same."""
    now = file_sha256(path)
    if now == was:
        return None
    if now is None:
        return ApprovalMsg.GONE
    return ApprovalMsg.DIFFERENT.format(was=(was or "-")[:12], now=now[:12])


def held_config(store: StoreInterface, run_id: int) -> Config:
    """The configuration a held run was read with, unchanged since (else a refusal)."""
    held = _still_held(store, run_id)
    config = Path(held["config"])
    how = _changed(held["config_sha256"], config)
    if how is not None:
        raise ApprovalRefused(ApprovalMsg.CONFIG_CHANGED.format(run=run_id, config=config, how=how))
    loaded = load_config(config)
    imports = tuple(i for i in loaded.imports if i.id == held["import_id"])
    if not imports:
        raise ApprovalRefused(
            ApprovalMsg.NO_IMPORT.format(run=run_id, config=config, import_id=held["import_id"])
        )
    return dataclasses.replace(loaded, imports=imports)


def _changed_sessions(store: StoreInterface, run_id: int) -> list[str]:
    touched = list(store.held_sessions(run_id))
    current = {s.id: s for s in store.sessions_by("id", [t["id"] for t in touched])}
    changed = []
    for session in touched:
        now = current.get(session["id"])
        if now is None or dataclasses.asdict(now) != session["before"]:
            changed.append(ApprovalMsg.SESSION.format(title=session["title"], guid=session["guid"]))
    return changed


@dataclasses.dataclass(frozen=True)
class Approval:
    """A held run that may be applied: nothing it depends on changed since it was held."""

    run_id: int
    config: Config
    path: Path


def check_approval(store: StoreInterface, run_id: int) -> Approval:
    """Whether held run ``run_id`` can be applied as it is; a refusal names what changed."""
    config = held_config(store, run_id)
    held = _still_held(store, run_id)
    path = Path(held["file"])
    how = _changed(held["sha256"], path)
    if how is not None:
        raise ApprovalRefused(ApprovalMsg.FILE_CHANGED.format(run=run_id, file=path, how=how))
    changed = _changed_sessions(store, run_id)
    if changed:
        named = ", ".join(changed[:_NAMED])
        if len(changed) > _NAMED:
            named = ApprovalMsg.MORE.format(named=named, more=len(changed) - _NAMED)
        raise ApprovalRefused(ApprovalMsg.SESSIONS_CHANGED.format(run=run_id, sessions=named))
    return Approval(run_id, config, path)


def apply_approval(
    store: StoreInterface, approval: Approval, options: RunOptions, report: Report
) -> Report:
    """Apply the held run's file as a new run, limits lifted, into ``report``."""
    run_id, path = approval.run_id, approval.path
    approving = dataclasses.replace(
        options,
        force=True,
        max_rejects=_NO_LIMIT,
        max_cancel=_NO_LIMIT,
        on_limit="fail",
        config_path=approval.config.path,
    )
    run_import(approval.config, store, [path], approving, report)
    applied = [r for r in report.files if r.file == str(path) and r.run_id is not None]
    if not applied or any(r.error is not None for r in applied):
        error = next((r.error for r in applied if r.error), "not applied")
        report.notices.append(ApprovalMsg.NOT_APPLIED.format(run=run_id, file=path, error=error))
        return report
    new = applied[0].run_id
    with store.transaction():
        store.decide_held(run_id, "approved", options.clock().isoformat(timespec="seconds"), new)
    report.notices.append(ApprovalMsg.APPROVED.format(run=run_id, file=path, new=new))
    return report


def approve_held(store: StoreInterface, run_id: int, options: RunOptions, report: Report) -> Report:
    """Apply held run ``run_id`` as a new run, when nothing it depends on changed."""
    return apply_approval(store, check_approval(store, run_id), options, report)


def discard_held(store: StoreInterface, run_id: int, options: RunOptions) -> str:
    """Drop held run ``run_id``: it stays on record as discarded; what it says."""
    held = _still_held(store, run_id)
    with store.transaction():
        store.decide_held(run_id, "discarded", options.clock().isoformat(timespec="seconds"))
    return ApprovalMsg.DISCARDED.format(run=run_id, file=held["file"])
