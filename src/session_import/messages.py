"""Every per-row and per-file message, in one table.

The first four session messages are CrossKnowledge's own, word for word; the
others keep their style. ``{value}`` is the cell as written in the file, trimmed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Msg(StrEnum):
    FIELD_EMPTY = "Field {field} is empty."
    TRAINING_NOT_FOUND = "Training with {criteria} is not found."
    TRAINING_DUPLICATED = "Training with {criteria} is duplicated."
    GROUP_NAME_DUPLICATED = "Group with name {value} is duplicated."
    GROUP_NAME_NOT_FOUND = "Group with name {value} is not found."
    GROUP_GUID_NOT_FOUND = "Group with guid {value} is not found."
    INVALID_CODE = "Invalid {field} value: {value}"
    TEACHER_NOT_FOUND = "Teacher with login {value} is not found."
    START_DATE_INVALID = "Start date {value} not valid."
    END_DATE_INVALID = "End date {value} not valid."
    START_DATE_GAP = "Start date {value} does not exist in timezone {zone}."
    END_DATE_GAP = "End date {value} does not exist in timezone {zone}."
    START_DATE_AMBIGUOUS = (
        "Start date {value} is ambiguous in timezone {zone}; the earlier time was used."
    )
    END_DATE_AMBIGUOUS = (
        "End date {value} is ambiguous in timezone {zone}; the earlier time was used."
    )
    TEACHER_BOOKED = "Teacher {login} is already booked on session {title} ({guid}) at that time."
    END_BEFORE_START = "End date {end} is before start date {start}."
    SESSION_GUID_NOT_FOUND = "Session with guid {value} is not found."
    SESSION_ID_NOT_FOUND = "Session with id {value} is not found."
    SESSION_DUPLICATED = "Session with {criteria} is duplicated."
    SESSION_TO_CANCEL_NOT_FOUND = "The session to cancel is not found."
    CANNOT_CREATE_WITHOUT_TRAINING = "Cannot create a session without valid training course."
    NOT_OWNER = (
        "Session {guid} was not created by this import and cannot be modified (fullAccess is no)."
    )
    WRONG_WIDTH = "Line has {found} {columns}, {expected} expected."  # columns: column(s)
    # training courses
    INVALID_MODALITY = (
        "The modality must be distancelearning, knowledgecommunity, learning_channel or blended,"
        " {value} detected."
    )
    MODALITY_CHANGE = "You can't change the training's modality."
    TRAINING_TO_CANCEL_NOT_FOUND = "The training to cancel is not found."
    TRAINING_HAS_SESSIONS = (
        "Training {value} still has {count} sessions and cannot be deleted; cancel them first."
    )
    TRAINING_NOT_OWNER = (
        "Training {value} was not created by this import and cannot be modified (fullAccess is no)."
    )
    # learners
    NO_TRAINEE_SEARCH_VALUE = "No search field was provided to find the candidate."
    LOGIN_TAKEN = "Login {value} is already used by another user."
    USER_NOT_OWNER = (
        "User {value} was not created by this import and cannot be modified (fullAccess is no)."
    )
    # entities
    ENTITY_LEVEL_EMPTY = "Entity level {level} is empty but a deeper level is filled."
    # file-level
    MANDATORY_COLUMN_MISSING = "Mandatory column {field} is missing from the header."
    MANDATORY_COLUMN_MISSING_CLOSE = (
        "Mandatory column {field} is missing from the header; did you mean {cell}?"
    )
    OPTIONAL_COLUMN_MISSING = (
        "Column {field} is missing from the header; the field is left as it is."
    )
    OPTIONAL_COLUMN_MISSING_CLOSE = (
        "Column {field} is missing from the header (did you mean {cell}?); the field is left"
        " as it is."
    )
    HEADER_NAMES_NOTHING = (
        "The header ({cells}) names no configured field; its columns are read by position,"
        " in the order of {source}: {fields}."
    )
    # a file whose configured <delimiter> is not the one it is written with (line 1)
    HEADER_WRONG_DELIMITER = (
        "the header split at {configured} names no configured field, split at {other} it"
        " names {count} of {total}; the file looks {name}-delimited: set"
        " <delimiter>{name}</delimiter> in the provider."
    )
    WIDTH_WRONG_DELIMITER = (
        "the first {records} split at {configured} into {found}, not the {expected}"
        " expected, and at {other} into {expected} columns; the file looks {name}-delimited:"
        " set <delimiter>{name}</delimiter> in the provider."
    )

    def format(self, **values: object) -> str:  # type: ignore[override]
        return self.value.format(**values)


@dataclass(frozen=True)
class Issue:
    """One problem of one row: rejects the row unless ``warning``."""

    line: int
    field: str | None
    code: Msg
    text: str
    warning: bool = False


def issue(line: int, about: str | None, code: Msg, /, **values: object) -> Issue:
    """An error of ``line`` about the field ``about``; ``values`` fill the template."""
    return Issue(line, about, code, code.format(**values))


def warning(line: int, about: str | None, code: Msg, /, **values: object) -> Issue:
    return Issue(line, about, code, code.format(**values), warning=True)
