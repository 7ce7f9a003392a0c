"""What a data source yields: Records with their physical line, or a DataFileError that
says (in ReadMsg's words) why the file cannot be read as a whole; RecordFile, the
interface every source offers (delimited text, Excel workbooks); DateCell, a workbook's
typed date cell."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from types import TracebackType
from typing import IO, Self

from session_import.errors import ExitCode, SessionImportError


class ReadMsg(StrEnum):
    """Every message of a file that cannot be read as a whole (messages are data)."""

    CANNOT_OPEN = "cannot be opened: {reason}."
    CANNOT_READ = "cannot be read: {reason}."
    UNKNOWN_ENCODING = (
        "cannot be decoded as {encoding}: Python knows no such text encoding;"
        " set <fileEncoding> to the file's encoding."
    )
    UNDECODABLE = (
        "cannot be decoded as {encoding} at byte {offset} ({bytes});"
        " set <fileEncoding> to the file's encoding."
    )
    UNDECODABLE_LOOKS_LIKE = (
        "cannot be decoded as {encoding} at byte {offset} ({bytes}); it looks like {suggestion}:"
        " set <fileEncoding>{suggestion}</fileEncoding> in the provider."
    )
    NO_BYTE_ORDER_MARK = (
        "cannot be decoded as {encoding}: the file does not start with a byte order mark;"
        " set <fileEncoding>{family}LE</fileEncoding> or <fileEncoding>{family}BE</fileEncoding>"
        " in the provider, whichever the file is."
    )
    NO_BYTE_ORDER_MARK_LOOKS_LIKE = (
        "cannot be decoded as {encoding}: the file does not start with a byte order mark;"
        " it looks like {suggestion}: set <fileEncoding>{suggestion}</fileEncoding> in the"
        " provider."
    )
    UNCLOSED_QUOTE = "a quoted field opened on this line is never closed; close the quote."
    FIELD_TOO_LONG = "a field is longer than {limit} characters; check for an unclosed quote."
    LINE_TOO_LONG = (
        "a line is longer than {limit} characters; check that the file is delimited text"
        " with line breaks."
    )
    UTF8_READ_AS_SINGLE_BYTE = (
        "looks like UTF-8, not {encoding}: the whole file is valid UTF-8, and the bytes"
        ' {bytes} at byte {offset} read as "{utf8}" in UTF-8 but as "{single}" in'
        " {encoding}; set <fileEncoding>UTF-8</fileEncoding> in the provider."
    )
    CONTROL_CHARACTER = (
        "cannot be read as {encoding}: byte {offset} ({bytes}) is a control character that"
        " no {encoding} text holds; set <fileEncoding> to the file's encoding."
    )
    CONTROL_CHARACTER_LOOKS_LIKE = (
        "cannot be read as {encoding}: byte {offset} ({bytes}) is a control character that"
        " no {encoding} text holds; it looks like {suggestion}:"
        " set <fileEncoding>{suggestion}</fileEncoding> in the provider."
    )
    NUL_BYTE = "the file contains a NUL byte; it is not a text file or it is damaged."
    NUL_BYTE_LOOKS_LIKE = (
        "the file contains a NUL byte; it looks like {suggestion} text:"
        " set <fileEncoding>{suggestion}</fileEncoding> in the provider."
    )
    NOT_DELIMITED_TEXT = "cannot be read as delimited text: {reason}."
    WORKBOOK_NOT_TEXT = (
        "is an Excel workbook or another zip archive, not delimited text; give an Excel"
        " workbook a name ending in .xlsx, or save its sheet as CSV."
    )
    OLD_WORKBOOK_NOT_TEXT = (
        "is an Excel 97-2003 or a password-protected workbook, not delimited text; in"
        " Excel, save its sheet as CSV or as an Excel workbook (.xlsx) without a password."
    )
    # Excel workbooks (sources.excel); the zip is checked before any part is parsed.
    WORKBOOK_ENCRYPTED = (
        "is an encrypted (password-protected) workbook or an old Excel 97-2003 file, which"
        " cannot be read; in Excel, remove its password or save it as an Excel workbook"
        " (.xlsx), then import it again."
    )
    WORKBOOK_NOT_A_ZIP = (
        "is not an Excel workbook: it is not a zip archive, or it is truncated or damaged;"
        " open it in Excel and save it as an Excel workbook (.xlsx), or, if it is delimited"
        " text, give it a .csv name."
    )
    WORKBOOK_NO_WORKBOOK = (
        "is a zip archive but not an Excel workbook (it has no workbook part; another"
        " document renamed .xlsx?); save the data as an Excel workbook (.xlsx) or as CSV."
    )
    WORKBOOK_TOO_MANY_PARTS = (
        "is refused: its zip directory lists {parts} parts ({size} bytes), more than the"
        " {limit} parts a workbook may hold; open it in Excel and save it again as .xlsx."
    )
    WORKBOOK_TOO_BIG = (
        "is refused: its parts would expand to {size} MB, more than the {limit} MB allowed"
        " (a zip bomb, or a workbook too big to import); split it into smaller workbooks or"
        " save the sheet as CSV."
    )
    WORKBOOK_RATIO = (
        "is refused: its part {part} would expand {ratio} times, to {size} MB; no real"
        " workbook compresses over {limit} times (a zip bomb?); save the sheet again from"
        " Excel, or as CSV."
    )
    WORKBOOK_DAMAGED = (
        "cannot be read as an Excel workbook: {reason}; open it in Excel and save it again"
        " as .xlsx."
    )
    WORKBOOK_FORBIDDEN_XML = (
        "cannot be read as an Excel workbook: a part declares a DTD or XML entities, which"
        " no workbook does, and they are not read; save the sheet again from Excel, or as CSV."
    )
    WORKBOOK_TOO_MANY_ROWS = (
        "cannot be read as an Excel workbook: a row is numbered beyond {limit}, Excel's last"
        " row; open it in Excel and save it again as .xlsx."
    )
    UNKNOWN_SHEET = (
        "has no sheet named {sheet}; its sheets are {sheets}; set <sheetName> to one of"
        " them, or remove <sheetName> to read the first sheet."
    )
    NO_SHEET = (
        "has no sheet of cells to read; save the data in a sheet of an Excel workbook (.xlsx)."
    )

    def format(self, **values: object) -> str:  # type: ignore[override]
        return self.value.format(**values)


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # physical line (1-based) where the record starts; the header is line 1
    cells: list[str]  # raw cells as read (NOT trimmed), after formulas.restore_formula


class DateCell(str):
    """A cell that an Excel workbook types as a date: its text, and ``value``, the date.

    ``value`` is a datetime.datetime (a datetime.date only for an ISO date cell).
    The text is the date written in the provider's dateFormat when the format shows it
    without losing anything, else in ISO form (``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM:SS``),
    so that a rejects file written from the cells can be imported again. ``strip()``
    returns the cell itself (its text has no surrounding blanks), so the mapping keeps
    ``value``; every other str method returns a plain str. Defined here, not in
    sources.excel, so that checking for it never imports openpyxl.
    """

    __slots__ = ("value",)
    value: date

    def __new__(cls, text: str, value: date) -> DateCell:
        cell = super().__new__(cls, text)
        cell.value = value
        return cell

    def __repr__(self) -> str:
        return f"DateCell({str(self)!r}, {self.value!r})"

    def strip(self, chars: str | None = None) -> DateCell:
        return self

    def __reduce__(self) -> tuple[type[DateCell], tuple[str, date]]:
        return DateCell, (str(self), self.value)


class RecordFile:
    """What every data file offers (delimited text, Excel): a context manager whose single
    pass of iteration yields Records; ``_file`` and ``_records`` are set by the subclass."""

    path: str
    encoding: str  # also the encoding of its rejects file
    delimiter: str
    header: list[str] | None
    _file: IO[bytes]
    _records: Iterator[Record]

    def __iter__(self) -> Iterator[Record]:
        if self._file.closed:
            raise ValueError(f"{self.path} is closed")
        return self._records

    def split_sample(self, delimiter: str) -> list[list[str]] | None:
        """The first records of the file, the header included, as ``delimiter`` would split
        them; None for a file that has no delimiter (a workbook)."""
        return None

    def close(self) -> None:
        self._file.close()

    @property
    def bytes_read(self) -> int:
        """How far into the file reading has got, in bytes (a progress bar's measure; the
        reader, or a workbook's zip, reads a little ahead of the records it gave)."""
        return self._file.tell()

    @property
    def size(self) -> int:
        """The file's size in bytes."""
        return os.fstat(self._file.fileno()).st_size

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DataFileError(SessionImportError):
    """The file cannot be read as a whole."""

    exit_code = ExitCode.FILE_FAILED

    def __init__(self, path: str, line: int, message: str):
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if not self.line:  # about the file itself (it cannot be opened): no line to name
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"
