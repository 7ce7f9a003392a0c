"""Excel workbooks through `session-import run`: the same outcome as the CSV, typed dates,
a rejects file that imports again, and hostile workbooks refused as a whole."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime

import openpyxl
import pytest
from conftest import ROOT, SAMPLE_CONFIGS, Workspace

SAMPLE = ROOT / "sample_data"


def test_the_sample_workbook_imports_exactly_as_the_sample_csv(ws: Workspace):
    ws.seed()
    config = SAMPLE_CONFIGS / "sessions.xml"
    rejects = ws.root / "rejects.csv"
    result, report = ws.import_rows(config, SAMPLE / "sessions.xlsx", "--rejects", rejects)
    assert result.exit_code == 1, result.stderr
    from_excel = report["files"][0]
    from_csv_ws = Workspace(ws.root / "csv")
    from_csv_ws.root.mkdir()
    from_csv_ws.seed()
    _, csv_report = from_csv_ws.import_rows(config, SAMPLE / "sessions.csv")
    from_csv = csv_report["files"][0]
    assert from_excel["counts"] == from_csv["counts"]
    assert [(r["line"], r["messages"]) for r in from_excel["rejected"]] == [
        (r["line"], r["messages"]) for r in from_csv["rejected"]
    ]
    drop = ("guid", "group_guid", "id")
    assert [{k: v for k, v in s.items() if k not in drop} for s in ws.export()] == [
        {k: v for k, v in s.items() if k not in drop} for s in from_csv_ws.export()
    ]
    # the rejects file of a workbook: UTF-8, ';', the header, dates in <dateFormat>
    lines = rejects.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("sessionAction;trainingPathCode;sessionTitle;")
    assert lines[0].endswith(";errors")
    assert len(lines) == 6


def test_a_date_cell_is_read_whatever_the_date_format_says(ws: Workspace):
    ws.seed()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(
        [
            "sessionAction",
            "trainingPathCode",
            "sessionTitle",
            "sessionStatus",
            "sessionStartDate",
            "sessionEndDate",
            "teacherLogin",
            "groupName",
        ]
    )
    sheet.append(
        [
            "M",
            "TP-001",
            "Typed",
            "open",
            datetime(2027, 2, 3, 9, 30),
            datetime(2027, 2, 3, 17, 0),
            "jdupont",
            "",
        ]
    )
    sheet.append(
        ["M", "TP-001", "Written", "open", "04/02/2027 09:00", "04/02/2027 12:00", "jdupont", ""]
    )
    sheet.append(
        ["M", "TP-001", 2027.0, "open", datetime(2027, 2, 5), datetime(2027, 2, 5), "jdupont", ""]
    )
    path = ws.root / "night.xlsx"
    book.save(path)
    result, report = ws.import_rows(SAMPLE_CONFIGS / "sessions.xml", path)
    assert result.exit_code == 0, result.stderr
    dates = {s["title"]: (s["start_date"], s["end_date"]) for s in ws.export()}
    assert dates["Typed"] == ("2027-02-03T09:30:00", "2027-02-03T17:00:00")
    assert dates["Written"] == ("2027-02-04T09:00:00", "2027-02-04T12:00:00")
    assert dates["2027"] == ("2027-02-05", "2027-02-05")  # a whole number reads without .0


def test_a_zip_bomb_is_refused_as_a_whole_before_it_is_parsed(ws: Workspace):
    path = ws.root / "night.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("[Content_Types].xml", "<Types/>")
        bomb.writestr("xl/workbook.xml", "<workbook/>")
        with bomb.open("xl/worksheets/sheet1.xml", "w") as sheet:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                sheet.write(block)
    result = ws.run("run", "--report", ws.root / "r.json", SAMPLE_CONFIGS / "sessions.xml", path)
    assert result.exit_code == 3
    error = json.loads((ws.root / "r.json").read_text())["files"][0]["error"]
    assert error.startswith(f"{path}: ")
    assert "zip bomb" in error
    assert ws.query("SELECT count(*) FROM sessions") == [(0,)]


def test_a_damaged_workbook_fails_with_the_file_and_what_to_do(ws: Workspace):
    path = ws.root / "night.xlsx"
    whole = (SAMPLE / "sessions.xlsx").read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    result = ws.run("run", SAMPLE_CONFIGS / "sessions.xml", path)
    assert result.exit_code == 3
    assert f"{path}: is not an Excel workbook" in result.stderr + result.stdout


def test_an_undecodable_csv_names_the_line_the_byte_and_the_likely_encoding(ws: Workspace):
    ws.seed()
    text = (
        "sessionAction;trainingPathCode;sessionTitle;sessionStatus;sessionStartDate;"
        "sessionEndDate;teacherLogin;groupName\n"
        "M;TP-001;Sécurité - Paris;open;01/12/2026 09:00;01/12/2026 17:00;jdupont;France\n"
    )
    path = ws.root / "night.csv"
    path.write_bytes(text.encode("windows-1252"))
    result = ws.run("run", SAMPLE_CONFIGS / "sessions.xml", path)
    assert result.exit_code == 3
    assert (
        f"{path}:2: cannot be decoded as UTF-8 at byte " in result.stderr + result.stdout
        or f"{path}:2: cannot be decoded as utf-8 at byte " in result.stderr + result.stdout
    )
    assert "set <fileEncoding>windows-1252</fileEncoding>" in result.stderr + result.stdout
    assert ws.query("SELECT count(*) FROM sessions") == [(0,)]


# -- workbooks as real spreadsheet programs write them (tests/fixtures/workbooks/) --------

WORKBOOKS = ROOT / "tests" / "fixtures" / "workbooks"
TITLES = {"Sécurité incendie", "ABC\r\nDEF", "Literal _x000D_ stays"}


@pytest.mark.parametrize(
    ("name", "titles"),
    [
        ("excel", TITLES),
        # LibreOffice keeps a line feed alone for a cell's CR LF
        ("libreoffice", TITLES - {"ABC\r\nDEF"} | {"ABC\nDEF"}),
        # openpyxl cannot write a literal _x000D_ (see make_workbooks.py)
        ("openpyxl", TITLES - {"Literal _x000D_ stays"} | {"Literal stays"}),
        ("xlsxwriter", TITLES),
        ("quirk-case", TITLES),
        ("quirk-backslashes", TITLES),
        ("quirk-workbook-path", TITLES),
        ("quirk-inline", TITLES),
        ("quirk-strict", TITLES),
    ],
)
def test_workbooks_of_every_producer_import_alike(ws: Workspace, name: str, titles: set[str]):
    ws.seed()
    result, report = ws.import_rows(SAMPLE_CONFIGS / "sessions.xml", WORKBOOKS / f"{name}.xlsx")
    assert result.exit_code == 0, result.stderr
    counts = report["files"][0]["counts"]
    # row 4 holds blank cells only: an empty row, not a row; row 5's blank tenth cell is
    # no column (the only warning: sessionGuid is not in the header)
    assert (counts["rows"], counts["created"], counts["rejected"]) == (3, 3, 0)
    assert [w["line"] for w in report["files"][0]["warnings"]] == [1]
    sessions = {s["title"]: s for s in ws.export()}
    assert set(sessions) == titles
    first = sessions["Sécurité incendie"]
    assert (first["start_date"], first["end_date"]) == (
        "2027-03-01T09:00:00",
        "2027-03-01T17:30:00",
    )
    assert [s["start_date"] for s in sessions.values()] == [
        "2027-03-01T09:00:00",
        "2027-03-02",
        "2027-03-03T10:00:00",
    ]
