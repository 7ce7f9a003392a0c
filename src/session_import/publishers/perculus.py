"""The Perculus client: turns the outbox's changes into Perculus API calls (SPEC 9).

Creates and updates travel in ``POST /xapi/v2/session/batch`` (at most
``batch_size`` items a request, in outbox order), cancels in
``DELETE /xapi/session/{guid}``.  The batch is not idempotent: a batch whose
answer was lost (timeout, reset connection, 5xx) may have been applied, so its
creates are looked for with ``POST /xapi/v2/session/search`` before they are
sent again, and a create is never sent twice without such a look-up.

Secrets (the keys and the token) never reach an exception, an outcome or a log
record: messages are built from fixed texts and HTTP statuses only, and
``Secrets.redact`` scrubs every text that leaves this module as a second line of defence.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from session_import.publishers.contract import (
    CredentialsError,
    Delivery,
    DeliveryOutcome,
    RemoteChange,
    SessionData,
)
from session_import.publishers.http import (
    Secrets,
    network_problem,
    past_deadline,
    wait_within_deadline,
)
from session_import.publishers.settings import (
    MAX_DURATION,
    MIN_DURATION,
    PERCULUS_CREDENTIALS,
    PerculusSettings,
)

log = logging.getLogger(__name__)

ACCESS_KEY, SECRET_KEY, ACCOUNT_ID = PERCULUS_CREDENTIALS.names

TOKEN_PATH = "/auth/connect/token"
BATCH_PATH = "/xapi/v2/session/batch"
SEARCH_PATH = "/xapi/v2/session/search"
DELETE_PATH = "/xapi/session/"  # + session_guid

SEARCH_PAGE_SIZE = 100
SEARCH_MAX_PAGES = 20  # a name and a three-day window: more would be a runaway answer

# Every text a change can carry, in one place (STYLE 9).
REJECTED = "Perculus rejected the session: {details} (code {code})."
REFUSED = "Perculus refused the credentials (HTTP {status})."
NO_START = "Perculus cannot publish a session without a start date."
BAD_DURATION = (
    "Perculus cannot publish a session of {minutes} minutes; it accepts "
    f"{MIN_DURATION} to {MAX_DURATION}."
)
PUBLISH_TIMEOUT = "publish timeout"
NO_ANSWER = "Perculus did not answer ({problem}) after {tries} tries."
UNAVAILABLE = "Perculus is unavailable ({problem}); the change waits for the next run."
LOOKUP_FAILED = (
    "Perculus could not be searched for the session ({problem}); it will be looked for again."
)
NOT_IN_ANSWER = (
    "Perculus's answer did not mention the session; it will be looked for on the next run."
)
UNEXPECTED_ANSWER = "Perculus answered HTTP {status}; the change waits for the next run."

# SessionData field -> the Perculus fields derived from it (an update sends only these)
DERIVED_FIELDS: Mapping[str, tuple[str, ...]] = {
    "title": ("name",),
    "start": ("start_date", "duration"),
    "end": ("duration",),
    "training_title": ("description",),
    "training_locale": ("lang",),
    "training_path_code": ("tags",),
}


class _NoAnswer(Exception):
    """A call that got no usable answer: network failure, timeout or 5xx."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _LocalRejection(Exception):
    """A change Perculus would refuse; rejected here instead of in a pointless call."""


@dataclass
class _Item:
    """One session object of a batch and the change it came from."""

    change: RemoteChange
    payload: dict[str, object]
    start: datetime | None = None  # creates: the aware start, to match the answer

    @property
    def is_create(self) -> bool:
        return "session_guid" not in self.payload

    @property
    def guid(self) -> str | None:
        guid = self.payload.get("session_guid")
        return str(guid).upper() if guid else None


@dataclass
class _Batch:
    items: list[_Item] = field(default_factory=list)
    guids: set[str] = field(default_factory=set)
    create_keys: set[tuple[str, datetime]] = field(default_factory=set)

    def accepts(self, item: _Item, size: int) -> bool:
        """One batch never holds two items for one session, nor two creates with
        the same name and start: answers are matched by those keys."""
        if len(self.items) >= size:
            return False
        if item.is_create:
            return _create_key(item) not in self.create_keys
        return item.guid not in self.guids

    def add(self, item: _Item) -> None:
        self.items.append(item)
        if item.is_create:
            self.create_keys.add(_create_key(item))
        elif item.guid:
            self.guids.add(item.guid)


def _create_key(item: _Item) -> tuple[str, datetime]:
    assert item.start is not None
    return (str(item.payload["name"]), item.start)


class PerculusClient:
    """contract.Client for Perculus.

    ``session`` is the HTTP session to use (injected by tests; the caller owns it);
    without one the client makes its own and ``close()`` closes it.  The client
    mounts its retrying adapters on the session for ``base_url`` only.
    """

    name = "perculus"
    pacer = None  # Perculus states no rate limit

    def __init__(
        self,
        settings: PerculusSettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._secrets = Secrets(
            "Perculus", PERCULUS_CREDENTIALS.read(credentials), redacted=(SECRET_KEY, ACCESS_KEY)
        )
        self._zone = ZoneInfo(settings.timezone)
        self._owns_session = session is None
        self._http = session if session is not None else requests.Session()
        self._clock = clock
        self._sleep = sleep
        self._timeout = (settings.connect_timeout, settings.read_timeout)
        # guids this client has matched to a change: a look-up never hands one out twice
        self._claimed: set[str] = set()
        self._mount_adapters()

    def __repr__(self) -> str:
        return f"<PerculusClient {self.settings.base_url}>"

    def close(self) -> None:
        if self._owns_session:
            self._http.close()

    def __enter__(self) -> PerculusClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- HTTP plumbing -----------------------------------------------------------

    def _mount_adapters(self) -> None:
        """urllib3 retries the calls that are safe to repeat (token, search,
        delete); the batch is not, so its adapter never retries and deliver()
        runs its own loop with a look-up between tries."""
        retries = self.settings.tries - 1
        safe = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            backoff_factor=self.settings.backoff_factor,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"POST", "DELETE"}),
            raise_on_status=False,
            respect_retry_after_header=False,  # waits stay bounded by --publish-timeout
        )
        retrying = HTTPAdapter(max_retries=safe)
        base = self.settings.base_url
        self._http.mount(base + TOKEN_PATH, retrying)
        self._http.mount(base + SEARCH_PATH, retrying)
        self._http.mount(base + DELETE_PATH, retrying)
        never = Retry(0, read=False, redirect=False)
        self._http.mount(base + BATCH_PATH, HTTPAdapter(max_retries=never))

    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = self.settings.base_url + path
        started = time.monotonic()
        try:
            response = self._http.request(
                method, url, timeout=self._timeout, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            problem = network_problem(exc)
            log.warning("perculus: %s %s: %s", method, path, problem)
            raise _NoAnswer(problem) from None
        log.debug(
            "perculus: %s %s -> HTTP %s in %.2fs",
            method,
            path,
            response.status_code,
            time.monotonic() - started,
        )
        return response

    def _fetch_token(self) -> str:
        form = {
            "username": self._secrets[ACCESS_KEY],
            "password": self._secrets[SECRET_KEY],
            "account_id": self._secrets[ACCOUNT_ID],
            "client_id": "api",
            "grant_type": "password",
        }
        response = self._send("POST", TOKEN_PATH, data=form)
        status = response.status_code
        if status in (400, 401, 403):
            raise CredentialsError(REFUSED.format(status=status))
        if status >= 500 or status == 429:
            raise _NoAnswer(f"HTTP {status} to the token request")
        token = None
        if status == 200:
            try:
                token = response.json().get("access_token")
            except (ValueError, AttributeError):
                token = None
        if not isinstance(token, str) or not token:
            raise _NoAnswer(f"HTTP {status} without a token to the token request")
        self._secrets.token = token
        log.info("perculus: new access token")
        return token

    def _authorized(self, method: str, path: str, **kwargs: object) -> requests.Response:
        """A call with the token; a 401 gets one new token and one retry."""
        token = self._secrets.token or self._fetch_token()
        response = self._send(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        if response.status_code != 401:
            return response
        response.close()
        log.info("perculus: HTTP 401; asking for a new token")
        self._secrets.token = None
        token = self._fetch_token()
        response = self._send(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)
        if response.status_code == 401:
            response.close()
            self._secrets.token = None
            raise CredentialsError(REFUSED.format(status=401))
        return response

    # -- from a change to a session object --------------------------------------

    def _aware(self, value: str) -> tuple[datetime, bool]:
        """A store value ('YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS', wall time in
        ``timezone``) as an aware datetime, and whether it had a time."""
        has_time = "T" in value or " " in value
        if has_time:
            naive = datetime.fromisoformat(value)
        else:
            naive = datetime.combine(date.fromisoformat(value), self.settings.date_only_start)
        if naive.tzinfo is not None:  # not what the store writes, but never misread it
            return naive.astimezone(self._zone), has_time
        # fold=0: an ambiguous wall time is the earlier one, as the store warns;
        # a wall time in a spring gap is moved forward by the round trip through UTC
        aware = naive.replace(tzinfo=self._zone, fold=0)
        return aware.astimezone(timezone.utc).astimezone(self._zone), has_time

    def _start_and_duration(self, session: SessionData) -> tuple[datetime, int]:
        if not session.start:
            raise _LocalRejection(NO_START)
        start, start_has_time = self._aware(session.start)
        minutes = self.settings.default_duration
        if session.end and start_has_time:
            end, end_has_time = self._aware(session.end)
            if end_has_time:
                # in UTC: Python subtracts wall times when both share one zone
                elapsed = end.astimezone(timezone.utc) - start.astimezone(timezone.utc)
                minutes = math.ceil(elapsed.total_seconds() / 60)
                if not MIN_DURATION <= minutes <= MAX_DURATION:
                    raise _LocalRejection(BAD_DURATION.format(minutes=minutes))
        return start, minutes

    def _item(self, change: RemoteChange) -> _Item | None:
        """The batch item of a create or an update; None when the update touches
        no field Perculus knows."""
        session = change.session
        if change.kind == "create":
            wanted = set(DERIVED_FIELDS)
        else:
            wanted = {name for name in change.changed if name in DERIVED_FIELDS}
            if not wanted:
                return None
        perculus_fields = {out for name in wanted for out in DERIVED_FIELDS[name]}
        payload: dict[str, object] = {}
        start: datetime | None = None
        if change.kind == "update":
            payload["session_guid"] = change.remote_id
        if "name" in perculus_fields:
            payload["name"] = session.title
        if perculus_fields & {"start_date", "duration"}:
            start, minutes = self._start_and_duration(session)
            if "start_date" in perculus_fields:
                payload["start_date"] = start.isoformat(timespec="seconds")
            payload["duration"] = minutes
        if "description" in perculus_fields and session.training_title is not None:
            payload["description"] = session.training_title
        if "lang" in perculus_fields and session.training_locale:
            payload["lang"] = session.training_locale.replace("_", "-")
        if "tags" in perculus_fields and session.training_path_code:
            payload["tags"] = session.training_path_code  # Perculus: a comma separated string
        if change.kind == "create":
            payload["timezone"] = self.settings.timezone
        elif len(payload) == 1:  # only the guid: e.g. the locale was reset to nothing
            return None
        return _Item(change, payload, start)

    # -- delivery ------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Iterator[DeliveryOutcome]:
        run = _Run(self, delivery)
        for change in delivery.changes:
            if change.remote_id:
                self._claimed.add(change.remote_id.upper())
        return run.outcomes()


class _Run:
    """One delivery: the changes in order, the batch being filled, and what
    made the run stop sending (deadline, unavailable service)."""

    def __init__(self, client: PerculusClient, delivery: Delivery) -> None:
        self.client = client
        self.settings = client.settings
        self.delivery = delivery
        self.stopped: str | None = None  # the pending reason for everything after

    def outcomes(self) -> Iterator[DeliveryOutcome]:
        batch = _Batch()
        for change in self.delivery.changes:
            if change.kind == "cancel":
                if not change.remote_id:
                    yield DeliveryOutcome(change.id, "skipped")  # its create never reached Perculus
                    continue
                if change.remote_id.upper() in batch.guids:  # keep the update before the delete
                    yield from self._send_batch(batch.items)
                    batch = _Batch()
                yield from self._cancel(change)
                continue
            if change.kind == "update" and not change.remote_id:
                # defensive: the outbox waits for the create
                yield DeliveryOutcome(change.id, "skipped")
                continue
            try:
                item = self.client._item(change)
            except _LocalRejection as rejection:
                yield DeliveryOutcome(change.id, "rejected", message=str(rejection))
                continue
            if item is None:
                yield DeliveryOutcome(change.id, "skipped")
                continue
            if not batch.accepts(item, self.settings.batch_size):
                yield from self._send_batch(batch.items)
                batch = _Batch()
            batch.add(item)
        yield from self._send_batch(batch.items)

    # -- guards --------------------------------------------------------------------

    def _past_deadline(self) -> bool:
        return past_deadline(self.delivery, self.client._clock)

    def _can_send(self) -> bool:
        """Whether a new request may go out; the first one fetches the token, so
        a service that cannot even give one stops the run at once."""
        if self.stopped is None and self._past_deadline():
            self.stopped = PUBLISH_TIMEOUT
        if self.stopped is None and self.client._secrets.token is None:
            try:
                self.client._fetch_token()
            except _NoAnswer as failure:
                self.stopped = UNAVAILABLE.format(problem=failure.problem)
        return self.stopped is None

    def _pending(self, items: Sequence[_Item], reason: str) -> Iterator[DeliveryOutcome]:
        reason = self.client._secrets.redact(reason)
        for item in items:
            yield DeliveryOutcome(item.change.id, "pending", message=reason)

    def _wait(self, seconds: float) -> bool:
        """Back-off before another try; False when it would end past the deadline."""
        waited = wait_within_deadline(
            self.delivery,
            seconds,
            "Perculus did not answer; trying again",
            self.client._clock,
            self.client._sleep,
        )
        if not waited:
            self.stopped = PUBLISH_TIMEOUT
        return waited

    # -- cancels -------------------------------------------------------------------

    def _cancel(self, change: RemoteChange) -> Iterator[DeliveryOutcome]:
        if not self._can_send():
            yield DeliveryOutcome(change.id, "pending", message=self.stopped)
            return
        guid = change.remote_id
        assert guid is not None
        try:
            response = self.client._authorized("DELETE", DELETE_PATH + guid)
        except _NoAnswer as failure:
            self.stopped = UNAVAILABLE.format(problem=failure.problem)
            yield DeliveryOutcome(
                change.id,
                "pending",
                message=NO_ANSWER.format(problem=failure.problem, tries=self.settings.tries),
            )
            return
        with response:
            status = response.status_code
            if status in (200, 204):
                yield DeliveryOutcome(change.id, "published", remote_id=guid)
            elif status == 404:
                # already gone (deleted by hand, or an earlier try whose answer was lost)
                log.info("perculus: session %s was already deleted", guid)
                yield DeliveryOutcome(change.id, "published", remote_id=guid)
            elif status >= 500 or status == 429:
                self.stopped = UNAVAILABLE.format(problem=f"HTTP {status}")
                yield DeliveryOutcome(
                    change.id,
                    "pending",
                    message=NO_ANSWER.format(problem=f"HTTP {status}", tries=self.settings.tries),
                )
            else:
                rejection = _error_message(response)
                if rejection is None:
                    message = UNEXPECTED_ANSWER.format(status=status)
                    yield DeliveryOutcome(change.id, "pending", message=message)
                else:
                    message = self.client._secrets.redact(rejection)
                    yield DeliveryOutcome(change.id, "rejected", message=message)

    # -- batches -------------------------------------------------------------------

    def _send_batch(self, items: Sequence[_Item]) -> Iterator[DeliveryOutcome]:
        remaining = list(items)
        if not remaining:
            return
        if not self._can_send():
            yield from self._pending(remaining, self.stopped or PUBLISH_TIMEOUT)
            return
        # creates sent before without a readable answer: look for them first
        attempted = [i for i in remaining if i.is_create and i.change.attempted]
        yield from self._look_up(attempted, remaining)
        tries = 0
        while remaining:
            if not self._can_send():
                yield from self._pending(remaining, self.stopped or PUBLISH_TIMEOUT)
                return
            tries += 1
            creates = [i.change.id for i in remaining if i.is_create]
            if creates:
                self.delivery.before_send(creates)
            try:
                body = [i.payload for i in remaining]
                response = self.client._authorized("POST", BATCH_PATH, json=body)
                if response.status_code >= 500 or response.status_code == 429:
                    response.close()
                    raise _NoAnswer(f"HTTP {response.status_code}")
            except _NoAnswer as failure:
                if tries >= self.settings.tries:
                    self.stopped = UNAVAILABLE.format(problem=failure.problem)
                    yield from self._pending(
                        remaining, NO_ANSWER.format(problem=failure.problem, tries=tries)
                    )
                    return
                if not self._wait(self.settings.backoff_factor * 2 ** (tries - 1)):
                    yield from self._pending(remaining, PUBLISH_TIMEOUT)
                    return
                # the batch may have been applied before the answer was lost
                yield from self._look_up([i for i in remaining if i.is_create], remaining)
                continue
            with response:
                yield from self._read_answer(response, remaining)
            return

    def _look_up(
        self, creates: Sequence[_Item], remaining: list[_Item]
    ) -> Iterator[DeliveryOutcome]:
        """Creates found on Perculus are published and leave ``remaining``; a
        create that could not be looked for stays queued, never sent blind."""
        for item in creates:
            if not self._can_send():
                return  # the caller turns what remains into pending
            try:
                guid = self._search(item)
            except _NoAnswer as failure:
                remaining.remove(item)
                yield from self._pending([item], LOOKUP_FAILED.format(problem=failure.problem))
                continue
            if guid is not None:
                log.info("perculus: change %s was already on Perculus as %s", item.change.id, guid)
                remaining.remove(item)
                self.client._claimed.add(guid.upper())
                yield DeliveryOutcome(item.change.id, "published", remote_id=guid)

    def _search(self, item: _Item) -> str | None:
        """The guid of a session with the create's name and start, or None.
        Perculus filters by date only (begin/end dates, in a zone it does not
        state), so the window is a day wider each side and the exact name and
        instant are compared here."""
        assert item.start is not None
        day = item.start.date()
        body: dict[str, object] = {
            "name": item.payload["name"],
            "begin_date": (day - timedelta(days=1)).isoformat(),
            "end_date": (day + timedelta(days=1)).isoformat(),
            "page_size": SEARCH_PAGE_SIZE,
        }
        found: list[dict] = []
        for page in range(1, SEARCH_MAX_PAGES + 1):
            body["page_number"] = page
            response = self.client._authorized("POST", SEARCH_PATH, json=body)
            with response:
                if response.status_code != 200:
                    raise _NoAnswer(f"HTTP {response.status_code} to the search")
                try:
                    sessions = _session_list(response.json())
                except ValueError:
                    raise _NoAnswer("an unreadable search answer") from None
            found.extend(s for s in sessions if _same_session(s, item) and _guid_of(s))
            if len(sessions) < SEARCH_PAGE_SIZE:
                break
        free = [
            s
            for s in found
            if _guid_of(s).upper() not in self.client._claimed
            and not self.delivery.taken(_guid_of(s), item.change.id)
        ]
        if not free:
            return None
        # several sessions with that name and start: prefer the one whose other fields match
        free.sort(key=lambda s: -sum(s.get(k) == v for k, v in item.payload.items()))
        return _guid_of(free[0])

    def _read_answer(
        self, response: requests.Response, items: list[_Item]
    ) -> Iterator[DeliveryOutcome]:
        status = response.status_code
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if (
            status in (200, 207, 400)
            and isinstance(answer, dict)
            and ("approved" in answer or "rejected" in answer)
        ):
            yield from self._match(answer, items)
            return
        if status == 400 and isinstance(answer, dict) and "code" in answer:
            # the whole request refused with one error object: every item shares it
            message = self.client._secrets.redact(_rejection(answer))
            for item in items:
                yield DeliveryOutcome(item.change.id, "rejected", message=message)
            return
        log.warning("perculus: unexpected batch answer HTTP %s", status)
        yield from self._pending(items, UNEXPECTED_ANSWER.format(status=status))

    def _match(self, answer: dict, items: list[_Item]) -> Iterator[DeliveryOutcome]:
        """Answer items back to changes: updates by session_guid, creates by name
        and start (SPEC 9, details left open)."""
        unmatched = list(items)
        results: dict[int, DeliveryOutcome] = {}
        for entry in _entries(answer.get("approved")):
            item = _find(unmatched, entry)
            guid = _guid_of(entry)
            if item is None or not guid:
                log.warning("perculus: an approved session matches nothing that was sent")
                continue
            unmatched.remove(item)
            self.client._claimed.add(guid.upper())
            results[item.change.id] = DeliveryOutcome(item.change.id, "published", remote_id=guid)
        for entry in _entries(answer.get("rejected")):
            model = entry.get("model")
            if not isinstance(model, dict):
                model = {}
            item = _find(unmatched, model)
            if item is None:
                log.warning("perculus: a rejected session matches nothing that was sent")
                continue
            unmatched.remove(item)
            state = entry.get("state")
            if not isinstance(state, dict):
                state = {}
            message = self.client._secrets.redact(_rejection(state))
            results[item.change.id] = DeliveryOutcome(item.change.id, "rejected", message=message)
        for item in items:  # in the order sent
            missing = DeliveryOutcome(item.change.id, "pending", message=NOT_IN_ANSWER)
            yield results.get(item.change.id) or missing


# -- reading Perculus answers ------------------------------------------------------


def _entries(value: object) -> list[dict]:
    return [e for e in value if isinstance(e, dict)] if isinstance(value, list) else []


def _session_list(answer: object) -> list[dict]:
    """The documented search answer is an array; accept it wrapped too."""
    if isinstance(answer, dict):
        for key in ("data", "items", "sessions", "result"):
            if isinstance(answer.get(key), list):
                return _entries(answer[key])
        return []
    return _entries(answer)


def _guid_of(entry: Mapping[str, object]) -> str:
    # approved and search items say session_guid; a rejected update's model says the_guid
    for key in ("session_guid", "the_guid", "session_id"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _parse_instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed


def _same_session(entry: Mapping[str, object], item: _Item) -> bool:
    if entry.get("name") != item.payload.get("name") or item.start is None:
        return False
    start = _parse_instant(entry.get("start_date"))
    if start is None:
        return False
    if start.tzinfo is not None and start == item.start:
        return True
    # Perculus' own examples echo the wall time with the account's offset
    return start.replace(tzinfo=None) == item.start.replace(tzinfo=None)


def _find(unmatched: list[_Item], entry: Mapping[str, object]) -> _Item | None:
    """The sent item an answer entry stands for."""
    guid = _guid_of(entry).upper()
    if guid:
        for item in unmatched:
            if item.guid == guid:
                return item
    creates = [i for i in unmatched if i.is_create and i.payload.get("name") == entry.get("name")]
    start = _parse_instant(entry.get("start_date"))
    if start is not None and start.tzinfo is not None:
        for item in creates:
            if item.start == start:
                return item
    if start is not None:
        # Perculus' own example echoes the wall time with the account's offset
        wall = start.replace(tzinfo=None)
        same_wall = [i for i in creates if i.start and i.start.replace(tzinfo=None) == wall]
        if len(same_wall) == 1:
            return same_wall[0]
    return creates[0] if len(creates) == 1 else None


def _rejection(state: Mapping[str, object]) -> str:
    details = state.get("details")
    if isinstance(details, list):
        text = "; ".join(str(d) for d in details)
    elif details is None or details == "":
        text = "no details"
    else:
        text = str(details)
    return REJECTED.format(details=text, code=state.get("code", "unknown"))


def _error_message(response: requests.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    if isinstance(answer, dict) and "code" in answer:
        return _rejection(answer)
    return None
