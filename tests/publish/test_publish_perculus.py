"""Publishing to Perculus through the commands a user types, against the loopback emulator."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import NIGHTLY_CONFIG, ROOT, Workspace
from emulators.perculus import (
    ACCESS_KEY,
    ACCOUNT_ID,
    SECRET_KEY,
    PerculusEmulator,
    perculus_emulator,  # noqa: F401  (fixture)
)

CONFIG = NIGHTLY_CONFIG.replace("{status}", "<sessionStatus/>").replace(
    "{publishers}",
    """      <perculusPublisher>
        <baseUrl>{url}</baseUrl>
        <batchSize>{batch}</batchSize>
        <timezone>Europe/Paris</timezone>
        <defaultDuration>60</defaultDuration>
        <timeout>{timeout}</timeout>
      </perculusPublisher>""",
)
HEADER = "sessionAction;trainingPathCode;sessionTitle;sessionStatus;sessionStartDate;sessionEndDate;teacherLogin"


def data(*rows: str) -> str:
    return "\n".join((HEADER,) + rows) + "\n"


def session_row(n: int, action: str = "M", hours: int = 2, title: str | None = None) -> str:
    day = 1 + n % 28
    return (
        f"{action};TP-001;{title or f'Session {n:03d}'};open;{day:02d}/03/2027 09:00;"
        f"{day:02d}/03/2027 {9 + hours:02d}:00;jdupont"
    )


@pytest.fixture
def credentials(monkeypatch):
    monkeypatch.setenv("PERCULUS_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("PERCULUS_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PERCULUS_ACCOUNT_ID", ACCOUNT_ID)


@pytest.fixture
def setup(ws: Workspace, perculus_emulator: PerculusEmulator, credentials):  # noqa: F811
    ws.seed()

    def write_config(batch: int = 100, timeout: float = 5, url: str | None = None) -> Path:
        return ws.write(
            "nightly.xml",
            CONFIG.format(url=url or perculus_emulator.base_url, batch=batch, timeout=timeout),
        )

    return ws, perculus_emulator, write_config


def batch_calls(emulator: PerculusEmulator):
    return emulator.calls("/xapi/v2/session/batch", "POST")


def test_a_nightly_file_creates_updates_and_cancels_sessions_on_perculus(setup):
    ws, emulator, write_config = setup
    config = write_config(batch=2)
    first = ws.write("night1.csv", data(*(session_row(n) for n in range(5))))
    result, report = ws.import_rows(config, first)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["publishers"]["perculus"] == {
        "published": 5,
        "rejected": 0,
        "pending": 0,
        "skipped": 0,
    }
    # ceil(5 creates / batchSize 2) batch requests, plus one token request
    assert len(batch_calls(emulator)) == math.ceil(5 / 2)
    assert len(emulator.calls("/auth/connect/token")) == 1
    names = sorted(s["name"] for s in emulator.sessions.values())
    assert names == [f"Session {n:03d}" for n in range(5)]
    created = batch_calls(emulator)[0].json[0]
    assert created["start_date"] == "2027-03-01T09:00:00+01:00"
    assert created["duration"] == 120
    assert created["description"] == "Workplace safety"
    exported = {s["title"]: s for s in ws.export()}
    assert all(s["publish_state"] == "published" for s in exported.values())
    guid_of = {title: s["remote"]["perculus"] for title, s in exported.items()}
    assert set(guid_of.values()) == set(emulator.sessions)

    emulator.requests.clear()
    second = ws.write(
        "night2.csv",
        data(
            session_row(0, hours=3),  # longer: an update of duration only
            session_row(1),  # unchanged: nothing sent
            session_row(2, action="A"),  # cancelled
        ),
    )
    result, report = ws.import_rows(config, second)
    assert result.exit_code == 0, result.stderr
    [update] = [item for call in batch_calls(emulator) for item in call.json]
    assert update == {"session_guid": guid_of["Session 000"], "duration": 180}
    [delete] = emulator.calls("/xapi/session/", "DELETE")
    assert delete.path == f"/xapi/session/{guid_of['Session 002']}"
    assert guid_of["Session 002"] not in emulator.sessions
    assert emulator.sessions[guid_of["Session 000"]]["duration"] == 180
    assert report["files"][0]["publishers"]["perculus"]["published"] == 2


def test_a_mixed_batch_rejects_exactly_the_refused_rows(setup):
    ws, emulator, write_config = setup
    config = write_config()
    emulator.now = datetime(2027, 3, 3, tzinfo=UTC)  # sessions on 1 and 2 March are in the past
    night = ws.write("night.csv", data(*(session_row(n) for n in range(5))))
    rejects = ws.root / "rejects.csv"
    result, report = ws.import_rows(config, night, "--rejects", rejects)
    assert result.exit_code == 1, result.stderr
    file = report["files"][0]
    assert file["counts"]["created"] == 3 and file["counts"]["rejected"] == 2
    assert file["counts"]["rows"] == 5
    assert [(r["line"], r["messages"]) for r in file["rejected"]] == [
        (2, ["Perculus rejected the session: Invalid session start date. (code 12)."]),
        (3, ["Perculus rejected the session: Invalid session start date. (code 12)."]),
    ]
    assert file["rejected"][0]["values"]["sessionTitle"] == "Session 000"
    assert file["publishers"]["perculus"] == {
        "published": 3,
        "rejected": 2,
        "pending": 0,
        "skipped": 0,
    }
    assert len(batch_calls(emulator)) == 1  # one request carried all five
    # the local change stays; the session is marked rejected
    states = {s["title"]: s["publish_state"] for s in ws.export()}
    assert states == {
        "Session 000": "rejected",
        "Session 001": "rejected",
        "Session 002": "published",
        "Session 003": "published",
        "Session 004": "published",
    }
    assert rejects.read_text().splitlines()[1].startswith("M;TP-001;Session 000;")


def test_service_down_leaves_changes_pending_exit_6_then_publish_delivers_them(setup):
    ws, emulator, write_config = setup
    config = write_config(url="http://127.0.0.1:9")  # nothing listens on the discard port
    night = ws.write("night.csv", data(*(session_row(n) for n in range(3))))
    result, report = ws.import_rows(config, night, "--publish-timeout", "20")
    assert result.exit_code == 6, result.stderr
    assert report["files"][0]["counts"]["created"] == 3
    assert report["files"][0]["publishers"]["perculus"]["pending"] == 3
    assert {s["publish_state"] for s in ws.export()} == {"pending"}
    assert "Perculus" in result.stderr + result.stdout
    history = json.loads(ws.run("history", "--format", "json").stdout)
    assert history[0]["pending"] == 3

    config = write_config()
    out = ws.root / "publish.json"
    published = ws.run("publish", "--report", out, config)
    assert published.exit_code == 0, published.stderr
    assert json.loads(out.read_text())["files"][0]["publishers"]["perculus"]["published"] == 3
    assert len(emulator.sessions) == 3
    assert {s["publish_state"] for s in ws.export()} == {"published"}
    again = ws.run("publish", config)
    assert again.exit_code == 0
    assert len(batch_calls(emulator)) == 1  # delivered once


def test_a_dropped_connection_after_perculus_applied_a_create_makes_no_twin(setup):
    ws, emulator, write_config = setup
    config = write_config()
    emulator.drop_next(1, path="/xapi/v2/session/batch")
    night = ws.write("night.csv", data(session_row(0), session_row(1)))
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 0, result.stderr
    assert len(emulator.sessions) == 2  # applied once, found again by search, never re-sent
    assert len(batch_calls(emulator)) == 1
    assert emulator.calls("/xapi/v2/session/search")
    remote = [s["remote"]["perculus"] for s in ws.export()]
    assert sorted(remote) == sorted(emulator.sessions)


def test_a_missing_credential_is_a_configuration_error_naming_the_variable(setup, monkeypatch):
    ws, emulator, write_config = setup
    config = write_config()
    monkeypatch.setenv("PERCULUS_SECRET_KEY", "")
    night = ws.write("night.csv", data(session_row(0)))
    result = ws.run("run", config, night)
    assert result.exit_code == 4
    assert "PERCULUS_SECRET_KEY" in result.stderr
    assert ws.run("check", config).exit_code == 4
    monkeypatch.setenv("PERCULUS_SECRET_KEY", SECRET_KEY)
    monkeypatch.delenv("PERCULUS_ACCOUNT_ID")
    checked = ws.run("check", config)
    assert checked.exit_code == 4
    assert checked.stderr.endswith(
        "nightly.xml:19: PERCULUS_ACCOUNT_ID is not set; the Perculus "
        "publisher reads its credentials from the environment.\n"
    )
    assert emulator.requests == []


def test_refused_credentials_keep_the_changes_queued(setup, monkeypatch):
    ws, emulator, write_config = setup
    config = write_config()
    monkeypatch.setenv("PERCULUS_SECRET_KEY", "wrong-secret")
    night = ws.write("night.csv", data(session_row(0)))
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 6
    assert "Perculus refused the credentials (HTTP 400)." in result.stderr
    assert "night.csv: perculus: 0 published, 0 rejected, 1 pending, 0 skipped" in result.stdout
    assert report["files"][0]["publishers"]["perculus"]["pending"] == 1


def test_a_sentinel_secret_appears_in_no_output(setup, monkeypatch):
    ws, emulator, write_config = setup
    sentinel = "S3NTINEL-secret-9f1c"
    emulator.secret_key = sentinel
    monkeypatch.setenv("PERCULUS_SECRET_KEY", sentinel)
    config = write_config()
    emulator.now = datetime(2027, 3, 2, tzinfo=UTC)  # one row rejected by Perculus
    night = ws.write("night.csv", data(session_row(0), session_row(5)))
    report_path, rejects = ws.root / "r.json", ws.root / "rejects.csv"
    result = ws.run(
        "run", "--verbose", "--report", report_path, "--rejects", rejects, config, night
    )
    assert result.exit_code == 1
    history = ws.run("history", "--format", "json")
    journal = ws.run("history", "1", "--format", "json")
    texts = [
        result.stdout,
        result.stderr,
        report_path.read_text(),
        rejects.read_text(),
        history.stdout,
        journal.stdout,
        json.dumps(ws.export()),
    ]
    assert not [t for t in texts if sentinel in t]
    assert sentinel.encode() not in ws.store_bytes()


def test_check_says_where_an_import_publishes(setup):
    ws, emulator, write_config = setup
    config = write_config(batch=50)
    result = ws.run("check", config)
    assert result.exit_code == 0, result.stderr
    assert (
        f"  publishes every change to Perculus at {emulator.base_url} (batches of 50, times in "
        "Europe/Paris; credentials from PERCULUS_ACCESS_KEY, PERCULUS_SECRET_KEY, "
        "PERCULUS_ACCOUNT_ID)"
    ) in result.stdout
    assert emulator.requests == []  # check never calls the service


def test_dry_run_sends_nothing_and_queues_nothing(setup):
    ws, emulator, write_config = setup
    config = write_config()
    night = ws.write("night.csv", data(session_row(0)))
    result = ws.run("run", "--dry-run", config, night)
    assert result.exit_code == 0, result.stderr
    assert emulator.requests == []
    assert ws.query("SELECT count(*) FROM outbox") == [(0,)]


@pytest.mark.slow
def test_a_run_killed_after_its_commit_is_delivered_by_the_next_run_once(setup):
    """SIGKILL while the run waits for Perculus' answer to the token request: the file
    is committed and its changes are queued; the next run delivers them, once."""
    ws, emulator, write_config = setup
    config = write_config(timeout=30)
    emulator.slow_next(1, seconds=20, path="/auth/connect/token")
    night = ws.write("night.csv", data(*(session_row(n) for n in range(4))))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "session_import",
            "run",
            "--db",
            str(ws.db),
            str(config),
            str(night),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while not emulator.calls("/auth/connect/token") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.calls("/auth/connect/token"), "the run never reached Perculus"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    assert ws.query("SELECT count(*) FROM sessions") == [(4,)]
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(4,)]
    assert emulator.sessions == {}

    result = ws.run("publish", config)
    assert result.exit_code == 0, result.stderr
    assert len(emulator.sessions) == 4
    assert ws.run("publish", config).exit_code == 0
    assert len(emulator.sessions) == 4
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'published'") == [(4,)]


def test_a_reverted_run_is_undone_on_perculus_by_the_next_publish(setup):
    ws, emulator, write_config = setup
    config = write_config()
    first = ws.write("night1.csv", data(session_row(0), session_row(1)))
    assert ws.import_rows(config, first)[0].exit_code == 0
    second = ws.write("night2.csv", data(session_row(0, hours=4), session_row(2)))
    assert ws.import_rows(config, second)[0].exit_code == 0
    assert len(emulator.sessions) == 3
    run_id = json.loads(ws.run("history", "--format", "json").stdout)[0]["id"]
    reverted = ws.run("revert", "--db", ws.db, str(run_id))
    assert reverted.exit_code == 0, reverted.stderr
    history = json.loads(ws.run("history", "--format", "json").stdout)
    assert history[0]["pending"] == 2  # the update undone, the create deleted
    assert ws.run("publish", config).exit_code == 0
    names = sorted((s["name"], s["duration"]) for s in emulator.sessions.values())
    assert names == [("Session 000", 120), ("Session 001", 120)]


def test_the_queue_is_read_a_page_at_a_time_and_keeps_each_sessions_order(setup, monkeypatch):
    from session_import.publishers import outbox

    monkeypatch.setattr(outbox, "QUEUE_PAGE", 2)
    ws, emulator, write_config = setup
    config = write_config(batch=3)
    night = ws.write(
        "night.csv",
        data(
            session_row(0),
            session_row(1),
            session_row(2),
            session_row(0, hours=3),  # updates line 2's session: after its create
            session_row(3),
            session_row(1, action="A"),  # cancels line 3's session: after its create
            session_row(0, hours=4),
        ),
    )
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["publishers"]["perculus"]["published"] == 7
    remote = sorted((s["name"], s["duration"]) for s in emulator.sessions.values())
    assert remote == [("Session 000", 240), ("Session 002", 120), ("Session 003", 120)]
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(0,)]


def test_the_csv_export_carries_the_remote_ids_and_the_publish_state(setup):
    import csv
    import io

    ws, emulator, write_config = setup
    config = write_config()
    emulator.now = datetime(2027, 3, 2, tzinfo=UTC)  # line 2's session starts in the past
    assert (
        ws.import_rows(config, ws.write("night.csv", data(session_row(0), session_row(5))))[
            0
        ].exit_code
        == 1
    )
    exported = ws.run("export", "sessions", "--format", "csv")
    assert exported.exit_code == 0, exported.stderr
    rows = {r["title"]: r for r in csv.DictReader(io.StringIO(exported.stdout))}
    assert rows["Session 000"]["publish_state"] == "rejected"
    assert json.loads(rows["Session 000"]["remote"]) == {"perculus": None}
    assert rows["Session 005"]["publish_state"] == "published"
    assert json.loads(rows["Session 005"]["remote"])["perculus"] in emulator.sessions


@pytest.mark.slow
def test_a_network_timeout_is_reported_as_a_timeout(setup):
    """The token request is retried by urllib3, which wraps its read timeouts: it used to be
    reported as "connection failed"."""
    ws, emulator, write_config = setup
    config = write_config(timeout=0.3)
    emulator.slow_next(3, 0.8, path="/auth/connect/token")
    result, report = ws.import_rows(config, ws.write("night.csv", data(session_row(1))))
    assert result.exit_code == 6, result.stderr
    message = "Perculus is unavailable (read timeout); the change waits for the next run."
    assert message in result.stderr
    assert report["publish_errors"] == [message]


def test_a_snapshot_feeds_missing_session_is_deleted_on_perculus(setup):
    ws, emulator, write_config = setup
    config = write_config()
    snapshot = "</sessionSearchField><missingSessions>cancel</missingSessions>"
    config.write_text(config.read_text().replace("</sessionSearchField>", snapshot))
    first = ws.write("night1.csv", data(*(session_row(n) for n in range(3))))
    assert ws.run("run", config, first).exit_code == 0
    guid_of = {s["title"]: s["remote"]["perculus"] for s in ws.export()}
    second = ws.write("night2.csv", data(session_row(0), session_row(2)))
    result, report = ws.import_rows(config, second, "--max-cancel", "1")
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["missing_cancelled"] == 1
    [delete] = emulator.calls("/xapi/session/", "DELETE")
    assert delete.path == f"/xapi/session/{guid_of['Session 001']}"
    assert report["files"][0]["publishers"]["perculus"]["published"] == 1
