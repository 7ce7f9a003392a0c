"""A rate limit shared by every worker of a PostgreSQL store: Zoho's ``maxRequests`` calls
in any window holds whatever the number of hosts publishing at once.

Each call is reserved in the store before it is sent, in one short transaction under an
advisory lock: count the calls of the window, and record this one if there is room. Times
are the server's clock, the one clock every host shares.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Any

import psycopg

from session_import.store.postgres.lock import key


class SharedPacer:
    """The client's pacer, but counted in the store: ``wait_needed`` returning 0 has
    already recorded the call (the client sends at once); ``record`` adds nothing."""

    def __init__(
        self,
        conn: psycopg.Connection,
        publisher: str,
        max_requests: int,
        span: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.conn: Any = conn  # rows are tuples whose columns the SQL says
        self.publisher = publisher
        self.max_requests = max_requests
        self.span = span
        self.clock = clock
        self.sent: deque[float] = deque()  # kept empty: the store holds the calls

    def wait_needed(self) -> float:
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (key("pace", self.publisher),))
            (now,) = self.conn.execute(
                "SELECT extract(epoch FROM clock_timestamp())::float8"
            ).fetchone()
            window = [
                at
                for (at,) in self.conn.execute(
                    "SELECT at FROM remote_calls WHERE publisher = %s AND at > %s ORDER BY at",
                    (self.publisher, now - self.span),
                )
            ]
            if len(window) >= self.max_requests:
                return max(window[-self.max_requests] + self.span - now, 0.001)
            self.conn.execute(
                "INSERT INTO remote_calls (publisher, at) VALUES (%s, %s)", (self.publisher, now)
            )
        return 0.0

    def record(self) -> None:
        """Recorded by ``wait_needed`` already."""
