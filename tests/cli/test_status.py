"""`status` (a monitoring check), heartbeats against a real HTTP server on 127.0.0.1, and the
Prometheus metrics file read back with prometheus_client's own parser."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import NIGHTLY_CONFIG
from emulators.healthchecks import PingService
from emulators.perculus import (
    ACCESS_KEY,
    ACCOUNT_ID,
    SECRET_KEY,
    perculus_emulator,  # noqa: F401  (fixture)
)
from prometheus_client.parser import text_string_to_metric_families
from test_cli_store import DROP_CONFIG

from session_import.watch import heartbeat

HEAD = "sessionAction;trainingPathCode;sessionTitle;teacherLogin\n"


@pytest.fixture
def drop(ws):
    ws.seed()
    folder, backup = ws.root / "drop", ws.root / "backup"
    folder.mkdir()
    config = ws.write("nightly.xml", DROP_CONFIG.format(drop=folder, backup=backup))
    return ws, config, folder


@pytest.fixture
def pings():
    service = PingService()
    yield service
    service.stop()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """The heartbeat's back-off between tries, shortened so that failing pings stay fast."""
    monkeypatch.setattr(heartbeat, "BACKOFF", 0.01)


def status(ws, *args):
    return ws.run("status", *args)


def age_the_last_success(ws, days: int) -> str:
    """Move the import's successful commands ``days`` back, as if the job stopped running."""
    old = (datetime.now(UTC) - timedelta(days=days)).astimezone().isoformat(timespec="seconds")
    conn = sqlite3.connect(ws.db)
    conn.execute("UPDATE commands SET started_at = ?, ended_at = ? WHERE exit_code = 0", (old, old))
    conn.commit()
    conn.close()
    return old


def test_status_is_a_check_a_monitoring_system_can_run(drop):
    ws, config, folder = drop
    (folder / "night1.csv").write_text(HEAD + "M;TP-001;S;jdupont\n")
    assert ws.run("run", config).exit_code == 0
    ok = status(ws)
    assert ok.exit_code == 0, ok.stderr
    ended = ws.query("SELECT ended_at FROM commands WHERE import_id = 'nightly'")[0][0]
    # every import on record: the seeding ones (trainings, teachers, groups) and the nightly one
    lines = ok.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["groups", "nightly", "teachers", "trainings"]
    assert lines[1] == (
        f"nightly: ok; last run {ended}, exit 0 (night1.csv: applied); last success {ended}; "
        "to publish: nothing"
    )
    assert ok.stderr == ""

    bad = folder / "night2.csv"
    bad.write_text("sessionAction;trainingPathCode\nM;TP-001\n")
    assert ws.run("run", config).exit_code == 3
    failed = status(ws, "--config", config)
    assert failed.exit_code == 1
    last = ws.query("SELECT ended_at FROM commands WHERE import_id = 'nightly' ORDER BY id DESC")[
        0
    ][0]
    reason = (
        f"night2.csv: failed: {bad}:1: Mandatory column sessionTitle is missing from the header."
    )
    assert failed.stdout == (
        f"nightly: failed; last run {last}, exit 3 ({reason}); last success "
        f"{ended}; to publish: nothing\n"
    )
    assert failed.stderr == f"nightly: the last run (ended {last}) exited 3: {reason}.\n"

    bad.unlink()
    assert ws.run("run", config).exit_code == 0  # a night without a file is a good night
    assert status(ws, "--config", config).exit_code == 0
    old = age_the_last_success(ws, 3)
    stale = status(ws, "--config", config, "--max-age", "26h")
    assert stale.exit_code == 1
    assert stale.stderr == f"nightly: the last success was {old}, more than 26h ago.\n"
    assert status(ws, "--config", config, "--max-age", "4d").exit_code == 0
    assert status(ws, "--max-age", "soon").exit_code == 2


def test_status_json_and_an_import_that_never_ran(drop):
    ws, config, folder = drop
    other = ws.write(
        "other.xml",
        DROP_CONFIG.replace('id="nightly"', 'id="weekly"').format(
            drop=folder, backup=ws.root / "b2"
        ),
    )
    result = status(ws, "--config", other, "--format", "json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["max_age"] == "26h"
    (weekly,) = report["imports"]
    assert weekly["import"] == "weekly" and weekly["state"] == "never ran"
    assert weekly["problems"] == ["weekly: no run on record."]
    (folder / "night1.csv").write_text(HEAD + "M;TP-001;S;jdupont\nM;TP-001;T;nobody\n")
    ws.run("run", config)
    report = json.loads(status(ws, "--config", config, "--format", "json").stdout)
    (nightly,) = report["imports"]
    assert nightly["state"] == "failed"
    assert nightly["last"]["exit_code"] == 1 and nightly["last"]["command"] == "run"
    assert nightly["last"]["counts"]["created"] == 1 and nightly["last"]["counts"]["rejected"] == 1
    assert [f["outcome"] for f in nightly["last"]["files"]] == ["1 row rejected"]
    assert nightly["last_success"] is None
    assert nightly["problems"][-1] == "nightly: no successful run on record."


def test_an_empty_store_is_not_a_healthy_one(ws):
    result = status(ws)
    assert result.exit_code == 1
    assert result.stderr == f"No import is on record in the store {ws.db}: nothing has run yet.\n"


# ---- heartbeats ----


def test_a_run_pings_start_then_its_exit_code_with_the_summary(drop, pings):
    ws, config, folder = drop
    night = folder / "night1.csv"
    night.write_text(HEAD + "M;TP-001;S;jdupont\nM;TP-001;T;nobody\n")
    result = ws.run("run", "--ping-url", pings.url, config)
    assert result.exit_code == 1
    assert pings.paths() == ["/start", "/1"]
    start, end = pings.pings
    assert start.body == b""
    body = end.body.decode()
    assert end.content_type == "text/plain; charset=utf-8"
    assert body.startswith(f"session-import run {config}: exit 1\n")
    assert f"{night} [nightly, createOrUpdateSessionAction]: 2 rows: 1 created" in body
    assert f"{night}:3: Teacher with login nobody is not found." in body
    assert pings.check not in result.stdout + result.stderr

    (folder / "night2.csv").write_text(HEAD + "M;TP-001;U;jdupont\n")
    assert ws.run("run", "--quiet", "--ping-url", pings.url + "/", config).exit_code == 0
    assert pings.paths()[2:] == ["/start", "/0"]


def test_the_ping_url_from_the_environment_and_for_publish(drop, pings, monkeypatch):
    ws, config, _ = drop
    monkeypatch.setenv("SESSION_IMPORT_PING_URL", pings.url)
    assert ws.run("run", config).exit_code == 0  # no file tonight: still a ping
    assert pings.paths() == ["/start", "/0"]
    assert b"No file matches night*.csv" in pings.pings[1].body
    assert ws.run("publish", config).exit_code == 0
    assert pings.paths()[2:] == ["/start", "/0"]
    assert ws.run("run", ws.write("broken.xml", "<import-config>")).exit_code == 4
    assert pings.paths()[4:] == ["/start", "/4"]  # a command that never ran an import pings too
    assert b"broken.xml:1:" in pings.pings[5].body


def test_a_failing_ping_never_changes_the_exit_code_and_never_shows_the_url(drop, pings):
    ws, config, folder = drop
    (folder / "night1.csv").write_text(HEAD + "M;TP-001;S;jdupont\n")
    pings.fail_next = [500, 503, 500, 404]  # start: three 5xx; end: a 404 is not tried again
    report, metrics = ws.root / "report.json", ws.root / "nightly.prom"
    result = ws.run(
        "run", "--ping-url", pings.url, "--report", report, "--metrics-file", metrics, config
    )
    assert result.exit_code == 0
    where = f"http://127.0.0.1:{pings.server.server.server_address[1]}/…"
    assert result.stderr == (
        f"The heartbeat start ping to {where} failed: HTTP 500; the exit code is unchanged.\n"
        f"The heartbeat ping of exit code 0 to {where} failed: HTTP 404; the exit code is unchanged.\n"
    )
    assert pings.paths() == ["/start"] * 3 + ["/0"]
    # the secret part of the URL is nowhere: output, report, metrics, lock file, store
    conn = sqlite3.connect(ws.db)
    dump = "\n".join(conn.iterdump())
    conn.close()
    for text in (
        result.stdout,
        result.stderr,
        report.read_text(),
        metrics.read_text(),
        Path(f"{ws.db}.lock").read_text(),
        dump,
    ):
        assert pings.check not in text

    pings.stop()  # nothing listens any more
    (folder / "night2.csv").write_text(HEAD + "M;TP-001;T;jdupont\n")
    down = ws.run("run", "--ping-url", pings.url, config)
    assert down.exit_code == 0
    assert down.stderr == (
        f"The heartbeat start ping to {where} failed: could not connect; the exit code is unchanged.\n"
        f"The heartbeat ping of exit code 0 to {where} failed: could not connect; the exit code is "
        "unchanged.\n"
    )


def test_the_summary_a_ping_carries_is_at_most_100_kb(drop, pings):
    ws, config, folder = drop
    lines = "".join(f"M;TP-001;Session {i};nobody-{'x' * 60}-{i}\n" for i in range(3000))
    (folder / "night1.csv").write_text(HEAD + lines)
    assert ws.run("run", "--quiet", "--ping-url", pings.url, config).exit_code == 3
    body = pings.pings[-1].body
    assert len(body) <= 100_000
    assert body.endswith(b"[... truncated: the summary is longer than 100 kB]\n")
    body.decode("utf-8")  # never cut inside a character


# ---- metrics ----


def metrics(path: Path) -> dict[tuple[str, tuple], float]:
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_the_metrics_file_is_prometheus_text_from_the_store_history(drop):
    ws, config, folder = drop
    prom = ws.root / "textfile" / "session_import.prom"
    prom.parent.mkdir()
    (folder / "night1.csv").write_text(HEAD + "M;TP-001;S;jdupont\nM;TP-001;T;jdupont\n")
    assert ws.run("run", "--metrics-file", prom, config).exit_code == 0
    first = metrics(prom)
    nightly = (("import", "nightly"),)
    ended = ws.query("SELECT ended_at, seconds FROM commands WHERE import_id = 'nightly'")[0]
    success = datetime.fromisoformat(ended[0]).timestamp()
    assert first[("session_import_last_run_exit_code", nightly)] == 0
    assert first[("session_import_last_run_end_timestamp_seconds", nightly)] == success
    assert first[("session_import_last_success_timestamp_seconds", nightly)] == success
    assert first[("session_import_last_run_duration_seconds", nightly)] == pytest.approx(ended[1])
    assert first[("session_import_last_run_finished", nightly)] == 1
    assert (
        first[("session_import_last_run_rows", (("import", "nightly"), ("outcome", "created")))]
        == 2
    )
    assert (
        first[("session_import_last_run_rows", (("import", "nightly"), ("outcome", "rejected")))]
        == 0
    )
    assert sorted(p.name for p in prom.parent.iterdir()) == [
        "session_import.prom"
    ]  # no temporary left
    assert prom.stat().st_mode & 0o777 == 0o644

    bad = folder / "night2.csv"
    bad.write_text(HEAD + "M;TP-001;U;nobody\n")
    assert ws.run("run", "--metrics-file", prom, config).exit_code == 3
    second = metrics(prom)
    assert second[("session_import_last_run_exit_code", nightly)] == 3
    assert second[("session_import_last_success_timestamp_seconds", nightly)] == success  # kept
    assert (
        second[("session_import_last_run_rows", (("import", "nightly"), ("outcome", "rejected")))]
        == 1
    )
    unwritable = ws.run("run", "--metrics-file", ws.root / "nowhere" / "x.prom", config)
    assert unwritable.exit_code == 0  # no file tonight; the metrics failure changes nothing
    assert unwritable.stderr.startswith(
        f"Could not write the metrics file {ws.root / 'nowhere' / 'x.prom'}: "
    )


PUBLISHING = NIGHTLY_CONFIG.replace("{status}", "").replace(
    "{publishers}",
    """      <perculusPublisher>
        <baseUrl>{url}</baseUrl><timezone>Europe/Paris</timezone><timeout>2</timeout>
      </perculusPublisher>""",
)


def test_pending_changes_per_publisher_then_publish_delivers_them(
    ws, perculus_emulator, monkeypatch
):  # noqa: F811
    monkeypatch.setenv("PERCULUS_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("PERCULUS_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PERCULUS_ACCOUNT_ID", ACCOUNT_ID)
    ws.seed()
    down = ws.write("nightly.xml", PUBLISHING.format(url="http://127.0.0.1:9"))
    ws.write(
        "night1.csv",
        "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;"
        "sessionEndDate;teacherLogin\nM;TP-001;S;01/03/2027 09:00;01/03/2027 11:00;jdupont\n",
    )
    prom = ws.root / "nightly.prom"
    assert ws.run("run", "--metrics-file", prom, "--publish-timeout", "20", down).exit_code == 6
    pending = (("import", "nightly"), ("publisher", "perculus"))
    assert metrics(prom)[("session_import_pending_changes", pending)] == 1
    result = status(ws, "--config", down)
    assert result.exit_code == 1
    assert "to publish: perculus 1" in result.stdout
    assert "exited 6: night1.csv: applied; 1 change still to publish." in result.stderr
    up = ws.write("nightly.xml", PUBLISHING.format(url=perculus_emulator.base_url))
    assert ws.run("publish", "--metrics-file", prom, up).exit_code == 0
    after = metrics(prom)
    assert after[("session_import_pending_changes", pending)] == 0
    assert after[("session_import_last_run_exit_code", (("import", "nightly"),))] == 0
    assert status(ws, "--config", up).exit_code == 0
    assert "nightly: ok; last publish " in status(ws, "--config", up).stdout
