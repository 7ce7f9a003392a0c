"""Row + what the store holds -> a decision: create, update, unchanged, cancel or reject.

Each resolver works on one chunk of rows at a time: ``prepare`` loads, with a few
set-based look-ups, every record the chunk's rows can reach; ``resolve`` then
decides row by row, in file order, against that in-memory view (index.py), which it
keeps up to date with its own decisions (a later row sees what an earlier row of the
same chunk created, changed or cancelled); ``flush`` hands the chunk's changes to the
pipeline, which applies them before the next chunk is prepared. A record that a row
of the chunk can match is either untouched since the chunk was loaded (so it was
loaded) or touched by an earlier row of the chunk (so it is in the view): the
outcome is exactly that of one-by-one processing. The resolvers only read the store,
through ``RecordLookups``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import fields
from operator import attrgetter

from session_import.bookings import TeacherBookings
from session_import.catalog import CANCEL
from session_import.config import ActionConfig
from session_import.index import SessionView
from session_import.messages import Issue, Msg, issue, warning
from session_import.model import (
    KEEP,
    ChangeOp,
    RecordLookups,
    RecordOp,
    RowKind,
    RowOutcome,
    SessionInput,
    SessionRecord,
    TrainingRecord,
)
from session_import.validate import SEARCH_ATTRS, TRAINING_LABELS, id_of_cell, is_before

# a change's op as a plain str: SQLite binds a str subclass several times slower
CREATE, UPDATE, DELETE = (op.value for op in RecordOp)


def new_guid() -> str:
    """A time-ordered (version 7) UUID in upper case: the Unix time in milliseconds, then
    random bits. New GUIDs land at the end of the store's guid index instead of on a random
    page of it: half the cost of that index's inserts at a million sessions."""
    h = f"{time.time_ns() // 1_000_000:012X}{os.urandom(10).hex().upper()}"
    return f"{h[:8]}-{h[8:12]}-7{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# the UUID variant bits (10xx) forced into the first hex digit of the fourth group
_VARIANT = {d: "89AB"[int(d, 16) & 3] for d in "0123456789ABCDEF"}


def reject(line: int, issues: list[Issue]) -> RowOutcome:
    return RowOutcome(line, RowKind.REJECTED, issues)


class Resolver:
    """What every action's resolver shares: its import, ids to hand out, the chunk's changes."""

    table = ""

    def __init__(self, action: ActionConfig, import_id: str, lookups: RecordLookups):
        self.action = action
        self.import_id = import_id
        self.lookups = lookups
        self._next_id: int | None = None
        self.changes: list[ChangeOp] = []

    def new_id(self) -> int:
        """The id of the next record this resolver creates, asked of the store at the first
        create: on a server's store that holds the table's ids for the file until its
        commit, which a file that creates nothing never needs."""
        if self._next_id is None:
            self._next_id = self.lookups.next_id(self.table)
        self._next_id += 1
        return self._next_id - 1

    def flush(self) -> list[ChangeOp]:
        """The chunk's changes in row order, for the pipeline to apply and journal."""
        changes, self.changes = self.changes, []
        return changes


_SESSION_VALUES = attrgetter(*(f.name for f in fields(SessionRecord)))
_TRAINING_ATTRS = {"trainingPathCode": "path_code", "trainingId": "id", "trainingTitle": "title"}
# a row's value for each session attribute an update may set
_UPDATED_ATTRS = (
    ("title", "title"),
    ("status", "status"),
    ("start_date", "start"),
    ("end_date", "end"),
)


class SessionResolver(Resolver):
    table = "sessions"

    def __init__(
        self,
        action: ActionConfig,
        import_id: str,
        lookups: RecordLookups,
        make_guid: Callable[[], str] = new_guid,
    ):
        super().__init__(action, import_id, lookups)
        self.make_guid = make_guid
        self.training_fields = [f for f in action.field_names if f in TRAINING_LABELS]
        # the attributes a row's look-up can start from, and the teacher (double-booking)
        self._session_attrs = tuple(
            SEARCH_ATTRS[f] for f in action.search_fields if SEARCH_ATTRS[f] != "id"
        ) + ("teacher_id",)
        self.bookings = TeacherBookings(lookups)
        self.view = SessionView(self._session_attrs)
        self._training_cache: dict[tuple, list] = {}  # the chunk's training look-ups
        # a snapshot feed's: the sessions a row's search found or created, and the
        # trainings its rows named (what the missing sessions are told apart by)
        self.matched: set[int] | None = set() if action.snapshot is not None else None
        self.trainings_named: set[int] = set()
        # the row just resolved: the session it came to, as it left it, and the criteria
        # its search used (what a digest of it keeps)
        self.last_record: SessionRecord | None = None
        self.last_criteria: dict | None = None

    def prepare(self, inputs: list[SessionInput]) -> None:
        lookups = self.lookups
        view = self.view = SessionView(self._session_attrs)
        self._training_cache = {}
        view.load_sessions(lookups, inputs)
        view.load_trainings(lookups, inputs)
        view.load_teachers(lookups, inputs)
        self.bookings.load(view, inputs)
        view.load_groups(lookups, inputs)  # also those of the sessions a booking overlaps

    # ---- one row ----

    def resolve(self, data: SessionInput, issues: list[Issue]) -> RowOutcome:
        self.last_record = self.last_criteria = None
        data.warnings = [i for i in issues if i.warning]
        errors = [i for i in issues if not i.warning]
        training = self._find_training(data, errors)
        cancel = data.action == CANCEL
        if cancel:
            teacher_id = group_id = KEEP
        else:
            teacher_id = self._find_teacher(data, errors)
            group_id = self._find_group(data, errors)
        if data.action is None or training is False or not data.search_ok:
            self._keep_searched(data)
            return self._reject(data, errors)
        found = self._match(data, training, errors)
        if found is False:
            return self._reject(data, errors)
        if found is None:
            if cancel:
                errors.append(issue(data.line, None, Msg.SESSION_TO_CANCEL_NOT_FOUND))
                return self._reject(data, errors)
            return self._create(data, training, teacher_id, group_id, errors)
        if not self.action.full_access and found.created_by_import != self.import_id:
            errors.append(issue(data.line, None, Msg.NOT_OWNER, guid=found.guid))
        if errors:
            return self._reject(data, errors)
        if cancel:
            return self._cancel(data, found)
        return self._update(data, found, teacher_id, group_id)

    def skipped(self, row) -> None:
        """A row counted unchanged by its digest (session_import.digests): a snapshot
        feed's session and training it names, as its full resolution would keep them."""
        if self.matched is not None:
            self.matched.add(row.session_id)
            if row.training_id is not None:
                self.trainings_named.add(row.training_id)

    def _keep_searched(self, data: SessionInput) -> None:
        """A snapshot feed: a row rejected before its look-up (an unknown training, a bad
        code) still keeps the sessions its search fields find, whatever their training."""
        if self.matched is not None and data.search and data.search_ok:
            self.matched.update(s.id for s in self.view.sessions.find(data.criteria))

    @staticmethod
    def _reject(data: SessionInput, errors: list[Issue]) -> RowOutcome:
        return RowOutcome(data.line, RowKind.REJECTED, errors + data.warnings)

    def _match(self, data: SessionInput, training, errors: list[Issue]):
        """The one session the row's search finds, None when it finds none, False when
        what it finds rejects the row (several, or not the GUID or id the row gives)."""
        crit = data.criteria
        if isinstance(training, TrainingRecord):
            crit = {**crit, "training_id": training.id}
        self.last_criteria = crit
        matches = self.view.sessions.find(crit) if data.search else []
        if not matches:
            return None
        if self.matched is not None:
            self.matched.update(m.id for m in matches)
        line = data.line
        if len(matches) > 1:
            described = ", ".join(f"{f} {v}" for f, v in data.search_raw.items())
            errors.append(issue(line, None, Msg.SESSION_DUPLICATED, criteria=described))
            return False
        found = matches[0]
        mismatch = False
        if data.guid is not None and found.guid != data.guid:
            errors.append(issue(line, "sessionGuid", Msg.SESSION_GUID_NOT_FOUND, value=data.guid))
            mismatch = True
        if data.id_raw is not None and found.id != id_of_cell(data.id_raw):
            errors.append(issue(line, "sessionId", Msg.SESSION_ID_NOT_FOUND, value=data.id_raw))
            mismatch = True
        return False if mismatch else found

    def _create(
        self, data: SessionInput, training, teacher_id, group_id, errors: list[Issue]
    ) -> RowOutcome:
        """A new session, when the row's search found none and nothing forbids it."""
        line = data.line
        lost = False  # the row names a session by GUID or id that does not exist
        if data.guid is not None:
            errors.append(issue(line, "sessionGuid", Msg.SESSION_GUID_NOT_FOUND, value=data.guid))
            lost = True
        if data.id_raw is not None:
            errors.append(issue(line, "sessionId", Msg.SESSION_ID_NOT_FOUND, value=data.id_raw))
            lost = True
        if not lost and training is None:
            errors.append(issue(line, None, Msg.CANNOT_CREATE_WITHOUT_TRAINING))
        if errors:
            return self._reject(data, errors)
        if data.title is KEEP:
            empty = issue(line, "sessionTitle", Msg.FIELD_EMPTY, field="sessionTitle")
            return RowOutcome(line, RowKind.REJECTED, [empty, *data.warnings])
        record = SessionRecord(
            id=self.new_id(),
            guid=self.make_guid(),
            title=data.title,
            status=data.status if data.status is not KEEP else "open",
            start_date=None if data.start is KEEP else data.start,
            end_date=None if data.end is KEEP else data.end,
            training_id=training.id,
            teacher_id=None if teacher_id is KEEP else teacher_id,
            group_id=None if group_id is KEEP else group_id,
            created_by_import=self.import_id,
            updated_by_import=self.import_id,
        )
        if self.matched is not None:
            self.matched.add(record.id)
        self.view.sessions.add(record)
        self.last_record = record
        self.changes.append(ChangeOp(line, "sessions", CREATE, None, record))
        return RowOutcome(line, RowKind.CREATED, self._warnings(data, record), guid=record.guid)

    def _cancel(self, data: SessionInput, found: SessionRecord) -> RowOutcome:
        self.view.sessions.remove(found)
        self.bookings.cancelled(found.id)
        self.changes.append(ChangeOp(data.line, "sessions", DELETE, found, None))
        return RowOutcome(data.line, RowKind.CANCELLED, list(data.warnings), guid=found.guid)

    def _update(self, data: SessionInput, found: SessionRecord, teacher_id, group_id) -> RowOutcome:
        new = SessionRecord(*_SESSION_VALUES(found))
        for attr, name in _UPDATED_ATTRS:
            value = getattr(data, name)
            if value is not KEEP:
                setattr(new, attr, value)
        if teacher_id is not KEEP:
            new.teacher_id = teacher_id
        if group_id is not KEEP:
            new.group_id = group_id
        if (
            (data.start is KEEP) != (data.end is KEEP)
            and new.start_date
            and new.end_date
            and is_before(new.end_date, new.start_date)
        ):
            return self._reject(data, [self._end_before_start(data, new)])
        diff = self._diff(found, new)
        if not diff:
            self.last_record = found
            return RowOutcome(data.line, RowKind.UNCHANGED, list(data.warnings), guid=found.guid)
        new.updated_by_import = self.import_id
        self.last_record = new
        self.view.sessions.replace(found, new)
        self.changes.append(ChangeOp(data.line, "sessions", UPDATE, found, new))
        rebooked = (new.teacher_id, new.start_date, new.end_date) != (
            found.teacher_id,
            found.start_date,
            found.end_date,
        )
        warnings = self._warnings(data, new) if rebooked else list(data.warnings)
        return RowOutcome(
            data.line, RowKind.UPDATED, warnings, diff=diff, guid=found.guid, title=new.title
        )

    @staticmethod
    def _end_before_start(data: SessionInput, new: SessionRecord) -> Issue:
        """The row gives one date only, and the stored other one makes the session end first."""
        end = data.raw.get("sessionEndDate") or new.end_date
        start = data.raw.get("sessionStartDate") or new.start_date
        return issue(data.line, "sessionEndDate", Msg.END_BEFORE_START, end=end, start=start)

    def _warnings(self, data: SessionInput, record: SessionRecord) -> list[Issue]:
        """The row's warnings, and the teacher's double booking that the record makes."""
        other = self.bookings.first_overlap(record)
        if other is None:
            return list(data.warnings)
        booked = warning(
            data.line,
            "teacherLogin",
            Msg.TEACHER_BOOKED,
            login=self.view.login(record.teacher_id),
            title=other.title,
            guid=other.guid,
        )
        return data.warnings + [booked]

    def _diff(self, old: SessionRecord, new: SessionRecord) -> dict[str, list]:
        diff: dict[str, list] = {}
        for attr in ("title", "status", "start_date", "end_date"):
            if getattr(old, attr) != getattr(new, attr):
                diff[attr] = [getattr(old, attr), getattr(new, attr)]
        if old.teacher_id != new.teacher_id:
            diff["teacher_login"] = [
                self.view.login(old.teacher_id),
                self.view.login(new.teacher_id),
            ]
        if old.group_id != new.group_id:
            diff["group_name"] = [
                self.view.group_name(old.group_id),
                self.view.group_name(new.group_id),
            ]
        return diff

    # ---- look-ups ----

    def _find_training(self, data: SessionInput, errors: list[Issue]):
        """The training, None when no training field is configured, False when the look-up
        failed."""
        if not self.training_fields:
            return None
        if not data.training:
            return False
        key = tuple(data.training.items())
        found = self._training_cache.get(key)
        if found is None:
            crit: dict[str, object] = {
                _TRAINING_ATTRS[name]: id_of_cell(value) if name == "trainingId" else value
                for name, value in key
            }
            order = [a for a in ("id", "path_code", "title") if a in crit]
            found = self._training_cache[key] = self.view.trainings.find(
                {a: crit[a] for a in order}
            )
        if len(found) == 1:
            if self.matched is not None:
                self.trainings_named.add(found[0].id)
            return found[0]
        described = ", ".join(f"{TRAINING_LABELS[n]} {v}" for n, v in key)
        code = Msg.TRAINING_NOT_FOUND if not found else Msg.TRAINING_DUPLICATED
        errors.append(issue(data.line, self.training_fields[0], code, criteria=described))
        return False

    def _find_teacher(self, data: SessionInput, errors: list[Issue]):
        login = data.teacher_login
        if not isinstance(login, str):
            return login  # KEEP or None (reset)
        found = self.view.users.find({"login": login})
        if not found:
            errors.append(issue(data.line, "teacherLogin", Msg.TEACHER_NOT_FOUND, value=login))
            return KEEP
        return found[0].id

    def _find_group(self, data: SessionInput, errors: list[Issue]):
        if isinstance(data.group_guid, str):
            found = self.view.groups.find({"guid": data.group_guid})
            if not found:
                errors.append(
                    issue(data.line, "groupGuid", Msg.GROUP_GUID_NOT_FOUND, value=data.group_guid)
                )
                return KEEP
            return found[0].id
        if isinstance(data.group_name, str):
            return self._group_by_name(data, errors)
        if data.group_guid is None or data.group_name is None:
            return None
        return KEEP

    def _group_by_name(self, data: SessionInput, errors: list[Issue]):
        found = self.view.groups.find({"name": data.group_name})
        if len(found) == 1:
            return found[0].id
        code = Msg.GROUP_NAME_NOT_FOUND if not found else Msg.GROUP_NAME_DUPLICATED
        errors.append(issue(data.line, "groupName", code, value=data.group_name))
        return KEEP
