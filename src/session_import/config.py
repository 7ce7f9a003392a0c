"""The import configuration: CrossKnowledge generic-import XML -> frozen dataclasses.

Every error carries the file and the element's line: ``FILE:LINE: what is wrong; what to do``.
"""

from __future__ import annotations

import codecs
import difflib
import heapq
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from lxml import etree

from session_import import schema
from session_import.dates import compile_date_format
from session_import.errors import ExitCode, SessionImportError
from session_import.safety import parse_limit

DEFAULT_DATE_FORMAT = "YYYY-MM-DD"


# Bounds on the work a configuration can cause, far above any real one: the largest a large
# organisation writes (every option, both publishers, 10,000 Zoho <training> mappings) is
# 1.4 MB and 50,000 elements and attributes; CrossKnowledge's own examples are under 2 kB.
MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_CONFIG_NODES = 200_000  # elements plus attributes
# Errors (and warnings) printed for one file; the rest are counted on one last line.
MAX_LISTED = 100


class ConfigError(SessionImportError):
    """The configuration is invalid.

    ``errors`` is what to print, one message a line: the ``FILE:LINE: ...`` errors in the
    order of ``_Problems`` (root causes first), at most ``MAX_LISTED`` of them, then, when
    there were more, ``FILE: ... and N more errors; ...``.
    """

    exit_code = ExitCode.CONFIG_INVALID

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class FieldSpec:
    """One field of an action's ``<fields>``, after defaults and overrides."""

    name: str  # canonical name, e.g. "sessionId" even when written <sessionID/>
    mandatory: bool
    mandatory_explicit: bool  # True when <mandatory> was written for this field
    line: int
    # For code-list fields (sessionAction, sessionStatus, trainingAction):
    # code as compared (stripped, casefolded) -> meaning ("createUpdate", "cancel", "open", "closed").
    # Codes written in <fields> win over those in <columnsMapping>, which win over the defaults.
    codes: dict[str, str] | None = None
    # The same codes as written (stripped, case kept), for what `check` prints.
    written_codes: dict[str, str] | None = None


@dataclass(frozen=True)
class ColumnSpec:
    """One column of ``<columnsMapping>``; ``name`` is None for ``<ignoredColumn/>``."""

    name: str | None
    line: int


@dataclass(frozen=True)
class ProviderConfig:
    file_name: str | None  # a glob; None when files come from the command line
    path: Path  # absolute: relative paths resolved against the config file's folder
    skip_first_line: bool = True
    columns_mapping: tuple[ColumnSpec, ...] | None = None
    encoding: str = "utf-8"
    delimiter: str | None = ";"  # the character; None means detect among ; , | TAB
    sheet_name: str | None = None
    timezone: str | None = None
    date_format: str = DEFAULT_DATE_FORMAT
    line: int = 0

    @classmethod
    def command_line(cls, folder: Path) -> ProviderConfig:
        """How files given on the command line are read when no provider says otherwise."""
        return cls(file_name=None, path=folder, delimiter=None)


@dataclass(frozen=True)
class ActionConfig:
    name: str  # e.g. "createOrUpdateSessionAction"
    fields: tuple[FieldSpec, ...]  # in <fields> order
    search_fields: tuple[str, ...]  # sessionSearchField / traineeSearchField, canonical names
    full_access: bool
    line: int

    def field(self, name: str) -> FieldSpec | None:
        for spec in self.fields:
            if spec.name == name:
                return spec
        return None

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)


@dataclass(frozen=True)
class ConsolidatorConfig:
    name: str  # e.g. "timeStampedFileErrorLogger"
    # option name -> values in file order (targetEmail repeats); paths already resolved
    options: dict[str, tuple[str, ...]]
    disabled: bool
    line: int


@dataclass(frozen=True)
class SafetyConfig:
    max_rejects: str | None = None  # "N" or "P%", as written
    max_cancel: str | None = None


@dataclass(frozen=True)
class ImportConfig:
    id: str
    provider: ProviderConfig | None
    actions: tuple[ActionConfig, ...]
    consolidators: tuple[ConsolidatorConfig, ...] = ()  # in CrossKnowledge's running order
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    line: int = 0
    publishers: tuple = ()  # publishers.PerculusPublisher / ZohoPeoplePublisher, in file order


@dataclass(frozen=True)
class Config:
    path: Path
    form: str  # "bare" (<actions>) or "full" (<import-config>)
    imports: tuple[ImportConfig, ...]
    warnings: tuple[str, ...] = ()  # FILE:LINE: ... e.g. "field <sessionID> read as <sessionId>."
    fragment: str | None = None  # root element name when a fragment was checked (check only)


# ---- parsing (below this line) ----

_ROOTS = ("import-config", "actions")
# Roots of CrossKnowledge's published snippets; `check` validates the supported ones in place.
_FRAGMENT_ROOTS = (
    "providers", "fileSystemSourceProvider", "consolidators", "options", "fields", "columnsMapping",
    "preProcess", "postProcess", "parameters",
)
_FRAGMENT_HOMES = {
    "providers": "inside an <import>, before its <actions>",
    "fileSystemSourceProvider": "inside the <providers> of an <import>",
    "consolidators": "inside an <import>, after its <actions>",
    "options": "inside an action such as <createOrUpdateSessionAction>",
    "fields": "inside an action such as <createOrUpdateSessionAction>",
    "columnsMapping": "inside a <fileSystemSourceProvider>",
}
_FRAGMENT_SAMPLE = 100  # names of a fragment that say which action it is written for
_IMPORT_PARTS = ("providers", "actions", "consolidators", "safety")
_PROVIDER_OPTIONS = (
    "fileName", "path", "skipFirstLine", "columnsMapping", "fileEncoding", "delimiter",
    "autoDetectLineEndings", "sheetName", "timezone", "dateFormat",
)
_DELIMITERS = {"semicolon": ";", "comma": ",", "pipe": "|", "tab": "\t", "tabulation": "\t"}
# Options of CrossKnowledge's generic import that this tool does not implement. Their values
# (an sFTP password among them) are never read, so no message can echo them.
_CK_OPTIONS = (
    "sftpHost", "sftpLogin", "sftpPassword", "sftpFolder", "sftpFile", "sftpFileName",
    "defaultEntityId", "defaultLangCode", "trainingSearchField", "includeDownloadLink",
)
_CK_PROCESSES = ("preProcess", "postProcess")
_REQUIRED_OPTION = {
    "timeStampedFileErrorLogger": "location",
    "moveToBackupConsolidator": "backupFolder",
    "emailReport": "targetEmail",
}
_FOLDER_OPTIONS = ("location", "backupFolder")
# dateFormat's characters, in either case (ASCII only: "ı".upper() is "I")
_DATE_CHARACTERS = frozenset("YMDHISymdhis /_.:;,-")
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_EMAIL = re.compile(rf"[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+")
_PARSER_POSITION = re.compile(r",? line \d+, column \d+$")


class _Msg:
    """Every configuration message; CrossKnowledge's own are word for word."""

    CANNOT_READ = "cannot be read: {reason}; check the path."
    DOCTYPE = "a <!DOCTYPE> is not allowed in an import configuration; remove it."
    NOT_WELL_FORMED = "the XML is not well-formed: {reason}; fix the markup."
    XML_EMPTY = "the file is empty; write the configuration in it, with <import-config> or <actions> as its root."
    XML_EXTRA_CONTENT = (
        "the XML is not well-formed: something follows the end of the root element; remove it "
        "(a configuration has one root element, <import-config> or <actions>)."
    )
    XML_TAG_MISMATCH = (
        "the XML is not well-formed: <{opened}> of line {line} is closed by </{closed}>; "
        "close <{opened}> before it, or remove or correct </{closed}>."
    )
    XML_UNCLOSED = "the XML is not well-formed: the file ends inside <{tag}> of line {line}; close it with </{tag}>."
    XML_TOO_DEEP = (
        "elements are nested more than 256 levels deep, which no import configuration needs; "
        "close the elements left open."
    )
    XML_NAME_TOO_LONG = (
        "a name is over 50,000 characters long, which no import configuration needs; fix the markup."
    )
    TOO_BIG = (
        "the file is {size}, over the {limit} MiB an import configuration may have; check that it "
        "is the configuration and not a data file."
    )
    TOO_MANY_NODES = (
        "the configuration has more than {limit} elements and attributes by this line, far more "
        "than any import configuration needs; check that it is the configuration you meant."
    )
    MORE_ERRORS = "... and {count} more error{s}; fix those listed and check the configuration again."
    MORE_WARNINGS = "... and {count} more warning{s}."
    FRAGMENT_ROOT = (
        "<{tag}> is a fragment of an import configuration; "
        "a configuration's root is <import-config> or <actions>."
    )
    UNKNOWN_ROOT = "unknown root element <{tag}>; a configuration's root is <import-config> or <actions>."
    UNKNOWN_ROOT_CLOSE = (
        "unknown root element <{tag}>; did you mean <{close}>? "
        "A configuration's root is <import-config> or <actions>."
    )
    IMPORT_ROOT = "<import> must stand inside <import-config>; wrap it in <import-config>...</import-config>."
    ACTION_ROOT = "<{tag}> must stand inside <actions>; wrap it in <actions>...</actions>."
    UNKNOWN = "unknown {what} <{tag}> in <{where}>; did you mean <{close}>?"
    UNKNOWN_EXPECTED = "unknown {what} <{tag}> in <{where}>; expected {expected}."
    CK_ACTION = "<{tag}> is a CrossKnowledge action that session-import does not support."
    CK_CONSOLIDATOR = "<{tag}> is a CrossKnowledge consolidator that session-import does not support."
    CK_OPTION = "<{tag}> is a CrossKnowledge option that session-import does not support; remove it."
    CK_FIELD = "<{tag}> is a CrossKnowledge field that session-import does not support; remove it{hint}."
    CK_FIELD_HINT = " (an <ignoredColumn/> keeps a column's place)"
    CK_PRE_PROCESS = (
        "<preProcess> is a CrossKnowledge pre-process that session-import does not support; "
        "decrypt, download or unpack the files before the import runs, and remove it."
    )
    CK_POST_PROCESS = (
        "<postProcess> is a CrossKnowledge post-process that session-import does not support; "
        "do that work after the import runs, and remove it."
    )
    CK_PARAMETERS = (
        "<parameters> holds CrossKnowledge parameters that session-import does not support; remove it."
    )
    OTHER_ACTIONS_OPTION = "<{tag}> is an option of <{owner}>, not of <{action}>; remove it."
    NO_PUBLISHER = "<publishers> names no publisher; add <perculusPublisher> or <zohoPeoplePublisher>, or remove it."
    PUBLISHER_OPTION_MISSING = "<{tag}> needs <{option}>; add it."
    PUBLISHER_EMPTY = "<{tag}> is empty; write its value or remove it."
    PUBLISHER_URL = "<{tag}> is {value!r}; write an http:// or https:// address such as https://example.com."
    PUBLISHER_NUMBER = "<{tag}> is {value!r}; write a whole number from {low} to {high}."
    PUBLISHER_SECONDS = "<{tag}> is {value!r}; write a number of seconds greater than 0."
    PUBLISHER_ZONE = "<{tag}> is {value!r}, not a known time zone; write an IANA name such as Europe/Istanbul."
    PUBLISHER_TRAINING = (
        '<training> needs pathCode=, courseId=, batchId= and moduleId=; it lacks {missing}.'
    )
    PUBLISHER_TRAINING_TWICE = '<training pathCode="{code}"> appears twice (first on line {first}); keep one.'
    PUBLISHER_MODULE = (
        "<zohoPeoplePublisher> needs <courseId>, <batchId> and <moduleId>, or a <training> element "
        "for each training it publishes; it has neither."
    )
    UNEXPECTED_TEXT = "unexpected text {text!r} in <{tag}>; remove it."
    UNKNOWN_ATTRIBUTE = "unknown attribute {name}= on <{tag}>; remove it."
    IMPORT_ATTRIBUTE = 'unknown attribute {name}= on <import>; an <import> takes only id="...".'
    HOLDS_A_VALUE = "<{tag}> holds a value, not elements; remove <{child}>."
    TAKES_NO_VALUE = "<{tag}> takes no value; write it empty: <{tag}/>."
    YES_NO = '<{tag}> is "{value}"; write yes or no.'
    TWICE = "<{tag}> appears twice in <{parent}> (first on line {first}); keep one."
    EMPTY = "<{tag}> is empty; {what}."
    NO_IMPORT = "<import-config> holds no <import>; add one."
    DUPLICATE_ID = (
        "two imports are named {id} (the other on line {first}); "
        'give each <import> its own id="...".'
    )
    NO_ACTIONS = "<import> has no <actions>; add the action that each row runs."
    NO_ACTION = "<actions> holds no action; add <createOrUpdateSessionAction> or another."
    NO_FIELDS = "<{action}> has no <fields>; list the columns the action reads."
    EMPTY_FIELDS = "<fields> is empty; list the columns the action reads."
    MANDATORY_FIELD_MISSING = (
        "<fields> has no <{name}>, a field mandatory by default; add <{name}/>, or "
        "<{name}><mandatory>no</mandatory></{name}> if the file may leave it out."
    )
    KEY_FIELD_MISSING = "<fields> has no <{name}>, by which <{action}> finds its records; add <{name}/>."
    KEY_FIELD_OPTIONAL = (
        "<{name}> is how <{action}> finds its records, so it is always mandatory; "
        "remove <mandatory>no</mandatory>."
    )
    BELONGS_IN_OPTIONS = "<{tag}> belongs inside <options>; move it there."
    CASE = "field <{tag}> read as <{name}>."
    FIELD_TWICE = "field <{name}> is listed twice in <{parent}> (first on line {first}); keep one."
    NOT_A_SEARCH_FIELD = "field <{tag}> cannot be used in <{option}>; name one or more of {expected}."
    SEARCH_FIELD_NOT_IN_FIELDS = "search field <{name}> is not in <fields>; add it to <fields>."
    NO_SEARCH_OPTION = (
        "<{action}> has no <{option}> in <options>; add one naming the fields that find an "
        "existing session ({expected})."
    )
    EMPTY_SEARCH = "<{option}> is empty; name the fields that find an existing record ({expected})."
    LEARNER_KEY = (
        "the learner action needs at least one of <candidateLogin>, <candidateRefNumber>, "
        "<candidateEmail> in <fields>; add one."
    )
    ENTITY_LEVEL = "<fields> needs at least one <{field}/>; add one per level of the hierarchy."
    EMPTY_CODE = "<{tag}> is empty; write the code the file uses for it."
    SAME_CODE = "the code {code!r} of <{field}> means both {first} and {second}; give each its own code."
    NO_FIELD_ELEMENTS = "<{field}> takes no elements; remove <{tag}>."
    ONE_PROVIDER = "only one <fileSystemSourceProvider> per import; use one <import> per kind of file."
    NO_FILE_NAME = (
        "<fileSystemSourceProvider> has no <fileName>; add the file name or a glob such as sessions_*.csv."
    )
    DOT_DOT = "String '..' is forbidden in file path; {what}."
    PATH_TILDE = (
        "<{tag}> {text} starts with ~, which is not expanded (a cron job has another home); "
        "write the absolute path, or a folder relative to the configuration's folder."
    )
    PATH_CONTROL = "<{tag}> holds a line break or a tab; write the path on one line."
    PATH_OUTSIDE = (
        "<{tag}> {text} leads to {target} through a symbolic link, outside the configuration's "
        "folder {base}; write {target} as an absolute path if that folder is meant, or remove the link."
    )
    PATH_UNRESOLVABLE = "<{tag}> {text} cannot be followed: {reason}; fix or remove the symbolic link."
    ABSOLUTE_FILE_NAME = (
        "<fileName> {text} is an absolute path; put the folder in <path> and the name in <fileName>."
    )
    UNKNOWN_ENCODING = (
        "unknown encoding {text!r} in <fileEncoding>; write one such as UTF-8, ISO-8859-1 or windows-1252."
    )
    UNKNOWN_DELIMITER = "unknown delimiter {text!r}; did you mean {close}?"
    UNKNOWN_DELIMITER_EXPECTED = "unknown delimiter {text!r}; write semicolon, comma, pipe or tab."
    UNKNOWN_ZONE = "unknown time zone {text!r} in <timezone>; did you mean {close}?"
    UNKNOWN_ZONE_EXPECTED = "unknown time zone {text!r} in <timezone>; write an IANA zone such as Europe/Paris."
    DATE_CHARACTERS = (
        "the given date format {text} is not valid. It should only contain the following "
        "characters (case insensitive): 'YMDHIS /_.:;,-'"
    )
    DATE_FORMAT = "{reason}; write it with YYYY, MM, DD and optionally HH, II, SS."
    EMPTY_MAPPING = "<columnsMapping> is empty; list the file's columns in order."
    MAPPED_TWICE = "field <{name}> is mapped twice in <columnsMapping> (first on line {first}); keep one."
    MANDATORY_NOT_MAPPED = (
        "mandatory field <{name}> is not in <columnsMapping>; add a column for it or make it "
        "<mandatory>no</mandatory>."
    )
    CONSOLIDATOR_TWICE = (
        "<{tag}> appears twice in <consolidators> (first on line {first}); keep one: each "
        "consolidator runs at most once per import."
    )
    PARAMETER_MISSING = "The {option} parameter is missing."
    INVALID_EMAIL = "The targetEmail parameter is an invalid email: {address}"
    LIMIT = "<{tag}> {reason}; write a count such as 10 or a percentage from 0 to 100 such as 5%."


# Characters that end a line for str.splitlines() (and for most readers of a log), escaped in
# messages: a value echoed from the XML (<fullAccess>ye&#10;s</fullAccess>) must not split one
# error into lines that no longer start with FILE:LINE:.
_LINE_BREAKS = {ord(c): f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
                for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}
_LINE_BREAKS.update({ord("\n"): "\\n", ord("\r"): "\\r"})


def _one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


class _Problems:
    """Every error and warning of one configuration file.

    Errors about a name that session-import does not know (an unknown or misspelt element,
    field, option, action or attribute, a CrossKnowledge name it does not support) come first,
    in line order: the loader skips such an element, which causes errors elsewhere (a search
    field "not in <fields>", a mandatory field missing), and the cause must be read first.
    Then every other error, in line order. A message may be given as a function, formatted
    only if it is listed: a hostile file of a million unknown names costs no did-you-mean
    beyond the ``MAX_LISTED`` printed.
    """

    NAME = 0  # an unknown name: a root cause
    OTHER = 1

    def __init__(self, shown: str):
        self.shown = shown
        self._errors: list[tuple[int, int, int, str | Callable[[], str]]] = []
        self._warnings: list[tuple[int, int, int, str | Callable[[], str]]] = []

    @staticmethod
    def _line(where) -> int:
        return where if isinstance(where, int) else (where.sourceline or 1)

    def add(self, where, message: str | Callable[[], str], *, rank: int = OTHER) -> None:
        self._errors.append((rank, self._line(where), len(self._errors), message))

    def warn(self, where, message: str) -> None:
        self._warnings.append((self.OTHER, self._line(where), len(self._warnings), message))

    def absorb(self, other: _Problems) -> None:
        for rank, line, _, message in other._errors:
            self._errors.append((rank, line, len(self._errors), message))
        for rank, line, _, message in other._warnings:
            self._warnings.append((rank, line, len(self._warnings), message))

    @property
    def error_count(self) -> int:
        return len(self._errors)

    def _listed(self, entries, more: str) -> list[str]:
        first = heapq.nsmallest(MAX_LISTED, entries, key=lambda entry: entry[:3])
        lines = [f"{self.shown}:{line}: {_one_line(m() if callable(m) else m)}" for _, line, _, m in first]
        if len(entries) > len(first):
            count = len(entries) - len(first)
            lines.append(f"{self.shown}: " + more.format(count=f"{count:,}", s="" if count == 1 else "s"))
        return lines

    @property
    def errors(self) -> list[str]:
        return self._listed(self._errors, _Msg.MORE_ERRORS)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._listed(self._warnings, _Msg.MORE_WARNINGS))

    def raise_if_any(self) -> None:
        if self._errors:
            raise ConfigError(self.errors)

    def unknown(self, el, where: str, valid, what: str = "element") -> None:
        """An element that has no place here; CrossKnowledge names are refused by name."""
        tag = el.tag
        self.add(el, lambda: _unknown_message(tag, where, valid, what), rank=self.NAME)


def _unknown_message(tag: str, where: str, valid, what: str) -> str:
    if what == "field" and tag in schema.UNSUPPORTED_CK_FIELDS:
        hint = _Msg.CK_FIELD_HINT if where in ("fields", "columnsMapping") else ""
        return _Msg.CK_FIELD.format(tag=tag, hint=hint)
    if tag in _CK_OPTIONS:
        return _Msg.CK_OPTION.format(tag=tag)
    if tag in schema.UNSUPPORTED_CK_ACTIONS:
        return _Msg.CK_ACTION.format(tag=tag)
    if tag in schema.UNSUPPORTED_CK_CONSOLIDATORS:
        return _Msg.CK_CONSOLIDATOR.format(tag=tag)
    if tag == "preProcess":
        return _Msg.CK_PRE_PROCESS
    if tag == "postProcess":
        return _Msg.CK_POST_PROCESS
    if tag == "parameters":
        return _Msg.CK_PARAMETERS
    close = _close(tag, valid)
    if close:
        return _Msg.UNKNOWN.format(what=what, tag=_shorten_name(tag), where=where, close=close)
    return _Msg.UNKNOWN_EXPECTED.format(what=what, tag=_shorten_name(tag), where=where, expected=_one_of(valid))


def _shorten_name(name: str) -> str:
    """A name echoed from the document; XML lets a name be 50,000 characters long."""
    return name if len(name) <= 60 else name[:57] + "..."


def _close(name: str, valid) -> str | None:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def _one_of(names) -> str:
    names = [f"<{n}>" for n in names]
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)


def _children(el) -> list:
    """Element children; comments and processing instructions are not elements."""
    return [c for c in el if isinstance(c.tag, str)]


def _text(el) -> str:
    return (el.text or "").strip()


def _check_container(el, problems: _Problems, attributes: tuple[str, ...] = ()) -> None:
    """An element that holds elements holds nothing else: no text (CrossKnowledge's '...'), no attribute."""
    stray = "".join([el.text or ""] + [c.tail or "" for c in el]).strip()
    if stray:
        problems.add(el, _Msg.UNEXPECTED_TEXT.format(text=_shorten(stray), tag=el.tag))
    _check_attributes(el, problems, attributes)


def _check_attributes(el, problems: _Problems, allowed: tuple[str, ...] = ()) -> None:
    is_root = el.getparent() is None
    for name in el.attrib:
        if name in allowed or (is_root and name.startswith(_XSI)):
            continue
        shown = _shorten_name(etree.QName(name).localname if name.startswith("{") else name)
        template = _Msg.IMPORT_ATTRIBUTE if el.tag == "import" else _Msg.UNKNOWN_ATTRIBUTE
        problems.add(el, template.format(name=shown, tag=_shorten_name(el.tag)), rank=problems.NAME)


def _check_empty(el, problems: _Problems) -> None:
    """An element written for its name alone (<ignoredColumn/>, a search field)."""
    _check_attributes(el, problems)
    if _children(el) or _text(el):
        problems.add(el, _Msg.TAKES_NO_VALUE.format(tag=el.tag))


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 40 else text[:37] + "..."


def _leaf(el, problems: _Problems) -> str:
    """The trimmed text of an element that holds a value."""
    for child in _children(el):
        problems.add(child, _Msg.HOLDS_A_VALUE.format(tag=el.tag, child=child.tag))
    _check_attributes(el, problems)
    return _text(el)


def _yes_no(el, problems: _Problems) -> bool:
    value = _leaf(el, problems)
    if value.lower() not in ("yes", "no"):
        problems.add(el, _Msg.YES_NO.format(tag=el.tag, value=value))
        return False
    return value.lower() == "yes"


def _first_time(el, seen: dict, problems: _Problems, parent: str) -> bool:
    """False (and an error) when an element that may appear once appears again."""
    if el.tag in seen:
        problems.add(el, _Msg.TWICE.format(tag=el.tag, parent=parent, first=seen[el.tag]))
        return False
    seen[el.tag] = el.sourceline or 1
    return True


def _canonical(el, valid, problems: _Problems, where: str) -> str | None:
    """The field name that ``el`` stands for; a name in another case is read with a warning."""
    if el.tag in valid:
        return el.tag
    by_case = {v.casefold(): v for v in valid}
    name = by_case.get(el.tag.casefold())
    if name is not None:
        problems.warn(el, _Msg.CASE.format(tag=el.tag, name=name))
        return name
    problems.unknown(el, where, valid, "field")
    return None


def _has_dot_dot(text: str) -> bool:
    # CrossKnowledge refuses the string itself, wherever it stands in the path.
    return ".." in text


def _folder(el, text: str, base: Path, problems: _Problems) -> Path | None:
    """A folder of the configuration, resolved once, symbolic links followed.

    An absolute path is the administrator's explicit choice and is kept. A relative
    path resolves against the configuration file's folder (never the cwd) and must stay
    inside it once every symbolic link is followed: whoever can add a link next to the
    configuration must not be able to send the import's reads, moves and logs elsewhere.
    """
    if _has_dot_dot(text):
        problems.add(el, _Msg.DOT_DOT.format(
            what="write a folder inside the configuration's folder, or an absolute path"))
        return None
    if any(ch in text for ch in "\t\n\r"):
        problems.add(el, _Msg.PATH_CONTROL.format(tag=el.tag))
        return None
    if text.startswith("~"):
        problems.add(el, _Msg.PATH_TILDE.format(tag=el.tag, text=text))
        return None
    written = Path(text)
    try:
        folder = (base / written).resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # RuntimeError: a symbolic link loop
        reason = getattr(exc, "strerror", None) or str(exc)
        problems.add(el, _Msg.PATH_UNRESOLVABLE.format(tag=el.tag, text=text, reason=reason))
        return None
    if not written.is_absolute() and not _inside(folder, base):
        problems.add(el, _Msg.PATH_OUTSIDE.format(tag=el.tag, text=text, target=folder, base=base))
        return None
    return folder


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or path.is_relative_to(folder)


class RunPathMsg(StrEnum):
    """What a run says when a path of the configuration now leads elsewhere (see ``leads_outside``)."""

    # a data file listed by the provider's glob (a DataFileError: FILE:0: ...)
    FILE_OUTSIDE = (
        "is a symbolic link to {target}, outside the provider's folder {folder}; it was not read. "
        "Put the file itself in {folder}."
    )
    # a consolidator's folder (location, backupFolder), checked before and after it is created
    FOLDER_MOVED = (
        "The folder {folder} now leads to {target} (a symbolic link made after the configuration "
        "was read); nothing was written there."
    )


def leads_outside(path: Path, folder: Path) -> Path | None:
    """Where ``path`` really leads when that is not inside ``folder``, else None.

    ``folder`` is a folder of a loaded configuration, already resolved by ``load_config``;
    it is deliberately not resolved again, so that a symbolic link made after the
    configuration was read (between ``check`` and a run, or during a long run) is seen:
    ``leads_outside(file, provider.path)`` for each file the provider lists, and
    ``leads_outside(folder, folder)`` for a consolidator's folder. A path that cannot be
    followed (a link loop) counts as outside, and is returned as written.
    """
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError):
        return Path(path)
    return None if _inside(real, Path(folder)) else real


# ---- reading the document ----


def load_config(path: str | Path, *, fragments: bool = False) -> Config:
    """Read and validate an import configuration; ConfigError lists every problem found.

    ``fragments`` (the ``check`` command) also accepts one of CrossKnowledge's published
    snippets, such as a lone ``<consolidators>``, validated where it would stand.
    """
    shown = str(path)
    path = Path(path)
    root = _parse(path, shown)
    problems = _Problems(shown)
    base = path.resolve().parent
    stem = path.stem
    tag = root.tag
    if tag == "actions":
        actions = _actions(root, problems, {})
        problems.raise_if_any()
        imports = (ImportConfig(stem, None, actions, line=root.sourceline or 1),)
        return Config(path, "bare", imports, problems.warnings)
    if tag == "import-config":
        imports = _imports(root, base, stem, problems)
        problems.raise_if_any()
        return Config(path, "full", imports, problems.warnings)
    if tag in _FRAGMENT_ROOTS:
        if not fragments:
            problems.add(root, _Msg.FRAGMENT_ROOT.format(tag=tag))
            problems.raise_if_any()
        _fragment(root, base, problems)
        problems.raise_if_any()
        return Config(path, "fragment", (), problems.warnings, fragment=tag)
    if tag == "import":
        problems.add(root, _Msg.IMPORT_ROOT)
    elif tag in schema.ACTIONS:
        problems.add(root, _Msg.ACTION_ROOT.format(tag=tag))
    elif tag in schema.UNSUPPORTED_CK_ACTIONS or tag in schema.UNSUPPORTED_CK_CONSOLIDATORS:
        problems.unknown(root, "the document", _ROOTS)
    elif close := _close(tag, _ROOTS):
        problems.add(root, _Msg.UNKNOWN_ROOT_CLOSE.format(tag=_shorten_name(tag), close=close))
    else:
        problems.add(root, _Msg.UNKNOWN_ROOT.format(tag=_shorten_name(tag)))
    raise ConfigError(problems.errors)


def _parse(path: Path, shown: str):
    """The root element, parsed without network, DTD or entity expansion, within bounds.

    A document with a DOCTYPE is refused before the parser sees it, so that no entity
    (billion laughs, a SYSTEM entity naming a local file) can ever be expanded. A file over
    ``MAX_CONFIG_BYTES`` is refused before it is parsed, and a tree of more than
    ``MAX_CONFIG_NODES`` elements and attributes before it is validated: parsing the worst
    document under the size limit takes about a second, and the validation that follows
    never costs more than that number of nodes (benchmarks/hostile_config.py).
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        reason = _one_line(str(exc.strerror or exc))
        raise ConfigError([f"{shown}:1: " + _Msg.CANNOT_READ.format(reason=reason)]) from exc
    if len(data) > MAX_CONFIG_BYTES:
        size = _file_size(path, len(data))
        raise ConfigError([f"{shown}: " + _Msg.TOO_BIG.format(size=size, limit=MAX_CONFIG_BYTES // (1024 * 1024))])
    line = _doctype_line(data)
    if line is not None:
        raise ConfigError([f"{shown}:{line}: {_Msg.DOCTYPE}"])
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
        remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ConfigError([f"{shown}:{exc.lineno or 1}: " + _syntax_message(exc)]) from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise ConfigError([f"{shown}:1: {_Msg.DOCTYPE}"])  # in an encoding the byte scan cannot read
    if root.xpath("count(//*) + count(//@*)") > MAX_CONFIG_NODES:
        raise ConfigError([f"{shown}:{_line_past_node_limit(root)}: "
                           + _Msg.TOO_MANY_NODES.format(limit=f"{MAX_CONFIG_NODES:,}")])
    for el in root.iter():
        if isinstance(el.tag, str) and el.tag.startswith("{"):
            el.tag = etree.QName(el).localname  # a default namespace on the root changes nothing
    return root


def _file_size(path: Path, read: int) -> str:
    try:
        return f"{max(path.stat().st_size, read):,} bytes"
    except OSError:
        return f"over {read - 1:,} bytes"


def _line_past_node_limit(root) -> int:
    count = 0
    for el in root.iter():
        count += 1 + len(el.attrib)
        if count > MAX_CONFIG_NODES:
            return el.sourceline or 1
    return 1


# libxml2's own messages, rewritten: its advice (XML_PARSE_HUGE, a parser option) is not the
# administrator's to follow, and a few messages end with or hold a line break.
_LIBXML2_ADVICE = re.compile(r",?\s*(?:try|use) XML_PARSE_HUGE(?: option)?")
_TAG_MISMATCH = re.compile(r"Opening and ending tag mismatch: (\S+) line (\d+) and (\S+)")
_UNCLOSED = re.compile(r"Premature end of data in tag (\S+) line (\d+)")
_XML_ERR_DOCUMENT_EMPTY = 4
_XML_ERR_DOCUMENT_END = 5
_XML_ERR_TAG_NAME_MISMATCH = 76
_XML_ERR_TAG_NOT_FINISHED = 77
_XML_ERR_NAME_TOO_LONG = 110
_XML_ERR_RESOURCE_LIMIT = 114


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    """What follows ``FILE:LINE: `` for a document libxml2 cannot parse."""
    raw = _PARSER_POSITION.sub("", (exc.msg or str(exc)).strip())
    reason = _LIBXML2_ADVICE.sub("", raw.split("\n", 1)[0]).strip().rstrip(",:")
    if exc.code == _XML_ERR_DOCUMENT_EMPTY and reason == "Document is empty":
        return _Msg.XML_EMPTY
    if exc.code == _XML_ERR_DOCUMENT_END:
        return _Msg.XML_EXTRA_CONTENT
    if exc.code == _XML_ERR_TAG_NAME_MISMATCH and (match := _TAG_MISMATCH.match(reason)):
        opened, line, closed = match.groups()
        return _Msg.XML_TAG_MISMATCH.format(
            opened=_shorten_name(opened), line=line, closed=_shorten_name(closed))
    if exc.code == _XML_ERR_TAG_NOT_FINISHED and (match := _UNCLOSED.match(reason)):
        tag, line = match.groups()
        return _Msg.XML_UNCLOSED.format(tag=_shorten_name(tag), line=line)
    if exc.code == _XML_ERR_RESOURCE_LIMIT and reason.startswith("Excessive depth"):
        return _Msg.XML_TOO_DEEP
    if exc.code == _XML_ERR_NAME_TOO_LONG:
        return _Msg.XML_NAME_TOO_LONG
    return _Msg.NOT_WELL_FORMED.format(reason=_one_line(reason or "the parser gives no reason"))


def _doctype_line(data: bytes) -> int | None:
    for bom, encoding in ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
                          (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            data = data.decode(encoding, errors="replace").encode("utf-8")
            break
    at = data.lower().find(b"<!doctype")
    return None if at < 0 else data.count(b"\n", 0, at) + 1


def _fragment(root, base: Path, problems: _Problems) -> None:
    tag = root.tag
    if tag in _CK_PROCESSES or tag == "parameters":
        problems.unknown(root, "the document", _ROOTS)
    elif tag == "providers":
        _providers(root, base, problems, ())
    elif tag == "fileSystemSourceProvider":
        _provider(root, base, problems, ())
    elif tag == "consolidators":
        _consolidators(root, base, problems)
    elif tag == "columnsMapping":
        _columns(root, problems, ())
    else:  # options or fields: valid when valid for one of the supported actions
        trials = []
        for action in schema.ACTIONS.values():
            trial = _Problems(problems.shown)
            if tag == "options":
                _options(root, action, trial, fields=None, action_el=None)
            else:
                _fields(root, action, trial, {})
            if not trial.error_count:
                problems.absorb(trial)
                return
            trials.append((action, trial))
        # Report against the action the fragment looks written for: the one that knows (or
        # nearly knows: a misspelt name) most of its first names.
        named = [child.tag.casefold() for child in _children(root)[:_FRAGMENT_SAMPLE]]

        def known(action: schema.ActionSchema) -> int:
            names = [n.casefold() for n in (action.options if tag == "options" else action.fields)]
            return sum(n in names or _close(n, names) is not None for n in named)

        _, best = min(trials, key=lambda t: (-known(t[0]), t[1].error_count))
        problems.absorb(best)


def _imports(root, base: Path, stem: str, problems: _Problems) -> tuple[ImportConfig, ...]:
    _check_container(root, problems)
    imports = []
    ids: dict[str, int] = {}
    for el in _children(root):
        if el.tag != "import":
            problems.unknown(el, "import-config", ("import",))
            continue
        _check_container(el, problems, ("id",))
        import_id = el.get("id", "").strip() or stem
        if import_id in ids:
            problems.add(el, _Msg.DUPLICATE_ID.format(id=import_id, first=ids[import_id]))
        else:
            ids[import_id] = el.sourceline or 1
        imports.append(_import(el, import_id, base, problems))
    if not _children(root):
        problems.add(root, _Msg.NO_IMPORT)
    return tuple(imports)


def _import(el, import_id: str, base: Path, problems: _Problems) -> ImportConfig:
    parts: dict[str, object] = {}
    seen: dict[str, int] = {}
    for child in _children(el):
        if child.tag in _IMPORT_PARTS:
            if _first_time(child, seen, problems, "import"):
                parts[child.tag] = child
        elif child.tag == "publishers":
            if _first_time(child, seen, problems, "import"):
                parts["publishers"] = child
        else:
            problems.unknown(child, "import", _IMPORT_PARTS)
    actions: tuple[ActionConfig, ...] = ()
    if "actions" in parts:
        actions = _actions(parts["actions"], problems, _mapping_codes(parts.get("providers")))
    else:
        problems.add(el, _Msg.NO_ACTIONS)
    provider = _providers(parts["providers"], base, problems, actions) if "providers" in parts else None
    consolidators = _consolidators(parts["consolidators"], base, problems) if "consolidators" in parts else ()
    safety = _safety(parts["safety"], problems) if "safety" in parts else SafetyConfig()
    publishers = _publishers(parts["publishers"], problems) if "publishers" in parts else ()
    return ImportConfig(import_id, provider, actions, consolidators, safety, el.sourceline or 1,
                        publishers)


# ---- actions ----


def _actions(el, problems: _Problems, mapping_codes) -> tuple[ActionConfig, ...]:
    _check_container(el, problems)
    actions = []
    for child in _children(el):
        action = schema.ACTIONS.get(child.tag)
        if action is None:
            problems.unknown(child, "actions", tuple(schema.ACTIONS), "action")
        else:
            actions.append(_action(child, action, problems, mapping_codes))
    if not _children(el):
        problems.add(el, _Msg.NO_ACTION)
    return tuple(actions)


def _option_owner(tag: str) -> str | None:
    return next((a.name for a in schema.ACTIONS.values() if tag in a.options), None)


def _action(el, action: schema.ActionSchema, problems: _Problems, mapping_codes) -> ActionConfig:
    _check_container(el, problems)
    parts: dict[str, object] = {}
    seen: dict[str, int] = {}
    for child in _children(el):
        if child.tag in ("options", "fields"):
            if _first_time(child, seen, problems, action.name):
                parts[child.tag] = child
        elif child.tag in action.options:
            problems.add(child, _Msg.BELONGS_IN_OPTIONS.format(tag=child.tag))
        else:
            problems.unknown(child, action.name, ("options", "fields"))
    fields: tuple[FieldSpec, ...] = ()
    if "fields" in parts:
        fields = _fields(parts["fields"], action, problems, mapping_codes)
    else:
        problems.add(el, _Msg.NO_FIELDS.format(action=action.name))
    search, full_access = _options(
        parts.get("options"), action, problems, fields=fields if "fields" in parts else None, action_el=el
    )
    return ActionConfig(action.name, fields, search, full_access, el.sourceline or 1)


def _options(el, action: schema.ActionSchema, problems: _Problems, *, fields, action_el):
    """(search fields, fullAccess); ``fields`` None checks the options alone (a fragment)."""
    search: list[str] = []
    full_access = False
    seen: dict[str, int] = {}
    if el is not None:
        _check_container(el, problems)
        for child in _children(el):
            owner = _option_owner(child.tag)
            if child.tag in action.options:
                if not _first_time(child, seen, problems, "options"):
                    continue
                if child.tag == "fullAccess":
                    full_access = _yes_no(child, problems)
                else:
                    search = _search_fields(child, action, problems, fields)
            elif owner is not None:
                problems.add(child, _Msg.OTHER_ACTIONS_OPTION.format(
                    tag=child.tag, owner=owner, action=action.name))
            else:
                problems.unknown(child, "options", action.options, "option")
    if action.search_option_mandatory and action.search_option not in seen:
        where = el if el is not None else action_el
        if where is not None:
            problems.add(where, _Msg.NO_SEARCH_OPTION.format(
                action=action.name, option=action.search_option, expected=", ".join(action.search_fields)))
    if action.name == schema.LEARNER_ACTION and not search and fields:
        configured = {f.name for f in fields}
        search = [n for n in action.at_least_one if n in configured][:1]
    return tuple(search), full_access


def _search_fields(el, action: schema.ActionSchema, problems: _Problems, fields) -> list[str]:
    _check_container(el, problems)
    expected = ", ".join(f"<{n}>" for n in action.search_fields)
    configured = None if fields is None else {f.name for f in fields}
    names: list[str] = []
    lines: dict[str, int] = {}
    for item in _children(el):
        if item.tag in action.fields and item.tag not in action.search_fields:
            problems.add(item, _Msg.NOT_A_SEARCH_FIELD.format(tag=item.tag, option=el.tag, expected=expected))
            continue
        name = _canonical(item, action.search_fields, problems, el.tag)
        if name is None:
            continue
        _check_empty(item, problems)
        if name in lines:
            problems.add(item, _Msg.FIELD_TWICE.format(name=name, parent=el.tag, first=lines[name]))
            continue
        lines[name] = item.sourceline or 1
        if configured is not None and name not in configured:
            problems.add(item, _Msg.SEARCH_FIELD_NOT_IN_FIELDS.format(name=name))
        names.append(name)
    if not _children(el):
        problems.add(el, _Msg.EMPTY_SEARCH.format(option=el.tag, expected=", ".join(action.search_fields)))
    return names


def _fields(el, action: schema.ActionSchema, problems: _Problems, mapping_codes) -> tuple[FieldSpec, ...]:
    """The action's fields; a code list merges the defaults, <columnsMapping>'s codes, then its own."""
    _check_container(el, problems)
    valid = tuple(action.fields) + (schema.IGNORED_COLUMN,)
    specs: list[FieldSpec] = []
    lines: dict[str, int] = {}
    for child in _children(el):
        name = _canonical(child, valid, problems, "fields")
        if name is None:
            continue
        line = child.sourceline or 1
        if name == schema.IGNORED_COLUMN:
            _check_empty(child, problems)
            specs.append(FieldSpec(name, False, False, line))
            continue
        if name in lines and name not in action.repeatable:
            problems.add(child, _Msg.FIELD_TWICE.format(name=name, parent="fields", first=lines[name]))
            continue
        lines.setdefault(name, line)
        written, mandatory = _field_children(child, name, problems, allow_mandatory=True)
        codes = as_written = None
        if name in action.code_lists:
            meanings = dict(action.code_lists[name].defaults)
            meanings.update(mapping_codes.get(name, {}))
            meanings.update(written)
            if written:  # a clash of <columnsMapping>'s own codes is reported there
                _check_codes(child, name, meanings, problems)
            codes, as_written = {}, {}
            for meaning, code in meanings.items():
                if codes.setdefault(code.strip().casefold(), meaning) == meaning:
                    as_written.setdefault(code.strip(), meaning)
        if name in action.key_fields and mandatory is False:
            problems.add(child, _Msg.KEY_FIELD_OPTIONAL.format(name=name, action=action.name))
            mandatory = None
        default = action.fields[name]
        specs.append(FieldSpec(name, default if mandatory is None else mandatory, mandatory is not None, line,
                               codes, as_written))
    if not _children(el):
        problems.add(el, _Msg.EMPTY_FIELDS)
    else:
        _check_mandatory_listed(el, action, lines, problems)
    names = {s.name for s in specs}
    if action.name == schema.LEARNER_ACTION and specs and not names & set(action.at_least_one):
        problems.add(el, _Msg.LEARNER_KEY)
    if action.repeatable and specs and not names & set(action.repeatable):
        problems.add(el, _Msg.ENTITY_LEVEL.format(field=action.repeatable[0]))
    return tuple(specs)


def _check_mandatory_listed(el, action: schema.ActionSchema, listed, problems: _Problems) -> None:
    """A field mandatory by default must be in <fields>: left out, a session would be created
    without its teacher, or every create rejected for want of a title, night after night."""
    for name, mandatory in action.fields.items():
        if not mandatory or name in listed or name in action.repeatable:
            continue  # a repeatable field (an entity level) has its own message
        template = _Msg.KEY_FIELD_MISSING if name in action.key_fields else _Msg.MANDATORY_FIELD_MISSING
        problems.add(el, template.format(name=name, action=action.name))


def _code_meanings(name: str) -> dict[str, str]:
    """meaning -> default code of a code-list field, whichever action has it."""
    for action in schema.ACTIONS.values():
        if name in action.code_lists:
            return dict(action.code_lists[name].defaults)
    return {}


def _field_children(el, name: str, problems: _Problems, *, allow_mandatory: bool):
    """The codes written in a field's element (meaning -> code) and its <mandatory>, if any."""
    meanings = _code_meanings(name)
    codes: dict[str, str] = {}
    mandatory = None
    _check_container(el, problems)
    valid = tuple(meanings) + (("mandatory",) if allow_mandatory else ())
    seen: dict[str, int] = {}
    for child in _children(el):
        if child.tag not in valid:
            if valid:
                problems.unknown(child, el.tag, valid)
            else:
                problems.add(child, _Msg.NO_FIELD_ELEMENTS.format(field=el.tag, tag=child.tag))
            continue
        if not _first_time(child, seen, problems, el.tag):
            continue
        if child.tag == "mandatory":
            mandatory = _yes_no(child, problems)
            continue
        code = _leaf(child, problems)
        if code:
            codes[child.tag] = code
        else:
            problems.add(child, _Msg.EMPTY_CODE.format(tag=child.tag))
    return codes, mandatory


def _check_codes(el, name: str, meanings: dict[str, str], problems: _Problems) -> None:
    """Each meaning needs its own code, or a cell could not say what it means."""
    by_code: dict[str, str] = {}
    for meaning, code in meanings.items():
        key = code.strip().casefold()
        if key in by_code:
            problems.add(el, _Msg.SAME_CODE.format(code=code, field=name, first=by_code[key], second=meaning))
        else:
            by_code[key] = meaning


def _mapping_codes(providers_el) -> dict[str, dict[str, str]]:
    """Code lists written in <columnsMapping>, read before the actions; validated with the provider."""
    codes: dict[str, dict[str, str]] = {}
    if providers_el is None:
        return codes
    for provider in _children(providers_el):
        for mapping in _children(provider):
            if mapping.tag != "columnsMapping":
                continue
            for column in _children(mapping):
                name = next((n for n in _code_list_fields() if n.casefold() == column.tag.casefold()), None)
                if name is None:
                    continue
                meanings = _code_meanings(name)
                for child in _children(column):
                    if child.tag in meanings and _text(child):
                        codes.setdefault(name, {})[child.tag] = _text(child)
    return codes


def _code_list_fields() -> tuple[str, ...]:
    return tuple(n for action in schema.ACTIONS.values() for n in action.code_lists)


# ---- provider ----


def _providers(el, base: Path, problems: _Problems, actions) -> ProviderConfig | None:
    _check_container(el, problems)
    provider = None
    for child in _children(el):
        if child.tag != "fileSystemSourceProvider":
            problems.unknown(child, "providers", ("fileSystemSourceProvider",))
        elif provider is not None:
            problems.add(child, _Msg.ONE_PROVIDER)
        else:
            provider = _provider(child, base, problems, actions)
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


def _provider(el, base: Path, problems: _Problems, actions) -> ProviderConfig:
    _check_container(el, problems)
    values: dict = {"path": base}
    seen: dict[str, int] = {}
    mapping_el = None
    for child in _children(el):
        name = child.tag
        if name not in _PROVIDER_OPTIONS:
            problems.unknown(child, "fileSystemSourceProvider", _PROVIDER_OPTIONS, "option")
            continue
        if not _first_time(child, seen, problems, "fileSystemSourceProvider"):
            continue
        if name == "columnsMapping":
            mapping_el = child
            values["columns_mapping"] = _columns(child, problems, actions)
            continue
        if name in ("skipFirstLine", "autoDetectLineEndings"):
            flag = _yes_no(child, problems)  # line endings are always detected: the value changes nothing
            if name == "skipFirstLine":
                values["skip_first_line"] = flag
            continue
        text = _leaf(child, problems)
        if not text:
            problems.add(child, _Msg.EMPTY.format(tag=name, what=_EMPTY_HINTS[name]))
            continue
        if name == "fileName":
            if _has_dot_dot(text):
                problems.add(child, _Msg.DOT_DOT.format(what="name the folder in <path>"))
            elif Path(text).is_absolute():
                problems.add(child, _Msg.ABSOLUTE_FILE_NAME.format(text=text))
            else:
                values["file_name"] = text
        elif name == "path":
            folder = _folder(child, text, base, problems)
            if folder is not None:
                values["path"] = folder
        elif name == "fileEncoding":
            try:
                codecs.lookup(text)
                values["encoding"] = text
            except LookupError:
                problems.add(child, _Msg.UNKNOWN_ENCODING.format(text=text))
        elif name == "delimiter":
            values["delimiter"] = _delimiter(child, text, problems)
        elif name == "sheetName":
            values["sheet_name"] = text
        elif name == "timezone":
            values["timezone"] = _timezone(child, text, problems)
        elif name == "dateFormat":
            values["date_format"] = _date_format(child, text, problems)
    if "fileName" not in seen:
        problems.add(el, _Msg.NO_FILE_NAME)
    values.setdefault("file_name", None)
    if mapping_el is not None:
        _check_columns_cover(mapping_el, values["columns_mapping"], actions, problems)
    return ProviderConfig(line=el.sourceline or 1, **values)


def _delimiter(el, text: str, problems: _Problems) -> str:
    if text.lower() in _DELIMITERS:
        return _DELIMITERS[text.lower()]
    close = _close(text.lower(), _DELIMITERS)
    if close:
        problems.add(el, _Msg.UNKNOWN_DELIMITER.format(text=text, close=close))
    else:
        problems.add(el, _Msg.UNKNOWN_DELIMITER_EXPECTED.format(text=text))
    return ";"


def _timezone(el, text: str, problems: _Problems) -> str | None:
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError):
        close = _close(text, sorted(available_timezones()))
        if close:
            problems.add(el, _Msg.UNKNOWN_ZONE.format(text=text, close=close))
        else:
            problems.add(el, _Msg.UNKNOWN_ZONE_EXPECTED.format(text=text))
        return None


def _date_format(el, text: str, problems: _Problems) -> str:
    if not all(ch in _DATE_CHARACTERS for ch in text):
        problems.add(el, _Msg.DATE_CHARACTERS.format(text=text))
        return DEFAULT_DATE_FORMAT
    try:
        compile_date_format(text)
    except ValueError as exc:
        problems.add(el, _Msg.DATE_FORMAT.format(reason=exc))
        return DEFAULT_DATE_FORMAT
    return text


def _known_fields(actions) -> tuple[str, ...]:
    """Fields a column may name: those of the import's actions (all actions for a fragment)."""
    pool = [schema.ACTIONS[a.name] for a in actions] or list(schema.ACTIONS.values())
    return tuple(dict.fromkeys(name for action in pool for name in action.fields))


def _columns(el, problems: _Problems, actions) -> tuple[ColumnSpec, ...]:
    _check_container(el, problems)
    valid = _known_fields(actions) + (schema.IGNORED_COLUMN,)
    repeatable = {n for a in schema.ACTIONS.values() for n in a.repeatable}
    columns = []
    lines: dict[str, int] = {}
    for child in _children(el):
        name = _canonical(child, valid, problems, "columnsMapping")
        if name is None:
            continue
        line = child.sourceline or 1
        if name == schema.IGNORED_COLUMN:
            _check_empty(child, problems)
            columns.append(ColumnSpec(None, line))
            continue
        if name in lines and name not in repeatable:
            problems.add(child, _Msg.MAPPED_TWICE.format(name=name, first=lines[name]))
            continue
        lines.setdefault(name, line)
        written, _ = _field_children(child, name, problems, allow_mandatory=False)
        if written:
            _check_codes(child, name, {**_code_meanings(name), **written}, problems)
        columns.append(ColumnSpec(name, line))
    if not _children(el):
        problems.add(el, _Msg.EMPTY_MAPPING)
    return tuple(columns)


def _check_columns_cover(el, columns, actions, problems: _Problems) -> None:
    present = {c.name for c in columns}
    missing = dict.fromkeys(
        spec.name for action in actions for spec in action.fields
        if spec.mandatory and spec.name != schema.IGNORED_COLUMN and spec.name not in present
    )
    for name in missing:
        problems.add(el, _Msg.MANDATORY_NOT_MAPPED.format(name=name))


# ---- consolidators and safety ----


def _consolidators(el, base: Path, problems: _Problems) -> tuple[ConsolidatorConfig, ...]:
    """Each supported consolidator at most once, in CrossKnowledge's running order."""
    _check_container(el, problems)
    found: dict[str, ConsolidatorConfig] = {}
    for child in _children(el):
        name = child.tag
        if name not in schema.RUNNING_ORDER:
            problems.unknown(child, "consolidators", tuple(schema.RUNNING_ORDER), "consolidator")
        elif name in found:
            problems.add(child, _Msg.CONSOLIDATOR_TWICE.format(tag=name, first=found[name].line))
        else:
            found[name] = _consolidator(child, name, base, problems)
    if schema.HTML_REPORT in found:
        found[schema.HTML_REPORT] = _html_report_location(found, problems, el)
    return tuple(found[n] for n in schema.RUNNING_ORDER if n in found)


def _html_report_location(found: dict[str, ConsolidatorConfig], problems: _Problems,
                          el) -> ConsolidatorConfig:
    """``<htmlReport>`` without ``<location>`` writes next to the error log."""
    page = found[schema.HTML_REPORT]
    page_el = next(c for c in _children(el) if c.tag == schema.HTML_REPORT)
    if any(c.tag == "location" for c in _children(page_el)):
        return page  # its own, or said missing already
    log = found.get("timeStampedFileErrorLogger")
    if log is None or "location" not in log.options:
        problems.add(page_el, _Msg.PARAMETER_MISSING.format(option="location"))
        return page
    return replace(page, options={**page.options, "location": log.options["location"]})


def _consolidator(el, name: str, base: Path, problems: _Problems) -> ConsolidatorConfig:
    _check_container(el, problems)
    allowed = schema.RUNNING_ORDER[name] + ("disabled",)
    options: dict[str, list[str]] = {}
    disabled = False
    seen: dict[str, int] = {}
    for child in _children(el):
        option = child.tag
        if option not in allowed:
            problems.unknown(child, name, allowed, "option")
            continue
        if option != "targetEmail" and not _first_time(child, seen, problems, name):
            continue
        if option == "disabled":
            disabled = _yes_no(child, problems)
        elif option == "timestamp":
            options[option] = ["yes" if _yes_no(child, problems) else "no"]
        elif option in _FOLDER_OPTIONS:
            text = _leaf(child, problems)
            folder = _folder(child, text, base, problems) if text else None
            if not text:
                problems.add(child, _Msg.PARAMETER_MISSING.format(option=option))
            elif folder is not None:
                options[option] = [str(folder)]
        elif option == "targetEmail":
            address = _leaf(child, problems)
            if not address:
                problems.add(child, _Msg.PARAMETER_MISSING.format(option=option))
            elif not _EMAIL.fullmatch(address):
                problems.add(child, _Msg.INVALID_EMAIL.format(address=address))
            else:
                options.setdefault(option, []).append(address)
    if name == "moveToBackupConsolidator":
        options.setdefault("timestamp", ["no"])
    required = _REQUIRED_OPTION.get(name)
    if required and not any(c.tag == required for c in _children(el)):
        problems.add(el, _Msg.PARAMETER_MISSING.format(option=required))
    return ConsolidatorConfig(name, {k: tuple(v) for k, v in options.items()}, disabled, el.sourceline or 1)


def _safety(el, problems: _Problems) -> SafetyConfig:
    _check_container(el, problems)
    values: dict[str, str] = {}
    seen: dict[str, int] = {}
    for child in _children(el):
        if child.tag not in ("maxRejects", "maxCancel"):
            problems.unknown(child, "safety", ("maxRejects", "maxCancel"), "option")
            continue
        if not _first_time(child, seen, problems, "safety"):
            continue
        text = _leaf(child, problems)
        try:
            limit = parse_limit(text)
        except ValueError:
            reason = "is empty" if not text else f"is {text!r}"
            problems.add(child, _Msg.LIMIT.format(tag=child.tag, reason=reason))
            continue
        values["max_rejects" if child.tag == "maxRejects" else "max_cancel"] = limit.text
    return SafetyConfig(**values)


# ---- publishers (section 9 of the SPEC) ----


@dataclass(frozen=True)
class PublisherConfig:
    """A remote LMS to publish to: ``name`` is "perculus" or "zoho"; ``settings`` are the
    keyword arguments of its client's settings (perculus.PerculusSettings, zoho.ZohoSettings)."""

    name: str
    line: int
    settings: Mapping[str, object]


_PUBLISHERS = {"perculusPublisher": "perculus", "zohoPeoplePublisher": "zoho"}
# option -> (settings key, kind, default); kinds: url, int:low:high, seconds, zone, text
_PUBLISHER_OPTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "perculusPublisher": {
        "baseUrl": ("base_url", "url"),
        "batchSize": ("batch_size", "int:1:1000"),
        "timezone": ("timezone", "zone"),
        "defaultDuration": ("default_duration", "int:5:360"),
        "timeout": ("read_timeout", "seconds"),
    },
    "zohoPeoplePublisher": {
        "baseUrl": ("base_url", "url"),
        "accountsUrl": ("accounts_url", "url"),
        "courseId": ("course_id", "text"),
        "batchId": ("batch_id", "text"),
        "moduleId": ("module_id", "text"),
        "maxRequests": ("max_requests", "int:1:10000"),
        "windowSeconds": ("window_seconds", "seconds"),
        "lockSeconds": ("lock_seconds", "seconds"),
        "timeout": ("timeout", "seconds"),
    },
}
_PUBLISHER_REQUIRED = {"perculusPublisher": ("baseUrl",), "zohoPeoplePublisher": ("baseUrl", "accountsUrl")}
_TRAINING_IDS = ("pathCode", "courseId", "batchId", "moduleId")


def _publishers(el, problems: _Problems) -> tuple[PublisherConfig, ...]:
    _check_container(el, problems)
    found = []
    seen: dict[str, int] = {}
    for child in _children(el):
        if child.tag not in _PUBLISHERS:
            problems.unknown(child, "publishers", tuple(_PUBLISHERS), "publisher")
        elif _first_time(child, seen, problems, "publishers"):
            found.append(_publisher(child, problems))
    if not _children(el):
        problems.add(el, _Msg.NO_PUBLISHER)
    return tuple(found)


def _publisher(el, problems: _Problems) -> PublisherConfig:
    _check_container(el, problems)
    options = _PUBLISHER_OPTIONS[el.tag]
    settings: dict[str, object] = {}
    seen: dict[str, int] = {}
    trainings: dict[str, tuple[str, str, str]] = {}
    training_lines: dict[str, int] = {}
    for child in _children(el):
        if child.tag == "training" and el.tag == "zohoPeoplePublisher":
            _zoho_training(child, trainings, training_lines, problems)
            continue
        if child.tag not in options:
            expected = tuple(options) + (("training",) if el.tag == "zohoPeoplePublisher" else ())
            problems.unknown(child, el.tag, expected, "option")
            continue
        if not _first_time(child, seen, problems, el.tag):
            continue
        key, kind = options[child.tag]
        value = _publisher_value(child, kind, problems)
        if value is not None:
            settings[key] = value
    for option in _PUBLISHER_REQUIRED[el.tag]:
        if option not in seen:
            problems.add(el, _Msg.PUBLISHER_OPTION_MISSING.format(tag=el.tag, option=option))
    if el.tag == "zohoPeoplePublisher":
        settings["trainings"] = trainings
        has_default = all(settings.get(k) for k in ("course_id", "batch_id", "module_id"))
        if not has_default and not trainings:
            problems.add(el, _Msg.PUBLISHER_MODULE)
    return PublisherConfig(_PUBLISHERS[el.tag], el.sourceline or 1, settings)


def _publisher_value(el, kind: str, problems: _Problems):
    text = _leaf(el, problems)
    if kind == "url":
        if not re.match(r"https?://[^\s/]+", text):
            problems.add(el, _Msg.PUBLISHER_URL.format(tag=el.tag, value=text))
            return None
        return text
    if kind.startswith("int:"):
        _, low, high = kind.split(":")
        if not text.isdigit() or not int(low) <= int(text) <= int(high):
            problems.add(el, _Msg.PUBLISHER_NUMBER.format(tag=el.tag, value=text, low=low, high=high))
            return None
        return int(text)
    if kind == "seconds":
        try:
            seconds = float(text)
        except ValueError:
            seconds = -1.0
        if not seconds > 0 or seconds != seconds or seconds == float("inf"):
            problems.add(el, _Msg.PUBLISHER_SECONDS.format(tag=el.tag, value=text))
            return None
        return seconds
    if kind == "zone":
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            problems.add(el, _Msg.PUBLISHER_ZONE.format(tag=el.tag, value=text))
            return None
        return text
    if not text:
        problems.add(el, _Msg.PUBLISHER_EMPTY.format(tag=el.tag))
        return None
    return text


def _zoho_training(el, trainings: dict, lines: dict, problems: _Problems) -> None:
    for child in _children(el):
        problems.add(child, _Msg.TAKES_NO_VALUE.format(tag=el.tag))
    _check_attributes(el, problems, _TRAINING_IDS)
    values = {name: (el.get(name) or "").strip() for name in _TRAINING_IDS}
    missing = [f"{name}=" for name, value in values.items() if not value]
    if missing:
        problems.add(el, _Msg.PUBLISHER_TRAINING.format(missing=", ".join(missing)))
        return
    code = values["pathCode"]
    if code in lines:
        problems.add(el, _Msg.PUBLISHER_TRAINING_TWICE.format(code=code, first=lines[code]))
        return
    lines[code] = el.sourceline or 1
    trainings[code] = (values["courseId"], values["batchId"], values["moduleId"])


# ---- what `check` prints ----

_DELIMITER_NAMES = {";": "semicolon", ",": "comma", "|": "pipe", "\t": "tab", None: "detected among ; , | TAB"}


def describe(config: Config) -> list[str]:
    """Plain lines saying what each import will read and do (the `check` command)."""
    if config.form == "fragment":
        home = _FRAGMENT_HOMES.get(config.fragment or "", "inside an <import> of an <import-config>")
        line = f"{config.path}: a valid <{config.fragment}> fragment; it belongs {home} "
        return [line + "(a fragment cannot be run on its own)."]
    lines = [f"{config.path}: {len(config.imports)} import(s), {config.form} form"]
    for imp in config.imports:
        lines.append(f"import {imp.id} (line {imp.line})")
        lines.extend("  " + line for line in _describe_provider(imp.provider, config.path))
        for action in imp.actions:
            lines.extend("  " + line for line in _describe_action(action, imp.id))
        for c in imp.consolidators:
            opts = "; ".join(f"{k} {', '.join(v)}" for k, v in c.options.items())
            state = " (disabled)" if c.disabled else ""
            lines.append(f"  then {c.name}{state}" + (f": {opts}" if opts else ""))
        if imp.safety.max_rejects or imp.safety.max_cancel:
            lines.append(f"  safety: max rejects {imp.safety.max_rejects or '-'}, "
                         f"max cancel {imp.safety.max_cancel or '-'}")
        for p in imp.publishers:
            lines.append("  publishes every change to " + _describe_publisher(p))
    return lines


def _describe_publisher(p: PublisherConfig) -> str:
    o = p.settings
    if p.name == "perculus":
        return (f"Perculus at {o.get('base_url')} (batches of {o.get('batch_size', 100)}, times in "
                f"{o.get('timezone', 'Europe/Istanbul')}; credentials from PERCULUS_ACCESS_KEY, "
                "PERCULUS_SECRET_KEY, PERCULUS_ACCOUNT_ID)")
    return (f"Zoho People at {o.get('base_url')} (at most {o.get('max_requests', 30)} calls in "
            f"{o.get('window_seconds', 60):g} s, {len(o.get('trainings', {}))} training(s) with their "
            "own module; credentials from ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN)")


def _describe_provider(provider: ProviderConfig | None, config_path: Path) -> list[str]:
    if provider is None or provider.file_name is None:
        reads = "reads: the data files given on the command line"
    else:
        reads = f"reads: {provider.file_name} in {provider.path} (in name order)"
    p = provider or ProviderConfig.command_line(config_path.parent)
    header = "first line is a header" if p.skip_first_line else "no header line"
    dates = f"dates {p.date_format}" + (f" in {p.timezone}" if p.timezone else "")
    sheet = f", sheet {p.sheet_name}" if p.sheet_name else ""
    delimiter = _DELIMITER_NAMES.get(p.delimiter, repr(p.delimiter))
    if p.columns_mapping:
        mapping = "columns by position: " + ", ".join(c.name or "(ignored)" for c in p.columns_mapping)
    else:
        mapping = "columns by header name, else in <fields> order"
    return [reads, f"format: {delimiter}, {p.encoding}, {header}, {dates}{sheet}", mapping]


def _describe_action(action: ActionConfig, import_id: str) -> list[str]:
    names = ", ".join(f.name + ("*" if f.mandatory else "") for f in action.fields)
    lines = [f"{action.name} (line {action.line}): fields {names} (* mandatory)"]
    if action.search_fields:
        lines.append(f"  finds existing records by {' + '.join(action.search_fields)}")
    if action.full_access:
        lines.append("  may change any record, whoever created it (fullAccess yes)")
    else:
        lines.append(f"  changes only what import {import_id} created (fullAccess no)")
    for f in action.fields:
        if f.written_codes:
            codes = ", ".join(f"{code!r} = {meaning}" for code, meaning in f.written_codes.items())
            lines.append(f"  {f.name} codes: {codes}")
    return lines
