"""Durations and points in time as an administrator writes them: `26h`, `7d`, `2026-12-01`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from enum import StrEnum

_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:\d+[wdhms])+")
_PART = re.compile(r"(\d+)([wdhms])")


class TimespanMsg(StrEnum):
    BAD_DURATION = (
        "{value!r} is not a duration: write a number and a unit, e.g. 26h, 7d, 90m, 1d12h."
    )
    BAD_SINCE = (
        "{value!r} is neither a duration (7d, 26h) nor a date (2026-12-01, or 2026-12-01T02:00)."
    )


def parse_duration(text: str) -> timedelta:
    """``26h``, ``7d``, ``90m``, ``2w``, ``45s``, or several at once (``1d12h``)."""
    value = text.strip().lower()
    if not _DURATION.fullmatch(value):
        raise ValueError(TimespanMsg.BAD_DURATION.format(value=text))
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    if seconds == 0:
        raise ValueError(TimespanMsg.BAD_DURATION.format(value=text))
    return timedelta(seconds=seconds)


def parse_since(text: str, now: datetime) -> datetime:
    """A duration back from ``now``, or a date (its local midnight) or a date and time
    (local time unless it carries an offset)."""
    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(TimespanMsg.BAD_SINCE.format(value=text)) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    return when


def describe(span: timedelta) -> str:
    """A duration as it was probably written: 26h, 7d, 90m."""
    seconds = int(span.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
