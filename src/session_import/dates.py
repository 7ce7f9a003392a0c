"""Dates written in a CrossKnowledge ``dateFormat`` (tokens YYYY MM DD HH II SS).

A format is compiled once into a regular expression; a cell is parsed to an ISO
string (``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS``) without ``strptime``, which is
the costliest call of a naive import. A format with a time also accepts the date
alone (its part before the first time token), because HR systems often leave the
time out of all-day sessions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_DATE_FORMAT = "YYYY-MM-DD"
# dateFormat's characters, in either case (ASCII only: "ı".upper() is "I")
ALLOWED_CHARACTERS = frozenset("YMDHISymdhis /_.:;,-")
_TOKENS = {
    "YYYY": r"(?P<Y>\d{4})",
    "MM": r"(?P<M>\d{1,2})",
    "DD": r"(?P<D>\d{1,2})",
    "HH": r"(?P<H>\d{1,2})",
    "II": r"(?P<I>\d{2})",
    "SS": r"(?P<S>\d{2})",
}
DATE_TOKENS = ("YYYY", "MM", "DD")
TIME_TOKENS = ("HH", "II", "SS")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def has_valid_characters(text: str) -> bool:
    return bool(text) and all(ch in ALLOWED_CHARACTERS for ch in text)


def _tokenize(text: str) -> list[str]:
    """The format's tokens (upper case) and, between them, its other characters one by one."""
    upper = text.upper()
    parts: list[str] = []
    i = 0
    while i < len(upper):
        for token in _TOKENS:
            if upper.startswith(token, i):
                parts.append(token)
                i += len(token)
                break
        else:
            if upper[i] in "YMDHIS":
                raise ValueError(
                    f"the date format {text} has a stray {text[i]!r}; "
                    "write the tokens YYYY, MM, DD, HH, II, SS in full"
                )
            parts.append(upper[i])
            i += 1
    return parts


@dataclass(frozen=True)
class DateFormat:
    text: str
    has_time: bool
    _full: re.Pattern
    _date_only: re.Pattern | None
    # tokens and the characters between them, to write a date in the format
    parts: tuple[str, ...] = field(default=(), compare=False)
    # how a date alone is written: the format without a time, else its part before the
    # time; None when that part lacks YYYY, MM or DD
    date_parts: tuple[str, ...] | None = field(default=None, compare=False)

    def parse(self, value: str) -> str | None:
        """The ISO form of ``value``, or None when it does not parse or does not exist."""
        return _parse(self, value)


@lru_cache(maxsize=65536)
def _parse(fmt: DateFormat, value: str) -> str | None:
    m = fmt._full.fullmatch(value)
    if m is None and fmt._date_only is not None:
        m = fmt._date_only.fullmatch(value)
    if m is None:
        return None
    g = m.groupdict()
    year, month, day = int(g["Y"]), int(g["M"]), int(g["D"])
    if not (1 <= month <= 12 and 1 <= day <= _DAYS[month - 1] and year >= 1):
        return None
    if month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        return None
    iso = f"{year:04d}-{month:02d}-{day:02d}"
    if g.get("H") is None:
        return iso
    hour, minute, second = int(g["H"]), int(g.get("I") or 0), int(g.get("S") or 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return f"{iso}T{hour:02d}:{minute:02d}:{second:02d}"


class DateFormatMsg(StrEnum):
    CHARACTERS = "the date format {text} has characters other than 'YMDHIS /_.:;,-'"
    ONCE = "the date format {text} must contain {token} exactly once"
    AT_MOST_ONCE = "the date format {text} must contain {token} at most once"
    NO_HOURS = "the date format {text} has minutes or seconds without hours"


@lru_cache(maxsize=64)
def compile_date_format(text: str) -> DateFormat:
    """Compile ``text``; ValueError(reason) when it is not a usable format."""
    if not has_valid_characters(text):
        raise ValueError(DateFormatMsg.CHARACTERS.format(text=text))
    parts = _tokenize(text)
    for token in DATE_TOKENS:
        if parts.count(token) != 1:
            raise ValueError(DateFormatMsg.ONCE.format(text=text, token=token))
    for token in TIME_TOKENS:
        if parts.count(token) > 1:
            raise ValueError(DateFormatMsg.AT_MOST_ONCE.format(text=text, token=token))
    if "II" in parts and "HH" not in parts or "SS" in parts and "II" not in parts:
        raise ValueError(DateFormatMsg.NO_HOURS.format(text=text))
    has_time = "HH" in parts
    date_parts = _date_part(parts) if has_time else parts
    date_only = _pattern(date_parts) if has_time and date_parts else None
    return DateFormat(
        text,
        has_time,
        _pattern(parts),
        date_only,
        tuple(parts),
        None if date_parts is None else tuple(date_parts),
    )


def _date_part(parts: list[str]) -> list[str] | None:
    """The part of a format before its first time token, without the characters that end it."""
    head = parts[: min(parts.index(t) for t in TIME_TOKENS if t in parts)]
    while head and head[-1] not in _TOKENS:
        head.pop()
    return head if all(t in head for t in DATE_TOKENS) else None


def _pattern(parts: list[str]) -> re.Pattern:
    return re.compile("".join(_TOKENS.get(p) or re.escape(p) for p in parts))


GAP, AMBIGUOUS = "gap", "ambiguous"


@lru_cache(maxsize=65536)
def zone_problem(iso: str, zone_name: str) -> str | None:
    """GAP when a daylight-saving change skips this local time, AMBIGUOUS when it repeats it."""
    if len(iso) == 10:
        return None
    zone = ZoneInfo(zone_name)
    local = datetime.fromisoformat(iso)
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return GAP if back != local else AMBIGUOUS
