"""The store's history as a person reads it (runs, each run's journal), and its undo.

journal_view, run_outcome and the render_* views say what the recorded runs did;
revert_run undoes what one run changed, as a new recorded run.

Sessions the run created are deleted, updated ones get their old values back,
cancelled ones come back with their GUID and id. What the run published is queued
again, inverted, for the same remote LMSs. A record that a later run
changed makes the whole revert refuse: undoing it would silently drop that later
change. So does a training, teacher or group the run created that sessions (or
groups) still use: deleting it would leave them pointing at nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from rich.console import Console
from rich.table import Table

from session_import.errors import ExitCode, SessionImportError
from session_import.model import ChangeOp, RecordOp, record_from
from session_import.render import field_changes, safe_cells, say, terminal_safe
from session_import.report import COUNT_NAMES
from session_import.store import StoreInterface

NAMED = 5  # referring sessions named per record, then "and N more"
RECORDS_NAMED = 20  # records named, then one line for the rest


class HistoryMsg(StrEnum):
    NOTHING_CHANGED = "Run {run_id} changed nothing."


class RevertMsg(StrEnum):
    NO_RUN = "There is no run {run}; `session-import history` lists the runs."
    DRY_RUN = "Run {run} was a dry run: it changed nothing."
    NOTHING_APPLIED = "Run {run} applied nothing ({outcome}): there is nothing to revert."
    CHANGED_SINCE = (
        "Run {run} cannot be reverted: {record} was changed since by run {later};"
        " revert run {later} first."
    )
    STILL_USED = (
        "Run {run} cannot be reverted: {record} is still used by {referrers}; change or cancel"
        " them first."
    )
    GONE = (
        "Run {run} cannot be reverted: {referrers} would come back with {record}, which no"
        " longer exists; revert the run that deleted it first."
    )
    MORE_USED = "Run {run} cannot be reverted: {count} more records are still used."
    ONE_MORE_USED = "Run {run} cannot be reverted: 1 more record is still used."
    AND_MORE = "{named} and {more} more"
    DONE = (
        "Run {run} reverted by run {new_run}: {deleted} deleted, {restored} restored,"
        " {recreated} recreated."
    )
    WOULD = (
        "[dry run] Run {run} would be reverted: {deleted} deleted, {restored} restored,"
        " {recreated} recreated; nothing was changed."
    )


class RevertRefused(SessionImportError):
    """The run cannot be reverted; ``reasons`` names each record and why."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, reasons: list[str]):
        super().__init__("\n".join(reasons))
        self.reasons = reasons


@dataclass
class RevertResult:
    run_id: int  # the new run that recorded the revert
    reverted_run: int
    counts: dict[str, int] = field(default_factory=dict)  # "deleted", "restored", "recreated"
    dry_run: bool = False

    def summary(self) -> str:
        template = RevertMsg.WOULD if self.dry_run else RevertMsg.DONE
        return template.format(run=self.reverted_run, new_run=self.run_id, **self.counts)


_SINGULAR = {"sessions": "session", "trainings": "training", "users": "teacher", "groups": "group"}


def revert_run(store: StoreInterface, run_id: int, *, dry_run: bool, now: datetime) -> RevertResult:
    run = next((r for r in store.runs() if r["id"] == run_id), None)
    if run is None:
        raise RevertRefused([RevertMsg.NO_RUN.format(run=run_id)])
    if run["dry_run"]:
        raise RevertRefused([RevertMsg.DRY_RUN.format(run=run_id)])
    if run["kind"] in ("skip", "no_file"):
        outcome = "a file skipped as already imported" if run["kind"] == "skip" else "no file"
        raise RevertRefused([RevertMsg.NOTHING_APPLIED.format(run=run_id, outcome=outcome)])
    started = now.isoformat(timespec="seconds")
    with store.transaction(rollback=dry_run):
        store.defer_foreign_keys()
        entries = store.run_journal(run_id)
        later = store.later_changes(run_id, {(e["table"], e["id"]) for e in entries})
        if later:
            reasons = []
            for (table, record_id), later_run in sorted(later.items()):
                entry = next(e for e in entries if e["table"] == table and e["id"] == record_id)
                name = table.rstrip("s")
                label = entry["guid"] or record_id
                reasons.append(
                    RevertMsg.CHANGED_SINCE.format(
                        run=run_id, record=f"{name} {label}", later=later_run
                    )
                )
            raise RevertRefused(reasons)
        changes: list[ChangeOp] = []
        counts = dict.fromkeys((op.reverted_as for op in RecordOp), 0)
        for entry in reversed(entries):
            before = record_from(entry["table"], entry["before"]) if entry["before"] else None
            after = record_from(entry["table"], entry["after"]) if entry["after"] else None
            done = RecordOp(entry["op"])
            counts[done.reverted_as] += 1
            changes.append(
                ChangeOp(entry["line"], entry["table"], done.inverse.value, after, before)
            )
        new_run = store.begin_run(
            run["import_id"], "revert", run["file"], None, started, dry_run, reverts_run=run_id
        )
        store.apply(changes)
        broken = store.broken_references()
        if broken:
            raise RevertRefused(_broken(store, run_id, broken, entries))
        store.journal(new_run, changes)
        # the remote LMSs the reverted run published to get the inverse changes too,
        # delivered by the import's next run or publish
        store.enqueue(run["import_id"], store.publishers_of_run(run_id), new_run, changes, {})
        # undone: its consolidators no longer have anything to report or move
        store.drop_due_consolidators([run_id])
        store.end_run(new_run, now.isoformat(timespec="seconds"), counts, 0)
    if dry_run:
        with store.transaction():
            new_run = store.begin_run(
                run["import_id"], "revert", run["file"], None, started, True, reverts_run=run_id
            )
            store.end_run(new_run, now.isoformat(timespec="seconds"), counts, 0)
    return RevertResult(new_run, run_id, counts, dry_run)


def _broken(store: StoreInterface, run_id: int, broken: dict, entries: list[dict]) -> list[str]:
    """One line per record that others would be left pointing at: one the revert deletes
    while sessions (or groups) still use it, or one gone since that a record coming back
    needs."""
    deleted = {(e["table"], e["id"]): e["after"] for e in entries if e["op"] == "create"}
    reasons = []
    for key in sorted(broken)[:RECORDS_NAMED]:
        referrers = [f"{_SINGULAR[table]} {name} ({guid})" for table, guid, name in broken[key]]
        named = ", ".join(referrers[:NAMED])
        if len(referrers) > NAMED:
            named = RevertMsg.AND_MORE.format(named=named, more=len(referrers) - NAMED)
        table, record_id = key
        if key in deleted:
            record = _label(table, deleted[key])
            reasons.append(RevertMsg.STILL_USED.format(run=run_id, record=record, referrers=named))
        else:
            known = store.last_recorded(table, record_id)
            record = _label(table, known) if known else f"{_SINGULAR[table]} #{record_id}"
            reasons.append(RevertMsg.GONE.format(run=run_id, record=record, referrers=named))
    more = len(broken) - RECORDS_NAMED
    if more > 0:
        template = RevertMsg.ONE_MORE_USED if more == 1 else RevertMsg.MORE_USED
        reasons.append(template.format(run=run_id, count=more))
    return reasons


def _label(table: str, record: dict) -> str:
    """A record as an administrator knows it: a training by its path code, a teacher by
    login, a group by name."""
    if table == "trainings":
        key = record["path_code"]
    elif table == "users":
        key = record["login"] or record["ref_number"] or record["email"] or f"#{record['id']}"
    elif table == "groups":
        key = f"{record['name']} ({record['guid']})"
    else:
        key = f"{record['title']} ({record['guid']})"
    return f"{_SINGULAR[table]} {key}"


# ---- runs and journal ----

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
            gone = key is None and value is not None
            out[_REFERENCE_NAMES[name]] = f"(gone, id {value})" if gone else key
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
    op = RecordOp(entry["op"])
    view["done"] = op.row_kind.value if entry["table"] == "sessions" else op.value + "d"
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
    if run.get("reason") and run.get("exit_code") == ExitCode.HELD:
        return f"held for approval: {run['reason']}"
    if run.get("reason"):
        return f"failed: {run['reason']}"
    counts = run.get("counts") or {}
    if run.get("exit_code") == ExitCode.FILE_FAILED:
        return "every row rejected"
    if counts.get("rejected"):
        return f"{counts['rejected']} row{'s' if counts['rejected'] != 1 else ''} rejected"
    return "dry run" if run.get("dry_run") else "applied"


def render_runs(runs: list[dict], out: Console) -> None:
    columns = (
        "id",
        "import",
        "file",
        "sha256",
        "started",
        "ended",
        "dry run",
        "counts",
        "exit",
        "to publish",
        "outcome",
    )
    rows = []
    for r in runs:
        counts = r["counts"] or {}
        summary = ", ".join(f"{counts[k]} {k}" for k in COUNT_NAMES if counts.get(k))
        what = r["file"] or ""
        if r["reverts_run"]:
            what = f"revert of run {r['reverts_run']}"
        elif out.is_terminal:
            what = Path(what).name  # a cut-off path helps nobody: the name stays whole
        rows.append(
            (
                str(r["id"]),
                r["import_id"],
                what,
                (r["sha256"] or "")[:12],
                r["started_at"],
                r["ended_at"] or "",
                "yes" if r["dry_run"] else "no",
                summary,
                "" if r["exit_code"] is None else str(r["exit_code"]),
                str(r.get("pending") or 0),
                run_outcome(r),
            )
        )
    if out.is_terminal:
        table = Table(title="session-import runs, newest first")
        for name in columns:
            table.add_column(name, no_wrap=name in ("id", "file", "started"))
        for row in rows:
            table.add_row(*safe_cells(*row))
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
    return f"line {view['line']}: {who} {view['done']}: {field_changes(view['fields'], '; ')}"


def render_journal(run_id: int, views: Iterable[dict], out: Console) -> None:
    """A run's journal, one line per change, written as it is read (a run may hold millions)."""
    empty = True
    for view in views:
        empty = False
        say(out, journal_line(view))
    if empty:
        say(out, HistoryMsg.NOTHING_CHANGED.format(run_id=run_id))
