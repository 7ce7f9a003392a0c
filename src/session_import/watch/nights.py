"""Every night on record: each `run` or `publish`, per import, in the store's commands table.

The row is committed when the command starts, so a command killed before its end is
on record as one that never finished; at the end it gets the exit code the command
gave that import (the worst of its files, deliveries included) and its rows by
outcome. `status` and the metrics file read it back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime

from session_import.errors import worst
from session_import.report import COUNT_NAMES, Report
from session_import.store import StoreInterface


def on_record(
    store: StoreInterface,
    import_ids: Iterable[str],
    command: str,
    clock: Callable[[], datetime],
    work: Callable[[], Report],
) -> Report:
    """Run ``work`` (one run or publish) with one commands row per import around it."""
    import_ids = list(import_ids)
    ids = store.begin_commands(import_ids, command, clock().isoformat(timespec="seconds"))
    started = time.monotonic()
    report = work()
    ended = clock().isoformat(timespec="seconds")
    store.end_commands(
        {
            ids[import_id]: (
                ended,
                int(import_exit_code(report, import_id)),
                import_counts(report, import_id),
            )
            for import_id in ids
        },
        time.monotonic() - started,
    )
    return report


def import_exit_code(report: Report, import_id: str) -> int:
    return worst(f.exit_code for f in report.files if f.import_id == import_id)


def import_counts(report: Report, import_id: str) -> dict[str, int]:
    """Rows by outcome over the files this command read for the import, added up as a
    run's counts are (the rows of earlier runs whose changes it delivered are not this
    night's rows)."""
    total = dict.fromkeys(COUNT_NAMES, 0)
    for f in report.files:
        if f.import_id == import_id and not f.earlier_run:
            for name in COUNT_NAMES:
                total[name] += f.counts[name]
    return total
