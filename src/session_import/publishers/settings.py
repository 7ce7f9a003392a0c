"""Each publisher's settings with their defaults, and the environment variables its
credentials come from: written once, for the clients, the configuration check and `check`.

Nothing here imports requests: checking a configuration never loads the HTTP stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time as clock_time
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from session_import.publishers.contract import CredentialsError

MIN_DURATION = 5  # minutes, as Perculus accepts them
MAX_DURATION = 360

VARIABLE_MISSING = (
    "{name} is not set; the {service} publisher reads its credentials from the environment."
)
VARIABLE_EMPTY = (
    "{name} is empty; the {service} publisher reads its credentials from the environment."
)


@dataclass(frozen=True)
class CredentialVariables:
    """The environment variables a publisher's credentials come from."""

    service: str  # as messages name it
    names: tuple[str, ...]

    def read(self, environ: Mapping[str, str]) -> dict[str, str]:
        """Every variable's value, or CredentialsError(missing=True) naming the first one
        that is unset or empty (an empty one counts as missing, SPEC 9)."""
        found: dict[str, str] = {}
        for name in self.names:
            value = environ.get(name)
            if value is None:
                message = VARIABLE_MISSING.format(name=name, service=self.service)
                raise CredentialsError(message, missing=True)
            if not value.strip():
                message = VARIABLE_EMPTY.format(name=name, service=self.service)
                raise CredentialsError(message, missing=True)
            found[name] = value
        return found


PERCULUS_CREDENTIALS = CredentialVariables(
    "Perculus", ("PERCULUS_ACCESS_KEY", "PERCULUS_SECRET_KEY", "PERCULUS_ACCOUNT_ID")
)
ZOHO_CREDENTIALS = CredentialVariables(
    "Zoho People", ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN")
)
# publisher name (config.PublisherConfig.name) -> where its credentials come from
CREDENTIALS = {"perculus": PERCULUS_CREDENTIALS, "zoho": ZOHO_CREDENTIALS}


def credential_problems(config, environ: Mapping[str, str]) -> list[str]:
    """A message for each publisher credential variable that is missing or empty."""
    problems = []
    for imp in config.imports:
        for publisher in imp.publishers:
            try:
                CREDENTIALS[publisher.name].read(environ)
            except CredentialsError as exc:
                problem = f"{config.path}:{publisher.line}: {exc.message}"
                if problem not in problems:
                    problems.append(problem)
    return problems


class SettingsMsg(StrEnum):
    URL = "{name} must start with https:// (got {url!r})."
    AT_LEAST_1 = "{name} must be at least 1 (got {value})."
    DURATION = "defaultDuration must be between {low} and {high} minutes (got {value})."
    TIMEZONE = "timezone {zone!r} is not a known IANA time zone."
    ZOHO_COUNTS = "maxRequests and tries must be at least 1."
    ZOHO_TIMES = "windowSeconds and timeout must be positive, lockSeconds not negative."


@dataclass(frozen=True)
class PerculusSettings:
    """The ``<perculusPublisher>`` element, plus what tests need to be fast."""

    base_url: str
    batch_size: int = 100
    timezone: str = "Europe/Istanbul"
    default_duration: int = 60  # minutes, for a session without an end time
    connect_timeout: float = 10.0  # seconds
    read_timeout: float = 30.0
    tries: int = 3  # for network failures and 5xx answers
    backoff_factor: float = 1.0  # seconds: waits of 1, 2, 4... between tries
    # the wall time given to a start that has a date only
    date_only_start: clock_time = clock_time(9, 0)

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(SettingsMsg.URL.format(name="baseUrl", url=self.base_url))
        if self.batch_size < 1:
            raise ValueError(SettingsMsg.AT_LEAST_1.format(name="batchSize", value=self.batch_size))
        if not MIN_DURATION <= self.default_duration <= MAX_DURATION:
            raise ValueError(
                SettingsMsg.DURATION.format(
                    low=MIN_DURATION, high=MAX_DURATION, value=self.default_duration
                )
            )
        if self.tries < 1:
            raise ValueError(SettingsMsg.AT_LEAST_1.format(name="tries", value=self.tries))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(SettingsMsg.TIMEZONE.format(zone=self.timezone)) from None
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


@dataclass(frozen=True)
class ModuleIds:
    course_id: str
    batch_id: str
    module_id: str


@dataclass(frozen=True)
class ZohoSettings:
    """`<zohoPeoplePublisher>`: every figure the client uses, times in seconds."""

    base_url: str = "https://people.zoho.com"
    accounts_url: str = "https://accounts.zoho.com"
    course_id: str | None = None
    batch_id: str | None = None
    module_id: str | None = None
    # `<training pathCode=".." courseId=".." batchId=".." moduleId=".."/>`
    trainings: Mapping[str, tuple[str, str, str]] = field(default_factory=dict)
    max_requests: int = 30
    window_seconds: float = 60.0
    lock_seconds: float = 300.0
    timeout: float = 30.0
    tries: int = 3
    backoff_seconds: float = 1.0  # first back-off; doubled each time
    window_margin: float = 0.05  # the window is counted this much longer

    def __post_init__(self) -> None:
        for name in ("base_url", "accounts_url"):
            url = getattr(self, name)
            if not url.startswith(("http://", "https://")):
                raise ValueError(SettingsMsg.URL.format(name=name, url=url))
            object.__setattr__(self, name, url.rstrip("/"))
        if self.max_requests < 1 or self.tries < 1:
            raise ValueError(SettingsMsg.ZOHO_COUNTS)
        if self.window_seconds <= 0 or self.lock_seconds < 0 or self.timeout <= 0:
            raise ValueError(SettingsMsg.ZOHO_TIMES)

    def module_for(self, path_code: str) -> ModuleIds | None:
        ids = self.trainings.get(path_code)
        if ids is not None:
            return ModuleIds(*ids)
        if self.course_id and self.batch_id and self.module_id:
            return ModuleIds(self.course_id, self.batch_id, self.module_id)
        return None


def _default(settings_class: type, name: str) -> object:
    return next(f.default for f in fields(settings_class) if f.name == name)


def describe(name: str, options: Mapping[str, object]) -> str:
    """What `check` says of a publisher, from its configured options (settings keywords)
    and, for the options not given, the defaults of its settings."""

    def option(settings_class: type, key: str) -> object:
        return options.get(key, _default(settings_class, key))

    if name == "perculus":
        variables = ", ".join(PERCULUS_CREDENTIALS.names)
        return (
            f"Perculus at {options.get('base_url')} (batches of "
            f"{option(PerculusSettings, 'batch_size')}, times in "
            f"{option(PerculusSettings, 'timezone')}; credentials from {variables})"
        )
    trainings = options.get("trainings")
    modules = len(trainings) if isinstance(trainings, Mapping) else 0
    return (
        f"Zoho People at {options.get('base_url')} (at most "
        f"{option(ZohoSettings, 'max_requests')} calls in "
        f"{option(ZohoSettings, 'window_seconds'):g} s, {modules} training(s) "
        f"with their own module; credentials from {', '.join(ZOHO_CREDENTIALS.names)})"
    )
