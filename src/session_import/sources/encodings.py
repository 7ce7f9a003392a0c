"""How a delimited file is written: its encoding, its delimiter, its line breaks.

When a file does not decode, charset-normalizer looks at a bounded sample of it to
suggest the encoding it is most likely in (suggest_encoding), and each way of failing
has its message here. A file read in an 8-bit encoding is checked first, whole, for
being UTF-8 (find_utf8_text), and one read in iso-8859-* fails at a C1 control
character (which no text holds). The delimiter, when the provider leaves it out, is
chosen from the first record (choose_delimiter); rejects_layout gives the encoding and
line break a rejects file is written in, so that it stands in the input's place.
"""

from __future__ import annotations

import codecs
import os
import re
from typing import IO

from session_import.sources.records import ReadMsg

# Delimiters that detection chooses among, in the order that breaks ties.
DETECTED_DELIMITERS = (";", ",", "|", "\t")
DEFAULT_DELIMITER = ";"

UTF8_BOM = codecs.BOM_UTF8
# utf-16 and utf-32 without an endianness: the byte order marks a file must start with
REQUIRED_BOMS = {
    "utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
    "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE),
}
UTF8_CHECK_CHUNK = 256 * 1024  # bytes per read of find_utf8_text

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
C1_CONTROL = re.compile("[\x80-\x9f]")


def find_utf8_text(
    file: IO[bytes], chunk_size: int = UTF8_CHECK_CHUNK
) -> tuple[int, int, bytes] | None:
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
        if chunk == UTF8_BOM:
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


def utf8_text_message(encoding: str, offset: int, sequence: bytes) -> str:
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


def undecodable_message(path: str, encoding: str, offset: int, bad: bytes, cut_short: bool) -> str:
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


def reads_c1_controls(encoding: str) -> bool:
    """Whether a single-byte ``encoding`` reads bytes 0x80-0x9F as the C1 control
    characters (iso-8859-*, latin-1), which no text holds; windows-1252 reads letters."""
    return is_single_byte(encoding) and bool(
        C1_CONTROL.search(bytes(range(0x80, 0xA0)).decode(encoding, errors="ignore"))
    )


def control_character_message(path: str, encoding: str, offset: int, bad: bytes) -> str:
    """A C1 control character in a file read as iso-8859-*: windows-1252 text (its curly
    quotes, dashes and euro sign are those bytes) or a multi-byte encoding's bytes."""
    described = {"encoding": encoding, "offset": offset, "bytes": f"0x{bad[0]:02X}"}
    suggestion = suggest_encoding(path, offset, encoding, single_byte=True)
    if suggestion is None:
        return ReadMsg.CONTROL_CHARACTER.format(**described)
    return ReadMsg.CONTROL_CHARACTER_LOOKS_LIKE.format(**described, suggestion=suggestion)


def no_byte_order_mark_message(path: str, encoding: str) -> str:
    suggestion = suggest_encoding(path, 0, encoding)
    if suggestion is not None:
        return ReadMsg.NO_BYTE_ORDER_MARK_LOOKS_LIKE.format(
            encoding=encoding, suggestion=suggestion
        )
    family = "UTF-32" if "32" in codecs.lookup(encoding).name else "UTF-16"
    return ReadMsg.NO_BYTE_ORDER_MARK.format(encoding=encoding, family=family)


def nul_byte_message(path: str, encoding: str, offset: int) -> str:
    """Why the file holds a NUL byte (near byte ``offset``): UTF-16 text read as a
    single-byte encoding shows NULs before anything fails to decode."""
    if workbook := _workbook_not_text(path):
        return workbook.value
    suggestion = suggest_encoding(path, offset, encoding)
    if suggestion is not None and suggestion.startswith("UTF-"):
        return ReadMsg.NUL_BYTE_LOOKS_LIKE.format(suggestion=suggestion)
    return ReadMsg.NUL_BYTE.value


def choose_delimiter(record_text: str) -> str:
    """The candidate seen most often outside quotes; ties go to the earlier candidate."""
    outside = "".join(record_text.split('"')[0::2])
    best, best_count = DEFAULT_DELIMITER, 0
    for candidate in DETECTED_DELIMITERS:
        count = outside.count(candidate)
        if count > best_count:
            best, best_count = candidate, count
    return best


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
        encoding = "utf-8-sig" if sample.startswith(UTF8_BOM) else "utf-8"
    text = codecs.getincrementaldecoder(name)(errors="replace").decode(sample)
    found = _LINE_BREAK.search(text)
    if found is None or (found.group() == "\r" and found.end() == len(text)):
        return encoding, "\r\n"  # none, or a \r that the sample may have cut from its \n
    return encoding, found.group()
