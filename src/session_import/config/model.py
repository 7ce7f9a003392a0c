"""The configuration once read: frozen dataclasses, paths resolved, defaults applied."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from session_import.dates import DEFAULT_DATE_FORMAT


@dataclass(frozen=True)
class FieldSpec:
    """One field of an action's ``<fields>``, after defaults and overrides."""

    name: str  # canonical name, e.g. "sessionId" even when written <sessionID/>
    mandatory: bool
    mandatory_explicit: bool  # True when <mandatory> was written for this field
    line: int
    # For code-list fields (sessionAction, sessionStatus, trainingAction):
    # code as compared (stripped, casefolded) -> meaning ("createUpdate", "cancel", "open",
    # "closed").
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
class SnapshotConfig:
    """The file is the complete set of the import's sessions within a scope: the sessions
    this import created, within it, that no row matched are cancelled."""

    scope: str = "future"  # "future": starting on or after the run's date; "all"
    mentioned_trainings: bool = False  # only the trainings the file's rows name


@dataclass(frozen=True)
class ActionConfig:
    name: str  # e.g. "createOrUpdateSessionAction"
    fields: tuple[FieldSpec, ...]  # in <fields> order
    search_fields: tuple[str, ...]  # sessionSearchField / traineeSearchField, canonical names
    full_access: bool
    line: int
    snapshot: SnapshotConfig | None = None  # <missingSessions>cancel</missingSessions>

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
    on_limit: str = "fail"  # "hold": a file past a limit is kept for approval (exit 7)


@dataclass(frozen=True)
class PublisherConfig:
    """A remote LMS to publish to: ``name`` is "perculus" or "zoho"; ``settings`` are the
    keyword arguments of its client's settings (perculus.PerculusSettings, zoho.ZohoSettings)."""

    name: str
    line: int
    settings: Mapping[str, object]


@dataclass(frozen=True)
class ImportConfig:
    id: str
    provider: ProviderConfig | None
    actions: tuple[ActionConfig, ...]
    consolidators: tuple[ConsolidatorConfig, ...] = ()  # in CrossKnowledge's running order
    safety: SafetyConfig = field(default_factory=SafetyConfig)
    line: int = 0
    publishers: tuple[PublisherConfig, ...] = ()  # in file order


@dataclass(frozen=True)
class Config:
    path: Path
    form: str  # "bare" (<actions>), "full" (<import-config>) or "fragment" (check only)
    imports: tuple[ImportConfig, ...]
    warnings: tuple[str, ...] = ()  # FILE:LINE: ... e.g. "field <sessionID> read as <sessionId>."
    fragment: str | None = None  # root element name when a fragment was checked (check only)
