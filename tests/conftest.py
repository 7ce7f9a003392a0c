"""Helpers for end-to-end tests: drive the real command, re-open the store to see what was committed."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from session_import.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIGS = ROOT / "sample_configs"


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


class Workspace:
    """A folder with a store, configs and data files, and the CLI run against them.

    The store is created as an administrator creates it, with `session-import init`
    (run, publish and revert never create one)."""

    def __init__(self, root: Path, init: bool = True):
        self.root = root
        self.db = root / "store.db"
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
        conn = sqlite3.connect(self.db)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

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
