"""Undo what one run changed, as a new recorded run.

Sessions the run created are deleted, updated ones get their old values back,
cancelled ones come back with their GUID and id. What the run published is queued
again, inverted, for the same remote LMSs. A record that a later run
changed makes the whole revert refuse: undoing it would silently drop that later
change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from session_import.store import Change, Store, record_from


class RevertRefused(Exception):
    """The run cannot be reverted; ``reasons`` names each record and the later run."""

    def __init__(self, reasons: list[str]):
        super().__init__("\n".join(reasons))
        self.reasons = reasons


@dataclass
class RevertResult:
    run_id: int  # the new run that recorded the revert
    reverted_run: int
    counts: dict[str, int] = field(default_factory=dict)  # "deleted", "restored", "recreated"
    dry_run: bool = False


_INVERSE = {"create": "delete", "update": "update", "delete": "create"}
_COUNT = {"create": "deleted", "update": "restored", "delete": "recreated"}


def revert_run(store: Store, run_id: int, *, dry_run: bool, now: datetime) -> RevertResult:
    run = next((r for r in store.runs() if r["id"] == run_id), None)
    if run is None:
        raise RevertRefused([f"There is no run {run_id}; `session-import history` lists the runs."])
    if run["dry_run"]:
        raise RevertRefused([f"Run {run_id} was a dry run: it changed nothing."])
    started = now.isoformat(timespec="seconds")
    with store.transaction(rollback=dry_run):
        entries = store.run_journal(run_id)
        later = store.later_changes(run_id, {(e["table"], e["id"]) for e in entries})
        if later:
            reasons = []
            for (table, record_id), later_run in sorted(later.items()):
                entry = next(e for e in entries if e["table"] == table and e["id"] == record_id)
                name = table.rstrip("s")
                label = entry["guid"] or record_id
                reasons.append(
                    f"Run {run_id} cannot be reverted: {name} {label} was changed since by run"
                    f" {later_run}; revert run {later_run} first."
                )
            raise RevertRefused(reasons)
        changes: list[Change] = []
        counts = dict.fromkeys(_COUNT.values(), 0)
        for entry in reversed(entries):
            before = record_from(entry["table"], entry["before"]) if entry["before"] else None
            after = record_from(entry["table"], entry["after"]) if entry["after"] else None
            op = _INVERSE[entry["op"]]
            counts[_COUNT[entry["op"]]] += 1
            changes.append(Change(entry["line"], entry["table"], op, after, before))
        new_run = store.begin_run(run["import_id"], "revert", run["file"], None, started,
                                  dry_run, reverts_run=run_id)
        store.apply(changes)
        store.journal(new_run, changes)
        # the remote LMSs the reverted run published to get the inverse changes too,
        # delivered by the import's next run or publish
        store.enqueue(run["import_id"], store.publishers_of_run(run_id), new_run, changes, {})
        store.end_run(new_run, now.isoformat(timespec="seconds"), counts, 0)
    if dry_run:
        with store.transaction():
            new_run = store.begin_run(run["import_id"], "revert", run["file"], None, started,
                                      True, reverts_run=run_id)
            store.end_run(new_run, now.isoformat(timespec="seconds"), counts, 0)
    return RevertResult(new_run, run_id, counts, dry_run)
