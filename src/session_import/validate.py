"""Field and row rules: a mapped row -> typed input and the issues found (pure, no I/O).

An empty optional cell leaves the stored value as it is (``KEEP``); the literal
``NULL`` resets it (``None``), as the reference page's "Set NULL to reset it".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time

from session_import.catalog import CREATE_UPDATE, MODALITIES
from session_import.config import ActionConfig
from session_import.dates import AMBIGUOUS, GAP, DateFormat, zone_problem
from session_import.mapping import MappedRow
from session_import.messages import Issue, Msg, issue, warning
from session_import.model import (
    KEEP,
    NULL,
    EntityInput,
    Keep,
    LearnerInput,
    SessionInput,
    TrainingInput,
)
from session_import.sources import DateCell

TRAINING_FIELDS = ("trainingPathCode", "trainingId", "trainingTitle")
TRAINING_LABELS = {
    "trainingPathCode": "training path code",
    "trainingId": "id",
    "trainingTitle": "title",
}


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
    # (search field, session attribute), the most selective first
    search_attrs = tuple((n, a) for n, a in SEARCH_ATTRS.items() if n in search_fields)
    date_of = _date_reader(fmt, zone)

    def validate(row: MappedRow) -> tuple[SessionInput, list[Issue]]:
        line, values = row.line, row.values
        get = values.get
        issues: list[Issue] = []
        for name in mandatory:
            value = get(name)
            if value == "" or value == NULL:
                issues.append(issue(line, name, Msg.FIELD_EMPTY, field=name))
        meaning = _session_action(get("sessionAction", ""), line, action_codes, issues)
        title: str | Keep = get("sessionTitle", "")
        if title == "" or title == NULL:
            title = KEEP  # a title cannot be reset; a mandatory one was reported empty
        status = _session_status(get("sessionStatus", ""), line, status_codes, issues)
        start = date_of(values, line, "sessionStartDate", issues)
        end = date_of(values, line, "sessionEndDate", issues)
        if start.__class__ is str and end.__class__ is str and is_before(end, start):
            issues.append(
                issue(
                    line,
                    "sessionEndDate",
                    Msg.END_BEFORE_START,
                    end=values["sessionEndDate"],
                    start=values["sessionStartDate"],
                )
            )
        training = _training_cells(get, line, training_fields, issues)
        guid_cell = get("sessionGuid", "")
        guid = guid_cell.upper() if guid_cell != "" and guid_cell != NULL else None
        id_raw: str | None = get("sessionId", "")
        if id_raw == "" or id_raw == NULL:
            id_raw = None
        search, search_raw, search_ok = _session_search(get, search_fields, start, end)
        criteria = {attr: search[name] for name, attr in search_attrs if name in search}
        data = SessionInput(
            line,
            meaning,
            title,
            status,
            start,
            end,
            _cell(get, "teacherLogin"),
            _cell(get, "groupName"),
            _cell(get, "groupGuid"),
            training,
            search,
            search_raw,
            search_ok,
            guid,
            id_raw,
            values,
            [],
            criteria,
        )
        return data, issues

    return validate


def _date_reader(fmt: DateFormat, zone: str | None) -> Callable:
    """A date cell -> its ISO value, KEEP, None (NULL) or False (the issue is reported)."""
    parse = fmt.parse

    def date_of(values: dict, line: int, name: str, issues: list[Issue]):
        value = values.get(name, "")
        if value == "":
            return KEEP
        if value == NULL:
            return None
        # typed as a date in a workbook: whatever dateFormat says
        parsed = _iso(value.value) if value.__class__ is DateCell else parse(value)
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

    return date_of


def _session_action(raw: str, line: int, codes: dict | None, issues: list[Issue]) -> str | None:
    if codes is None or raw == "":
        return CREATE_UPDATE
    meaning = codes.get(raw.casefold())
    if meaning is None:
        issues.append(
            issue(line, "sessionAction", Msg.INVALID_CODE, field="sessionAction", value=raw)
        )
    return meaning


def _session_status(raw: str, line: int, codes: dict, issues: list[Issue]):
    if not raw:
        return KEEP
    status = codes.get(raw.casefold())
    if status is None:
        issues.append(
            issue(line, "sessionStatus", Msg.INVALID_CODE, field="sessionStatus", value=raw)
        )
    return status


def _cell(get: Callable, name: str):
    """KEEP when absent or empty, None for NULL, else the value."""
    value = get(name, "")
    if value == "":
        return KEEP
    return None if value == NULL else value


def _training_cells(
    get: Callable, line: int, training_fields: tuple[str, ...], issues: list[Issue]
) -> dict[str, str]:
    training = {}
    for name in training_fields:
        value = get(name, "")
        if value != "" and value != NULL:
            training[name] = value
    if training_fields and not training:
        first = training_fields[0]
        if not any(i.code is Msg.FIELD_EMPTY and i.field == first for i in issues):
            issues.append(issue(line, first, Msg.FIELD_EMPTY, field=first))
    return training


def _session_search(
    get: Callable, search_fields: tuple[str, ...], start, end
) -> tuple[dict[str, object], dict[str, str], bool]:
    """The non-empty search cells typed (search field -> value), as written, and whether
    every one of them is valid."""
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
            typed = id_of_cell(value)
        elif name == "sessionStartDate":
            typed = start
        elif name == "sessionEndDate":
            typed = end
        else:
            typed = value
        search[name] = typed
        if typed is False:
            search_ok = False
    return search, search_raw, search_ok


def id_of_cell(value: str | None) -> int | None:
    """A sessionId or trainingId cell as an id; -1 (no record has it) when not a number."""
    if value is None:
        return None
    return int(value) if value.isdigit() else -1


def is_before(end: str, start: str) -> bool:
    """Compare ISO values; when either has no time, only the days are compared."""
    if len(end) == 10 or len(start) == 10:
        return end[:10] < start[:10]
    return end < start


# ---- reference data ----


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


def validate_entity(row: MappedRow, action: ActionConfig) -> tuple[EntityInput, list[Issue]]:
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
        return EntityInput(row.line, []), issues
    for depth, level in enumerate(levels, start=1):
        if level == "":
            if depth == 1:
                issues.append(issue(row.line, name, Msg.FIELD_EMPTY, field=name))
            else:
                issues.append(issue(row.line, name, Msg.ENTITY_LEVEL_EMPTY, level=depth))
            break
    return EntityInput(row.line, levels), issues
