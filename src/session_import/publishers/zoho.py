"""Publishing sessions to Zoho People LMS (SPEC section 9).

Zoho People takes one session per call, allows `maxRequests` calls in any
`windowSeconds` and answers a call over that threshold with a lock of
`lockSeconds` during which every call fails.  So this client paces every call it
makes to the People API itself, at send time, with the window counted a few
percent longer than the service's so that network jitter never trips the limit.

Decisions where the reference page and the SPEC are silent (the README repeats them):

- The reference page names the create's parameter `sessionData` (a JSON object
  in the query string: its "Request URL" and parameter table) while its code
  samples send the same object as a JSON body.  The client sends both, identical,
  so that either reading of the page finds the same session.  Values are strings,
  as in the samples.  PATCH, which the page does not document, is sent the same way.
- Only calls to `baseUrl` (create, update, the module's session list) count
  toward the threshold: it is the People API's.  Token calls go to `accountsUrl`,
  another service with its own limits, and happen once an hour or after a 401.
- The lock is recognised by HTTP 429, or by the threshold code 7209 in the answer
  whatever its HTTP status (`code`, `errors.code` or `response.errors.code`).
- A rejection's text is the answer's `message` (top level, as in the documented
  success answer), else `errors.message` / `response.errors.message`, else the
  reference page's description of the status ("Not found", ...).
- A Zoho session is one date with a start and an end time.  It takes the start's
  date; the start's time (12:00 AM when the start has no time); the end's time
  when the end has a time on that same day, else 11:59 PM (the rest of the day:
  multi-day sessions, and an end without a time or no end).  A session without a
  start date, whose teacher has no reference number, or whose end on its day is
  not after its start (10:00 to 10:00) cannot exist in Zoho People: the change is
  rejected without a call, and no end is ever invented to make it fit.
- HTTP 403 (not authorized for that course) leaves the change queued and every
  later change for the same module too, without calling again in this delivery.
- One lock wait per delivery; the second lock leaves the rest queued.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from datetime import time as clock_time
from enum import StrEnum
from typing import Any

import requests

from session_import.publishers.contract import (
    CredentialsError,
    Delivery,
    DeliveryOutcome,
    RemoteChange,
    SessionData,
)
from session_import.publishers.http import Secrets, network_problem, wait_within_deadline
from session_import.publishers.settings import ZOHO_CREDENTIALS, ModuleIds, ZohoSettings

log = logging.getLogger(__name__)

# The reference page's threshold answer code.
THRESHOLD_CODE = 7209

# The reference page's descriptions, used when a rejection carries no message.
_STATUS_TEXT = {
    400: "Invalid parameter value/input parameter missing",
    404: "Not found",
    422: "Maximum limit exceeded",
}
_REJECTED_STATUSES = frozenset(_STATUS_TEXT)


class ZohoMsg(StrEnum):
    """Every message this client puts in an outcome or an exception."""

    REFUSED = "Zoho People refused the credentials (HTTP {status})."
    REJECTED = "Zoho People rejected the session: {message} (HTTP {status})."
    CANNOT_DELETE = (
        "Zoho People has no API to delete a session; delete session {title} ({session_id}) by hand."
    )
    NO_START = "Zoho People needs a start date; session {title} has none."
    END_NOT_AFTER_START = (
        "Zoho People needs an end after the start; session {title} runs from {start} to {end} "
        "on {date}."
    )
    NO_TRAINER = (
        "Zoho People needs the teacher's reference number (trainerErecno); "
        "the teacher of session {title} has none."
    )
    NO_MODULE = (
        "No Zoho People course, batch and module are configured for training {path_code}; "
        "the change stays queued."
    )
    WAITS_FOR_CREATE = (
        "The session's create was not delivered to Zoho People yet; the change waits."
    )
    FORBIDDEN = (
        "Zoho People did not authorize the call (HTTP 403) for module {module_id}; "
        "the change stays queued."
    )
    UNAVAILABLE = "Zoho People did not answer ({reason}, {tries} tries); the change stays queued."
    TOKEN_UNAVAILABLE = (
        "Zoho People's token service did not answer ({reason}, {tries} tries); "
        "the changes stay queued."
    )
    FRESH_TOKEN_REFUSED = (
        "Zoho People refused a fresh access token (HTTP 401); the changes stay queued."
    )
    UNEXPECTED = "Zoho People answered HTTP {status} without a session id; the change stays queued."
    LOCKED_AGAIN = (
        "Zoho People locked its API again after a wait of {seconds:g} s; the changes stay queued."
    )
    TIMEOUT = "The publish timeout was reached; the change stays queued."
    LOCK_PAST_TIMEOUT = (
        "Zoho People locked its API for {seconds:g} s, past the publish timeout; "
        "the changes stay queued."
    )


class SlidingWindowPacer:
    """At most `max_requests` sends in any window of `window * (1 + margin)`
    seconds, counted at send time."""

    def __init__(self, max_requests: int, window: float, margin: float, clock: Callable[[], float]):
        self.max_requests = max_requests
        self.span = window * (1.0 + margin)
        self.clock = clock
        self.sent: deque[float] = deque()

    def wait_needed(self) -> float:
        now = self.clock()
        while self.sent and self.sent[0] <= now - self.span:
            self.sent.popleft()
        if len(self.sent) < self.max_requests:
            return 0.0
        return self.sent[-self.max_requests] + self.span - now

    def record(self) -> None:
        self.sent.append(self.clock())


# --- session fields ------------------------------------------------------------------------

_END_OF_DAY = clock_time(23, 59)


def twelve_hour(value: clock_time) -> str:
    """'hh:mm AM', without the locale's say (strftime's %p is locale-dependent)."""
    hour = value.hour % 12 or 12
    return f"{hour:02d}:{value.minute:02d} {'AM' if value.hour < 12 else 'PM'}"


def zoho_schedule(start: str | None, end: str | None) -> dict[str, str] | None:
    """date, startTime and endTime of a session (see the module's docstring), or
    None for a session without a start."""
    if not start:
        return None
    begins = datetime.fromisoformat(start)
    start_time = begins.time().replace(second=0, microsecond=0) if "T" in start else clock_time(0)
    end_time = _END_OF_DAY
    if end and "T" in end:
        ends = datetime.fromisoformat(end)
        if ends.date() == begins.date():
            end_time = ends.time().replace(second=0, microsecond=0)
    return {
        "date": begins.strftime("%d-%m-%Y"),
        "startTime": twelve_hour(start_time),
        "endTime": twelve_hour(end_time),
    }


def _minutes(twelve: str) -> int:
    clock, half = twelve.split(" ")
    hour, minute = (int(part) for part in clock.split(":"))
    return (hour % 12 + (12 if half == "PM" else 0)) * 60 + minute


def _ends_after_start(fields: Mapping[str, str]) -> bool:
    """Zoho People checks that a session's end time is after its start time (same day)."""
    return _minutes(fields["endTime"]) > _minutes(fields["startTime"])


def session_fields(session: SessionData) -> dict[str, str]:
    """Every Zoho field of a session (a create's sessionData)."""
    fields = {
        "name": session.title,
        "trainerErecno": session.teacher_ref_number or "",
        "type": "0" if session.training_modality == "blended" else "1",
        "description": session.training_title,
    }
    fields.update(zoho_schedule(session.start, session.end) or {})
    return fields


# SessionData fields -> the Zoho fields they feed.  The schedule travels as a whole:
# Zoho checks the end against the start, and both against the date.
_ZOHO_FIELDS_OF = {
    "title": ("name",),
    "teacher_ref_number": ("trainerErecno",),
    "training_modality": ("type",),
    "training_title": ("description",),
    "start": ("date", "startTime", "endTime"),
    "end": ("date", "startTime", "endTime"),
}


def changed_fields(change: RemoteChange) -> dict[str, str]:
    """The Zoho fields an update touches: {} when it touches none."""
    names = {zoho for local in change.changed for zoho in _ZOHO_FIELDS_OF.get(local, ())}
    every = session_fields(change.session)
    return {name: every[name] for name in sorted(names) if name in every}


def _answer_json(response: requests.Response) -> dict:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _error_parts(answer: dict) -> tuple[object, str | None]:
    """(code, message) of an answer in any of Zoho's shapes."""
    candidates = [answer]
    for holder in (answer, answer.get("response")):
        if isinstance(holder, dict):
            errors = holder.get("errors")
            if isinstance(errors, list) and errors:
                errors = errors[0]
            if isinstance(errors, dict):
                candidates.insert(0, errors)
            if holder is not answer:
                candidates.append(holder)
    code = next((c.get("code") for c in candidates if c.get("code") not in (None, "")), None)
    message = next(
        (
            c["message"]
            for c in candidates
            if isinstance(c.get("message"), str)
            and c["message"].strip()
            and c["message"].strip().lower() != "success"
        ),
        None,
    )
    return code, message


def is_threshold_answer(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    code, _ = _error_parts(_answer_json(response))
    return str(code) == str(THRESHOLD_CODE)


def rejection_message(response: requests.Response) -> str:
    _, message = _error_parts(_answer_json(response))
    text = (message or _STATUS_TEXT.get(response.status_code) or response.reason or "").strip()
    return ZohoMsg.REJECTED.format(message=text.rstrip("."), status=response.status_code)


def _sessions_of(answer: dict) -> list[dict]:
    """The module's session list.  Its shape is not documented; the client
    accepts a list under `sessions`, `session`, `data`, `result` or
    `response.result`, each item shaped like the create's `session`."""
    holders = [answer, answer.get("response")]
    for holder in holders:
        if not isinstance(holder, dict):
            continue
        for key in ("sessions", "session", "data", "result"):
            value = holder.get(key)
            if isinstance(value, list):
                return [item for item in value if isinstance(item, dict)]
    return []


# --- delivery ------------------------------------------------------------------------------


class _Stop(Exception):
    """Nothing more is sent in this delivery: the current change and the rest stay queued."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class _Transient(Exception):
    """A network failure; `maybe_applied` when the request may have reached Zoho."""

    def __init__(self, reason: str, maybe_applied: bool):
        super().__init__(reason)
        self.reason = reason
        self.maybe_applied = maybe_applied


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the connection was never made (the request cannot have arrived)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc.args)
        return not any(
            marker in text
            for marker in ("NewConnectionError", "NameResolutionError", "Failed to establish")
        )
    return True


@dataclass
class _DeliveryState:
    delivery: Delivery
    locks: int = 0
    forbidden: set[str] = field(default_factory=set)


class ZohoPeopleClient:
    """contract.Client for Zoho People LMS.  One instance per command: the pacing
    window and the access token are shared by every delivery it makes."""

    name = "zoho"

    def __init__(
        self,
        settings: ZohoSettings,
        credentials: Mapping[str, str],
        *,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._credentials = Secrets("Zoho People", ZOHO_CREDENTIALS.read(credentials))
        self._own_session = session is None
        self.http = session if session is not None else requests.Session()
        self.clock = clock
        self.sleep = sleep
        self.pacer = SlidingWindowPacer(
            settings.max_requests, settings.window_seconds, settings.window_margin, clock
        )
        self._token: str | None = None
        self._token_renew_at = 0.0
        self._token_proven = False  # a call other than a 401 was answered with it

    @classmethod
    def from_environment(
        cls, settings: ZohoSettings, environ: Mapping[str, str], **kwargs: object
    ) -> ZohoPeopleClient:
        return cls(settings, ZOHO_CREDENTIALS.read(environ), **kwargs)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # never the credentials
        return f"ZohoPeopleClient(base_url={self.settings.base_url!r})"

    def close(self) -> None:
        if self._own_session:
            self.http.close()

    def __enter__(self) -> ZohoPeopleClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- the contract --------------------------------------------------------------------

    def deliver(self, delivery: Delivery) -> Iterator[DeliveryOutcome]:
        state = _DeliveryState(delivery)
        stopped: str | None = None
        for change in delivery.changes:
            if stopped is not None:
                yield DeliveryOutcome(change.id, "pending", message=stopped)
                continue
            try:
                outcome = self._deliver_one(change, state)
            except _Stop as stop:
                stopped = stop.message
                outcome = DeliveryOutcome(change.id, "pending", message=stopped)
            yield outcome

    def _deliver_one(self, change: RemoteChange, state: _DeliveryState) -> DeliveryOutcome:
        session = change.session
        if change.kind == "cancel":
            if change.remote_id is None:
                return DeliveryOutcome(change.id, "skipped")
            return DeliveryOutcome(
                change.id,
                "skipped",
                remote_id=change.remote_id,
                message=ZohoMsg.CANNOT_DELETE.format(
                    title=session.title, session_id=change.remote_id
                ),
                warning=True,
            )
        if change.kind == "update":
            if change.remote_id is None:
                return DeliveryOutcome(change.id, "pending", message=ZohoMsg.WAITS_FOR_CREATE.value)
            fields = changed_fields(change)
            if not fields:
                return DeliveryOutcome(change.id, "skipped", remote_id=change.remote_id)
        else:
            fields = session_fields(session)
        needs_schedule = change.kind == "create" or bool({"start", "end"} & change.changed)
        if needs_schedule and not session.start:
            return DeliveryOutcome(
                change.id, "rejected", message=ZohoMsg.NO_START.format(title=session.title)
            )
        if needs_schedule and not _ends_after_start(fields):
            message = ZohoMsg.END_NOT_AFTER_START.format(
                title=session.title,
                start=fields["startTime"],
                end=fields["endTime"],
                date=fields["date"],
            )
            return DeliveryOutcome(change.id, "rejected", message=message)
        if "trainerErecno" in fields and not session.teacher_ref_number:
            return DeliveryOutcome(
                change.id, "rejected", message=ZohoMsg.NO_TRAINER.format(title=session.title)
            )
        ids = self.settings.module_for(session.training_path_code)
        if ids is None:
            return DeliveryOutcome(
                change.id,
                "pending",
                message=ZohoMsg.NO_MODULE.format(path_code=session.training_path_code),
            )
        if ids.module_id in state.forbidden:
            return DeliveryOutcome(
                change.id, "pending", message=ZohoMsg.FORBIDDEN.format(module_id=ids.module_id)
            )
        if change.kind == "create":
            return self._create(change, ids, fields, state)
        return self._update(change, ids, fields, state)

    # -- create and update ---------------------------------------------------------------

    def _sessions_url(self, ids: ModuleIds) -> str:
        return (
            f"{self.settings.base_url.rstrip('/')}/api/v1/courses/{ids.course_id}"
            f"/batches/{ids.batch_id}/modules/{ids.module_id}/sessions"
        )

    def _create(
        self, change: RemoteChange, ids: ModuleIds, fields: dict[str, str], state: _DeliveryState
    ) -> DeliveryOutcome:
        url = self._sessions_url(ids)
        maybe_there = change.attempted
        announced = False
        reason = ""
        for attempt in range(self.settings.tries):
            if attempt:
                self._back_off(attempt, state)
            try:
                if maybe_there:
                    found = self._look_up(url, fields, state, change.id)
                    if found is not None:
                        return DeliveryOutcome(change.id, "published", remote_id=found)
                if not announced:
                    state.delivery.before_send([change.id])
                    announced = True
                response = self._send("POST", url, fields, state)
            except _Transient as failure:
                maybe_there = maybe_there or failure.maybe_applied
                reason = failure.reason
                continue
            if response.status_code >= 500:
                # a gateway may have passed the create on before failing
                maybe_there = True
                reason = f"HTTP {response.status_code}"
                continue
            return self._answer_outcome(change, response, ids, state, creating=True)
        return self._unavailable(change, reason)

    def _update(
        self, change: RemoteChange, ids: ModuleIds, fields: dict[str, str], state: _DeliveryState
    ) -> DeliveryOutcome:
        url = f"{self._sessions_url(ids)}/{change.remote_id}"
        reason = ""
        for attempt in range(self.settings.tries):
            if attempt:
                self._back_off(attempt, state)
            try:
                response = self._send("PATCH", url, fields, state)
            except _Transient as failure:
                reason = failure.reason
                continue
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}"
                continue
            return self._answer_outcome(change, response, ids, state, creating=False)
        return self._unavailable(change, reason)

    def _unavailable(self, change: RemoteChange, reason: str) -> DeliveryOutcome:
        """Every try failed (network, 5xx): the change stays queued."""
        return DeliveryOutcome(
            change.id,
            "pending",
            message=ZohoMsg.UNAVAILABLE.format(reason=reason, tries=self.settings.tries),
        )

    def _answer_outcome(
        self,
        change: RemoteChange,
        response: requests.Response,
        ids: ModuleIds,
        state: _DeliveryState,
        *,
        creating: bool,
    ) -> DeliveryOutcome:
        status = response.status_code
        if status in _REJECTED_STATUSES:
            return DeliveryOutcome(
                change.id,
                "rejected",
                remote_id=change.remote_id,
                message=rejection_message(response),
            )
        if status == 403:
            state.forbidden.add(ids.module_id)
            return DeliveryOutcome(
                change.id, "pending", message=ZohoMsg.FORBIDDEN.format(module_id=ids.module_id)
            )
        if 200 <= status < 300:
            if not creating:
                return DeliveryOutcome(change.id, "published", remote_id=change.remote_id)
            session = _answer_json(response).get("session")
            session_id = session.get("sessionId") if isinstance(session, dict) else None
            if session_id not in (None, ""):
                return DeliveryOutcome(change.id, "published", remote_id=str(session_id))
        # An answer without a session id may still hide a created session: the
        # outbox holds the create as attempted, so the next delivery looks it up.
        message = ZohoMsg.UNEXPECTED.format(status=status)
        return DeliveryOutcome(change.id, "pending", message=message)

    def _look_up(
        self, url: str, fields: dict[str, str], state: _DeliveryState, change_id: int
    ) -> str | None:
        """The sessionId of a session of the module with this name, date, start and end
        time that no other local session owns, or None."""
        response = self._send("GET", url, None, state)
        if response.status_code >= 500:
            raise _Transient(f"HTTP {response.status_code}", maybe_applied=False)
        if response.status_code != 200:
            return None
        matches = [
            item
            for item in _sessions_of(_answer_json(response))
            if str(item.get("sessionName", item.get("name"))) == fields["name"]
            and str(item.get("sessionStartDate", item.get("date"))) == fields["date"]
            and str(item.get("sessionStartTime", item.get("startTime"))) == fields["startTime"]
            and str(item.get("sessionEndTime", item.get("endTime"))) == fields["endTime"]
        ]
        for item in matches:
            if item.get("sessionId") not in (None, "") and not state.delivery.taken(
                str(item["sessionId"]), change_id
            ):
                log.info(
                    "Zoho People already holds session %s (%s); not sent again.",
                    fields["name"],
                    item["sessionId"],
                )
                return str(item["sessionId"])
        return None

    # -- one call ------------------------------------------------------------------------

    def _send(
        self, method: str, url: str, fields: dict[str, str] | None, state: _DeliveryState
    ) -> requests.Response:
        """One call to the People API: paced, authorized, the lock waited out once
        per delivery and an expired token renewed once.  Raises _Transient on a
        network failure, _Stop when nothing more may be sent."""
        renewed_for_401 = False
        while True:
            self._check_deadline(state)
            token = self._access_token(state)
            wait = self.pacer.wait_needed()
            if wait > 0:
                self._wait(
                    state,
                    wait,
                    f"Zoho People allows {self.settings.max_requests} calls in "
                    f"{self.settings.window_seconds:g} s",
                )
                continue  # the deadline and the token are checked again after a wait
            self.pacer.record()
            kwargs: dict[str, Any] = {}  # requests' own keyword arguments
            if fields is not None:
                kwargs = {"params": {"sessionData": json.dumps(fields)}, "json": fields}
            try:
                response = self.http.request(
                    method,
                    url,
                    headers={"Authorization": f"Zoho-oauthtoken {token}"},
                    timeout=self.settings.timeout,
                    **kwargs,
                )
            except requests.RequestException as exc:
                raise _Transient(network_problem(exc), _may_have_been_sent(exc)) from None
            log.debug("Zoho People %s %s: HTTP %s", method, url.split("?")[0], response.status_code)
            if is_threshold_answer(response):
                if state.locks:
                    raise _Stop(ZohoMsg.LOCKED_AGAIN.format(seconds=self.settings.lock_seconds))
                state.locks += 1
                self._wait(
                    state,
                    self.settings.lock_seconds,
                    "Zoho People locked its API (threshold exceeded)",
                    past_deadline=ZohoMsg.LOCK_PAST_TIMEOUT.format(
                        seconds=self.settings.lock_seconds
                    ),
                )
                continue
            if response.status_code == 401:
                if renewed_for_401 or not self._token_proven:
                    # one renewal per 401, never a loop: a token that never worked
                    # will not work better the next time
                    raise _Stop(ZohoMsg.FRESH_TOKEN_REFUSED.value)
                renewed_for_401 = True
                self._token = None
                continue
            self._token_proven = True
            return response

    def _check_deadline(self, state: _DeliveryState) -> None:
        deadline = state.delivery.deadline
        if deadline is not None and self.clock() >= deadline:
            raise _Stop(ZohoMsg.TIMEOUT.value)

    def _wait(
        self,
        state: _DeliveryState,
        seconds: float,
        reason: str,
        past_deadline: str = ZohoMsg.TIMEOUT.value,
    ) -> None:
        if not wait_within_deadline(state.delivery, seconds, reason, self.clock, self.sleep):
            raise _Stop(past_deadline)

    def _back_off(self, attempt: int, state: _DeliveryState) -> None:
        seconds = self.settings.backoff_seconds * 2 ** (attempt - 1)
        self._wait(state, seconds, "Zoho People did not answer; trying again")

    # -- the access token ----------------------------------------------------------------

    def _access_token(self, state: _DeliveryState) -> str:
        if self._token is not None and self.clock() < self._token_renew_at:
            return self._token
        reason = ""
        for attempt in range(self.settings.tries):
            if attempt:
                self._back_off(attempt, state)
            self._check_deadline(state)
            try:
                response = self.http.post(
                    f"{self.settings.accounts_url.rstrip('/')}/oauth/v2/token",
                    data={
                        "grant_type": "refresh_token",
                        "client_id": self._credentials["ZOHO_CLIENT_ID"],
                        "client_secret": self._credentials["ZOHO_CLIENT_SECRET"],
                        "refresh_token": self._credentials["ZOHO_REFRESH_TOKEN"],
                    },
                    timeout=self.settings.timeout,
                )
            except requests.RequestException as exc:
                reason = network_problem(exc)
                continue
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}"
                continue
            answer = _answer_json(response)
            token = answer.get("access_token")
            if response.status_code != 200 or not isinstance(token, str) or not token:
                # Zoho's accounts service answers a bad refresh token with HTTP 200
                # and {"error": "invalid_code"}: no token is a refusal too.
                raise CredentialsError(ZohoMsg.REFUSED.format(status=response.status_code))
            try:
                lifetime = float(answer.get("expires_in", 3600))
            except (TypeError, ValueError):
                lifetime = 3600.0
            now = self.clock()
            self._token = token
            self._token_renew_at = now + lifetime - min(60.0, lifetime / 10)
            self._token_proven = False
            log.debug("Zoho People access token renewed (valid %g s).", lifetime)
            return token
        raise _Stop(ZohoMsg.TOKEN_UNAVAILABLE.format(reason=reason, tries=self.settings.tries))
