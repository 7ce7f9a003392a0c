"""Publishing to Zoho People through the commands a user types, against the loopback
emulator, with its threshold and lock scaled down (30 calls a second, a 2-second lock)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NIGHTLY_CONFIG, ROOT, Workspace
from emulators.zoho import ZohoEmulator

SECRET = "zoho-S3NTINEL-4d2a"
CONFIG = NIGHTLY_CONFIG.replace("{status}", "").replace("{publishers}", """      <zohoPeoplePublisher>
        <baseUrl>{url}</baseUrl>
        <accountsUrl>{url}</accountsUrl>
        <courseId>C1</courseId><batchId>B1</batchId><moduleId>M1</moduleId>
        <training pathCode="TP-002" courseId="C2" batchId="B2" moduleId="M2"/>
        <maxRequests>{max_requests}</maxRequests>
        <windowSeconds>{window}</windowSeconds>
        <lockSeconds>{lock}</lockSeconds>
        <timeout>5</timeout>
      </zohoPeoplePublisher>""")
HEADER = "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;sessionEndDate;teacherLogin"


def data(*rows: str) -> str:
    return "\n".join((HEADER,) + rows) + "\n"


def row(n: int, action: str = "M", training: str = "TP-001", title: str | None = None) -> str:
    day = 1 + n % 28
    return (f"{action};{training};{title or f'Session {n:03d}'};{day:02d}/03/2027 09:00;"
            f"{day:02d}/03/2027 14:30;jdupont")


@pytest.fixture
def zoho(monkeypatch):
    emulator = ZohoEmulator(max_requests=30, window_seconds=1.0, lock_seconds=2.0,
                            client_secret=SECRET)
    monkeypatch.setenv("ZOHO_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", emulator.refresh_token)
    with emulator:
        yield emulator


@pytest.fixture
def setup(ws: Workspace, zoho: ZohoEmulator):
    ws.seed()

    def write_config(max_requests: int = 30, window: float = 1.0, lock: float = 2.0) -> Path:
        return ws.write("nightly.xml", CONFIG.format(url=zoho.url, max_requests=max_requests,
                                                    window=window, lock=lock))

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
    assert (first["date"], first["startTime"], first["endTime"]) == ("01-03-2027", "09:00 AM", "02:30 PM")
    assert first["trainerErecno"] == "E1001" and first["type"] == "0"  # TP-001 is blended
    assert first["courseId"] == "C1" and first["moduleId"] == "M1"
    remote = {s["remote"]["zoho"] for s in ws.export()}
    assert remote == set(zoho.sessions)


def test_a_training_with_its_own_module_goes_there(setup):
    ws, zoho, write_config = setup
    result, _ = ws.import_rows(write_config(), ws.write("night.csv", data(row(1, training="TP-002"))))
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
        f"Zoho People has no API to delete a session; delete session Session 001 ({session_id}) by hand."]
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
    result = ws.run("run", "--verbose", "--report", report_path, config,
                    ws.write("night.csv", data(row(1), row(2, title="T" * 120))))
    assert result.exit_code == 1
    texts = [result.stdout, result.stderr, report_path.read_text(),
             ws.run("history", "--format", "json").stdout, json.dumps(ws.export())]
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
        [sys.executable, "-m", "session_import", "run", "--db", str(ws.db), str(config), str(night)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    from test_cli_output import on_a_terminal

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
    assert sorted(s["name"] for s in zoho.sessions.values()) == [f"Session {n:03d}" for n in range(30)]
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
