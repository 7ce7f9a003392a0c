"""The outbox's delivery (SPEC 9) where a review found bugs, each kept as a regression test.

Every test drives the real CLI against the loopback emulators, as
test_publish_perculus.py and test_publish_zoho.py do.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import NIGHTLY_CONFIG, Workspace
from emulators.perculus import (
    ACCESS_KEY,
    ACCOUNT_ID,
    SECRET_KEY,
    PerculusEmulator,
    perculus_emulator,  # noqa: F401  (fixture)
)
from emulators.zoho import ZohoEmulator

from session_import.publishers import SessionData, session_payload

HEADER = "sessionAction;trainingPathCode;sessionTitle;sessionStartDate;sessionEndDate;teacherLogin"

# sessions are found by title AND start: two sessions may share a title
BY_TITLE_AND_START = NIGHTLY_CONFIG.replace(
    "<sessionSearchField><sessionTitle/></sessionSearchField>",
    "<sessionSearchField><sessionTitle/><sessionStartDate/></sessionSearchField>",
)

PERCULUS = """      <perculusPublisher>
        <baseUrl>{url}</baseUrl>
        <batchSize>100</batchSize>
        <timezone>Europe/Paris</timezone>
        <defaultDuration>60</defaultDuration>
        <timeout>5</timeout>
      </perculusPublisher>"""

ZOHO = """      <zohoPeoplePublisher>
        <baseUrl>{url}</baseUrl>
        <accountsUrl>{url}</accountsUrl>
        {default}
        <training pathCode="TP-002" courseId="C2" batchId="B2" moduleId="M2"/>
        <maxRequests>30</maxRequests>
        <windowSeconds>1</windowSeconds>
        <lockSeconds>2</lockSeconds>
        <timeout>5</timeout>
      </zohoPeoplePublisher>"""
ZOHO_DEFAULT = "<courseId>C1</courseId><batchId>B1</batchId><moduleId>M1</moduleId>"


def data(*rows: str) -> str:
    return "\n".join((HEADER,) + rows) + "\n"


def line(
    title: str,
    start: str,
    end: str,
    training: str = "TP-001",
    action: str = "M",
    teacher: str = "jdupont",
) -> str:
    return f"{action};{training};{title};{start};{end};{teacher}"


@pytest.fixture
def perculus_env(monkeypatch):
    monkeypatch.setenv("PERCULUS_ACCESS_KEY", ACCESS_KEY)
    monkeypatch.setenv("PERCULUS_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("PERCULUS_ACCOUNT_ID", ACCOUNT_ID)


@pytest.fixture
def zoho(monkeypatch):
    emulator = ZohoEmulator(max_requests=30, window_seconds=1.0, lock_seconds=2.0)
    monkeypatch.setenv("ZOHO_CLIENT_ID", emulator.client_id)
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", emulator.client_secret)
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", emulator.refresh_token)
    with emulator:
        yield emulator


def perculus_config(ws: Workspace, emulator: PerculusEmulator, base: str = NIGHTLY_CONFIG) -> Path:
    config = base.replace("{status}", "").replace("{publishers}", PERCULUS)
    return ws.write("nightly.xml", config.format(url=emulator.base_url))


def zoho_config(
    ws: Workspace, emulator: ZohoEmulator, base: str = NIGHTLY_CONFIG, default: str = ZOHO_DEFAULT
) -> Path:
    config = base.replace("{status}", "").replace("{publishers}", ZOHO)
    return ws.write("nightly.xml", config.format(url=emulator.url, default=default))


def counts_add_up(counts: dict) -> bool:
    return counts["rows"] == sum(
        counts[k] for k in ("created", "updated", "unchanged", "cancelled", "rejected")
    )


# ---- was BUG 1: Perculus' look-up after a lost answer takes another session's guid ----------


def test_perculus_look_up_never_takes_the_guid_of_another_stored_session(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    ws.seed()
    config = perculus_config(ws, perculus_emulator)
    # two trainings, the same title and time: two different sessions (found within a training)
    first = ws.write(
        "night1.csv",
        data(line("Kick-off", "01/03/2027 09:00", "01/03/2027 10:00", training="TP-001")),
    )
    result, _ = ws.import_rows(config, first)
    assert result.exit_code == 0, result.stderr
    assert len(perculus_emulator.sessions) == 1

    # the next create meets one 503 (not applied); the client looks for it before retrying
    perculus_emulator.fail_next(1, status=503, path="/xapi/v2/session/batch")
    second = ws.write(
        "night2.csv",
        data(
            line(
                "Kick-off",
                "01/03/2027 09:00",
                "01/03/2027 10:00",
                training="TP-002",
                teacher="amartin",
            )
        ),
    )
    result, report = ws.import_rows(config, second)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["counts"]["created"] == 1
    remote = [s["remote"]["perculus"] for s in ws.export()]
    assert len(set(remote)) == 2, f"both local sessions share the Perculus guid {remote}"
    assert len(perculus_emulator.sessions) == 2


# ---- was BUG 2: Zoho's look-up matches name and date only --------------------------------------


def test_zoho_look_up_never_takes_the_id_of_another_session_of_the_same_day(
    ws: Workspace, zoho: ZohoEmulator
):
    ws.seed()
    config = zoho_config(ws, zoho, BY_TITLE_AND_START)
    first = ws.write("night1.csv", data(line("Safety", "01/03/2027 09:00", "01/03/2027 11:00")))
    result, _ = ws.import_rows(config, first)
    assert result.exit_code == 0, result.stderr
    assert len(zoho.sessions) == 1

    zoho.fail_next(1, status=503)  # the afternoon create is answered 503, not applied
    second = ws.write("night2.csv", data(line("Safety", "01/03/2027 14:00", "01/03/2027 16:00")))
    result, report = ws.import_rows(config, second)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["counts"]["created"] == 1
    remote = [s["remote"]["zoho"] for s in ws.export()]
    assert len(set(remote)) == 2, f"both local sessions share the Zoho session {remote}"
    assert sorted(s["startTime"] for s in zoho.sessions.values()) == ["02:00 PM", "09:00 AM"]


# ---- was BUG 3: a run over several files counts a file's pending changes again each time -------


def test_a_run_over_two_files_reports_pending_once_and_exits_0_when_all_was_delivered(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    ws.seed()
    config = perculus_config(ws, perculus_emulator)
    ws.write("night1.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 10:00")))
    ws.write("night2.csv", data(line("Session B", "02/03/2027 09:00", "02/03/2027 10:00")))
    # the first file's delivery meets three 503 (its three tries): pending; the second
    # file's delivery sends both files' creates
    perculus_emulator.fail_next(3, status=503, path="/xapi/v2/session/batch")
    out = ws.root / "r.json"
    result = ws.run("run", "--report", out, config)  # the provider's glob: both files
    report = json.loads(out.read_text())
    assert ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'") == [(0,)]
    assert len(perculus_emulator.sessions) == 2
    night1 = next(f for f in report["files"] if f["file"].endswith("night1.csv"))
    assert night1["publishers"]["perculus"] == {
        "published": 1,
        "rejected": 0,
        "pending": 0,
        "skipped": 0,
    }
    assert result.exit_code == 0, (result.exit_code, report)


# ---- was BUG 4: a full page of changes that stay queued starves everything after it ------------


def test_changes_that_stay_queued_do_not_block_later_ones(
    ws: Workspace, zoho: ZohoEmulator, monkeypatch
):
    from session_import.publishers import outbox

    monkeypatch.setattr(outbox, "QUEUE_PAGE", 2)  # 2000 in production
    ws.seed()
    # only TP-002 has a module: TP-001's sessions wait (NO_MODULE) until the config says where
    config = zoho_config(ws, zoho, default="")
    night = ws.write(
        "night.csv",
        data(
            line("Waits 1", "01/03/2027 09:00", "01/03/2027 10:00", training="TP-001"),
            line("Waits 2", "02/03/2027 09:00", "02/03/2027 10:00", training="TP-001"),
            line("Goes", "03/03/2027 09:00", "03/03/2027 10:00", training="TP-002"),
        ),
    )
    result, report = ws.import_rows(config, night)
    assert [s["name"] for s in zoho.sessions.values()] == ["Goes"], report
    assert report["files"][0]["publishers"]["zoho"]["published"] == 1


# ---- was BUG 5: a publish's report of an earlier run does not add up ---------------------------


def test_a_publish_report_counts_add_up_after_a_remote_rejection(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    from datetime import UTC, datetime

    ws.seed()
    down = NIGHTLY_CONFIG.replace("{status}", "").replace("{publishers}", PERCULUS)
    config = ws.write("nightly.xml", down.format(url="http://127.0.0.1:9"))
    night = ws.write("night.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 10:00")))
    result, _ = ws.import_rows(config, night, "--publish-timeout", "20")
    assert result.exit_code == 6, result.stderr

    config = perculus_config(ws, perculus_emulator)
    perculus_emulator.now = datetime(2027, 3, 2, tzinfo=UTC)  # the session is now in the past
    out = ws.root / "publish.json"
    ws.run("publish", "--report", out, config)
    file = json.loads(out.read_text())["files"][0]
    assert file["publishers"]["perculus"]["rejected"] == 1
    assert counts_add_up(file["counts"]), file["counts"]


# ---- was BUG 6: the publish timeout starts before the files are imported -----------------------


def test_the_publish_timeout_counts_only_the_time_spent_delivering(
    ws: Workspace,
    perculus_emulator: PerculusEmulator,
    perculus_env,  # noqa: F811
    monkeypatch,
):
    import time

    from session_import import pipeline

    ws.seed()
    config = perculus_config(ws, perculus_emulator)
    night = ws.write("night.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 10:00")))
    real_import = pipeline.import_file

    def slow_import(*args, **kwargs):  # a big file: its import takes a while
        time.sleep(2.5)
        return real_import(*args, **kwargs)

    monkeypatch.setattr(pipeline, "import_file", slow_import)
    result, report = ws.import_rows(config, night, "--publish-timeout", "2")
    assert report["files"][0]["publishers"]["perculus"]["published"] == 1, report
    assert len(perculus_emulator.sessions) == 1
    assert result.exit_code == 0


# ---- was BUG 7: a run that imports nothing new never delivers what is queued -------------------


def test_a_run_that_skips_an_imported_file_still_delivers_the_queue(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    ws.seed()
    down = NIGHTLY_CONFIG.replace("{status}", "").replace("{publishers}", PERCULUS)
    config = ws.write("nightly.xml", down.format(url="http://127.0.0.1:9"))
    ws.write("night.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 10:00")))
    first = ws.run("run", "--publish-timeout", "20", config)
    assert first.exit_code == 6, first.stderr

    config = perculus_config(ws, perculus_emulator)  # the service is back
    again = ws.run("run", config)  # night.csv was imported already: skipped
    assert "already imported" in again.stdout
    [(pending,)] = ws.query("SELECT count(*) FROM outbox WHERE state = 'pending'")
    # delivered now (exit 0), or at the very least said to be still pending (exit 6)
    assert (pending == 0 and again.exit_code == 0) or (pending > 0 and again.exit_code == 6), (
        again.exit_code,
        pending,
    )
    assert len(perculus_emulator.sessions) == 1


# ---- was BUG 8: an import's update of another import's session overtakes its create ------------


def test_an_update_by_another_import_never_makes_a_twin(
    ws: Workspace, perculus_emulator: PerculusEmulator, perculus_env
):  # noqa: F811
    ws.seed()
    base = NIGHTLY_CONFIG.replace("{status}", "").replace("{publishers}", PERCULUS)
    down = ws.write("a.xml", base.format(url="http://127.0.0.1:9"))
    up = ws.write("a-up.xml", base.format(url=perculus_emulator.base_url))
    other = ws.write(
        "b.xml", base.replace('id="nightly"', 'id="other"').format(url=perculus_emulator.base_url)
    )
    created = ws.write(
        "night-a.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 10:00"))
    )
    first = ws.run("run", "--publish-timeout", "20", down, created)
    assert first.exit_code == 6, first.stderr  # import A's create waits (service unreachable)

    updated = ws.write(
        "night-b.csv", data(line("Session A", "01/03/2027 09:00", "01/03/2027 11:00"))
    )  # fullAccess yes
    second = ws.run("run", other, updated)
    assert second.exit_code in (0, 6), second.stderr
    assert ws.run("publish", up).exit_code == 0
    assert ws.run("publish", other).exit_code == 0
    assert [s["name"] for s in perculus_emulator.sessions.values()] == ["Session A"]
    [exported] = ws.export()
    assert exported["remote"]["perculus"] in perculus_emulator.sessions


# ---- was BUG 9: reverting a cancel makes a second session on Zoho ------------------------------


def test_reverting_a_cancel_does_not_duplicate_the_session_on_zoho(
    ws: Workspace, zoho: ZohoEmulator
):
    ws.seed()
    config = zoho_config(ws, zoho)
    created = ws.write("night1.csv", data(line("Safety", "01/03/2027 09:00", "01/03/2027 11:00")))
    assert ws.import_rows(config, created)[0].exit_code == 0
    cancelled = ws.write(
        "night2.csv", data(line("Safety", "01/03/2027 09:00", "01/03/2027 11:00", action="A"))
    )
    result, report = ws.import_rows(config, cancelled)
    assert result.exit_code == 0, result.stderr
    assert report["files"][0]["warnings"]  # "delete ... by hand": not done yet
    run_id = json.loads(ws.run("history", "--format", "json").stdout)[0]["id"]
    reverted = ws.run("revert", "--db", ws.db, str(run_id))
    assert reverted.exit_code == 0, reverted.stderr
    assert ws.run("publish", config).exit_code == 0
    assert [s["name"] for s in zoho.sessions.values()] == ["Safety"]


# ---- the payload the outbox queues ------------------------------------------------------------


def test_the_queued_session_is_the_payload_of_its_records(ws: Workspace, zoho: ZohoEmulator):
    ws.seed()
    config = zoho_config(ws, zoho)
    night = ws.write("night.csv", data(line("Safety", "01/03/2027 09:00", "01/03/2027 11:00")))
    result, _ = ws.import_rows(config, night)
    assert result.exit_code == 0, result.stderr
    [(queued,)] = ws.query("SELECT session FROM outbox")
    [session] = ws.query(
        "SELECT guid, title, start_date, end_date, training_id, teacher_id FROM sessions"
    )
    [training] = ws.query(
        "SELECT path_code, title, locale, modality FROM trainings WHERE id = ?", session[4]
    )
    [(ref_number,)] = ws.query("SELECT ref_number FROM users WHERE id = ?", session[5])
    payload = session_payload(
        SimpleNamespace(
            guid=session[0], title=session[1], start_date=session[2], end_date=session[3]
        ),
        SimpleNamespace(
            path_code=training[0], title=training[1], locale=training[2], modality=training[3]
        ),
        SimpleNamespace(ref_number=ref_number),
    )
    assert json.loads(queued) == payload
    assert SessionData(**payload).title == "Safety"
