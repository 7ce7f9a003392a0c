"""The vocabulary every stage shares: the records a store holds and the changes made to them."""

from __future__ import annotations

from dataclasses import dataclass

# ---- records and the changes made to them ----


@dataclass(slots=True)
class SessionRecord:
    id: int
    guid: str
    title: str
    status: str
    start_date: str | None
    end_date: str | None
    training_id: int
    teacher_id: int | None
    group_id: int | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class TrainingRecord:
    id: int
    guid: str
    path_code: str
    title: str
    locale: str | None
    modality: str
    description: str | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class UserRecord:
    id: int
    login: str | None
    ref_number: str | None
    email: str | None
    name: str | None
    firstname: str | None
    created_by_import: str | None
    updated_by_import: str | None


@dataclass(slots=True)
class GroupRecord:
    id: int
    guid: str
    name: str
    parent_id: int | None
    created_by_import: str | None
    updated_by_import: str | None


# table -> the record type of its rows (the record's fields are the table's columns)
RECORD_TYPES: dict[str, type] = {
    "sessions": SessionRecord,
    "trainings": TrainingRecord,
    "users": UserRecord,
    "groups": GroupRecord,
}


@dataclass(frozen=True)
class ChangeOp:
    """One change to one record, as the row that made it left it."""

    line: int
    table: str  # "sessions", "trainings", "users", "groups"
    op: str  # "create", "update", "delete"
    before: object | None  # a *Record, or None for a create
    after: object | None  # a *Record, or None for a delete


def record_from(table: str, values: dict):
    return RECORD_TYPES[table](**values)
