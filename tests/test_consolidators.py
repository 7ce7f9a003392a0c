"""Consolidators through `session-import run`, with a real SMTP server on 127.0.0.1."""

from __future__ import annotations

import email
import errno
import json
import os
import socket
import ssl
import subprocess
import threading
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import rows

SENTINEL = "S3ntinel-pa55"


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True,
    )
    return cert, key


def start_server(monkeypatch, inbox, **kwargs) -> Controller:
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(port))
    monkeypatch.setenv("SMTP_FROM", "imports@example.org")
    return controller


CONFIG = """
<import-config><import id="nightly">
  <providers><fileSystemSourceProvider><fileName>sessions_*.csv</fileName><path>drop</path></fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/><sessionStatus/><sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators>
    {consolidators}
  </consolidators>
</import></import-config>
"""

ALL = """
    <deleteProcessedFilesConsolidator/>
    <emailReport><targetEmail>admin@example.org</targetEmail><targetEmail>ops@example.org</targetEmail></emailReport>
    <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>yes</timestamp></moveToBackupConsolidator>
    <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
"""


@pytest.fixture
def nightly(ws):
    ws.seed()
    ws.write("drop/sessions_1.csv", rows(
        "M;TP-001;Paris;;;open;2026-12-01;;jdupont;;",
        "M;TP-001;=Bad;;;open;;;nobody;;",
    ))
    return ws


def configure(ws, consolidators: str) -> Path:
    return ws.write("nightly.xml", CONFIG.format(consolidators=consolidators))


def test_all_consolidators_in_crossknowledge_order(nightly, monkeypatch):
    inbox = Inbox()
    server = start_server(monkeypatch, inbox)
    try:
        result = nightly.run("run", "--report", nightly.root / "r.json", configure(nightly, ALL))
    finally:
        server.stop()
    assert result.exit_code == 1, result.stderr
    (log,) = (nightly.root / "logs").iterdir()
    assert log.name.endswith("_sessions_1.csv.log")
    assert log.read_text() == (
        "Line number:3,ERROR,M,TP-001,=Bad,,,open,,,nobody,,,Teacher with login nobody is not found.\n"
    )
    (backup,) = (nightly.root / "backup").iterdir()
    assert backup.name.endswith("_sessions_1.csv") and len(backup.name) > len("sessions_1.csv")
    assert not (nightly.root / "drop" / "sessions_1.csv").exists()  # moved, so nothing left to delete
    (message,) = inbox.messages
    assert message["To"] == "admin@example.org, ops@example.org"
    assert message["Subject"] == "session-import: nightly sessions_1.csv: 2 rows, 1 rejected"
    text = message.get_body(("plain",)).get_content()
    assert "1 created" in text and "line 3: Teacher with login nobody is not found." in text
    page = message.get_body(("html",)).get_content()
    assert "<td>3</td><td>Teacher with login nobody is not found.</td>" in page
    (attachment,) = list(message.iter_attachments())
    lines = attachment.get_content().splitlines()
    assert lines[0].endswith(";errors")
    assert lines[1] == "M;TP-001;'=Bad;;;open;;;nobody;;;Teacher with login nobody is not found."
    report = json.loads((nightly.root / "r.json").read_text())
    assert report["files"][0]["email"] == {"sent": True, "error": None}
    assert report["consolidators"] == []


def test_delete_processed_file_and_disabled_consolidators(nightly):
    config = configure(nightly, """
        <deleteProcessedFilesConsolidator/>
        <moveToBackupConsolidator><backupFolder>backup</backupFolder><disabled>yes</disabled></moveToBackupConsolidator>
    """)
    assert nightly.run("run", config).exit_code == 1
    assert not (nightly.root / "drop" / "sessions_1.csv").exists()
    assert not (nightly.root / "backup").exists()


def test_a_file_that_failed_as_a_whole_is_never_moved_or_deleted(nightly):
    bad = nightly.write("drop/sessions_2.csv", "sessionAction;teacherLogin\nM;jdupont\n")
    config = configure(nightly, ALL.replace("<emailReport>", "<emailReport><disabled>yes</disabled>"))
    result = nightly.run("run", config)
    assert result.exit_code == 3
    assert bad.exists()
    assert not (nightly.root / "drop" / "sessions_1.csv").exists()  # the good one was moved
    logs = sorted(p.name for p in (nightly.root / "logs").iterdir())
    assert len(logs) == 2
    failed_log = next(p for p in (nightly.root / "logs").iterdir() if "sessions_2" in p.name)
    assert failed_log.read_text() == (
        f"Line number:1,ERROR,{bad}:1: Mandatory column sessionTitle is missing from the header.\n"
    )


def test_move_across_file_systems_copies_then_deletes(nightly, monkeypatch):
    real_replace = os.replace
    data = nightly.root / "drop" / "sessions_1.csv"
    original = data.read_bytes()

    def replace(src, dst, *args, **kwargs):
        if Path(src) == data:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    config = configure(nightly, "<moveToBackupConsolidator><backupFolder>backup</backupFolder></moveToBackupConsolidator>")
    result = nightly.run("run", config)
    assert result.exit_code == 1, result.stderr
    assert (nightly.root / "backup" / "sessions_1.csv").read_bytes() == original
    assert not data.exists()
    assert [p.name for p in (nightly.root / "backup").iterdir()] == ["sessions_1.csv"]  # no temporary left


def test_consolidator_failures_are_reported_without_changing_the_exit_code(nightly):
    nightly.write("not-a-folder", "x")
    config = configure(nightly, """
        <timeStampedFileErrorLogger><location>not-a-folder/logs</location></timeStampedFileErrorLogger>
        <moveToBackupConsolidator><backupFolder>not-a-folder/backup</backupFolder></moveToBackupConsolidator>
    """)
    result = nightly.run("run", "--report", nightly.root / "r.json", config)
    assert result.exit_code == 1
    logs = nightly.root / "not-a-folder" / "logs"
    backup = nightly.root / "not-a-folder" / "backup"
    assert f"The {logs} directory can not be found nor created." in result.stderr
    assert f"The backup folder {backup} does not exists or can not be created." in result.stderr
    data = nightly.root / "drop" / "sessions_1.csv"
    assert json.loads((nightly.root / "r.json").read_text())["consolidators"] == [
        {"name": "timeStampedFileErrorLogger", "file": str(data),
         "error": f"The {logs} directory can not be found nor created."},
        {"name": "moveToBackupConsolidator", "file": str(data),
         "error": f"The backup folder {backup} does not exists or can not be created."},
    ]
    assert data.exists()


def test_dry_run_runs_no_consolidator(nightly):
    assert nightly.run("run", "--dry-run", configure(nightly, ALL)).exit_code == 1
    assert (nightly.root / "drop" / "sessions_1.csv").exists()
    assert not (nightly.root / "logs").exists()


EMAIL_ONLY = "<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>"


def test_starttls_with_a_trusted_certificate(nightly, monkeypatch, certificate):
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    inbox = Inbox()
    server = start_server(monkeypatch, inbox, tls_context=server_context, require_starttls=True)
    monkeypatch.setenv("SMTP_STARTTLS", "yes")
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        assert nightly.run("run", configure(nightly, EMAIL_ONLY)).exit_code == 1
        assert len(inbox.messages) == 1
        # the same server, not trusted: the certificate check refuses it
        monkeypatch.delenv("SSL_CERT_FILE")
        result = nightly.run("run", "--force", "--report", nightly.root / "r.json", configure(nightly, EMAIL_ONLY))
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "the e-mail report was not sent" in result.stderr and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    assert len(inbox.messages) == 1
    assert json.loads((nightly.root / "r.json").read_text())["files"][0]["email"]["sent"] is False


def test_refused_login_is_reported_and_the_password_appears_nowhere(nightly, monkeypatch):
    def refuse(server, session, envelope, mechanism, auth_data):
        return AuthResult(success=False, handled=False)

    inbox = Inbox()
    server = start_server(monkeypatch, inbox, authenticator=refuse, auth_require_tls=False)
    monkeypatch.setenv("SMTP_USER", "importer")
    monkeypatch.setenv("SMTP_PASSWORD", SENTINEL)
    config = configure(nightly, EMAIL_ONLY + "<timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>")
    try:
        result = nightly.run("run", "--report", nightly.root / "r.json", "--rejects", nightly.root / "rej.csv", config)
    finally:
        server.stop()
    assert result.exit_code == 1
    assert "refused the login of importer" in result.stderr
    assert inbox.messages == []
    everything = [result.stdout, result.stderr, (nightly.root / "r.json").read_text(),
                  (nightly.root / "rej.csv").read_text()]
    everything += [p.read_text() for p in (nightly.root / "logs").iterdir()]
    everything += [str(row) for row in nightly.query("SELECT * FROM runs")]
    everything += [str(row) for row in nightly.query("SELECT * FROM journal")]
    everything.append(nightly.db.read_bytes().decode("latin-1"))
    assert not any(SENTINEL in text for text in everything)


def test_a_dropped_connection_is_reported(nightly, monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(10)

    def accept_and_drop():
        try:
            conn, _ = listener.accept()
            conn.close()
        except OSError:
            pass

    thread = threading.Thread(target=accept_and_drop, daemon=True)
    thread.start()
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(listener.getsockname()[1]))
    try:
        result = nightly.run("run", configure(nightly, EMAIL_ONLY))
    finally:
        thread.join(timeout=10)
        listener.close()
    assert result.exit_code == 1
    assert "the e-mail report was not sent: the e-mail could not be sent through 127.0.0.1:" in result.stderr
