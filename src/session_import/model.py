"""The vocabulary every stage shares: records, typed row inputs, change kinds, row outcomes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import NamedTuple, Protocol

from session_import.messages import Issue

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


Record = SessionRecord | TrainingRecord | UserRecord | GroupRecord

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
    before: Record | None  # None for a create
    after: Record | None  # None for a delete

    @property
    def record(self) -> Record:
        """The record the change leaves, or for a delete the one it removes."""
        record = self.after or self.before
        if record is None:
            raise ValueError(f"a change to {self.table} at line {self.line} has no record")
        return record


def record_from(table: str, values: dict):
    return RECORD_TYPES[table](**values)


# row inputs and outcomes

NULL = "NULL"  # the cell that resets a stored value, as the reference page's "Set NULL to reset it"


class Keep(Enum):
    """The type of KEEP: an enum of one member, so that ``x is KEEP`` narrows a type."""

    KEEP = "KEEP"

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep.KEEP  # an empty optional cell: the stored value stays as it is


@dataclass(slots=True)
class SessionInput:
    line: int
    action: str | None  # CREATE_UPDATE, CANCEL, or None when the code is invalid
    title: str | Keep = KEEP
    status: str | Keep = KEEP
    start: str | None | Keep = KEEP  # ISO string, None (reset) or KEEP
    end: str | None | Keep = KEEP
    teacher_login: str | None | Keep = KEEP
    group_name: str | None | Keep = KEEP
    group_guid: str | None | Keep = KEEP
    training: dict[str, str] = field(default_factory=dict)  # non-empty training fields
    search: dict[str, object] = field(default_factory=dict)  # search field -> typed value
    search_raw: dict[str, str] = field(default_factory=dict)
    search_ok: bool = True
    guid: str | None = None
    id_raw: str | None = None
    raw: dict[str, str] = field(default_factory=dict)  # the row's trimmed cells, for messages
    warnings: list[Issue] = field(default_factory=list)  # set by the resolver
    # session attribute -> searched value, the most selective first (computed once per row)
    criteria: dict[str, object] = field(default_factory=dict)


@dataclass
class TrainingInput:
    line: int
    action: str | None
    path_code: str
    title: str | Keep = KEEP
    locale: str | None | Keep = KEEP
    modality: str | Keep = KEEP
    description: str | None | Keep = KEEP


@dataclass
class LearnerInput:
    line: int
    search: dict[str, str]  # user column -> value, for the non-empty search fields
    values: dict[str, str | None | Keep]  # user column -> value, None (reset) or KEEP


class EntityInput(NamedTuple):
    line: int
    levels: list[str]  # group names from the root; empty when the row names none


class RowKind(StrEnum):
    """What one row did: the report counts rows by these names."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    CANCELLED = "cancelled"
    REJECTED = "rejected"


class RecordOp(StrEnum):
    """What a change does to its record, by the name the journal keeps.

    The names the other stages give the same operation are properties here, so
    that one table holds them all.
    """

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"

    @property
    def row_kind(self) -> RowKind:
        """How the report counts the row that made the change (a delete cancels)."""
        return _OP_NAMES[self][0]

    @property
    def outbox_kind(self) -> str:
        """The kind of the change queued for a publisher (a delete is a "cancel")."""
        return _OP_NAMES[self][1]

    @property
    def inverse(self) -> RecordOp:
        """The operation a revert applies to undo this one."""
        return _OP_NAMES[self][2]

    @property
    def reverted_as(self) -> str:
        """How a revert counts the records it undid."""
        return _OP_NAMES[self][3]

    @classmethod
    def of_outbox_kind(cls, kind: str) -> RecordOp:
        return next(op for op, names in _OP_NAMES.items() if names[1] == kind)


_OP_NAMES: dict[RecordOp, tuple[RowKind, str, RecordOp, str]] = {
    RecordOp.CREATE: (RowKind.CREATED, "create", RecordOp.DELETE, "deleted"),
    RecordOp.UPDATE: (RowKind.UPDATED, "update", RecordOp.UPDATE, "restored"),
    RecordOp.DELETE: (RowKind.CANCELLED, "cancel", RecordOp.CREATE, "recreated"),
}


@dataclass
class RowOutcome:
    line: int
    kind: RowKind
    issues: list[Issue] = field(default_factory=list)  # errors when rejected, plus warnings
    diff: dict[str, list] | None = None  # updated fields: name -> [old, new]
    guid: str | None = None
    title: str | None = None  # an updated session's title, shown beside its GUID


class RecordLookups(Protocol):
    """What the resolvers read from the store: set-based look-ups, one query per chunk.

    The resolvers never write; the pipeline applies the changes they hand back.
    """

    def next_id(self, table: str) -> int: ...

    def sessions_by(self, column: str, values: Iterable) -> list[SessionRecord]: ...

    def sessions_overlapping(
        self, windows: Iterable[tuple[int, str, str, str]]
    ) -> list[SessionRecord]: ...

    def longest_session_days(self) -> float: ...

    def trainings_by(self, column: str, values: Iterable) -> list[TrainingRecord]: ...

    def users_by(self, column: str, values: Iterable) -> list[UserRecord]: ...

    def groups_by(self, column: str, values: Iterable) -> list[GroupRecord]: ...

    def session_counts_by_training(self, training_ids: Iterable[int]) -> dict[int, int]: ...
