"""No per-chunk query of an import may scan a whole table.

Run a real import while recording every statement the store executes, then ask
SQLite for each statement's plan (on the same connection, so the temp tables
exist). Plans do not depend on table sizes here: the store keeps no statistics,
so a plan that scans now would scan a million sessions in production. This is how
a quadratic double-booking join was found: the planner scanned every session once
per chunk.
"""

from __future__ import annotations

import re

from conftest import SAMPLE_CONFIGS

from session_import.config import load_config
from session_import.pipeline import RunOptions, run_import
from session_import.store import Store

# run once per file or per command, not per chunk: a scan there is linear, not quadratic
ONCE_PER_FILE = (
    "max(julianday(end_date)",
    "SELECT count(*) FROM sessions",
    "sqlite_sequence",
    "SELECT max(id) FROM",
    "sqlite_master",
    "PRAGMA",
)
BIG_TABLES = ("sessions", "journal", "users", "trainings", "groups", "runs")


def test_no_per_chunk_statement_scans_a_table(ws):
    ws.seed()
    data = ws.write(
        "s.csv",
        "sessionAction;trainingPathCode;sessionTitle;sessionGuid;sessionStatus;"
        "sessionStartDate;sessionEndDate;teacherLogin;groupName\n"
        + "".join(
            f"M;TP-00{1 + i % 3};S{i};;open;0{1 + i % 9}/12/2026 09:00;0{1 + i % 9}/12/2026 12:00;"
            f"jdupont;France\n"
            for i in range(30)
        )
        + "A;TP-001;S1;;;;;jdupont;\n",
    )
    statements: list[str] = []
    with Store(ws.db) as store:
        store.conn.set_trace_callback(statements.append)
        config = load_config(SAMPLE_CONFIGS / "sessions.xml")
        report = run_import(config, store, [data], RunOptions(chunk_rows=7))
        assert report.files[0].counts["created"] == 30
        store.conn.set_trace_callback(None)
        checked = _check_plans(store, statements)
    assert checked >= 5  # the session, training, teacher, group and booking look-ups at least


def test_the_indexes_made_on_demand_serve_searches_by_date_and_training_counts(ws):
    """A store is made without the sessions' start, end and training indexes: the first
    look-up by date, count by training or training deleted makes the one it needs."""
    ws.seed()
    by_title = ws.write(
        "t.csv",
        "sessionAction;trainingPathCode;sessionTitle;sessionGuid;sessionStatus;"
        "sessionStartDate;sessionEndDate;teacherLogin;groupName\n"
        "M;TP-001;T;;open;20/12/2026 09:00;20/12/2026 12:00;jdupont;France\n",
    )
    searches = "<sessionGuid/>\n            <sessionTitle/>"
    by_dates = ws.write(
        "dates.xml",
        (SAMPLE_CONFIGS / "sessions.xml")
        .read_text()
        .replace(searches, "<sessionStartDate/>\n            <sessionEndDate/>"),
    )
    by_end = ws.write(
        "end.xml",
        (SAMPLE_CONFIGS / "sessions.xml").read_text().replace(searches, "<sessionEndDate/>"),
    )
    data = ws.write(
        "s.csv",
        "sessionAction;trainingPathCode;sessionTitle;sessionGuid;sessionStatus;"
        "sessionStartDate;sessionEndDate;teacherLogin;groupName\n"
        + "".join(
            f"M;TP-001;S{i};;open;0{1 + i % 9}/12/2026 09:00;0{1 + i % 9}/12/2026 12:00;"
            f"jdupont;France\n"
            for i in range(9)
        ),
    )
    trainings = ws.write(
        "trainings.csv",
        "trainingAction;trainingPathCode;trainingTitle;trainingLocale;"
        "trainingModality;trainingDescription\nM;TP-001;Renamed;en-GB;blended;\n",
    )
    statements: list[str] = []
    with Store(ws.db) as store:
        run_import(load_config(SAMPLE_CONFIGS / "sessions.xml"), store, [by_title])
        assert not {"sessions_start", "sessions_end"} & _indexes(store)
        store.conn.set_trace_callback(statements.append)
        report = run_import(load_config(by_dates), store, [data], RunOptions(chunk_rows=4))
        assert report.files[0].counts["created"] == 9
        report = run_import(
            load_config(by_end), store, [data], RunOptions(chunk_rows=4, force=True)
        )
        assert report.files[0].counts["unchanged"] == 9
        report = run_import(load_config(SAMPLE_CONFIGS / "trainings.xml"), store, [trainings])
        assert report.files[0].counts["updated"] == 1
        store.conn.set_trace_callback(None)
        assert _check_plans(store, statements) >= 5
        assert {"sessions_start", "sessions_end", "sessions_training"} <= _indexes(store)


def _indexes(store: Store) -> set[str]:
    return {r[0] for r in store.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}


def _check_plans(store: Store, statements: list[str]) -> int:
    """Each per-chunk SELECT among ``statements`` scans no big table; how many were checked."""
    checked = 0
    for sql in dict.fromkeys(statements):
        if not sql.lstrip().upper().startswith("SELECT") or any(m in sql for m in ONCE_PER_FILE):
            continue
        params = [None] * sql.count("?")
        plan = " | ".join(row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        for table in BIG_TABLES:
            assert not re.search(rf"\bSCAN {table}\b|\bSCAN \w+ AS {table}\b|SCAN s\b", plan), (
                sql,
                plan,
            )
        checked += 1
    return checked
