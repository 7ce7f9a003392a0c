"""What the outbox hands to a hosted-LMS client, and what the client hands back.

The store's outbox (publishers.outbox) owns ordering, persistence and retries across
runs; a client only turns queued changes into HTTP calls and reports, change by
change, what became of each one.  Clients never touch the store.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from session_import.errors import ExitCode, SessionImportError

ChangeKind = Literal["create", "update", "cancel"]
OutcomeState = Literal["published", "rejected", "pending", "skipped"]


@dataclass(frozen=True)
class SessionData:
    """A session as the remote systems see it: the local values after the change
    (for a cancel, the values the session had)."""

    guid: str
    title: str
    start: str | None  # ISO local time of the file: 'YYYY-MM-DD' or 'YYYY-MM-DDTHH:MM:SS'
    end: str | None
    training_path_code: str
    training_title: str
    training_locale: str | None
    training_modality: str
    teacher_ref_number: str | None


@dataclass(frozen=True)
class RemoteChange:
    """One queued change of a session, as a client delivers it."""

    id: int  # outbox id: file order within an import
    kind: ChangeKind
    session: SessionData
    # for an update: the SessionData field names whose value changed
    changed: frozenset[str] = frozenset()
    # the session's id on this remote system, when its create was delivered
    remote_id: str | None = None
    # a create that was sent before without a readable answer (timeout, reset,
    # killed run): look it up on the remote system before sending it again
    attempted: bool = False
    line: int | None = None


@dataclass(frozen=True)
class DeliveryOutcome:
    """What became of one RemoteChange on the remote system."""

    change_id: int
    state: OutcomeState
    remote_id: str | None = None
    # rejected: the row's message; pending: why it is still queued;
    # skipped: None, or a warning for the row (e.g. Zoho cannot delete)
    message: str | None = None
    warning: bool = False


class CredentialsError(SessionImportError):
    """Credentials missing (a configuration error, exit 4) or refused by the
    service (everything stays queued, exit 6).  The message names no secret."""

    exit_code = ExitCode.PUBLISH_PENDING

    def __init__(self, message: str, *, missing: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing


@dataclass
class Delivery:
    """Arguments of one delivery: the changes whose turn it is, in outbox order,
    and the hooks the outbox needs for crash safety."""

    changes: Sequence[RemoteChange]
    # called with the ids of creates just before the request that carries them
    # goes out; the outbox commits them as attempted, so a crash or a lost answer
    # leads to a look-up, never to a twin
    before_send: Callable[[Sequence[int]], None] = lambda ids: None
    # monotonic time after which nothing new is sent (--publish-timeout)
    deadline: float | None = None
    # shows a wait (rate limit, lock) on a terminal; None when there is none
    on_wait: Callable[[str, float], None] | None = None
    # True when a remote id found by a look-up already belongs to another local session
    # than the change's: a look-up never hands one remote session to two local ones
    taken: Callable[[str, int], bool] = lambda remote_id, change_id: False


class CallPacer(Protocol):
    """The send times a client paces its calls by, kept across commands by the outbox: a
    service's rate limit is the service's, not one command's."""

    span: float  # seconds a sent call counts against the limit
    sent: deque[float]  # when the calls of the current span were sent, on ``clock``, oldest first

    def clock(self) -> float: ...


class Client(Protocol):
    name: str  # the key in reports and exports: "perculus", "zoho"

    @property
    def pacer(self) -> CallPacer | None:
        """The client's pacing of its calls, or None when it does not pace them."""
        ...

    def deliver(self, delivery: Delivery) -> Iterator[DeliveryOutcome]:
        """Yield one DeliveryOutcome per change of the delivery, as soon as it is known.
        Raise CredentialsError when the service refuses the credentials."""
        ...

    def close(self) -> None: ...
