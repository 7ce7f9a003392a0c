"""`--metrics-file`: the Prometheus text format that node_exporter's textfile collector reads.

Every value comes from the store's history (its commands, runs and outbox), not from the
command that writes the file, so a night that failed still shows the last success. The
file is written beside its target and renamed over it: the collector never reads half a
file (it only reads names ending in .prom, which the temporary one does not).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from session_import.errors import ExitCode, SessionImportError
from session_import.report import COUNT_NAMES
from session_import.store import StoreInterface

OUTCOMES = tuple(n for n in COUNT_NAMES if n != "rows")


class MetricsMsg(StrEnum):
    NOT_WRITTEN = "Could not write the metrics file {path}: {reason}; the exit code is unchanged."


class MetricsError(SessionImportError):
    exit_code = ExitCode.FILE_FAILED
    pass


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def metrics_text(store: StoreInterface, imports: dict[str, list[str]]) -> bytes:
    """``imports``: import id -> the publishers its configuration names."""
    registry = CollectorRegistry()
    labels = ["import"]
    last_end = Gauge(
        "session_import_last_run_end_timestamp_seconds",
        "When the import's last run or publish ended (Unix time).",
        labels,
        registry=registry,
    )
    last_success = Gauge(
        "session_import_last_success_timestamp_seconds",
        "When a run or publish of the import last ended with exit code 0.",
        labels,
        registry=registry,
    )
    duration = Gauge(
        "session_import_last_run_duration_seconds",
        "How long the import's last run or publish took.",
        labels,
        registry=registry,
    )
    exit_code = Gauge(
        "session_import_last_run_exit_code",
        "The exit code the import's last run or publish ended with.",
        labels,
        registry=registry,
    )
    finished = Gauge(
        "session_import_last_run_finished",
        "1 when the import's last run or publish ended, 0 when it never did "
        "(killed, interrupted, or the store failed).",
        labels,
        registry=registry,
    )
    rows = Gauge(
        "session_import_last_run_rows",
        "Rows of the import's last run, by outcome.",
        ["import", "outcome"],
        registry=registry,
    )
    pending = Gauge(
        "session_import_pending_changes",
        "Changes still waiting to be delivered, per publisher.",
        ["import", "publisher"],
        registry=registry,
    )
    held = Gauge(
        "session_import_held_runs",
        "Runs of the import held for approval (a file past a safety limit), not yet approved"
        " or discarded.",
        labels,
        registry=registry,
    )
    for import_id, publishers in imports.items():
        held.labels(import_id).set(len(store.held_runs(import_id)))
        commands = store.latest_commands(import_id, 1)
        success = store.last_success(import_id)
        if success is not None:
            last_success.labels(import_id).set(_timestamp(success["ended_at"]))
        waiting = dict.fromkeys(publishers, 0)
        waiting.update(dict.fromkeys(store.publishers_of_import(import_id), 0))
        waiting.update(store.pending_by_publisher(import_id))
        for publisher, n in waiting.items():
            pending.labels(import_id, publisher).set(n)
        if not commands:
            continue
        last = commands[0]
        finished.labels(import_id).set(0 if last["ended_at"] is None else 1)
        if last["ended_at"] is None:
            continue
        last_end.labels(import_id).set(_timestamp(last["ended_at"]))
        duration.labels(import_id).set(last["seconds"] or 0.0)
        exit_code.labels(import_id).set(last["exit_code"])
        counts = last["counts"] or {}
        for outcome in OUTCOMES:
            rows.labels(import_id, outcome).set(counts.get(outcome, 0))
    return generate_latest(registry)


def write_metrics(store: StoreInterface, imports: dict[str, list[str]], path: str | Path) -> None:
    """Write the metrics file through a temporary file in its folder, then rename it."""
    path = Path(path)
    tmp_name = None
    try:
        data = metrics_text(store, imports)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)  # node_exporter runs as another user
        os.replace(tmp_name, path)
        tmp_name = None
    except OSError as exc:
        raise MetricsError(
            MetricsMsg.NOT_WRITTEN.format(path=path, reason=exc.strerror or exc)
        ) from exc
    finally:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
