"""Field and row rules: a mapped row -> typed input and the issues found (pure, no I/O).

An empty optional cell leaves the stored value as it is (``KEEP``); the literal
``NULL`` resets it (``None``), as the reference page's "Set NULL to reset it".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time

from session_import.config import ActionConfig
from session_import.dates import AMBIGUOUS, GAP, DateFormat, zone_problem
from session_import.mapping import MappedRow
from session_import.messages import Issue, Msg, issue, warning
from session_import.reader import DateCell
from session_import.schema import CREATE_UPDATE, MODALITIES

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


@dataclass
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


def _date(row: MappedRow, name: str, fmt: DateFormat, zone: str | None, issues: list[Issue]):
    """The ISO value, KEEP, None (reset), or False when the cell is not a valid date."""
    value = _text(row, name)
    if value is KEEP or value is None:
        return value
    invalid, gap, ambiguous = _DATE_MESSAGES[name]
    if value.__class__ is DateCell:  # typed as a date in a workbook: whatever dateFormat says
        parsed = _iso(value.value)
    else:
        parsed = fmt.parse(value)
    if parsed is None:
        issues.append(issue(row.line, name, invalid, value=value))
        return False
    if zone is not None:
        problem = zone_problem(parsed, zone)
        if problem == GAP:
            issues.append(issue(row.line, name, gap, value=value, zone=zone))
            return False
        if problem == AMBIGUOUS:
            issues.append(warning(row.line, name, ambiguous, value=value, zone=zone))
    return parsed


def _iso(value: date) -> str:
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.time() == time(0, 0):
        return value.date().isoformat()  # as a date format without time reads it
    return value.isoformat(timespec="seconds")


def validate_session(
    row: MappedRow, action: ActionConfig, fmt: DateFormat, zone: str | None = None
) -> tuple[SessionInput, list[Issue]]:
    issues: list[Issue] = []
    _mandatory(row, action, issues)
    meaning = _code(row, action, "sessionAction", issues)
    data = SessionInput(row.line, meaning, raw=row.values)
    data.title = _text(row, "sessionTitle")
    if data.title is None:
        data.title = KEEP  # a title cannot be reset; a mandatory one was reported empty
    status = row.values.get("sessionStatus", "")
    if status:
        spec = action.field("sessionStatus")
        data.status = (spec.codes or {}).get(status.casefold())
        if data.status is None:
            issues.append(
                issue(row.line, "sessionStatus", Msg.INVALID_CODE, field="sessionStatus", value=status)
            )
    data.start = _date(row, "sessionStartDate", fmt, zone, issues)
    data.end = _date(row, "sessionEndDate", fmt, zone, issues)
    if isinstance(data.start, str) and isinstance(data.end, str) and is_before(data.end, data.start):
        issues.append(
            issue(
                row.line,
                "sessionEndDate",
                Msg.END_BEFORE_START,
                end=row.values["sessionEndDate"],
                start=row.values["sessionStartDate"],
            )
        )
    data.teacher_login = _text(row, "teacherLogin")
    data.group_name = _text(row, "groupName")
    data.group_guid = _text(row, "groupGuid")

    configured_training = [f for f in action.field_names if f in TRAINING_FIELDS]
    data.training = {
        f: row.values[f] for f in configured_training if row.values.get(f, "") not in ("", NULL)
    }
    if configured_training and not data.training:
        first = configured_training[0]
        if not any(i.code is Msg.FIELD_EMPTY and i.field == first for i in issues):
            issues.append(issue(row.line, first, Msg.FIELD_EMPTY, field=first))

    guid = row.values.get("sessionGuid", "")
    data.guid = guid.upper() if guid not in ("", NULL) else None
    id_raw = row.values.get("sessionId", "")
    data.id_raw = id_raw if id_raw not in ("", NULL) else None
    for name in action.search_fields:
        raw = row.values.get(name, "")
        if raw in ("", NULL):
            continue
        data.search_raw[name] = raw
        if name == "sessionGuid":
            data.search[name] = raw.upper()
        elif name == "sessionId":
            data.search[name] = int(raw) if raw.isdigit() else -1
        elif name == "sessionStartDate":
            data.search[name] = data.start
        elif name == "sessionEndDate":
            data.search[name] = data.end
        else:
            data.search[name] = raw
        if data.search[name] is False:
            data.search_ok = False
    search = data.search
    data.criteria = {attr: search[name] for name, attr in SEARCH_ATTRS.items() if name in search}
    return data, issues


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

