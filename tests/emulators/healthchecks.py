"""A ping endpoint as healthchecks.io serves it: POST /<uuid>/start and /<uuid>/<exit code>,
answers "OK", keeps every ping (path and body); fault switches for failing answers."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler

from emulators.loopback import LoopbackServer


@dataclass
class Ping:
    method: str
    path: str
    body: bytes
    content_type: str | None


@dataclass
class PingService:
    check: str = "5f1c6a0e-8d2b-4f3a-9c1e-7b6d5a4c3b2a"  # the secret part of the URL
    pings: list[Ping] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before "OK"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self):
        self.server = LoopbackServer(_Handler, self)

    @property
    def url(self) -> str:
        return f"{self.server.url}/{self.check}"

    def paths(self) -> list[str]:
        return [p.path.removeprefix(f"/{self.check}") for p in self.pings]

    def stop(self) -> None:
        self.server.stop()


class _Handler(BaseHTTPRequestHandler):
    emulator: PingService

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        service = self.emulator
        with service.lock:
            service.pings.append(Ping("POST", self.path, body, self.headers.get("Content-Type")))
            status = service.fail_next.pop(0) if service.fail_next else 200
        known = self.path.startswith(f"/{service.check}")
        if not known:
            status = 404
        answer = b"OK" if status == 200 else b"not found" if status == 404 else b"error"
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
