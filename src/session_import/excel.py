"""One Excel workbook (.xlsx) -> a stream of records, through reader.DataFile's interface.

The sheet's rows are the lines: a record's line is its row number in the sheet, the
header is the first row that holds something (normally row 1), and rows without any
value are skipped as blank lines are in CSV. openpyxl reads the sheet in read-only
mode, one row at a time, and its cached values (``data_only``).

A workbook is a zip of XML parts, and both can be hostile. Before openpyxl parses
anything, the zip's directory is checked, from a few kilobytes read at its end: a file
that is not a zip (a truncated workbook, a CSV renamed .xlsx), an OLE file (a
password-protected workbook, an old .xls), a zip without xl/workbook.xml (a .docx
renamed) and a zip bomb (declared sizes over MAX_EXPANDED in all, or a part over
RATIO_FROM that would expand over MAX_RATIO times) are refused. The directory's own
entry count and size are read first, so that a directory of millions of entries is
never loaded. A part whose declared size lies cannot expand past it: zipfile stops at
the declared size, then fails on the CRC. The XML is parsed with defusedxml (no DTD,
no entities), which openpyxl uses when it is installed.

How cells read (each a str, as in a CSV):

- empty -> ''; a string as it is, then reader.restore_formula as for CSV;
- a number as Excel shows it in the General format: 12.0 -> '12', 12.5 -> '12.5',
  at most 15 significant digits (0.1 + 0.2 -> '0.3'), never in exponent form;
- a boolean -> 'TRUE' or 'FALSE', the words Excel shows (in English);
- a date or date and time -> a reader.DateCell (its text: see DateCell and
  ``_date_writer``); a time of day alone -> 'HH:MM:SS'; a duration ([h]:mm format)
  -> 'H:MM:SS' with the hours in full;
- an error value -> its text ('#N/A', '#DIV/0!');
- a formula -> the value Excel saved with it. A workbook written by a program that
  does not compute formulas (and never opened and saved in Excel) has none: such a
  cell reads as empty, as in any reader without a calculation engine;
- a merged range -> its value in its top-left cell, the other cells empty: read-only
  mode does not read the ranges, and the value lives only in the top-left cell.

Columns: trailing empty cells are not cells. With a header, every record has at least
the header's width (a row whose last cells are empty is padded with ''), so that a
short row is not a wrong number of columns; without one, at least the sheet's declared
width. Row numbers beyond Excel's last row (1048576) are a damaged workbook.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from itertools import islice
from typing import IO, Any

from defusedxml import DefusedXmlException
from openpyxl import load_workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from session_import.reader import (
    DataFileError,
    DateCell,
    ReadMsg,
    Record,
    RecordFile,
    restore_formula,
)

MAX_EXPANDED = 512 * 1024 * 1024  # bytes that all the parts together may expand to
MAX_RATIO = 100  # real sheets compress 10-25 times; a bomb of zeros, 1000 times
RATIO_FROM = 256 * 1024  # parts smaller than this are not held to MAX_RATIO
MAX_PARTS = 10_000  # a workbook has tens of parts; a directory of millions is an attack
MAX_DIRECTORY = 4 * 1024 * 1024  # bytes of zip directory read before the parts are counted
EXCEL_LAST_ROW = 1_048_576
ROWS_PER_BATCH = 1000  # rows openpyxl reads between two yields (warnings silenced)

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx, .xls: not a zip
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_ENCRYPTED_PART = 0x1  # general purpose flag bit of a zip entry

_DATE_TOKEN = re.compile("YYYY|MM|DD|HH|II|SS", re.IGNORECASE)
_TIME_TOKENS = ("HH", "II", "SS")
DEFAULT_DATE_FORMAT = "YYYY-MM-DD"


class ExcelFile(RecordFile):
    """Context manager; iterate it for Records of data rows (the header is not yielded).

    The same interface as reader.DataFile: ``path``, ``encoding`` ('utf-8') and
    ``delimiter`` (';'), which a rejects file of an Excel input is written in, and
    ``header``. One pass: iterating again continues where the previous iteration stopped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        has_header: bool = True,
        sheet_name: str | None = None,
        date_format: str | None = None,
    ):
        self.path = os.fspath(path)
        self.encoding = "utf-8"
        self.delimiter = ";"
        self.header = None
        self._workbook: Any = None
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise DataFileError(
                self.path, 0, ReadMsg.CANNOT_OPEN.format(reason=error.strerror or error)
            ) from None
        try:
            check_workbook_archive(self.path, self._file)
            self._workbook = self._call_openpyxl(lambda: 0, self._load)
            sheet = self._sheet(sheet_name)
            self._records = self._start(sheet, has_header, _date_writer(date_format))
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()
        super().close()

    def __repr__(self) -> str:
        return f"<ExcelFile {self.path!r}>"

    # -- reading --------------------------------------------------------------

    def _load(self) -> Any:
        self._file.seek(0)
        return load_workbook(self._file, read_only=True, data_only=True)

    def _call_openpyxl(self, line: Callable[[], int], call: Callable[[], Any]) -> Any:
        """``call()``, its warnings silenced and its failures turned into DataFileError at
        ``line()``, the line where reading stopped.

        openpyxl warns about what it drops (extensions, data validation, styles), which
        is no concern of an import, and fails on damaged parts with whatever its parser
        met (KeyError, IndexError, ValueError, a zip or XML error): any of them means
        that the workbook cannot be read.
        """
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return call()
        except (DataFileError, MemoryError):
            raise
        except OSError as error:
            if error.errno is None:  # openpyxl's own IOError: no workbook part
                message = ReadMsg.WORKBOOK_DAMAGED.format(reason=_reason(error))
            else:
                message = ReadMsg.CANNOT_READ.format(reason=error.strerror or error)
            raise DataFileError(self.path, line(), message) from None
        except Exception as error:  # noqa: BLE001 - see the docstring
            cause = _root_cause(error)
            if isinstance(cause, DefusedXmlException):
                message = ReadMsg.WORKBOOK_FORBIDDEN_XML.value
            else:
                message = ReadMsg.WORKBOOK_DAMAGED.format(reason=_reason(cause))
            raise DataFileError(self.path, line(), message) from None

    def _sheet(self, sheet_name: str | None) -> ReadOnlyWorksheet:
        """The provider's sheet (matched as Excel does: case-insensitively), or the first."""
        sheets = [s for s in self._workbook.worksheets if isinstance(s, ReadOnlyWorksheet)]
        if sheet_name is None:
            if not sheets:
                raise DataFileError(self.path, 0, ReadMsg.NO_SHEET.value)
            return sheets[0]
        wanted = sheet_name.casefold()
        for sheet in sheets:
            if sheet.title.casefold() == wanted:
                return sheet
        raise DataFileError(
            self.path,
            0,
            ReadMsg.UNKNOWN_SHEET.format(
                sheet=_quoted(sheet_name),
                sheets=", ".join(_quoted(s.title) for s in sheets) if sheets else "none",
            ),
        )

    def _start(
        self, sheet: ReadOnlyWorksheet, has_header: bool, write_date: Callable[[Any], str]
    ) -> Iterator[Record]:
        declared_width = sheet.max_column or 0
        # Without declared dimensions openpyxl pads nothing, and fills no rows past the
        # last one: a hostile <dimension ref="A1:XFD1048576"> costs nothing.
        sheet.reset_dimensions()
        rows = self._numbered_rows(sheet, write_date)
        width = 0
        if has_header:
            first = next(rows, None)
            self.header = first.cells if first is not None else []
            width = len(self.header)
        elif 0 < declared_width <= 16384:
            width = declared_width
        return self._padded(rows, width)

    @staticmethod
    def _padded(rows: Iterator[Record], width: int) -> Iterator[Record]:
        for record in rows:
            missing = width - len(record.cells)
            if missing > 0:
                record.cells.extend([""] * missing)
            yield record

    def _numbered_rows(
        self, sheet: ReadOnlyWorksheet, write_date: Callable[[Any], str]
    ) -> Iterator[Record]:
        """Records of the rows that hold something, each with its row number."""
        values = sheet.iter_rows(values_only=True)
        number = 0  # rows read so far: openpyxl yields an empty row for each missing one
        while True:
            batch: list[tuple[Any, ...]] = []

            def read_batch() -> None:
                nonlocal number
                for row in islice(values, ROWS_PER_BATCH):
                    if number == EXCEL_LAST_ROW:
                        raise DataFileError(
                            self.path,
                            number + 1,
                            ReadMsg.WORKBOOK_TOO_MANY_ROWS.format(limit=EXCEL_LAST_ROW),
                        )
                    number += 1
                    batch.append(row)

            failure: DataFileError | None = None
            try:
                self._call_openpyxl(lambda: number + 1, read_batch)
            except DataFileError as error:
                failure = error  # raised after the rows read before it
            first = number - len(batch) + 1
            for offset, row in enumerate(batch):
                cells = _cells(row, write_date)
                if cells:
                    yield Record(first + offset, cells)
            if failure is not None:
                raise failure
            if len(batch) < ROWS_PER_BATCH:
                return


def check_workbook_archive(path: str, file: IO[bytes]) -> None:
    """Refuse, from its zip directory alone, a file that is no workbook or a zip bomb."""
    file.seek(0)
    if file.read(len(_OLE_SIGNATURE)) == _OLE_SIGNATURE:
        raise DataFileError(path, 0, ReadMsg.WORKBOOK_ENCRYPTED.value)
    parts, directory_size = _directory_size(file)
    if parts > MAX_PARTS or directory_size > MAX_DIRECTORY:
        raise DataFileError(
            path,
            0,
            ReadMsg.WORKBOOK_TOO_MANY_PARTS.format(
                parts=parts, size=directory_size, limit=MAX_PARTS
            ),
        )
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise DataFileError(path, 0, ReadMsg.WORKBOOK_NOT_A_ZIP.value) from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_FROM and info.file_size > MAX_RATIO * info.compress_size:
            raise DataFileError(
                path,
                0,
                ReadMsg.WORKBOOK_RATIO.format(
                    part=info.filename,
                    ratio=info.file_size // max(info.compress_size, 1),
                    size=_megabytes(info.file_size),
                    limit=MAX_RATIO,
                ),
            )
        if info.flag_bits & _ENCRYPTED_PART:
            raise DataFileError(path, 0, ReadMsg.WORKBOOK_ENCRYPTED.value)
    if total > MAX_EXPANDED:
        raise DataFileError(
            path,
            0,
            ReadMsg.WORKBOOK_TOO_BIG.format(
                size=_megabytes(total), limit=_megabytes(MAX_EXPANDED)
            ),
        )
    if not any(info.filename.lower() == "xl/workbook.xml" for info in infos):
        raise DataFileError(path, 0, ReadMsg.WORKBOOK_NO_WORKBOOK.value)


def _directory_size(file: IO[bytes]) -> tuple[int, int]:
    """(entries, bytes) of the zip's central directory, from its end records alone, so
    that zipfile never reads a directory of millions of entries; (0, 0) when there is no
    end record (zipfile then reports the file as no zip)."""
    file.seek(0, os.SEEK_END)
    size = file.tell()
    tail_size = min(size, 22 + 65535 + 20)  # end record, its longest comment, zip64 locator
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(_END_OF_DIRECTORY)
    if at < 0 or len(tail) - at < 22:
        return 0, 0
    entries, directory_size = struct.unpack("<HL", tail[at + 10 : at + 16])
    locator = at - 20
    if locator >= 0 and tail[locator : locator + 4] == _ZIP64_LOCATOR:
        (end64,) = struct.unpack("<Q", tail[locator + 8 : locator + 16])
        if end64 < size:
            file.seek(end64)
            record = file.read(56)
            if len(record) == 56 and record[:4] == _ZIP64_END:
                entries, directory_size = struct.unpack("<QQ", record[32:48])
    return entries, directory_size


def _megabytes(size: int) -> int:
    return -(-size // 1_000_000)


def _quoted(name: str) -> str:
    return f'"{name}"'


def _root_cause(error: BaseException) -> BaseException:
    """The exception that started it: openpyxl re-raises XML errors as a ValueError."""
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _reason(error: BaseException) -> str:
    text = str(error).strip().rstrip(".")
    name = type(error).__name__
    return f"{name}: {text}" if text else name


# -- cells --------------------------------------------------------------------------


def _cells(row: tuple[Any, ...], write_date: Callable[[Any], str]) -> list[str]:
    """A row's values as text, trailing empty cells dropped ([] for an empty row)."""
    end = len(row)
    while end and (row[end - 1] is None or row[end - 1] == ""):
        end -= 1
    cells: list[str] = []
    for value in row[:end]:
        kind = type(value)
        if kind is str:
            cells.append(restore_formula(value) if value[:1] == "'" else value)
        elif value is None:
            cells.append("")
        elif kind is bool:
            cells.append("TRUE" if value else "FALSE")
        elif kind is int:
            cells.append(str(value))
        elif kind is float:
            cells.append(_number_text(value))
        elif isinstance(value, dt.date):  # datetime.datetime included
            cells.append(DateCell(write_date(value), value))
        elif kind is dt.time:
            cells.append(f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}")
        elif kind is dt.timedelta:
            minutes, seconds = divmod(int(value.total_seconds()), 60)
            hours, minutes = divmod(minutes, 60)
            cells.append(f"{hours}:{minutes:02d}:{seconds:02d}")
        else:
            cells.append(str(value))
    return cells


def _number_text(value: float) -> str:
    """The number as Excel's General format shows it, without its exponent form."""
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    rounded = float(f"{value:.15g}")  # Excel keeps 15 significant digits
    if rounded.is_integer():
        return str(int(rounded))
    text = repr(rounded)
    if "e" in text:
        text = format(Decimal(text), "f")
    return text


def _date_writer(date_format: str | None) -> Callable[[dt.date], str]:
    """A function writing a date cell's value in ``date_format`` (tokens YYYY MM DD HH II SS,
    any case) when that shows it exactly, else in ISO form.

    Exactly: a datetime needs a token for each of its non-zero hours, minutes, seconds
    (a midnight datetime in DD/MM/YYYY -> '05/12/2026', with DD/MM/YYYY HH:II ->
    '05/12/2026 00:00'; 09:30 in DD/MM/YYYY -> '2026-12-05T09:30:00'). A date alone
    uses the format's date part, which dateFormat parsing accepts alone too.
    """
    text = date_format or DEFAULT_DATE_FORMAT
    parts = [p for p in re.split(f"({_DATE_TOKEN.pattern})", text, flags=re.IGNORECASE) if p]
    tokens = [p.upper() if _DATE_TOKEN.fullmatch(p) else None for p in parts]
    if any(tokens.count(t) != 1 for t in ("YYYY", "MM", "DD")):
        return _iso  # not a format that config.py lets through; never lose the date
    times = {t for t in tokens if t in _TIME_TOKENS}
    if times:
        first_time = min(i for i, t in enumerate(tokens) if t in _TIME_TOKENS)
        head = first_time
        while head and tokens[head - 1] is None:
            head -= 1  # the literal between the date and the time goes too
        date_part = list(zip(parts[:head], tokens[:head], strict=True))
        if not all(t in tokens[:head] for t in ("YYYY", "MM", "DD")):
            date_part = []
    else:
        date_part = list(zip(parts, tokens, strict=True))
    full = list(zip(parts, tokens, strict=True))

    def render(layout: list[tuple[str, str | None]], value: dt.date) -> str:
        fields = {"YYYY": f"{value.year:04d}", "MM": f"{value.month:02d}"}
        fields["DD"] = f"{value.day:02d}"
        if isinstance(value, dt.datetime):
            fields["HH"] = f"{value.hour:02d}"
            fields["II"] = f"{value.minute:02d}"
            fields["SS"] = f"{value.second:02d}"
        return "".join(fields[token] if token else part for part, token in layout)

    def write(value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            shown = (
                value.microsecond == 0
                and (value.hour == 0 or "HH" in times)
                and (value.minute == 0 or "II" in times)
                and (value.second == 0 or "SS" in times)
            )
            return render(full, value) if shown else _iso(value)
        return render(date_part, value) if date_part else _iso(value)

    return write


def _iso(value: dt.date) -> str:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None).isoformat(
            timespec="auto" if value.microsecond else "seconds"
        )
    return value.isoformat()
