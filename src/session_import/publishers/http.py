"""What every hosted-LMS client shares: its secrets kept out of sight, waits that never
end past the publish deadline, and a failed call said in a few words."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from session_import.publishers.contract import Delivery


class Secrets:
    """A client's credentials (and the token it is given); the repr shows none of them.

    ``redacted`` names the credentials that must never leave the client (all by default)."""

    def __init__(
        self, service: str, credentials: Mapping[str, str], redacted: Sequence[str] | None = None
    ) -> None:
        self._service = service
        self._values = dict(credentials)
        self._redacted = tuple(self._values if redacted is None else redacted)
        self.token: str | None = None

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __repr__(self) -> str:
        return f"<{self._service} credentials: hidden>"

    def redact(self, text: str) -> str:
        """``text`` with the token and the redacted credentials replaced by ``***``: a second
        line of defence behind messages built from fixed texts."""
        for secret in (self.token, *(self._values[name] for name in self._redacted)):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***")
        return text


def past_deadline(delivery: Delivery, clock: Callable[[], float], after: float = 0.0) -> bool:
    """Whether ``after`` seconds from now lie past the delivery's deadline."""
    return delivery.deadline is not None and clock() + after > delivery.deadline


def wait_within_deadline(
    delivery: Delivery,
    seconds: float,
    reason: str,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> bool:
    """Wait ``seconds`` (shown on a terminal with ``reason``); False, without waiting, when
    the wait would end past the delivery's deadline."""
    if past_deadline(delivery, clock, after=seconds):
        return False
    if delivery.on_wait is not None:
        delivery.on_wait(reason, seconds)
    sleep(seconds)
    return True


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (arguments, ``reason``, causes, contexts), breadth first."""
    chain: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(chain) < 20:
        current = todo.pop(0)
        chain.append(current)
        todo.extend(arg for arg in current.args if isinstance(arg, BaseException))
        for linked in (getattr(current, "reason", None), current.__cause__, current.__context__):
            if isinstance(linked, BaseException) and linked not in chain:
                todo.append(linked)
    return chain


def network_problem(exc: BaseException) -> str:
    """What went wrong on the network, in a few words: a timeout is said to be one, however
    deep requests and urllib3's retries wrapped it ("connection failed" only when nothing
    better is known)."""
    import http.client  # noqa: PLC0415 - only when a call failed

    import requests  # noqa: PLC0415
    from urllib3 import exceptions as lower  # noqa: PLC0415

    chain = _causes(exc)

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
    if found(
        lower.ProtocolError,
        ConnectionResetError,
        ConnectionAbortedError,
        http.client.RemoteDisconnected,
    ):
        return "connection lost"
    return "connection failed"
