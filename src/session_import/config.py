"""The import configuration: CrossKnowledge generic-import XML -> frozen dataclasses.

Every error carries the file and the element's line: ``FILE:LINE: what is wrong; what to do``.
"""

from __future__ import annotations

import codecs
import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from lxml import etree

from session_import import schema
from session_import.dates import compile_date_format, has_valid_characters

DEFAULT_DATE_FORMAT = "YYYY-MM-DD"


class ConfigError(Exception):
    """The configuration is invalid; ``errors`` holds every ``FILE:LINE: ...`` message found."""

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


@dataclass(frozen=True)
class Config:
    path: Path
    form: str  # "bare" (<actions>) or "full" (<import-config>)
    imports: tuple[ImportConfig, ...]
    warnings: tuple[str, ...] = ()  # FILE:LINE: ... e.g. "field <sessionID> read as <sessionId>."
    fragment: str | None = None  # root element name when a fragment was checked (check only)


# ---- parsing (below this line) ----

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True,
    remove_pis=True,
)
_ROOTS = ("import-config", "actions")
_FRAGMENTS = ("providers", "consolidators", "options", "fields", "columnsMapping", "fileSystemSourceProvider")
_CK_PROCESSES = ("preProcess", "postProcess")
_DELIMITERS = {"semicolon": ";", "comma": ",", "pipe": "|", "tab": "\t", "tabulation": "\t"}
_PROVIDER_OPTIONS = (
    "fileName", "path", "skipFirstLine", "columnsMapping", "fileEncoding", "delimiter",
    "autoDetectLineEndings", "sheetName", "timezone", "dateFormat",
)
_CK_OPTIONS = (
    "sftpHost", "sftpLogin", "sftpPassword", "sftpFolder", "defaultEntityId", "defaultLangCode",
    "trainingSearchField", "includeDownloadLink", "parameters",
)
_EMAIL = re.compile(r"[^@\s<>(),;:]+@[^@\s<>(),;:]+\.[^@\s<>(),;:]+")
_LIMIT = re.compile(r"\d+|(100|\d{1,2})(\.\d+)?%")


class _Errors:
    """Collects every ``FILE:LINE: ...`` message of one configuration file."""

    def __init__(self, path: Path, shown: str):
        self.path = path
        self.shown = shown
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def add(self, el_or_line, message: str) -> None:
        line = el_or_line if isinstance(el_or_line, int) else (el_or_line.sourceline or 1)
        self.errors.append(f"{self.shown}:{line}: {message}")

    def warn(self, el, message: str) -> None:
        self.warnings.append(f"{self.shown}:{el.sourceline or 1}: {message}")

    def unknown(self, el, where: str, valid, what: str = "element") -> None:
        name = el.tag
        if what in ("field", "column") and name in schema.UNSUPPORTED_CK_FIELDS:
            self.add(el, f"<{name}> is a CrossKnowledge field that session-import does not support; "
                         "remove it (an <ignoredColumn/> keeps a column's place).")
            return
        if name in _CK_OPTIONS:
            self.add(el, f"<{name}> is a CrossKnowledge option that session-import does not support; remove it.")
            return
        if name in schema.UNSUPPORTED_CK_ACTIONS:
            self.add(el, f"<{name}> is a CrossKnowledge action that session-import does not support.")
            return
        if name in schema.UNSUPPORTED_CK_CONSOLIDATORS:
            self.add(el, f"<{name}> is a CrossKnowledge consolidator that session-import does not support.")
            return
        if name in _CK_PROCESSES:
            kind = "pre-process" if name == "preProcess" else "post-process"
            self.add(el, f"<{name}> is a CrossKnowledge {kind} that session-import does not support; "
                         "prepare the files before the import runs.")
            return
        message = f"unknown {what} <{name}> in <{where}>"
        close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.6)
        if close:
            message += f"; did you mean <{close[0]}>?"
        else:
            message += f"; expected one of {', '.join('<' + v + '>' for v in valid)}."
        self.add(el, message)


def _children(el) -> list:
    """Element children (comments and processing instructions are skipped)."""
    return [c for c in el if isinstance(c.tag, str)]


def _text(el) -> str:
    return (el.text or "").strip()


def _check_text(el, errors: _Errors) -> None:
    """An element that holds children must hold nothing else (e.g. CrossKnowledge's '...')."""
    pieces = [el.text or ""] + [c.tail or "" for c in el]
    stray = "".join(pieces).strip()
    if stray:
        errors.add(el, f"unexpected text {stray[:40]!r} in <{el.tag}>; remove it.")


def _check_attributes(el, errors: _Errors, allowed: tuple[str, ...] = ()) -> None:
    for name in el.attrib:
        if name not in allowed:
            errors.add(el, f"unknown attribute {name}= on <{el.tag}>; remove it.")


def _leaf(el, errors: _Errors) -> str:
    """The text of an element that must not hold elements."""
    for child in _children(el):
        errors.add(child, f"<{el.tag}> holds a value, not elements; remove <{child.tag}>.")
    _check_attributes(el, errors)
    return _text(el)


def _yes_no(el, errors: _Errors) -> bool:
    value = _leaf(el, errors)
    if value.lower() in ("yes", "no"):
        return value.lower() == "yes"
    errors.add(el, f'<{el.tag}> must be yes or no, not "{value}".')
    return False


def _canonical(el, valid, errors: _Errors, where: str, what: str = "field") -> str | None:
    """The valid name ``el`` stands for; another case is read with a warning."""
    if el.tag in valid:
        return el.tag
    by_case = {v.lower(): v for v in valid}
    if el.tag.lower() in by_case:
        name = by_case[el.tag.lower()]
        errors.warn(el, f"{what} <{el.tag}> read as <{name}>.")
        return name
    errors.unknown(el, where, valid, what)
    return None


def _safe_path(el, text: str, base: Path, errors: _Errors) -> Path | None:
    if ".." in Path(text).parts or ".." in text.replace("\\", "/").split("/"):
        errors.add(el, "String '..' is forbidden in file path; write a path inside the "
                       "configuration's folder, or an absolute one.")
        return None
    if not text:
        errors.add(el, f"<{el.tag}> is empty; write a folder path.")
        return None
    return (base / text).resolve() if not Path(text).is_absolute() else Path(text)


def load_config(path: str | Path, *, fragments: bool = False) -> Config:
    shown = str(path)
    path = Path(path)
    errors = _Errors(path, shown)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{shown}:1: cannot be read: {exc.strerror}; check the path."]) from exc
    if b"<!DOCTYPE" in data.upper().replace(b"<!doctype".upper(), b"<!DOCTYPE"):
        line = data[: data.upper().index(b"<!DOCTYPE")].count(b"\n") + 1
        raise ConfigError([f"{shown}:{line}: a <!DOCTYPE> is not allowed in an import configuration; remove it."])
    try:
        root = etree.fromstring(data, _PARSER, base_url=None)
    except etree.XMLSyntaxError as exc:
        line = exc.lineno or 1
        message = exc.msg or str(exc)
        message = re.sub(r",? line \d+, column \d+$", "", message)
        raise ConfigError([f"{shown}:{line}: the XML is not well-formed: {message}; fix the markup."]) from exc
    base = path.resolve().parent
    stem = path.stem
    if root.tag == "actions":
        actions = _actions(root, errors, {})
        imports = (ImportConfig(stem, None, actions, line=root.sourceline or 1),)
        form = "bare"
    elif root.tag == "import-config":
        _check_attributes(root, errors)
        _check_text(root, errors)
        imports = _imports(root, base, stem, errors)
        form = "full"
    elif root.tag in _FRAGMENTS + _CK_PROCESSES + ("parameters",) and fragments:
        _fragment(root, base, errors)
        if errors.errors:
            raise ConfigError(errors.errors)
        return Config(path, "fragment", (), tuple(errors.warnings), fragment=root.tag)
    elif root.tag in _FRAGMENTS + _CK_PROCESSES + ("parameters",):
        raise ConfigError([
            f"{shown}:{root.sourceline or 1}: <{root.tag}> is a fragment of an import configuration; "
            "a configuration's root is <import-config> or <actions>."
        ])
    else:
        errors.unknown(root, "the document", _ROOTS, "root element")
        raise ConfigError(errors.errors)
    if errors.errors:
        raise ConfigError(errors.errors)
    return Config(path, form, imports, tuple(errors.warnings))


def _fragment(root, base: Path, errors: _Errors) -> None:
    tag = root.tag
    if tag in _CK_PROCESSES or tag == "parameters":
        errors.unknown(root, "the document", _ROOTS, "root element")
    elif tag == "providers":
        _providers(root, base, errors, ())
    elif tag == "fileSystemSourceProvider":
        _provider(root, base, errors, ())
    elif tag == "consolidators":
        _consolidators(root, base, errors)
    elif tag == "columnsMapping":
        _columns(root, errors, ())
    elif tag in ("options", "fields"):
        # valid when it is valid for one of the supported actions
        attempts = []
        for action in schema.ACTIONS.values():
            trial = _Errors(errors.path, errors.shown)
            if tag == "options":
                _options(root, action, trial, fields=None)
            else:
                _fields(root, action, trial, {})
            if not trial.errors:
                errors.warnings.extend(trial.warnings)
                return
            attempts.append(trial)
        named = {c.tag for c in root.iter() if isinstance(c.tag, str)}
        pairs = list(zip(schema.ACTIONS.values(), attempts))
        best = min(pairs, key=lambda p: (len(p[1].errors), p[0].search_option not in named))[1]
        errors.errors.extend(best.errors)


def _imports(root, base: Path, stem: str, errors: _Errors) -> tuple[ImportConfig, ...]:
    imports = []
    seen: dict[str, int] = {}
    for el in _children(root):
        if el.tag != "import":
            errors.unknown(el, "import-config", ("import",))
            continue
        _check_attributes(el, errors, ("id",))
        _check_text(el, errors)
        import_id = el.get("id", "").strip() or stem
        if import_id in seen:
            errors.add(el, f"two imports are named {import_id} (the other on line {seen[import_id]}); "
                           'give each <import> its own id="...".')
        seen[import_id] = el.sourceline or 1
        imports.append(_import(el, import_id, base, errors))
    if not imports and not errors.errors:
        errors.add(root, "<import-config> holds no <import>; add one.")
    return tuple(imports)


def _import(el, import_id: str, base: Path, errors: _Errors) -> ImportConfig:
    provider = None
    actions: tuple[ActionConfig, ...] = ()
    consolidators: tuple[ConsolidatorConfig, ...] = ()
    safety = SafetyConfig()
    parts = [c for c in _children(el)]
    for child in parts:
        if [c.tag for c in parts].count(child.tag) > 1 and child is not next(c for c in parts if c.tag == child.tag):
            errors.add(child, f"<{child.tag}> appears twice in <import>; merge them.")
            continue
        if child.tag == "providers" or child.tag == "actions":
            pass
        elif child.tag == "consolidators":
            consolidators = _consolidators(child, base, errors)
        elif child.tag == "safety":
            safety = _safety(child, errors)
        elif child.tag == "publishers":
            errors.add(child, "<publishers> is not supported by this version of session-import yet; remove it.")
        else:
            errors.unknown(child, "import", ("providers", "actions", "consolidators", "safety"))
    providers_el = next((c for c in parts if c.tag == "providers"), None)
    actions_el = next((c for c in parts if c.tag == "actions"), None)
    if actions_el is None:
        errors.add(el, "<import> has no <actions>; add the action that each row runs.")
    else:
        actions = _actions(actions_el, errors, _mapping_codes(providers_el))
    if providers_el is not None:
        provider = _providers(providers_el, base, errors, actions)
    return ImportConfig(import_id, provider, actions, consolidators, safety, el.sourceline or 1)


def _mapping_codes(providers_el) -> dict[str, dict[str, str]]:
    """Code lists written in <columnsMapping> (validated with the provider, read first)."""
    codes: dict[str, dict[str, str]] = {}
    if providers_el is None:
        return codes
    for mapping in providers_el.iter("columnsMapping"):
        for column in _children(mapping):
            meanings = _code_meanings(column.tag)
            for child in _children(column):
                if child.tag in meanings and _text(child):
                    codes.setdefault(column.tag, {})[child.tag] = _text(child)
    return codes


def _providers(el, base: Path, errors: _Errors, actions) -> ProviderConfig | None:
    _check_text(el, errors)
    _check_attributes(el, errors)
    provider = None
    for child in _children(el):
        if child.tag != "fileSystemSourceProvider":
            errors.unknown(child, "providers", ("fileSystemSourceProvider",))
        elif provider is not None:
            errors.add(child, "only one <fileSystemSourceProvider> per import; use one <import> per kind of file.")
        else:
            provider = _provider(child, base, errors, actions)
    return provider


def _provider(el, base: Path, errors: _Errors, actions) -> ProviderConfig:
    _check_text(el, errors)
    _check_attributes(el, errors)
    values: dict = {}
    seen: set[str] = set()
    for child in _children(el):
        name = child.tag
        if name not in _PROVIDER_OPTIONS:
            errors.unknown(child, "fileSystemSourceProvider", _PROVIDER_OPTIONS, "option")
            continue
        if name in seen:
            errors.add(child, f"<{name}> appears twice in <fileSystemSourceProvider>; keep one.")
            continue
        seen.add(name)
        if name == "columnsMapping":
            values["columns_mapping"] = _columns(child, errors, actions)
        elif name in ("skipFirstLine", "autoDetectLineEndings"):
            flag = _yes_no(child, errors)
            if name == "skipFirstLine":
                values["skip_first_line"] = flag
        else:
            text = _leaf(child, errors)
            if name == "fileName":
                if not text:
                    errors.add(child, "<fileName> is empty; write the file name or a glob such as sessions_*.csv.")
                elif ".." in text.replace("\\", "/").split("/"):
                    errors.add(child, "String '..' is forbidden in file path; name the folder in <path>.")
                values["file_name"] = text
            elif name == "path":
                values["path"] = _safe_path(child, text, base, errors)
            elif name == "fileEncoding":
                try:
                    codecs.lookup(text)
                    values["encoding"] = text
                except LookupError:
                    errors.add(child, f"unknown encoding {text!r} in <fileEncoding>; write one such as "
                                      "UTF-8, ISO-8859-1 or windows-1252.")
            elif name == "delimiter":
                if text.lower() in _DELIMITERS:
                    values["delimiter"] = _DELIMITERS[text.lower()]
                else:
                    close = difflib.get_close_matches(text.lower(), list(_DELIMITERS), n=1)
                    hint = f"did you mean {close[0]}?" if close else "write semicolon, comma, pipe or tab."
                    errors.add(child, f"unknown delimiter {text!r}; {hint}")
            elif name == "sheetName":
                values["sheet_name"] = text
            elif name == "timezone":
                values["timezone"] = _timezone(child, text, errors)
            elif name == "dateFormat":
                values["date_format"] = _date_format(child, text, errors)
    if "file_name" not in values:
        errors.add(el, "<fileSystemSourceProvider> has no <fileName>; add the file name or a glob such as sessions_*.csv.")
    if values.get("path") is None:
        values["path"] = base
    values.setdefault("file_name", None)
    _check_columns_cover(el, values.get("columns_mapping"), actions, errors)
    return ProviderConfig(line=el.sourceline or 1, **values)


def _timezone(el, text: str, errors: _Errors) -> str | None:
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(text, sorted(available_timezones()), n=1)
        hint = f"did you mean {close[0]}?" if close else "write an IANA zone such as Europe/Paris."
        errors.add(el, f"unknown time zone {text!r} in <timezone>; {hint}")
        return None


def _date_format(el, text: str, errors: _Errors) -> str:
    if not has_valid_characters(text):
        errors.add(el, f"the given date format {text} is not valid. It should only contain the "
                       "following characters (case insensitive): 'YMDHIS /_.:;,-'")
        return DEFAULT_DATE_FORMAT
    try:
        compile_date_format(text)
    except ValueError as exc:
        errors.add(el, f"{exc}; write it with YYYY, MM, DD and optionally HH, II, SS.")
        return DEFAULT_DATE_FORMAT
    return text


def _all_fields(actions) -> tuple[str, ...]:
    names: list[str] = []
    pool = [schema.ACTIONS[a.name] for a in actions] or list(schema.ACTIONS.values())
    for action in pool:
        names.extend(n for n in action.fields if n not in names)
    return tuple(names)


def _columns(el, errors: _Errors, actions) -> tuple[ColumnSpec, ...]:
    _check_text(el, errors)
    _check_attributes(el, errors)
    valid = _all_fields(actions) + (schema.IGNORED_COLUMN,)
    columns = []
    for child in _children(el):
        name = _canonical(child, valid, errors, "columnsMapping", "column")
        if name is None:
            continue
        if name != schema.IGNORED_COLUMN:
            _codes_of(child, name, errors, allow_mandatory=False)
        elif _children(child) or _text(child):
            errors.add(child, "<ignoredColumn/> takes no value; write it empty.")
        columns.append(ColumnSpec(None if name == schema.IGNORED_COLUMN else name, child.sourceline or 1))
    if not _children(el):
        errors.add(el, "<columnsMapping> is empty; list the file's columns in order.")
    return tuple(columns)


def _check_columns_cover(el, columns, actions, errors: _Errors) -> None:
    if not columns:
        return
    present = {c.name for c in columns}
    for action in actions:
        for spec in action.fields:
            if spec.mandatory and spec.name != schema.IGNORED_COLUMN and spec.name not in present:
                errors.add(el, f"mandatory field <{spec.name}> is not in <columnsMapping>; add a column "
                               f"for it or make it <mandatory>no</mandatory>.")


def _code_meanings(name: str) -> dict[str, str]:
    for action in schema.ACTIONS.values():
        if name in action.code_lists:
            return action.code_lists[name].defaults
    return {}


def _codes_of(el, name: str, errors: _Errors, allow_mandatory: bool) -> tuple[dict[str, str], bool | None]:
    """Codes written inside a field element (meaning -> code) and its <mandatory>, if any."""
    meanings = _code_meanings(name)
    codes: dict[str, str] = {}
    mandatory = None
    _check_text(el, errors)
    _check_attributes(el, errors)
    valid = tuple(meanings) + (("mandatory",) if allow_mandatory else ())
    for child in _children(el):
        if child.tag == "mandatory" and allow_mandatory:
            mandatory = _yes_no(child, errors)
        elif child.tag in meanings:
            code = _leaf(child, errors)
            if not code:
                errors.add(child, f"<{child.tag}> is empty; write the code the file uses.")
            codes[child.tag] = code
        elif valid:
            errors.unknown(child, name, valid)
        else:
            errors.add(child, f"<{name}> takes no elements; remove <{child.tag}>.")
    seen: dict[str, str] = {}
    for meaning, code in codes.items():
        key = code.casefold()
        if key and key in seen:
            errors.add(el, f"the code {code!r} means both {seen[key]} and {meaning}; give each its own code.")
        seen[key] = meaning
    return codes, mandatory


def _actions(el, errors: _Errors, mapping_codes) -> tuple[ActionConfig, ...]:
    _check_text(el, errors)
    _check_attributes(el, errors)
    actions = []
    for child in _children(el):
        action = schema.ACTIONS.get(child.tag)
        if action is None:
            errors.unknown(child, "actions", tuple(schema.ACTIONS), "action")
            continue
        actions.append(_action(child, action, errors, mapping_codes or {}))
    if not actions and not _children(el) and not errors.errors:
        errors.add(el, "<actions> holds no action; add <createOrUpdateSessionAction> or another.")
    return tuple(actions)


def _action(el, action: schema.ActionSchema, errors: _Errors, mapping_codes) -> ActionConfig:
    _check_text(el, errors)
    _check_attributes(el, errors)
    options_el = fields_el = None
    for child in _children(el):
        if child.tag == "options" and options_el is None:
            options_el = child
        elif child.tag == "fields" and fields_el is None:
            fields_el = child
        elif child.tag in action.options:
            errors.add(child, f"<{child.tag}> belongs inside <options>; move it there.")
        else:
            errors.unknown(child, action.name, ("options", "fields"))
    fields: tuple[FieldSpec, ...] = ()
    if fields_el is None:
        errors.add(el, f"<{action.name}> has no <fields>; list the columns the action reads.")
    else:
        fields = _fields(fields_el, action, errors, mapping_codes)
    search, full_access = _options(options_el, action, errors, fields=fields, action_el=el)
    return ActionConfig(action.name, fields, search, full_access, el.sourceline or 1)


def _fields(el, action: schema.ActionSchema, errors: _Errors, mapping_codes) -> tuple[FieldSpec, ...]:
    """The action's fields; code lists merge the defaults, <columnsMapping>'s codes, then their own."""
    _check_text(el, errors)
    _check_attributes(el, errors)
    valid = tuple(action.fields) + (schema.IGNORED_COLUMN,)
    specs: list[FieldSpec] = []
    seen: dict[str, int] = {}
    for child in _children(el):
        name = _canonical(child, valid, errors, "fields")
        if name is None:
            continue
        if name in seen and name not in action.repeatable and name != schema.IGNORED_COLUMN:
            errors.add(child, f"field <{name}> is listed twice in <fields> (first on line {seen[name]}); keep one.")
            continue
        seen.setdefault(name, child.sourceline or 1)
        if name == schema.IGNORED_COLUMN:
            specs.append(FieldSpec(name, False, False, child.sourceline or 1))
            continue
        written, mandatory = _codes_of(child, name, errors, allow_mandatory=True)
        codes = None
        if name in action.code_lists:
            meaning_to_code = dict(action.code_lists[name].defaults)
            meaning_to_code.update(mapping_codes.get(name, {}))
            meaning_to_code.update(written)
            codes = {code.strip().casefold(): meaning for meaning, code in meaning_to_code.items()}
        specs.append(FieldSpec(
            name,
            action.fields[name] if mandatory is None else mandatory,
            mandatory is not None,
            child.sourceline or 1,
            codes,
        ))
    if not specs and not errors.errors:
        errors.add(el, "<fields> is empty; list the columns the action reads.")
    if action.name == schema.LEARNER_ACTION and specs and not any(s.name in action.at_least_one for s in specs):
        errors.add(el, "the learner action needs at least one of <candidateLogin>, <candidateRefNumber>, "
                       "<candidateEmail> in <fields>; add one.")
    if action.repeatable and specs and not any(s.name in action.repeatable for s in specs):
        errors.add(el, f"<fields> needs at least one <{action.repeatable[0]}/>; add one per level.")
    return tuple(specs)


def _options(el, action: schema.ActionSchema, errors: _Errors, fields, action_el=None) -> tuple[tuple[str, ...], bool]:
    search: list[str] = []
    full_access = False
    seen_search = False
    if el is not None:
        _check_text(el, errors)
        _check_attributes(el, errors)
        for child in _children(el):
            if child.tag == "fullAccess":
                full_access = _yes_no(child, errors)
            elif action.search_option and child.tag == action.search_option:
                seen_search = True
                _check_text(child, errors)
                _check_attributes(child, errors)
                for item in _children(child):
                    name = _canonical(item, action.search_fields, errors, child.tag)
                    if name is None:
                        continue
                    if _children(item) or _text(item):
                        errors.add(item, f"<{item.tag}> in <{child.tag}> takes no value; write it empty.")
                    if name in search:
                        errors.add(item, f"<{name}> is listed twice in <{child.tag}>; keep one.")
                        continue
                    if fields is not None and name not in {f.name for f in fields}:
                        errors.add(item, f"search field <{name}> is not in <fields>; add it to <fields>.")
                    search.append(name)
                if not search and not _children(child):
                    errors.add(child, f"<{child.tag}> is empty; name the fields that find an existing record "
                                      f"({', '.join(action.search_fields)}).")
            else:
                errors.unknown(child, "options", action.options, "option")
    if action.search_option_mandatory and not seen_search:
        where = el if el is not None else action_el
        if where is not None:
            errors.add(where, f"<{action.name}> has no <{action.search_option}> in <options>; add one naming "
                              f"the fields that find an existing session ({', '.join(action.search_fields)}).")
    if action.name == schema.LEARNER_ACTION and not search and fields:
        search = [n for n in ("candidateLogin", "candidateRefNumber", "candidateEmail")
                  if n in {f.name for f in fields}][:1]
    return tuple(search), full_access


def _consolidators(el, base: Path, errors: _Errors) -> tuple[ConsolidatorConfig, ...]:
    _check_text(el, errors)
    _check_attributes(el, errors)
    found: dict[str, ConsolidatorConfig] = {}
    for child in _children(el):
        name = child.tag
        if name not in schema.CONSOLIDATORS:
            errors.unknown(child, "consolidators", tuple(schema.CONSOLIDATORS), "consolidator")
            continue
        if name in found:
            errors.add(child, f"<{name}> appears twice in <consolidators> (first on line {found[name].line}); "
                              "keep one: each consolidator runs at most once per import.")
            continue
        found[name] = _consolidator(child, name, base, errors)
    return tuple(found[n] for n in schema.CONSOLIDATORS if n in found)


def _consolidator(el, name: str, base: Path, errors: _Errors) -> ConsolidatorConfig:
    _check_text(el, errors)
    _check_attributes(el, errors)
    allowed = schema.CONSOLIDATORS[name] + ("disabled",)
    options: dict[str, list[str]] = {}
    disabled = False
    for child in _children(el):
        if child.tag not in allowed:
            errors.unknown(child, name, allowed, "option")
            continue
        if child.tag == "disabled":
            disabled = _yes_no(child, errors)
        elif child.tag == "timestamp":
            options["timestamp"] = ["yes" if _yes_no(child, errors) else "no"]
        elif child.tag in ("location", "backupFolder"):
            folder = _safe_path(child, _leaf(child, errors), base, errors)
            if folder is not None:
                options[child.tag] = [str(folder)]
        elif child.tag == "targetEmail":
            address = _leaf(child, errors)
            if not _EMAIL.fullmatch(address):
                errors.add(child, f"The targetEmail parameter is an invalid email: {address}")
            options.setdefault("targetEmail", []).append(address)
    required = {"timeStampedFileErrorLogger": "location", "moveToBackupConsolidator": "backupFolder",
                "emailReport": "targetEmail"}.get(name)
    if required and required not in options and not any(
        c.tag == required for c in _children(el)
    ):
        errors.add(el, f"The {required} parameter is missing.")
    return ConsolidatorConfig(name, {k: tuple(v) for k, v in options.items()}, disabled, el.sourceline or 1)


def _safety(el, errors: _Errors) -> SafetyConfig:
    _check_text(el, errors)
    _check_attributes(el, errors)
    values = {}
    for child in _children(el):
        if child.tag not in ("maxRejects", "maxCancel"):
            errors.unknown(child, "safety", ("maxRejects", "maxCancel"), "option")
            continue
        text = _leaf(child, errors)
        if not _LIMIT.fullmatch(text):
            errors.add(child, f"<{child.tag}> must be a count (e.g. 10) or a percentage (e.g. 5%), not {text!r}.")
            continue
        values["max_rejects" if child.tag == "maxRejects" else "max_cancel"] = text
    return SafetyConfig(**values)


# ---- what check prints ----

_DELIMITER_NAMES = {";": "semicolon", ",": "comma", "|": "pipe", "\t": "tab", None: "detected among ; , | TAB"}


def describe(config: Config) -> list[str]:
    if config.form == "fragment":
        return [f"{config.path}: a valid <{config.fragment}> fragment; it belongs inside an <import> "
                "of an <import-config> (a fragment cannot be run on its own)."]
    lines = [f"{config.path}: {len(config.imports)} import(s), {config.form} form"]
    for imp in config.imports:
        lines.append(f"import {imp.id} (line {imp.line})")
        p = imp.provider
        if p is None or p.file_name is None:
            lines.append("  reads: the data files given on the command line")
        else:
            lines.append(f"  reads: {p.file_name} in {p.path} (in name order)")
        p = p or ProviderConfig.command_line(config.path.parent)
        header = "first line is a header" if p.skip_first_line else "no header line"
        mapping = ("columns by position: " + ", ".join(c.name or "(ignored)" for c in p.columns_mapping)
                   if p.columns_mapping else "columns by header name, else in <fields> order")
        lines.append(f"  format: {_DELIMITER_NAMES.get(p.delimiter, p.delimiter)}, {p.encoding}, {header}, "
                     f"dates {p.date_format}" + (f" in {p.timezone}" if p.timezone else "")
                     + (f", sheet {p.sheet_name}" if p.sheet_name else ""))
        lines.append(f"  {mapping}")
        for action in imp.actions:
            names = ", ".join(f.name + ("*" if f.mandatory else "") for f in action.fields)
            lines.append(f"  {action.name} (line {action.line}): fields {names} (* mandatory)")
            if action.search_fields:
                lines.append(f"    finds existing records by {' + '.join(action.search_fields)}")
            scope = ("may change any record" if action.full_access
                     else f"changes only what import {imp.id} created (fullAccess no)")
            lines.append(f"    {scope}")
            for f in action.fields:
                if f.codes:
                    codes = ", ".join(f"{code!r} = {meaning}" for code, meaning in f.codes.items())
                    lines.append(f"    {f.name} codes: {codes}")
        for c in imp.consolidators:
            opts = "; ".join(f"{k} {', '.join(v)}" for k, v in c.options.items())
            state = " (disabled)" if c.disabled else ""
            lines.append(f"  then {c.name}{state}" + (f": {opts}" if opts else ""))
        if imp.safety.max_rejects or imp.safety.max_cancel:
            lines.append(f"  safety: max rejects {imp.safety.max_rejects or '-'}, "
                         f"max cancel {imp.safety.max_cancel or '-'}")
    return lines
