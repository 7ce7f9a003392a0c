"""The chunk's in-memory view: the records its rows can reach, found by value.

A resolver loads the view once per chunk, with a few set-based look-ups, and then
keeps it up to date with its own decisions, so that a later row of the chunk sees
what an earlier row created, changed or cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

from session_import.model import (
    GroupRecord,
    Record,
    RecordLookups,
    SessionInput,
    SessionRecord,
    TrainingRecord,
    UserRecord,
)
from session_import.validate import SEARCH_ATTRS, id_of_cell

_SEARCH_PRIORITY = tuple(SEARCH_ATTRS.values())

R = TypeVar("R", bound=Record)


class RecordIndex(Generic[R]):
    """Records of one table by id, with value -> ids indexes on chosen attributes."""

    def __init__(self, attrs: tuple[str, ...]):
        self.attrs = attrs
        self.by_id: dict[int, R] = {}
        self.values: dict[str, dict[object, set[int]]] = {a: {} for a in attrs}

    def add(self, record: R) -> None:
        if record.id in self.by_id:
            return
        self.by_id[record.id] = record
        for attr in self.attrs:
            self.values[attr].setdefault(getattr(record, attr), set()).add(record.id)

    def add_all(self, records: Iterable[R]) -> None:
        for record in records:
            self.add(record)

    def remove(self, record: R) -> None:
        del self.by_id[record.id]
        for attr in self.attrs:
            ids = self.values[attr].get(getattr(record, attr))
            if ids is not None:
                ids.discard(record.id)

    def replace(self, old: R, new: R) -> None:
        self.remove(old)
        self.add(new)

    def find(self, criteria: Mapping[str, Any]) -> list[R]:
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

    def candidates(self, criteria: Mapping[str, Any]) -> list[R]:
        """Records that the first criterion alone matches, in no particular order."""
        first = next(iter(criteria), None)
        if first is None:
            return []
        if first == "id":
            record = self.by_id.get(criteria["id"])
            return [record] if record is not None else []
        return [self.by_id[i] for i in self.values[first].get(criteria[first], ())]


class SessionView:
    """What a chunk of session rows can reach: the sessions its searches find, their
    trainings, teachers and groups, and those the rows name."""

    def __init__(self, session_attrs: tuple[str, ...]):
        self.sessions: RecordIndex[SessionRecord] = RecordIndex(session_attrs)
        self.trainings: RecordIndex[TrainingRecord] = RecordIndex(("path_code", "title"))
        self.users: RecordIndex[UserRecord] = RecordIndex(("login",))
        self.groups: RecordIndex[GroupRecord] = RecordIndex(("guid", "name"))

    def load_sessions(self, lookups: RecordLookups, inputs: list[SessionInput]) -> None:
        """The sessions each row's most selective search value finds."""
        wanted: dict[str, set] = {a: set() for a in _SEARCH_PRIORITY}
        for data in inputs:
            crit = data.criteria
            if crit and data.search_ok:
                first = next(iter(crit))
                wanted[first].add(crit[first])
        for attr, values in wanted.items():
            self.sessions.add_all(lookups.sessions_by(attr, values))

    def load_trainings(self, lookups: RecordLookups, inputs: list[SessionInput]) -> None:
        """The trainings the rows name, and those of the loaded sessions."""
        ids: dict[str, set[object]] = {
            "path_code": {d.training.get("trainingPathCode") for d in inputs},
            "id": {id_of_cell(d.training.get("trainingId")) for d in inputs},
            "title": {d.training.get("trainingTitle") for d in inputs},
        }
        ids["id"] |= {r.training_id for r in self.sessions.by_id.values()}
        for attr, values in ids.items():
            self.trainings.add_all(lookups.trainings_by(attr, values))

    def load_teachers(self, lookups: RecordLookups, inputs: list[SessionInput]) -> None:
        """The teachers the rows name, and those of the loaded sessions."""
        logins = {d.teacher_login for d in inputs if isinstance(d.teacher_login, str)}
        self.users.add_all(lookups.users_by("login", logins))
        teacher_ids = {r.teacher_id for r in self.sessions.by_id.values()}
        self.users.add_all(lookups.users_by("id", teacher_ids))

    def load_groups(self, lookups: RecordLookups, inputs: list[SessionInput]) -> None:
        """The groups the rows name, and those of the loaded sessions."""
        for attr, values in (
            ("name", {d.group_name for d in inputs if isinstance(d.group_name, str)}),
            ("guid", {d.group_guid for d in inputs if isinstance(d.group_guid, str)}),
            ("id", {r.group_id for r in self.sessions.by_id.values()}),
        ):
            self.groups.add_all(lookups.groups_by(attr, values))

    def login(self, user_id: int | None) -> str | None:
        user = self.users.by_id.get(user_id) if user_id is not None else None
        return user.login if user else None

    def group_name(self, group_id: int | None) -> str | None:
        group = self.groups.by_id.get(group_id) if group_id is not None else None
        return group.name if group else None
