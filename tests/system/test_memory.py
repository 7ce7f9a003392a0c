"""Memory that stays flat (SPEC section 10): rejected rows, warnings and --diff changes are
kept on disk and every report reads them as a stream; the journal is streamed too."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import HEADER, ROOT, rows

from session_import.outputs import write_json
from session_import.spool import BLOCK_ENTRIES, SpooledList

# ---- the spool ----


def test_entries_in_line_order_come_back_through_the_temporary_file():
    entries = [
        (line, {"sessionTitle": f"S{line}"}, [f"message {line}"])
        for line in range(2, 2 + 3 * BLOCK_ENTRIES + 7)
    ]
    spooled = SpooledList(entries)
    assert len(spooled) == len(entries)
    assert list(spooled) == entries
    assert list(spooled) == entries  # read again: the file is read, not consumed
    spooled.flush()
    assert list(spooled) == entries


def test_entries_out_of_line_order_are_merged_stably():
    spooled = SpooledList()
    for entry in [(2, "a"), (5, "b"), (9, "c"), (3, "d"), (5, "e"), (1, "f")]:
        spooled.append(entry)
    assert list(spooled) == [(1, "f"), (2, "a"), (3, "d"), (5, "b"), (5, "e"), (9, "c")]
    spooled.clear()
    assert not spooled and list(spooled) == []


def test_the_json_report_is_written_as_json_dump_writes_it():
    value = {
        "dry_run": False,
        "files": [
            {
                "counts": {"rows": 2},
                "rejected": iter(
                    [
                        {"line": 2, "values": {"a": "é"}, "messages": ["x"]},
                        {"line": 3, "values": {}, "messages": []},
                    ]
                ),
                "warnings": iter([]),
                "none": {},
            }
        ],
        "consolidators": [],
        "exit_code": 1,
    }
    parts: list[str] = []
    write_json(value, parts.append)
    plain = {
        "dry_run": False,
        "files": [
            {
                "counts": {"rows": 2},
                "rejected": [
                    {"line": 2, "values": {"a": "é"}, "messages": ["x"]},
                    {"line": 3, "values": {}, "messages": []},
                ],
                "warnings": [],
                "none": {},
            }
        ],
        "consolidators": [],
        "exit_code": 1,
    }
    assert "".join(parts) == json.dumps(plain, indent=2, ensure_ascii=False)


# ---- through the command ----


def rejected_rows(count: int) -> str:
    return rows(*(f"M;TP-001;S{i};;;open;;;nobody;;" for i in range(count)))


LOGGED = """
<import-config><import id="sessions">
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid/><sessionId/><sessionStatus/>
      <sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators><timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger></consolidators>
</import></import-config>
"""


def test_thousands_of_rejected_rows_reach_every_report_whole_and_in_order(ws):
    ws.seed()
    count = 4 * BLOCK_ENTRIES + 3  # several blocks on disk, and some left in memory
    config = ws.write("logged.xml", LOGGED)
    data = ws.write("s.csv", rejected_rows(count) + "M;TP-001;Good;;;open;;;jdupont;;\n")
    report, rejects = ws.root / "r.json", ws.root / "rejects.csv"
    result = ws.run("run", "--report", report, "--rejects", rejects, config, data)
    assert result.exit_code == 1
    text = report.read_text(encoding="utf-8")
    written = json.loads(text)
    assert text == json.dumps(written, indent=2, ensure_ascii=False)
    (entry,) = written["files"]
    assert entry["counts"]["rejected"] == count and entry["counts"]["created"] == 1
    assert [r["line"] for r in entry["rejected"]] == list(range(2, count + 2))
    assert entry["rejected"][-1]["values"]["sessionTitle"] == f"S{count - 1}"
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{HEADER};errors" and len(lines) == count + 1
    assert (
        lines[-1]
        == f"M;TP-001;S{count - 1};;;open;;;nobody;;;Teacher with login nobody is not found."
    )
    assert (
        result.stderr.count("Teacher with login nobody is not found.") == count
    )  # piped: all of them
    (log,) = (ws.root / "logs").iterdir()
    logged = log.read_text(encoding="utf-8").splitlines()
    assert len(logged) == count and logged[0].startswith("Line number:2,ERROR,M,TP-001,S0,")


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None) -> float:
    proc = subprocess.Popen(
        [sys.executable, "-m", "session_import", *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode in (0, 1, 3)
    return usage.ru_maxrss / 1024


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_rejected_rows_nor_with_the_journal(ws):
    """Before: each rejected row cost about 0.85 kB until the end of the run (1M rows: 1.6 GB),
    and each journal entry 7 kB for `history RUN --format json` (1M changes: 7.6 GB). Both
    sizes fill whole chunks (5,000 rows); reading a journal still fills SQLite's page cache,
    which the store bounds at 64 MiB."""
    ws.seed()
    config = ws.root / "sessions.xml"
    config.write_text(LOGGED.replace("<consolidators>", "<!--").replace("</consolidators>", "-->"))
    peaks = {}
    for count in (6_000, 40_000):
        data = ws.write(f"rejected_{count}.csv", rejected_rows(count))
        peaks[count] = peak_rss_mb(
            [
                "run",
                "--db",
                str(ws.db),
                "--report",
                str(ws.root / f"{count}.json"),
                "--rejects",
                str(ws.root / f"{count}.csv"),
                str(config),
                str(data),
            ]
        )
    assert peaks[40_000] - peaks[6_000] < 12, peaks  # 34,000 more rows: 29 MB before
    journals = {}
    for count in (2_000, 30_000):
        data = ws.write(
            f"created_{count}.csv",
            rows(*(f"M;TP-001;C{count}-{i};;;open;;;jdupont;;" for i in range(count))),
        )
        assert ws.run("run", config, data).exit_code == 0
        run_id = ws.query("SELECT max(id) FROM runs")[0][0]
        journals[count] = peak_rss_mb(
            ["history", "--db", str(ws.db), "--format", "json", str(run_id)]
        )
    assert journals[30_000] - journals[2_000] < 50, journals  # 28,000 more changes: 196 MB before


def test_a_full_temporary_folder_fails_the_run_cleanly(ws, tmp_path):
    """A real full file system: a 64 kB tmpfs as TMPDIR."""
    ws.seed()
    folder = tmp_path / "tmp"
    folder.mkdir()
    if (
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
            capture_output=True,
            check=False,
        ).returncode
        != 0
    ):
        pytest.skip("cannot mount a tmpfs here")
    try:
        data = ws.write("s.csv", rejected_rows(3 * BLOCK_ENTRIES))
        config = ws.root / "sessions.xml"
        config.write_text(
            LOGGED.replace("<consolidators>", "<!--").replace("</consolidators>", "-->")
        )
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "session_import",
                "run",
                "--db",
                str(ws.db),
                str(config),
                str(data),
            ],
            capture_output=True,
            text=True,
            check=False,
            env=dict(os.environ, TMPDIR=str(folder)),
            cwd=ROOT,
        )
    finally:
        subprocess.run(["umount", str(folder)], check=True)
    assert done.returncode == 5
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().endswith(
        f"Could not keep the run's rejected rows and warnings in the temporary folder ({folder}: No space left"
        " on device); set TMPDIR to a folder with room. A file whose import had not ended was rolled back."
    )
    assert ws.query("SELECT count(*) FROM runs WHERE file = ?", str(data)) == [(0,)]
    assert ws.query("SELECT count(*) FROM sessions") == [(0,)]


def test_a_dry_run_diff_of_thousands_of_updates_lists_them_all(ws, sessions_config):
    ws.seed()
    count = 2 * BLOCK_ENTRIES + 1
    ws.run(
        "run",
        sessions_config,
        ws.write("a.csv", rows(*(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(count)))),
    )
    data = ws.write("b.csv", rows(*(f"M;TP-001;S{i};;;closed;;;jdupont;;" for i in range(count))))
    report = ws.root / "r.json"
    result = ws.run("run", "--dry-run", "--diff", "--report", report, sessions_config, data)
    assert result.exit_code == 0
    changes = json.loads(report.read_text())["files"][0]["changes"]
    assert [c["line"] for c in changes] == list(range(2, count + 2))
    assert all(
        c["fields"] == {"status": ["open", "closed"]} and set(c) == {"line", "guid", "fields"}
        for c in changes
    )
    assert result.stdout.count(": status: open -> closed\n") == count


def test_the_journal_is_streamed_as_json_a_person_reads(ws, sessions_config):
    ws.seed()
    ws.run(
        "run",
        sessions_config,
        ws.write("a.csv", rows(*(f"M;TP-001;S{i};;;open;;;jdupont;;" for i in range(3)))),
    )
    run_id = ws.query("SELECT max(id) FROM runs")[0][0]
    result = ws.run("history", "--format", "json", str(run_id))
    journal = json.loads(result.stdout)
    assert result.stdout == json.dumps(journal, indent=2, ensure_ascii=False) + "\n"
    assert [e["title"] for e in journal] == ["S0", "S1", "S2"]
    assert Path(ws.db).exists()
