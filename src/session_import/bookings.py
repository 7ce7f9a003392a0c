"""The teacher double-booking check: the first other session of a teacher that a
session overlaps, over what the store holds and what the chunk has decided."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import TypeGuard

from session_import.index import RecordIndex, SessionView
from session_import.model import KEEP, RecordLookups, SessionInput, SessionRecord


class TeacherBookings:
    """Loads, with one query per chunk, every stored session a row could overlap, and
    later the few windows that earlier rows of the chunk made (a session moved)."""

    def __init__(self, lookups: RecordLookups):
        self.lookups = lookups
        # the longest timed session, in days: it bounds how far back an overlap can start
        self.longest = lookups.longest_session_days()
        self.sessions: RecordIndex[SessionRecord] = RecordIndex(("teacher_id",))
        self._windows: set[tuple] = set()  # (teacher, start, end) whose bookings are loaded
        self._cancelled: set[int] = set()  # sessions the chunk cancelled: never reloaded

    def load(self, view: SessionView, inputs: list[SessionInput]) -> None:
        """Every stored session that a row of the chunk could overlap, in one query.

        A row's final teacher and times are its own cells, or else those of the
        session it updates (one of its candidates, all in the view by now).
        """
        self.sessions = view.sessions
        self._windows = set()
        self._cancelled = set()
        by_login = {u.login: u.id for u in view.users.by_id.values()}
        windows = set()
        no_base: list[SessionRecord | None] = [None]
        for data in inputs:
            for base in view.sessions.candidates(data.criteria) or no_base:
                booking = _booking_of(data, base, by_login)
                if booking is None:
                    continue
                teacher, start, end = booking
                windows.add((teacher, _days_before(start, self.longest), start, end))
                self._windows.add(booking)
        if windows:
            view.sessions.add_all(self.lookups.sessions_overlapping(windows))

    def cancelled(self, session_id: int) -> None:
        self._cancelled.add(session_id)

    def first_overlap(self, session: SessionRecord) -> SessionRecord | None:
        """The first (lowest id) other session of the same teacher that overlaps this one,
        which is now booked as it is; None when there is none."""
        start, end = session.start_date, session.end_date
        if not (_timed(start) and _timed(end)):
            return None
        self._note_span(start, end)
        if session.teacher_id is None:
            return None
        self._load_window(session.teacher_id, start, end)
        by_id = self.sessions.by_id
        first = None
        own = session.id
        for other_id in self.sessions.values["teacher_id"].get(session.teacher_id, ()):
            if other_id == own or (first is not None and other_id > first):
                continue
            other = by_id[other_id]
            o_start, o_end = other.start_date, other.end_date
            # a timed value is 'YYYY-MM-DDTHH:MM:SS'; a date alone never overlaps
            if (
                o_start is not None
                and o_end is not None
                and o_start < end
                and start < o_end
                and len(o_start) == 19
                and len(o_end) == 19
            ):
                first = other_id
        return None if first is None else by_id[first]

    def _note_span(self, start: str, end: str) -> None:
        if end[:10] == start[:10]:  # the same day: the span from the times alone
            span = (_seconds(end) - _seconds(start)) / 86400
        else:
            span = (datetime.fromisoformat(end) - datetime.fromisoformat(start)) / timedelta(days=1)
        if span > self.longest:
            self.longest = span

    def _load_window(self, teacher: int, start: str, end: str) -> None:
        """A window that ``load`` could not foresee (an earlier row of the chunk moved the
        session or its times): load its stored bookings now, once."""
        if (teacher, start, end) in self._windows:
            return
        self._windows.add((teacher, start, end))
        window = (teacher, _days_before(start, self.longest), start, end)
        for record in self.lookups.sessions_overlapping([window]):
            if record.id not in self._cancelled:
                self.sessions.add(record)  # a record the chunk already holds keeps its newer state


def _booking_of(
    data: SessionInput, base: SessionRecord | None, by_login: dict[str | None, int]
) -> tuple | None:
    """(teacher, start, end) of the session the row leaves, if it updates ``base`` (or
    creates one when ``base`` is None); None when there is no booking to check."""
    login = data.teacher_login
    if isinstance(login, str):
        teacher = by_login.get(login)
    else:
        teacher = base.teacher_id if base is not None and login is KEEP else None
    start = data.start if data.start is not KEEP else (base.start_date if base else None)
    end = data.end if data.end is not KEEP else (base.end_date if base else None)
    if base is not None and (teacher, start, end) == (
        base.teacher_id,
        base.start_date,
        base.end_date,
    ):
        return None  # the row leaves the booking as it is: no warning to give
    if teacher is not None and _timed(start) and _timed(end):
        return teacher, start, end
    return None


@lru_cache(maxsize=4096)
def _days_before(iso: str, days: float) -> str:
    return (datetime.fromisoformat(iso) - timedelta(days=days)).isoformat(timespec="seconds")


def _seconds(iso: str) -> int:
    """Seconds since midnight of a timed ISO value 'YYYY-MM-DDTHH:MM:SS'."""
    return int(iso[11:13]) * 3600 + int(iso[14:16]) * 60 + int(iso[17:19])


def _timed(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 19
