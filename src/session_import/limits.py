"""Safety limits: past --max-rejects or --max-cancel, nothing of a file is applied; and no
output is ever written over the store."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import StrEnum

# the --max-cancel of a snapshot feed that gives none: a night that would cancel more than
# a tenth of the sessions the import may modify is far more likely a truncated export than a
# real change of schedule
SNAPSHOT_MAX_CANCEL = "10%"

# what a file past a limit becomes: failed (rolled back, exit 3), or held for approval
# (rolled back and kept, exit 7, until `approve RUN` applies it or `discard RUN` drops it)
ON_LIMIT = ("fail", "hold")

_LIMIT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%?)\s*")


@dataclass(frozen=True)
class Limit:
    value: float
    percent: bool
    text: str

    def allowed(self, total: int) -> float:
        """How many are allowed out of ``total``."""
        return total * self.value / 100 if self.percent else self.value


class LimitMsg(StrEnum):
    NOT_A_LIMIT = "{text!r} is not a count (e.g. 10) or a percentage (e.g. 5%)"
    OVER_100 = "{text!r} is a percentage over 100%"
    REJECTS = (
        "{rejected} of its {rows} rows were rejected, more than --max-rejects {limit} allows"
        " ({allowed}); nothing of the file was applied."
    )
    CANCELS = (
        "it would cancel {cancelled} sessions, more than --max-cancel {limit} allows"
        " ({allowed} of the {modifiable} sessions this import may modify); nothing of the file"
        " was applied."
    )


def parse_limit(text: str) -> Limit:
    """``N`` (a count) or ``P%`` (a percentage from 0 to 100); ValueError otherwise."""
    m = _LIMIT.fullmatch(text or "")
    if not m or (not m.group(2) and "." in m.group(1)):
        raise ValueError(LimitMsg.NOT_A_LIMIT.format(text=text))
    value = float(m.group(1))
    if m.group(2) and value > 100:
        raise ValueError(LimitMsg.OVER_100.format(text=text))
    return Limit(value, bool(m.group(2)), text.strip())


def rejects_exceeded(limit: Limit | None, rejected: int, rows: int) -> str | None:
    if limit is None or rejected <= limit.allowed(rows):
        return None
    return LimitMsg.REJECTS.format(
        rejected=rejected, rows=rows, limit=limit.text, allowed=_allowed(limit, rows)
    )


def cancels_exceeded(limit: Limit | None, cancelled: int, modifiable: int) -> str | None:
    if limit is None or cancelled <= limit.allowed(modifiable):
        return None
    return LimitMsg.CANCELS.format(
        cancelled=cancelled,
        limit=limit.text,
        allowed=_allowed(limit, modifiable),
        modifiable=modifiable,
    )


def _allowed(limit: Limit, total: int) -> str:
    allowed = limit.allowed(total)
    return f"{allowed:g}" if limit.percent else f"{int(allowed)}"


# ---- outputs that must never land on the store ----


class OutputMsg(StrEnum):
    IS_STORE_FILE = (
        "{output} is {what} ({file}): writing there would destroy the store; give another path."
    )


# the files SQLite and the lock keep beside the store, and what each one is
STORE_FILES = (
    ("", "the store"),
    ("-wal", "the store's write-ahead log"),
    ("-shm", "the store's shared-memory index"),
    ("-journal", "the store's rollback journal"),
    (".lock", "the store's lock file"),
)


def store_file_clash(output: str | os.PathLike, db: str | os.PathLike) -> str | None:
    """Why ``output`` must not be written: it is the store or one of the files beside it,
    however it is spelt (relative, ``..``, a symbolic link, a hard link); None otherwise.

    SQLite keeps its journal beside the real file a link leads to, the lock sits beside the
    path given: both places count."""
    target = os.path.realpath(output)
    try:
        output_stat = os.stat(output)
    except OSError:
        output_stat = None
    for base in dict.fromkeys((os.fspath(db), os.path.realpath(db))):
        for suffix, what in STORE_FILES:
            candidate = base + suffix
            if os.path.realpath(candidate) == target or (
                output_stat is not None and _same_file(output_stat, candidate)
            ):
                return OutputMsg.IS_STORE_FILE.format(
                    output=output, what=what, file=os.path.realpath(candidate)
                )
    return None


def _same_file(output_stat: os.stat_result, path: str) -> bool:
    try:
        found = os.stat(path)
    except OSError:
        return False
    return (found.st_dev, found.st_ino) == (output_stat.st_dev, output_stat.st_ino)
