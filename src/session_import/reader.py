"""One delimited-text data file -> a stream of records with exact physical line numbers.

The file is read in binary chunks, decoded incrementally, cut into physical lines
(``\\n``, ``\\r\\n`` or a lone ``\\r``; nothing else) and fed to the stdlib ``csv``
reader one line at a time. Memory stays bounded by the chunk size (and the longest
line, see LONG_LINE), whatever the size of the file.

Line numbers are physical: the header is line 1, and a record whose quoted field
spans lines 3-5 is line 3 (the next one starts at line 6). ``csv.reader.line_num``
counts the lines it was fed, which are exactly the physical lines, so a record
starts one line after the previous record (or blank line) ended.

A name ending in ``.xlsx`` is read by excel.ExcelFile instead, through the same
interface (open_data_file chooses). When a file does not decode, charset-normalizer
looks at a bounded sample of it to suggest the encoding it is most likely in. A file read
in an 8-bit encoding is checked first, whole, for being UTF-8 (find_utf8_text), and one
read in iso-8859-* fails at a C1 control character (which no text holds).

The first records are read ahead at open (SAMPLE_RECORDS, the header included): for
delimiter detection, and kept as text for split_sample, which mapping.check_delimiter
uses to tell a file written with another delimiter than the configured one.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import Enum
from itertools import chain, islice
from types import TracebackType
from typing import IO, TYPE_CHECKING, Self

from session_import.errors import ExitCode, SessionImportError

if TYPE_CHECKING:
    from session_import.excel import ExcelFile

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Delimiters that detection chooses among, in the order that breaks ties.
DETECTED_DELIMITERS = (";", ",", "|", "\t")
DEFAULT_DELIMITER = ";"
SAMPLE_RECORDS = 5  # records read ahead at open (the header included): see split_sample

CHUNK_SIZE = 256 * 1024  # bytes per read; small enough to keep the peak memory low
LONG_LINE = 1024 * 1024  # characters without a line break before a line is fed in pieces

_UTF8_BOM = codecs.BOM_UTF8
_REQUIRED_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}
# str.splitlines() also breaks on these, csv does not: a chunk holding one of
# them is cut by io.StringIO(newline=""), which breaks on \r, \n and \r\n only.
_OTHER_LINE_BOUNDARIES = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_EVERYTHING = sys.maxsize


class ReadMsg(str, Enum):
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
        " {bytes} at byte {offset} read as \"{utf8}\" in UTF-8 but as \"{single}\" in"
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
    # Excel workbooks (excel.py); the zip is checked before any part is parsed.
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


def neutralise_formula(value: str) -> str:
    """For every CSV we write: a cell starting with one of FORMULA_PREFIXES gets a leading "'"."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore_formula(value: str) -> str:
    """For every cell we read: "'" followed by one of FORMULA_PREFIXES loses the "'" (so a
    rejects file round-trips); anything else unchanged."""
    if value[:1] == "'" and value[1:2] in FORMULA_PREFIXES:  # ("" is not in the tuple)
        return value[1:]
    return value


@dataclass(frozen=True, slots=True)
class Record:
    line: int  # physical line (1-based) where the record starts; the header is line 1
    cells: list[str]  # raw cells as read (NOT trimmed), after restore_formula


class DateCell(str):
    """A cell that an Excel workbook types as a date: its text, and ``value``, the date.

    ``value`` is a datetime.datetime (a datetime.date only for an ISO date cell).
    The text is the date written in the provider's dateFormat when the format shows it
    without losing anything, else in ISO form (``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM:SS``),
    so that a rejects file written from the cells can be imported again. ``strip()``
    returns the cell itself (its text has no surrounding blanks), so the mapping keeps
    ``value``; every other str method returns a plain str. Defined here, not in excel.py, so that checking for it never imports openpyxl.
    """

    __slots__ = ("value",)
    value: date

    def __new__(cls, text: str, value: date) -> DateCell:
        cell = super().__new__(cls, text)
        cell.value = value
        return cell

    def __repr__(self) -> str:
        return f"DateCell({str(self)!r}, {self.value!r})"

    def strip(self, chars: str | None = None) -> DateCell:  # type: ignore[override]
        return self

    def __reduce__(self) -> tuple[type[DateCell], tuple[str, date]]:
        return DateCell, (str(self), self.value)


# A frozen dataclass's __init__ goes through object.__setattr__ once per field; at a
# million rows that is a fifth of the reading time, so the hot loop sets the slots
# directly (same object, same invariants: nothing else ever writes them).
_new_record = object.__new__
_set_record_line = Record.line.__set__  # type: ignore[attr-defined]
_set_record_cells = Record.cells.__set__  # type: ignore[attr-defined]


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

# Encodings worth suggesting, in the order preferred among candidates that read a sample
# about as cleanly: charset-normalizer's name -> the name users write (that Python knows).
SUGGESTED_ENCODINGS = {
    "utf_8": "UTF-8",
    "utf_16": "UTF-16",
    "utf_16_le": "UTF-16LE",
    "utf_16_be": "UTF-16BE",
    "utf_32": "UTF-32",
    "utf_32_le": "UTF-32LE",
    "utf_32_be": "UTF-32BE",
    "cp1252": "windows-1252",
    "latin_1": "iso-8859-1",
    "iso8859_15": "iso-8859-15",
    "cp1250": "windows-1250",
    "cp1251": "windows-1251",
    "cp1254": "windows-1254",
    "cp1257": "windows-1257",
    "cp1253": "windows-1253",
    "mac_roman": "macintosh",
    "shift_jis": "Shift_JIS",
    "gb18030": "GB18030",
    "big5": "Big5",
    "euc_kr": "EUC-KR",
}
# Multi-byte encodings whose lead and trail bytes make a confident guess from a sample.
MULTI_BYTE_ENCODINGS = ("shift_jis", "gb18030", "big5", "euc_kr")
SAMPLE_HEAD = 64 * 1024  # bytes from the start of the file that detection looks at ...
SAMPLE_AROUND = 4 * 1024  # ... plus this many on each side of the failure
# charset-normalizer ranks single-byte candidates that decode a sample equally well by
# language models that a handful of accented words (a typical CSV) cannot feed: it
# calls French windows-1252 text cp1250 or cp1257. Among candidates whose "chaos" is
# within this of the best one, the first in SUGGESTED_ENCODINGS wins.
_CLOSE_CHAOS = 0.1
_CONTROL_CHARACTERS = frozenset(
    [chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + [chr(c) for c in range(0x7F, 0xA0)]
)


_ZIP_SIGNATURE = b"PK\x03\x04"
_OLE_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _workbook_not_text(path: str) -> ReadMsg | None:
    """For a file that fails as text: the message for a workbook under a text name."""
    try:
        with open(path, "rb") as file:
            start = file.read(len(_OLE_SIGNATURE))
    except OSError:
        return None
    if start.startswith(_ZIP_SIGNATURE):
        return ReadMsg.WORKBOOK_NOT_TEXT
    if start == _OLE_SIGNATURE:
        return ReadMsg.OLD_WORKBOOK_NOT_TEXT
    return None


def is_single_byte(encoding: str) -> bool:
    """Whether ``encoding`` reads (nearly) every byte as one character: windows-1252,
    iso-8859-*, mac_roman... (a few undefined bytes allowed, as in windows-1252)."""
    return len(bytes(range(256)).decode(encoding, errors="ignore")) >= 250


_NON_ASCII = re.compile(rb"[\x80-\xff]")
_C1_CONTROL = re.compile("[\x80-\x9f]")


def find_utf8_text(file: IO[bytes], chunk_size: int = CHUNK_SIZE) -> tuple[int, int, bytes] | None:
    """(line, byte offset, bytes) of the first multi-byte sequence when the whole file is
    valid UTF-8 and holds one (a leading UTF-8 BOM aside); None otherwise.

    Read in chunks from the current position to the end, then rewound: memory stays flat.
    An ASCII chunk costs one ``bytes.isascii``; after the first non-UTF-8 byte (a real
    windows-1252 file: its first accented letter) nothing more is read.
    """
    start = file.tell()
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    breaks = 0  # physical line breaks before the first multi-byte sequence
    previous_cr = False  # the last chunk ended with \r: a \n starting this one is the same break
    found: tuple[int, int, bytes] | None = None
    try:
        chunk = file.read(3)
        if chunk == _UTF8_BOM:
            offset, chunk = 3, b""
        chunk += file.read(chunk_size)
        while chunk:
            if found is None:
                match = None if chunk.isascii() else _NON_ASCII.search(chunk)
                before = chunk if match is None else chunk[: match.start()]
                breaks += before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
                if previous_cr and before.startswith(b"\n"):
                    breaks -= 1
                previous_cr = before.endswith(b"\r")
                if match is not None:
                    at = match.start()
                    width = 2 if chunk[at] < 0xE0 else 3 if chunk[at] < 0xF0 else 4
                    sequence = chunk[at : at + width]
                    if len(sequence) < width:
                        sequence += file.read(width - len(sequence))
                        chunk += sequence[len(chunk) - at :]
                    found = (breaks + 1, offset + at, sequence)
            if found is not None and not (chunk.isascii() and not decoder.getstate()[0]):
                decoder.decode(chunk)
            offset += len(chunk)
            chunk = file.read(chunk_size)
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return None
    finally:
        file.seek(start)
    return found


def _utf8_text_message(encoding: str, offset: int, sequence: bytes) -> str:
    return ReadMsg.UTF8_READ_AS_SINGLE_BYTE.format(
        encoding=encoding,
        bytes=" ".join(f"0x{byte:02X}" for byte in sequence),
        offset=offset,
        utf8=sequence.decode("utf-8"),
        single=sequence.decode(encoding, errors="backslashreplace"),
    )


def suggest_encoding(
    path: str, offset: int, encoding: str, *, single_byte: bool = False
) -> str | None:
    """The encoding the file most likely is, judged from a bounded sample around byte
    ``offset`` (where reading in ``encoding`` failed), or None when no guess is confident.
    ``single_byte``: the failure is evidence enough to offer another 8-bit encoding."""
    head_size = SAMPLE_HEAD
    try:
        with open(path, "rb") as file:
            sample = file.read(head_size)
            start = max((offset - SAMPLE_AROUND) // 4 * 4, head_size)  # UTF-16/32 aligned
            if len(sample) == head_size and offset + SAMPLE_AROUND > start:
                file.seek(start)
                sample += file.read(offset + SAMPLE_AROUND - start)
    except OSError:
        return None
    configured = codecs.lookup(encoding).name
    # A single-byte encoding fails only on its few undefined bytes (windows-1252: 0x81,
    # 0x8D, 0x8F, 0x90, 0x9D); another single-byte encoding guessed from them is a coin
    # toss, while UTF-8, UTF-16 and the multi-byte Asian encodings are checked by their
    # structure: only those are offered, and those whatever was configured.
    structural_only = is_single_byte(configured) and not single_byte
    if configured in ("utf-8", "utf-8-sig"):
        # Valid UTF-8 letters before the failure: the file is UTF-8 with a damaged or
        # pasted-in part, which no other encoding would read better.
        before = sample[: min(offset, head_size)]
        try:
            if not codecs.getincrementaldecoder("utf-8")().decode(before).isascii():
                return None
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes  # only for files that fail: it loads slowly

    matches = from_bytes(sample, cp_isolation=list(SUGGESTED_ENCODINGS))
    best = matches.best()
    if best is None:
        return None
    close = {best.encoding, *best.could_be_from_charset}
    for match in matches:
        if match.chaos <= best.chaos + _CLOSE_CHAOS:
            close.update((match.encoding, *match.could_be_from_charset))
    if best.encoding.startswith("utf") or best.encoding in MULTI_BYTE_ENCODINGS:
        close = {best.encoding}
    elif structural_only:
        return None
    name = next((name for name in SUGGESTED_ENCODINGS if name in close), None)
    if name is None or codecs.lookup(name).name == configured:
        return None
    # Random bytes (an image, a zip) read "cleanly" in many encodings: text has next to
    # no control characters, whatever its language.
    text = sample.decode(name, errors="ignore")
    if sum(1 for c in text if c in _CONTROL_CHARACTERS) * 100 > len(text):
        return None
    return SUGGESTED_ENCODINGS[name]


def _undecodable_message(
    path: str, encoding: str, offset: int, bad: bytes, cut_short: bool
) -> str:
    """Why the file does not decode at byte ``offset`` (``bad``), and what to set."""
    if workbook := _workbook_not_text(path):
        return workbook.value
    described = {
        "encoding": encoding,
        "offset": offset,
        "bytes": " ".join(f"0x{byte:02X}" for byte in bad[:4]),
    }
    # a character cut by the end of the file: the file is cut short, not in another encoding
    suggestion = None if cut_short else suggest_encoding(path, offset, encoding)
    if suggestion is None:
        return ReadMsg.UNDECODABLE.format(**described)
    return ReadMsg.UNDECODABLE_LOOKS_LIKE.format(**described, suggestion=suggestion)


def _reads_c1_controls(encoding: str) -> bool:
    """Whether a single-byte ``encoding`` reads bytes 0x80-0x9F as the C1 control
    characters (iso-8859-*, latin-1), which no text holds; windows-1252 reads letters."""
    return is_single_byte(encoding) and bool(
        _C1_CONTROL.search(bytes(range(0x80, 0xA0)).decode(encoding, errors="ignore"))
    )


def _control_character_message(path: str, encoding: str, offset: int, bad: bytes) -> str:
    """A C1 control character in a file read as iso-8859-*: windows-1252 text (its curly
    quotes, dashes and euro sign are those bytes) or a multi-byte encoding's bytes."""
    described = {"encoding": encoding, "offset": offset, "bytes": f"0x{bad[0]:02X}"}
    suggestion = suggest_encoding(path, offset, encoding, single_byte=True)
    if suggestion is None:
        return ReadMsg.CONTROL_CHARACTER.format(**described)
    return ReadMsg.CONTROL_CHARACTER_LOOKS_LIKE.format(**described, suggestion=suggestion)


def _no_byte_order_mark_message(path: str, encoding: str) -> str:
    suggestion = suggest_encoding(path, 0, encoding)
    if suggestion is not None:
        return ReadMsg.NO_BYTE_ORDER_MARK_LOOKS_LIKE.format(
            encoding=encoding, suggestion=suggestion
        )
    family = "UTF-32" if "32" in codecs.lookup(encoding).name else "UTF-16"
    return ReadMsg.NO_BYTE_ORDER_MARK.format(encoding=encoding, family=family)


def _nul_byte_message(path: str, encoding: str, offset: int) -> str:
    """Why the file holds a NUL byte (near byte ``offset``): UTF-16 text read as a
    single-byte encoding shows NULs before anything fails to decode."""
    if workbook := _workbook_not_text(path):
        return workbook.value
    suggestion = suggest_encoding(path, offset, encoding)
    if suggestion is not None and suggestion.startswith("UTF-"):
        return ReadMsg.NUL_BYTE_LOOKS_LIKE.format(suggestion=suggestion)
    return ReadMsg.NUL_BYTE.value


def _line_breaks(text: str) -> int:
    """The physical line breaks in ``text``: \\n, \\r\\n and a lone \\r count one each."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _split_lines(text: str) -> tuple[Iterable[str], int]:
    """``text`` cut after each \\n, \\r\\n or lone \\r (endings kept), and its line breaks."""
    if text.isascii():
        unusual = any(c in text for c in _OTHER_LINE_BOUNDARIES[:5])
    else:
        unusual = any(c in text for c in _OTHER_LINE_BOUNDARIES)
    if unusual:
        return io.StringIO(text, newline=""), _line_breaks(text)
    lines = text.splitlines(True)  # fastest, and exact when no other boundary is present
    return lines, len(lines) - (not text.endswith(("\n", "\r")))


def _starts_with_apostrophe(cells: list[str]) -> bool:
    """Whether a cell starts with "'", tested in C (cells never hold a NUL)."""
    return "\x00'" in "\x00" + "\x00".join(cells)


def _raising(error: Exception) -> Iterator[str]:
    raise error
    yield ""  # a generator: the error is raised when the lines reach it


def _choose_delimiter(record_text: str) -> str:
    """The candidate seen most often outside quotes; ties go to the earlier candidate."""
    outside = "".join(record_text.split('"')[0::2])
    best, best_count = DEFAULT_DELIMITER, 0
    for candidate in DETECTED_DELIMITERS:
        count = outside.count(candidate)
        if count > best_count:
            best, best_count = candidate, count
    return best


class DataFile(RecordFile):
    """Context manager; iterate it for Records of data rows (the header, if any, is not yielded).

    One pass: iterating again continues where the previous iteration stopped. An empty
    file (or one of blank lines only) has the header [] when ``has_header``, and no records.
    ``chunk_size`` and ``long_line`` exist for the tests (chunk boundaries everywhere).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        encoding: str = "utf-8",
        delimiter: str | None = DEFAULT_DELIMITER,
        has_header: bool = True,
        chunk_size: int = CHUNK_SIZE,
        long_line: int = LONG_LINE,
    ):
        if delimiter is not None and (
            not isinstance(delimiter, str) or len(delimiter) != 1 or delimiter in '"\r\n'
        ):
            raise ValueError(f"not a usable delimiter: {delimiter!r}")
        self.path = os.fspath(path)
        self.encoding = encoding
        self.delimiter = delimiter if delimiter is not None else DEFAULT_DELIMITER
        self.header = None
        self._chunk_size = chunk_size
        self._long_line = long_line
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            codec = None
        if codec is None or not getattr(codec, "_is_text_encoding", True):  # e.g. "base64"
            raise DataFileError(self.path, 0, ReadMsg.UNKNOWN_ENCODING.format(encoding=encoding))
        # utf-8-sig semantics for every UTF-8 spelling: the BOM bytes are skipped before
        # decoding (so byte offsets stay simple). The same in every encoding but UTF-16/32:
        # a UTF-8 BOM is always accepted, and its bytes are no sensible text in any of them.
        self._skip_utf8_bom = not codec.name.startswith(("utf-16", "utf-32"))
        decoder_name = "utf-8" if codec.name in ("utf-8", "utf-8-sig") else codec.name
        self._decoder = codecs.getincrementaldecoder(decoder_name)(errors="strict")
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as error:
            raise DataFileError(
                self.path, 0, ReadMsg.CANNOT_OPEN.format(reason=error.strerror or error)
            ) from None
        self._sample_lines: list[str] = []
        try:
            if is_single_byte(codec.name):
                self._refuse_utf8_text()
            self._records = self._start(delimiter, has_header)
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"<DataFile {self.path!r} {self.encoding} {self.delimiter!r}>"

    def split_sample(self, delimiter: str) -> list[list[str]]:
        """The first records of the file (up to SAMPLE_RECORDS, the header included), as
        ``delimiter`` would split them, read again from the text kept at open; for
        mapping.check_delimiter, which tells a file written with another delimiter."""
        reader = csv.reader(self._sample_lines, delimiter=delimiter, quotechar='"', strict=False)
        try:
            return [cells for cells in islice(reader, 2 * SAMPLE_RECORDS) if cells][
                :SAMPLE_RECORDS
            ]
        except csv.Error:
            return []

    # -- reading --------------------------------------------------------------

    def _refuse_utf8_text(self) -> None:
        """A file read in a single-byte encoding (windows-1252...) that is valid UTF-8 with
        multi-byte sequences would import as mojibake (\"SÃ©curitÃ©\"): it fails as a whole,
        before anything is read, at the line of its first multi-byte sequence."""
        try:
            found = find_utf8_text(self._file, self._chunk_size)
        except OSError as error:
            raise DataFileError(
                self.path, 0, ReadMsg.CANNOT_READ.format(reason=error.strerror or error)
            ) from None
        if found is not None:
            line, offset, sequence = found
            raise DataFileError(
                self.path, line, _utf8_text_message(self.encoding, offset, sequence)
            )

    def _start(self, delimiter: str | None, has_header: bool) -> Iterator[Record]:
        """Wire lines -> csv -> records; detect the delimiter and read the header now."""
        path = self.path
        encoding = self.encoding
        chunk_size = self._chunk_size
        long_line = self._long_line
        read = self._file.read
        decoder = self._decoder
        skip_bom = self._skip_utf8_bom
        c1_controls = _reads_c1_controls(codecs.lookup(encoding).name)

        # Shared between the line feeder and the record loop (closure cells are the
        # cheapest shared state to read once per record).
        irregular = False  # a piece was fed, or the input is exhausted: check each record
        eof = False  # csv asked for more after the last line: a record completed now
        # was completed by the end of the file, inside a quote that was never closed
        piece_items: list[int] = []  # csv item numbers (reader.line_num) of line pieces
        apostrophes_through = 0  # records starting at or before this line may need restore

        def feed_lines() -> Iterator[Iterable[str]]:
            """Physical lines, in batches (one per chunk), for csv; raises DataFileError."""
            nonlocal irregular, apostrophes_through
            lines_done = 0  # physical line breaks fed so far
            offset = 0  # absolute byte offset in the file of the next chunk
            carry = ""  # the last, incomplete line of the text decoded so far

            def note_apostrophes(text: str) -> None:
                nonlocal apostrophes_through
                if "'" in text:
                    apostrophes_through = _EVERYTHING
                elif apostrophes_through == _EVERYTHING:
                    # conservative by one line: the slow path is merely slower
                    apostrophes_through = lines_done + 1

            def fail(message: str) -> DataFileError:
                return DataFileError(path, lines_done + 1 + _line_breaks(carry), message)

            chunk = self._read(read, 3, 1)
            if skip_bom and chunk == _UTF8_BOM:
                offset, chunk = 3, b""
            boms = _REQUIRED_BOMS.get(codecs.lookup(encoding).name)
            if boms is not None:
                # utf-16 and utf-32 without an endianness need a BOM: say so at once, before
                # the decoder meets some other problem first in a larger chunk
                chunk += self._read(read, 1, 1)
                if chunk and not chunk.startswith(boms):
                    raise fail(_no_byte_order_mark_message(path, encoding))
            first = True
            while True:
                more = self._read(read, chunk_size, lines_done + 1 + _line_breaks(carry))
                chunk += more
                final = not more
                problem: str | None = None
                state = decoder.getstate()
                try:
                    text = decoder.decode(chunk, final)
                except UnicodeDecodeError as error:
                    # error.object is the tail of (bytes kept from the last chunk + chunk)
                    bad_offset = offset + len(chunk) - len(error.object) + error.start
                    bad = error.object[error.start : error.end] or error.object[error.start :]
                    problem = _undecodable_message(
                        path, encoding, bad_offset, bad, error.reason == "unexpected end of data"
                    )
                    decoder.setstate(state)
                    try:  # the text before the bad byte, to feed it and count its lines
                        text = decoder.decode(chunk[: max(bad_offset - offset, 0)], False)
                    except UnicodeError:
                        text = ""
                except UnicodeError:
                    # Python's incremental UTF-16/UTF-32 decoders (not bytes.decode) want
                    # a BOM, and fail on the first two bytes without one
                    problem, text = _no_byte_order_mark_message(path, encoding), ""
                if c1_controls and problem is None and not text.isascii():
                    control = _C1_CONTROL.search(text)
                    if control is not None:  # one byte, one character: the same index
                        at = control.start()
                        problem = _control_character_message(
                            path, encoding, offset + at, chunk[at : at + 1]
                        )
                        text = text[:at]
                offset += len(chunk)
                chunk = b""
                if first:
                    first = False
                    text = text.removeprefix("\ufeff")  # e.g. utf-16-le with a BOM
                nul = text.find("\x00")
                if nul >= 0:
                    text = text[:nul]
                    problem = _nul_byte_message(path, encoding, offset)
                if carry:
                    text = carry + text
                if final and problem is None:
                    lines, carry = text, ""
                else:
                    # a \r at the very end may be the first half of a \r\n
                    end = len(text) - 1 if text.endswith("\r") else len(text)
                    cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
                    lines, carry = text[:cut], text[cut:]
                if lines:
                    note_apostrophes(lines)
                    batch, breaks = _split_lines(lines)
                    lines_done += breaks
                    yield batch
                if problem is not None:
                    raise fail(problem)
                if final:
                    return
                if len(carry) > long_line:
                    # A line this long is fed in pieces so that an unclosed quote fails
                    # at csv's field limit instead of holding the file in memory; a piece
                    # that ends a record outside quotes is reported by the record loop.
                    piece = carry.removesuffix("\r")
                    carry = carry[len(piece) :]
                    note_apostrophes(piece)
                    piece_items.append(lines_done + len(piece_items) + 1)
                    irregular = True
                    yield (piece,)

        def mark_eof() -> Iterator[str]:
            nonlocal irregular, eof
            irregular = eof = True
            yield from ()

        lines: Iterator[str] = chain.from_iterable(feed_lines())
        peeked, first_record, lines = self._first_records(lines)
        self._sample_lines = peeked
        if delimiter is None:
            self.delimiter = _choose_delimiter(first_record)
        lines = chain(peeked, lines)
        reader = csv.reader(
            chain(lines, mark_eof()), delimiter=self.delimiter, quotechar='"', strict=False
        )

        def records() -> Iterator[Record]:
            previous = 0  # physical line where the previous record (or blank line) ended
            new_record, set_line, set_cells = _new_record, _set_record_line, _set_record_cells
            try:
                for cells in reader:
                    end = reader.line_num
                    if irregular:
                        if eof:
                            raise DataFileError(path, previous + 1, ReadMsg.UNCLOSED_QUOTE.value)
                        if end in piece_items:  # csv ended the record where we cut the line
                            raise DataFileError(
                                path, previous + 1, ReadMsg.LINE_TOO_LONG.format(limit=long_line)
                            )
                        end -= bisect_right(piece_items, end)
                    if cells:
                        if previous < apostrophes_through and _starts_with_apostrophe(cells):
                            cells = [restore_formula(cell) for cell in cells]
                        record = new_record(Record)
                        set_line(record, previous + 1)
                        set_cells(record, cells)
                        yield record
                    previous = end
            except csv.Error as error:
                if "field larger than field limit" in str(error):
                    message = ReadMsg.FIELD_TOO_LONG.format(limit=csv.field_size_limit())
                else:
                    message = ReadMsg.NOT_DELIMITED_TEXT.format(reason=error)
                raise DataFileError(path, previous + 1, message) from None

        iterator = records()
        if has_header:
            first = next(iterator, None)
            self.header = first.cells if first is not None else []
        return iterator

    def _first_records(self, lines: Iterator[str]) -> tuple[list[str], str, Iterator[str]]:
        """The lines of the first SAMPLE_RECORDS records, read ahead for delimiter detection
        and split_sample; the text of the first non-blank record; the lines after them.

        A record ends at a line break outside quotes (an even number of quotes so far); an
        unclosed quote stops the look-ahead after a bounded amount of text. A file that
        cannot be read that far still yields the records before the problem: the error is
        raised where the lines reach it.
        """
        peeked: list[str] = []
        first: list[str] = []
        records = quotes = size = 0
        limit = max(csv.field_size_limit(), self._long_line)
        try:
            for line in lines:
                peeked.append(line)
                if quotes % 2 == 0 and line in ("\n", "\r\n", "\r"):
                    continue  # a blank line
                if records == 0:
                    first.append(line)
                quotes += line.count('"')
                size += len(line)
                if quotes % 2 == 0:
                    records += 1
                if records == SAMPLE_RECORDS or size > limit:
                    break
        except DataFileError as error:
            return peeked, "".join(first), _raising(error)
        return peeked, "".join(first), lines

    def _read(self, read: Callable[[int], bytes], size: int, line: int) -> bytes:
        try:
            return read(size)
        except OSError as error:
            raise DataFileError(
                self.path, line, ReadMsg.CANNOT_READ.format(reason=error.strerror or error)
            ) from None


def open_data_file(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    delimiter: str | None = DEFAULT_DELIMITER,
    has_header: bool = True,
    sheet_name: str | None = None,
    date_format: str | None = None,
) -> DataFile | ExcelFile:
    """Open a data file; read its header now when ``has_header``.

    A name ending in ``.xlsx`` (in any case) is an Excel workbook (excel.ExcelFile):
    ``sheet_name`` chooses its sheet (default the first) and ``date_format`` writes its
    date cells (see reader.DateCell); ``encoding`` and ``delimiter`` do not apply.
    Any other file is delimited text: ``delimiter`` None detects it among ; , | TAB from
    the first record (outside quotes): the most frequent wins, ties in that order, none
    found -> ';'.
    Raises DataFileError when the file cannot be opened, or its header cannot be read.
    """
    if os.fspath(path).lower().endswith(".xlsx"):
        from session_import.excel import ExcelFile  # openpyxl loads slowly: only for Excel

        return ExcelFile(
            path, has_header=has_header, sheet_name=sheet_name, date_format=date_format
        )
    return DataFile(path, encoding=encoding, delimiter=delimiter, has_header=has_header)


LAYOUT_SAMPLE = 64 * 1024  # bytes read to find how a file breaks its lines
_LINE_BREAK = re.compile("\r\n|\r|\n")


def rejects_layout(path: str | os.PathLike[str], encoding: str) -> tuple[str, str]:
    """The encoding and line break of a file written like the delimited file ``path``, so
    that its rejects file can stand in its place: ``encoding``, as utf-8-sig when the file
    starts with a UTF-8 byte order mark (plain UTF-8 when it does not), and the line break
    that ends its first line (\\r\\n when there is none)."""
    try:
        with open(path, "rb") as handle:
            sample = handle.read(LAYOUT_SAMPLE)
        name = codecs.lookup(encoding).name
    except (OSError, LookupError):
        return encoding, "\r\n"
    if name in ("utf-8", "utf-8-sig"):
        encoding = "utf-8-sig" if sample.startswith(_UTF8_BOM) else "utf-8"
    text = codecs.getincrementaldecoder(name)(errors="replace").decode(sample)
    found = _LINE_BREAK.search(text)
    if found is None or (found.group() == "\r" and found.end() == len(text)):
        return encoding, "\r\n"  # none, or a \r that the sample may have cut from its \n
    return encoding, found.group()
