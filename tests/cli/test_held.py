"""Held runs (issue 19.2): under <onLimit>hold</onLimit> or --on-limit hold, a file past a
safety limit is rolled back and kept for approval (exit 7); `approve RUN` applies it as a new
run when nothing it depends on changed since, `discard RUN` drops it; status lists them."""

from __future__ import annotations

import json

import pytest
from conftest import SESSION_CONFIG, rows

from session_import.store import MIGRATIONS, SCHEMA_VERSION

HELD = 7


def config_with(ws, safety: str = "", name: str = "nightly.xml"):
    actions = SESSION_CONFIG.format(full_access="no")
    text = f'<import-config><import id="nightly">{actions}{safety}</import></import-config>'
    return ws.write(name, text)


def row(title: str, action: str = "M", teacher: str = "jdupont") -> str:
    return f"{action};TP-001;{title};;;open;2099-03-01;;{teacher};;"


@pytest.fixture
def night(ws):
    """Five sessions on record, and a file that cancels three of them (past --max-cancel 1)."""
    ws.seed()
    config = config_with(ws, "<safety><maxCancel>1</maxCancel><onLimit>hold</onLimit></safety>")
    first = ws.write("night1.csv", rows(*(row(f"S{n}") for n in range(1, 6))))
    assert ws.run("run", config, first).exit_code == 0
    cancels = ws.write(
        "night2.csv", rows(row("S1", "A"), row("S2", "A"), row("S3", "A"), row("S4 new"))
    )
    return ws, config, cancels


def nightly_status(ws) -> dict:
    imports = json.loads(ws.run("status", "--format", "json").stdout)["imports"]
    return next(i for i in imports if i["import"] == "nightly")


def test_a_file_past_a_limit_is_held_rolled_back_and_listed(night):
    ws, config, cancels = night
    before = ws.export()
    result, report = ws.import_rows(config, cancels)
    assert result.exit_code == HELD
    assert report["exit_code"] == HELD
    (entry,) = report["files"]
    assert entry["held"] is True and entry["applied"] is False
    assert entry["counts"]["cancelled"] == 3 and entry["counts"]["created"] == 1
    assert "it would cancel 3 sessions, more than --max-cancel 1 allows" in entry["error"]
    assert ws.export() == before
    assert "is held for approval as run 5: `session-import approve 5`" in result.stderr + (
        result.stdout
    )
    assert ws.query("SELECT run_id, state FROM held_runs") == [(5, "held")]
    assert ws.query("SELECT count(*) FROM held_sessions WHERE run_id = 5") == [(3,)]
    imp = nightly_status(ws)
    assert imp["held"][0]["run_id"] == 5 and imp["state"] == "failed"
    said = ws.run("status")
    assert said.exit_code == 1
    assert "run 5 (" in said.stdout + said.stderr and "held for approval" in said.stdout
    history = json.loads(ws.run("history", "--format", "json").stdout)
    assert history[0]["outcome"].startswith("held for approval: ")


def test_approve_applies_the_held_file_as_a_new_run(night):
    ws, config, cancels = night
    assert ws.run("run", config, cancels).exit_code == HELD
    result = ws.run("approve", "--db", ws.db, "5")
    assert result.exit_code == 0, result.stderr
    assert "Run 5 (" in result.stdout + result.stderr
    assert sorted(s["title"] for s in ws.export()) == ["S4", "S4 new", "S5"]
    assert ws.query("SELECT state, applied_by FROM held_runs") == [("approved", 6)]
    assert nightly_status(ws)["held"] == []
    again = ws.run("approve", "--db", ws.db, "5")
    assert again.exit_code == 1
    assert again.stderr.startswith("Run 5 is no longer held: it was approved on ")
    # the file is now applied: the next night skips it
    assert ws.run("run", config, cancels).exit_code == 0
    assert ws.query("SELECT kind FROM runs ORDER BY id DESC LIMIT 1") == [("skip",)]


def test_approve_refuses_when_the_file_or_a_session_changed(night):
    ws, config, cancels = night
    assert ws.run("run", config, cancels).exit_code == HELD
    original = cancels.read_bytes()
    cancels.write_bytes(original + row("S9").encode() + b"\n")
    result = ws.run("approve", "--db", ws.db, "5")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Run 5 cannot be approved: its file {cancels} changed since")
    cancels.write_bytes(original)
    # another file changes S2 (one of the sessions the held run would cancel)
    change = ws.write("night3.csv", rows("M;TP-001;S2;;;closed;2099-03-01;;jdupont;;"))
    plain = config_with(ws, name="plain.xml")
    plain.write_text(plain.read_text().replace('id="nightly"', 'id="nightly"', 1))
    assert ws.run("run", plain, change).exit_code == 0
    s2 = next(s for s in ws.export() if s["title"] == "S2")
    result = ws.run("approve", "--db", ws.db, "5")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Run 5 cannot be approved: session S2 ({s2['guid']}) changed since it was held; run"
        " the import again.\n"
    )
    assert ws.query("SELECT state FROM held_runs") == [("held",)]


def test_discard_drops_a_held_run(night):
    ws, config, cancels = night
    before = ws.export()
    assert ws.run("run", config, cancels).exit_code == HELD
    result = ws.run("discard", "--db", ws.db, "5")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Run 5 (")
    assert ws.export() == before
    assert ws.query("SELECT state FROM held_runs") == [("discarded",)]
    assert ws.run("approve", "--db", ws.db, "5").exit_code == 1
    assert ws.run("discard", "--db", ws.db, "4").stderr.startswith("Run 4 is not a held run")


def test_on_limit_hold_from_the_command_line_and_in_a_dry_run(night):
    ws, _, cancels = night
    plain = config_with(ws, "<safety><maxCancel>1</maxCancel></safety>", name="plain.xml")
    assert ws.run("run", plain, cancels).exit_code == 3
    result = ws.run("run", "--dry-run", "--on-limit", "hold", plain, cancels)
    assert result.exit_code == HELD
    assert "would be held for approval" in result.stdout + result.stderr
    assert ws.query("SELECT count(*) FROM held_runs") == [(0,)]
    assert ws.run("run", "--on-limit", "hold", plain, cancels).exit_code == HELD
    assert ws.query("SELECT count(*) FROM held_runs") == [(1,)]


def test_the_metrics_count_held_runs_and_help_lists_exit_7(night, tmp_path):
    ws, config, cancels = night
    metrics = tmp_path / "metrics.prom"
    result = ws.run("run", "--metrics-file", metrics, config, cancels)
    assert result.exit_code == HELD
    text = metrics.read_text()
    assert 'session_import_held_runs{import="nightly"} 1.0' in text
    assert 'session_import_last_run_exit_code{import="nightly"} 7.0' in text
    assert "  7   held for approval" in ws.run("--help").stdout


def test_an_on_limit_value_that_is_not_fail_or_hold_is_refused(ws):
    config = config_with(ws, "<safety><onLimit>wait</onLimit></safety>")
    result = ws.run("check", config)
    assert result.exit_code == 4
    assert '<onLimit> is "wait"; write fail or hold (default fail).' in result.stderr


@pytest.mark.sqlite_only  # the SQLite file's own migration
def test_a_version_5_store_gains_the_held_runs_tables(ws):
    import sqlite3

    ws.db.unlink()
    conn = sqlite3.connect(ws.db)
    for version in range(1, 6):
        conn.executescript(MIGRATIONS[version])
    conn.execute("PRAGMA user_version = 5")
    conn.commit()
    conn.close()
    assert ws.run("history").exit_code == 0
    assert ws.query("PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert ws.query("SELECT count(*) FROM held_runs") == [(0,)]


def test_the_page_and_the_email_subject_say_held(night, tmp_path):
    from session_import.config import load_config
    from session_import.consolidators import email_subject
    from session_import.report import FileReport

    ws, config, cancels = night
    page = tmp_path / "night.html"
    assert ws.run("run", "--html", page, config, cancels).exit_code == HELD
    assert "held for approval" in page.read_text()
    (imp,) = load_config(config).imports
    held = FileReport(str(cancels), "nightly", "createOrUpdateSessionAction", held=True)
    assert email_subject(imp, cancels, [held]) == (
        "session-import: nightly night2.csv: held for approval, nothing applied"
    )


def test_check_says_a_file_past_a_limit_is_held(ws):
    config = config_with(ws, "<safety><maxCancel>1</maxCancel><onLimit>hold</onLimit></safety>")
    result = ws.run("check", config)
    assert result.exit_code == 0, result.stderr
    assert "  a file past a limit is held for approval (exit 7)" in result.stdout
