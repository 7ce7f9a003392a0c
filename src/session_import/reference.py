"""Reference data: the training, learner and entity rows -> create, update, unchanged,
cancel or reject, with the same chunk discipline as the sessions (see resolve.py)."""

from __future__ import annotations

from dataclasses import replace

from session_import.catalog import CANCEL
from session_import.index import RecordIndex
from session_import.messages import Issue, Msg, issue
from session_import.model import (
    KEEP,
    ChangeOp,
    EntityInput,
    GroupRecord,
    Keep,
    LearnerInput,
    RowKind,
    RowOutcome,
    TrainingInput,
    TrainingRecord,
    UserRecord,
)
from session_import.resolve import CREATE, DELETE, UPDATE, Resolver, new_guid, reject

_TRAINING_UPDATED = ("title", "locale", "description")


class TrainingResolver(Resolver):
    table = "trainings"

    def prepare(self, inputs: list[TrainingInput]) -> None:
        self.index: RecordIndex[TrainingRecord] = RecordIndex(("path_code",))
        self.index.add_all(self.lookups.trainings_by("path_code", {d.path_code for d in inputs}))
        self.session_counts = self.lookups.session_counts_by_training(self.index.by_id)

    def resolve(self, data: TrainingInput, issues: list[Issue]) -> RowOutcome:
        errors = list(issues)
        if data.action is None or not data.path_code:
            return reject(data.line, errors)
        found = self.index.find({"path_code": data.path_code})
        current = found[0] if found else None
        if (
            current is not None
            and not self.action.full_access
            and current.created_by_import != self.import_id
        ):
            errors.append(issue(data.line, None, Msg.TRAINING_NOT_OWNER, value=data.path_code))
        if data.action == CANCEL:
            return self._cancel(data, current, errors)
        if current is None:
            return self._create(data, errors)
        return self._update(data, current, errors)

    def _cancel(
        self, data: TrainingInput, current: TrainingRecord | None, errors: list[Issue]
    ) -> RowOutcome:
        line = data.line
        if current is None:
            errors.append(issue(line, None, Msg.TRAINING_TO_CANCEL_NOT_FOUND))
        elif self.session_counts.get(current.id):
            count = self.session_counts[current.id]
            errors.append(
                issue(line, None, Msg.TRAINING_HAS_SESSIONS, value=data.path_code, count=count)
            )
        if errors or current is None:  # (a missing one was reported above)
            return reject(line, errors)
        self.index.remove(current)
        self.changes.append(ChangeOp(line, "trainings", DELETE, current, None))
        return RowOutcome(line, RowKind.CANCELLED, guid=current.guid)

    def _create(self, data: TrainingInput, errors: list[Issue]) -> RowOutcome:
        line = data.line
        for name, value in (("trainingTitle", data.title), ("trainingModality", data.modality)):
            if not isinstance(value, str) and not any(i.field == name for i in errors):
                errors.append(issue(line, name, Msg.FIELD_EMPTY, field=name))
        # (a title or modality that is not a string was reported above)
        if errors or not isinstance(data.title, str) or not isinstance(data.modality, str):
            return reject(line, errors)
        record = TrainingRecord(
            self.next_id,
            new_guid(),
            data.path_code,
            data.title,
            _value(data.locale),
            data.modality,
            _value(data.description),
            self.import_id,
            self.import_id,
        )
        self.next_id += 1
        self.index.add(record)
        self.changes.append(ChangeOp(line, "trainings", CREATE, None, record))
        return RowOutcome(line, RowKind.CREATED, guid=record.guid)

    def _update(
        self, data: TrainingInput, current: TrainingRecord, errors: list[Issue]
    ) -> RowOutcome:
        line = data.line
        if isinstance(data.modality, str) and data.modality != current.modality:
            errors.append(issue(line, "trainingModality", Msg.MODALITY_CHANGE))
        if errors:
            return reject(line, errors)
        new = replace(current)
        for attr, value in (
            ("title", data.title),
            ("locale", data.locale),
            ("description", data.description),
        ):
            if value is not KEEP:
                setattr(new, attr, value)
        if new.title is None:
            new.title = current.title
        diff = {
            a: [getattr(current, a), getattr(new, a)]
            for a in _TRAINING_UPDATED
            if getattr(current, a) != getattr(new, a)
        }
        if not diff:
            return RowOutcome(line, RowKind.UNCHANGED, guid=current.guid)
        new.updated_by_import = self.import_id
        self.index.replace(current, new)
        self.changes.append(ChangeOp(line, "trainings", UPDATE, current, new))
        return RowOutcome(line, RowKind.UPDATED, diff=diff, guid=current.guid)


def _value(value: str | None | Keep) -> str | None:
    return None if value is KEEP else value


class LearnerResolver(Resolver):
    table = "users"

    def prepare(self, inputs: list[LearnerInput]) -> None:
        self.index: RecordIndex[UserRecord] = RecordIndex(("login", "ref_number", "email"))
        for column in ("login", "ref_number", "email"):
            values: set[object] = {d.search.get(column) for d in inputs}
            if column == "login":
                values |= {
                    d.values.get("login") for d in inputs if isinstance(d.values.get("login"), str)
                }
            self.index.add_all(self.lookups.users_by(column, values))

    def resolve(self, data: LearnerInput, issues: list[Issue]) -> RowOutcome:
        line = data.line
        errors = list(issues)
        if not data.search:
            return reject(line, errors)
        found = self.index.find(data.search)
        current = found[0] if found else None  # the oldest, as CrossKnowledge does
        login = data.values.get("login")
        if isinstance(login, str):
            holders = [
                u
                for u in self.index.find({"login": login})
                if current is None or u.id != current.id
            ]
            if holders:
                errors.append(issue(line, "candidateLogin", Msg.LOGIN_TAKEN, value=login))
        label = next(iter(data.search.values()))
        if (
            current is not None
            and not self.action.full_access
            and current.created_by_import != self.import_id
        ):
            errors.append(issue(line, None, Msg.USER_NOT_OWNER, value=label))
        if errors:
            return reject(line, errors)
        if current is None:
            return self._create(data)
        return self._update(data, current)

    def _create(self, data: LearnerInput) -> RowOutcome:
        values = {k: _value(v) for k, v in data.values.items()}
        record = UserRecord(
            self.next_id,
            values.get("login"),
            values.get("ref_number"),
            values.get("email"),
            values.get("name"),
            values.get("firstname"),
            self.import_id,
            self.import_id,
        )
        self.next_id += 1
        self.index.add(record)
        self.changes.append(ChangeOp(data.line, "users", CREATE, None, record))
        return RowOutcome(data.line, RowKind.CREATED)

    def _update(self, data: LearnerInput, current: UserRecord) -> RowOutcome:
        new = replace(current)
        for attr, value in data.values.items():
            if value is not KEEP:
                setattr(new, attr, value)
        diff = {
            a: [getattr(current, a), getattr(new, a)]
            for a in data.values
            if getattr(current, a) != getattr(new, a)
        }
        if not diff:
            return RowOutcome(data.line, RowKind.UNCHANGED)
        new.updated_by_import = self.import_id
        self.index.replace(current, new)
        self.changes.append(ChangeOp(data.line, "users", UPDATE, current, new))
        return RowOutcome(data.line, RowKind.UPDATED, diff=diff)


class EntityResolver(Resolver):
    table = "groups"

    def prepare(self, inputs: list[EntityInput]) -> None:
        self.index: RecordIndex[GroupRecord] = RecordIndex(("parent_id", "name"))
        names = {name for _, levels in inputs for name in levels}
        self.index.add_all(self.lookups.groups_by("name", names))

    def resolve(self, typed: EntityInput, issues: list[Issue]) -> RowOutcome:
        line, levels = typed
        if issues or not levels:
            return reject(line, list(issues))
        parent_id = None
        created = False
        for name in levels:
            found = self.index.find({"parent_id": parent_id, "name": name})
            if found:
                parent_id = found[0].id
                continue
            record = GroupRecord(
                self.next_id, new_guid(), name, parent_id, self.import_id, self.import_id
            )
            self.next_id += 1
            self.index.add(record)
            self.changes.append(ChangeOp(line, "groups", CREATE, None, record))
            parent_id = record.id
            created = True
        return RowOutcome(line, RowKind.CREATED if created else RowKind.UNCHANGED)
