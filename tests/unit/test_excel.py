"""sources.excel: an .xlsx workbook -> records with the sheet's row numbers (SPEC 3 and 7)."""

from __future__ import annotations

import datetime as dt
import io
import posixpath
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import openpyxl
import pytest

from session_import.sources import DataFile, DataFileError, DateCell, Record, excel, open_data_file
from session_import.sources.excel import ExcelFile

SHEET = "xl/worksheets/sheet1.xml"
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def workbook(tmp_path: Path, *rows: Iterable[object], name: str = "data.xlsx") -> Path:
    """A workbook written by openpyxl whose first sheet holds ``rows`` from row 1."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sessions"
    for row in rows:
        sheet.append(list(row))
    path = tmp_path / name
    book.save(path)
    return path


def read_all(path: Path, **options) -> tuple[ExcelFile, list[tuple[int, list[str]]]]:
    with open_data_file(path, **options) as data_file:
        return data_file, [(record.line, record.cells) for record in data_file]


def read_error(path: Path, **options) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        read_all(path, **options)
    return caught.value


def with_sheet_xml(path: Path, rows_xml: str, *, head: str = "", tail: str = "") -> Path:
    """``path`` (a workbook) with its first sheet's XML replaced, as another program writes it."""
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>{head}<worksheet xmlns="{MAIN_NS}">'
        f"<sheetData>{rows_xml}</sheetData>{tail}</worksheet>"
    )
    return replace_part(path, SHEET, sheet.encode())


def replace_part(path: Path, name: str, data: bytes | None) -> Path:
    with zipfile.ZipFile(path) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    if data is None:
        del parts[name]
    else:
        parts[name] = data
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, content in parts.items():
            archive.writestr(part, content)
    return path


# -- rows and lines ----------------------------------------------------------------


def test_rows_are_lines_numbered_as_the_sheet_numbers_them(tmp_path: Path) -> None:
    path = workbook(
        tmp_path,
        [],  # row 1 empty: the header is row 2
        ["sessionTitle", "teacherLogin", None],  # an empty last column is no column
        ["Safety", "jdupont"],
        [],
        [None, None],  # no value: skipped as a blank line is
        ["GDPR", "lchen", None, None],
    )
    data_file, rows = read_all(path)
    assert data_file.header == ["sessionTitle", "teacherLogin"]
    assert rows == [(3, ["Safety", "jdupont"]), (6, ["GDPR", "lchen"])]
    assert (data_file.path, data_file.encoding, data_file.delimiter) == (str(path), "utf-8", ";")


def test_a_row_with_empty_last_cells_has_the_header_s_width(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a", "b", "c"], ["1"], ["1", None, "3", None, "5"])
    _, rows = read_all(path)
    # the wider row keeps its extra cell: the mapping decides what it means
    assert rows == [(2, ["1", "", ""]), (3, ["1", "", "3", "", "5"])]


def test_without_header_the_first_row_is_line_1(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a", "b", "c"], ["1"])
    data_file, rows = read_all(path, has_header=False)
    assert data_file.header is None
    assert rows == [(1, ["a", "b", "c"]), (2, ["1", "", ""])]  # the sheet's width: A1:C2


@pytest.mark.parametrize("has_header", [True, False])
def test_an_empty_sheet_is_not_an_error(tmp_path: Path, has_header: bool) -> None:
    data_file, rows = read_all(workbook(tmp_path), has_header=has_header)
    assert (data_file.header, rows) == ([] if has_header else None, [])


def test_a_header_only_sheet(tmp_path: Path) -> None:
    data_file, rows = read_all(workbook(tmp_path, ["a", "b"]))
    assert (data_file.header, rows) == (["a", "b"], [])


def test_records_are_records_and_iteration_stops_when_closed(tmp_path: Path) -> None:
    data_file = open_data_file(workbook(tmp_path, ["a"], ["1"], ["2"], ["3"]))
    with data_file:
        assert next(iter(data_file)) == Record(2, ["1"])
        assert [record.line for record in data_file] == [3, 4]
    with pytest.raises(ValueError):
        iter(data_file)


# -- dispatch ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["data.xlsx", "DATA.XLSX", "data.Xlsx"])
def test_an_xlsx_name_is_read_as_a_workbook(tmp_path: Path, name: str) -> None:
    data_file, rows = read_all(workbook(tmp_path, ["a"], ["1"], name=name))
    assert isinstance(data_file, ExcelFile)
    assert rows == [(2, ["1"])]


def test_other_names_are_delimited_text_and_options_stay_optional(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx.csv"
    path.write_bytes(b"a;b\n1;2\n")
    with open_data_file(path, encoding="utf-8", delimiter=";", has_header=True) as data_file:
        assert isinstance(data_file, DataFile)
        assert list(data_file) == [Record(2, ["1", "2"])]
    with open_data_file(path, sheet_name="ignored", date_format="DD/MM/YYYY") as data_file:
        assert isinstance(data_file, DataFile)


# -- cells -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (12, "12"),
        (12.0, "12"),
        (-3.0, "-3"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.3"),  # Excel shows 15 significant digits
        (1e-7, "0.0000001"),
        (1.5e16, "15000000000000000"),
        (True, "TRUE"),
        (False, "FALSE"),
        ("  spaced  ", "  spaced  "),  # not trimmed, as in CSV
        ("'=SUM(A1:A3)", "=SUM(A1:A3)"),  # a neutralised formula is restored, as in CSV
        ("'plain", "'plain"),
        ("multi\nline", "multi\nline"),
        (dt.time(9, 30), "09:30:00"),
        (dt.timedelta(hours=36, minutes=5), "36:05:00"),
    ],
)
def test_cells_read_as_a_user_sees_them(tmp_path: Path, value: object, text: str) -> None:
    _, rows = read_all(workbook(tmp_path, ["value"], [value]))
    assert rows == [(2, [text])]
    assert type(rows[0][1][0]) is str


def test_an_error_value_reads_as_its_text(tmp_path: Path) -> None:
    path = with_sheet_xml(workbook(tmp_path), '<row r="1"><c r="A1" t="e"><v>#N/A</v></c></row>')
    assert read_all(path, has_header=False)[1] == [(1, ["#N/A"])]


def test_a_formula_reads_as_its_saved_value_or_empty_without_one(tmp_path: Path) -> None:
    path = with_sheet_xml(
        workbook(tmp_path),
        '<row r="1"><c r="A1"><f>1+2</f><v>3</v></c><c r="B1" t="str"><f>"a"&amp;"b"</f>'
        '<v>ab</v></c><c r="C1"><f>SUM(A1:A2)</f></c><c r="D1"><v>4</v></c></row>',
    )
    assert read_all(path, has_header=False)[1] == [(1, ["3", "ab", "", "4"])]


def test_a_merged_range_reads_in_its_top_left_cell(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a", "b", "c"], ["merged", None, "x"], ["y", "z", "w"])
    book = openpyxl.load_workbook(path)
    book.active.merge_cells("A2:B3")
    book.save(path)
    _, rows = read_all(path)
    assert rows == [(2, ["merged", "", "x"]), (3, ["", "", "w"])]


# -- dates -------------------------------------------------------------------------

MIDNIGHT = dt.datetime(2026, 12, 5)
MORNING = dt.datetime(2026, 12, 5, 9, 30)
EXACT = dt.datetime(2026, 12, 5, 9, 30, 15)


@pytest.mark.parametrize(
    ("date_format", "value", "text"),
    [
        (None, MIDNIGHT, "2026-12-05"),  # the default YYYY-MM-DD
        ("DD/MM/YYYY", MIDNIGHT, "05/12/2026"),
        ("dd.mm.yyyy", MIDNIGHT, "05.12.2026"),  # tokens in any case
        ("DD/MM/YYYY", MORNING, "2026-12-05T09:30:00"),  # the format cannot show 09:30
        ("DD/MM/YYYY HH:II", MORNING, "05/12/2026 09:30"),
        ("DD/MM/YYYY HH:II", MIDNIGHT, "05/12/2026 00:00"),
        ("DD/MM/YYYY HH:II", EXACT, "2026-12-05T09:30:15"),  # seconds it cannot show
        ("YYYY-MM-DD HH:II:SS", EXACT, "2026-12-05 09:30:15"),
        ("MM/DD/YYYY HH", dt.datetime(2026, 12, 5, 9), "12/05/2026 09"),
    ],
)
def test_a_date_cell_is_written_in_the_date_format_when_it_shows_it_exactly(
    tmp_path: Path, date_format: str | None, value: dt.datetime, text: str
) -> None:
    _, rows = read_all(workbook(tmp_path, ["start"], [value]), date_format=date_format)
    ((line, (cell,)),) = rows
    assert (line, cell, type(cell), cell.value) == (2, text, DateCell, value)


@pytest.mark.parametrize(
    ("date_format", "text"),
    [
        ("DD/MM/YYYY", "05/12/2026"),
        ("DD/MM/YYYY HH:II", "05/12/2026"),  # the date part, which the format accepts alone
        ("HH:II DD/MM/YYYY", "2026-12-05"),  # no date part to write it in: ISO
    ],
)
def test_a_date_without_time(tmp_path: Path, date_format: str, text: str) -> None:
    path = with_sheet_xml(
        workbook(tmp_path), '<row r="1"><c r="A1" t="d"><v>2026-12-05</v></c></row>'
    )
    ((_, (cell,)),) = read_all(path, has_header=False, date_format=date_format)[1]
    assert (cell, cell.value) == (text, dt.date(2026, 12, 5))


def test_a_date_cell_is_a_plain_string_otherwise() -> None:
    cell = DateCell("05/12/2026", MIDNIGHT)
    assert cell == "05/12/2026" and cell.value == MIDNIGHT
    assert repr(cell) == "DateCell('05/12/2026', datetime.datetime(2026, 12, 5, 0, 0))"
    assert cell.strip() is cell  # the mapping trims cells: a date cell keeps its date
    assert type(cell.upper()) is str


def test_dates_typed_as_text_stay_text(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["start"], ["30/02/2027 09:00"])
    _, rows = read_all(path, date_format="DD/MM/YYYY")
    assert rows == [(2, ["30/02/2027 09:00"])] and type(rows[0][1][0]) is str


# -- sheets ------------------------------------------------------------------------


def two_sheets(tmp_path: Path) -> Path:
    path = workbook(tmp_path, ["first"], ["1"])
    book = openpyxl.load_workbook(path)
    other = book.create_sheet("Feuil 2")
    other.append(["second"])
    other.append(["2"])
    book.active = 1  # the active sheet is not the default: the first one is
    book.save(path)
    return path


def test_the_first_sheet_is_read_by_default(tmp_path: Path) -> None:
    assert read_all(two_sheets(tmp_path))[1] == [(2, ["1"])]


@pytest.mark.parametrize("name", ["Feuil 2", "FEUIL 2"])
def test_the_sheet_named_in_the_provider(tmp_path: Path, name: str) -> None:
    data_file, rows = read_all(two_sheets(tmp_path), sheet_name=name)
    assert (data_file.header, rows) == (["second"], [(2, ["2"])])


def test_an_unknown_sheet_name_fails_naming_the_sheets(tmp_path: Path) -> None:
    path = two_sheets(tmp_path)
    error = read_error(path, sheet_name="Sessions 2026")
    assert str(error) == (
        f'{path}: has no sheet named "Sessions 2026"; its sheets are "Sessions", "Feuil 2";'
        " set <sheetName> to one of them, or remove <sheetName> to read the first sheet."
    )


# -- damaged and hostile workbooks -----------------------------------------------------


def test_a_missing_workbook_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "missing.xlsx"
    assert str(read_error(path)) == f"{path}: cannot be opened: No such file or directory."


NOT_A_ZIP = (
    ": is not an Excel workbook: it is not a zip archive, or it is truncated or damaged;"
    " open it in Excel and save it as an Excel workbook (.xlsx), or, if it is delimited"
    " text, give it a .csv name."
)


def test_a_csv_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"a;b\n1;2\n")
    assert str(read_error(path)) == f"{path}{NOT_A_ZIP}"


def test_half_a_workbook(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a"], *([f"row {n}"] for n in range(500)))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert str(read_error(path)) == f"{path}{NOT_A_ZIP}"


def test_an_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"")
    assert str(read_error(path)) == f"{path}{NOT_A_ZIP}"


def test_a_word_document_renamed(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    assert str(read_error(path)) == (
        f"{path}: is a zip archive but not an Excel workbook (it has no workbook part;"
        " another document renamed .xlsx?); save the data as an Excel workbook (.xlsx) or as CSV."
    )


ENCRYPTED = (
    ": is an encrypted (password-protected) workbook or an old Excel 97-2003 file, which"
    " cannot be read; in Excel, remove its password or save it as an Excel workbook"
    " (.xlsx), then import it again."
)


def test_a_password_protected_workbook(tmp_path: Path) -> None:
    # Excel encrypts a workbook into an OLE compound file (EncryptionInfo and
    # EncryptedPackage streams); its signature is all that is read.
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + b"EncryptedPackage")
    assert str(read_error(path)) == f"{path}{ENCRYPTED}"


def test_a_workbook_with_an_encrypted_zip_part(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a"])
    data = bytearray(path.read_bytes())
    directory = data.index(b"PK\x01\x02")  # the first central directory entry
    data[directory + 8] |= 0x1
    path.write_bytes(bytes(data))
    assert str(read_error(path)) == f"{path}{ENCRYPTED}"


# A zip written by hand, to hold what zipfile cannot write quickly: a gigabyte of zeros
# (1 MiB blocks deflated once, repeated: 1 MiB compressed), sizes that lie.
GIB = 1 << 30
BLOCK = 1 << 20


def deflated_blocks(prefix: bytes, filler: int, blocks: int) -> tuple[bytes, int, int]:
    """Raw deflate of ``prefix`` + ``blocks`` MiB of byte ``filler``: (data, crc, size)."""

    def flushed(data: bytes) -> bytes:
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)

    block = bytes([filler]) * BLOCK
    crc = zlib.crc32(prefix)
    for _ in range(blocks):
        crc = zlib.crc32(block, crc)
    data = flushed(prefix) + flushed(block) * blocks + b"\x03\x00"  # an empty last block
    return data, crc, len(prefix) + blocks * BLOCK


def write_zip(path: Path, parts: list[tuple[str, bytes, int, int]]) -> Path:
    """A deflated zip of (name, raw deflate data, crc, declared size) parts."""
    out, directory = io.BytesIO(), io.BytesIO()
    for name, data, crc, size in parts:
        encoded = name.encode()
        offset = out.tell()
        fields = (20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded))
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + data)
        directory.write(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + encoded
        )
    entries, size = len(parts), directory.tell()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, entries, entries, size, out.tell(), 0)
    path.write_bytes(out.getvalue() + directory.getvalue() + end)
    return path


def workbook_with_sheet(tmp_path: Path, sheet: tuple[bytes, int, int], declared: int) -> Path:
    """A real workbook whose first sheet is replaced by ``sheet`` (declared: its size)."""
    with zipfile.ZipFile(workbook(tmp_path, ["a"])) as archive:
        parts = {info.filename: archive.read(info) for info in archive.infolist()}
    entries = []
    for name, content in parts.items():
        if name == SHEET:
            data, crc, _ = sheet
            entries.append((name, data, crc, declared))
        else:
            data, crc, size = deflated_blocks(content, 0, 0)
            entries.append((name, data, crc, size))
    return write_zip(tmp_path / "bomb.xlsx", entries)


@pytest.fixture(scope="module")
def gigabyte_of_zeros() -> tuple[bytes, int, int]:
    return deflated_blocks(b"", 0, GIB // BLOCK)


def refused_quickly(path: Path) -> tuple[DataFileError, float, int]:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(DataFileError) as caught:
            read_all(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return caught.value, elapsed, peak


def test_a_zip_bomb_is_refused_from_its_directory(
    tmp_path: Path, gigabyte_of_zeros: tuple[bytes, int, int]
) -> None:
    path = workbook_with_sheet(tmp_path, gigabyte_of_zeros, GIB)
    assert path.stat().st_size < 2_000_000
    with zipfile.ZipFile(path) as archive:  # a real bomb: zipfile would expand it
        assert archive.getinfo(SHEET).file_size == GIB
        with archive.open(SHEET) as member:
            assert member.read(BLOCK) == bytes(BLOCK)
    error, elapsed, peak = refused_quickly(path)
    ratio = GIB // len(gigabyte_of_zeros[0])
    assert str(error) == (
        f"{path}: is refused: its part {SHEET} would expand {ratio} times, to 1074 MB;"
        " no real workbook compresses over 100 times (a zip bomb?); save the sheet again"
        " from Excel, or as CSV."
    )
    assert peak < 1_000_000 and elapsed < 1.0


def test_a_part_whose_declared_size_lies_is_read_no_further(
    tmp_path: Path, gigabyte_of_zeros: tuple[bytes, int, int]
) -> None:
    # A gigabyte of blanks after the sheet's opening tags, declared as 2 MB: the checks
    # pass, zipfile stops at 2 MB and the CRC, of the whole gigabyte, does not match.
    sheet = deflated_blocks(
        f'<worksheet xmlns="{MAIN_NS}"><sheetData>'.encode(), ord(" "), GIB // BLOCK
    )
    path = workbook_with_sheet(tmp_path, sheet, 2_000_000)
    error, elapsed, peak = refused_quickly(path)
    assert str(error) == (
        f"{path}:1: cannot be read as an Excel workbook: BadZipFile: Bad CRC-32 for file"
        f" '{SHEET}'; open it in Excel and save it again as .xlsx."
    )
    assert peak < 10_000_000 and elapsed < 1.0


def test_a_workbook_expanding_past_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = workbook(tmp_path, ["a"], *([f"row {n}"] for n in range(100)))
    monkeypatch.setattr(excel, "MAX_EXPANDED", 10_000)
    with zipfile.ZipFile(path) as archive:
        total = sum(info.file_size for info in archive.infolist())
    assert str(read_error(path)) == (
        f"{path}: is refused: its parts would expand to {-(-total // 1_000_000)} MB, more than"
        " the 1 MB allowed (a zip bomb, or a workbook too big to import); split it into"
        " smaller workbooks or save the sheet as CSV."
    )


def test_a_zip_directory_of_too_many_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = workbook(tmp_path, ["a"])
    monkeypatch.setattr(excel, "MAX_PARTS", 5)
    with zipfile.ZipFile(path) as archive:
        parts = len(archive.infolist())
    error = read_error(path)
    assert error.line == 0
    assert error.message.startswith(f"is refused: its zip directory lists {parts} parts (")
    assert error.message.endswith(
        "more than the 5 parts a workbook may hold; open it in Excel and save it again as .xlsx."
    )


def test_a_big_sheet_still_reads(tmp_path: Path) -> None:
    # over RATIO_FROM, and as repetitive as a real sheet gets (it compresses ~17 times)
    row = ["M", "TP-001", "Safety - Paris - December", None, "open", "jdupont"]
    rows = (row for _ in range(2000))
    path = workbook(tmp_path, ["sessionAction", "trainingPathCode"], *rows)
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(SHEET).file_size > excel.RATIO_FROM
    data_file, rows_read = read_all(path)
    assert (len(rows_read), rows_read[-1][0]) == (2000, 2001)


XML_BOMB = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
)


@pytest.mark.parametrize(
    "doctype",
    [
        XML_BOMB,
        '<!DOCTYPE x [<!ENTITY lol3 SYSTEM "file:///etc/passwd">]>',  # an external entity
    ],
)
def test_entities_in_a_sheet_are_refused(tmp_path: Path, doctype: str) -> None:
    path = with_sheet_xml(
        workbook(tmp_path),
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol3;</t></is></c></row>',
        head=doctype,
    )
    assert str(read_error(path)) == (
        f"{path}: cannot be read as an Excel workbook: a part declares a DTD or XML"
        " entities, which no workbook does, and they are not read; save the sheet again"
        " from Excel, or as CSV."
    )


def test_a_sheet_damaged_half_way_fails_where_reading_stopped(tmp_path: Path) -> None:
    rows = "".join(
        f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>{n}</t></is></c></row>' for n in range(1, 5)
    )
    bad_row = '<row r="5"><c r="A5" t="s"><v>99</v></c></row>'  # no shared string 99
    path = with_sheet_xml(workbook(tmp_path), rows + bad_row)
    seen = []
    with pytest.raises(DataFileError) as caught, open_data_file(path) as data_file:
        seen.extend(record.line for record in data_file)
    assert seen == [2, 3, 4]
    assert str(caught.value) == (
        f"{path}:5: cannot be read as an Excel workbook: cell A5 refers to shared string 99,"
        " which the workbook does not hold; open it in Excel and save it again as .xlsx."
    )


def test_a_row_beyond_excel_s_last_row(tmp_path: Path) -> None:
    path = with_sheet_xml(
        workbook(tmp_path), '<row r="1"><c r="A1"><v>1</v></c></row><row r="99999999"/>'
    )
    error = read_error(path, has_header=False)
    assert str(error) == (
        f"{path}:1048577: cannot be read as an Excel workbook: a row is numbered beyond"
        " 1048576, Excel's last row; open it in Excel and save it again as .xlsx."
    )


def test_openpyxl_s_warnings_do_not_escape(tmp_path: Path) -> None:
    # pytest turns warnings into errors: openpyxl warns about the extension it drops
    ext = (
        '<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}">'
        '<x14:dataValidations xmlns:x14="http://schemas.microsoft.com/office/'
        'spreadsheetml/2009/9/main" count="0"/></ext></extLst>'
    )
    path = with_sheet_xml(workbook(tmp_path), '<row r="1"><c r="A1"><v>1</v></c></row>', tail=ext)
    replace_part(path, "xl/styles.xml", None)  # and about a missing stylesheet
    assert read_all(path, has_header=False)[1] == [(1, ["1"])]


def test_the_sample_workbook_reads_as_the_sample_csv() -> None:
    samples = Path(__file__).resolve().parents[2] / "sample_data"
    with open_data_file(samples / "sessions.csv") as text:
        expected = [(1, text.header), *((r.line, r.cells) for r in text)]
    data_file, rows = read_all(samples / "sessions.xlsx", date_format="DD/MM/YYYY HH:II")
    assert [(1, data_file.header), *rows] == expected
    assert sum(isinstance(cell, DateCell) for _, cells in rows for cell in cells) == 4


# -- as real spreadsheet programs write them ---------------------------------------------

WORKBOOKS = Path(__file__).resolve().parents[1] / "fixtures" / "workbooks"


@pytest.mark.parametrize(
    ("stored", "text"),
    [
        ("ABC_x000D_\nDEF", "ABC\r\nDEF"),  # Excel's CR before a line feed
        ("_x0009_tab_x000a_", "\ttab\n"),  # any _xHHHH_, in either case
        ("_x005F_x000D_", "_x000D_"),  # an escaped underscore: the escape as text
        ("a_x005f_b", "a_b"),
        ("x005F_ and _x00_ and _xZZZZ_", "x005F_ and _x00_ and _xZZZZ_"),  # no escapes
        ("_xD83D_", "_xD83D_"),  # a surrogate is no character: left as written
        ("_x000D_x000D_", "\rx000D_"),  # one pass, left to right
    ],
)
def test_ooxml_escapes_are_decoded(stored: str, text: str) -> None:
    assert excel.unescape_text(stored) == text


def test_a_row_of_blank_cells_is_an_empty_row(tmp_path: Path) -> None:
    path = workbook(tmp_path, ["a", "b"], ["  ", "\t"], [" x ", "y", " ", "\u00a0"])
    _, rows = read_all(path)
    assert rows == [(3, [" x ", "y"])]  # blank trailing cells are no cells; others stay


def test_every_quirk_reads_as_excel_s_own_workbook() -> None:
    expected = read_all(WORKBOOKS / "excel.xlsx", date_format="DD/MM/YYYY HH:II")[1]
    assert expected[1] == (
        3,
        ["M", "TP-002", "ABC\r\nDEF", "open", "02/03/2027 00:00", "02/03/2027 00:00", "lchen", ""],
    )
    for quirk in sorted(WORKBOOKS.glob("quirk-*.xlsx")):
        assert read_all(quirk, date_format="DD/MM/YYYY HH:II")[1] == expected, quirk.name


def excel_style(tmp_path: Path, parts: dict[str, str], name: str = "hand.xlsx") -> Path:
    """A zip of ``parts``, written by hand as the quirk under test needs."""
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for part, content in parts.items():
            archive.writestr(part, content)
    return path


RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE = "http://schemas.openxmlformats.org/package/2006/relationships"


def minimal_parts(
    sheet_rows: str,
    *,
    workbook_at: str = "xl/workbook.xml",
    sheet_target: str = "worksheets/sheet1.xml",
    extra: str = "",
) -> dict[str, str]:
    return {
        "_rels/.rels": f'<Relationships xmlns="{PACKAGE}"><Relationship Id="r1"'
        f' Type="{RELS}/officeDocument" Target="{workbook_at}"/></Relationships>',
        workbook_at: f'<workbook xmlns="{MAIN_NS}" xmlns:r="{RELS}">{extra}<sheets>'
        '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        posixpath.join(
            posixpath.dirname(workbook_at), "_rels", posixpath.basename(workbook_at) + ".rels"
        ): f'<Relationships xmlns="{PACKAGE}"><Relationship Id="rId1" Type="{RELS}/worksheet"'
        f' Target="{sheet_target}"/></Relationships>',
        "xl/worksheets/sheet1.xml": f'<worksheet xmlns="{MAIN_NS}"><sheetData>{sheet_rows}'
        "</sheetData></worksheet>",
    }


def test_the_workbook_part_is_found_through_the_package_relationships(tmp_path: Path) -> None:
    parts = minimal_parts(
        '<row r="1"><c r="B1" t="inlineStr"><is><t>x</t></is></c></row>',
        workbook_at="book/main.xml",
        sheet_target="../xl/worksheets/sheet1.xml",
    )
    assert read_all(excel_style(tmp_path, parts), has_header=False)[1] == [(1, ["", "x"])]


def test_a_renamed_document_with_relationships_is_no_workbook(tmp_path: Path) -> None:
    parts = {
        "_rels/.rels": f'<Relationships xmlns="{PACKAGE}"><Relationship Id="r1"'
        f' Type="{RELS}/officeDocument" Target="word/document.xml"/>'
        "</Relationships>",
        "word/document.xml": "<document><body/></document>",
    }
    error = read_error(excel_style(tmp_path, parts))
    assert error.message.startswith("is a zip archive but not an Excel workbook (it has no")


def test_a_sheet_whose_part_is_missing(tmp_path: Path) -> None:
    parts = minimal_parts("", sheet_target="worksheets/gone.xml")
    assert str(read_error(excel_style(tmp_path, parts))).endswith(
        ': cannot be read as an Excel workbook: the part of its sheet "S" is missing; open it'
        " in Excel and save it again as .xlsx."
    )


@pytest.mark.parametrize(
    ("rows_xml", "line", "reason"),
    [
        ('<row r="2"><c r="A2"><v>1</v></c></row><row r="2"/>', 3, "row 2 comes after row 2"),
        (
            '<row r="1"><c r="XFE1"><v>1</v></c></row>',
            1,
            "cell XFE1 is beyond column XFD, Excel's last",
        ),
        (
            '<row r="1"><c r="B1"><v>1</v></c><c r="A1"><v>2</v></c></row>',
            1,
            "cell A1 comes after column 2",
        ),
        (
            '<row r="1"><c r="A1"><v>one</v></c></row>',
            1,
            "cell A1 holds 'one', which is not a number",
        ),
    ],
)
def test_rows_and_cells_out_of_excel_s_order(
    tmp_path: Path, rows_xml: str, line: int, reason: str
) -> None:
    error = read_error(excel_style(tmp_path, minimal_parts(rows_xml)), has_header=False)
    assert str(error).endswith(
        f":{line}: cannot be read as an Excel workbook: {reason}; open it in Excel and save it"
        " again as .xlsx."
    )


def test_dates_in_locale_formats_and_the_1904_calendar(tmp_path: Path) -> None:
    parts = minimal_parts(
        '<row r="1"><c r="A1" s="1"><v>45352</v></c></row>', extra='<workbookPr date1904="1"/>'
    )
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        "</Relationships>",
        f'<Relationship Id="rId2" Type="{RELS}/styles" Target="styles.xml"/></Relationships>',
    )
    parts["xl/styles.xml"] = (
        f'<styleSheet xmlns="{MAIN_NS}"><cellXfs><xf numFmtId="0"/>'
        '<xf numFmtId="57"/></cellXfs></styleSheet>'
    )  # a Japanese date
    ((_, (cell,)),) = read_all(excel_style(tmp_path, parts), has_header=False)[1]
    assert cell.value == dt.datetime(2028, 3, 2)  # 45352 days after 1904-01-01
