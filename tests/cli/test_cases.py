"""Golden cases: tests/cases/<name>/{config.xml,input.csv,expected.json}.

Each case runs `session-import run --diff --report` on a store seeded with the
sample trainings, teachers and groups, and compares the report and the sessions
exported afterwards with expected.json. GUIDs, which the store makes up, are
replaced by the session's title. To write a new case's expected.json, run with
UPDATE_GOLDEN=1, then read it line by line before committing it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

CASES = Path(__file__).parents[1] / "cases"


def observed(ws, case: Path) -> dict:
    shutil.copy(case / "config.xml", ws.root / "config.xml")
    shutil.copy(case / "input.csv", ws.root / "input.csv")
    ws.seed()
    report_path = ws.root / "report.json"
    result = ws.run(
        "run", "--diff", "--report", report_path, ws.root / "config.xml", ws.root / "input.csv"
    )
    report = json.loads(report_path.read_text())
    sessions = ws.export("sessions")
    titles = {s["guid"]: s["title"] for s in sessions}
    files = []
    for f in report["files"]:
        f = dict(f, file=Path(f["file"]).name)
        f["changes"] = [dict(c, guid=titles.get(c["guid"], "<gone>")) for c in f.get("changes", [])]
        files.append(f)
    return {
        "exit_code": result.exit_code,
        "stderr": sorted(
            line.replace(str(ws.root) + "/", "")
            for line in result.stderr.splitlines()
            if "read as" in line
        ),
        "files": files,
        "sessions": [{k: v for k, v in s.items() if k not in ("guid",)} for s in sessions],
    }


@pytest.mark.parametrize("case", sorted(p.name for p in CASES.iterdir() if p.is_dir()))
def test_golden_case(ws, case):
    got = observed(ws, CASES / case)
    expected_path = CASES / case / "expected.json"
    if os.environ.get("UPDATE_GOLDEN"):
        expected_path.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    assert got == json.loads(expected_path.read_text())
