"""One Excel workbook (.xlsx) -> a stream of records, through records.RecordFile's interface.

The sheet's rows are the lines: a record's line is its row number in the sheet, the
header is the first row that holds something (normally row 1), and rows without any
value (no cell, or only empty or blank cells) are skipped as blank lines are in CSV.

The parts are read here, as Excel and calamine read them, not by openpyxl (whose
read-only mode finds its parts at fixed, case-sensitive names, and leaves Excel's
``_xHHHH_`` escapes in the text):

- the workbook part is the package's office document, named in ``_rels/.rels`` (else
  ``xl/workbook.xml``); its sheets, shared strings and styles are named by its own
  relationships (else the conventional names beside it); relationship targets resolve
  relative to their part, as URIs;
- part names match as OPC says, case-insensitively, and a zip entry written with
  backslashes (``xl\\worksheets\\sheet1.xml``, as some Windows tools write them) is the
  part with slashes;
- text in shared strings, inline strings and formula results decodes the OOXML escape
  ``_xHHHH_`` (ECMA-376 Part 1, 22.9.2.19 ST_Xstring): ``_x000D_`` is a carriage return,
  ``_x005F_`` an underscore (so ``_x005F_x000D_`` reads ``_x000D_``);
- transitional and strict (ISO 29500) namespaces alike: elements match by local name.

A workbook is a zip of XML parts, and both can be hostile. Before any part is parsed,
the zip's directory is checked, from a few kilobytes read at its end: a file that is not
a zip (a truncated workbook, a CSV renamed .xlsx), an OLE file (a password-protected
workbook, an old .xls) and a zip bomb (declared sizes over MAX_EXPANDED in all, or a part
over RATIO_FROM that would expand over MAX_RATIO times) are refused. The directory's own
entry count and size are read first, so that a directory of millions of entries is
never loaded. A part whose declared size lies cannot expand past it: zipfile stops at
the declared size, then fails on the CRC. Each part is parsed as a stream (lxml
iterparse, each element dropped once read, so memory stays flat whatever the number of
rows; the shared strings are held, as every reader holds them) with no DTD loaded, no
entity expanded, no network: a part that declares a DTD is refused.

How cells read (each a str, as in a CSV):

- empty -> ''; a string as it is, then formulas.restore_formula as for CSV;
- a number as Excel shows it in the General format: 12.0 -> '12', 12.5 -> '12.5',
  at most 15 significant digits (0.1 + 0.2 -> '0.3'), never in exponent form;
- a boolean -> 'TRUE' or 'FALSE', the words Excel shows (in English);
- a number in a date or time format -> a records.DateCell (its text: see DateCell and
  ``_date_writer``); a time of day alone -> 'HH:MM:SS'; a duration ([h]:mm format)
  -> 'H:MM:SS' with the hours in full; openpyxl's tables of formats and its serial-date
  arithmetic are used, so the values are the ones openpyxl gives;
- an error value -> its text ('#N/A', '#DIV/0!');
- a formula -> the value Excel saved with it. A workbook written by a program that
  does not compute formulas (and never opened and saved in Excel) has none: such a
  cell reads as empty, as in any reader without a calculation engine;
- a merged range -> its value in its top-left cell, the other cells empty (the value
  lives only in the top-left cell).

Columns: trailing empty (or blank) cells are not cells. With a header, every record has
at least the header's width (a row whose last cells are empty is padded with ''), so
that a short row is not a wrong number of columns; without one, at least the sheet's
declared width. Rows numbered beyond Excel's last row (1048576), out of order, or cells
beyond its last column (XFD) are a damaged workbook.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator
from decimal import Decimal
from typing import IO, Any
from urllib.parse import unquote

from lxml import etree
from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, WINDOWS_EPOCH, from_excel, from_ISO8601

from session_import.dates import DEFAULT_DATE_FORMAT, compile_date_format
from session_import.formulas import restore_formula
from session_import.sources.records import DataFileError, DateCell, ReadMsg, Record, RecordFile

MAX_EXPANDED = 512 * 1024 * 1024  # bytes that all the parts together may expand to
MAX_RATIO = 100  # real sheets compress 10-25 times; a bomb of zeros, 1000 times
RATIO_FROM = 256 * 1024  # parts smaller than this are not held to MAX_RATIO
MAX_PARTS = 10_000  # a workbook has tens of parts; a directory of millions is an attack
MAX_DIRECTORY = 4 * 1024 * 1024  # bytes of zip directory read before the parts are counted
EXCEL_LAST_ROW = 1_048_576
EXCEL_LAST_COLUMN = 16_384  # XFD

_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted .xlsx, .xls: not a zip
_END_OF_DIRECTORY = b"PK\x05\x06"
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_END = b"PK\x06\x06"
_ENCRYPTED_PART = 0x1  # general purpose flag bit of a zip entry


# lxml, hardened: no DTD loaded, no entity expanded, no network, libxml2's size limits
_XML_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}
# Relationship types, by their last segment: transitional and strict URIs differ before it.
_OFFICE_DOCUMENT = "/officeDocument"
_WORKSHEET = "/worksheet"
_SHARED_STRINGS = "/sharedStrings"
_STYLES = "/styles"
_DEFAULT_WORKBOOK = "xl/workbook.xml"
# Built-in number formats that ECMA-376 leaves to the locale; dates wherever they are
# used (Japanese, Chinese, Korean Excel), as calamine reads them.
_LOCALE_DATE_FORMATS = frozenset([*range(27, 37), *range(50, 59)])
_ESCAPE = re.compile("_x([0-9A-Fa-f]{4})_")
_COLUMN_LETTERS = re.compile("[A-Za-z]{1,3}")

# What parsing a damaged part raises (lxml, zipfile, zlib, the values' conversions).
_DAMAGE = (
    etree.Error,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    NotImplementedError,
    OverflowError,
)


class _Unreadable(Exception):
    """A workbook that cannot be read: ``message`` is a ReadMsg text."""

    def __init__(self, message: str, line: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line  # where reading stopped, when it is not the next row


def _damaged(reason: str) -> _Unreadable:
    return _Unreadable(ReadMsg.WORKBOOK_DAMAGED.format(reason=reason))


def unescape_text(text: str) -> str:
    """OOXML's ``_xHHHH_`` escapes decoded (ST_Xstring); one pass left to right, so that
    ``_x005F_`` (an escaped underscore) before ``x000D_`` leaves ``_x000D_`` as text. A
    surrogate code (no character on its own) stays as written."""
    if "_x" not in text:
        return text
    return _ESCAPE.sub(_unescaped, text)


def _unescaped(match: re.Match[str]) -> str:
    code = int(match.group(1), 16)
    return match.group(0) if 0xD800 <= code <= 0xDFFF else chr(code)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


class _Package:
    """The zip's parts by name, matched as Excel and calamine match them: exactly, else
    case-insensitively; backslashes read as slashes; a leading slash ignored."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive
        self._exact: dict[str, zipfile.ZipInfo] = {}
        self._folded: dict[str, zipfile.ZipInfo] = {}
        for info in archive.infolist():
            name = info.filename.replace("\\", "/").lstrip("/")
            if not name or name.endswith("/"):
                continue
            self._exact.setdefault(name, info)
            self._folded.setdefault(name.lower(), info)

    def find(self, name: str) -> zipfile.ZipInfo | None:
        name = name.lstrip("/")
        return self._exact.get(name) or self._folded.get(name.lower())

    def elements(
        self, name: str, wanted: tuple[str, ...], root: str | None = None
    ) -> Generator[Any, None, None]:
        """The elements of part ``name`` with one of the local names ``wanted``, each once it
        is complete and dropped after it (so nothing accumulates), in document order.
        Raises _Unreadable for a DTD, or for another root element than ``root``."""
        info = self.find(name)
        if info is None:
            return
        with self.archive.open(info) as stream:
            context = etree.iterparse(
                stream, events=("end",), tag=[f"{{*}}{n}" for n in wanted], **_XML_OPTIONS
            )
            checked = False
            for _, element in context:
                if not checked:
                    _check_document(element.getroottree(), root)
                    checked = True
                yield element
                element.clear()
                parent = element.getparent()
                if parent is not None:
                    while element.getprevious() is not None:
                        del parent[0]
            if not checked and context.root is not None:
                _check_document(context.root.getroottree(), root)

    def relationships(self, source: str) -> dict[str, tuple[str, str]]:
        """Relationship id -> (type, target part name) of part ``source``; targets resolved."""
        folder, _, base = source.rpartition("/")
        rels = f"{folder}/_rels/{base}.rels" if folder else f"_rels/{base}.rels"
        found: dict[str, tuple[str, str]] = {}
        for element in self.elements(rels, ("Relationship",)):
            target = element.get("Target")
            if target is None or element.get("TargetMode", "").lower() == "external":
                continue
            kind = element.get("Type", "")
            found.setdefault(element.get("Id", ""), (kind, _resolve(folder, target)))
        return found


def _check_document(tree: Any, root: str | None) -> None:
    if tree.docinfo.doctype:
        raise _Unreadable(ReadMsg.WORKBOOK_FORBIDDEN_XML.value, 0)  # the part, not a line
    if root is not None and _local(tree.getroot().tag) != root:
        raise _Unreadable(ReadMsg.WORKBOOK_NO_WORKBOOK.value)


def _resolve(folder: str, target: str) -> str:
    """A relationship's target as a part name: relative to the source part's folder, or
    absolute from the package's root; never above the root."""
    target = unquote(target.replace("\\", "/")).split("#", 1)[0]
    path = target if target.startswith("/") else f"{folder}/{target}"
    parts: list[str] = []
    for part in path.split("/"):
        if part == "..":
            if parts:
                parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


class _Sheet:
    def __init__(self, name: str, part: str | None):
        self.name = name
        self.part = part  # None when the workbook names a part that is not in the zip


class _Workbook:
    """What the workbook part says: its worksheets in order, the calendar, where the
    shared strings and the styles are."""

    def __init__(self, package: _Package):
        part = None
        for kind, target in package.relationships("").values():
            if kind.endswith(_OFFICE_DOCUMENT) and package.find(target) is not None:
                part = target
                break
        if part is None and package.find(_DEFAULT_WORKBOOK) is not None:
            part = _DEFAULT_WORKBOOK
        if part is None:
            raise _Unreadable(ReadMsg.WORKBOOK_NO_WORKBOOK.value)
        self.date1904 = False
        listed: list[tuple[str, str]] = []  # (sheet name, relationship id)
        for element in package.elements(part, ("workbookPr", "sheet"), root="workbook"):
            if _local(element.tag) == "workbookPr":
                self.date1904 = element.get("date1904", "").lower() in ("1", "true")
                continue
            if len(listed) == MAX_PARTS:
                raise _damaged(f"it lists over {MAX_PARTS} sheets")
            rid = next((v for k, v in element.attrib.items() if k.endswith("}id")), "")
            listed.append((element.get("name", ""), rid))
        rels = package.relationships(part)
        folder = part.rpartition("/")[0]
        self.sheets = []
        for name, rid in listed:
            kind, target = rels.get(rid, ("", ""))
            if kind.endswith(_WORKSHEET):
                self.sheets.append(_Sheet(name, target if package.find(target) else None))
        kinds = {kind.rpartition("/")[2]: target for kind, target in rels.values()}
        prefix = f"{folder}/" if folder else ""
        self.shared_strings = kinds.get(_SHARED_STRINGS[1:], prefix + "sharedStrings.xml")
        self.styles = kinds.get(_STYLES[1:], prefix + "styles.xml")


def _shared_strings(package: _Package, part: str) -> list[str]:
    strings: list[str] = []
    for si in package.elements(part, ("si",)):
        strings.append(_rich_text(si))
    return strings


def _rich_text(element: Any, t_tag: str | None = None, r_tag: str | None = None) -> str:
    """The text of a shared or inline string: its <t>, or the <t> of each run <r>; the
    phonetic runs (<rPh>, furigana) are not the cell's text. ``t_tag`` and ``r_tag``, the
    qualified names, when the caller knows the namespace."""
    if t_tag is None or r_tag is None:
        ns = element.tag[: -len(_local(element.tag))]
        t_tag, r_tag = ns + "t", ns + "r"
    pieces: list[str] = []
    for child in element:
        tag = child.tag
        if tag == t_tag:
            pieces.append(child.text or "")
        elif tag == r_tag:
            pieces.extend(t.text or "" for t in child if t.tag == t_tag)
    return unescape_text("".join(pieces))


def _date_styles(package: _Package, part: str) -> tuple[frozenset[int], frozenset[int]]:
    """The cell styles (indexes of <cellXfs>) whose number format shows a date or a time,
    and those that show a duration, as openpyxl decides them."""
    custom: dict[int, str] = {}
    formats: list[int] = []
    for element in package.elements(part, ("numFmt", "xf")):
        if _local(element.tag) == "numFmt":
            custom[_integer(element.get("numFmtId"))] = element.get("formatCode", "")
        elif _local(element.getparent().tag) == "cellXfs":
            formats.append(_integer(element.get("numFmtId")))
    dates, durations = set(), set()
    for index, number_format in enumerate(formats):
        code = custom.get(number_format, BUILTIN_FORMATS.get(number_format))
        if number_format in _LOCALE_DATE_FORMATS and number_format not in custom:
            dates.add(index)
        elif code is not None and is_date_format(code):
            dates.add(index)
            if is_timedelta_format(code):
                durations.add(index)
    return frozenset(dates), frozenset(durations)


def _integer(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


class ExcelFile(RecordFile):
    """Context manager; iterate it for Records of data rows (the header is not yielded).

    The same interface as delimited.DataFile: ``path``, ``encoding`` ('utf-8') and
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
        self._archive: zipfile.ZipFile | None = None
        try:
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise DataFileError(
                self.path, 0, ReadMsg.CANNOT_OPEN.format(reason=error.strerror or error)
            ) from None
        try:
            check_workbook_archive(self.path, self._file)
            self._file.seek(0)
            self._archive = zipfile.ZipFile(self._file)
            package = _Package(self._archive)
            workbook = self._reading(0, lambda: _Workbook(package))
            sheet = self._sheet(workbook, sheet_name)
            strings = self._reading(0, lambda: _shared_strings(package, workbook.shared_strings))
            dates, durations = self._reading(0, lambda: _date_styles(package, workbook.styles))
            cells = _CellReader(
                strings, dates, durations, workbook.date1904, _date_writer(date_format)
            )
            assert sheet.part is not None  # (_sheet refuses a sheet whose part is missing)
            self._records = self._start(package, sheet.part, cells, has_header)
        except BaseException:
            self.close()
            raise

    # -- public ---------------------------------------------------------------

    def close(self) -> None:
        if self._archive is not None:
            self._archive.close()
        super().close()

    def __repr__(self) -> str:
        return f"<ExcelFile {self.path!r}>"

    # -- reading --------------------------------------------------------------

    def _reading(self, line: int, call: Callable[[], Any]) -> Any:
        """``call()``, its failures turned into DataFileError at ``line``."""
        try:
            return call()
        except Exception as error:  # noqa: BLE001 - _failure says which
            raise self._failure(error, line) from None

    def _failure(self, error: Exception, line: int) -> Exception:
        """The DataFileError at ``line``, the line where reading stopped, for what parsing
        raised: a damaged part fails with whatever its parser met, and any of it means
        that the workbook cannot be read; anything else is no reading failure."""
        if isinstance(error, DataFileError | MemoryError):
            return error
        if isinstance(error, _Unreadable):
            at = line if error.line is None else error.line
            return DataFileError(self.path, at, error.message)
        if isinstance(error, OSError):
            message = ReadMsg.CANNOT_READ.format(reason=error.strerror or error)
            return DataFileError(self.path, line, message)
        if isinstance(error, _DAMAGE):
            message = ReadMsg.WORKBOOK_DAMAGED.format(reason=_reason(_root_cause(error)))
            return DataFileError(self.path, line, message)
        return error

    def _sheet(self, workbook: _Workbook, sheet_name: str | None) -> _Sheet:
        """The provider's sheet (matched as Excel does: case-insensitively), or the first."""
        sheets = workbook.sheets
        chosen = None
        if sheet_name is None:
            if not sheets:
                raise DataFileError(self.path, 0, ReadMsg.NO_SHEET.value)
            chosen = sheets[0]
        else:
            wanted = sheet_name.casefold()
            chosen = next((s for s in sheets if s.name.casefold() == wanted), None)
        if chosen is None:
            raise DataFileError(
                self.path,
                0,
                ReadMsg.UNKNOWN_SHEET.format(
                    sheet=_quoted(sheet_name or ""),
                    sheets=", ".join(_quoted(s.name) for s in sheets) if sheets else "none",
                ),
            )
        if chosen.part is None:
            raise DataFileError(
                self.path,
                0,
                ReadMsg.WORKBOOK_DAMAGED.format(
                    reason=f"the part of its sheet {_quoted(chosen.name)} is missing"
                ),
            )
        return chosen

    def _start(
        self, package: _Package, part: str, cells: _CellReader, has_header: bool
    ) -> Iterator[Record]:
        rows = self._numbered_rows(package, part, cells)
        if has_header:
            first = next(rows, None)
            self.header = first.cells if first is not None else []
            return self._padded(rows, lambda: len(self.header or ()))
        return self._padded(rows, lambda: cells.declared_width)

    @staticmethod
    def _padded(rows: Iterator[Record], width: Callable[[], int]) -> Iterator[Record]:
        """Records at least ``width()`` cells wide: the header's, or the sheet's declared
        width (its <dimension>, read with the first rows)."""
        for record in rows:
            missing = width() - len(record.cells)
            if missing > 0:
                record.cells.extend([""] * missing)
            yield record

    def _numbered_rows(self, package: _Package, part: str, cells: _CellReader) -> Iterator[Record]:
        """Records of the rows that hold something, each with its row number; a failure is
        raised at the line where reading stopped, after the rows read before it."""
        elements = package.elements(part, ("row", "dimension"))
        number = 0  # the last row read
        line = 1  # where reading is
        try:
            for element in elements:
                if _local(element.tag) == "dimension":
                    cells.declare(element.get("ref", ""))
                    continue
                number = _row_number(element, number)
                line = number
                row = cells.row(element)
                line = number + 1
                if row:
                    yield Record(number, row)
        except Exception as error:  # noqa: BLE001 - _failure says which
            elements.close()
            raise self._failure(error, line) from None


def _row_number(row: Any, previous: int) -> int:
    text = row.get("r")
    number = int(text) if text is not None else previous + 1
    if number > EXCEL_LAST_ROW:
        raise _Unreadable(
            ReadMsg.WORKBOOK_TOO_MANY_ROWS.format(limit=EXCEL_LAST_ROW), EXCEL_LAST_ROW + 1
        )
    if number <= previous:
        raise _damaged(f"row {number} comes after row {previous}")
    return number


class _CellReader:
    """One row element -> its cells as text (see the module's docstring)."""

    def __init__(
        self,
        strings: list[str],
        dates: frozenset[int],
        durations: frozenset[int],
        date1904: bool,
        write_date: Callable[[dt.date], str],
    ):
        self.strings = strings
        self.dates = dates
        self.durations = durations
        self.epoch = CALENDAR_MAC_1904 if date1904 else WINDOWS_EPOCH
        self.write_date = write_date
        self.declared_width = 0
        self._columns: dict[str, int] = {}
        self._row_tag = ""
        self._tags = ("c", "v", "is", "t", "r")

    def declare(self, ref: str) -> None:
        """The sheet's <dimension>: its last column is the width of a headerless sheet."""
        try:
            width = self.column(ref.rpartition(":")[2])
        except _Unreadable:
            return
        self.declared_width = width

    def column(self, reference: str) -> int:
        """The 1-based column of a cell reference such as 'B12'."""
        letters = reference.rstrip("0123456789")
        column = self._columns.get(letters)
        if column is None:
            if not _COLUMN_LETTERS.fullmatch(letters):
                raise _damaged(f"cell reference {reference!r} is not valid")
            column = 0
            for letter in letters.upper():
                column = column * 26 + ord(letter) - 64
            if column > EXCEL_LAST_COLUMN:
                raise _damaged(f"cell {reference} is beyond column XFD, Excel's last")
            self._columns[letters] = column
        return column

    def row(self, row: Any) -> list[str]:
        """The row's cells, trailing empty or blank ones dropped ([] for an empty row)."""
        tag = row.tag
        if tag != self._row_tag:  # the sheet's namespace, once: tags compare as strings
            self._row_tag = tag
            ns = tag[: -len("row")]
            self._tags = (ns + "c", ns + "v", ns + "is", ns + "t", ns + "r")
        cell_tag = self._tags[0]
        text_of = self.text
        cells: list[str] = []
        column = 0
        for cell in row:
            if cell.tag != cell_tag:
                continue
            reference = cell.get("r")
            column = self.column(reference) if reference else column + 1
            text = text_of(cell)
            if text:
                missing = column - 1 - len(cells)
                if missing > 0:
                    cells.extend([""] * missing)
                elif missing < 0:
                    raise _damaged(f"cell {reference} comes after column {len(cells)}")
                cells.append(text)
        end = len(cells)
        while end and not cells[end - 1].strip():
            end -= 1
        del cells[end:]
        return cells

    def text(self, cell: Any) -> str:
        _, v_tag, is_tag, t_tag, r_tag = self._tags
        kind = cell.get("t", "n")
        value = ""
        if kind == "inlineStr":
            for child in cell:
                if child.tag == is_tag:
                    value = _rich_text(child, t_tag, r_tag)
                    break
            return restore_formula(value) if value[:1] == "'" else value
        for child in cell:
            if child.tag == v_tag:
                value = child.text or ""
                break
        if not value:
            return ""
        if kind == "n":
            style = cell.get("s")
            try:
                return self.number(value, _integer(style) if style and self.dates else 0)
            except ValueError:
                raise _damaged(
                    f"cell {cell.get('r')} holds {value!r}, which is not a number"
                ) from None
        if kind == "s":
            index = int(value)
            if not 0 <= index < len(self.strings):
                raise _damaged(
                    f"cell {cell.get('r')} refers to shared string {index}, which"
                    " the workbook does not hold"
                )
            text = self.strings[index]
        elif kind == "b":
            return "TRUE" if value.strip() not in ("0", "false") else "FALSE"
        elif kind == "d":
            return self.moment(from_ISO8601(value.strip()))
        elif kind == "e":
            return value
        else:  # "str", a formula's text; anything else as written
            text = unescape_text(value)
        return restore_formula(text) if text[:1] == "'" else text

    def number(self, value: str, style: int) -> str:
        number: int | float = float(value) if "." in value or "e" in value.lower() else int(value)
        if style in self.dates:
            try:
                moment = from_excel(number, self.epoch, timedelta=style in self.durations)
            except (OverflowError, ValueError):
                return "#VALUE!"  # a serial no calendar holds, as Excel shows it
            return self.moment(moment)
        if type(number) is int:
            return str(number)
        return _number_text(number)

    def moment(self, value: Any) -> str:
        if isinstance(value, dt.date):  # datetime.datetime included
            return DateCell(self.write_date(value), value)
        if isinstance(value, dt.time):
            return f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
        if isinstance(value, dt.timedelta):
            minutes, seconds = divmod(int(value.total_seconds()), 60)
            hours, minutes = divmod(minutes, 60)
            return f"{hours}:{minutes:02d}:{seconds:02d}"
        return str(value)


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
            ReadMsg.WORKBOOK_TOO_BIG.format(size=_megabytes(total), limit=_megabytes(MAX_EXPANDED)),
        )


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
    try:
        fmt = compile_date_format(date_format or DEFAULT_DATE_FORMAT)
    except ValueError:
        return _iso  # not a format that the configuration lets through; never lose the date
    full, date_part = fmt.parts, fmt.date_parts

    def render(layout: tuple[str, ...], value: dt.date) -> str:
        fields = {"YYYY": f"{value.year:04d}", "MM": f"{value.month:02d}"}
        fields["DD"] = f"{value.day:02d}"
        if isinstance(value, dt.datetime):
            fields["HH"] = f"{value.hour:02d}"
            fields["II"] = f"{value.minute:02d}"
            fields["SS"] = f"{value.second:02d}"
        return "".join(fields.get(part, part) for part in layout)

    def write(value: dt.date) -> str:
        if isinstance(value, dt.datetime):
            shown = (
                value.microsecond == 0
                and (value.hour == 0 or "HH" in full)
                and (value.minute == 0 or "II" in full)
                and (value.second == 0 or "SS" in full)
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
