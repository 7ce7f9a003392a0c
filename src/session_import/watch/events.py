"""What a command does, as events a machine reads: `--log-format json` writes one per line.

The pipeline calls an observer (``RunOptions.on_event``) with an ``Event`` at each step;
it never prints. The CLI renders each event as one JSON object on stderr. An event is
a value: its name, its level, and the import, file and run it belongs to where they
apply, plus fields of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from session_import.report import COUNT_NAMES, FileReport


class EventName:
    COMMAND_STARTED = "command_started"
    COMMAND_ENDED = "command_ended"
    FILE_STARTED = "file_started"
    FILE_ENDED = "file_ended"
    FILE_SKIPPED = "file_skipped"  # already imported by an earlier run
    NO_FILE = "no_file"  # the provider's glob matched nothing
    REJECTED_ROW = "rejected_row"
    WARNING = "warning"
    DELIVERY = "delivery"
    DELIVERY_ERROR = "delivery_error"
    CONSOLIDATOR = "consolidator"
    WAIT = "wait"  # a publisher waits (rate limit, lock, back-off)
    MESSAGE = "message"  # any other line the command writes to stderr


@dataclass(frozen=True)
class Event:
    event: str
    level: str = "info"  # info, warning, error
    import_id: str | None = None
    file: str | None = None
    run_id: int | None = None
    fields: dict = field(default_factory=dict)


Observer = Callable[[Event], None]

_encode = json.JSONEncoder(ensure_ascii=False).encode


def json_line(event: Event, ts: datetime) -> str:
    """One JSON object: ``ts`` (ISO 8601 with its offset), ``level``, ``event``, then
    ``import``, ``file`` and ``run_id`` where they apply, then the event's own fields."""
    out: dict = {
        "ts": ts.isoformat(timespec="milliseconds"),
        "level": event.level,
        "event": event.event,
    }
    for key, value in (("import", event.import_id), ("file", event.file), ("run_id", event.run_id)):
        if value is not None:
            out[key] = value
    out.update(event.fields)
    return _encode(out)


def file_ended(reports: Iterable[FileReport]) -> Iterator[Event]:
    """The events of a file once its transaction ended: its rejected rows, its warnings,
    then one ``file_ended`` per action with the counts, the run id and the exit code."""
    for report in reports:
        where = (report.import_id, report.file, report.run_id)
        for row in report.rejected:
            yield Event(
                EventName.REJECTED_ROW,
                "error",
                *where,
                fields={"line": row.line, "messages": list(row.messages)},
            )
        for line, messages in report.warnings:
            yield Event(
                EventName.WARNING,
                "warning",
                *where,
                fields={"line": line, "messages": list(messages)},
            )
        fields = {
            "action": report.action,
            "counts": {n: report.counts[n] for n in COUNT_NAMES},
            "exit_code": int(report.exit_code),
            "seconds": round(report.seconds, 3),
        }
        if report.error is not None:
            fields["error"] = report.error
        level = "error" if report.error is not None or report.counts["rejected"] else "info"
        yield Event(EventName.FILE_ENDED, level, *where, fields=fields)
