"""Publishing to Zoho People through the commands a user types, against the loopback
emulator, with its threshold and lock scaled down (30 calls a second, a 2-second lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NIGHTLY_CONFIG, ROOT, Workspace
from emulators.zoho import ZohoEmulator

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.publishers import outbox
from session_import.store import Store

SECRET = "zoho-S3NTINEL-4d2a"
CONFIG = NIGHTLY_CONFIG.replace("{status}", "").replace(
    "{publishers}",
    """      <zohoPeoplePublisher>
        <baseUrl>{url}</baseUrl>
        <accountsUrl>{url}</accountsUrl>
        <courseId>C1</courseId><batchId>B1</batchId><moduleId>M1</moduleId>
        <training pathCode="TP-002" courseId="C2" batchId="B2" moduleId="M2"/>
        <maxRequests>{max_requests}</maxRequests>
        <windowSeconds>{window}</windowSeconds>
        <lockSeconds>{lock}</lockSeconds>
        <timeout>{timeout}</timeout>
      </zohoPeoplePublisher>""",
)
HEADER = "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;sessionEndDate;teacherLogin"


def data(*rows: str) -> str:
    return "\n".join((HEADER,) + rows) + "\n"


def row(n: int, action: str = "M", training: str = "TP-001", title: str | None = None) -> str:
    day = 1 + n % 28
    return (
        f"{action};{training};{title or f'Session {n:03d}'};{day:02d}/03/2027 09:00;"
        f"{day:02d}/03/2027 14:30;jdupont"
    )


@pytest.fixture
def zoho(monkeypatch):
    emulator = ZohoEmulator(
        max_requests=30, window_seconds=1.0, lock_seconds=2.0, client_secret=SECRET
    )
    monkeypatch.setenv("ZOHO_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", emulator.refresh_token)
    with emulator:
        yield emulator


@pytest.fixture
def setup(ws: Workspace, zoho: ZohoEmulator):
    ws.seed()

    def write_config(
        max_requests: int = 30, window: float = 1.0, lock: float = 2.0, timeout: float = 5
    ) -> Path:
        return ws.write(
            "nightly.xml",
            CONFIG.format(
                url=zoho.url, max_requests=max_requests, window=window, lock=lock, timeout=timeout
            ),
        )

    return ws, zoho, write_config


def creates(zoho: ZohoEmulator):
    return [e for e in zoho.api_calls() if e.method == "POST"]


def test_a_hundred_sessions_are_paced_under_the_threshold_and_close_to_it(setup):
    ws, zoho, write_config = setup
    config = write_config()
    night = ws.write("night.csv", data(*(row(n) for n in range(100))))
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["publishers"]["zoho"]["published"] == 100
    assert len(zoho.sessions) == 100
    assert not [e for e in zoho.log if e.locked]
    busiest = zoho.busiest_window()
    assert 24 <= busiest <= 30  # never over the limit, and at least 80% of it
    first = next(iter(zoho.sessions.values()))
    assert (first["date"], first["startTime"], first["endTime"]) == (
        "01-03-2027",
        "09:00 AM",
        "02:30 PM",
    )
    assert first["trainerErecno"] == "E1001" and first["type"] == "0"  # TP-001 is blended
    assert first["courseId"] == "C1" and first["moduleId"] == "M1"
    remote = {s["remote"]["zoho"] for s in ws.export()}
    assert remote == set(zoho.sessions)


def test_a_training_with_its_own_module_goes_there(setup):
    ws, zoho, write_config = setup
    result, _ = ws.import_rows(
        write_config(), ws.write("night.csv", data(row(1, training="TP-002")))
    )
    assert result.exit_code == 0, result.stderr
    [session] = zoho.sessions.values()
    assert (session["courseId"], session["batchId"], session["moduleId"]) == ("C2", "B2", "M2")
    assert session["type"] == "1"  # TP-002 is distance learning


def test_a_lock_is_waited_out_once_and_the_run_goes_on(setup):
    ws, zoho, write_config = setup
    config = write_config()
    zoho.lock_at_next_call()
    night = ws.write("night.csv", data(*(row(n) for n in range(5))))
    started = time.monotonic()
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 0, result.stderr
    assert len(zoho.sessions) == 5
    assert len([e for e in zoho.log if e.locked]) == 1  # one call met the lock, then a wait
    assert time.monotonic() - started >= 1.5
    assert "waiting" in result.stderr


def test_a_rejected_session_rejects_its_row_with_zohos_message(setup):
    ws, zoho, write_config = setup
    config = write_config()
    night = ws.write("night.csv", data(row(1), row(2, title="T" * 120)))
    result, report = ws.import_rows(config, night)
    assert result.exit_code == 1, result.stderr
    [rejected] = report["files"][0]["rejected"]
    assert rejected["line"] == 3
    [message] = rejected["messages"]
    assert message.startswith("Zoho People rejected the session: ")
    assert message.endswith(" (HTTP 422).")
    assert report["files"][0]["counts"]["created"] == 1


def test_a_cancel_is_a_warning_to_delete_it_by_hand(setup):
    ws, zoho, write_config = setup
    config = write_config()
    assert ws.import_rows(config, ws.write("night1.csv", data(row(1))))[0].exit_code == 0
    [session_id] = zoho.sessions
    result, report = ws.import_rows(config, ws.write("night2.csv", data(row(1, action="A"))))
    assert result.exit_code == 0, result.stderr
    [warning] = report["files"][0]["warnings"]
    assert warning["messages"] == [
        f"Zoho People has no API to delete a session; delete session Session 001 ({session_id}) by hand."
    ]
    assert session_id in zoho.sessions


def test_an_update_patches_only_the_changed_fields(setup):
    """A change of times sends the schedule whole (date, start, end): Zoho checks them together."""
    ws, zoho, write_config = setup
    config = write_config()
    assert ws.import_rows(config, ws.write("night1.csv", data(row(1))))[0].exit_code == 0
    later = row(1).replace("14:30", "16:00")
    result, _ = ws.import_rows(config, ws.write("night2.csv", data(later)))
    assert result.exit_code == 0, result.stderr
    [patch] = [e for e in zoho.api_calls() if e.method == "PATCH"]
    sent = json.loads(patch.body)
    assert sent == {"date": "02-03-2027", "startTime": "09:00 AM", "endTime": "04:00 PM"}
    assert next(iter(zoho.sessions.values()))["endTime"] == "04:00 PM"


def test_the_secret_appears_in_no_output(setup):
    ws, zoho, write_config = setup
    config = write_config()
    report_path = ws.root / "r.json"
    result = ws.run(
        "run",
        "--verbose",
        "--report",
        report_path,
        config,
        ws.write("night.csv", data(row(1), row(2, title="T" * 120))),
    )
    assert result.exit_code == 1
    texts = [
        result.stdout,
        result.stderr,
        report_path.read_text(),
        ws.run("history", "--format", "json").stdout,
        json.dumps(ws.export()),
    ]
    assert not [t for t in texts if SECRET in t]
    assert SECRET.encode() not in ws.db.read_bytes()
    assert not [e for e in zoho.log if e.is_api and SECRET in (e.body + json.dumps(e.headers))]


@pytest.mark.slow
def test_a_kill_mid_delivery_is_finished_by_the_next_run_without_a_twin(setup):
    ws, zoho, write_config = setup
    config = write_config(max_requests=10)  # 40 creates take about 4 s
    night = ws.write("night.csv", data(*(row(n) for n in range(40))))
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
    deadline = time.monotonic() + 60
    while len(zoho.sessions) < 15 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    proc.stdout.close()
    proc.stderr.close()
    delivered_before = len(zoho.sessions)
    assert 15 <= delivered_before < 40
    result = ws.run("publish", config)
    assert result.exit_code == 0, result.stderr
    names = [s["name"] for s in zoho.sessions.values()]
    assert sorted(names) == sorted(f"Session {n:03d}" for n in range(40))  # every one, once
    assert ws.query("SELECT count(*) FROM outbox WHERE state != 'published'") == [(0,)]


def test_on_a_terminal_the_wait_for_a_lock_is_a_live_line(setup):
    from terminal import on_a_terminal

    ws, zoho, write_config = setup
    config = write_config()
    # the lock starts at the run's first call, not now: a run slow to start under load
    # (a shared machine) would otherwise find it over and never wait
    zoho.lock_at_next_call()
    night = ws.write("night.csv", data(row(1)))
    code, text = on_a_terminal("run", "--db", str(ws.db), str(config), str(night))
    assert code == 0, text
    assert "Zoho People locked its API (threshold exceeded): waiting 2.0 s" in text
    assert len(zoho.sessions) == 1


def test_what_the_publish_timeout_leaves_waits_for_the_next_publish(setup):
    ws, zoho, write_config = setup
    config = write_config(max_requests=5)  # 5 calls a second: 30 sessions need 6 s
    night = ws.write("night.csv", data(*(row(n) for n in range(30))))
    result, report = ws.import_rows(config, night, "--publish-timeout", "1.5")
    assert result.exit_code == 6, result.stderr
    counts = report["files"][0]["publishers"]["zoho"]
    assert counts["published"] + counts["pending"] == 30 and 0 < counts["pending"] < 30
    assert len(zoho.sessions) == counts["published"]
    assert ws.run("publish", config).exit_code == 0
    assert sorted(s["name"] for s in zoho.sessions.values()) == [
        f"Session {n:03d}" for n in range(30)
    ]
    assert zoho.busiest_window() <= 5


def test_a_token_that_expires_mid_run_is_refreshed_once(setup):
    import threading

    ws, zoho, write_config = setup
    config = write_config()
    night = ws.write("night.csv", data(*(row(n) for n in range(40))))

    def expire_after_ten() -> None:
        deadline = time.monotonic() + 30
        while len(zoho.sessions) < 10 and time.monotonic() < deadline:
            time.sleep(0.005)
        zoho.expire_tokens()

    watcher = threading.Thread(target=expire_after_ten)
    watcher.start()
    result, report = ws.import_rows(config, night)
    watcher.join()
    assert result.exit_code == 0, result.stderr
    assert len(zoho.sessions) == 40
    assert zoho.refreshes == 2  # the first token, and one after the 401
    assert len([e for e in zoho.log if e.status == 401]) == 1


def test_a_session_that_ends_when_it_starts_is_rejected_for_zoho_not_stretched(setup):
    """10:00 to 10:00 used to be published as 10:00 AM to 11:59 PM, a session nobody asked for."""
    ws, zoho, write_config = setup
    night = ws.write(
        "night.csv", data(row(1), "M;TP-001;Instant;05/03/2027 10:00;05/03/2027 10:00;jdupont")
    )
    result, report = ws.import_rows(write_config(), night)
    assert result.exit_code == 1, result.stderr
    [rejected] = report["files"][0]["rejected"]
    assert rejected["line"] == 3
    assert rejected["messages"] == [
        "Zoho People needs an end after the start; session Instant runs from 10:00 AM to 10:00 AM on 05-03-2027."
    ]
    assert [s["name"] for s in zoho.sessions.values()] == ["Session 001"]
    assert [s["publish_state"] for s in ws.export() if s["title"] == "Instant"] == ["rejected"]


@pytest.mark.slow
def test_a_network_timeout_is_reported_as_a_timeout(setup):
    """It used to say `ReadTimeout` (and Perculus' retried calls "connection failed")."""
    ws, zoho, write_config = setup
    config = write_config(timeout=0.3)
    zoho.slow_next(10, 0.8)  # the create and the look-ups of its two tries again
    result, report = ws.import_rows(config, ws.write("night.csv", data(row(1))))
    assert result.exit_code == 6, result.stderr
    message = "Zoho People did not answer (read timeout, 3 tries); the change stays queued."
    assert message in result.stderr
    assert report["publish_errors"] == [message]


# ---- the wall clock jumps (issue 13.5) ------------------------------------------------------
# Zoho's limit here: 10 calls in any 2 s (the emulator's and the publisher's). The wall clock of
# a run is injected (RunOptions.clock); a run at the real time goes through the command.


def run_with_clock(ws: Workspace, config: Path, night: Path, shift: float) -> int:
    """`run CONFIG NIGHT` with the wall clock `shift` seconds off; its exit code."""
    options = RunOptions(clock=lambda: datetime.now(UTC) + timedelta(seconds=shift))
    store = Store(ws.db)
    try:
        return int(run_import(load_config(config), store, [night], options).exit_code)
    finally:
        store.close()


@pytest.fixture
def ten_in_two_seconds(setup):
    ws, zoho, write_config = setup
    zoho.max_requests, zoho.window_seconds = 10, 2.0
    return ws, zoho, write_config(max_requests=10, window=2.0)


def nights(ws: Workspace, *counts: int) -> list[Path]:
    files, first = [], 0
    for number, count in enumerate(counts, 1):
        files.append(
            ws.write(f"night{number}.csv", data(*(row(n) for n in range(first, first + count))))
        )
        first += count
    return files


@pytest.mark.slow
def test_after_a_night_with_the_clock_an_hour_ahead_the_next_run_publishes(ten_in_two_seconds):
    """The calls of that night were stored an hour in the future: the next runs used to exit 6
    at once ("The publish timeout was reached") until the clock caught up."""
    ws, zoho, config = ten_in_two_seconds
    first, second = nights(ws, 10, 5)
    assert run_with_clock(ws, config, first, +3600) == 0
    result, report = ws.import_rows(config, second)  # the clock put right
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["publishers"]["zoho"]["published"] == 5
    assert len(zoho.sessions) == 15
    assert not [e for e in zoho.log if e.locked] and zoho.busiest_window() <= 10


@pytest.mark.slow
def test_a_clock_put_forward_between_two_commands_does_not_speed_publishing(ten_in_two_seconds):
    """The calls of the run just before look an hour old on the wall clock; the boot clock
    knows they are not, so the next run still waits for Zoho's window (no lock)."""
    ws, zoho, config = ten_in_two_seconds
    first, second = nights(ws, 10, 10)
    result, _ = ws.import_rows(config, first)
    assert result.exit_code == 0, result.stderr
    assert run_with_clock(ws, config, second, +3600) == 0
    assert len(zoho.sessions) == 20
    assert not [e for e in zoho.log if e.locked] and zoho.busiest_window() <= 10


@pytest.mark.slow
def test_after_a_reboot_calls_from_the_future_count_as_just_sent(ten_in_two_seconds, monkeypatch):
    """Another boot (faked: the machine cannot reboot in a test) has another boot clock, so only
    the wall clock is left: a stored time in the future counts as now, never as a stall."""
    ws, zoho, config = ten_in_two_seconds
    boot = {"id": "before-the-reboot"}
    monkeypatch.setattr(
        outbox, "boot_clock", lambda: (boot["id"], time.clock_gettime(time.CLOCK_BOOTTIME))
    )
    first, second = nights(ws, 10, 5)
    assert run_with_clock(ws, config, first, +3600) == 0
    boot["id"] = "after-the-reboot"
    result, report = ws.import_rows(config, second)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["publishers"]["zoho"]["published"] == 5
    assert not [e for e in zoho.log if e.locked] and zoho.busiest_window() <= 10
    assert ws.query(
        "SELECT count(*) FROM remote_calls WHERE publisher = 'zoho' AND at > ?", time.time() + 60
    ) == [(0,)]  # the future times were not stored again
