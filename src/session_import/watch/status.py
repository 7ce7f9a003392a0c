"""`session-import status`: did every import run, and succeed, recently enough?

Read from the store's commands table (one row per import for each run or publish),
its runs and its outbox; a check any monitoring system can run: exit 0 when every
import's last command ended with exit 0 and its last success is within ``max_age``,
else 1 with a line per import that is stale or failed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from session_import.errors import ExitCode
from session_import.history import run_outcome
from session_import.store import StoreInterface
from session_import.watch.timespans import describe

ALL_GOOD = 0
STALE_OR_FAILED = 1


class StatusMsg(StrEnum):
    NO_IMPORT = "No import is on record in the store {path}: nothing has run yet."
    NEVER_RAN = "{import_id}: no run on record."
    NEVER_FINISHED = (
        "{import_id}: the {command} started {started} (process {pid}) never finished: it was "
        "killed or interrupted, or the store failed."
    )
    FAILED = "{import_id}: the last {command} (ended {ended}) exited {code}: {outcome}."
    STALE = "{import_id}: the last success was {when}, more than {max_age} ago."
    NO_SUCCESS = "{import_id}: no successful run on record."
    HELD = (
        "{import_id}: run {run} ({file}) is held for approval since {when}: {reason}"
        " (`session-import approve {run}` or `discard {run}`)"
    )


@dataclass
class ImportStatus:
    import_id: str
    state: str  # ok, failed, stale, held, never ran, running
    last: dict | None = None  # the last command that ended (or never did)
    running: dict | None = None  # the command running now, if any
    files: list[dict] = field(default_factory=list)  # the runs of ``last``
    last_success: str | None = None
    pending: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    held: list[dict] = field(default_factory=list)  # runs held for approval

    @property
    def outcome(self) -> str:
        if self.last is None:
            return "no run on record"
        if self.last["ended_at"] is None:
            return "never finished"
        outcomes = [
            f"{Path(r['file'] or '').name or 'no file'}: {run_outcome(r)}" for r in self.files
        ]
        if self.last["exit_code"] == ExitCode.PUBLISH_PENDING or (not outcomes and self.pending):
            waiting = sum(self.pending.values())
            outcomes.append(f"{waiting} change{'s' if waiting != 1 else ''} still to publish")
        idle = "delivered" if self.last["command"] == "publish" else "nothing to do"
        return "; ".join(outcomes) or idle

    def to_json(self) -> dict:
        return {
            "import": self.import_id,
            "state": self.state,
            "last": None
            if self.last is None
            else {
                **{
                    k: self.last[k]
                    for k in (
                        "id",
                        "command",
                        "started_at",
                        "ended_at",
                        "exit_code",
                        "counts",
                        "pid",
                    )
                },
                "outcome": self.outcome,
                "files": [{**r, "outcome": run_outcome(r)} for r in self.files],
            },
            "running": None
            if self.running is None
            else {k: self.running[k] for k in ("id", "command", "started_at", "pid")},
            "last_success": self.last_success,
            "pending": self.pending,
            "held": [
                {k: h[k] for k in ("run_id", "file", "reason", "counts", "held_at")}
                for h in self.held
            ],
            "problems": self.problems,
        }


@dataclass
class StatusReport:
    max_age: timedelta
    imports: list[ImportStatus]
    problems: list[str] = field(default_factory=list)  # store-wide (no import on record)

    @property
    def exit_code(self) -> int:
        if self.problems or any(s.problems for s in self.imports):
            return STALE_OR_FAILED
        return ALL_GOOD

    def to_json(self) -> dict:
        return {
            "ok": self.exit_code == ALL_GOOD,
            "max_age": describe(self.max_age),
            "imports": [s.to_json() for s in self.imports],
            "problems": self.problems,
        }


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def store_status(
    store: StoreInterface, now: datetime, max_age: timedelta, import_ids: list[str] | None = None
) -> StatusReport:
    """The status of each import of ``import_ids`` (default: every import on record)."""
    known = store.known_imports()
    ids = list(import_ids) if import_ids is not None else known
    report = StatusReport(max_age, [])
    if not ids:
        report.problems.append(StatusMsg.NO_IMPORT.format(path=store.path))
    holder = store.lock_holder()
    for import_id in ids:
        report.imports.append(_import_status(store, import_id, now, max_age, holder))
    return report


def _import_status(
    store: StoreInterface, import_id: str, now: datetime, max_age: timedelta, holder: dict
) -> ImportStatus:
    status = ImportStatus(import_id, "ok", pending=store.pending_by_publisher(import_id))
    latest = store.latest_commands(import_id, 2)
    if (
        latest
        and latest[0]["ended_at"] is None
        and holder.get("held")
        and holder.get("pid") == latest[0]["pid"]
        and (holder.get("live") or _alive(latest[0]["pid"]))
    ):
        status.running = latest.pop(0)  # judged on the command before it
    status.last = latest[0] if latest else None
    status.held = store.held_runs(import_id)
    for held in status.held:
        status.problems.append(
            StatusMsg.HELD.format(
                import_id=import_id,
                run=held["run_id"],
                file=held["file"],
                when=held["held_at"],
                reason=held["reason"],
            )
        )
    success = store.last_success(import_id)
    status.last_success = success["ended_at"] if success else None
    last = status.last
    if last is None:
        status.state = "never ran"
        status.problems.append(StatusMsg.NEVER_RAN.format(import_id=import_id))
        return status
    status.files = store.runs_of_command(last)
    if last["ended_at"] is None:
        status.state = "failed"
        status.problems.append(
            StatusMsg.NEVER_FINISHED.format(
                import_id=import_id,
                command=last["command"],
                started=last["started_at"],
                pid=last["pid"],
            )
        )
    elif last["exit_code"] != 0:
        status.state = "failed"
        status.problems.append(
            StatusMsg.FAILED.format(
                import_id=import_id,
                command=last["command"],
                ended=last["ended_at"],
                code=last["exit_code"],
                outcome=status.outcome,
            )
        )
    if success is None:
        if status.state == "ok":
            status.state = "failed"
        status.problems.append(StatusMsg.NO_SUCCESS.format(import_id=import_id))
    elif now - datetime.fromisoformat(success["ended_at"]) > max_age:
        if status.state == "ok":
            status.state = "stale"
        status.problems.append(
            StatusMsg.STALE.format(
                import_id=import_id, when=success["ended_at"], max_age=describe(max_age)
            )
        )
    if status.held and status.state == "ok":
        status.state = "held"
    return status


def status_line(status: ImportStatus) -> str:
    """One plain line per import: its state, its last command, its last success, what waits."""
    parts = [f"{status.import_id}: {status.state}"]
    if status.running is not None:
        running = status.running
        parts.append(
            f"a {running['command']} is running since {running['started_at']}"
            f" (process {running['pid']})"
        )
    last = status.last
    if last is not None:
        when = last["ended_at"] or f"started {last['started_at']}, never finished"
        code = "" if last["exit_code"] is None else f", exit {last['exit_code']}"
        parts.append(f"last {last['command']} {when}{code} ({status.outcome})")
    parts.append(f"last success {status.last_success or 'never'}")
    waiting = ", ".join(f"{publisher} {n}" for publisher, n in status.pending.items())
    parts.append(f"to publish: {waiting or 'nothing'}")
    if status.held:
        runs = ", ".join(f"run {h['run_id']}" for h in status.held)
        parts.append(f"held for approval: {runs}")
    return "; ".join(parts)
