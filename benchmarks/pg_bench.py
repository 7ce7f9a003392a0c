"""Benchmark of the PostgreSQL store: session-import beside PostgreSQL's own COPY of the
same file (the plain load on that engine), and the same runs on SQLite beside it.

    python benchmarks/pg_bench.py                  # 100k rows, 3 runs each, medians
    python benchmarks/pg_bench.py --rows 20000 --runs 5

A throw-away cluster is started for it (tests/pg_server.py), durable (fsync and
synchronous commits on, as PostgreSQL ships). Each run starts from a copy of a seeded
database (CREATE DATABASE ... TEMPLATE) or store file. Cases, on each engine:
  COPY (psql \\copy)   the file into one table of seven text columns, one transaction
  sqlite3 .import     the same into SQLite, for scale
  create              session-import run on an empty (seeded) store
  rerun (unchanged)   the same file again with --force
  update              10% of rows changed, 1% cancelled
Medians of the runs, rows per second, and the ratio to the engine's plain load.
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
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

import bench  # noqa: E402  (the data and the seed of the SQLite benchmark)
import pg_server  # noqa: E402

CASES = ("create", "rerun (unchanged)", "update (10% changed, 1% cancelled)")


def _psql(server: pg_server.Cluster, url: str, command: str) -> None:
    env = {**os.environ, "PGPASSWORD": server.password}
    subprocess.run(
        [
            str(server.bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url.replace(f":{server.password}@", "@"),
            "-c",
            command,
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )


def _seed_pg(server: pg_server.Cluster, cli: list[str]) -> str:
    """A database named seed with the trainings and teachers, made by session-import."""
    server.psql("CREATE DATABASE seed OWNER importer TEMPLATE template0")
    url = server.url("seed")
    subprocess.run(cli + ["init", "--quiet", "--db", url], check=True)
    bench.seeded_store(cli)  # writes the reference files
    for config, data in (("trainings", "trainings.csv"), ("teachers", "teachers.csv")):
        subprocess.run(
            cli
            + [
                "run",
                "--quiet",
                "--no-progress",
                "--db",
                url,
                str(ROOT / "sample_configs" / f"{config}.xml"),
                str(bench.DATA / data),
            ],
            check=True,
        )
    return url


def _fresh_pg(server: pg_server.Cluster, n: int) -> str:
    name = f"work{n}"
    server.psql(f"DROP DATABASE IF EXISTS {name}")
    server.psql(f"CREATE DATABASE {name} OWNER importer TEMPLATE seed")
    return server.url(name)


def _row(name: str, engine: str, rows: int, runs: list[dict], base: float | None) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    return {
        "engine": engine,
        "case": name,
        "rows": rows,
        "runs": len(runs),
        "median_seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs), 1),
        "ratio_to_plain_load": round(seconds / base, 2) if base else None,
    }


def bench_rows(server, rows: int, runs: int, cli: list[str]) -> list[dict]:
    create, update = bench.generate(rows)
    config = bench.DATA / "bench.xml"
    seed_db = bench.seeded_store(cli)
    work = bench.DATA / "work"
    work.mkdir(exist_ok=True)
    got: dict[tuple[str, str], list[dict]] = {}
    for counter in range(1, runs + 1):
        url = _fresh_pg(server, counter)
        _psql(
            server,
            url,
            "CREATE TABLE rows (a text, b text, c text, d text, e text, f text, g text)",
        )
        command = f"\\copy rows FROM '{create}' WITH (FORMAT csv, DELIMITER ';', HEADER true)"
        env = {**os.environ, "PGPASSWORD": server.password}
        got.setdefault(("postgresql", "COPY (psql \\copy)"), []).append(
            _timed_env(
                [
                    str(server.bindir / "psql"),
                    "-X",
                    "-q",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-d",
                    url.replace(f":{server.password}@", "@"),
                    "-c",
                    command,
                ],
                env,
            )
        )
        common = cli + ["run", "--quiet", "--no-progress", "--db", url]
        for name, argv in (
            (CASES[0], [str(config), str(create)]),
            (CASES[1], ["--force", str(config), str(create)]),
            (CASES[2], [str(config), str(update)]),
        ):
            result = bench.timed(common + argv)
            if result["exit_code"] not in (0, 1):
                raise SystemExit(
                    f"{name} on PostgreSQL: exit {result['exit_code']}: {result['stderr']}"
                )
            got.setdefault(("postgresql", name), []).append(result)
        for f in work.iterdir():
            f.unlink()
        sqlite3_cli = shutil.which("sqlite3")
        if sqlite3_cli:
            script = (
                f"CREATE TABLE rows (a, b, c, d, e, f, g);\nBEGIN;\n.mode csv\n"
                f".separator ;\n.import --skip 1 {create} rows\nCOMMIT;\n"
            )
            got.setdefault(("sqlite", "sqlite3 .import"), []).append(
                _timed_env([sqlite3_cli, str(work / "plain.db")], os.environ, stdin=script)
            )
        db = work / "store.db"
        shutil.copy(seed_db, db)
        common = cli + ["run", "--quiet", "--no-progress", "--db", str(db)]
        for name, argv in (
            (CASES[0], [str(config), str(create)]),
            (CASES[1], ["--force", str(config), str(create)]),
            (CASES[2], [str(config), str(update)]),
        ):
            got.setdefault(("sqlite", name), []).append(bench.timed(common + argv))
    table = []
    for engine, plain in (("postgresql", "COPY (psql \\copy)"), ("sqlite", "sqlite3 .import")):
        base = (
            statistics.median(r["seconds"] for r in got.get((engine, plain), [{"seconds": 0}]))
            or None
        )
        for (kind, name), results in got.items():
            if kind == engine:
                table.append(_row(name, engine, rows, results, base))
    return table


def _timed_env(argv: list[str], env, stdin: str | None = None) -> dict:
    import tempfile
    import time

    started = time.perf_counter()
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        if stdin:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        stderr.seek(0)
        err = stderr.read().decode(errors="replace")[-500:]
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"{argv[0]} failed: {err}")
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "exit_code": code,
        "stderr": err,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, action="append", help="rows per file (repeatable)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each case; medians quoted")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "session_import"]
    bench.DATA.mkdir(parents=True, exist_ok=True)
    (bench.DATA / "bench.xml").write_text(bench.CONFIG)
    server = pg_server.Cluster(durable=True).start()
    try:
        _seed_pg(server, cli)
        table = []
        for rows in args.rows or [100_000]:
            table += bench_rows(server, rows, args.runs, cli)
    finally:
        server.stop()
    print(
        f"{'engine':<12}{'case':<38}{'rows':>9}{'seconds':>9}{'rows/s':>10}{'RSS MB':>8}"
        f"{'x plain':>9}"
    )
    for r in table:
        print(
            f"{r['engine']:<12}{r['case']:<38}{r['rows']:>9,}{r['median_seconds']:>9.2f}"
            f"{r['rows_per_second']:>10,}{r['peak_rss_mb']:>8.0f}"
            f"{r['ratio_to_plain_load'] or 0:>9.2f}"
        )
    bench.RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    out = bench.RESULTS / f"pg-bench-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "when": stamp,
                "machine": platform.platform(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "runs": args.runs,
                "results": table,
            },
            indent=2,
        )
        + "\n"
    )
    print(
        f"\nmedians of {args.runs} runs; x plain = median seconds / the engine's plain load"
        f" (COPY, .import); written to {out}"
    )


if __name__ == "__main__":
    main()
