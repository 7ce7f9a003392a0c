"""One delimited-text data file -> a stream of records with exact physical line numbers.

The file is read in binary chunks, decoded incrementally, cut into physical lines
(``\\n``, ``\\r\\n`` or a lone ``\\r``; nothing else) and fed to the stdlib ``csv``
reader one line at a time. Memory stays bounded by the chunk size (and the longest
line, see LONG_LINE), whatever the size of the file.

Line numbers are physical: the header is line 1, and a record whose quoted field
spans lines 3-5 is line 3 (the next one starts at line 6). ``csv.reader.line_num``
counts the lines it was fed, which are exactly the physical lines, so a record
starts one line after the previous record (or blank line) ended.

How the file's encoding is checked, and what a file that does not decode is told, is
in sources.encodings.

The first records are read ahead at open (SAMPLE_RECORDS, the header included): for
delimiter detection, and kept as text for split_sample, which mapping.check_delimiter
uses to tell a file written with another delimiter than the configured one.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from itertools import chain, islice
from typing import Any

from session_import.formulas import restore_formula
from session_import.sources.encodings import (
    C1_CONTROL,
    DEFAULT_DELIMITER,
    REQUIRED_BOMS,
    UTF8_BOM,
    choose_delimiter,
    control_character_message,
    find_utf8_text,
    is_single_byte,
    no_byte_order_mark_message,
    nul_byte_message,
    reads_c1_controls,
    undecodable_message,
    utf8_text_message,
)
from session_import.sources.records import DataFileError, ReadMsg, Record, RecordFile

SAMPLE_RECORDS = 5  # records read ahead at open (the header included): see split_sample

CHUNK_SIZE = 256 * 1024  # bytes per read; small enough to keep the peak memory low
LONG_LINE = 1024 * 1024  # characters without a line break before a line is fed in pieces

# str.splitlines() also breaks on these, csv does not: a chunk holding one of
# them is cut by io.StringIO(newline=""), which breaks on \r, \n and \r\n only.
_OTHER_LINE_BOUNDARIES = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_EVERYTHING = sys.maxsize


# A frozen dataclass's __init__ goes through object.__setattr__ once per field; at a
# million rows that is a fifth of the reading time, so the hot loop sets the slots
# directly (same object, same invariants: nothing else ever writes them). mypy sees a
# slot through the class as the field's value, not as the member descriptor it is.
_new_record = object.__new__
_set_record_line = Record.line.__set__  # type: ignore[attr-defined, misc]
_set_record_cells = Record.cells.__set__  # type: ignore[attr-defined, misc]


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
            return [cells for cells in islice(reader, 2 * SAMPLE_RECORDS) if cells][:SAMPLE_RECORDS]
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
            raise DataFileError(self.path, line, utf8_text_message(self.encoding, offset, sequence))

    def _start(self, delimiter: str | None, has_header: bool) -> Iterator[Record]:
        """Wire lines -> csv -> records; detect the delimiter and read the header now."""
        path = self.path
        long_line = self._long_line

        # Shared between the line feed and the record loop (closure cells are the
        # cheapest shared state to read once per record).
        irregular = False  # a piece was fed, or the input is exhausted: check each record
        eof = False  # csv asked for more after the last line: a record completed now
        # was completed by the end of the file, inside a quote that was never closed
        piece_items: list[int] = []  # csv item numbers (reader.line_num) of line pieces
        apostrophes_through = 0  # records starting at or before this line may need restore

        def note_apostrophes(text: str, lines_done: int) -> None:
            nonlocal apostrophes_through
            if "'" in text:
                apostrophes_through = _EVERYTHING
            elif apostrophes_through == _EVERYTHING:
                # conservative by one line: the slow path is merely slower
                apostrophes_through = lines_done + 1

        def note_piece(piece: str, lines_done: int) -> None:
            nonlocal irregular
            note_apostrophes(piece, lines_done)
            piece_items.append(lines_done + len(piece_items) + 1)
            irregular = True

        def mark_eof() -> Iterator[str]:
            nonlocal irregular, eof
            irregular = eof = True
            yield from ()

        feed = _LineFeed(self, note_apostrophes, note_piece)
        reader = self._csv_reader(chain.from_iterable(feed), delimiter, mark_eof())

        def records() -> Iterator[Record]:
            previous = 0  # physical line where the previous record (or blank line) ended
            new_record, set_line, set_cells = _new_record, _set_record_line, _set_record_cells
            try:
                for cells in reader:
                    end = reader.line_num
                    if irregular:
                        end = _irregular_end(end, previous, eof, piece_items, path, long_line)
                    if cells:
                        if previous < apostrophes_through and _starts_with_apostrophe(cells):
                            cells = [restore_formula(cell) for cell in cells]
                        record = new_record(Record)
                        set_line(record, previous + 1)
                        set_cells(record, cells)
                        yield record
                    previous = end
            except csv.Error as error:
                raise DataFileError(path, previous + 1, _csv_problem(error)) from None

        iterator = records()
        if has_header:
            self.header = _first_cells(iterator)
        return iterator

    def _csv_reader(self, lines: Iterator[str], delimiter: str | None, end: Iterator[str]) -> Any:
        """csv's reader of ``lines`` then ``end``, in the configured delimiter or the one
        detected from the first record; the first records are kept for split_sample."""
        peeked, first_record, lines = self._first_records(lines)
        self._sample_lines = peeked
        if delimiter is None:
            self.delimiter = choose_delimiter(first_record)
        return csv.reader(
            chain(peeked, lines, end), delimiter=self.delimiter, quotechar='"', strict=False
        )

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


class _LineFeed:
    """A DataFile's bytes -> its physical lines, in batches (one per chunk), for csv.

    Raises DataFileError, at the line reached, where the file stops being readable text
    (after yielding the lines before). Tells the record loop what it must check:
    ``note_apostrophes(text, lines_done)`` for each batch and ``note_piece(piece,
    lines_done)`` for a piece of a line longer than ``long_line``.
    """

    def __init__(
        self,
        data_file: DataFile,
        note_apostrophes: Callable[[str, int], None],
        note_piece: Callable[[str, int], None],
    ):
        self._path = data_file.path
        self._encoding = data_file.encoding
        self._read_bytes = data_file._file.read
        self._decoder = data_file._decoder
        self._skip_utf8_bom = data_file._skip_utf8_bom
        self._chunk_size = data_file._chunk_size
        self._long_line = data_file._long_line
        self._c1_controls = reads_c1_controls(codecs.lookup(self._encoding).name)
        self._note_apostrophes = note_apostrophes
        self._note_piece = note_piece
        self._lines_done = 0  # physical line breaks fed so far
        self._offset = 0  # absolute byte offset in the file of the next chunk
        self._carry = ""  # the last, incomplete line of the text decoded so far

    def __iter__(self) -> Iterator[Iterable[str]]:
        chunk = self._opening_bytes()
        first = True
        while True:
            more = self._read(self._chunk_size, self._line_reached())
            chunk += more
            final = not more
            text, problem = self._text(chunk, final, first)
            chunk, first = b"", False
            lines = self._complete_lines(text, final and problem is None)
            if lines:
                self._note_apostrophes(lines, self._lines_done)
                batch, breaks = _split_lines(lines)
                self._lines_done += breaks
                yield batch
            if problem is not None:
                raise self._fail(problem)
            if final:
                return
            if len(self._carry) > self._long_line:
                yield (self._piece(),)

    def _opening_bytes(self) -> bytes:
        """The first bytes, a UTF-8 BOM skipped; a UTF-16 or UTF-32 file without an
        endianness fails at once without its BOM, before the decoder meets some other
        problem first in a larger chunk."""
        chunk = self._read(3, 1)
        if self._skip_utf8_bom and chunk == UTF8_BOM:
            self._offset, chunk = 3, b""
        boms = REQUIRED_BOMS.get(codecs.lookup(self._encoding).name)
        if boms is not None:
            chunk += self._read(1, 1)
            if chunk and not chunk.startswith(boms):
                raise self._fail(no_byte_order_mark_message(self._path, self._encoding))
        return chunk

    def _text(self, chunk: bytes, final: bool, first: bool) -> tuple[str, str | None]:
        """The text of ``chunk`` up to its first problem, and that problem's message."""
        text, problem = self._decode(chunk, final)
        self._offset += len(chunk)
        if first:
            text = text.removeprefix("\ufeff")  # e.g. utf-16-le with a BOM
        nul = text.find("\x00")
        if nul >= 0:
            text = text[:nul]
            problem = nul_byte_message(self._path, self._encoding, self._offset)
        return text, problem

    def _decode(self, chunk: bytes, final: bool) -> tuple[str, str | None]:
        path, encoding, offset, decoder = self._path, self._encoding, self._offset, self._decoder
        problem: str | None = None
        state = decoder.getstate()
        try:
            text = decoder.decode(chunk, final)
        except UnicodeDecodeError as error:
            # error.object is the tail of (bytes kept from the last chunk + chunk)
            bad_offset = offset + len(chunk) - len(error.object) + error.start
            bad = error.object[error.start : error.end] or error.object[error.start :]
            problem = undecodable_message(
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
            return "", no_byte_order_mark_message(path, encoding)
        if self._c1_controls and problem is None and not text.isascii():
            control = C1_CONTROL.search(text)
            if control is not None:  # one byte, one character: the same index
                at = control.start()
                bad = chunk[at : at + 1]
                problem = control_character_message(path, encoding, offset + at, bad)
                text = text[:at]
        return text, problem

    def _complete_lines(self, text: str, whole: bool) -> str:
        """The carried line and ``text``, up to its last line break unless ``whole``; the
        rest is carried to the next chunk."""
        if self._carry:
            text = self._carry + text
        if whole:
            self._carry = ""
            return text
        # a \r at the very end may be the first half of a \r\n
        end = len(text) - 1 if text.endswith("\r") else len(text)
        cut = max(text.rfind("\n", 0, end), text.rfind("\r", 0, end)) + 1
        self._carry = text[cut:]
        return text[:cut]

    def _piece(self) -> str:
        """A line this long is fed in pieces so that an unclosed quote fails at csv's field
        limit instead of holding the file in memory; a piece that ends a record outside
        quotes is reported by the record loop."""
        piece = self._carry.removesuffix("\r")
        self._carry = self._carry[len(piece) :]
        self._note_piece(piece, self._lines_done)
        return piece

    def _line_reached(self) -> int:
        return self._lines_done + 1 + _line_breaks(self._carry)

    def _fail(self, message: str) -> DataFileError:
        return DataFileError(self._path, self._line_reached(), message)

    def _read(self, size: int, line: int) -> bytes:
        try:
            return self._read_bytes(size)
        except OSError as error:
            raise DataFileError(
                self._path, line, ReadMsg.CANNOT_READ.format(reason=error.strerror or error)
            ) from None


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


def _irregular_end(
    end: int, previous: int, eof: bool, piece_items: list[int], path: str, long_line: int
) -> int:
    """The physical line where a record ended at csv's item ``end`` once line pieces were
    fed or the input is exhausted; raises for a record that only the end of the file, or a
    cut in a long line, completed."""
    if eof:
        raise DataFileError(path, previous + 1, ReadMsg.UNCLOSED_QUOTE.value)
    if end in piece_items:  # csv ended the record where we cut the line
        raise DataFileError(path, previous + 1, ReadMsg.LINE_TOO_LONG.format(limit=long_line))
    return end - bisect_right(piece_items, end)


def _first_cells(records: Iterator[Record]) -> list[str]:
    """The header: the first record's cells ([] for a file of no record)."""
    first = next(records, None)
    return first.cells if first is not None else []


def _csv_problem(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return ReadMsg.FIELD_TOO_LONG.format(limit=csv.field_size_limit())
    return ReadMsg.NOT_DELIMITED_TEXT.format(reason=error)
