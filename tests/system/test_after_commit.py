"""Work after a file's commit (issue 13.3): a run stopped once its file is committed says
so, writes its report with what is known, and leaves its consolidators due in the store;
the next `run` completes them.

Each fault is produced for real: a `session-import run` process stopped by SIGTERM
while Perculus (the loopback emulator) holds its answer, or killed by SIGKILL while an
SMTP server holds its greeting. (A full disk while recording deliveries is in
test_full_disk.py, on a real tmpfs.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import NIGHTLY_CONFIG, Workspace
from emulators.perculus import (
    ACCESS_KEY,
    ACCOUNT_ID,
    SECRET_KEY,
    PerculusEmulator,
    perculus_emulator,  # noqa: F401  (fixture)
)
from smtp import smtp_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow

HEADER = "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;sessionEndDate;teacherLogin"
NIGHT = (
    "\n".join(
        [
            HEADER,
            *(
                f"M;TP-001;Session {n};0{n}/03/2027 09:00;0{n}/03/2027 10:00;jdupont"
                for n in range(1, 5)
            ),
            "M;TP-001;Session 5;05/03/2027 09:00;05/03/2027 10:00;nobody",
        ]
    )
    + "\n"
)
PERCULUS = """      <perculusPublisher>
        <baseUrl>{url}</baseUrl><batchSize>100</batchSize><timezone>Europe/Paris</timezone>
        <defaultDuration>60</defaultDuration><timeout>30</timeout>
      </perculusPublisher>"""
LOG_AND_BACKUP = """<consolidators>
      <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
      <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>no</timestamp></moveToBackupConsolidator>
      {more}
    </consolidators>
    """
DUE = "timeStampedFileErrorLogger, moveToBackupConsolidator"
LOG_LINE = (
    "Line number:6,ERROR,M,TP-001,Session 5,05/03/2027 09:00,05/03/2027 10:00,nobody,"
    "Teacher with login nobody is not found.\n"
)


def nightly_config(ws: Workspace, url: str | None, more: str = "") -> Path:
    publishers = PERCULUS.format(url=url) if url else ""
    text = NIGHTLY_CONFIG.replace("{status}", "").replace("{publishers}", publishers)
    text = text.replace("<publishers>", LOG_AND_BACKUP.format(more=more) + "<publishers>")
    if not url:
        text = text.replace("<publishers>", "").replace("</publishers>", "")
    return ws.write("nightly.xml", text)


def start_run(ws: Workspace, config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "session_import", "run", "--db", str(ws.db), *args, str(config)]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ws.root,
        env=dict(os.environ, **(env or {})),
    )


def wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the run never reached {what}")
        time.sleep(0.02)


def due(ws: Workspace) -> list[tuple]:
    return ws.query("SELECT run_id, names, backup FROM consolidators_due ORDER BY run_id")


@pytest.fixture
def perculus_env(monkeypatch):
    monkeypatch.setenv("PERCULUS_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("PERCULUS_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PERCULUS_ACCOUNT_ID", ACCOUNT_ID)


def test_sigterm_while_publishing_says_what_was_committed_and_the_next_run_completes_it(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    """cron's `timeout` sends SIGTERM while Perculus is slow to answer."""
    ws.seed()
    config = nightly_config(ws, perculus_emulator.base_url)
    night = ws.write("night.csv", NIGHT)
    report_path = ws.root / "report.json"
    release = perculus_emulator.hold_next(1, path="/auth/connect/token")
    proc = start_run(ws, config, "--report", str(report_path))
    wait_until(lambda: perculus_emulator.calls("/auth/connect/token"), proc, "Perculus")
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    release.set()

    stopped = (
        f"Interrupted by SIGTERM after {night} was committed as run 4: 4 changes still to"
        " publish (the next run or publish delivers them); its consolidators"
        f" {DUE} are still due (the next run completes them)."
    )
    assert proc.returncode == 143, err
    assert stopped in err.splitlines()
    assert "rolled back" not in err and "Traceback" not in err
    assert f"{night}:6: Teacher with login nobody is not found." in err
    assert "4 created" in out  # the summary of what was committed
    report = json.loads(report_path.read_text())  # written with what is known
    assert report["exit_code"] == 143 and report["stopped"] == [stopped]
    assert report["files"][0]["counts"]["created"] == 4
    assert report["files"][0]["rejected"][0]["messages"] == [
        "Teacher with login nobody is not found."
    ]
    assert ws.query("SELECT count(*) FROM sessions") == [(4,)]
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(4,)]
    assert due(ws) == [(4, json.dumps(DUE.split(", ")), None)]
    assert night.exists() and not (ws.root / "logs").exists()  # nothing of the consolidators yet

    result = ws.run("run", config)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"File {night} was already imported by run 4 on ")
    assert (
        "; skipped (use --force to import it again). That run was stopped before its"
        f" consolidators: {DUE} ran now.\n"
    ) in result.stdout
    (log,) = (ws.root / "logs").iterdir()
    assert log.read_text() == LOG_LINE
    assert (ws.root / "backup" / "night.csv").read_text() == NIGHT and not night.exists()
    assert len(perculus_emulator.sessions) == 4  # the queue delivered by the same run
    assert due(ws) == []
    again = ws.run("run", config)
    assert again.exit_code == 0 and "No file matches night*.csv" in again.stdout
    assert "consolidators" not in again.stdout
    assert len(list((ws.root / "logs").iterdir())) == 1


@pytest.fixture
def silent_smtp():
    """A port that accepts SMTP connections and never greets: the client waits there."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        held.append(conn)
        accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    listener.close()
    for conn in held:
        conn.close()
    thread.join(timeout=5)


def test_a_kill_just_after_the_commit_leaves_the_consolidators_due_and_the_next_run_sends_the_mail(
    ws: Workspace, silent_smtp, smtp_server, monkeypatch
):  # noqa: F811
    """SIGKILL while the e-mail report waits for the SMTP server: the error log and the
    backup were done, the e-mail is due; the file is no longer in the drop folder, yet
    the next run sends that night's e-mail, once."""
    ws.seed()
    email = "<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>"
    config = nightly_config(ws, None, more=email)
    night = ws.write("night.csv", NIGHT)
    port, accepted = silent_smtp
    proc = start_run(ws, config, env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)})
    wait_until(accepted.is_set, proc, "the SMTP server")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)

    assert ws.query("SELECT count(*) FROM sessions") == [(4,)]  # committed
    (log,) = (ws.root / "logs").iterdir()
    assert log.read_text() == LOG_LINE
    assert (ws.root / "backup" / "night.csv").exists() and not night.exists()
    assert due(ws) == [(4, json.dumps(["emailReport"]), "moved")]

    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    result = ws.run("run", config)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        f"No file matches night*.csv in {ws.root}.\n"
        f"Run 4 ({night}) was stopped before its consolidators: emailReport ran now.\n"
    )
    (message,) = server.inbox.messages
    assert message["Subject"] == "session-import: nightly night.csv: 5 rows, 1 rejected"
    text = message.get_body(("plain",)).get_content()
    assert "Recorded as run 4" in text and "line 6: Teacher with login nobody is not found." in text
    (attachment,) = list(message.iter_attachments())
    assert (
        attachment.get_content()
        .splitlines()[1]
        .endswith(";nobody;Teacher with login nobody is not found.")
    )
    assert due(ws) == []
    assert ws.run("run", config).exit_code == 0
    assert len(server.inbox.messages) == 1  # sent once
    assert len(list((ws.root / "logs").iterdir())) == 1


def killed_while_mailing(ws: Workspace, config: Path, silent_smtp) -> None:
    port, accepted = silent_smtp
    proc = start_run(ws, config, env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)})
    wait_until(accepted.is_set, proc, "the SMTP server")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)


MAIL_AND_DELETE = (
    "<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>"
    "<deleteProcessedFilesConsolidator/>"
)


def log_mail_delete_config(ws: Workspace) -> Path:
    config = nightly_config(ws, None, more=MAIL_AND_DELETE)
    text = config.read_text().replace(
        "<moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>no</timestamp>"
        "</moveToBackupConsolidator>",
        "",
    )
    return ws.write("nightly.xml", text)


def test_a_dry_run_leaves_them_due_and_a_forced_import_stands_for_them(
    ws: Workspace, silent_smtp, smtp_server, monkeypatch
):  # noqa: F811
    ws.seed()
    config = log_mail_delete_config(ws)
    night = ws.write("night.csv", NIGHT)
    killed_while_mailing(ws, config, silent_smtp)
    names = "emailReport, deleteProcessedFilesConsolidator"
    assert due(ws) == [(4, json.dumps(names.split(", ")), None)]
    assert night.exists()

    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    dry = ws.run("run", "--dry-run", config)
    assert dry.exit_code == 0
    assert dry.stdout.endswith(
        "; skipped (use --force to import it again). That run was stopped before its"
        f" consolidators: {names} are still due; the next run that is not a dry run completes"
        " them.\n"
    )
    assert server.inbox.messages == [] and night.exists() and len(due(ws)) == 1

    forced = ws.run("run", "--force", config)  # run 6 (the skipped dry run is run 5)
    assert forced.exit_code == 1, forced.stderr
    assert due(ws) == []  # the earlier run's are superseded, not done twice
    (message,) = server.inbox.messages
    assert "Recorded as run 6" in message.get_body(("plain",)).get_content()
    assert not night.exists()


def test_a_file_replaced_since_is_never_deleted_for_the_earlier_run(
    ws: Workspace, silent_smtp, smtp_server, monkeypatch
):  # noqa: F811
    ws.seed()
    config = log_mail_delete_config(ws)
    night = ws.write("night.csv", NIGHT)
    killed_while_mailing(ws, config, silent_smtp)
    replaced = NIGHT.replace("Session 1;", "Session 1 bis;")
    night.write_text(replaced)  # the next night's file, under the same name

    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    other = ws.write(
        "other/extra.csv",
        "\n".join([HEADER, "M;TP-001;Extra;06/03/2027 09:00;06/03/2027 10:00;jdupont"]) + "\n",
    )
    result = ws.run("run", config, other)  # a file on the command line: night.csv is not read
    assert result.exit_code == 0, result.stderr
    assert (
        f"Run 4: {night} is no longer as that run imported it (moved, deleted or replaced"
        " since), so deleteProcessedFilesConsolidator was not done for it.\n"
    ) in result.stdout
    assert (
        f"Run 4 ({night}) was stopped before its consolidators: emailReport ran now.\n"
        in result.stdout
    )
    assert night.read_text() == replaced  # kept: it is not the file run 4 imported
    subjects = sorted(m["Subject"] for m in server.inbox.messages)
    assert subjects == [
        "session-import: nightly extra.csv: 1 rows, 0 rejected",
        "session-import: nightly night.csv: 5 rows, 1 rejected",
    ]
    assert due(ws) == []


def test_a_reverted_run_drops_its_due_consolidators_and_its_file_imports_again(
    ws: Workspace, silent_smtp, smtp_server, monkeypatch
):  # noqa: F811
    ws.seed()
    config = log_mail_delete_config(ws)
    night = ws.write("night.csv", NIGHT)
    killed_while_mailing(ws, config, silent_smtp)
    assert ws.run("revert", "--db", ws.db, "4").exit_code == 0
    assert due(ws) == []
    server = smtp_server()
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    again, report = ws.import_rows(config, night)
    assert again.exit_code == 1 and report["files"][0]["counts"]["created"] == 4
    (message,) = server.inbox.messages  # this run's, not the reverted one's
    assert "Recorded as run 6" in message.get_body(("plain",)).get_content()
