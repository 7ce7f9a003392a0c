"""Benchmark: session-import against plain loads of the same file, side by side in one run.

    python benchmarks/bench.py                 # 100k and 1M rows, 3 runs each, medians
    python benchmarks/bench.py --rows 100000 --runs 5
    python benchmarks/bench.py --store-sessions 1000000   # also against a store of 1M sessions

Data is generated deterministically under benchmarks/data/ (reused when present).
For each size it times, in separate child processes (peak RSS from wait4):
  sqlite3 .import  the sqlite3 command-line tool loading the file into one table
  python load      csv.reader + executemany into one table, one transaction
  store load       the writes a create run cannot avoid, and nothing else: each row
                   turned into a session (ids looked up in dicts, dates sliced to ISO,
                   a GUID) and inserted with executemany into the store's own indexed
                   sessions table, plus its journal row, one transaction; no checks
  create           session-import run on an empty (seeded) store
  rerun            the same file again with --force: every row unchanged
  update           a file where 10% of rows change and 1% cancel
  dry run          the update file with --dry-run
  all rejected     a file whose every row names an unknown teacher, with --report and
                   --rejects, on the seeded store: the memory that rejected rows cost
                   (it must stay flat)
  history json     `history RUN --format json` of the create run (one change per row)
and prints rows/s, wall seconds, peak RSS and the ratio to the python load,
as a table and as JSON in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results"
TEACHERS = 1000
TRAININGS = 200
HEADER = ("sessionAction;trainingPathCode;sessionTitle;sessionStatus;sessionStartDate;"
          "sessionEndDate;teacherLogin\n")

CONFIG = """<import-config><import id="bench">
  <providers><fileSystemSourceProvider><fileName>none</fileName>
    <dateFormat>DD/MM/YYYY HH:II</dateFormat></fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField><fullAccess>yes</fullAccess></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionStatus/><sessionStartDate/>
      <sessionEndDate/><teacherLogin/></fields>
  </createOrUpdateSessionAction></actions>
</import></import-config>
"""

PLAIN_LOAD = r"""
import csv, sqlite3, sys
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
conn.execute("CREATE TABLE rows (a, b, c, d, e, f, g)")
conn.execute("BEGIN")
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    reader = csv.reader(f, delimiter=";")
    next(reader)
    conn.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?)", reader)
conn.execute("COMMIT")
"""

STORE_LOAD = r"""
import csv, json, os, sqlite3, sys
conn = sqlite3.connect(sys.argv[2], isolation_level=None)
trainings = dict(conn.execute("SELECT path_code, id FROM trainings"))
teachers = dict(conn.execute("SELECT login, id FROM users"))
conn.execute("BEGIN")
first = conn.execute("SELECT ifnull(max(id), 0) FROM sessions").fetchone()[0]
run = conn.execute("INSERT INTO runs (import_id, started_at, dry_run) VALUES ('load', '', 0)").lastrowid
names = ("id", "guid", "title", "status", "start_date", "end_date", "training_id", "teacher_id",
         "group_id", "created_by_import", "updated_by_import")

def iso(d):
    return f"{d[6:10]}-{d[3:5]}-{d[0:2]}T{d[11:16]}:00"

sessions, journal = [], []
def flush():
    conn.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessions)
    conn.executemany("INSERT INTO journal VALUES (?, ?, ?, 'sessions', 'create', ?, ?, NULL, ?)", journal)
    sessions.clear(); journal.clear()

with open(sys.argv[1], newline="", encoding="utf-8") as f:
    reader = csv.reader(f, delimiter=";")
    next(reader)
    for n, (action, path, title, status, start, end, login) in enumerate(reader, start=1):
        h = os.urandom(16).hex().upper()
        row = (first + n, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", title, status or "open",
               iso(start), iso(end), trainings[path], teachers[login], None, "load", "load")
        sessions.append(row)
        journal.append((run, n, n + 1, first + n, row[1], json.dumps(dict(zip(names, row)))))
        if len(sessions) == 5000:
            flush()
flush()
conn.execute("COMMIT")
"""


SESSION_IMPORT_CASES = ("create", "rerun (unchanged)", "dry run (update file)",
                        "update (10% changed, 1% cancelled)")
ALL_REJECTED = "all rejected (--report, --rejects)"
HISTORY_JSON = "history RUN --format json (create run)"


def session_row(i: int, variant: int = 0, first_year: int = 2027) -> str:
    """Row i: one session per teacher per half-day, so teachers are never double-booked."""
    teacher = i % TEACHERS
    slot = i // TEACHERS  # the teacher's slot number
    day, half = divmod(slot, 2)
    year, rest = first_year + day // 336, day % 336
    month, dom = 1 + rest // 28, 1 + rest % 28
    start_h = 8 if half == 0 else 13
    end_h = start_h + 3 + (1 if variant else 0)
    status = "closed" if variant and i % 3 == 0 else "open"
    return (f"M;TP-{i % TRAININGS};Session {i:07d};{status};{dom:02d}/{month:02d}/{year} {start_h:02d}:00;"
            f"{dom:02d}/{month:02d}/{year} {end_h:02d}:00;t{teacher}\n")


def generate(rows: int) -> tuple[Path, Path]:
    DATA.mkdir(parents=True, exist_ok=True)
    create, update = DATA / f"create_{rows}.csv", DATA / f"update_{rows}.csv"
    if not create.exists():
        with open(create, "w", encoding="utf-8") as f:
            f.write(HEADER)
            f.writelines(session_row(i) for i in range(rows))
    if not update.exists():
        with open(update, "w", encoding="utf-8") as f:
            f.write(HEADER)
            for i in range(rows):
                if i % 100 == 50:  # 1% cancelled
                    f.write(f"A;TP-{i % TRAININGS};Session {i:07d};;;;t{i % TEACHERS}\n")
                else:  # 10% changed (end one hour later, some closed)
                    f.write(session_row(i, variant=1 if i % 10 == 3 else 0))
    return create, update


def generate_rejected(rows: int) -> Path:
    """Every row names a teacher that does not exist: every row is rejected."""
    rejected = DATA / f"rejected_{rows}.csv"
    if not rejected.exists():
        with open(rejected, "w", encoding="utf-8") as f:
            f.write(HEADER)
            f.writelines(session_row(i).replace(f";t{i % TEACHERS}\n", f";nobody{i}\n")
                         for i in range(rows))
    return rejected


def seeded_store(cli: list[str]) -> Path:
    """Trainings and teachers, imported with session-import itself."""
    store = DATA / "seed.db"
    if store.exists():
        return store
    trainings = DATA / "trainings.csv"
    with open(trainings, "w") as f:
        f.write("trainingAction;trainingPathCode;trainingTitle;trainingLocale;trainingModality;trainingDescription\n")
        f.writelines(f"M;TP-{i};Training {i};en-GB;blended;\n" for i in range(TRAININGS))
    teachers = DATA / "teachers.csv"
    with open(teachers, "w") as f:
        f.write("candidateLogin;candidateRefNumber;candidateEmail;candidateName;candidateFirstname\n")
        f.writelines(f"t{i};E{i};t{i}@example.org;Name {i};First {i}\n" for i in range(TEACHERS))
    tmp = DATA / "seed.tmp.db"
    tmp.unlink(missing_ok=True)
    for config, data in (("trainings", trainings), ("teachers", teachers)):
        subprocess.run(cli + ["run", "--quiet", "--db", str(tmp), str(ROOT / "sample_configs" / f"{config}.xml"),
                              str(data)], check=True)
    tmp.rename(store)
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    return store


def big_store(cli: list[str], sessions: int) -> Path:
    """A store already holding ``sessions`` sessions (the 'store of a million' case)."""
    store = DATA / f"store_{sessions}.db"
    if store.exists():
        return store
    seed = seeded_store(cli)
    rows_file = DATA / f"existing_{sessions}.csv"
    with open(rows_file, "w") as f:
        f.write(HEADER)
        # other years than the files' sessions: the existing ones never collide with them
        f.writelines(session_row(i, first_year=2037).replace("Session ", "Existing ")
                     for i in range(sessions))
    tmp = DATA / "big.tmp.db"
    shutil.copy(seed, tmp)
    subprocess.run(cli + ["run", "--quiet", "--no-progress", "--db", str(tmp), str(DATA / "bench.xml"),
                          str(rows_file)], check=True)
    tmp.rename(store)
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    return store


def timed(argv: list[str]) -> dict:
    """Run a child; wall seconds, exit code and its own peak RSS."""
    started = time.perf_counter()
    # stderr to a file: a pipe that nobody reads while the child runs fills up (a million
    # rejected rows) and blocks the child forever
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stderr.seek(max(stderr.seek(0, os.SEEK_END) - 500, 0))
        err = stderr.read().decode(errors="replace")
    code = os.waitstatus_to_exitcode(status)
    return {"seconds": seconds, "peak_rss_mb": usage.ru_maxrss / 1024, "exit_code": code, "stderr": err}


def bench_size(rows: int, runs: int, cli: list[str], base_store: Path, label: str,
               cases: list[str] | None = None) -> list[dict]:
    """Every case, or only those whose name starts with one of ``cases`` (and create,
    which the history case reads)."""
    create, update = generate(rows)
    rejected = generate_rejected(rows)

    def wanted(name: str) -> bool:
        return not cases or any(name.startswith(c) for c in cases) or (
            name == "create" and wanted(HISTORY_JSON))
    work = DATA / "work"
    work.mkdir(exist_ok=True)
    config = DATA / "bench.xml"
    results: dict[str, list[dict]] = {}

    def record(name: str, result: dict) -> None:
        # session-import exits 1 when rows are rejected; anything else must exit 0
        allowed = (0, 1) if name in SESSION_IMPORT_CASES else (3,) if name == ALL_REJECTED else (0,)
        if result["exit_code"] not in allowed:
            raise SystemExit(f"{name} failed with exit {result['exit_code']}: {result['stderr']}")
        results.setdefault(name, []).append(result)

    sqlite3_cli = shutil.which("sqlite3")
    for _ in range(runs):
        for f in work.iterdir():
            f.unlink()
        if sqlite3_cli and wanted("sqlite3 .import"):
            script = f".mode csv\n.separator ;\n.import --skip 1 {create} rows\n"
            target = work / "sqlite.db"
            started = time.perf_counter()
            proc = subprocess.Popen([sqlite3_cli, str(target)], stdin=subprocess.PIPE,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            proc.stdin.write(("CREATE TABLE rows (a, b, c, d, e, f, g);\nBEGIN;\n" + script + "COMMIT;\n").encode())
            proc.stdin.close()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.stderr.close()
            record("sqlite3 .import", {"seconds": time.perf_counter() - started,
                                       "peak_rss_mb": usage.ru_maxrss / 1024,
                                       "exit_code": os.waitstatus_to_exitcode(status), "stderr": ""})
        if wanted("python load"):
            record("python load", timed([sys.executable, "-c", PLAIN_LOAD, str(create),
                                         str(work / "plain.db")]))
        if wanted("store load"):
            floor_db = work / "floor.db"
            shutil.copy(base_store, floor_db)
            record("store load (no checks)", timed([sys.executable, "-c", STORE_LOAD, str(create),
                                                    str(floor_db)]))
        db = work / "store.db"
        shutil.copy(base_store, db)
        common = cli + ["run", "--quiet", "--no-progress", "--db", str(db)]
        if wanted("create"):
            record("create", timed(common + [str(config), str(create)]))
        if wanted(HISTORY_JSON):
            create_run = _last_run(db)
            record(HISTORY_JSON, timed(cli + ["history", "--db", str(db), "--format", "json",
                                              str(create_run)]))
        if wanted("rerun"):
            record("rerun (unchanged)", timed(common + ["--force", str(config), str(create)]))
        if wanted("dry run"):
            record("dry run (update file)", timed(common + ["--dry-run", str(config), str(update)]))
        if wanted("update"):
            record("update (10% changed, 1% cancelled)", timed(common + [str(config), str(update)]))
        if wanted(ALL_REJECTED):  # on the base store: what the rejected rows cost, nothing else
            rejecting = work / "rejecting.db"
            shutil.copy(base_store, rejecting)
            record(ALL_REJECTED, timed(cli + ["run", "--quiet", "--no-progress", "--db", str(rejecting),
                                              "--report", str(work / "rejected.json"), "--rejects",
                                              str(work / "rejected.csv"), str(config), str(rejected)]))
    python_load = statistics.median(r["seconds"] for r in results.get("python load", [{"seconds": 0}]))
    store_load = statistics.median(r["seconds"] for r in results.get("store load (no checks)",
                                                                      [{"seconds": 0}]))
    table = []
    for name, runs_of in results.items():
        seconds = statistics.median(r["seconds"] for r in runs_of)
        table.append({
            "size": label, "rows": rows, "case": name, "runs": len(runs_of),
            "median_seconds": round(seconds, 3),
            "rows_per_second": round(rows / seconds),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs_of), 1),
            "ratio_to_python_load": round(seconds / python_load, 2) if python_load else None,
            "ratio_to_store_load": round(seconds / store_load, 2) if store_load else None,
        })
    return table


def _last_run(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows per file (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; medians are quoted")
    parser.add_argument("--store-sessions", type=int, default=0,
                        help="also run against a store already holding this many sessions")
    parser.add_argument("--case", action="append", metavar="NAME",
                        help="run only the cases whose name starts with NAME (repeatable)")
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    cli = [sys.executable, "-m", "session_import"]
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "bench.xml").write_text(CONFIG)
    seed = seeded_store(cli)
    table = []
    for rows in sizes:
        table += bench_size(rows, args.runs, cli, seed, f"{rows:,} rows, empty store", args.case)
    if args.store_sessions:
        store = big_store(cli, args.store_sessions)
        for rows in sizes:
            table += bench_size(rows, args.runs, cli, store, f"{rows:,} rows, store of {args.store_sessions:,}",
                                args.case)
    widths = (36, 38, 9, 10, 9, 8, 8)
    print(f"{'size':<{widths[0]}}{'case':<{widths[1]}}{'seconds':>{widths[2]}}{'rows/s':>{widths[3]}}"
          f"{'RSS MB':>{widths[4]}}{'x load':>{widths[5]}}{'x store':>{widths[6]}}")
    for r in table:
        print(f"{r['size']:<{widths[0]}}{r['case']:<{widths[1]}}{r['median_seconds']:>{widths[2]}.2f}"
              f"{r['rows_per_second']:>{widths[3]},}{r['peak_rss_mb']:>{widths[4]}.0f}"
              f"{r['ratio_to_python_load'] or 0:>{widths[5]}.2f}{r['ratio_to_store_load'] or 0:>{widths[6]}.2f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"bench-{stamp}.json"
    out.write_text(json.dumps({"when": stamp, "machine": platform.platform(), "cpus": os.cpu_count(),
                               "python": platform.python_version(), "runs": args.runs, "results": table},
                              indent=2) + "\n")
    print(f"\nmedians of {args.runs} runs; x load = median seconds / median python load, "
          f"x store = / median store load; written to {out}")


if __name__ == "__main__":
    main()
