"""Benchmark: session-import against plain loads of the same file, side by side in one run.

    python benchmarks/bench.py                 # 100k and 1M rows, 3 runs each, medians
    python benchmarks/bench.py --rows 100000 --runs 5
    python benchmarks/bench.py --store-sessions 1000000   # also against a store of 1M sessions
    python benchmarks/bench.py --rows 10000 --compare ../base-15   # this code (A) and another (B)

Data is generated deterministically under benchmarks/data/ (reused when present).
For each size it times, in separate child processes (wall and CPU seconds, peak RSS
from wait4):
  sqlite3 .import  the sqlite3 command-line tool loading the file into one table
  python load      csv.reader + executemany into one table, one transaction
  floor            the fastest write found of the sessions and journal rows a create
                   writes, into the store's own schema, one durable transaction, no
                   checks: Python only reads the file; SQLite builds the sessions (ids
                   by join, ISO dates, GUIDs) from a TEMP table of each chunk with
                   INSERT ... SELECT, and their journal rows with json_object. Checked
                   against the create of the same file: as many sessions and journal
                   rows, the same columns filled
  store load       the previous floor, kept for comparison, with SQLite's default 2 MB
                   page cache (the store sets 64 MiB): each row turned into a session in
                   Python (ids looked up in dicts, dates sliced to ISO, a GUID) and
                   inserted with executemany, plus its journal row, one transaction
  create           session-import run on an empty (seeded) store
  rerun            the same file again with --force: every row unchanged, counted by
                   its digest
  rerun, full      the same with --resolve-all: every row validated and resolved
  snapshot         a file of every session where 1% of rows change, under a snapshot
                   configuration (<missingSessions>cancel</missingSessions>), on a copy
                   of the store the create left: the unchanged rows counted by digest
  snapshot, full   the same file on another copy, with --resolve-all
  update           a file where 10% of rows change and 1% cancel
  dry run          the update file with --dry-run
  all rejected     a file whose every row names an unknown teacher, with --report and
                   --rejects, on the seeded store: the memory that rejected rows cost
                   (it must stay flat)
  history json     `history RUN --format json` of the create run (one change per row)
and prints wall and CPU seconds, rows/s, peak RSS and the ratios of CPU seconds to the
python load and to the floor, as a table and as JSON in benchmarks/results/.

With --compare CHECKOUT it times only create, rerun, dry run and update, with this
checkout's code (A) and CHECKOUT's (B, run with CHECKOUT/.venv/bin/python, or with
CHECKOUT itself when it names an interpreter), each on a store seeded by its own code,
A and B alternating case by case within each run, and prints both medians and A/B.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
RESULTS = HERE / "results"
TEACHERS = 1000
TRAININGS = 200
HEADER = (
    "sessionAction;trainingPathCode;sessionTitle;sessionStatus;sessionStartDate;"
    "sessionEndDate;teacherLogin\n"
)

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

# the same import, as a feed of every session (what a row of it finds is its digest's)
SNAPSHOT_CONFIG = CONFIG.replace(
    "</fullAccess>", "</fullAccess><missingSessions>cancel</missingSessions>"
)

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
run = conn.execute(
    "INSERT INTO runs (import_id, started_at, dry_run) VALUES ('load', '', 0)").lastrowid
names = ("id", "guid", "title", "status", "start_date", "end_date", "training_id", "teacher_id",
         "group_id", "created_by_import", "updated_by_import")

def iso(d):
    return f"{d[6:10]}-{d[3:5]}-{d[0:2]}T{d[11:16]}:00"

sessions, journal = [], []
def flush():
    conn.executemany("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", sessions)
    conn.executemany(
        "INSERT INTO journal VALUES (?, ?, ?, 'sessions', 'create', ?, ?, NULL, ?)", journal)
    sessions.clear(); journal.clear()

with open(sys.argv[1], newline="", encoding="utf-8") as f:
    reader = csv.reader(f, delimiter=";")
    next(reader)
    for n, (action, path, title, status, start, end, login) in enumerate(reader, start=1):
        h = os.urandom(16).hex().upper()
        guid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        row = (first + n, guid, title, status or "open",
               iso(start), iso(end), trainings[path], teachers[login], None, "load", "load")
        sessions.append(row)
        journal.append((run, n, n + 1, first + n, row[1], json.dumps(dict(zip(names, row)))))
        if len(sessions) == 5000:
            flush()
flush()
conn.execute("COMMIT")
"""


# The floor: the fastest write found of the same sessions and journal rows into the
# product's own schema (the store `init` made), one transaction, no checks. Python only
# reads the file; SQLite builds each session (ids by join, ISO dates, an upper-case
# time-ordered version-7 GUID, as the product's) from a TEMP table of a chunk of lines,
# and its journal row with json_object over the sessions table's own columns. The
# product's pragmas (foreign keys, 64 MiB page cache) and journal mode (WAL, synchronous
# FULL): the commit is durable.
FLOOR = r"""
import csv, itertools, sqlite3, sys
path, db, import_id = sys.argv[1:4]
conn = sqlite3.connect(db, isolation_level=None)
conn.execute("PRAGMA foreign_keys = ON")
conn.execute("PRAGMA cache_size = -65536")
assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
columns = [c[1] for c in conn.execute("PRAGMA table_info(sessions)")]
conn.execute("CREATE TEMP TABLE line (action, path_code, title, status, start, end_, login)")

def iso(c):
    return (f"substr({c}, 7, 4) || '-' || substr({c}, 4, 2) || '-' || substr({c}, 1, 2)"
            f" || 'T' || substr({c}, 12, 5) || ':00'")

guid = ("(SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-7' || substr(h, 14, 3) || '-'"
        " || substr('89AB', 1 + (unicode(substr(h, 17, 1)) & 3), 1) || substr(h, 18, 3) || '-'"
        " || substr(h, 21) FROM (SELECT printf('%012X', CAST((julianday('now') - 2440587.5)"
        " * 86400000 AS INTEGER)) || hex(randomblob(10 + 0 * l.rowid)) AS h))")
sessions = (
    "INSERT INTO sessions (id, guid, title, status, start_date, end_date, training_id,"
    " teacher_id, group_id, created_by_import, updated_by_import)"
    f" SELECT :first + l.rowid, {guid}, l.title, coalesce(nullif(l.status, ''), 'open'),"
    f" {iso('l.start')}, {iso('l.end_')}, t.id, u.id, NULL, :import, :import"
    " FROM temp.line l JOIN trainings t ON t.path_code = l.path_code"
    " LEFT JOIN users u ON u.login = l.login ORDER BY l.rowid")
record = ", ".join(f"'{c}', {c}" for c in columns)
journal = (
    "INSERT INTO journal (run_id, seq, line, table_name, op, record_id, guid, before, after)"
    " SELECT :run, id - :start, id - :start + 1, 'sessions', 'create', id, guid, NULL,"
    f" json_object({record})"
    " FROM sessions WHERE id > :first")
conn.execute("BEGIN IMMEDIATE")
start = conn.execute("SELECT ifnull(max(id), 0) FROM sessions").fetchone()[0]
run = conn.execute("INSERT INTO runs (import_id, action, file, started_at, dry_run)"
                   " VALUES (?, 'createOrUpdateSessionAction', ?, '', 0)",
                   (import_id, path)).lastrowid
first = start
with open(path, newline="", encoding="utf-8") as f:
    reader = csv.reader(f, delimiter=";")
    next(reader)
    while chunk := list(itertools.islice(reader, 20000)):
        conn.execute("DELETE FROM temp.line")  # emptied: the line rowids start at 1 again
        conn.executemany("INSERT INTO temp.line VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
        names = {"first": first, "import": import_id, "run": run, "start": start}
        conn.execute(sessions, names)
        conn.execute(journal, names)
        first += len(chunk)
conn.execute("COMMIT")
"""

PYTHON_LOAD = "python load"
FLOOR_CASE = "floor (SQL from a TEMP table)"
STORE_LOAD_CASE = "store load (default page cache)"
GUID_V7 = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-7[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}")
RERUN_FULL = "rerun, full (--resolve-all)"
SNAPSHOT = "snapshot (1% changed)"
SNAPSHOT_FULL = "snapshot, full (--resolve-all)"
SESSION_IMPORT_CASES = (
    "create",
    "rerun (unchanged)",
    RERUN_FULL,
    SNAPSHOT,
    SNAPSHOT_FULL,
    "dry run (update file)",
    "update (10% changed, 1% cancelled)",
)
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
    return (
        f"M;TP-{i % TRAININGS};Session {i:07d};{status};"
        f"{dom:02d}/{month:02d}/{year} {start_h:02d}:00;"
        f"{dom:02d}/{month:02d}/{year} {end_h:02d}:00;t{teacher}\n"
    )


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


def generate_snapshot(rows: int) -> Path:
    """Every session of the create file, 1% of them changed (end one hour later, some closed)."""
    snapshot = DATA / f"snapshot_{rows}.csv"
    if not snapshot.exists():
        with open(snapshot, "w", encoding="utf-8") as f:
            f.write(HEADER)
            f.writelines(session_row(i, variant=1 if i % 100 == 7 else 0) for i in range(rows))
    return snapshot


def generate_rejected(rows: int) -> Path:
    """Every row names a teacher that does not exist: every row is rejected."""
    rejected = DATA / f"rejected_{rows}.csv"
    if not rejected.exists():
        with open(rejected, "w", encoding="utf-8") as f:
            f.write(HEADER)
            f.writelines(
                session_row(i).replace(f";t{i % TEACHERS}\n", f";nobody{i}\n") for i in range(rows)
            )
    return rejected


def seeded_store(cli: list[str], folder: Path = DATA) -> Path:
    """Trainings and teachers in a store that `init` made, imported with session-import itself."""
    store = folder / "seed.db"
    if store.exists():
        return store
    folder.mkdir(parents=True, exist_ok=True)
    trainings = folder / "trainings.csv"
    with open(trainings, "w") as f:
        f.write(
            "trainingAction;trainingPathCode;trainingTitle;trainingLocale;trainingModality;trainingDescription\n"
        )
        f.writelines(f"M;TP-{i};Training {i};en-GB;blended;\n" for i in range(TRAININGS))
    teachers = folder / "teachers.csv"
    with open(teachers, "w") as f:
        f.write(
            "candidateLogin;candidateRefNumber;candidateEmail;candidateName;candidateFirstname\n"
        )
        f.writelines(f"t{i};E{i};t{i}@example.org;Name {i};First {i}\n" for i in range(TEACHERS))
    tmp = folder / "seed.tmp.db"
    tmp.unlink(missing_ok=True)
    subprocess.run(cli + ["init", "--db", str(tmp)], check=True, stdout=subprocess.DEVNULL)
    for config, data in (("trainings", trainings), ("teachers", teachers)):
        subprocess.run(
            cli
            + [
                "run",
                "--quiet",
                "--db",
                str(tmp),
                str(ROOT / "sample_configs" / f"{config}.xml"),
                str(data),
            ],
            check=True,
        )
    tmp.rename(store)
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    return store


def big_store(cli: list[str], sessions: int, folder: Path = DATA) -> Path:
    """A store already holding ``sessions`` sessions (the 'store of a million' case)."""
    store = folder / f"store_{sessions}.db"
    if store.exists():
        return store
    seed = seeded_store(cli, folder)
    rows_file = DATA / f"existing_{sessions}.csv"
    if not rows_file.exists():
        with open(rows_file, "w") as f:
            f.write(HEADER)
            # other years than the files' sessions: the existing ones never collide with them
            f.writelines(
                session_row(i, first_year=2037).replace("Session ", "Existing ")
                for i in range(sessions)
            )
    tmp = folder / "big.tmp.db"
    shutil.copy(seed, tmp)
    subprocess.run(
        cli
        + [
            "run",
            "--quiet",
            "--no-progress",
            "--db",
            str(tmp),
            str(DATA / "bench.xml"),
            str(rows_file),
        ],
        check=True,
    )
    tmp.rename(store)
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    return store


def timed(argv: list[str]) -> dict:
    """Run a child; wall and CPU seconds, exit code and its own peak RSS."""
    started = time.perf_counter()
    # stderr to a file: a pipe that nobody reads while the child runs fills up (a million
    # rejected rows) and blocks the child forever
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stderr.seek(max(stderr.seek(0, os.SEEK_END) - 500, 0))
        err = stderr.read().decode(errors="replace")
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit_code": os.waitstatus_to_exitcode(status),
        "stderr": err,
    }


def _sqlite3_import(sqlite3_cli: str, create: Path, target: Path) -> dict:
    script = (
        f"CREATE TABLE rows (a, b, c, d, e, f, g);\nBEGIN;\n.mode csv\n.separator ;\n"
        f".import --skip 1 {create} rows\nCOMMIT;\n"
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sqlite3_cli, str(target)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    proc.stdin.write(script.encode())
    proc.stdin.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stderr.close()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit_code": os.waitstatus_to_exitcode(status),
        "stderr": "",
    }


def _allowed_exits(name: str) -> tuple[int, ...]:
    # session-import exits 1 when rows are rejected; anything else must exit 0
    return (0, 1) if name in SESSION_IMPORT_CASES else (3,) if name == ALL_REJECTED else (0,)


def _recorder(results: dict) -> Callable[[object, dict], None]:
    def record(name, result: dict) -> None:
        case = name[-1] if isinstance(name, tuple) else name
        if result["exit_code"] not in _allowed_exits(case):
            raise SystemExit(f"{name} failed with exit {result['exit_code']}: {result['stderr']}")
        results.setdefault(name, []).append(result)

    return record


def _median(runs_of: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs_of)


def _medians(results: dict[str, list[dict]], rows: int, label: str) -> list[dict]:
    """Each case's medians, and its CPU seconds as a ratio to the plain load's and the floor's."""
    python_load = _median(results[PYTHON_LOAD], "cpu_seconds") if PYTHON_LOAD in results else None
    floor = _median(results[FLOOR_CASE], "cpu_seconds") if FLOOR_CASE in results else None
    table = []
    for name, runs_of in results.items():
        seconds, cpu = _median(runs_of, "seconds"), _median(runs_of, "cpu_seconds")
        table.append(
            {
                "size": label,
                "rows": rows,
                "case": name,
                "runs": len(runs_of),
                "median_seconds": round(seconds, 3),
                "median_cpu_seconds": round(cpu, 3),
                "rows_per_second": round(rows / seconds),
                "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs_of), 1),
                "ratio_to_python_load": round(cpu / python_load, 2) if python_load else None,
                "ratio_to_floor": round(cpu / floor, 2) if floor else None,
            }
        )
    return table


def _plain_loads(
    wanted: Callable[[str], bool],
    record: Callable[[object, dict], None],
    create: Path,
    work: Path,
    base_store: Path,
) -> None:
    """The loads that session-import is measured against: sqlite3's, Python's, the floor
    and the store load, each into its own file under ``work``."""
    sqlite3_cli = shutil.which("sqlite3")
    if sqlite3_cli and wanted("sqlite3 .import"):
        record("sqlite3 .import", _sqlite3_import(sqlite3_cli, create, work / "sqlite.db"))
    if wanted("python load"):
        record(
            PYTHON_LOAD,
            timed([sys.executable, "-c", PLAIN_LOAD, str(create), str(work / "plain.db")]),
        )
    if wanted("floor"):
        floor_db = work / "floor.db"
        shutil.copy(base_store, floor_db)
        record(
            FLOOR_CASE,
            timed([sys.executable, "-c", FLOOR, str(create), str(floor_db), "bench"]),
        )
    if wanted("store load"):
        store_load_db = work / "store_load.db"
        shutil.copy(base_store, store_load_db)
        record(
            STORE_LOAD_CASE,
            timed([sys.executable, "-c", STORE_LOAD, str(create), str(store_load_db)]),
        )


def bench_size(
    rows: int,
    runs: int,
    cli: list[str],
    base_store: Path,
    label: str,
    cases: list[str] | None = None,
) -> list[dict]:
    """Every case, or only those whose name starts with one of ``cases`` (and create,
    which the history case reads)."""
    create, update = generate(rows)
    rejected = generate_rejected(rows)

    def wanted(name: str) -> bool:
        return (
            not cases
            or any(name.startswith(c) for c in cases)
            or (name == "create" and wanted(HISTORY_JSON))
        )

    work = DATA / "work"
    work.mkdir(exist_ok=True)
    config = DATA / "bench.xml"
    results: dict[str, list[dict]] = {}
    record = _recorder(results)
    for run in range(runs):
        for f in work.iterdir():
            f.unlink()
        _plain_loads(wanted, record, create, work, base_store)
        db = work / "store.db"
        shutil.copy(base_store, db)
        common = cli + ["run", "--quiet", "--no-progress", "--db", str(db)]
        if wanted("create"):
            record("create", timed(common + [str(config), str(create)]))
            if run == 0 and wanted("floor"):
                check_floor(work / "floor.db", db, rows)
        if wanted(HISTORY_JSON):
            create_run = _last_run(db)
            record(
                HISTORY_JSON,
                timed(cli + ["history", "--db", str(db), "--format", "json", str(create_run)]),
            )
        if wanted("rerun"):
            record("rerun (unchanged)", timed(common + ["--force", str(config), str(create)]))
            argv = common + ["--force", "--resolve-all", str(config), str(create)]
            record(RERUN_FULL, timed(argv))
        if wanted("snapshot"):  # each on a copy of the store as the create left it
            snapshot = generate_snapshot(rows)
            for name, extra in ((SNAPSHOT, []), (SNAPSHOT_FULL, ["--resolve-all"])):
                copy = work / "snapshot.db"
                shutil.copy(db, copy)
                argv = cli + ["run", "--quiet", "--no-progress", "--db", str(copy), *extra]
                record(name, timed(argv + [str(DATA / "snapshot.xml"), str(snapshot)]))
                for f in work.glob("snapshot.db*"):
                    f.unlink()
        if wanted("dry run"):
            record("dry run (update file)", timed(common + ["--dry-run", str(config), str(update)]))
        if wanted("update"):
            record("update (10% changed, 1% cancelled)", timed(common + [str(config), str(update)]))
        if wanted(ALL_REJECTED):  # on the base store: what the rejected rows cost, nothing else
            rejecting = work / "rejecting.db"
            shutil.copy(base_store, rejecting)
            record(
                ALL_REJECTED,
                timed(
                    cli
                    + [
                        "run",
                        "--quiet",
                        "--no-progress",
                        "--db",
                        str(rejecting),
                        "--report",
                        str(work / "rejected.json"),
                        "--rejects",
                        str(work / "rejected.csv"),
                        str(config),
                        str(rejected),
                    ]
                ),
            )
    return _medians(results, rows, label)


def check_floor(floor_db: Path, product_db: Path, rows: int) -> None:
    """The floor must write what a create writes: as many sessions and journal rows, each
    column filled the same (ids included: both start from the same store) but the random
    GUID; the journal's JSON equal once parsed (SQLite writes it without spaces)."""
    import sqlite3

    def written(db: Path) -> tuple[int, list, dict]:
        conn = sqlite3.connect(db)
        try:
            run = conn.execute("SELECT max(id) FROM runs").fetchone()[0]
            journal = conn.execute(
                "SELECT seq, line, table_name, op, record_id, guid, before, after FROM journal"
                " WHERE run_id = ? AND seq IN (1, ?, ?) ORDER BY seq",
                (run, rows // 2, rows),
            ).fetchall()
            ids = [entry[4] for entry in journal]
            conn.row_factory = sqlite3.Row
            sessions = {
                r["id"]: dict(r)
                for r in conn.execute(
                    f"SELECT * FROM sessions WHERE id IN ({', '.join('?' * len(ids))})", ids
                )
            }
            counts = conn.execute(
                "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM journal"
                " WHERE run_id = ?)",
                (run,),
            ).fetchone()
            return tuple(counts), journal, sessions
        finally:
            conn.close()

    def comparable(journal: list, sessions: dict) -> list:
        out = []
        for seq, line, table, op, record_id, guid, before, after in journal:
            session = sessions[record_id]
            after = json.loads(after)
            if not (guid == session["guid"] == after["guid"] and GUID_V7.fullmatch(guid)):
                raise SystemExit(
                    f"floor check: journal {seq} has GUID {guid!r}, its session {session}"
                )
            out.append(
                (
                    (seq, line, table, op, record_id, before),
                    {k: v for k, v in after.items() if k != "guid"},
                    {k: v for k, v in session.items() if k != "guid"},
                )
            )
        return out

    floor_counts, floor_journal, floor_sessions = written(floor_db)
    product_counts, product_journal, product_sessions = written(product_db)
    if floor_counts != product_counts or len(floor_journal) != 3:
        raise SystemExit(
            f"floor check: floor wrote (sessions, journal rows) {floor_counts}, "
            f"the create {product_counts}"
        )
    floor_rows = comparable(floor_journal, floor_sessions)
    product_rows = comparable(product_journal, product_sessions)
    if floor_rows != product_rows:
        raise SystemExit(
            f"floor check: the floor wrote {floor_rows}\nthe create wrote {product_rows}"
        )


def _last_run(db: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT max(id) FROM runs").fetchone()[0]
    finally:
        conn.close()


def other_python(path: str) -> str:
    """The interpreter of another checkout (its .venv) or the interpreter given."""
    given = Path(path)
    python = given / ".venv" / "bin" / "python" if given.is_dir() else given
    if not python.exists():
        raise SystemExit(f"--compare: no interpreter at {python} (make the checkout's .venv)")
    return str(python)


def _package_of(python: str) -> str:
    return subprocess.run(
        [python, "-c", "import session_import; print(session_import.__file__)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


COMPARED_CASES = (
    "create",
    "rerun (unchanged)",
    "dry run (update file)",
    "update (10% changed, 1% cancelled)",
)


def compare_size(
    rows: int,
    runs: int,
    sides: dict[str, list[str]],
    bases: dict[str, Path],
    label: str,
    cases: list[str] | None = None,
) -> list[dict]:
    """The session-import cases with A's and B's code, each on a copy of its own seeded
    store, case by case A then B (B then A on every other run)."""
    create, update = generate(rows)
    config = DATA / "bench.xml"
    work = DATA / "work"
    work.mkdir(exist_ok=True)
    arguments = {
        "create": [str(config), str(create)],
        "rerun (unchanged)": ["--force", str(config), str(create)],
        "dry run (update file)": ["--dry-run", str(config), str(update)],
        "update (10% changed, 1% cancelled)": [str(config), str(update)],
    }
    chosen = [c for c in COMPARED_CASES if not cases or any(c.startswith(w) for w in cases)]
    results: dict[tuple[str, str], list[dict]] = {}
    record = _recorder(results)
    for run in range(runs):
        order = list(sides) if run % 2 == 0 else list(sides)[::-1]
        dbs = {side: work / f"compare_{side}.db" for side in sides}
        for side in sides:
            for f in work.glob(f"compare_{side}.db*"):
                f.unlink()
            shutil.copy(bases[side], dbs[side])
        for case in chosen:
            for side in order:
                argv = sides[side] + ["run", "--quiet", "--no-progress", "--db", str(dbs[side])]
                record((side, case), timed(argv + arguments[case]))
    table = []
    for case in chosen:
        a, b = results[("A", case)], results[("B", case)]
        row = {"size": label, "rows": rows, "case": case, "runs": runs}
        for key in ("seconds", "cpu_seconds"):
            row[f"a_{key}"], row[f"b_{key}"] = round(_median(a, key), 3), round(_median(b, key), 3)
            row[f"a_over_b_{key}"] = round(row[f"a_{key}"] / row[f"b_{key}"], 2)
        row["a_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in a), 1)
        row["b_peak_rss_mb"] = round(max(r["peak_rss_mb"] for r in b), 1)
        table.append(row)
    return table


def print_table(table: list[dict]) -> None:
    widths = (36, 38, 8, 8, 10, 8, 8, 8)
    print(
        f"{'size':<{widths[0]}}{'case':<{widths[1]}}{'wall s':>{widths[2]}}{'CPU s':>{widths[3]}}"
        f"{'rows/s':>{widths[4]}}{'RSS MB':>{widths[5]}}{'x load':>{widths[6]}}"
        f"{'x floor':>{widths[7]}}"
    )
    for r in table:
        print(
            f"{r['size']:<{widths[0]}}{r['case']:<{widths[1]}}{r['median_seconds']:>{widths[2]}.2f}"
            f"{r['median_cpu_seconds']:>{widths[3]}.2f}{r['rows_per_second']:>{widths[4]},}"
            f"{r['peak_rss_mb']:>{widths[5]}.0f}{r['ratio_to_python_load'] or 0:>{widths[6]}.2f}"
            f"{r['ratio_to_floor'] or 0:>{widths[7]}.2f}"
        )


def print_comparison(table: list[dict]) -> None:
    widths = (36, 38, 8, 8, 7, 8, 8, 7, 6, 6)
    heads = ("A CPU", "B CPU", "A/B", "A wall", "B wall", "A/B", "A MB", "B MB")
    print(
        f"{'size':<{widths[0]}}{'case':<{widths[1]}}"
        + "".join(f"{h:>{w}}" for h, w in zip(heads, widths[2:], strict=True))
    )
    for r in table:
        cells = (
            r["a_cpu_seconds"],
            r["b_cpu_seconds"],
            r["a_over_b_cpu_seconds"],
            r["a_seconds"],
            r["b_seconds"],
            r["a_over_b_seconds"],
        )
        print(
            f"{r['size']:<{widths[0]}}{r['case']:<{widths[1]}}"
            + "".join(f"{c:>{w}.2f}" for c, w in zip(cells, widths[2:8], strict=True))
            + f"{r['a_peak_rss_mb']:>{widths[8]}.0f}{r['b_peak_rss_mb']:>{widths[9]}.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows per file (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; medians are quoted")
    parser.add_argument(
        "--store-sessions",
        type=int,
        default=0,
        help="also run against a store already holding this many sessions",
    )
    parser.add_argument(
        "--case",
        action="append",
        metavar="NAME",
        help="run only the cases whose name starts with NAME (repeatable)",
    )
    parser.add_argument(
        "--compare",
        metavar="CHECKOUT",
        help="time the create, re-run, dry-run and update cases with this code (A)"
        " and another checkout's (B: its .venv, or the interpreter given)",
    )
    args = parser.parse_args()
    sizes = args.rows or [100_000, 1_000_000]
    cli = [sys.executable, "-m", "session_import"]
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / "bench.xml").write_text(CONFIG)
    (DATA / "snapshot.xml").write_text(SNAPSHOT_CONFIG)
    seed = seeded_store(cli)
    table = []
    if args.compare:
        sides = {"A": cli, "B": [other_python(args.compare), "-m", "session_import"]}
        for side, argv in sides.items():
            print(f"{side}: {argv[0]} ({_package_of(argv[0])})")
        other = DATA / "compare"  # B's stores, made with B's code, fresh each time
        shutil.rmtree(other, ignore_errors=True)
        bases = {"A": seed, "B": seeded_store(sides["B"], other)}
        for rows in sizes:
            table += compare_size(
                rows, args.runs, sides, bases, f"{rows:,} rows, empty store", args.case
            )
        if args.store_sessions:
            bases = {
                "A": big_store(cli, args.store_sessions),
                "B": big_store(sides["B"], args.store_sessions, other),
            }
            for rows in sizes:
                table += compare_size(
                    rows,
                    args.runs,
                    sides,
                    bases,
                    f"{rows:,} rows, store of {args.store_sessions:,}",
                    args.case,
                )
        print_comparison(table)
    else:
        for rows in sizes:
            table += bench_size(
                rows, args.runs, cli, seed, f"{rows:,} rows, empty store", args.case
            )
        if args.store_sessions:
            store = big_store(cli, args.store_sessions)
            for rows in sizes:
                table += bench_size(
                    rows,
                    args.runs,
                    cli,
                    store,
                    f"{rows:,} rows, store of {args.store_sessions:,}",
                    args.case,
                )
        print_table(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = RESULTS / f"{'compare' if args.compare else 'bench'}-{stamp}.json"
    summary = {
        "when": stamp,
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "runs": args.runs,
        "results": table,
    }
    if args.compare:
        summary["compared"] = {"A": str(ROOT), "B": args.compare}
    out.write_text(json.dumps(summary, indent=2) + "\n")
    if args.compare:
        print(
            f"\nmedians of {args.runs} runs, A and B alternating case by case; A/B = A's median"
            f" / B's (under 1: A is faster); written to {out}"
        )
    else:
        print(
            f"\nmedians of {args.runs} runs; x load and x floor: median CPU seconds / the python"
            f" load's, / the floor's; written to {out}"
        )


if __name__ == "__main__":
    main()
