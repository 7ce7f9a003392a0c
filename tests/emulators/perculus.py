"""A Perculus API on loopback, following the documented contract
(../shared/reference/perculus-session-batch-upsert.md, Perculus' error codes and
session search page):

- ``POST /auth/connect/token``: form ``username``/``password``/``account_id``/
  ``client_id=api``/``grant_type=password``; 400 ``invalid_grant`` otherwise.
- ``POST /xapi/v2/session/batch``: a JSON array; an item without
  ``session_guid`` creates, with one updates; answer ``{"approved": [...],
  "rejected": [{"model": ..., "state": {"code", "details"}}]}`` with 200 (all
  approved), 207 (some rejected) or 400 (all rejected).  Code 30
  ``session_not_found`` for an unknown GUID, code 12 (validation error)
  ``["Invalid session start date."]`` for a start in the past by the emulator's
  own clock, ``["Invalid session duration."]`` outside 5..360 minutes.
- ``POST /xapi/v2/session/search``: name (contains, case-insensitive),
  ``begin_date``/``end_date`` (inclusive, on the session's local start date),
  ``page_number``/``page_size``; answers a JSON array.
- ``DELETE /xapi/session/{guid}``: 204, or 404 code 30.

Every request is logged whole (headers and body: tests look for secrets), the
sessions are a plain dict, and fault switches make the next requests fail.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from emulators.loopback import LoopbackServer

ACCESS_KEY = "emulator-access-key"
SECRET_KEY = "emulator-secret-key"
ACCOUNT_ID = "1329"
ACCOUNT_TIMEZONE = "Europe/Istanbul"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def json(self) -> object:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.text, keep_blank_values=True).items()}


@dataclass
class _Fault:
    kind: str  # "status", "slow", "drop", "hold"
    count: int
    path: str | None
    status: int = 503
    seconds: float = 0.0
    release: threading.Event | None = None  # "hold": answered once it is set


@dataclass
class PerculusEmulator:
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    account_id: str = ACCOUNT_ID
    # the emulator's clock: a start before it is "in the past"
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=timezone.utc))
    requests: list[RecordedRequest] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    faults: list[_Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._release = threading.Event()  # ends slow answers early at stop()
        self._server: LoopbackServer | None = None

    # -- life ----------------------------------------------------------------------

    def start(self) -> PerculusEmulator:
        self._server = LoopbackServer(_Handler, self)
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.url

    # -- switches ------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 503, path: str | None = None) -> None:
        """The next ``count`` requests (to ``path`` if given) answer ``status``
        without doing anything."""
        with self._lock:
            self.faults.append(_Fault("status", count, path, status=status))

    def slow_next(self, count: int, seconds: float, path: str | None = None) -> None:
        """The next ``count`` requests are applied, then answered ``seconds`` late."""
        with self._lock:
            self.faults.append(_Fault("slow", count, path, seconds=seconds))

    def hold_next(self, count: int, path: str | None = None) -> threading.Event:
        """The next ``count`` requests are applied, then answered only once the returned
        event is set (or the emulator stops): a client caught waiting, for as long as a
        test needs, whatever the machine's load."""
        release = threading.Event()
        with self._lock:
            self.faults.append(_Fault("hold", count, path, release=release))
        return release

    def drop_next(self, count: int, path: str | None = None) -> None:
        """The next ``count`` requests are applied, then the connection is closed
        without an answer."""
        with self._lock:
            self.faults.append(_Fault("drop", count, path))

    def revoke_tokens(self) -> None:
        """Every token given so far expires: the next call gets 401."""
        with self._lock:
            self.tokens.clear()

    def add_session(self, name: str, start_date: str, duration: int = 60, **fields: object) -> str:
        guid = str(uuid.uuid4()).upper()
        with self._lock:
            self.sessions[guid] = _session(
                guid, {"name": name, "start_date": start_date, "duration": duration, **fields}
            )
        return guid

    # -- reading the log -----------------------------------------------------------

    def calls(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path_prefix) and (method is None or r.method == method)
        ]

    # -- the API -------------------------------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and (fault.path is None or path.startswith(fault.path)):
                    fault.count -= 1
                    return fault
        return None

    def _authorized(self, headers: dict[str, str]) -> bool:
        value = headers.get("Authorization", "")
        return value.startswith("Bearer ") and value[len("Bearer ") :] in self.tokens

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, object]:
        with self._lock:
            if method == "POST" and path == "/auth/connect/token":
                return self._token(body)
            if not self._authorized(headers):
                return 401, {"code": 14, "details": "Unauthorized"}
            if method == "POST" and path == "/xapi/v2/session/batch":
                return self._batch(body)
            if method == "POST" and path == "/xapi/v2/session/search":
                return self._search(body)
            if method == "DELETE" and path.startswith("/xapi/session/"):
                guid = path[len("/xapi/session/") :].upper()
                if guid not in self.sessions:
                    return 404, {"code": 30, "details": "session_not_found"}
                del self.sessions[guid]
                return 204, None
            return 404, {"code": 19, "details": "BadRequest"}

    def _token(self, body: bytes) -> tuple[int, object]:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        expected = {
            "username": self.access_key,
            "password": self.secret_key,
            "account_id": self.account_id,
            "client_id": "api",
            "grant_type": "password",
        }
        if any(form.get(k) != v for k, v in expected.items()):
            return 400, {"error": "invalid_grant"}
        token = uuid.uuid4().hex
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"}

    def _batch(self, body: bytes) -> tuple[int, object]:
        try:
            items = json.loads(body)
        except ValueError:
            return 400, {"code": 19, "details": "BadRequest"}
        if not isinstance(items, list):
            return 400, {"code": 19, "details": "BadRequest"}
        approved: list[dict] = []
        rejected: list[dict] = []
        for item in items:
            guid = item.get("session_guid")
            if guid:
                guid = str(guid).upper()
                if guid not in self.sessions:
                    model = {
                        "session_id": 0,
                        "the_guid": guid,
                        "name": None,
                        **{k: v for k, v in item.items() if k != "session_guid"},
                    }
                    rejected.append(
                        {"model": model, "state": {"code": 30, "details": "session_not_found"}}
                    )
                    continue
                errors = self._problems(item, creating=False)
                if errors:
                    model = {"session_id": 0, "the_guid": guid, **item}
                    rejected.append({"model": model, "state": {"code": 12, "details": errors}})
                    continue
                session = self.sessions[guid]
                session.update({k: v for k, v in item.items() if k != "session_guid"})
                approved.append(_rendered(session))
            else:
                errors = self._problems(item, creating=True)
                if errors:
                    model = {
                        "session_guid": None,
                        **item,
                        "start_date": _echo_date(item.get("start_date")),
                    }
                    rejected.append({"model": model, "state": {"code": 12, "details": errors}})
                    continue
                guid = str(uuid.uuid4()).upper()
                self.sessions[guid] = _session(guid, item)
                approved.append(_rendered(self.sessions[guid]))
        status = 200 if not rejected else 400 if not approved else 207
        return status, {"approved": approved, "rejected": rejected}

    def _problems(self, item: dict, *, creating: bool) -> list[str]:
        problems = []
        if creating and not item.get("name"):
            problems.append("Session name is required.")
        if creating or "start_date" in item:
            start = _instant(item.get("start_date"))
            if start is None or start <= self.now:
                problems.append("Invalid session start date.")
        if creating or "duration" in item:
            duration = item.get("duration")
            if not isinstance(duration, int) or not 5 <= duration <= 360:
                problems.append("Invalid session duration.")
        return problems

    def _search(self, body: bytes) -> tuple[int, object]:
        query = json.loads(body or b"{}")
        name = str(query.get("name") or "").strip().lower()
        begin = date.fromisoformat(query["begin_date"]) if query.get("begin_date") else None
        end = date.fromisoformat(query["end_date"]) if query.get("end_date") else None
        page_number = int(query.get("page_number") or 1)
        page_size = int(query.get("page_size") or 10)
        found = []
        for session in self.sessions.values():
            if name and name not in str(session.get("name") or "").lower():
                continue
            local_day = (
                _instant(session["start_date"]).astimezone(ZoneInfo(session["timezone"])).date()
            )
            if (begin and local_day < begin) or (end and local_day > end):
                continue
            found.append(_rendered(session))
        first = (page_number - 1) * page_size
        return 200, found[first : first + page_size]


class _Handler(BaseHTTPRequestHandler):
    emulator: PerculusEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        emulator = self.emulator
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urlsplit(self.path).path
        headers = {k: v for k, v in self.headers.items()}
        with emulator._lock:
            emulator.requests.append(RecordedRequest(self.command, path, headers, body))
        fault = emulator._take_fault(path)
        if fault is not None and fault.kind == "status":
            self._answer(fault.status, {"code": 11, "details": "Server Error"})
            return
        status, answer = emulator.handle(self.command, path, headers, body)
        if fault is not None and fault.kind == "drop":
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault is not None and fault.kind == "slow":
            emulator._release.wait(fault.seconds)
        if fault is not None and fault.kind == "hold":
            while not (fault.release.wait(0.05) or emulator._release.is_set()):
                pass
        try:
            self._answer(status, answer)
        except OSError:  # the client gave up waiting
            self.close_connection = True

    def _answer(self, status: int, answer: object) -> None:
        payload = b"" if answer is None else json.dumps(answer).encode()
        self.send_response(status)
        if answer is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        self.wfile.flush()


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _echo_date(value: object) -> object:
    parsed = _instant(value)
    return parsed.isoformat() if parsed else value


def _session(guid: str, item: dict) -> dict:
    session = {
        "session_guid": guid,
        "name": None,
        "description": None,
        "tags": None,
        "start_date": None,
        "timezone": ACCOUNT_TIMEZONE,
        "duration": None,
        "lang": "tr-TR",
        "status": 1,
        "replay_status": 0,
    }
    session.update({k: v for k, v in item.items() if k != "session_guid"})
    return session


def _rendered(session: dict) -> dict:
    """As Perculus answers it: the start in the session's own time zone."""
    shown = dict(session)
    start = _instant(session.get("start_date"))
    if start is not None:
        shown["start_date"] = start.astimezone(ZoneInfo(session["timezone"])).isoformat()
    return shown


@pytest.fixture
def perculus_emulator():
    emulator = PerculusEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()
