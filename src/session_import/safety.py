"""Safety limits: past --max-rejects or --max-cancel, nothing of a file is applied."""

from __future__ import annotations

import re
from dataclasses import dataclass

_LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True)
class Limit:
    value: float
    percent: bool
    text: str

    def allowed(self, total: int) -> float:
        """How many are allowed out of ``total``."""
        return total * self.value / 100 if self.percent else self.value


def parse_limit(text: str) -> Limit:
    """``N`` (a count) or ``P%`` (a percentage from 0 to 100); ValueError otherwise."""
    m = _LIMIT.fullmatch(text or "")
    if not m or (not m.group(2) and "." in m.group(1)):
        raise ValueError(f"{text!r} is not a count (e.g. 10) or a percentage (e.g. 5%)")
    value = float(m.group(1))
    if m.group(2) and value > 100:
        raise ValueError(f"{text!r} is a percentage over 100%")
    return Limit(value, bool(m.group(2)), text.strip())


def rejects_exceeded(limit: Limit | None, rejected: int, rows: int) -> str | None:
    if limit is None or rejected <= limit.allowed(rows):
        return None
    return (
        f"{rejected} of its {rows} rows were rejected, more than --max-rejects {limit.text}"
        f" allows ({_allowed(limit, rows)}); nothing of the file was applied."
    )


def cancels_exceeded(limit: Limit | None, cancelled: int, modifiable: int) -> str | None:
    if limit is None or cancelled <= limit.allowed(modifiable):
        return None
    return (
        f"it would cancel {cancelled} sessions, more than --max-cancel {limit.text} allows"
        f" ({_allowed(limit, modifiable)} of the {modifiable} sessions this import may modify);"
        " nothing of the file was applied."
    )


def _allowed(limit: Limit, total: int) -> str:
    allowed = limit.allowed(total)
    return f"{allowed:g}" if limit.percent else f"{int(allowed)}"
