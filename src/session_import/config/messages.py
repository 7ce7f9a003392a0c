"""Every message of the configuration, and how one file's problems are gathered and listed.

Each message is a ``str.format`` template; CrossKnowledge's own are word for word.
Every error reads ``FILE:LINE: what is wrong; what to do``.
"""

from __future__ import annotations

import difflib
import heapq
from collections.abc import Callable
from enum import StrEnum

from session_import import catalog
from session_import.errors import ExitCode, SessionImportError

# Errors (and warnings) printed for one file; the rest are counted on one last line.
MAX_LISTED = 100


class ConfigError(SessionImportError):
    """The configuration is invalid.

    ``errors`` is what to print, one message a line: the ``FILE:LINE: ...`` errors in the
    order of ``Problems`` (root causes first), at most ``MAX_LISTED`` of them, then, when
    there were more, ``FILE: ... and N more errors; ...``.
    """

    exit_code = ExitCode.CONFIG_INVALID

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


class Msg(StrEnum):
    """Every configuration message; CrossKnowledge's own are word for word."""

    CANNOT_READ = "cannot be read: {reason}; check the path."
    DOCTYPE = "a <!DOCTYPE> is not allowed in an import configuration; remove it."
    NOT_WELL_FORMED = "the XML is not well-formed: {reason}; fix the markup."
    XML_EMPTY = (
        "the file is empty; write the configuration in it, with <import-config> or <actions> as "
        "its root."
    )
    XML_EXTRA_CONTENT = (
        "the XML is not well-formed: something follows the end of the root element; remove it "
        "(a configuration has one root element, <import-config> or <actions>)."
    )
    XML_TAG_MISMATCH = (
        "the XML is not well-formed: <{opened}> of line {line} is closed by </{closed}>; "
        "close <{opened}> before it, or remove or correct </{closed}>."
    )
    XML_UNCLOSED = (
        "the XML is not well-formed: the file ends inside <{tag}> of line {line}; close it with "
        "</{tag}>."
    )
    XML_TOO_DEEP = (
        "elements are nested more than 256 levels deep, which no import configuration needs; "
        "close the elements left open."
    )
    XML_NAME_TOO_LONG = (
        "a name is over 50,000 characters long, which no import configuration needs; "
        "fix the markup."
    )
    TOO_BIG = (
        "the file is {size}, over the {limit} MiB an import configuration may have; check that it "
        "is the configuration and not a data file."
    )
    TOO_MANY_NODES = (
        "the configuration has more than {limit} elements and attributes by this line, far more "
        "than any import configuration needs; check that it is the configuration you meant."
    )
    MORE_ERRORS = (
        "... and {count} more error{s}; fix those listed and check the configuration again."
    )
    MORE_WARNINGS = "... and {count} more warning{s}."
    FRAGMENT_ROOT = (
        "<{tag}> is a fragment of an import configuration; "
        "a configuration's root is <import-config> or <actions>."
    )
    UNKNOWN_ROOT = (
        "unknown root element <{tag}>; a configuration's root is <import-config> or <actions>."
    )
    UNKNOWN_ROOT_CLOSE = (
        "unknown root element <{tag}>; did you mean <{close}>? "
        "A configuration's root is <import-config> or <actions>."
    )
    IMPORT_ROOT = (
        "<import> must stand inside <import-config>; wrap it in <import-config>...</import-config>."
    )
    ACTION_ROOT = "<{tag}> must stand inside <actions>; wrap it in <actions>...</actions>."
    UNKNOWN = "unknown {what} <{tag}> in <{where}>; did you mean <{close}>?"
    UNKNOWN_EXPECTED = "unknown {what} <{tag}> in <{where}>; expected {expected}."
    CK_ACTION = "<{tag}> is a CrossKnowledge action that session-import does not support."
    CK_CONSOLIDATOR = (
        "<{tag}> is a CrossKnowledge consolidator that session-import does not support."
    )
    CK_OPTION = (
        "<{tag}> is a CrossKnowledge option that session-import does not support; remove it."
    )
    CK_FIELD = (
        "<{tag}> is a CrossKnowledge field that session-import does not support; remove it{hint}."
    )
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
        "<parameters> holds CrossKnowledge parameters that session-import does not support; "
        "remove it."
    )
    OTHER_ACTIONS_OPTION = "<{tag}> is an option of <{owner}>, not of <{action}>; remove it."
    NO_PUBLISHER = (
        "<publishers> names no publisher; add <perculusPublisher> or <zohoPeoplePublisher>, or "
        "remove it."
    )
    PUBLISHER_OPTION_MISSING = "<{tag}> needs <{option}>; add it."
    PUBLISHER_EMPTY = "<{tag}> is empty; write its value or remove it."
    PUBLISHER_URL = (
        "<{tag}> is {value!r}; write an http:// or https:// address such as https://example.com."
    )
    PUBLISHER_NUMBER = "<{tag}> is {value!r}; write a whole number from {low} to {high}."
    PUBLISHER_SECONDS = "<{tag}> is {value!r}; write a number of seconds greater than 0."
    PUBLISHER_ZONE = (
        "<{tag}> is {value!r}, not a known time zone; write an IANA name such as Europe/Istanbul."
    )
    PUBLISHER_TRAINING = (
        "<training> needs pathCode=, courseId=, batchId= and moduleId=; it lacks {missing}."
    )
    PUBLISHER_TRAINING_TWICE = (
        '<training pathCode="{code}"> appears twice (first on line {first}); keep one.'
    )
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
    ON_LIMIT = '<onLimit> is "{value}"; write fail or hold (default fail).'
    SNAPSHOT_VALUE = '<{tag}> is "{value}"; write {expected} (default {default}).'
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
    KEY_FIELD_MISSING = (
        "<fields> has no <{name}>, by which <{action}> finds its records; add <{name}/>."
    )
    KEY_FIELD_OPTIONAL = (
        "<{name}> is how <{action}> finds its records, so it is always mandatory; "
        "remove <mandatory>no</mandatory>."
    )
    BELONGS_IN_OPTIONS = "<{tag}> belongs inside <options>; move it there."
    CASE = "field <{tag}> read as <{name}>."
    FIELD_TWICE = "field <{name}> is listed twice in <{parent}> (first on line {first}); keep one."
    NOT_A_SEARCH_FIELD = (
        "field <{tag}> cannot be used in <{option}>; name one or more of {expected}."
    )
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
    SAME_CODE = (
        "the code {code!r} of <{field}> means both {first} and {second}; give each its own code."
    )
    NO_FIELD_ELEMENTS = "<{field}> takes no elements; remove <{tag}>."
    ONE_PROVIDER = (
        "only one <fileSystemSourceProvider> per import; use one <import> per kind of file."
    )
    NO_FILE_NAME = (
        "<fileSystemSourceProvider> has no <fileName>; add the file name or a glob such as "
        "sessions_*.csv."
    )
    DOT_DOT = "String '..' is forbidden in file path; {what}."
    PATH_TILDE = (
        "<{tag}> {text} starts with ~, which is not expanded (a cron job has another home); "
        "write the absolute path, or a folder relative to the configuration's folder."
    )
    PATH_CONTROL = "<{tag}> holds a line break or a tab; write the path on one line."
    PATH_OUTSIDE = (
        "<{tag}> {text} leads to {target} through a symbolic link, outside the configuration's "
        "folder {base}; write {target} as an absolute path if that folder is meant, or remove "
        "the link."
    )
    PATH_UNRESOLVABLE = (
        "<{tag}> {text} cannot be followed: {reason}; fix or remove the symbolic link."
    )
    ABSOLUTE_FILE_NAME = (
        "<fileName> {text} is an absolute path; put the folder in <path> and the name in "
        "<fileName>."
    )
    UNKNOWN_ENCODING = (
        "unknown encoding {text!r} in <fileEncoding>; write one such as UTF-8, ISO-8859-1 or "
        "windows-1252."
    )
    UNKNOWN_DELIMITER = "unknown delimiter {text!r}; did you mean {close}?"
    UNKNOWN_DELIMITER_EXPECTED = "unknown delimiter {text!r}; write semicolon, comma, pipe or tab."
    UNKNOWN_ZONE = "unknown time zone {text!r} in <timezone>; did you mean {close}?"
    UNKNOWN_ZONE_EXPECTED = (
        "unknown time zone {text!r} in <timezone>; write an IANA zone such as Europe/Paris."
    )
    DATE_CHARACTERS = (
        "the given date format {text} is not valid. It should only contain the following "
        "characters (case insensitive): 'YMDHIS /_.:;,-'"
    )
    DATE_FORMAT = "{reason}; write it with YYYY, MM, DD and optionally HH, II, SS."
    EMPTY_MAPPING = "<columnsMapping> is empty; list the file's columns in order."
    MAPPED_TWICE = (
        "field <{name}> is mapped twice in <columnsMapping> (first on line {first}); keep one."
    )
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
_LINE_BREAKS = {
    ord(c): f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"
    for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
}
_LINE_BREAKS.update({ord("\n"): "\\n", ord("\r"): "\\r"})


def one_line(message: str) -> str:
    return message.translate(_LINE_BREAKS)


class Problems:
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

    def absorb(self, other: Problems) -> None:
        for rank, line, _, message in other._errors:
            self._errors.append((rank, line, len(self._errors), message))
        for rank, line, _, message in other._warnings:
            self._warnings.append((rank, line, len(self._warnings), message))

    @property
    def error_count(self) -> int:
        return len(self._errors)

    def _listed(self, entries, more: str) -> list[str]:
        first = heapq.nsmallest(MAX_LISTED, entries, key=lambda entry: entry[:3])
        lines = [
            f"{self.shown}:{line}: {one_line(m() if callable(m) else m)}" for _, line, _, m in first
        ]
        if len(entries) > len(first):
            count = len(entries) - len(first)
            plural = "" if count == 1 else "s"
            lines.append(f"{self.shown}: " + more.format(count=f"{count:,}", s=plural))
        return lines

    @property
    def errors(self) -> list[str]:
        return self._listed(self._errors, Msg.MORE_ERRORS)

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(self._listed(self._warnings, Msg.MORE_WARNINGS))

    def raise_if_any(self) -> None:
        if self._errors:
            raise ConfigError(self.errors)

    def unknown(self, el, where: str, valid, what: str = "element") -> None:
        """An element that has no place here; CrossKnowledge names are refused by name."""
        tag = el.tag
        self.add(el, lambda: _unknown_message(tag, where, valid, what), rank=self.NAME)


def _unknown_message(tag: str, where: str, valid, what: str) -> str:
    if what == "field" and tag in catalog.UNSUPPORTED_CK_FIELDS:
        hint = Msg.CK_FIELD_HINT if where in ("fields", "columnsMapping") else ""
        return Msg.CK_FIELD.format(tag=tag, hint=hint)
    if tag in catalog.UNSUPPORTED_CK_OPTIONS:
        return Msg.CK_OPTION.format(tag=tag)
    if tag in catalog.UNSUPPORTED_CK_ACTIONS:
        return Msg.CK_ACTION.format(tag=tag)
    if tag in catalog.UNSUPPORTED_CK_CONSOLIDATORS:
        return Msg.CK_CONSOLIDATOR.format(tag=tag)
    if tag == "preProcess":
        return Msg.CK_PRE_PROCESS
    if tag == "postProcess":
        return Msg.CK_POST_PROCESS
    if tag == "parameters":
        return Msg.CK_PARAMETERS
    close = close_match(tag, valid)
    if close:
        return Msg.UNKNOWN.format(what=what, tag=shorten_name(tag), where=where, close=close)
    return Msg.UNKNOWN_EXPECTED.format(
        what=what, tag=shorten_name(tag), where=where, expected=_one_of(valid)
    )


def shorten_name(name: str) -> str:
    """A name echoed from the document; XML lets a name be 50,000 characters long."""
    return name if len(name) <= 60 else name[:57] + "..."


def close_match(name: str, valid) -> str | None:
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
    return close[0] if close else None


def _one_of(names) -> str:
    names = [f"<{n}>" for n in names]
    return names[0] if len(names) == 1 else "one of " + ", ".join(names)
