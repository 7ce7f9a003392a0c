"""The terminal: a marked dry run, data never read as markup, emoji codes or control codes,
rejected rows before the summary and capped, a real progress bar, the elapsed time.

Each test runs the real command on a pseudo-terminal (stdout and stderr both on it)."""

from __future__ import annotations

import json
import re

from conftest import rows
from terminal import on_a_terminal, run_on_a_terminal

ESCAPE_TITLE = "\x1b]0;pwned\x07"  # an OSC sequence: retitles the terminal
RED = "\x1b[31m"


def last_line(text: str) -> str:
    return [line for line in text.splitlines() if line.strip()][-1].strip()


def test_a_dry_run_is_marked_in_the_title_and_in_the_last_line(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows("M;TP-001;A;;;open;;;jdupont;;"))
    code, text = run_on_a_terminal(ws, "--dry-run", sessions_config, data)
    assert code == 0
    assert "session-import: dry run, nothing written" in text
    assert re.fullmatch(
        r"Dry run finished in \d+\.\d+ s: nothing was written to the store\.", last_line(text)
    )
    assert "time" in text  # the table's column of each file's elapsed time
    code, text = run_on_a_terminal(ws, sessions_config, data)
    assert code == 0
    assert "dry run" not in text and "session-import" in text
    assert re.fullmatch(r"Finished in \d+\.\d+ s\.", last_line(text))


def test_data_is_printed_as_written_never_as_markup_or_emoji(ws, sessions_config):
    """Line 100 used to print as `s.csv💯`; `[bold]x` and `[/x]` were eaten or crashed rich."""
    ws.seed()
    good = [f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(98)]  # lines 2 to 99
    data = ws.write(
        "[b]s.csv", rows(*good, "M;[bold]x;T;;;open;;;jdupont;;", "M;TP-001;[/x];;;open;;;nobody;;")
    )
    code, text = run_on_a_terminal(ws, sessions_config, data)
    assert code == 1
    assert f"{data}:100: Training with training path code [bold]x is not found." in text
    assert f"{data}:101: Teacher with login nobody is not found." in text
    assert "💯" not in text
    assert "[b]s.csv" in text  # in the summary table too


def test_control_characters_are_escaped_on_the_terminal_never_in_the_store(ws, sessions_config):
    ws.seed()
    title = f"A{ESCAPE_TITLE}B"
    data = ws.write(
        "s.csv", rows(f'M;TP-001;"{title}";;;open;;;jdupont;;', f"M;{RED}red;T;;;open;;;jdupont;;")
    )
    code, text = run_on_a_terminal(ws, sessions_config, data)
    assert code == 1
    assert "Training with training path code \\x1b[31mred is not found." in text
    assert RED + "red" not in text
    code, journal = on_a_terminal("history", "--db", str(ws.db), "4")
    assert code == 0
    assert " (A\\x1b]0;pwned\\x07B) created: title: -> A\\x1b]0;pwned\\x07B;" in journal
    assert ESCAPE_TITLE not in journal
    assert ws.query("SELECT title FROM sessions") == [(title,)]  # the store keeps the value
    piped = ws.run("history", "--db", ws.db, "4")  # a log read later in a terminal: escaped too
    assert ESCAPE_TITLE not in piped.stdout and "A\\x1b]0;pwned\\x07B" in piped.stdout
    as_json = json.loads(ws.run("history", "--db", ws.db, "--format", "json", "4").stdout)
    assert as_json[0]["title"] == title  # JSON has its own escapes: the value as it is


def test_history_of_titles_that_look_like_markup(ws, sessions_config):
    """`history RUN` crashed with MarkupError on a title holding `[/x]`."""
    ws.seed()
    ws.run(
        "run",
        sessions_config,
        ws.write(
            "[/x].csv",
            rows("M;TP-001;[/x];;;open;;;jdupont;;", "M;TP-001;[bold]y;;;open;;;jdupont;;"),
        ),
    )
    code, journal = on_a_terminal("history", "--db", str(ws.db), "4")
    assert code == 0
    assert (
        " ([/x]) created: title: -> [/x];" in journal
        and " ([bold]y) created: title: -> [bold]y;" in journal
    )
    code, runs = on_a_terminal("history", "--db", str(ws.db))  # a file named [/x].csv: no crash
    assert code == 0 and "┏" in runs and "MarkupError" not in runs


def test_rejected_rows_come_before_the_summary_and_are_capped(ws, sessions_config):
    ws.seed()
    data = ws.write("s.csv", rows(*(f"M;TP-001;S{i};;;open;;;nobody;;" for i in range(30))))
    code, text = run_on_a_terminal(ws, sessions_config, data)
    assert code == 3
    shown = re.findall(
        rf"{re.escape(str(data))}:(\d+): Teacher with login nobody is not found\.", text
    )
    assert shown == [str(line) for line in range(2, 22)]  # the first 20
    more = f"{data}: and 10 more rows: see --rejects FILE or --report FILE"
    assert more in text
    assert text.index(more) < text.index("┏")  # the summary table comes after
    rejects, report = ws.root / "r.csv", ws.root / "r.json"
    code, text = run_on_a_terminal(ws, "--rejects", rejects, sessions_config, data)
    assert f"{data}: and 10 more rows: see {rejects}" in text
    code, text = run_on_a_terminal(
        ws, "--rejects", rejects, "--report", report, sessions_config, data
    )
    assert f"{data}: and 10 more rows: see {rejects} or {report}" in text
    assert len(rejects.read_text().splitlines()) == 31  # the file has them all
    piped = ws.run("run", sessions_config, data)  # cron's mail lists every row
    assert piped.stderr.count("Teacher with login nobody is not found.") == 30
    assert "more rows" not in piped.stderr


def test_the_progress_bar_shows_percent_time_left_and_a_sane_rate(ws, sessions_config):
    """The first frame used to read 2,171,081,223 rows/s: the rate was timed from the end of
    the first chunk. It is timed from the start of the file."""
    ws.seed()
    data = ws.write("s.csv", rows(*(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(12_000))))
    code, text = run_on_a_terminal(ws, "--dry-run", sessions_config, data)
    assert code == 0
    assert "s.csv (createOrUpdateSessionAction)" in text
    percents = [int(p) for p in re.findall(r"(\d+)% ", text)]
    assert percents and max(percents) <= 100 and any(0 < p < 100 for p in percents)
    assert re.search(r"\d+:\d\d left", text)
    rates = [int(r.replace(",", "")) for r in re.findall(r"([\d,]+) rows/s", text)]
    assert rates and all(rate < 10_000_000 for rate in rates)
    assert "━" in text  # the bar itself
