"""A real SMTP server on loopback (aiosmtpd), for every test that sends an e-mail report."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses the addresses it is told to."""

    def __init__(self, refuse: tuple[str, ...] = ()):
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        self.recipients.append(list(envelope.rcpt_tos))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SmtpServer:
    inbox: Inbox
    port: int
    logins: list[tuple[str, str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_FROM": "imports@example.org",
        }


@pytest.fixture
def smtp_server():
    """Start servers on free ports: ``smtp_server(accept_login=None|True|False, **aiosmtpd options)``."""
    started: list[Controller] = []

    def start(
        *, refuse: tuple[str, ...] = (), accept_login: bool | None = None, **kwargs
    ) -> SmtpServer:
        server = SmtpServer(Inbox(refuse), free_port())
        if accept_login is not None:

            def authenticate(smtp, session, envelope, mechanism, auth_data):
                if isinstance(auth_data, LoginPassword):
                    server.logins.append((auth_data.login.decode(), auth_data.password.decode()))
                return AuthResult(success=accept_login, handled=False)

            kwargs["authenticator"] = authenticate
        controller = Controller(
            server.inbox, hostname="127.0.0.1", port=server.port, ready_timeout=5, **kwargs
        )
        controller.start()
        started.append(controller)
        return server

    yield start
    for controller in started:
        controller.stop()
