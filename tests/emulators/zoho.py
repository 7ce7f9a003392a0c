"""A Zoho People LMS on loopback: a real HTTP server that follows the reference page
(`zoho-people-lms-create-session.md`), with its threshold and lock scaled down.

Endpoints:
- `POST /oauth/v2/token` (form: grant_type=refresh_token, client_id, client_secret,
  refresh_token) -> {"access_token", "expires_in", "api_domain", "token_type"}; a
  wrong credential -> 400 {"error": "invalid_code"}.
- `POST /api/v1/courses/{c}/batches/{b}/modules/{m}/sessions` with `sessionData`
  (query string or form field, as the page's Request URL says) or the same object
  as a JSON body (as its code samples do) -> {"code": 200, "session": {...}, "message": "success"}.
- `PATCH .../sessions/{sessionId}`: the given fields replace the stored ones.
- `GET .../sessions`: {"code": 200, "sessions": [session, ...], "message": "success"}
  (not on the page; shaped like the create's answer).

Errors answer {"code": <status>, "message": <text>} with the page's statuses:
400 (a missing or invalid parameter), 404 (unknown module or session), 422 (a
name over 100 characters: "Maximum limit exceeded"), 401 (a missing, unknown or
expired access token).

`slow_next` answers the next API calls late, to make a client's read time out.

Threshold: the API paths (not the token endpoint) accept `max_requests` calls
in any `window_seconds`; the call over it starts the lock, and for `lock_seconds`
every API call is answered HTTP 429 {"code": 7209, ...} (`lock_status` changes the
status, to test the recognition by code alone).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from emulators.loopback import LoopbackServer

REQUIRED = ("name", "trainerErecno", "type", "date", "startTime", "endTime")
KNOWN = set(REQUIRED) | {"description", "roomId", "lockUntil", "gradeCategoryId", "resources"}
_TIME = re.compile(r"^(0[1-9]|1[0-2]):([0-5]\d) (AM|PM)$")
_SESSIONS = re.compile(
    r"^/api/v1/courses/(?P<course>[^/]+)/batches/(?P<batch>[^/]+)/modules/(?P<module>[^/]+)"
    r"/sessions(?:/(?P<session>[^/]+))?$"
)


@dataclass
class LoggedRequest:
    time: float  # time.monotonic() when the request line was read
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str
    status: int = 0
    answer: str = ""
    counted: bool = False  # counted toward the threshold
    locked: bool = False  # answered with the lock
    dropped: bool = False  # the connection was closed without an answer

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")


def _minutes(text: str) -> int:
    hour, minute, half = _TIME.match(text).groups()  # type: ignore[union-attr]
    return (int(hour) % 12 + (12 if half == "PM" else 0)) * 60 + int(minute)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class ZohoEmulator:
    max_requests: int = 30
    window_seconds: float = 1.0
    lock_seconds: float = 2.0
    client_id: str = "emulator-client"
    client_secret: str = "emulator-secret"
    refresh_token: str = "emulator-refresh"
    token_lifetime: int = 3600
    lock_status: int = 429
    # (courseId, batchId, moduleId) that exist; None: every module exists
    modules: set[tuple[str, str, str]] | None = None
    # trainer erecnos that exist; None: every one exists
    trainers: set[str] | None = None

    log: list[LoggedRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    refreshes: int = 0
    reject_every_token: bool = False  # tokens are issued but the API answers 401

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}  # access token -> expiry (monotonic)
        self._window: deque[float] = deque()
        self._locked_until = 0.0
        self._lock_next = False
        self._fail_next: list[int] = []
        self._drop_creates = 0
        self._slow: list[float] = []
        self._next_id = 219225000000648000
        self._server: LoopbackServer | None = None

    # -- life -----------------------------------------------------------------------------

    def start(self) -> ZohoEmulator:
        self._server = LoopbackServer(_Handler, self)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> ZohoEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return self._server.url  # type: ignore[union-attr]

    # -- switches -------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every access token issued so far is expired from now on."""
        with self._lock:
            self._tokens.clear()

    def force_lock(self) -> None:
        with self._lock:
            self._locked_until = time.monotonic() + self.lock_seconds
            self._window.clear()

    def lock_at_next_call(self) -> None:
        """The next API call starts the lock (answered with it), whenever it comes: unlike
        force_lock, a client slow to start under load still meets it."""
        with self._lock:
            self._lock_next = True

    def fail_next(self, count: int, status: int = 503) -> None:
        """The next `count` API calls are answered `status` without being applied."""
        with self._lock:
            self._fail_next.extend([status] * count)

    def slow_next(self, count: int, seconds: float) -> None:
        """The next `count` API calls are answered `seconds` late (after being applied)."""
        with self._lock:
            self._slow.extend([seconds] * count)

    def take_delay(self, entry: LoggedRequest) -> float:
        with self._lock:
            return self._slow.pop(0) if entry.is_api and self._slow else 0.0

    def drop_after_create(self, count: int = 1) -> None:
        """The next `count` creates are applied, then the connection is closed unanswered."""
        with self._lock:
            self._drop_creates += count

    def add_session(self, course: str, batch: str, module: str, data: dict[str, str]) -> str:
        with self._lock:
            return self._store(course, batch, module, data)

    # -- what the tests read --------------------------------------------------------------

    def api_calls(self) -> list[LoggedRequest]:
        return [entry for entry in self.log if entry.is_api]

    def busiest_window(self, window: float | None = None) -> int:
        """The most API calls received in any window of `window` seconds."""
        window = self.window_seconds if window is None else window
        times = sorted(entry.time for entry in self.api_calls())
        best, first = 0, 0
        for last, moment in enumerate(times):
            while times[first] <= moment - window:
                first += 1
            best = max(best, last - first + 1)
        return best

    # -- the service ----------------------------------------------------------------------

    def _store(self, course: str, batch: str, module: str, data: dict[str, str]) -> str:
        self._next_id += 1
        session_id = str(self._next_id)
        self.sessions[session_id] = {
            "courseId": course,
            "batchId": batch,
            "moduleId": module,
            **data,
        }
        return session_id

    def _session_answer(self, session_id: str) -> dict:
        stored = self.sessions[session_id]
        return {
            "totalLearnersCount": 0,
            "sessionName": stored["name"],
            "sessionStartTime": stored["startTime"],
            "sessionEndTime": stored["endTime"],
            "description": stored.get("description", ""),
            "resources": [],
            "sessionId": session_id,
            "sessionStartDate": stored["date"],
            "sessionType": "Classroom" if str(stored["type"]) == "0" else "E-learning",
            "trainerErecno": stored["trainerErecno"],
            "moduleId": stored["moduleId"],
            "canUserDelete": False,
            "canUserEdit": False,
        }

    def _token(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        if (
            one("grant_type") != "refresh_token"
            or one("client_id") != self.client_id
            or one("client_secret") != self.client_secret
            or one("refresh_token") != self.refresh_token
        ):
            return 400, {"error": "invalid_code"}
        token = f"1000.{secrets.token_hex(16)}"
        self._tokens[token] = time.monotonic() + self.token_lifetime
        self.refreshes += 1
        return 200, {
            "access_token": token,
            "expires_in": self.token_lifetime,
            "api_domain": "https://www.zohoapis.com",
            "token_type": "Bearer",
        }

    def _admit(self, entry: LoggedRequest) -> tuple[int, dict] | None:
        """The threshold, the lock and the injected failures; None lets the call through."""
        now = entry.time
        if self._lock_next:
            self._lock_next = False
            self._locked_until = now + self.lock_seconds
            self._window.clear()
        if now < self._locked_until:
            entry.locked = True
            return self.lock_status, {
                "code": 7209,
                "message": "Threshold limit exceeded; try after the lock period",
            }
        while self._window and self._window[0] <= now - self.window_seconds:
            self._window.popleft()
        if len(self._window) >= self.max_requests:
            self._locked_until = now + self.lock_seconds
            self._window.clear()
            entry.locked = True
            return self.lock_status, {
                "code": 7209,
                "message": "Threshold limit exceeded; try after the lock period",
            }
        self._window.append(now)
        entry.counted = True
        header = entry.headers.get("authorization", "")
        token = header.removeprefix("Zoho-oauthtoken ")
        if (
            not header.startswith("Zoho-oauthtoken ")
            or self._tokens.get(token, 0) <= now
            or self.reject_every_token
        ):
            return 401, {"code": 401, "message": "Invalid OAuth token"}
        if self._fail_next:
            status = self._fail_next.pop(0)
            return status, {"code": status, "message": "Sorry! Server error occured"}
        return None

    def _session_data(self, entry: LoggedRequest, content_type: str) -> dict:
        found = []
        if "sessionData" in entry.query:
            found.append(entry.query["sessionData"][0])
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(entry.body)
            if "sessionData" in form:
                found.append(form["sessionData"][0])
        elif entry.body:
            found.append(entry.body)
        if not found:
            raise ApiError(400, "Input parameter sessionData is missing")
        try:
            objects = [json.loads(text) for text in found]
        except ValueError:
            raise ApiError(400, "Invalid parameter value: sessionData is not JSON") from None
        if any(obj != objects[0] for obj in objects) or not isinstance(objects[0], dict):
            raise ApiError(400, "Invalid parameter value: sessionData")
        data = {key: str(value) for key, value in objects[0].items()}
        unknown = sorted(set(data) - KNOWN)
        if unknown:
            raise ApiError(400, f"Invalid parameter {unknown[0]}")
        return data

    def _validate(self, data: dict[str, str]) -> None:
        for name in REQUIRED:
            if not data.get(name, "").strip():
                raise ApiError(400, f"Input parameter {name} is missing")
        if data["type"] not in ("0", "1"):
            raise ApiError(400, f"Invalid parameter value for type: {data['type']}")
        try:
            if not re.fullmatch(r"\d\d-\d\d-\d{4}", data["date"]):
                raise ValueError
            datetime.strptime(data["date"], "%d-%m-%Y")
        except ValueError:
            raise ApiError(400, f"Invalid parameter value for date: {data['date']}") from None
        for name in ("startTime", "endTime"):
            if not _TIME.match(data[name]):
                raise ApiError(400, f"Invalid parameter value for {name}: {data[name]}")
        if _minutes(data["endTime"]) <= _minutes(data["startTime"]):
            raise ApiError(400, "End time should be after the start time")
        if self.trainers is not None and data["trainerErecno"] not in self.trainers:
            raise ApiError(400, f"Invalid trainer erecno {data['trainerErecno']}")
        if len(data["name"]) > 100:
            raise ApiError(422, "Maximum limit exceeded for name")

    def handle(self, entry: LoggedRequest, content_type: str) -> tuple[int, dict] | None:
        """The answer (status, JSON) to a request; None to drop the connection."""
        with self._lock:
            if entry.path == "/oauth/v2/token" and entry.method == "POST":
                form = (
                    parse_qs(entry.body)
                    if content_type.startswith("application/x-www-form")
                    else {}
                )
                form = {**entry.query, **form}
                return self._token(form)
            match = _SESSIONS.match(entry.path)
            if match is None:
                return 404, {"code": 404, "message": "Not found"}
            refused = self._admit(entry)
            if refused is not None:
                return refused
            course, batch, module, session_id = match.group("course", "batch", "module", "session")
            try:
                if self.modules is not None and (course, batch, module) not in self.modules:
                    raise ApiError(404, "Module not found")
                if entry.method == "GET" and session_id is None:
                    ids = [
                        sid
                        for sid, stored in self.sessions.items()
                        if (stored["courseId"], stored["batchId"], stored["moduleId"])
                        == (course, batch, module)
                    ]
                    return 200, {
                        "code": 200,
                        "sessions": [self._session_answer(sid) for sid in ids],
                        "message": "success",
                    }
                if entry.method == "POST" and session_id is None:
                    data = self._session_data(entry, content_type)
                    self._validate(data)
                    session_id = self._store(course, batch, module, data)
                    if self._drop_creates:
                        self._drop_creates -= 1
                        return None
                    return 200, {
                        "code": 200,
                        "session": self._session_answer(session_id),
                        "message": "success",
                    }
                if entry.method == "PATCH" and session_id is not None:
                    stored = self.sessions.get(session_id)
                    if stored is None or stored["moduleId"] != module:
                        raise ApiError(404, "Session not found")
                    data = self._session_data(entry, content_type)
                    merged = {key: stored[key] for key in KNOWN if key in stored} | data
                    self._validate(merged)
                    stored.update(data)
                    return 200, {
                        "code": 200,
                        "session": self._session_answer(session_id),
                        "message": "success",
                    }
                raise ApiError(404, "Not found")
            except ApiError as error:
                return error.status, {"code": error.status, "message": error.message}


class _Handler(BaseHTTPRequestHandler):
    emulator: ZohoEmulator

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        received = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8") if length else ""
        parts = urlsplit(self.path)
        entry = LoggedRequest(
            time=received,
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        answer = self.emulator.handle(entry, self.headers.get("Content-Type", ""))
        delay = self.emulator.take_delay(entry)
        if delay:
            time.sleep(delay)
        with self.emulator._lock:
            self.emulator.log.append(entry)
        if answer is None:
            entry.dropped = True
            self.close_connection = True
            return
        status, payload = answer
        text = json.dumps(payload).encode("utf-8")
        entry.status = status
        entry.answer = text.decode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PATCH = _serve
