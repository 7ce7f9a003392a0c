"""sources: one data file -> records with exact physical line numbers (SPEC 3 and 7)."""

from __future__ import annotations

import codecs
import csv
import io
import random
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from session_import.formulas import FORMULA_PREFIXES, neutralise_formula, restore_formula
from session_import.sources import (
    SUGGESTED_ENCODINGS,
    DataFile,
    DataFileError,
    Record,
    open_data_file,
)

# Chunk sizes that put chunk boundaries everywhere: inside \r\n, inside a multi-byte
# character, inside quoted fields.
SMALL_CHUNKS = [1, 2, 3, 5, 64]


def write(tmp_path: Path, data: bytes, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path, **options) -> tuple[DataFile, list[tuple[int, list[str]]]]:
    chunk_size = options.pop("chunk_size", None)
    if chunk_size is None:
        data_file = open_data_file(path, **options)
    else:
        data_file = DataFile(path, chunk_size=chunk_size, **options)
    with data_file:
        return data_file, [(record.line, record.cells) for record in data_file]


def read_error(path: Path, **options) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        read_all(path, **options)
    return caught.value


# -- formulas (SPEC 7) ----------------------------------------------------------


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_a_formula_cell_is_neutralised_and_restored(prefix: str) -> None:
    value = prefix + "SUM(A1:A3)"
    assert neutralise_formula(value) == "'" + value
    assert restore_formula(neutralise_formula(value)) == value


@pytest.mark.parametrize("value", ["", "plain", "'", "'plain", "''=1", "1=2", " =1"])
def test_other_cells_are_left_alone(value: str) -> None:
    assert neutralise_formula(value) == value
    assert restore_formula(value) == value


@given(st.text())
def test_neutralise_then_restore_gives_the_original(value: str) -> None:
    if value[:1] == "'" and value[1:2] in FORMULA_PREFIXES:
        return  # already looks neutralised: reading restores it, by the SPEC
    assert restore_formula(neutralise_formula(value)) == value


def test_cells_read_are_restored_header_included(tmp_path: Path) -> None:
    path = write(tmp_path, b"'=title;'plain\n'=1+2;'-3\n'@x;\"'\r\"\nl'=x;'\n")
    data_file, rows = read_all(path)
    assert data_file.header == ["=title", "'plain"]
    # the quoted "'\r" spans lines 3-4
    assert rows == [(2, ["=1+2", "-3"]), (3, ["@x", "\r"]), (5, ["l'=x", "'"])]


def test_a_rejects_file_round_trips(tmp_path: Path) -> None:
    original = [["=HYPERLINK(1)", "+33 6", "-5", "@user", "\tindented", "\rcr", "ok"]]
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=";").writerows(
        [[neutralise_formula(cell) for cell in row] for row in original]
    )
    path = write(tmp_path, buffer.getvalue().encode())
    _, rows = read_all(path, has_header=False)
    assert [cells for _, cells in rows] == original


# -- errors ------------------------------------------------------------------------


def test_data_file_error_names_file_and_line() -> None:
    error = DataFileError("in/sessions.csv", 7, "something is wrong.")
    assert (error.path, error.line, error.message) == ("in/sessions.csv", 7, "something is wrong.")
    assert str(error) == "in/sessions.csv:7: something is wrong."


def test_a_missing_file_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "missing.csv"
    error = read_error(path)
    assert str(error) == f"{path}: cannot be opened: No such file or directory."


def test_a_folder_cannot_be_opened(tmp_path: Path) -> None:
    error = read_error(tmp_path)
    assert error.line == 0
    assert error.message.startswith("cannot be opened: ")


def test_an_unknown_encoding_fails_at_line_0(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b"a;b\n"), encoding="klingon-8")
    assert error.line == 0
    assert "klingon-8" in error.message


def test_a_bad_delimiter_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        open_data_file(write(tmp_path, b"a;b\n"), delimiter=";;")


# -- delimiters ------------------------------------------------------------------


@pytest.mark.parametrize("delimiter", [";", ",", "|", "\t"])
def test_each_configured_delimiter(tmp_path: Path, delimiter: str) -> None:
    text = f'title{delimiter}code\nA "b"{delimiter}"x{delimiter}y"\n'
    data_file, rows = read_all(write(tmp_path, text.encode()), delimiter=delimiter)
    assert data_file.delimiter == delimiter
    assert data_file.header == ["title", "code"]
    assert rows == [(2, ['A "b"', f"x{delimiter}y"])]


@pytest.mark.parametrize("delimiter", [";", ",", "|", "\t"])
def test_each_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    text = delimiter.join(["sessionTitle", "sessionStartDate", "teacherLogin"]) + "\n1,5;2|3\n"
    data_file, rows = read_all(write(tmp_path, text.encode()), delimiter=None)
    assert data_file.delimiter == delimiter
    assert data_file.header == ["sessionTitle", "sessionStartDate", "teacherLogin"]
    assert len(rows[0][1]) == 1 + "1,5;2|3".count(delimiter)


@pytest.mark.parametrize(
    ("first_record", "expected"),
    [
        ("a;b,c\n", ";"),  # tie: ; before ,
        ("a,b|c\n", ","),  # tie: , before |
        ("a|b\tc\n", "|"),  # tie: | before TAB
        ("a,b,c;d\n", ","),  # the most frequent wins
        ("a\tb\tc\td|e|f;g\n", "\t"),
        ("title\n", ";"),  # none found
        ('"a,b,c,d";e\n', ";"),  # inside quotes does not count
        ('"a;b\nc;d;e",f\n', ","),  # a first record over two lines
        ('"say ""x,y,z""";q\n', ";"),  # doubled quotes stay inside
    ],
)
def test_detection_rules(tmp_path: Path, first_record: str, expected: str) -> None:
    path = write(tmp_path, (first_record + "1|2,3;4\t5\n").encode())
    data_file, _ = read_all(path, delimiter=None)
    assert data_file.delimiter == expected


def test_detection_looks_past_blank_lines_and_works_without_header(tmp_path: Path) -> None:
    path = write(tmp_path, b"\r\n\r\na|b|c\r\n1|2|3\r\n")
    data_file, rows = read_all(path, delimiter=None, has_header=False)
    assert (data_file.delimiter, data_file.header) == ("|", None)
    assert rows == [(3, ["a", "b", "c"]), (4, ["1", "2", "3"])]


def test_detection_in_an_empty_file(tmp_path: Path) -> None:
    data_file, rows = read_all(write(tmp_path, b""), delimiter=None)
    assert (data_file.delimiter, data_file.header, rows) == (";", [], [])


# -- encodings and BOM -------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "UTF8", "utf-8-sig", "windows-1252", "latin-1"])
def test_a_utf8_bom_is_always_removed(tmp_path: Path, encoding: str) -> None:
    path = write(tmp_path, b"\xef\xbb\xbfsessionTitle;code\r\nA;B\r\n")
    data_file, rows = read_all(path, encoding=encoding)
    assert data_file.header == ["sessionTitle", "code"]
    assert data_file.encoding == encoding
    assert rows == [(2, ["A", "B"])]


def test_a_bom_before_a_file_without_header(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b"\xef\xbb\xbfA;B\n"), has_header=False)
    assert rows == [(1, ["A", "B"])]


def test_latin_1(tmp_path: Path) -> None:
    path = write(tmp_path, "titre;lieu\nSécurité;Besançon\n".encode("latin-1"))
    _, rows = read_all(path, encoding="latin-1")
    assert rows == [(2, ["Sécurité", "Besançon"])]


def test_windows_1252(tmp_path: Path) -> None:
    path = write(tmp_path, "titre;prix\n“Excel” – 10 €;Œuvre\n".encode("cp1252"))
    _, rows = read_all(path, encoding="windows-1252")
    assert rows == [(2, ["“Excel” – 10 €", "Œuvre"])]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("chunk_size", [1, 3, 4096])
def test_utf_16(tmp_path: Path, encoding: str, chunk_size: int) -> None:
    text = 'title;lieu\r\nÉté;"東京\r\n駅"\r\n\r\n€;𝄞\r\n'
    # "utf-16" writes its own BOM; a BOM is also accepted with an explicit byte order
    data = text.encode(encoding) if encoding == "utf-16" else ("\ufeff" + text).encode(encoding)
    data_file, rows = read_all(write(tmp_path, data), encoding=encoding, chunk_size=chunk_size)
    assert data_file.header == ["title", "lieu"]
    assert rows == [(2, ["Été", "東京\r\n駅"]), (5, ["€", "𝄞"])]


@pytest.mark.parametrize("chunk_size", SMALL_CHUNKS)
def test_multi_byte_characters_across_chunks(tmp_path: Path, chunk_size: int) -> None:
    path = write(tmp_path, "a;b\n東京;𝄞é\n".encode())
    _, rows = read_all(path, chunk_size=chunk_size)
    assert rows == [(2, ["東京", "𝄞é"])]


# -- undecodable bytes -------------------------------------------------------------


def test_an_undecodable_byte(tmp_path: Path) -> None:
    data = b'title;place\nok;ok\n"multi\nline";Besan\xe7on\n'
    path = write(tmp_path, data)
    error = read_error(path)
    offset = data.index(b"\xe7")
    assert str(error) == (
        f"{path}:4: cannot be decoded as utf-8 at byte {offset} (0xE7); it looks like"
        " windows-1252: set <fileEncoding>windows-1252</fileEncoding> in the provider."
    )


@pytest.mark.parametrize("chunk_size", SMALL_CHUNKS)
def test_the_byte_offset_is_absolute_bom_included(tmp_path: Path, chunk_size: int) -> None:
    data = b"\xef\xbb\xbfa;b\r\n1;2\r\n\r\n3;\xc3\xa9\xe9\r\n"
    error = read_error(write(tmp_path, data), chunk_size=chunk_size)
    assert (error.line, error.message) == (
        4,
        "cannot be decoded as utf-8 at byte 19 (0xE9); set <fileEncoding> to the file's encoding.",
    )


def test_the_records_before_an_undecodable_byte_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, b"a;b\n1;2\n3;\xff\n")
    seen = []
    with pytest.raises(DataFileError) as caught, open_data_file(path) as data_file:
        for record in data_file:
            seen.append(record.line)
    assert (seen, caught.value.line) == ([2], 3)


def test_a_character_cut_by_the_end_of_the_file(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b"a;b\n1;\xe2\x82"))
    assert (error.line, error.message) == (
        2,
        (
            "cannot be decoded as utf-8 at byte 6 (0xE2 0x82);"
            " set <fileEncoding> to the file's encoding."
        ),
    )


def test_undecodable_in_windows_1252(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b"a;b\r\n1;\x81\r\n"), encoding="windows-1252")
    assert (error.line, error.message) == (
        2,
        (
            "cannot be decoded as windows-1252 at byte 7 (0x81);"
            " set <fileEncoding> to the file's encoding."
        ),
    )


def test_undecodable_in_the_header_fails_at_open(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b"ti\xe9tle;b\n1;2\n"))
    assert (error.line, "at byte 2 (0xE9)" in error.message) == (1, True)


def test_undecodable_after_a_lone_carriage_return(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, b"a;b\r1;2\r\xff;3\r"), chunk_size=2)
    assert error.line == 3


# -- the encoding a file that does not decode most likely is -------------------------

FRENCH = "sessionTitle;place\nSécurité incendie;Besançon\nGestion d’équipe – niveau 2;Genève\n"
LATIN_1 = "sessionTitle;place\nSécurité incendie;Besançon\nFormation à l'été;Genève\n"


@pytest.mark.parametrize(
    ("text", "written_in", "read_as", "line", "offset", "suggestion"),
    [
        (FRENCH, "windows-1252", "utf-8", 2, 20, "windows-1252"),
        # iso-8859-1 letters are windows-1252's, byte for byte: the common name is given
        (LATIN_1, "iso-8859-1", "utf-8", 2, 20, "windows-1252"),
        ("Titel;Ort\nSchulung für Führer;Straße\n", "cp1252", "utf-8", 2, 20, "windows-1252"),
        ("Название;Город\nОбучение;Москва\n", "windows-1251", "utf-8", 1, 0, "windows-1251"),
        (FRENCH, "utf-16", "utf-8", 1, 0, "UTF-16"),  # its BOM, 0xFF 0xFE
        ("sessionTitle;place\nFormation;Genève\n", "utf-8", "ascii", 2, 32, "UTF-8"),
    ],
)
def test_the_likely_encoding_is_suggested(
    tmp_path: Path,
    text: str,
    written_in: str,
    read_as: str,
    line: int,
    offset: int,
    suggestion: str,
) -> None:
    data = text.encode(written_in)
    path = write(tmp_path, data)
    error = read_error(path, encoding=read_as)
    bad = f"0x{data[offset]:02X}"
    assert str(error).startswith(
        f"{path}:{line}: cannot be decoded as {read_as} at byte {offset} ({bad}"
    )
    assert error.message.endswith(
        f"; it looks like {suggestion}:"
        f" set <fileEncoding>{suggestion}</fileEncoding> in the provider."
    )
    with open_data_file(path, encoding=suggestion) as data_file:  # and it reads
        assert [data_file.header, *(record.cells for record in data_file)] == [
            row.split(";") for row in text.splitlines()
        ]


JAPANESE = "sessionTitle;place\nセキュリティ研修（東京）;東京\n情報セキュリティ入門;大阪\n"


@pytest.mark.parametrize(
    ("read_as", "failure"),
    [
        ("utf-8", "cannot be decoded as utf-8 at byte 19 (0x83)"),
        ("windows-1252", "cannot be decoded as windows-1252 at byte 33 (0x8F)"),  # undefined
        # iso-8859-1 defines every byte, 0x80-0x9F as control characters no text holds
        (
            "iso-8859-1",
            (
                "cannot be read as iso-8859-1: byte 19 (0x83) is a control character"
                " that no iso-8859-1 text holds"
            ),
        ),
    ],
)
def test_a_multi_byte_suggestion_does_not_depend_on_the_configured_encoding(
    tmp_path: Path, read_as: str, failure: str
) -> None:
    path = write(tmp_path, JAPANESE.encode("shift_jis"))
    error = read_error(path, encoding=read_as)
    assert str(error).startswith(f"{path}:2: {failure}; ")
    assert error.message.endswith(
        "; it looks like Shift_JIS: set <fileEncoding>Shift_JIS</fileEncoding> in the provider."
    )


@pytest.mark.parametrize("read_as", ["iso-8859-1", "latin-1", "iso-8859-15"])
@pytest.mark.parametrize("chunk_size", [1, 7, 4096])
def test_windows_1252_read_as_iso_8859_fails_at_its_first_control_character(
    tmp_path: Path, read_as: str, chunk_size: int
) -> None:
    # its curly apostrophe (0x92) is a control character in iso-8859-*
    path = write(tmp_path, FRENCH.encode("windows-1252"))
    offset = FRENCH.encode("windows-1252").index(b"\x92")
    with (
        pytest.raises(DataFileError) as caught,
        DataFile(path, encoding=read_as, chunk_size=chunk_size) as data_file,
    ):
        assert [r.line for r in data_file] == [2]  # the records before it are read
    assert str(caught.value) == (
        f"{path}:3: cannot be read as {read_as}: byte {offset} (0x92) is a control character"
        f" that no {read_as} text holds; it looks like windows-1252:"
        " set <fileEncoding>windows-1252</fileEncoding> in the provider."
    )


def test_real_iso_8859_1_text_reads(tmp_path: Path) -> None:
    path = write(tmp_path, LATIN_1.encode("iso-8859-1"))
    _, rows = read_all(path, encoding="iso-8859-1")
    assert rows[-1] == (3, ["Formation à l'été", "Genève"])


@pytest.mark.parametrize(
    ("text", "read_as", "line", "offset", "shown"),
    [
        (
            "sessionTitle;place\nSécurité;Paris\n",
            "windows-1252",
            2,
            20,
            '0xC3 0xA9 at byte 20 read as "é" in UTF-8 but as "Ã©" in windows-1252',
        ),
        # 0x81 is undefined in windows-1252: the file used to fail without a hint
        (
            "sessionTitle;place\nFormation;Ávila\n",
            "windows-1252",
            2,
            29,
            '0xC3 0x81 at byte 29 read as "Á" in UTF-8 but as "Ã\\x81" in windows-1252',
        ),
        (
            "a\r\nb\rc\nSécurité\n",
            "iso-8859-1",
            4,
            8,
            '0xC3 0xA9 at byte 8 read as "é" in UTF-8 but as "Ã©" in iso-8859-1',
        ),
        (
            "a\n€\n",
            "windows-1252",
            2,
            2,
            '0xE2 0x82 0xAC at byte 2 read as "€" in UTF-8 but as "â‚¬" in windows-1252',
        ),
        (
            "\ufeffa\nSécurité\n",
            "cp1252",
            2,
            6,  # the BOM is no evidence, but counts in bytes
            '0xC3 0xA9 at byte 6 read as "é" in UTF-8 but as "Ã©" in cp1252',
        ),
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 2, 4096])
def test_utf_8_text_read_as_a_single_byte_encoding_fails_before_anything_is_read(
    tmp_path: Path, text: str, read_as: str, line: int, offset: int, shown: str, chunk_size: int
) -> None:
    path = write(tmp_path, text.encode("utf-8"))
    with pytest.raises(DataFileError) as caught:
        DataFile(path, encoding=read_as, chunk_size=chunk_size)
    assert str(caught.value) == (
        f"{path}:{line}: looks like UTF-8, not {read_as}: the whole file is valid UTF-8, and the"
        f" bytes {shown}; set <fileEncoding>UTF-8</fileEncoding> in the provider."
    )
    with open_data_file(path, encoding="UTF-8") as data_file:  # and it reads
        assert [data_file.header, *(r.cells for r in data_file)][-1] == (
            text.splitlines()[-1].split(";")
        )


@pytest.mark.parametrize(
    "data",
    [
        "sessionTitle\nSécurité\n".encode("windows-1252"),  # the real thing
        b"sessionTitle\nSafety\n",  # ASCII is UTF-8 and windows-1252 alike
        b"\xef\xbb\xbfsessionTitle\nSafety\n",  # a BOM alone
        "sessionTitle\nSécurité\n".encode() + b"\xe9\n",  # not UTF-8 as a whole
        "sessionTitle\nSécurité\n".encode()[:-3] + b"\xc3",  # cut inside a character
    ],
)
def test_a_single_byte_file_that_is_not_utf_8_reads_as_configured(
    tmp_path: Path, data: bytes
) -> None:
    path = write(tmp_path, data)
    with open_data_file(path, encoding="windows-1252") as data_file:
        assert [data_file.header, *(r.cells for r in data_file)] == [
            [row]
            for row in data.decode("windows-1252", errors="replace")
            .removeprefix("ï»¿")
            .splitlines()
        ]


def test_the_utf_8_check_reads_the_whole_file(tmp_path: Path) -> None:
    # a valid multi-byte sequence early, and the proof that it is not UTF-8 late
    data = "a\nSécurité\n".encode() + b"x\n" * 200_000 + b"caf\xe9\n"
    path = write(tmp_path, data)
    with open_data_file(path, encoding="windows-1252") as data_file:
        assert sum(1 for _ in data_file) == 200_002
    path.write_bytes(data[:-6] + "café\n".encode())
    with pytest.raises(DataFileError) as caught:
        open_data_file(path, encoding="windows-1252")
    assert (caught.value.line, "byte 3 ") == (2, "byte 3 ")


def test_the_suggestion_looks_at_the_bytes_around_a_late_failure(tmp_path: Path) -> None:
    data = b"a;b\n" + b"x;y\n" * 30_000 + "café;crème\n".encode("windows-1252")
    path = write(tmp_path, data)
    assert str(read_error(path)) == (
        f"{path}:30002: cannot be decoded as utf-8 at byte 120007 (0xE9); it looks like"
        " windows-1252: set <fileEncoding>windows-1252</fileEncoding> in the provider."
    )


@pytest.mark.parametrize(
    ("encoding", "read_as", "suggestion"),
    [("utf-16-le", "utf-8", "UTF-16LE"), ("utf-16-be", "windows-1252", "UTF-16BE")],
)
def test_utf_16_without_bom_shows_nul_bytes_and_is_suggested(
    tmp_path: Path, encoding: str, read_as: str, suggestion: str
) -> None:
    path = write(tmp_path, "sessionTitle;place\nSafety;Paris\n".encode(encoding))
    assert str(read_error(path, encoding=read_as)) == (
        f"{path}:1: the file contains a NUL byte; it looks like {suggestion} text:"
        f" set <fileEncoding>{suggestion}</fileEncoding> in the provider."
    )


@pytest.mark.parametrize(
    ("encoding", "data", "expected"),
    [
        (
            "utf-16",
            "a;b\nc;d\n".encode("utf-16-le"),
            "it looks like UTF-16LE: set <fileEncoding>UTF-16LE</fileEncoding> in the provider.",
        ),
        (
            "UTF-32",
            "a;b\nc;d\n".encode("utf-32-le"),
            "it looks like UTF-32LE: set <fileEncoding>UTF-32LE</fileEncoding> in the provider.",
        ),
        (
            "utf-16",
            b"\x00\x00",
            "set <fileEncoding>UTF-16LE</fileEncoding> or <fileEncoding>UTF-16BE</fileEncoding>"
            " in the provider, whichever the file is.",
        ),
    ],
)
@pytest.mark.parametrize("chunk_size", [1, 4096])
def test_utf_16_or_32_without_a_byte_order_mark(
    tmp_path: Path, encoding: str, data: bytes, expected: str, chunk_size: int
) -> None:
    # Python's incremental decoders want a BOM in "utf-16" and "utf-32" (bytes.decode does not)
    path = write(tmp_path, data)
    assert str(read_error(path, encoding=encoding, chunk_size=chunk_size)) == (
        f"{path}:1: cannot be decoded as {encoding}: the file does not start with a byte order"
        f" mark; {expected}"
    )


@pytest.mark.parametrize(
    "data",
    [
        # UTF-8 letters before the failure: a damaged or pasted-in part, not the encoding
        "a;b\nSécurité;x\n".encode() + "Genève;y\n".encode("windows-1252"),
        # random bytes decode "cleanly" in many encodings, with control characters
        b"\x89PNG\r\n\x1a\n" + random.Random(2).randbytes(3000),
    ],
)
def test_no_suggestion_without_confidence(tmp_path: Path, data: bytes) -> None:
    error = read_error(write(tmp_path, data))
    assert error.message.endswith("; set <fileEncoding> to the file's encoding.")


def test_every_suggestion_is_a_name_python_reads() -> None:
    for name, suggestion in SUGGESTED_ENCODINGS.items():
        assert codecs.lookup(suggestion).name == codecs.lookup(name).name


@pytest.mark.parametrize("name", ["sessions.csv", "sessions.txt"])
def test_a_workbook_under_a_text_name(tmp_path: Path, name: str) -> None:
    book = openpyxl.Workbook()
    book.active.append(["sessionTitle"])
    path = tmp_path / name
    book.save(path)
    assert str(read_error(path)) == (
        f"{path}:1: is an Excel workbook or another zip archive, not delimited text; give an"
        " Excel workbook a name ending in .xlsx, or save its sheet as CSV."
    )


def test_an_old_or_encrypted_workbook_under_a_text_name(tmp_path: Path) -> None:
    path = write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504))
    assert str(read_error(path)) == (
        f"{path}:1: is an Excel 97-2003 or a password-protected workbook, not delimited text;"
        " in Excel, save its sheet as CSV or as an Excel workbook (.xlsx) without a password."
    )


# -- line endings, quotes, blank lines ---------------------------------------------


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("chunk_size", [*SMALL_CHUNKS, 1 << 20])
def test_line_endings_and_multi_line_records(tmp_path: Path, newline: str, chunk_size: int) -> None:
    n = newline
    text = (
        f"title;note{n}"  # 1
        f"A;plain{n}"  # 2
        f'"B;with delimiter";"say ""hi"""{n}'  # 3
        f'"C starts{n}continues{n}ends";x{n}'  # 4-6
        f"{n}"  # 7: blank
        f"{n}"  # 8: blank
        f'D;""{n}'  # 9
        "E;last"  # 10, no final line break
    )
    data_file, rows = read_all(write(tmp_path, text.encode()), chunk_size=chunk_size)
    assert data_file.header == ["title", "note"]
    assert rows == [
        (2, ["A", "plain"]),
        (3, ["B;with delimiter", 'say "hi"']),
        (4, [f"C starts{newline}continues{newline}ends", "x"]),
        (9, ["D", ""]),
        (10, ["E", "last"]),
    ]


@pytest.mark.parametrize("chunk_size", SMALL_CHUNKS)
def test_mixed_line_endings(tmp_path: Path, chunk_size: int) -> None:
    data = b'h\r\n1\n2\r3\r\n\r\r\n\n"a\rb\nc\r\nd"\r\n4\n\r'
    _, rows = read_all(write(tmp_path, data), chunk_size=chunk_size, has_header=True)
    assert rows == [(2, ["1"]), (3, ["2"]), (4, ["3"]), (8, ["a\rb\nc\r\nd"]), (12, ["4"])]


def test_without_header_the_first_row_is_line_1(tmp_path: Path) -> None:
    data_file, rows = read_all(write(tmp_path, b"A;1\nB;2\n"), has_header=False)
    assert data_file.header is None
    assert rows == [(1, ["A", "1"]), (2, ["B", "2"])]


def test_blank_lines_before_the_header_are_counted(tmp_path: Path) -> None:
    data_file, rows = read_all(write(tmp_path, b"\n\r\na;b\n\n1;2\n"))
    assert data_file.header == ["a", "b"]
    assert rows == [(5, ["1", "2"])]


def test_cells_are_not_trimmed_and_spaces_are_not_blank(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b"a;b\n  x ; y\n \n;\n"))
    assert rows == [(2, ["  x ", " y"]), (3, [" "]), (4, ["", ""])]


def test_rows_of_any_width_are_yielded_as_they_are(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, b"a;b;c\n1\n1;2;3;4\n"))
    assert rows == [(2, ["1"]), (3, ["1", "2", "3", "4"])]


@pytest.mark.parametrize("separator", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028"])
def test_only_cr_and_lf_break_lines(tmp_path: Path, separator: str) -> None:
    text = f"a;b\nx{separator}y;z\n2;3\n"
    _, rows = read_all(write(tmp_path, text.encode()))
    assert rows == [(2, [f"x{separator}y", "z"]), (3, ["2", "3"])]


@pytest.mark.parametrize("has_header", [True, False])
def test_an_empty_file_is_not_an_error(tmp_path: Path, has_header: bool) -> None:
    data_file, rows = read_all(write(tmp_path, b""), has_header=has_header)
    assert data_file.header == ([] if has_header else None)
    assert rows == []


def test_a_file_of_blank_lines_is_empty(tmp_path: Path) -> None:
    data_file, rows = read_all(write(tmp_path, b"\r\n\n\r"))
    assert (data_file.header, rows) == ([], [])


def test_a_header_only_file(tmp_path: Path) -> None:
    data_file, rows = read_all(write(tmp_path, b"a;b"))
    assert (data_file.header, rows) == (["a", "b"], [])


# -- unclosed quotes, long fields, NUL ---------------------------------------------


@pytest.mark.parametrize("chunk_size", SMALL_CHUNKS)
def test_an_unclosed_quote_is_reported_where_its_record_starts(
    tmp_path: Path, chunk_size: int
) -> None:
    path = write(tmp_path, b'a;b\n1;2\n\n3;"never\nclosed\n4;5\n')
    error = read_error(path, chunk_size=chunk_size)
    assert str(error) == (
        f"{path}:4: a quoted field opened on this line is never closed; close the quote."
    )


def test_an_unclosed_quote_in_the_header_fails_at_open(tmp_path: Path) -> None:
    for delimiter in (";", None):
        error = read_error(write(tmp_path, b'a;"b\n1;2\n'), delimiter=delimiter)
        assert (error.line, error.message.startswith("a quoted field")) == (1, True)


def test_an_unclosed_quote_near_the_start_of_a_big_file_fails_fast(tmp_path: Path) -> None:
    row = "S-{0};Session title {0};2026-03-01;teacher{0}\n"
    with (tmp_path / "big.csv").open("w", encoding="utf-8", newline="") as out:
        out.write('title;x;start;teacher\nok;1;2;3\n"unclosed;x;y;z\n')
        for number in range(200_000):  # about 9 MB
            out.write(row.format(number))
    tracemalloc.start()
    try:
        seen = []
        with pytest.raises(DataFileError) as caught, open_data_file(tmp_path / "big.csv") as data:
            for record in data:
                seen.append(record.line)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [2]
    assert (caught.value.line, caught.value.message) == (
        3,
        "a field is longer than 131072 characters; check for an unclosed quote.",
    )
    assert peak < 4_000_000


def test_a_long_line_is_fed_in_pieces(tmp_path: Path) -> None:
    # with these chunk sizes every cut falls inside the quotes, where csv reads on
    long_cell = "x" * 100
    text = f'a;b\n"{long_cell}";"{long_cell}\n{long_cell}"\n1;2\n'
    path = write(tmp_path, text.encode())
    for chunk_size in (7, 64):
        data_file = DataFile(path, chunk_size=chunk_size, long_line=30)
        with data_file:
            rows = [(record.line, record.cells) for record in data_file]
        assert rows == [(2, [long_cell, f"{long_cell}\n{long_cell}"]), (4, ["1", "2"])]


def test_a_long_line_cut_outside_quotes_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, ("a;b\n1;2\n" + ";".join(["y" * 10] * 20) + "\n").encode())
    data_file = DataFile(path, chunk_size=16, long_line=50)
    with pytest.raises(DataFileError) as caught, data_file:
        list(data_file)
    assert (caught.value.line, caught.value.message) == (
        3,
        (
            "a line is longer than 50 characters; check that the file is delimited text"
            " with line breaks."
        ),
    )


def test_a_too_long_field_in_a_multi_line_record(tmp_path: Path) -> None:
    path = write(tmp_path, ('a;b\n\n1;"x\n' + "y" * 140_000 + '"\n2;3\n').encode())
    error = read_error(path)
    assert (error.line, error.message) == (
        3,
        "a field is longer than 131072 characters; check for an unclosed quote.",
    )


@pytest.mark.parametrize("chunk_size", SMALL_CHUNKS)
def test_a_nul_byte(tmp_path: Path, chunk_size: int) -> None:
    path = write(tmp_path, b"a;b\r\n1;2\r\n\r\n3;x\x00y\r\n")
    error = read_error(path, chunk_size=chunk_size)
    assert str(error) == (
        f"{path}:4: the file contains a NUL byte; it is not a text file or it is damaged."
    )


def test_a_nul_in_utf_16_text(tmp_path: Path) -> None:
    error = read_error(write(tmp_path, "a;b\n1;\x00\n".encode("utf-16")), encoding="utf-16")
    assert (error.line, error.message.startswith("the file contains a NUL byte")) == (2, True)


def test_utf_16_bytes_are_not_nul_bytes(tmp_path: Path) -> None:
    _, rows = read_all(write(tmp_path, "a;b\n1;2\n".encode("utf-16")), encoding="utf-16")
    assert rows == [(2, ["1", "2"])]


# -- the object ------------------------------------------------------------------


def test_records_are_frozen(tmp_path: Path) -> None:
    with open_data_file(write(tmp_path, b"a\n1\n")) as data_file:
        (record,) = list(data_file)
    assert record == Record(2, ["1"])
    with pytest.raises(AttributeError):
        record.line = 3  # type: ignore[misc]


def test_iteration_continues_and_stops_when_closed(tmp_path: Path) -> None:
    data_file = open_data_file(write(tmp_path, b"a\n1\n2\n3\n"))
    with data_file:
        assert next(iter(data_file)).line == 2
        assert [record.line for record in data_file] == [3, 4]
    with pytest.raises(ValueError):
        iter(data_file)


# -- property: whatever csv.writer writes, we read back -----------------------------

cell_text = st.lists(
    st.one_of(
        st.sampled_from([";", ",", "|", "\t", '"', "'", "=", "-", "\n", "\r\n", "\r", " ", "x"]),
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\ufeff"),
    ),
    max_size=12,
).map("".join)


def csv_text(rows: list[list[str]], delimiter: str, terminator: str, quote_all: bool) -> str:
    """What csv.writer writes. Python 3.11's writer only quotes the line break characters
    of its own terminator, so minimal quoting formats with \\r\\n and swaps the ending."""
    out = []
    for row in rows:
        buffer = io.StringIO(newline="")
        if quote_all:
            csv.writer(
                buffer, delimiter=delimiter, lineterminator=terminator, quoting=csv.QUOTE_ALL
            ).writerow(row)
            out.append(buffer.getvalue())
        else:
            csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(row)
            out.append(buffer.getvalue()[:-2] + terminator)
    return "".join(out)


def line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@pytest.fixture(scope="module")
def property_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("property")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(cell_text, min_size=1, max_size=5), min_size=1, max_size=8),
    delimiter=st.sampled_from([";", ",", "|", "\t"]),
    terminator=st.sampled_from(["\n", "\r\n", "\r"]),
    quote_all=st.booleans(),
    encoding=st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]),
    chunk_size=st.sampled_from([1, 2, 3, 7, 4096]),
    blank_lines=st.lists(st.booleans(), min_size=8, max_size=8),
)
def test_what_csv_writer_writes_is_read_back(
    property_folder: Path,
    rows: list[list[str]],
    delimiter: str,
    terminator: str,
    quote_all: bool,
    encoding: str,
    chunk_size: int,
    blank_lines: list[bool],
) -> None:
    text = ""
    expected = []
    for row, blank_before in zip(rows, blank_lines, strict=False):
        if blank_before:
            text += terminator
        expected.append((line_breaks(text) + 1, [restore_formula(cell) for cell in row]))
        text += csv_text([row], delimiter, terminator, quote_all)
    path = property_folder / "written.csv"
    path.write_bytes(text.encode(encoding))
    data_file = DataFile(
        path, encoding=encoding, delimiter=delimiter, has_header=False, chunk_size=chunk_size
    )
    with data_file:
        assert [(record.line, record.cells) for record in data_file] == expected


# -- memory ------------------------------------------------------------------------


def test_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "200k.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";")
        writer.writerow(["sessionTitle", "sessionStartDate", "teacherLogin", "note"])
        for number in range(200_000):
            writer.writerow([f"Session {number}", "2026-03-01", f"t{number % 97}", "a;b\nc"])
    assert path.stat().st_size > 7_000_000
    tracemalloc.start()
    try:
        rows = last_line = 0
        with open_data_file(path) as data_file:
            for record in data_file:
                rows, last_line = rows + 1, record.line
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (rows, last_line) == (200_000, 400_000)
    assert peak < 4_000_000


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(['"', '""', ";", "\n", "\r", "\r\n", "a", " ", "'=", "\x85", "é"]),
        max_size=30,
    ).map("".join),
    chunk_size=st.sampled_from([1, 2, 5, 4096]),
)
def test_any_text_reads_as_csv_reader_reads_it(
    property_folder: Path, text: str, chunk_size: int
) -> None:
    """Differential: the records are csv.reader's rows, blank ones left out, starting one
    line after the previous row ended; a row that csv completes only because the text
    ended (an unclosed quote) is an error instead."""
    exhausted = False

    def lines():  # type: ignore[no-untyped-def]
        nonlocal exhausted
        yield from io.StringIO(text, newline="")
        exhausted = True

    expected = []
    unclosed = False
    reference = csv.reader(lines(), delimiter=";")
    previous_end = 0
    for row in reference:
        unclosed = exhausted
        if row:
            expected.append((previous_end + 1, [restore_formula(cell) for cell in row]))
        previous_end = reference.line_num
    path = property_folder / "any.csv"
    path.write_bytes(text.encode())
    data_file = DataFile(path, has_header=False, chunk_size=chunk_size)
    with data_file:
        if unclosed:
            with pytest.raises(DataFileError) as caught:
                list(data_file)
            assert caught.value.line == expected[-1][0]
            assert caught.value.message.startswith("a quoted field opened on this line")
        else:
            assert [(record.line, record.cells) for record in data_file] == expected
