"""Files written otherwise than the provider says, through `session-import run`: another
delimiter, UTF-8 read as an 8-bit encoding, headers that name nothing or a misspelt
column. Each fails as a whole with the fix, applies nothing and is not moved; or, where
nothing is wrong, imports as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import Workspace

FIELDS = [
    "sessionAction",
    "trainingPathCode",
    "sessionTitle",
    "sessionStatus",
    "sessionStartDate",
    "sessionEndDate",
    "teacherLogin",
    "groupName",
]
ROW = [
    "M",
    "TP-001",
    "Sécurité, Paris",
    "open",
    "01/12/2026 09:00",
    "01/12/2026 17:00",
    "jdupont",
    "France",
]

CONFIG = """
<import-config>
  <import id="nightly">
    <providers><fileSystemSourceProvider>
      <fileName>night*.csv</fileName><path>incoming</path>
      <dateFormat>DD/MM/YYYY HH:II</dateFormat>{options}
    </fileSystemSourceProvider></providers>
    <actions>
      <createOrUpdateSessionAction>
        <options><sessionSearchField><sessionTitle/></sessionSearchField>
          <fullAccess>yes</fullAccess></options>
        <fields>{fields}</fields>
      </createOrUpdateSessionAction>
    </actions>
    <consolidators>
      <moveToBackupConsolidator><backupFolder>backup</backupFolder></moveToBackupConsolidator>
    </consolidators>
  </import>
</import-config>
"""


@pytest.fixture
def seeded(ws: Workspace) -> Workspace:
    ws.seed()
    return ws


def nightly(ws: Workspace, data: bytes, options: str = "", fields: list[str] = FIELDS) -> Path:
    ws.write(
        "nightly.xml",
        CONFIG.format(options=options, fields="".join(f"<{name}/>" for name in fields)),
    )
    path = ws.root / "incoming" / "night1.csv"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def run(ws: Workspace) -> tuple[int, str, str, dict]:
    report = ws.root / "report.json"
    result = ws.run("run", "--report", report, ws.root / "nightly.xml")
    return result.exit_code, result.stdout, result.stderr, json.loads(report.read_text())


def assert_failed_whole_and_kept(ws: Workspace, path: Path, message: str, line: int = 1) -> None:
    code, _, stderr, report = run(ws)
    assert code == 3
    assert f"{path}:{line}: {message}" in stderr
    assert report["files"][0]["error"] == f"{path}:{line}: {message}"
    assert ws.query("SELECT count(*) FROM sessions") == [(0,)]
    assert path.exists()  # a file that failed as a whole is never moved
    assert not (ws.root / "backup" / path.name).exists()


# -- the delimiter --------------------------------------------------------------------


def test_a_semicolon_file_under_comma_fails_at_line_1_with_the_fix(seeded: Workspace):
    text = ";".join(FIELDS) + "\n" + ";".join(ROW) + "\n"
    path = nightly(seeded, text.encode(), "<delimiter>comma</delimiter>")
    assert_failed_whole_and_kept(
        seeded,
        path,
        (
            "the header split at ',' names no configured field, split at ';' it names 8 of 8;"
            " the file looks semicolon-delimited: set <delimiter>semicolon</delimiter> in the"
            " provider."
        ),
    )


def test_a_tab_file_under_the_default_semicolon(seeded: Workspace):
    text = "\t".join(FIELDS) + "\n" + "\t".join(ROW) + "\n"
    path = nightly(seeded, text.encode())
    assert_failed_whole_and_kept(
        seeded,
        path,
        (
            "the header split at ';' names no configured field, split at TAB it names 8 of 8;"
            " the file looks tab-delimited: set <delimiter>tab</delimiter> in the provider."
        ),
    )


def test_a_headerless_pipe_file_under_semicolon_by_its_width(seeded: Workspace):
    lines = ["|".join(ROW[:2] + [f"Session {n}"] + ROW[3:]) for n in range(7)]
    path = nightly(seeded, ("\n".join(lines) + "\n").encode(), "<skipFirstLine>no</skipFirstLine>")
    assert_failed_whole_and_kept(
        seeded,
        path,
        (
            "the first 5 records split at ';' into 1 column, not the 8 expected, and at '|' into 8"
            " columns; the file looks pipe-delimited: set <delimiter>pipe</delimiter> in the"
            " provider."
        ),
    )


def test_a_header_that_names_nothing_is_judged_by_its_width(seeded: Workspace):
    header = ["Action", "Code", "Titre", "Statut", "Début", "Fin", "Formateur", "Groupe"]
    text = ",".join(header) + "\n" + ",".join(f'"{c}"' if "," in c else c for c in ROW) + "\n"
    path = nightly(seeded, text.encode())
    assert_failed_whole_and_kept(
        seeded,
        path,
        (
            "the first 2 records split at ';' into 1 column, not the 8 expected, and at ',' into 8"
            " columns; the file looks comma-delimited: set <delimiter>comma</delimiter> in the"
            " provider."
        ),
    )


@pytest.mark.parametrize(
    ("options", "text"),
    [
        # titles with commas in a semicolon file: the header maps by name
        ("", ";".join(FIELDS) + "\n" + ";".join(ROW) + "\n"),
        # a comma file whose quoted titles hold commas and semicolons
        (
            "<delimiter>comma</delimiter>",
            ",".join(FIELDS) + "\n" + ",".join(f'"{c};x"' if "," in c else c for c in ROW) + "\n",
        ),
        # headerless: the configured delimiter gives the expected width
        ("<skipFirstLine>no</skipFirstLine>", ";".join(ROW) + "\n"),
    ],
)
def test_files_that_read_as_configured_import_as_before(seeded: Workspace, options, text):
    path = nightly(seeded, text.encode(), options)
    code, _, stderr, report = run(seeded)
    assert code == 0, stderr
    assert report["files"][0]["counts"]["created"] == 1
    assert not path.exists() and (seeded.root / "backup" / path.name).exists()


def test_one_column_is_singular(seeded: Workspace):
    text = ";".join(FIELDS) + "\n" + ";".join(ROW) + "\nM\n"
    nightly(seeded, text.encode())
    code, _, _, report = run(seeded)
    assert code == 1
    assert report["files"][0]["rejected"][0]["messages"] == ["Line has 1 column, 8 expected."]


# -- the encoding -----------------------------------------------------------------------


def test_utf_8_under_windows_1252_fails_with_the_fix(seeded: Workspace):
    text = ";".join(FIELDS) + "\n" + ";".join(ROW) + "\n"
    path = nightly(seeded, text.encode(), "<fileEncoding>windows-1252</fileEncoding>")
    offset = text.encode().index("é".encode())
    assert_failed_whole_and_kept(
        seeded,
        path,
        (
            "looks like UTF-8, not windows-1252: the whole file is valid UTF-8, and the bytes"
            f' 0xC3 0xA9 at byte {offset} read as "é" in UTF-8 but as "Ã©" in windows-1252; set'
            " <fileEncoding>UTF-8</fileEncoding> in the provider."
        ),
        line=2,
    )


def test_windows_1252_under_windows_1252_imports(seeded: Workspace):
    text = ";".join(FIELDS) + "\n" + ";".join(ROW) + "\n"
    nightly(seeded, text.encode("windows-1252"), "<fileEncoding>windows-1252</fileEncoding>")
    code, _, stderr, _ = run(seeded)
    assert code == 0, stderr
    assert [s["title"] for s in seeded.export()] == ["Sécurité, Paris"]


# -- headers ----------------------------------------------------------------------------


def test_a_header_that_names_no_field_is_read_by_position_with_a_warning(seeded: Workspace):
    header = ["Action", "Code", "Titre", "Statut", "Début", "Fin", "Formateur", "Groupe"]
    path = nightly(seeded, (";".join(header) + "\n" + ";".join(ROW) + "\n").encode())
    code, stdout, stderr, report = run(seeded)
    assert code == 0, stderr
    warning = (
        'The header ("Action", "Code", "Titre", "Statut", "Début", "Fin", "Formateur",'
        ' "Groupe") names no configured field; its columns are read by position, in the'
        " order of <fields>: sessionAction, trainingPathCode, sessionTitle, sessionStatus,"
        " sessionStartDate, sessionEndDate, teacherLogin, groupName."
    )
    assert f"{path}:1: warning: {warning}" in stdout
    assert report["files"][0]["warnings"] == [{"line": 1, "messages": [warning]}]
    assert report["files"][0]["counts"]["created"] == 1


def test_a_misspelt_mandatory_column_gets_a_did_you_mean(seeded: Workspace):
    header = [("teacherLogn" if f == "teacherLogin" else f) for f in FIELDS]
    path = nightly(seeded, (";".join(header) + "\n" + ";".join(ROW) + "\n").encode())
    assert_failed_whole_and_kept(
        seeded,
        path,
        "Mandatory column teacherLogin is missing from the header; did you mean teacherLogn?",
    )


def test_a_misspelt_optional_column_gets_a_did_you_mean(seeded: Workspace):
    header = [("Group_Name" if f == "groupName" else f) for f in FIELDS]
    nightly(seeded, (";".join(header) + "\n" + ";".join(ROW) + "\n").encode())
    code, _, stderr, report = run(seeded)
    assert code == 0, stderr
    warning = (
        "Column groupName is missing from the header (did you mean Group_Name?); the"
        " field is left as it is."
    )
    assert report["files"][0]["warnings"] == [{"line": 1, "messages": [warning]}]
