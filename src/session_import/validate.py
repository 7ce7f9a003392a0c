"""Field and row rules: a mapped row -> typed input and the issues found (pure, no I/O).

An empty optional cell leaves the stored value as it is (``KEEP``); the literal
``NULL`` resets it (``None``), as the reference page's "Set NULL to reset it".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time

from session_import.config import ActionConfig
from session_import.dates import AMBIGUOUS, GAP, DateFormat, zone_problem
from session_import.mapping import MappedRow
from session_import.messages import Issue, Msg, issue, warning
from session_import.catalog import CREATE_UPDATE, MODALITIES
from session_import.sources import DateCell

NULL = "NULL"


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()

TRAINING_FIELDS = ("trainingPathCode", "trainingId", "trainingTitle")
TRAINING_LABELS = {"trainingPathCode": "training path code", "trainingId": "id", "trainingTitle": "title"}


def _code(row: MappedRow, action: ActionConfig, name: str, issues: list[Issue]) -> str | None:
    """The meaning of a code-list cell; the default meaning when the column is absent or empty."""
    spec = action.field(name)
    raw = row.values.get(name, "")
    if spec is None or raw == "":
        return CREATE_UPDATE
    meaning = (spec.codes or {}).get(raw.casefold())
    if meaning is None:
        issues.append(issue(row.line, name, Msg.INVALID_CODE, field=name, value=raw))
    return meaning


def _mandatory(row: MappedRow, action: ActionConfig, issues: list[Issue]) -> None:
    for spec in action.fields:
        if spec.mandatory and spec.name in row.values and row.values[spec.name] in ("", NULL):
            issues.append(issue(row.line, spec.name, Msg.FIELD_EMPTY, field=spec.name))


def _text(row: MappedRow, name: str):
    """KEEP when absent or empty, None for NULL, else the value."""
    raw = row.values.get(name, "")
    if raw == "":
        return KEEP
    return None if raw == NULL else raw


@dataclass(slots=True)
class SessionInput:
    line: int
    action: str | None  # CREATE_UPDATE, CANCEL, or None when the code is invalid
    title: object = KEEP
    status: object = KEEP
    start: object = KEEP  # ISO string, None (reset) or KEEP
    end: object = KEEP
    teacher_login: object = KEEP
    group_name: object = KEEP
    group_guid: object = KEEP
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


# search field -> session attribute, the most selective first: it picks the candidates
# that the others then filter
SEARCH_ATTRS = {
    "sessionGuid": "guid",
    "sessionId": "id",
    "sessionTitle": "title",
    "sessionStartDate": "start_date",
    "sessionEndDate": "end_date",
}


_DATE_MESSAGES = {
    "sessionStartDate": (Msg.START_DATE_INVALID, Msg.START_DATE_GAP, Msg.START_DATE_AMBIGUOUS),
    "sessionEndDate": (Msg.END_DATE_INVALID, Msg.END_DATE_GAP, Msg.END_DATE_AMBIGUOUS),
}


def _iso(value: date) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.time() == time(0, 0):
        return value.date().isoformat()  # as a date format without time reads it
    return value.isoformat(timespec="seconds")


def validate_session(
    row: MappedRow, action: ActionConfig, fmt: DateFormat, zone: str | None = None
) -> tuple[SessionInput, list[Issue]]:
    return session_validator(action, fmt, zone)(row)


def session_validator(
    action: ActionConfig, fmt: DateFormat, zone: str | None = None
) -> Callable[[MappedRow], tuple[SessionInput, list[Issue]]]:
    """The rules of a session row, with everything that depends on the action worked out
    once: a file of a million rows runs the returned function a million times."""
    mandatory = tuple(spec.name for spec in action.fields if spec.mandatory)
    action_spec = action.field("sessionAction")
    action_codes = (action_spec.codes or {}) if action_spec is not None else None
    status_spec = action.field("sessionStatus")
    status_codes = (status_spec.codes or {}) if status_spec is not None else {}
    training_fields = tuple(f for f in action.field_names if f in TRAINING_FIELDS)
    search_fields = tuple(action.search_fields)
    parse = fmt.parse

    def date_of(values: dict, line: int, name: str, issues: list[Issue]):
        value = values.get(name, "")
        if value == "":
            return KEEP
        if value == NULL:
            return None
        if value.__class__ is DateCell:  # typed as a date in a workbook: whatever dateFormat says
            parsed = _iso(value.value)
        else:
            parsed = parse(value)
        invalid, gap, ambiguous = _DATE_MESSAGES[name]
        if parsed is None:
            issues.append(issue(line, name, invalid, value=value))
            return False
        if zone is not None:
            problem = zone_problem(parsed, zone)
            if problem == GAP:
                issues.append(issue(line, name, gap, value=value, zone=zone))
                return False
            if problem == AMBIGUOUS:
                issues.append(warning(line, name, ambiguous, value=value, zone=zone))
        return parsed

    def validate(row: MappedRow) -> tuple[SessionInput, list[Issue]]:
        line, values = row.line, row.values
        get = values.get
        issues: list[Issue] = []
        for name in mandatory:
            value = get(name)
            if value == "" or value == NULL:
                issues.append(issue(line, name, Msg.FIELD_EMPTY, field=name))
        raw = get("sessionAction", "")
        if action_codes is None or raw == "":
            meaning = CREATE_UPDATE
        else:
            meaning = action_codes.get(raw.casefold())
            if meaning is None:
                issues.append(issue(line, "sessionAction", Msg.INVALID_CODE,
                                    field="sessionAction", value=raw))
        title = get("sessionTitle", "")
        if title == "" or title == NULL:
            title = KEEP  # a title cannot be reset; a mandatory one was reported empty
        status = get("sessionStatus", "")
        if status:
            status = status_codes.get(status.casefold())
            if status is None:
                issues.append(issue(line, "sessionStatus", Msg.INVALID_CODE, field="sessionStatus",
                                    value=values["sessionStatus"]))
        else:
            status = KEEP
        start = date_of(values, line, "sessionStartDate", issues)
        end = date_of(values, line, "sessionEndDate", issues)
        if start.__class__ is str and end.__class__ is str and is_before(end, start):
            issues.append(issue(line, "sessionEndDate", Msg.END_BEFORE_START,
                                end=values["sessionEndDate"], start=values["sessionStartDate"]))
        teacher = get("teacherLogin", "")
        teacher = KEEP if teacher == "" else None if teacher == NULL else teacher
        group_name = get("groupName", "")
        group_name = KEEP if group_name == "" else None if group_name == NULL else group_name
        group_guid = get("groupGuid", "")
        group_guid = KEEP if group_guid == "" else None if group_guid == NULL else group_guid
        training = {}
        for name in training_fields:
            value = get(name, "")
            if value != "" and value != NULL:
                training[name] = value
        if training_fields and not training:
            first = training_fields[0]
            if not any(i.code is Msg.FIELD_EMPTY and i.field == first for i in issues):
                issues.append(issue(line, first, Msg.FIELD_EMPTY, field=first))
        guid = get("sessionGuid", "")
        guid = guid.upper() if guid != "" and guid != NULL else None
        id_raw = get("sessionId", "")
        if id_raw == "" or id_raw == NULL:
            id_raw = None
        search: dict[str, object] = {}
        search_raw: dict[str, str] = {}
        search_ok = True
        for name in search_fields:
            value = get(name, "")
            if value == "" or value == NULL:
                continue
            search_raw[name] = value
            if name == "sessionGuid":
                typed = value.upper()
            elif name == "sessionId":
                typed = int(value) if value.isdigit() else -1
            elif name == "sessionStartDate":
                typed = start
            elif name == "sessionEndDate":
                typed = end
            else:
                typed = value
            search[name] = typed
            if typed is False:
                search_ok = False
        criteria = {attr: search[name] for name, attr in SEARCH_ATTRS.items() if name in search}
        data = SessionInput(line, meaning, title, status, start, end, teacher, group_name,
                            group_guid, training, search, search_raw, search_ok, guid, id_raw,
                            values, [], criteria)
        return data, issues

    return validate


def is_before(end: str, start: str) -> bool:
    """Compare ISO values; when either has no time, only the days are compared."""
    if len(end) == 10 or len(start) == 10:
        return end[:10] < start[:10]
    return end < start


# ---- reference data ----


@dataclass
class TrainingInput:
    line: int
    action: str | None
    path_code: str
    title: object = KEEP
    locale: object = KEEP
    modality: object = KEEP
    description: object = KEEP


def validate_training(row: MappedRow, action: ActionConfig) -> tuple[TrainingInput, list[Issue]]:
    issues: list[Issue] = []
    _mandatory(row, action, issues)
    meaning = _code(row, action, "trainingAction", issues)
    data = TrainingInput(row.line, meaning, row.values.get("trainingPathCode", ""))
    data.title = _text(row, "trainingTitle")
    data.locale = _text(row, "trainingLocale")
    data.description = _text(row, "trainingDescription")
    modality = _text(row, "trainingModality")
    if isinstance(modality, str):
        if modality.casefold() in MODALITIES:
            modality = modality.casefold()
        else:
            issues.append(issue(row.line, "trainingModality", Msg.INVALID_MODALITY, value=modality))
    data.modality = modality
    return data, issues


@dataclass
class LearnerInput:
    line: int
    search: dict[str, str]  # user column -> value, for the non-empty search fields
    values: dict[str, object]  # user column -> value, None (reset) or KEEP


LEARNER_COLUMNS = {
    "candidateLogin": "login",
    "candidateRefNumber": "ref_number",
    "candidateEmail": "email",
    "candidateName": "name",
    "candidateFirstname": "firstname",
}


def validate_learner(row: MappedRow, action: ActionConfig) -> tuple[LearnerInput, list[Issue]]:
    issues: list[Issue] = []
    _mandatory(row, action, issues)
    values = {col: _text(row, f) for f, col in LEARNER_COLUMNS.items() if f in action.field_names}
    search = {
        LEARNER_COLUMNS[f]: row.values[f]
        for f in action.search_fields
        if row.values.get(f, "") not in ("", NULL)
    }
    if not search:
        issues.append(issue(row.line, None, Msg.NO_TRAINEE_SEARCH_VALUE))
    return LearnerInput(row.line, search, values), issues


def validate_entity(row: MappedRow, action: ActionConfig) -> tuple[tuple[int, list[str]], list[Issue]]:
    """(line, the path of group names from the root); trailing empty levels are ignored."""
    issues: list[Issue] = []
    levels = list(row.repeated) or [row.values.get("hierarchyEntityName", "")]
    while levels and levels[-1] == "":
        levels.pop()
    name = "hierarchyEntityName"
    if not levels:
        spec = action.field(name)
        if spec is not None and spec.mandatory:
            issues.append(issue(row.line, name, Msg.FIELD_EMPTY, field=name))
        return (row.line, []), issues
    for depth, level in enumerate(levels, start=1):
        if level == "":
            if depth == 1:
                issues.append(issue(row.line, name, Msg.FIELD_EMPTY, field=name))
            else:
                issues.append(issue(row.line, name, Msg.ENTITY_LEVEL_EMPTY, level=depth))
            break
    return (row.line, levels), issues

