"""An import's ``<providers>``: which files, how they are written, and their columns."""

from __future__ import annotations

import codecs
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from session_import import catalog
from session_import.config.actions import check_codes, code_meanings, field_children
from session_import.config.elements import (
    canonical,
    check_container,
    check_empty,
    children,
    first_time,
    leaf,
    yes_no,
)
from session_import.config.folders import config_folder, has_dot_dot
from session_import.config.messages import Msg, Problems, close_match
from session_import.config.model import ColumnSpec, ProviderConfig
from session_import.dates import DEFAULT_DATE_FORMAT, compile_date_format, has_valid_characters


def read_providers(el, base: Path, problems: Problems, actions) -> ProviderConfig | None:
    check_container(el, problems)
    provider = None
    for child in children(el):
        if child.tag != "fileSystemSourceProvider":
            problems.unknown(child, "providers", ("fileSystemSourceProvider",))
        elif provider is not None:
            problems.add(child, Msg.ONE_PROVIDER)
        else:
            provider = read_provider(child, base, problems, actions)
    return provider


_EMPTY_HINTS = {
    "fileName": "write the file name or a glob such as sessions_*.csv",
    "path": "write the folder of the files, or remove it for the configuration's folder",
    "fileEncoding": "write one such as UTF-8, or remove it for UTF-8",
    "delimiter": "write semicolon, comma, pipe or tab, or remove it for semicolon",
    "sheetName": "write the sheet's name, or remove it for the first sheet",
    "timezone": "write an IANA zone such as Europe/Paris, or remove it",
    "dateFormat": "write one such as DD/MM/YYYY, or remove it for YYYY-MM-DD",
}


def read_provider(el, base: Path, problems: Problems, actions) -> ProviderConfig:
    check_container(el, problems)
    values: dict = {"path": base}
    seen: dict[str, int] = {}
    mapping_el = None
    for child in children(el):
        name = child.tag
        if name not in catalog.PROVIDER_OPTIONS:
            problems.unknown(child, "fileSystemSourceProvider", catalog.PROVIDER_OPTIONS, "option")
            continue
        if not first_time(child, seen, problems, "fileSystemSourceProvider"):
            continue
        if name == "columnsMapping":
            mapping_el = child
            values["columns_mapping"] = read_columns(child, problems, actions)
            continue
        if name in ("skipFirstLine", "autoDetectLineEndings"):
            # line endings are always detected: autoDetectLineEndings changes nothing
            flag = yes_no(child, problems)
            if name == "skipFirstLine":
                values["skip_first_line"] = flag
            continue
        text = leaf(child, problems)
        if not text:
            problems.add(child, Msg.EMPTY.format(tag=name, what=_EMPTY_HINTS[name]))
            continue
        value: object
        if name == "path":
            key, value = "path", config_folder(child, text, base, problems)
        else:
            key, read = _VALUES[name]
            value = read(child, text, problems)
        if value is not None:
            values[key] = value
    if "fileName" not in seen:
        problems.add(el, Msg.NO_FILE_NAME)
    values.setdefault("file_name", None)
    if mapping_el is not None:
        _check_columns_cover(mapping_el, values["columns_mapping"], actions, problems)
    return ProviderConfig(line=el.sourceline or 1, **values)


def _file_name(el, text: str, problems: Problems) -> str | None:
    if has_dot_dot(text):
        problems.add(el, Msg.DOT_DOT.format(what="name the folder in <path>"))
    elif Path(text).is_absolute():
        problems.add(el, Msg.ABSOLUTE_FILE_NAME.format(text=text))
    else:
        return text
    return None


def _encoding(el, text: str, problems: Problems) -> str | None:
    try:
        codecs.lookup(text)
    except LookupError:
        problems.add(el, Msg.UNKNOWN_ENCODING.format(text=text))
        return None
    return text


def _sheet_name(el, text: str, problems: Problems) -> str:
    return text


def _delimiter(el, text: str, problems: Problems) -> str:
    if text.lower() in catalog.DELIMITERS:
        return catalog.DELIMITERS[text.lower()]
    close = close_match(text.lower(), catalog.DELIMITERS)
    if close:
        problems.add(el, Msg.UNKNOWN_DELIMITER.format(text=text, close=close))
    else:
        problems.add(el, Msg.UNKNOWN_DELIMITER_EXPECTED.format(text=text))
    return ";"


def _timezone(el, text: str, problems: Problems) -> str | None:
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError):
        close = close_match(text, sorted(available_timezones()))
        if close:
            problems.add(el, Msg.UNKNOWN_ZONE.format(text=text, close=close))
        else:
            problems.add(el, Msg.UNKNOWN_ZONE_EXPECTED.format(text=text))
        return None


def _date_format(el, text: str, problems: Problems) -> str:
    if not has_valid_characters(text):
        problems.add(el, Msg.DATE_CHARACTERS.format(text=text))
        return DEFAULT_DATE_FORMAT
    try:
        compile_date_format(text)
    except ValueError as exc:
        problems.add(el, Msg.DATE_FORMAT.format(reason=exc))
        return DEFAULT_DATE_FORMAT
    return text


# option -> (ProviderConfig field, reader of its value: None when it is not valid)
_VALUES: dict[str, tuple[str, Callable[[Any, str, Problems], object]]] = {
    "fileName": ("file_name", _file_name),
    "fileEncoding": ("encoding", _encoding),
    "delimiter": ("delimiter", _delimiter),
    "sheetName": ("sheet_name", _sheet_name),
    "timezone": ("timezone", _timezone),
    "dateFormat": ("date_format", _date_format),
}


def _known_fields(actions) -> tuple[str, ...]:
    """Fields a column may name: those of the import's actions (all actions for a fragment)."""
    pool = [catalog.ACTIONS[a.name] for a in actions] or list(catalog.ACTIONS.values())
    return tuple(dict.fromkeys(name for action in pool for name in action.fields))


def read_columns(el, problems: Problems, actions) -> tuple[ColumnSpec, ...]:
    check_container(el, problems)
    valid = _known_fields(actions) + (catalog.IGNORED_COLUMN,)
    repeatable = {n for a in catalog.ACTIONS.values() for n in a.repeatable}
    columns = []
    lines: dict[str, int] = {}
    for child in children(el):
        name = canonical(child, valid, problems, "columnsMapping")
        if name is None:
            continue
        line = child.sourceline or 1
        if name == catalog.IGNORED_COLUMN:
            check_empty(child, problems)
            columns.append(ColumnSpec(None, line))
            continue
        if name in lines and name not in repeatable:
            problems.add(child, Msg.MAPPED_TWICE.format(name=name, first=lines[name]))
            continue
        lines.setdefault(name, line)
        written, _ = field_children(child, name, problems, allow_mandatory=False)
        if written:
            check_codes(child, name, {**code_meanings(name), **written}, problems)
        columns.append(ColumnSpec(name, line))
    if not children(el):
        problems.add(el, Msg.EMPTY_MAPPING)
    return tuple(columns)


def _check_columns_cover(el, columns, actions, problems: Problems) -> None:
    present = {c.name for c in columns}
    missing = dict.fromkeys(
        spec.name
        for action in actions
        for spec in action.fields
        if spec.mandatory and spec.name != catalog.IGNORED_COLUMN and spec.name not in present
    )
    for name in missing:
        problems.add(el, Msg.MANDATORY_NOT_MAPPED.format(name=name))
