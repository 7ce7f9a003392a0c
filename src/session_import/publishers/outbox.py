"""Deliver an import's queued changes to its remote LMSs, in queue order, once.

The outbox lives in the store (Store.enqueue, in the file's own transaction); this
module decides whose turn it is and records what became of each change, in small
groups: a kill loses nothing and sends nothing twice (a create is committed as
``attempted`` before its request goes out, and the client looks for an attempted
create on the remote system before sending it again).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from session_import.model import RecordOp
from session_import.publishers.contract import (
    Client,
    CredentialsError,
    Delivery,
    RemoteChange,
    SessionData,
)

if TYPE_CHECKING:  # the store imports this package's payload: no cycle at run time
    from session_import.store import StoreInterface

STATES = ("published", "rejected", "pending", "skipped")
QUEUE_PAGE = 2000  # queued changes read at a time
SETTLE_GROUP = 100  # outcomes committed together


@dataclass
class RunDelivery:
    """What became of one run's queued changes, for one publisher."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    # (line, row {"cells", "values"} or None, message, local kind count name)
    rejected: list[tuple[int | None, dict | None, str, str]] = field(default_factory=list)
    warnings: list[tuple[int | None, str]] = field(default_factory=list)
    # (line, local kind count name) of each change settled now: published, skipped, rejected
    settled: list[tuple[int | None, str]] = field(default_factory=list)


@dataclass
class PublishResult:
    # publisher -> run id -> what became of that run's changes
    runs: dict[str, dict[int, RunDelivery]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # refused credentials, unreachable service

    def for_run(self, publisher: str, run_id: int) -> RunDelivery:
        return self.runs.setdefault(publisher, {}).setdefault(run_id, RunDelivery())


def _now() -> str:
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


def boot_clock() -> tuple[str, float] | None:
    """(this boot's id, seconds since boot): a clock that no change of the wall clock moves,
    the same for every process of one boot (Linux); None where there is none."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            boot_id = handle.read().strip()
        return boot_id, time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError, ValueError):
        return None


def _load_pace(store: StoreInterface, client: Client, wall_clock: Callable[[], float]) -> None:
    """Count the calls earlier commands sent in the client's pacing window (Zoho's limit
    is the service's, not one command's).

    The store keeps wall-clock times, and the wall clock jumps (a night an hour ahead,
    NTP stepping it back). With the boot clock of the command that recorded them, a call's
    age is exact within one boot whatever the wall clock did; otherwise (after a reboot)
    a time from the future counts as just now: an unknown age is never taken as old.
    """
    pacer = client.pacer
    if pacer is None:
        return
    wall, mono, boot = wall_clock(), pacer.clock(), boot_clock()
    anchor = store.pace_anchor(client.name)
    # (seconds since boot, the anchor's wall-clock time of the boot) when both are this boot's
    on_boot = (
        (boot[1], anchor[1])
        if boot is not None and anchor is not None and anchor[0] == boot[0]
        else None
    )
    earlier = []
    for at in store.recent_calls(client.name, -math.inf):
        age = on_boot[0] - (at - on_boot[1]) if on_boot is not None else wall - at
        age = max(age, 0.0)
        if age < pacer.span:
            earlier.append(mono - age)
    earlier.sort()
    pacer.sent.extendleft(reversed([t for t in earlier if not pacer.sent or t < pacer.sent[0]]))


def _save_pace(store: StoreInterface, client: Client, wall_clock: Callable[[], float]) -> None:
    pacer = client.pacer
    if pacer is None:
        return
    wall, mono, boot = wall_clock(), pacer.clock(), boot_clock()
    anchor = None if boot is None else (boot[0], wall - boot[1])
    store.record_calls(
        client.name, [wall - (mono - t) for t in pacer.sent], wall - pacer.span, anchor=anchor
    )


def _change(entry: dict) -> RemoteChange:
    kind = entry["kind"]
    if kind == "update" and entry["remote_id"] is None:
        kind = "create"  # its create was rejected or never sent: send the session whole
    return RemoteChange(
        id=entry["id"],
        kind=kind,
        session=SessionData(**entry["session"]),
        changed=frozenset(entry["changed"]) if kind == "update" else frozenset(),
        remote_id=entry["remote_id"],
        # a create of a session that had a remote id (a reverted cancel) may still be
        # there (Zoho cannot delete): look for it before sending it
        attempted=entry["attempted"] or (kind == "create" and entry["remote_id"] is not None),
        line=entry["line"],
    )


def deliver(
    store: StoreInterface,
    import_id: str,
    clients: Iterable[Client],
    *,
    deadline: float | None = None,
    on_wait: Callable[[str, float], None] | None = None,
    now: Callable[[], str] = _now,
    wall_clock: Callable[[], float] = time.time,
) -> PublishResult:
    """Deliver every pending change of ``import_id`` to each client; never raises for the
    remote side (what cannot be delivered stays queued and is counted pending).

    ``deadline`` is a time of the monotonic clock; ``wall_clock`` (Unix time) is only read
    to store when calls were sent, for the next command's pacing."""
    result = PublishResult()
    for client in clients:
        _load_pace(store, client, wall_clock)
        try:
            _deliver_to(store, import_id, client, result, deadline, on_wait, now)
        except CredentialsError as exc:
            result.errors.append(exc.message)
        finally:
            _save_pace(store, client, wall_clock)
        for run_id, pending in store.pending_counts(import_id, client.name).items():
            result.for_run(client.name, run_id).counts["pending"] += pending
    return result


def _deliver_to(
    store: StoreInterface,
    import_id: str,
    client: Client,
    result: PublishResult,
    deadline: float | None,
    on_wait,
    now,
) -> None:
    """Passes over the queue, oldest change first, a page at a time (memory stays flat).

    In a pass a session's first pending change has its turn; its later ones wait for
    the next pass. Passes go on while one settles something and left some waiting."""
    name = client.name
    reported: set[str] = set()
    while True:
        after, progress, deferred = 0, False, False
        seen: set[int] = set()  # sessions whose oldest pending change had its turn
        while entries := store.queued(import_id, name, QUEUE_PAGE, after):
            after = entries[-1]["id"]
            turn: list[RemoteChange] = []
            by_id: dict[int, dict] = {}
            for entry in entries:
                if entry["session_id"] in seen:
                    deferred = True  # an earlier change of the same session goes first
                    continue
                seen.add(entry["session_id"])
                if entry["kind"] == "cancel" and entry["remote_id"] is None:
                    # never delivered: nothing to delete
                    store.settle_many([(entry["id"], "skipped", now(), None, False, None)])
                    run = result.for_run(name, entry["run_id"])
                    run.counts["skipped"] += 1
                    run.settled.append((entry["line"], "cancelled"))
                    progress = True
                    continue
                by_id[entry["id"]] = entry
                turn.append(_change(entry))
            if not turn:
                continue
            if deadline is not None and time.monotonic() >= deadline:
                return
            progress |= _deliver_turn(
                store, client, turn, by_id, result, reported, deadline, on_wait, now
            )
        if not (progress and deferred):
            return


def _deliver_turn(
    store: StoreInterface,
    client: Client,
    turn: list[RemoteChange],
    by_id: dict[int, dict],
    result: PublishResult,
    reported: set[str],
    deadline,
    on_wait,
    now,
) -> bool:
    """One client delivery; True when it settled something.

    Outcomes are committed in groups (at most SETTLE_GROUP, and always before the next
    request that carries a create): a kill that loses a group only makes the next run
    ask again, since its creates were committed as attempted first and are looked up."""
    name = client.name
    unsaved: list[tuple] = []

    def save() -> None:
        if unsaved:
            store.settle_many(unsaved)
            unsaved.clear()

    def before_send(ids) -> None:
        save()
        store.mark_attempted(ids)

    def taken(remote_id: str, change_id: int) -> bool:
        save()
        owner = store.remote_owner(name, remote_id)
        return owner is not None and owner != by_id[change_id]["session_id"]

    progress = False
    delivery = Delivery(
        turn, before_send=before_send, deadline=deadline, on_wait=on_wait, taken=taken
    )
    try:
        for outcome in client.deliver(delivery):
            progress |= _record(
                outcome, by_id[outcome.change_id], name, result, reported, unsaved, store, now
            )
            if len(unsaved) >= SETTLE_GROUP:
                save()
    finally:
        save()
    return progress


def _record(
    outcome,
    entry: dict,
    name: str,
    result: PublishResult,
    reported: set[str],
    unsaved: list[tuple],
    store: StoreInterface,
    now,
) -> bool:
    """Note what became of one change; True when it is settled."""
    run = result.for_run(name, entry["run_id"])
    if outcome.state == "pending":
        if outcome.message:
            store.note_pending(entry["id"], outcome.message)
            if outcome.message not in reported:
                reported.add(outcome.message)
                result.errors.append(outcome.message)
        return False
    remote = None
    if outcome.remote_id is not None:
        remote = (entry["session_id"], name, outcome.remote_id)
    unsaved.append((entry["id"], outcome.state, now(), outcome.message, outcome.warning, remote))
    run.counts[outcome.state] += 1
    kind = RecordOp.of_outbox_kind(entry["kind"]).row_kind.value
    run.settled.append((entry["line"], kind))
    if outcome.state == "rejected":
        run.rejected.append((entry["line"], entry["row"], outcome.message or "", kind))
    elif outcome.message and outcome.warning:
        run.warnings.append((entry["line"], outcome.message))
    return True
