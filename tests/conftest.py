"""Helpers for end-to-end tests: drive the real command, re-open the store to see what was committed."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from pg_server import NoServer, required, server

from session_import.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIGS = ROOT / "sample_configs"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Backends:
    """Where a Workspace keeps its store: an SQLite file in its folder, or (while a test
    runs with ``store_backend`` "postgresql") a new database of the tests' PostgreSQL
    server, started once for the session."""

    def __init__(self) -> None:
        self.current = "sqlite"
        self._server = None
        self._failure: str | None = None

    def server(self):
        if self._server is None and self._failure is None:
            try:
                self._server = server()
            except (NoServer, ImportError) as exc:
                self._failure = str(exc)
        if self._server is None:
            if required():
                pytest.fail(
                    f"SESSION_IMPORT_REQUIRE_PG is set and no PostgreSQL server: {self._failure}"
                )
            pytest.skip(f"no PostgreSQL server: {self._failure}")
        return self._server

    def new_store(self, root: Path) -> Path | str:
        if self.current == "postgresql":
            return self.server().new_database()
        return root / "store.db"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


BACKENDS = Backends()

# the test modules whose tests run on both stores (a parameter of each test), but for the
# tests marked sqlite_only (they look at the SQLite file, its lock file or its pragmas)
BOTH_STORES = {
    "test_cli_runs",
    "test_revert",
    "test_cli_sessions",
    "test_cli_reports",
    "test_cli_reference_data",
    "test_publish_outbox",
    "test_publish_perculus",
    "test_publish_zoho",
    "test_cli_nights",
    "test_cli_sources",
    "test_cli_excel",
    "test_cli_output",
    "test_after_commit",
    "test_cases",
    "test_property",
    "test_one_by_one_model",
    "test_held",
    "test_snapshot",
    "test_digests",
    "test_cli_digests",
}


def pytest_generate_tests(metafunc):
    if "store_backend" not in metafunc.fixturenames:
        return
    both = metafunc.module.__name__.rsplit(".", 1)[-1] in BOTH_STORES
    if both and not metafunc.definition.get_closest_marker("sqlite_only"):
        metafunc.parametrize("store_backend", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(autouse=True)
def store_backend(request):
    """The store every Workspace of the test uses (and the property tests' stores)."""
    BACKENDS.current = getattr(request, "param", "sqlite")
    try:
        yield BACKENDS.current
    finally:
        BACKENDS.current = "sqlite"


def pytest_sessionfinish(session, exitstatus):
    BACKENDS.stop()


@pytest.fixture
def pg_cluster():
    """The tests' PostgreSQL server (skipped, or failed under SESSION_IMPORT_REQUIRE_PG=1,
    when there is none)."""
    return BACKENDS.server()


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """The URL (password included) of a new empty database of the tests' server."""
    return pg_cluster.new_database()


class Workspace:
    """A folder with a store, configs and data files, and the CLI run against them.

    The store is created as an administrator creates it, with `session-import init`
    (run, publish and revert never create one). ``db``: the store's path or URL (default:
    store.db in the folder, or a new database when the test runs on PostgreSQL)."""

    def __init__(self, root: Path, init: bool = True, db: Path | str | None = None):
        self.root = root
        self.db = db if db is not None else BACKENDS.new_store(root)
        self.on_postgres = isinstance(self.db, str) and self.db.startswith("postgresql://")
        self._to_init = init  # as soon as the folder exists (a test may create it itself)
        self._init()

    def _init(self) -> None:
        if self._to_init and self.root.is_dir():
            self._to_init = False
            result = self.run("init")
            assert result.exit_code == 0, result.stderr

    def write(self, name: str, text: str, encoding: str = "utf-8") -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(textwrap.dedent(text).lstrip("\n").encode(encoding))
        return path

    def run(self, *args: str | Path) -> Result:
        self._init()
        runner = CliRunner()
        argv = [str(a) for a in args]
        if (
            argv
            and argv[0]
            in ("run", "check", "export", "publish", "history", "init", "status", "backup")
            and "--db" not in argv
        ):
            argv[1:1] = ["--db", str(self.db)]
        result = runner.invoke(main, argv, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def import_rows(self, config: Path, data: Path, *extra: str) -> tuple[Result, dict]:
        """Run an import with a JSON report and return both."""
        report = self.root / "report.json"
        if report.exists():
            report.unlink()
        result = self.run("run", "--report", report, *extra, config, data)
        return result, json.loads(report.read_text()) if report.exists() else {}

    def seed(self) -> None:
        """Trainings, teachers and groups from the sample reference files, through the CLI."""
        for step in ("trainings", "teachers", "groups"):
            result = self.run(
                "run", SAMPLE_CONFIGS / f"{step}.xml", ROOT / "sample_data" / f"{step}.csv"
            )
            assert result.exit_code == 0, result.stderr

    def query(self, sql: str, *params) -> list[tuple]:
        """Read the store through a fresh connection: only committed data is seen."""
        if self.on_postgres:
            with psycopg.connect(self.db, autocommit=True) as conn:
                return [
                    tuple(row) for row in conn.execute(sql.replace("?", "%s"), params).fetchall()
                ]
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def store_bytes(self) -> bytes:
        """All the store holds: the SQLite file, or a plain pg_dump of its database."""
        if self.on_postgres:
            return BACKENDS.server().dump(self.db)
        return Path(self.db).read_bytes()

    def export(self, kind: str = "sessions") -> list[dict]:
        result = self.run("export", kind, "--format", "json")
        assert result.exit_code == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


SESSION_CONFIG = """
<actions>
  <createOrUpdateSessionAction>
    <options>
      <sessionSearchField>
        <sessionTitle/>
      </sessionSearchField>
      <fullAccess>{full_access}</fullAccess>
    </options>
    <fields>
      <sessionAction/>
      <trainingPathCode/>
      <sessionTitle/>
      <sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/>
      <sessionStatus/>
      <sessionStartDate/>
      <sessionEndDate/>
      <teacherLogin/>
      <groupName/>
      <groupGuid/>
    </fields>
  </createOrUpdateSessionAction>
</actions>
"""

HEADER = (
    "sessionAction;trainingPathCode;sessionTitle;sessionGuid;sessionId;sessionStatus;"
    "sessionStartDate;sessionEndDate;teacherLogin;groupName;groupGuid"
)


@pytest.fixture
def sessions_config(ws: Workspace) -> Path:
    return ws.write("sessions.xml", SESSION_CONFIG.format(full_access="no"))


def rows(*lines: str) -> str:
    return "\n".join((HEADER,) + lines) + "\n"


# an import that publishes: the nightly file (DD/MM/YYYY HH:II dates) and its publishers
NIGHTLY_CONFIG = """
<import-config>
  <import id="nightly">
    <providers><fileSystemSourceProvider>
      <fileName>night*.csv</fileName><dateFormat>DD/MM/YYYY HH:II</dateFormat>
    </fileSystemSourceProvider></providers>
    <actions>
      <createOrUpdateSessionAction>
        <options>
          <sessionSearchField><sessionTitle/></sessionSearchField>
          <fullAccess>yes</fullAccess>
        </options>
        <fields>
          <sessionAction/><trainingPathCode/><sessionTitle/>{status}
          <sessionStartDate/><sessionEndDate/><teacherLogin/>
        </fields>
      </createOrUpdateSessionAction>
    </actions>
    <publishers>
{publishers}
    </publishers>
  </import>
</import-config>
"""
