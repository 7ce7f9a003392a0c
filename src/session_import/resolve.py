"""Row + what the store holds -> a decision: create, update, unchanged, cancel or reject.

Each resolver works on one chunk of rows at a time: ``prepare`` loads, with a few
set-based queries, every record the chunk's rows can reach; ``resolve`` then
decides row by row, in file order, against that in-memory view, which it keeps up
to date with its own decisions (a later row sees what an earlier row of the same
chunk created, changed or cancelled); ``flush`` hands the chunk's changes to the
store. A record that a row of the chunk can match is either untouched since the
chunk was loaded (so it was loaded) or touched by an earlier row of the chunk (so
it is in the view): the outcome is exactly that of one-by-one processing.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from operator import attrgetter
from datetime import datetime, timedelta

from session_import.config import ActionConfig
from session_import.messages import Issue, Msg, issue, warning
from session_import.catalog import CANCEL
from session_import.model import ChangeOp, GroupRecord, SessionRecord, TrainingRecord, UserRecord
from session_import.store import Store
from session_import.validate import (
    KEEP,
    SEARCH_ATTRS,
    TRAINING_LABELS,
    LearnerInput,
    SessionInput,
    TrainingInput,
    is_before,
)

CREATED, UPDATED, UNCHANGED, CANCELLED, REJECTED = (
    "created",
    "updated",
    "unchanged",
    "cancelled",
    "rejected",
)


def new_guid() -> str:
    """A random (version 4) UUID in upper case; three times faster than str(uuid.uuid4())."""
    h = os.urandom(16).hex().upper()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


# the UUID variant bits (10xx) forced into the first hex digit of the fourth group
_VARIANT = {d: "89AB"[int(d, 16) & 3] for d in "0123456789ABCDEF"}


@dataclass
class Outcome:
    line: int
    kind: str
    issues: list[Issue] = field(default_factory=list)  # errors when rejected, plus warnings
    changes: list[ChangeOp] = field(default_factory=list)
    diff: dict[str, list] | None = None  # updated fields: name -> [old, new]
    guid: str | None = None
    title: str | None = None  # an updated session's title, shown beside its GUID


def _reject(line: int, issues: list[Issue]) -> Outcome:
    return Outcome(line, REJECTED, issues)


class _Index:
    """Records of one table by id, with value -> ids indexes on chosen attributes."""

    def __init__(self, attrs: tuple[str, ...]):
        self.attrs = attrs
        self.by_id: dict[int, object] = {}
        self.values: dict[str, dict[object, set[int]]] = {a: {} for a in attrs}

    def add(self, record) -> None:
        if record.id in self.by_id:
            return
        self.by_id[record.id] = record
        for attr in self.attrs:
            self.values[attr].setdefault(getattr(record, attr), set()).add(record.id)

    def remove(self, record) -> None:
        del self.by_id[record.id]
        for attr in self.attrs:
            ids = self.values[attr].get(getattr(record, attr))
            if ids is not None:
                ids.discard(record.id)

    def replace(self, old, new) -> None:
        self.remove(old)
        self.add(new)

    def find(self, criteria: dict[str, object]) -> list:
        """Records whose attributes equal every criterion (an empty criteria matches nothing)."""
        if not criteria:
            return []
        first = next(iter(criteria))
        if first == "id":
            record = self.by_id.get(criteria["id"])
            candidates = [record] if record is not None else []
        else:
            ids = self.values[first].get(criteria[first], ())
            if not ids:
                return []
            candidates = [self.by_id[i] for i in ids]
        if len(candidates) == 1 and len(criteria) == 1:
            return candidates
        return sorted(
            (r for r in candidates if all(getattr(r, a) == v for a, v in criteria.items())),
            key=lambda r: r.id,
        )


_SEARCH_PRIORITY = tuple(SEARCH_ATTRS.values())


class _Resolver:
    """What every action's resolver shares: its import, ids to hand out, the chunk's changes."""

    table = ""

    def __init__(self, action: ActionConfig, import_id: str, store: Store):
        self.action = action
        self.import_id = import_id
        self.store = store
        self.next_id = store.next_id(self.table)
        self.changes: list[ChangeOp] = []

    def flush(self) -> list[ChangeOp]:
        """Write the chunk's changes; returned for the journal."""
        changes, self.changes = self.changes, []
        self.store.apply(changes)
        return changes


class SessionResolver(_Resolver):
    table = "sessions"

    def __init__(
        self,
        action: ActionConfig,
        import_id: str,
        store: Store,
        make_guid: Callable[[], str] = new_guid,
    ):
        super().__init__(action, import_id, store)
        self.make_guid = make_guid
        self.training_fields = [f for f in action.field_names if f in TRAINING_LABELS]
        # the attributes a row's look-up can start from, and the teacher (double-booking)
        self._session_attrs = tuple(
            SEARCH_ATTRS[f] for f in action.search_fields if SEARCH_ATTRS[f] != "id"
        ) + ("teacher_id",)
        self.longest = store.longest_session_days()
        self._reset()

    def _reset(self) -> None:
        self.sessions = _Index(self._session_attrs)
        self.trainings = _Index(("path_code", "title"))
        self._training_cache: dict[tuple, list] = {}  # the chunk's training look-ups
        self._windows: set[tuple] = set()  # (teacher, start, end) whose bookings are loaded
        self._cancelled: set[int] = set()  # sessions this chunk cancelled: never reloaded
        self.users = _Index(("login",))
        self.groups = _Index(("guid", "name"))

    def prepare(self, inputs: list[SessionInput]) -> None:
        self._reset()
        store = self.store
        wanted: dict[str, set] = {a: set() for a in _SEARCH_PRIORITY}
        for data in inputs:
            crit = data.criteria
            if crit and data.search_ok:
                first = next(iter(crit))
                wanted[first].add(crit[first])
        for attr, values in wanted.items():
            for record in store.sessions_by(attr, values):
                self.sessions.add(record)
        ids = {
            "path_code": {d.training.get("trainingPathCode") for d in inputs},
            "id": {_int(d.training.get("trainingId")) for d in inputs},
            "title": {d.training.get("trainingTitle") for d in inputs},
        }
        ids["id"] |= {r.training_id for r in self.sessions.by_id.values()}
        for attr, values in ids.items():
            for record in store.trainings_by(attr, values):
                self.trainings.add(record)
        logins = {d.teacher_login for d in inputs if isinstance(d.teacher_login, str)}
        for record in store.users_by("login", logins):
            self.users.add(record)
        teacher_ids = {r.teacher_id for r in self.sessions.by_id.values()}
        for record in store.users_by("id", teacher_ids):
            self.users.add(record)
        self._load_teacher_bookings(inputs)
        for attr, values in (
            ("name", {d.group_name for d in inputs if isinstance(d.group_name, str)}),
            ("guid", {d.group_guid for d in inputs if isinstance(d.group_guid, str)}),
            ("id", {r.group_id for r in self.sessions.by_id.values()}),
        ):
            for record in store.groups_by(attr, values):
                self.groups.add(record)

    def _load_teacher_bookings(self, inputs: list[SessionInput]) -> None:
        """Every stored session that a row of the chunk could overlap, in one query.

        A row's final teacher and times are its own cells, or else those of the
        session it updates (one of its candidates, all loaded by now).
        """
        by_login = {u.login: u.id for u in self.users.by_id.values()}
        windows = set()
        for data in inputs:
            crit = data.criteria
            first = next(iter(crit), None)
            if first == "id":
                candidates = [self.sessions.by_id[crit["id"]]] if crit["id"] in self.sessions.by_id else []
            elif first is not None:
                candidates = [self.sessions.by_id[i] for i in self.sessions.values[first].get(crit[first], ())]
            else:
                candidates = []
            for base in candidates or [None]:
                teacher = by_login.get(data.teacher_login) if isinstance(data.teacher_login, str) else (
                    base.teacher_id if base is not None and data.teacher_login is KEEP else None)
                start = data.start if data.start is not KEEP else (base.start_date if base else None)
                end = data.end if data.end is not KEEP else (base.end_date if base else None)
                if base is not None and (teacher, start, end) == (base.teacher_id, base.start_date, base.end_date):
                    continue  # the row leaves the booking as it is: no warning to give
                if teacher is not None and _timed(start) and _timed(end):
                    windows.add((teacher, _days_before(start, self.longest), start, end))
                    self._windows.add((teacher, start, end))
        if windows:
            for record in self.store.sessions_overlapping(windows):
                self.sessions.add(record)

    def _load_window(self, teacher: int, start: str, end: str) -> None:
        """A window that prepare could not foresee (an earlier row of the chunk moved the
        session or its times): load its stored bookings now, once."""
        if (teacher, start, end) in self._windows:
            return
        self._windows.add((teacher, start, end))
        window = (teacher, _days_before(start, self.longest), start, end)
        for record in self.store.sessions_overlapping([window]):
            if record.id not in self._cancelled:
                self.sessions.add(record)  # a record the chunk already holds keeps its newer state

    def _booking_warning(self, line: int, session: SessionRecord) -> Issue | None:
        """The first (lowest id) other session of the same teacher that overlaps this one."""
        start, end = session.start_date, session.end_date
        if session.teacher_id is None or not (_timed(start) and _timed(end)):
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
            if (o_start is not None and o_end is not None and o_start < end and start < o_end
                    and len(o_start) == 19 and len(o_end) == 19):
                first = other_id
        if first is None:
            return None
        other = by_id[first]
        return warning(line, "teacherLogin", Msg.TEACHER_BOOKED,
                       login=self._login(session.teacher_id), title=other.title, guid=other.guid)

    # ---- one row ----

    def resolve(self, data: SessionInput, issues: list[Issue]) -> Outcome:
        line = data.line
        data.warnings = [i for i in issues if i.warning]
        issues = [i for i in issues if not i.warning]
        training = self._find_training(data, issues)
        cancel = data.action == CANCEL
        teacher_id = group_id = KEEP
        if not cancel:
            teacher_id = self._find_teacher(data, issues)
            group_id = self._find_group(data, issues)
        if data.action is None or training is False or not data.search_ok:
            return _reject(line, issues + data.warnings)
        crit = data.criteria
        if isinstance(training, TrainingRecord):
            crit = {**crit, "training_id": training.id}
        matches = self.sessions.find(crit) if data.search else []
        if len(matches) > 1:
            described = ", ".join(f"{f} {v}" for f, v in data.search_raw.items())
            issues.append(issue(line, None, Msg.SESSION_DUPLICATED, criteria=described))
            return _reject(line, issues + data.warnings)
        found = matches[0] if matches else None
        if found is not None:
            mismatch = False
            if data.guid is not None and found.guid != data.guid:
                issues.append(issue(line, "sessionGuid", Msg.SESSION_GUID_NOT_FOUND, value=data.guid))
                mismatch = True
            if data.id_raw is not None and found.id != _int(data.id_raw):
                issues.append(issue(line, "sessionId", Msg.SESSION_ID_NOT_FOUND, value=data.id_raw))
                mismatch = True
            if mismatch:
                return _reject(line, issues + data.warnings)
        if found is None:
            if cancel:
                issues.append(issue(line, None, Msg.SESSION_TO_CANCEL_NOT_FOUND))
                return _reject(line, issues + data.warnings)
            lost = False
            if data.guid is not None:
                issues.append(issue(line, "sessionGuid", Msg.SESSION_GUID_NOT_FOUND, value=data.guid))
                lost = True
            if data.id_raw is not None:
                issues.append(issue(line, "sessionId", Msg.SESSION_ID_NOT_FOUND, value=data.id_raw))
                lost = True
            if not lost and training is None:
                issues.append(issue(line, None, Msg.CANNOT_CREATE_WITHOUT_TRAINING))
            if issues:
                return _reject(line, issues + data.warnings)
            return self._create(data, training, teacher_id, group_id)
        if not self.action.full_access and found.created_by_import != self.import_id:
            issues.append(issue(line, None, Msg.NOT_OWNER, guid=found.guid))
        if issues:
            return _reject(line, issues + data.warnings)
        if cancel:
            self.sessions.remove(found)
            self._cancelled.add(found.id)
            self.changes.append(ChangeOp(line, "sessions", "delete", found, None))
            return Outcome(line, CANCELLED, list(data.warnings), guid=found.guid)
        return self._update(data, found, teacher_id, group_id)

    def _create(self, data: SessionInput, training, teacher_id, group_id) -> Outcome:
        if data.title is KEEP:
            empty = issue(data.line, "sessionTitle", Msg.FIELD_EMPTY, field="sessionTitle")
            return _reject(data.line, [empty, *data.warnings])
        record = SessionRecord(
            id=self.next_id,
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
        self.next_id += 1
        self.sessions.add(record)
        self.changes.append(ChangeOp(data.line, "sessions", "create", None, record))
        return Outcome(data.line, CREATED, self._warnings(data, record), guid=record.guid)

    def _warnings(self, data: SessionInput, record: SessionRecord) -> list[Issue]:
        start, end = record.start_date, record.end_date
        if _timed(start) and _timed(end):
            if end[:10] == start[:10]:  # the same day: the span from the times alone
                span = (_seconds(end) - _seconds(start)) / 86400
            else:
                span = (datetime.fromisoformat(end) - datetime.fromisoformat(start)) / timedelta(days=1)
            if span > self.longest:
                self.longest = span
        booked = self._booking_warning(data.line, record)
        return data.warnings + ([booked] if booked else [])

    def _update(self, data: SessionInput, found: SessionRecord, teacher_id, group_id) -> Outcome:
        new = SessionRecord(*_SESSION_VALUES(found))
        for attr, value in (
            ("title", data.title),
            ("status", data.status),
            ("start_date", data.start),
            ("end_date", data.end),
            ("teacher_id", teacher_id),
            ("group_id", group_id),
        ):
            if value is not KEEP:
                setattr(new, attr, value)
        if (data.start is KEEP) != (data.end is KEEP) and new.start_date and new.end_date:
            if is_before(new.end_date, new.start_date):
                end = self._raw_or_iso(data, "sessionEndDate", new.end_date)
                start = self._raw_or_iso(data, "sessionStartDate", new.start_date)
                before = issue(data.line, "sessionEndDate", Msg.END_BEFORE_START, end=end, start=start)
                return _reject(data.line, [before, *data.warnings])
        diff = self._diff(found, new)
        if not diff:
            return Outcome(data.line, UNCHANGED, list(data.warnings), guid=found.guid)
        new.updated_by_import = self.import_id
        self.sessions.replace(found, new)
        self.changes.append(ChangeOp(data.line, "sessions", "update", found, new))
        rebooked = (new.teacher_id, new.start_date, new.end_date) != (
            found.teacher_id, found.start_date, found.end_date)
        warnings = self._warnings(data, new) if rebooked else list(data.warnings)
        return Outcome(data.line, UPDATED, warnings, diff=diff, guid=found.guid, title=new.title)

    @staticmethod
    def _raw_or_iso(data: SessionInput, name: str, iso: str) -> str:
        return data.raw.get(name) or iso

    def _diff(self, old: SessionRecord, new: SessionRecord) -> dict[str, list]:
        diff: dict[str, list] = {}
        for attr in ("title", "status", "start_date", "end_date"):
            if getattr(old, attr) != getattr(new, attr):
                diff[attr] = [getattr(old, attr), getattr(new, attr)]
        if old.teacher_id != new.teacher_id:
            diff["teacher_login"] = [self._login(old.teacher_id), self._login(new.teacher_id)]
        if old.group_id != new.group_id:
            diff["group_name"] = [self._group_name(old.group_id), self._group_name(new.group_id)]
        return diff

    def _login(self, user_id: int | None) -> str | None:
        user = self.users.by_id.get(user_id)
        return user.login if user else None

    def _group_name(self, group_id: int | None) -> str | None:
        group = self.groups.by_id.get(group_id)
        return group.name if group else None

    # ---- look-ups ----

    def _find_training(self, data: SessionInput, issues: list[Issue]):
        """The training, None when no training field is configured, False when the look-up failed."""
        if not self.training_fields:
            return None
        if not data.training:
            return False
        key = tuple(data.training.items())
        found = self._training_cache.get(key)
        if found is None:
            crit = {_TRAINING_ATTRS[name]: value for name, value in key}
            if "id" in crit:
                crit["id"] = _int(crit["id"])
            order = [a for a in ("id", "path_code", "title") if a in crit]
            found = self._training_cache[key] = self.trainings.find({a: crit[a] for a in order})
        if len(found) == 1:
            return found[0]
        described = ", ".join(f"{TRAINING_LABELS[n]} {v}" for n, v in key)
        code = Msg.TRAINING_NOT_FOUND if not found else Msg.TRAINING_DUPLICATED
        issues.append(issue(data.line, self.training_fields[0], code, criteria=described))
        return False

    def _find_teacher(self, data: SessionInput, issues: list[Issue]):
        login = data.teacher_login
        if not isinstance(login, str):
            return login  # KEEP or None (reset)
        found = self.users.find({"login": login})
        if not found:
            issues.append(issue(data.line, "teacherLogin", Msg.TEACHER_NOT_FOUND, value=login))
            return KEEP
        return found[0].id

    def _find_group(self, data: SessionInput, issues: list[Issue]):
        if isinstance(data.group_guid, str):
            found = self.groups.find({"guid": data.group_guid})
            if not found:
                issues.append(issue(data.line, "groupGuid", Msg.GROUP_GUID_NOT_FOUND, value=data.group_guid))
                return KEEP
            return found[0].id
        if isinstance(data.group_name, str):
            found = self.groups.find({"name": data.group_name})
            if not found:
                issues.append(issue(data.line, "groupName", Msg.GROUP_NAME_NOT_FOUND, value=data.group_name))
                return KEEP
            if len(found) > 1:
                issues.append(
                    issue(data.line, "groupName", Msg.GROUP_NAME_DUPLICATED, value=data.group_name)
                )
                return KEEP
            return found[0].id
        if data.group_guid is None or data.group_name is None:
            return None
        return KEEP


@lru_cache(maxsize=4096)
def _days_before(iso: str, days: float) -> str:
    return (datetime.fromisoformat(iso) - timedelta(days=days)).isoformat(timespec="seconds")


def _seconds(iso: str) -> int:
    """Seconds since midnight of a timed ISO value 'YYYY-MM-DDTHH:MM:SS'."""
    return int(iso[11:13]) * 3600 + int(iso[14:16]) * 60 + int(iso[17:19])


_SESSION_VALUES = attrgetter(*(f.name for f in fields(SessionRecord)))
_TRAINING_ATTRS = {"trainingPathCode": "path_code", "trainingId": "id", "trainingTitle": "title"}


def _timed(value) -> bool:
    return isinstance(value, str) and len(value) == 19


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else -1


# ---- reference data ----


class TrainingResolver(_Resolver):
    table = "trainings"

    def prepare(self, inputs: list[TrainingInput]) -> None:
        self.index = _Index(("path_code",))
        for record in self.store.trainings_by("path_code", {d.path_code for d in inputs}):
            self.index.add(record)
        self.session_counts = self.store.session_counts_by_training(self.index.by_id)

    def resolve(self, data: TrainingInput, issues: list[Issue]) -> Outcome:
        line = data.line
        issues = list(issues)
        if data.action is None or not data.path_code:
            return _reject(line, issues)
        found = self.index.find({"path_code": data.path_code})
        current = found[0] if found else None
        if current is not None and not self.action.full_access:
            if current.created_by_import != self.import_id:
                issues.append(issue(line, None, Msg.TRAINING_NOT_OWNER, value=data.path_code))
        if data.action == CANCEL:
            if current is None:
                issues.append(issue(line, None, Msg.TRAINING_TO_CANCEL_NOT_FOUND))
            elif self.session_counts.get(current.id):
                count = self.session_counts[current.id]
                issues.append(issue(line, None, Msg.TRAINING_HAS_SESSIONS, value=data.path_code, count=count))
            if issues:
                return _reject(line, issues)
            self.index.remove(current)
            self.changes.append(ChangeOp(line, "trainings", "delete", current, None))
            return Outcome(line, CANCELLED, guid=current.guid)
        if current is None:
            for name, value in (("trainingTitle", data.title), ("trainingModality", data.modality)):
                if not isinstance(value, str) and not any(i.field == name for i in issues):
                    issues.append(issue(line, name, Msg.FIELD_EMPTY, field=name))
            if issues:
                return _reject(line, issues)
            record = TrainingRecord(
                self.next_id, new_guid(), data.path_code, data.title,
                _value(data.locale), data.modality, _value(data.description),
                self.import_id, self.import_id,
            )
            self.next_id += 1
            self.index.add(record)
            self.changes.append(ChangeOp(line, "trainings", "create", None, record))
            return Outcome(line, CREATED, guid=record.guid)
        if isinstance(data.modality, str) and data.modality != current.modality:
            issues.append(issue(line, "trainingModality", Msg.MODALITY_CHANGE))
        if issues:
            return _reject(line, issues)
        new = replace(current)
        for attr, value in (("title", data.title), ("locale", data.locale), ("description", data.description)):
            if value is not KEEP:
                setattr(new, attr, value)
        if new.title is None:
            new.title = current.title
        diff = {a: [getattr(current, a), getattr(new, a)] for a in ("title", "locale", "description")
                if getattr(current, a) != getattr(new, a)}
        if not diff:
            return Outcome(line, UNCHANGED, guid=current.guid)
        new.updated_by_import = self.import_id
        self.index.replace(current, new)
        self.changes.append(ChangeOp(line, "trainings", "update", current, new))
        return Outcome(line, UPDATED, diff=diff, guid=current.guid)


def _value(value):
    return None if value is KEEP else value


class LearnerResolver(_Resolver):
    table = "users"

    def prepare(self, inputs: list[LearnerInput]) -> None:
        self.index = _Index(("login", "ref_number", "email"))
        for column in ("login", "ref_number", "email"):
            values = {d.search.get(column) for d in inputs}
            if column == "login":
                values |= {d.values.get("login") for d in inputs if isinstance(d.values.get("login"), str)}
            for record in self.store.users_by(column, values):
                self.index.add(record)

    def resolve(self, data: LearnerInput, issues: list[Issue]) -> Outcome:
        line = data.line
        issues = list(issues)
        if not data.search:
            return _reject(line, issues)
        found = self.index.find(data.search)
        current = found[0] if found else None  # the oldest, as CrossKnowledge does
        login = data.values.get("login")
        if isinstance(login, str):
            holders = [u for u in self.index.find({"login": login}) if current is None or u.id != current.id]
            if holders:
                issues.append(issue(line, "candidateLogin", Msg.LOGIN_TAKEN, value=login))
        label = next(iter(data.search.values()))
        if current is not None and not self.action.full_access:
            if current.created_by_import != self.import_id:
                issues.append(issue(line, None, Msg.USER_NOT_OWNER, value=label))
        if issues:
            return _reject(line, issues)
        if current is None:
            values = {k: _value(v) for k, v in data.values.items()}
            record = UserRecord(
                self.next_id, values.get("login"), values.get("ref_number"), values.get("email"),
                values.get("name"), values.get("firstname"), self.import_id, self.import_id,
            )
            self.next_id += 1
            self.index.add(record)
            self.changes.append(ChangeOp(line, "users", "create", None, record))
            return Outcome(line, CREATED)
        new = replace(current)
        for attr, value in data.values.items():
            if value is not KEEP:
                setattr(new, attr, value)
        diff = {a: [getattr(current, a), getattr(new, a)] for a in data.values
                if getattr(current, a) != getattr(new, a)}
        if not diff:
            return Outcome(line, UNCHANGED)
        new.updated_by_import = self.import_id
        self.index.replace(current, new)
        self.changes.append(ChangeOp(line, "users", "update", current, new))
        return Outcome(line, UPDATED, diff=diff)


class EntityResolver(_Resolver):
    table = "groups"

    def prepare(self, inputs: list[tuple[int, list[str]]]) -> None:
        self.index = _Index(("parent_id", "name"))
        names = {name for _, levels in inputs for name in levels}
        for record in self.store.groups_by("name", names):
            self.index.add(record)

    def resolve(self, typed: tuple[int, list[str]], issues: list[Issue]) -> Outcome:
        line, levels = typed
        if issues or not levels:
            return _reject(line, list(issues))
        parent_id = None
        created = False
        for name in levels:
            found = self.index.find({"parent_id": parent_id, "name": name})
            if found:
                parent_id = found[0].id
                continue
            record = GroupRecord(self.next_id, new_guid(), name, parent_id, self.import_id, self.import_id)
            self.next_id += 1
            self.index.add(record)
            self.changes.append(ChangeOp(line, "groups", "create", None, record))
            parent_id = record.id
            created = True
        return Outcome(line, CREATED if created else UNCHANGED)
