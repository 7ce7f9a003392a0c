"""Heartbeats for a monitoring service, in the healthchecks.io convention (Cronitor and
others accept it): ``URL/start`` when a command starts, ``URL/<exit code>`` when it ends,
the end carrying the plain-text summary (at most 100 kB) as its body.

A ping is a side channel: short timeouts, a few tries, and a ping that fails is told
on stderr but never changes the exit code. The URL holds the check's secret key, so it
is never shown in full: messages name the service's host only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from urllib.parse import urlsplit

import requests

from session_import import __version__

BODY_LIMIT = 100_000  # bytes: what healthchecks.io keeps of a ping's body
TIMEOUT = (3.05, 5.0)  # seconds to connect, seconds to read
TRIES = 3
BACKOFF = 0.5  # seconds before the second try, doubled for the next


class HeartbeatMsg(StrEnum):
    FAILED = "The heartbeat {what} to {where} failed: {reason}; the exit code is unchanged."
    TRUNCATED = "\n[... truncated: the summary is longer than 100 kB]\n"


def redact(url: str) -> str:
    """The URL without what identifies the check: ``https://hc-ping.com/…``."""
    parts = urlsplit(url)
    host = parts.hostname or "the ping URL"
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}/…" if parts.scheme else host


def _body(text: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) <= BODY_LIMIT:
        return data
    marker = HeartbeatMsg.TRUNCATED.encode()
    return data[: BODY_LIMIT - len(marker)].decode("utf-8", "ignore").encode() + marker


class Heartbeat:
    def __init__(
        self,
        url: str,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.url = url.rstrip("/")
        self.session = session or requests.Session()
        self.sleep = sleep

    def start(self) -> str | None:
        """Ping ``URL/start``; a message when it failed."""
        return self._ping("/start", b"", "start ping")

    def finish(self, exit_code: int, summary: str) -> str | None:
        """Ping ``URL/<exit code>`` with the summary; a message when it failed."""
        code = int(exit_code)
        return self._ping(f"/{code}", _body(summary), f"ping of exit code {code}")

    def close(self) -> None:
        self.session.close()

    def _ping(self, suffix: str, body: bytes, what: str) -> str | None:
        reason = "no answer"
        for attempt in range(TRIES):
            if attempt:
                self.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                answer = self.session.post(
                    self.url + suffix,
                    data=body,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                    headers={
                        "Content-Type": "text/plain; charset=utf-8",
                        "User-Agent": f"session-import/{__version__}",
                    },
                )
            except requests.Timeout:
                reason = f"no answer within {TIMEOUT[1]:g} s"
                continue
            except requests.ConnectionError:
                reason = "could not connect"
                continue
            except requests.RequestException as exc:
                # requests' own text names the URL: only the kind of failure is told
                reason = type(exc).__name__
                break
            if answer.status_code < 300:
                return None
            reason = f"HTTP {answer.status_code}"
            if answer.status_code < 500 and answer.status_code != 429:
                break  # a wrong URL stays wrong: no use trying again
        return HeartbeatMsg.FAILED.format(what=what, where=redact(self.url), reason=reason)
