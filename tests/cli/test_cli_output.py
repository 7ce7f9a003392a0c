"""What the terminal shows: a table on a TTY, plain lines when piped, only errors with --quiet."""

from __future__ import annotations

import re

from conftest import rows
from terminal import on_a_terminal, run_on_a_terminal


def test_piped_output_is_plain_lines(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;"))
    result = ws.run("run", sessions_config, data)
    summary, last = result.stdout.splitlines()
    assert summary == (
        f"{data} [sessions, createOrUpdateSessionAction]: 2 rows: 1 created, 0 updated, "
        "0 unchanged, 0 cancelled, 1 rejected, 0 warnings"
    )
    assert re.fullmatch(r"Finished in \d+\.\d+ s\.", last)
    assert result.stderr == f"{data}:3: Teacher with login nobody is not found.\n"
    assert "\x1b[" not in result.stdout + result.stderr


def test_quiet_prints_only_errors(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;", "M;TP-001;B;;;open;;;nobody;;"))
    result = ws.run("run", "--quiet", sessions_config, data)
    assert result.stdout == ""
    rejected, summary = result.stderr.splitlines()
    assert rejected == f"{data}:3: Teacher with login nobody is not found."
    # issue 12: a command that ends non-zero also says, dated, what each unclean file came to
    assert re.fullmatch(
        rf"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d {re.escape(str(data))} "
        r"\[sessions, createOrUpdateSessionAction\]: run 4, exit 1: 2 rows, 1 created, 0 updated, "
        r"0 unchanged, 0 cancelled, 1 rejected, 0 warnings: 1 row rejected",
        summary,
    )
    assert result.exit_code == 1


def test_verbose_adds_the_run_and_its_speed(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    result = ws.run("run", "--verbose", sessions_config, data)
    assert f"{data}: run 4, " in result.stdout and " rows/s" in result.stdout


def test_a_terminal_gets_a_table(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    code, text = run_on_a_terminal(ws, sessions_config, data)
    assert code == 0
    assert "created" in text and "rejected" in text
    assert "│" in text or "┃" in text  # a rich table, not the plain line
    assert "1 rows: 1 created" not in text


def test_progress_on_a_terminal_unless_asked_not_to(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows(*(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(12_000))))
    code, text = run_on_a_terminal(ws, "--dry-run", sessions_config, data)
    assert code == 0
    assert "s.csv (createOrUpdateSessionAction)" in text and "rows/s" in text
    code, text = run_on_a_terminal(ws, "--dry-run", "--no-progress", sessions_config, data)
    assert code == 0
    assert "rows/s" not in text
    piped = ws.run("run", "--dry-run", sessions_config, data)
    assert "rows/s" not in piped.stdout


def test_history_is_a_table_on_a_terminal(ws, sessions_config):
    ws.seed()
    ws.run("run", sessions_config, ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;")))
    code, runs = on_a_terminal("history", "--db", str(ws.db))
    assert code == 0 and ("│" in runs or "┃" in runs) and "sessions" in runs
    code, journal = on_a_terminal("history", "4", "--db", str(ws.db))
    # the journal is streamed, one line per change (a run may hold millions)
    assert code == 0 and journal.startswith("line 2: session ") and " (A) created: " in journal


def test_version_and_help(ws):
    from session_import import __version__

    assert ws.run("--version").stdout.strip() == f"session-import, version {__version__}"
    helped = ws.run("--help")
    assert helped.exit_code == 0
    for command in ("run", "check", "export", "history", "revert"):
        assert command in helped.stdout
    run_help = ws.run("run", "--help").stdout
    for option in (
        "--dry-run",
        "--report",
        "--rejects",
        "--diff",
        "--no-progress",
        "--lock-timeout",
        "--max-rejects",
        "--max-cancel",
        "--force",
        "--db",
        "--quiet",
        "--verbose",
    ):
        assert option in run_help
