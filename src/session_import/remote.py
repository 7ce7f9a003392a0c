"""What the outbox hands to a hosted-LMS client, and what the client hands back.

The store's outbox (publishing.py) owns ordering, persistence and retries across
runs; a client only turns queued changes into HTTP calls and reports, change by
change, what became of each one.  Clients never touch the store.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
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
class Change:
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
class Outcome:
    change_id: int
    state: OutcomeState
    remote_id: str | None = None
    # rejected: the row's message; pending: why it is still queued;
    # skipped: None, or a warning for the row (e.g. Zoho cannot delete)
    message: str | None = None
    warning: bool = False


def network_problem(exc: BaseException) -> str:
    """What went wrong on the network, in a few words: a timeout is said to be one, however
    deep requests and urllib3's retries wrapped it ("connection failed" only when nothing
    better is known)."""
    import http.client  # noqa: PLC0415 - only when a call failed

    import requests  # noqa: PLC0415
    from urllib3 import exceptions as lower  # noqa: PLC0415

    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 20:
        current = todo.pop(0)
        chain.append(current)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException) and linked not in chain:
                todo.append(linked)

    def found(*kinds: type[BaseException]) -> BaseException | None:
        return next((e for e in chain if isinstance(e, kinds)), None)

    if found(lower.NameResolutionError):
        return "host name not found"
    refused = found(lower.NewConnectionError, ConnectionRefusedError)
    if refused is not None:
        return "connection refused" if "refused" in str(refused).lower() else "connection failed"
    if found(requests.ConnectTimeout, lower.ConnectTimeoutError):
        return "connect timeout"
    if found(requests.ReadTimeout, lower.ReadTimeoutError, TimeoutError):
        return "read timeout"
    if found(requests.exceptions.SSLError, lower.SSLError):
        return "TLS error"
    if found(lower.ProtocolError, ConnectionResetError, ConnectionAbortedError,
             http.client.RemoteDisconnected):
        return "connection lost"
    return "connection failed"


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

    changes: Sequence[Change]
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
    extra: Mapping[str, object] = field(default_factory=dict)


class Client(Protocol):
    name: str  # the key in reports and exports: "perculus", "zoho"

    def deliver(self, delivery: Delivery) -> Iterator[Outcome]:
        """Yield one Outcome per change of the delivery, as soon as it is known.
        Raise CredentialsError when the service refuses the credentials."""
        ...
