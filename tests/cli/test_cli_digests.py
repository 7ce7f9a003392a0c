"""Unchanged rows skipped by digest (issue 19.3), through `session-import run`: a row the
import applied before, with the same cells, whose session nothing changed since, is
counted unchanged without being resolved again; each guard below makes a row that looks
the same be resolved in full, and the test fails without it."""

from __future__ import annotations

import re
import sqlite3

import psycopg
import pytest
from conftest import SESSION_CONFIG, rows

NIGHT = [f"M;TP-001;S{n};;;open;2099-03-0{n};;jdupont;;" for n in range(1, 6)]


def config(ws, full_access: str = "no", name: str = "nightly.xml"):
    actions = SESSION_CONFIG.format(full_access=full_access)
    return ws.write(name, f'<import-config><import id="nightly">{actions}</import></import-config>')


@pytest.fixture
def night(ws):
    """A store with the reference data and five sessions: a first night created them, a
    second found them unchanged and kept their digests."""
    ws.seed()
    cfg = config(ws)
    first = ws.write("night1.csv", rows(*NIGHT))
    assert ws.run("run", cfg, first).exit_code == 0
    result = ws.run("run", "--force", cfg, first)
    assert "5 unchanged, 0 cancelled" in result.stdout, result.stdout
    return ws, cfg


def test_a_create_keeps_no_digest_and_the_first_unchanged_night_does(ws):
    ws.seed()
    cfg = config(ws)
    first = ws.write("night1.csv", rows(*NIGHT))
    assert ws.run("run", cfg, first).exit_code == 0
    assert ws.query("SELECT count(*) FROM import_digests") == [(0,)]
    _, entry = again(ws, cfg, NIGHT)
    assert entry["counts"]["unchanged"] == 5 and "unchanged_by_digest" not in entry
    assert ws.query("SELECT count(*) FROM import_digests") == [(5,)]
    _, entry = again(ws, cfg, NIGHT)
    assert entry["unchanged_by_digest"] == 5


def again(ws, cfg, lines, *extra: str, codes=(0, 1)):
    data = ws.write("night2.csv", rows(*lines))
    result, report = ws.import_rows(cfg, data, "--force", *extra)
    assert result.exit_code in codes, result.stderr
    (entry,) = report["files"]
    return result, entry


def execute(ws, sql: str, *params) -> None:
    """SQL on the store outside any run, as a hand would write it."""
    if ws.on_postgres:
        with psycopg.connect(ws.db, autocommit=True) as conn:
            conn.execute(sql.replace("?", "%s"), params)
        return
    conn = sqlite3.connect(ws.db)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def test_a_night_like_the_last_counts_its_rows_unchanged_by_digest(night):
    ws, cfg = night
    result, entry = again(ws, cfg, NIGHT)
    assert entry["counts"]["unchanged"] == 5 and entry["unchanged_by_digest"] == 5
    assert "5 unchanged (5 by digest)" in result.stdout
    history = ws.run("history").stdout
    full, entry = again(ws, cfg, NIGHT, "--resolve-all")
    assert entry["counts"]["unchanged"] == 5 and "unchanged_by_digest" not in entry
    assert "5 unchanged, 0 cancelled" in full.stdout
    assert "by digest" not in full.stdout
    assert history  # the runs are on record like any other


def test_only_the_rows_that_changed_are_resolved(night):
    ws, cfg = night
    changed = [*NIGHT[:2], NIGHT[2].replace(";open;", ";closed;"), *NIGHT[3:]]
    _, entry = again(ws, cfg, changed, "--diff")
    assert entry["counts"]["updated"] == 1 and entry["counts"]["unchanged"] == 4
    assert entry["unchanged_by_digest"] == 4
    assert [c["fields"] for c in entry["changes"]] == [{"status": ["open", "closed"]}]


def test_a_session_another_import_changed_is_resolved_again(night):
    ws, cfg = night
    other_cfg = other_import(ws)
    moved = ws.write("other.csv", rows("M;TP-001;S2;;;closed;2099-03-02;;jdupont;;"))
    assert ws.run("run", other_cfg, moved).exit_code == 0
    _, entry = again(ws, cfg, NIGHT, "--diff")
    assert entry["counts"]["updated"] == 1 and entry["unchanged_by_digest"] == 4
    assert entry["changes"][0]["fields"] == {"status": ["closed", "open"]}


def test_a_session_changed_by_hand_is_resolved_again(night):
    ws, cfg = night
    execute(ws, "UPDATE sessions SET start_date = '2099-04-01' WHERE title = 'S3'")
    _, entry = again(ws, cfg, NIGHT)
    assert entry["counts"]["updated"] == 1 and entry["unchanged_by_digest"] == 4
    assert {s["title"]: s["start_date"] for s in ws.export()}["S3"] == "2099-03-03"


def test_a_session_deleted_by_hand_is_created_again(night):
    ws, cfg = night
    execute(ws, "DELETE FROM sessions WHERE title = 'S4'")
    _, entry = again(ws, cfg, NIGHT)
    assert entry["counts"]["created"] == 1 and entry["unchanged_by_digest"] == 4


def other_import(ws, search: str = "sessionTitle"):
    """Another import, with full access, whose search is by ``search``."""
    text = config(ws, "yes", name="other.xml").read_text().replace('"nightly"', '"other"')
    text = re.sub(
        r"<sessionSearchField>\s*<sessionTitle/>", f"<sessionSearchField><{search}/>", text
    )
    return ws.write("other.xml", text)


@pytest.mark.parametrize("how", ["run", "hand"])
def test_a_second_session_with_the_same_criteria_rejects_the_row(night, how):
    ws, cfg = night
    if how == "run":  # searched by GUID, a row without one creates a session: a twin of S1
        twin = ws.write("twin.csv", rows("M;TP-001;S1;;;open;2099-03-01;;jdupont;;"))
        assert ws.run("run", other_import(ws, "sessionGuid"), twin).exit_code == 0
    else:
        execute(
            ws,
            "INSERT INTO sessions (id, guid, title, status, start_date, training_id,"
            " created_by_import, updated_by_import) SELECT id + 100, 'TWIN', title, status,"
            " start_date, training_id, 'other', 'other' FROM sessions WHERE title = 'S1'",
        )
    _, entry = again(ws, cfg, NIGHT)
    assert entry["counts"]["rejected"] == 1 and entry["unchanged_by_digest"] == 4
    assert entry["rejected"][0]["messages"] == ["Session with sessionTitle S1 is duplicated."]


def test_a_teacher_whose_login_changed_is_looked_up_again(night):
    ws, cfg = night
    learners = ws.write(
        "rename.xml",
        """
        <actions><createOrUpdateLearnerAction>
          <options><traineeSearchField><candidateRefNumber/></traineeSearchField>
          <fullAccess>yes</fullAccess></options>
          <fields><candidateLogin/><candidateRefNumber/></fields>
        </createOrUpdateLearnerAction></actions>
        """,
    )
    renamed = ws.write("rename.csv", "candidateLogin;candidateRefNumber\njdupont2;E1001\n")
    assert ws.run("run", learners, renamed).exit_code == 0
    _, entry = again(ws, cfg, NIGHT, codes=(3,))
    assert entry["counts"]["rejected"] == 5 and "unchanged_by_digest" not in entry
    assert "jdupont" in entry["rejected"][0]["messages"][0]


def test_an_earlier_row_of_the_file_that_moves_the_session_is_seen(night):
    ws, cfg = night
    # line 2 closes S1; line 3 is last night's S1 row again, which opens it: both update
    lines = [NIGHT[0].replace(";open;", ";closed;"), *NIGHT]
    _, entry = again(ws, cfg, lines)
    assert entry["counts"]["updated"] == 2 and entry["unchanged_by_digest"] == 4
    assert {s["title"]: s["status"] for s in ws.export()}["S1"] == "open"


def test_another_configuration_trusts_no_digest(night):
    ws, cfg = night
    full_access = ws.write(
        "nightly.xml", cfg.read_text().replace("<fullAccess>no", "<fullAccess>yes")
    )
    _, entry = again(ws, full_access, NIGHT)
    assert entry["counts"]["unchanged"] == 5 and "unchanged_by_digest" not in entry
    _, entry = again(ws, full_access, NIGHT)
    assert entry["unchanged_by_digest"] == 5


def test_a_dry_run_reads_the_digests_and_writes_none(night):
    ws, cfg = night
    lines = [*NIGHT, "M;TP-001;S9;;;open;2099-03-09;;jdupont;;"]
    _, entry = again(ws, cfg, lines)  # S9 created: no digest yet
    before = ws.query("SELECT count(*), max(run_id) FROM import_digests")
    assert before[0][0] == 5
    _, entry = again(ws, cfg, lines, "--dry-run")  # S9 unchanged: a real run would keep it
    assert entry["counts"]["unchanged"] == 6 and entry["unchanged_by_digest"] == 5
    assert ws.query("SELECT count(*), max(run_id) FROM import_digests") == before
    _, entry = again(ws, cfg, lines)
    assert ws.query("SELECT count(*) FROM import_digests") == [(6,)]


def test_a_file_that_fails_keeps_the_digests_it_found(night):
    ws, cfg = night
    before = ws.query("SELECT key, run_id FROM import_digests ORDER BY key")
    bad = [*NIGHT, "M;TP-404;S9;;;open;2099-03-09;;jdupont;;"]
    result, entry = again(ws, cfg, bad, "--max-rejects", "0", codes=(3,))
    assert entry.get("applied") is False
    assert ws.query("SELECT key, run_id FROM import_digests ORDER BY key") == before


def test_on_postgresql_no_digest_is_written_while_another_command_holds_the_store(night):
    ws, cfg = night
    if not ws.on_postgres:
        pytest.skip("one writer at a time on SQLite: there is no other command to wait for")
    from session_import.store.postgres.lock import STORE_KEY

    lines = [*NIGHT, "M;TP-001;S9;;;open;2099-03-09;;jdupont;;"]
    again(ws, cfg, lines)  # S9 created: no digest yet
    with psycopg.connect(ws.db, autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock_shared(%s)", (STORE_KEY,))
        _, entry = again(ws, cfg, lines)  # S9 unchanged, but another command holds the store
    assert entry["counts"]["unchanged"] == 6 and entry["unchanged_by_digest"] == 5
    assert ws.query("SELECT count(*) FROM import_digests") == [(5,)]
    _, entry = again(ws, cfg, lines)  # alone: S9's digest is kept
    assert entry["unchanged_by_digest"] == 5
    assert ws.query("SELECT count(*) FROM import_digests") == [(6,)]
    _, entry = again(ws, cfg, lines)
    assert entry["unchanged_by_digest"] == 6


def test_an_earlier_row_found_the_session_by_another_search_field(night):
    """Searched by id or start date: a row with no id finds the session by its start date."""
    ws, _ = night
    text = config(ws, "yes", name="by-id.xml").read_text()
    text = re.sub(
        r"<sessionSearchField>\s*<sessionTitle/>",
        "<sessionSearchField><sessionId/><sessionStartDate/>",
        text,
    )
    by_id = ws.write("by-id.xml", text.replace('"nightly"', '"by-id"'))
    reopen = "M;TP-001;S1;;1;open;;;jdupont;;"  # session 1, by its id
    assert ws.run("run", "--force", by_id, ws.write("n1.csv", rows(reopen))).exit_code == 0
    close = "M;TP-001;S1;;;closed;2099-03-01;;jdupont;;"  # session 1, by its start date
    data = ws.write("n2.csv", rows(close, reopen))
    result, report = ws.import_rows(by_id, data, "--force")
    assert result.exit_code == 0, result.stderr
    (entry,) = report["files"]
    assert entry["counts"]["updated"] == 2, entry
    assert {s["title"]: s["status"] for s in ws.export()}["S1"] == "open"
