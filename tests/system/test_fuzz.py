"""Fuzzing: random and mutated data files and configurations through the real command.

Whatever the input, the command never ends in a traceback or a hang, exits with a
code of SPEC §2, and its report adds up and matches what the store holds:

- data files (random bytes, and CSV text mutated: delimiters, quotes, the three line
  breaks, NUL, invalid UTF-8, BOMs, long fields, blank lines, wrong widths) through
  `session-import run --report` against a valid session configuration;
- configurations (the sample and fixture configurations, mutated as trees and as bytes)
  through `session-import check`;
- the reader alone on random bytes: Records or DataFileError, nothing else, and the same
  outcome whatever the chunk size.

Each example runs under a deadline (SIGALRM), so a hang fails the test instead of
blocking the suite. The whole file takes about 30 s on two cores.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import sqlite3
import tempfile
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import HEADER, ROOT, SAMPLE_CONFIGS, SESSION_CONFIG, Workspace
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument
from lxml import etree

from session_import.cli import main
from session_import.render import terminal_safe
from session_import.sources import DataFile, DataFileError, Record, open_data_file

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=20 for a long hunt
EXAMPLE_SECONDS = 10  # per example: far above the slowest honest one, far below a hang


class Hang(BaseException):
    """An example ran past its deadline (a BaseException, so no `except Exception` hides it)."""


@contextmanager
def deadline(seconds: float = EXAMPLE_SECONDS):
    def expire(signum, frame):
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


FUZZ = settings(
    deadline=None,  # our own guard above: hypothesis' deadline flakes on a loaded machine
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    derandomize=False,
    print_blob=True,
)


# ---- a seeded store, made once and copied for each example ----


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory) -> Path:
    ws = Workspace(tmp_path_factory.mktemp("seeded"))
    ws.seed()
    sessions = ws.write("sessions.xml", SESSION_CONFIG.format(full_access="yes"))
    existing = ws.write(
        "existing.csv",
        "\n".join(
            [
                HEADER,
                "M;TP-001;Paris;;;open;2026-12-01;2026-12-01;jdupont;France;",
                "M;TP-001;Berlin;;;closed;2026-12-03;;amartin;;",
                "M;TP-002;Madrid;;;open;;;jdupont;;",
            ]
        )
        + "\n",
    )
    result = ws.run("run", sessions, existing)
    assert result.exit_code == 0, result.stderr
    return ws.db


def sessions_in(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("select count(*) from sessions").fetchone()[0]
    finally:
        conn.close()


# Three configurations: the bare form (header, delimiter detected), fullAccess no, and a
# positional provider (no header, columnsMapping) where wrong widths are reported per row.
POSITIONAL_CONFIG = """
<import-config><import id="positional">
  <providers><fileSystemSourceProvider>
    <fileName>never-listed.csv</fileName><skipFirstLine>no</skipFirstLine><delimiter>pipe</delimiter>
    <fileEncoding>ISO-8859-1</fileEncoding><dateFormat>DD/MM/YYYY HH:II</dateFormat><timezone>Europe/Paris</timezone>
    <columnsMapping><sessionAction/><trainingPathCode/><sessionTitle/><ignoredColumn/><teacherLogin/>
      <sessionStartDate/><sessionEndDate/></columnsMapping>
  </fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/><sessionStartDate/></sessionSearchField><fullAccess>yes</fullAccess></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><teacherLogin/><sessionStartDate/><sessionEndDate/></fields>
  </createOrUpdateSessionAction></actions>
</import></import-config>
"""
CONFIGS = {
    "bare": SESSION_CONFIG.format(full_access="yes"),
    "owned": SESSION_CONFIG.format(full_access="no"),
    "positional": POSITIONAL_CONFIG,
}

# ---- data files: a grammar of plausible rows, then byte-level damage ----

CELLS = (
    st.sampled_from(
        [
            "",
            " ",
            "M",
            "A",
            "m ",
            "X",
            "TP-001",
            "TP-002",
            "TP-009",
            "Paris",
            "Berlin",
            "Madrid",
            "Rome",
            "jdupont",
            "amartin",
            "nobody",
            "open",
            "closed",
            "archived",
            "France",
            "Atlantis",
            "NULL",
            "2026-12-01",
            "2026-12-01 10:00",
            "2026-02-30",
            "01/12/2026 10:00",
            "31/03/2026 02:30",
            "26/10/2025 02:30",
            "tomorrow",
            "999",
            "1",
            "-1",
            "0C6D0F5A-0000-4000-8000-000000000000",
            '=HYPERLINK("x")',
            "'=1+1",
            "+1",
            "@cmd",
            "\t",
            "é",
            "Ünïcödé ☃",
            "\u2028",
            "\x85",
            "\x0c",
            '"',
            '""',
            '"quoted;semi"',
            '"line\nbreak"',
            '"unterminated',
            ";",
            ",",
            "|",
            "\r",
            "\n",
            "\r\n",
        ]
    )
    | st.text(max_size=12)
    | st.builds(lambda ch, n: ch * n, st.sampled_from('xé"; '), st.integers(0, 5000))
)

HEADERS = st.sampled_from(
    [
        HEADER,
        HEADER.upper(),
        HEADER.replace("sessionTitle", " SESSIONTITLE "),
        HEADER.replace(";sessionTitle", ""),  # a mandatory column missing: the file fails (exit 3)
        HEADER.replace("sessionStatus", "sessionStatut"),
        "sessionTitle;teacherLogin",
        "",
        "a;b;c",
    ]
)


# Plausible values for each column, so that many rows apply and the store really changes.
HEADER_COLUMNS = {
    "sessionAction": ["M", "M", "A", "m ", "X", ""],
    "trainingPathCode": ["TP-001", "TP-001", "TP-002", "TP-009", ""],
    "sessionTitle": ["Paris", "Berlin", "Madrid", "Rome", "Lyon", "Nouvelle session", ""],
    "sessionGuid": ["", "", "", "0C6D0F5A-0000-4000-8000-000000000000"],
    "sessionId": ["", "", "", "1", "999"],
    "sessionStatus": ["open", "closed", "", "archived", "NULL"],
    "sessionStartDate": ["", "2026-12-01", "2026-12-05", "2026-02-30"],
    "sessionEndDate": ["", "2026-12-02", "2026-12-01", "NULL"],
    "teacherLogin": ["jdupont", "amartin", "jdupont", "nobody"],
    "groupName": ["", "", "France", "Atlantis"],
    "groupGuid": ["", "", "", "NOPE"],
}
POSITIONAL_COLUMNS = [
    ["M", "M", "A", "X"],
    ["TP-001", "TP-002", "TP-009", ""],
    ["Paris", "Berlin", "Rome", ""],
    ["whatever", ""],
    ["jdupont", "amartin", "nobody"],
    ["01/12/2026 10:00", "29/03/2026 02:30", "26/10/2025 02:30", "", "2026-12-01"],
    ["01/12/2026 12:00", "26/10/2025 03:00", "", "01/12/2026 09:00"],
]


@st.composite
def csv_text(draw, shape: str = "header") -> bytes:
    """Rows that mostly make sense (column by column), some cells hostile, then byte damage."""
    if shape == "header":
        delimiter = draw(st.sampled_from([";", ";", ",", "|", "\t"]))
        columns = list(HEADER_COLUMNS.values())
    else:
        delimiter = "|"
        columns = POSITIONAL_COLUMNS
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    lines = []
    if shape == "header" and draw(st.integers(0, 4)):
        lines.append(draw(HEADERS).replace(";", delimiter))
    for _ in range(draw(st.integers(0, 8))):
        width = draw(
            st.sampled_from([len(columns)] * 6 + [0, 1, len(columns) - 1, len(columns) + 1])
        )
        cells = []
        for i in range(width):
            plausible = columns[i] if i < len(columns) else [""]
            odds = draw(
                st.integers(0, 29)
            )  # 2/3 the usual value, 3/10 another plausible one, else hostile
            cells.append(
                plausible[0]
                if odds < 20
                else draw(st.sampled_from(plausible) if odds < 28 else CELLS)
            )
        lines.append(delimiter.join(cells))
    text = ending.join(lines) + draw(st.sampled_from([ending, "", ending * 3]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "latin-1", "utf-16"]))
    data = text.encode(encoding, errors="replace")
    if draw(st.booleans()):
        data = draw(st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b""])) + data
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
        data = draw(damage(data))
    return data


@st.composite
def damage(draw, data: bytes):
    """One byte-level mutation: insert, delete, flip, truncate or duplicate."""
    at = draw(st.integers(0, len(data)))
    kind = draw(st.sampled_from(["insert", "delete", "flip", "truncate", "duplicate"]))
    if kind == "insert":
        piece = draw(
            st.sampled_from(
                [
                    b"\x00",
                    b"\xff",
                    b"\xc3",
                    b"\xed\xa0\x80",
                    b"\xe2\x80",
                    b'"',
                    b"\r",
                    b"\n",
                    b"\r\n",
                    b";",
                    b"\xef\xbb\xbf",
                ]
            )
            | st.binary(max_size=8)
        )
        return data[:at] + piece + data[at:]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 16)) :]
    if kind == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    return data[:at] + data[at : at + 64] + data[at:]


DATA = csv_text() | csv_text("positional") | st.binary(max_size=400)

FILE_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+): \S")


def run_cli(args: list[str]):
    with deadline():
        return CliRunner().invoke(main, args, catch_exceptions=False)


def _event(text: str) -> None:
    """hypothesis' event(), also when check_run serves a plain regression test."""
    with suppress(InvalidArgument):
        event(text)


def check_run(seeded_db: Path, config_name: str, data: bytes, dry_run: bool) -> None:
    """One `session-import run` of ``data``, and everything the report and the store must agree on."""
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        db = folder / "store.db"
        shutil.copy(seeded_db, db)
        before = sessions_in(db)
        config = folder / f"{config_name}.xml"
        config.write_text(CONFIGS[config_name])
        path = folder / "data.csv"
        path.write_bytes(data)
        report_path, rejects_path = folder / "report.json", folder / "rejects.csv"
        args = (
            [
                "run",
                "--db",
                str(db),
                "--report",
                str(report_path),
                "--rejects",
                str(rejects_path),
                "--no-progress",
                "--force",
            ]
            + (["--dry-run"] if dry_run else [])
            + [str(config), str(path)]
        )
        result = run_cli(args)
        assert result.exit_code in (0, 1, 3), (result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        report = json.loads(report_path.read_text())
        assert report["exit_code"] == result.exit_code
        assert report["dry_run"] is dry_run
        (file_report,) = report["files"]
        counts = file_report["counts"]
        assert counts["rows"] == sum(
            counts[k] for k in ("created", "updated", "unchanged", "cancelled", "rejected")
        )
        assert counts["rejected"] == len(file_report["rejected"])
        assert all(
            row["messages"] and all(m.strip() for m in row["messages"])
            for row in file_report["rejected"]
        )
        error = file_report.get("error")
        assert counts["warnings"] == sum(len(w["messages"]) for w in file_report["warnings"])
        lines = [row["line"] for row in file_report["rejected"]]
        assert lines == sorted(set(lines)) and all(line >= 1 for line in lines)
        _event(f"exit {result.exit_code}")
        _event("some row applied" if counts["rows"] > counts["rejected"] else "no row applied")
        if error is not None:
            assert result.exit_code == 3
            where = FILE_LINE.match(error)
            assert where and where["file"] == str(path), error
            assert terminal_safe(error) in result.stderr  # control characters shown escaped
            assert counts["rows"] == 0
        elif counts["rejected"] == 0:
            assert result.exit_code == 0
        elif counts["rejected"] == counts["rows"]:
            assert result.exit_code == 3
        else:
            assert result.exit_code == 1
        for row in file_report["rejected"]:
            assert f"{path}:{row['line']}: " in result.stderr
        assert rejects_path.exists() == bool(counts["rejected"])
        after = sessions_in(db)
        if dry_run or error is not None:
            assert after == before
        else:
            assert after == before + counts["created"] - counts["cancelled"]


@settings(FUZZ, max_examples=300 * SCALE)
@given(config_name=st.sampled_from(sorted(CONFIGS)), data=DATA, dry_run=st.booleans())
@example(config_name="bare", data=b"", dry_run=False)
@example(config_name="bare", data=b"\xef\xbb\xbf", dry_run=False)
@example(config_name="bare", data=b"\x00", dry_run=False)
@example(
    config_name="bare",
    data=(HEADER + '\rM;TP-001;"a\rb";;;open;;;jdupont;;\r').encode(),
    dry_run=False,
)
@example(
    config_name="bare",
    data=(HEADER + "\n\n\nM;TP-001;T;;;open;;;jdupont;;\n\n").encode(),
    dry_run=False,
)
@example(
    config_name="bare",
    data=(HEADER + '\nM;TP-001;"never closed;;;open;;;jdupont;;\n').encode(),
    dry_run=False,
)
@example(config_name="positional", data=b"M|TP-001|T|x|jdupont|01/12/2026 10:00\n", dry_run=False)
@example(
    config_name="positional",
    data=b"M|TP-001|T|x|jdupont|29/03/2026 02:30|29/03/2026 03:30\n",
    dry_run=False,
)
@example(
    config_name="owned", data=(HEADER + "\nA;TP-001;Paris;;;;;;jdupont;;\n").encode(), dry_run=False
)
@example(
    config_name="bare",
    data=(HEADER + "\nM;TP-001;" + "x" * 200_000 + ";;;open;;;jdupont;;\n").encode(),
    dry_run=False,
)
@example(config_name="bare", data=(HEADER + '\nM;TP-001;"' + "x" * 140_000).encode(), dry_run=False)
def test_any_data_file_gives_a_report_that_adds_up(seeded_db, config_name, data, dry_run):
    check_run(seeded_db, config_name, data, dry_run)


# ---- configurations through `session-import check` ----

CONFIG_SEEDS = sorted(
    p
    for folder in (
        SAMPLE_CONFIGS,
        ROOT / "tests" / "fixtures" / "config",
        ROOT / "tests" / "fixtures" / "ck-examples",
        ROOT / "tests" / "cases",
    )
    for p in folder.rglob("*.xml")
)
TAGS = [
    "import",
    "actions",
    "fields",
    "options",
    "providers",
    "fileSystemSourceProvider",
    "path",
    "fileName",
    "sessionTitle",
    "sessionTitel",
    "sessionID",
    "sessionSearchField",
    "fullAccess",
    "mandatory",
    "columnsMapping",
    "ignoredColumn",
    "consolidators",
    "timeStampedFileErrorLogger",
    "location",
    "moveToBackupConsolidator",
    "backupFolder",
    "emailReport",
    "targetEmail",
    "safety",
    "maxRejects",
    "dateFormat",
    "timezone",
    "delimiter",
    "fileEncoding",
    "registerLearnerAction",
    "preProcess",
    "publishers",
    "import-config",
    "createOrUpdateSessionAction",
    "sessionAction",
    "createUpdate",
    "cancel",
    "x",
]
TEXTS = st.sampled_from(
    [
        "",
        " ",
        "yes",
        "no",
        "YES",
        "oui",
        "..",
        "../etc",
        "/abs/olute",
        "~/x",
        "in\ncoming",
        "a\tb",
        "M",
        "A",
        "DD/MM/YYYY",
        "%Y",
        "Europe/Paris",
        "Europe/Pariss",
        "10",
        "5%",
        "101%",
        "-1",
        "a@b.org",
        "not an address",
        "sessions_*.csv",
        "ISO-8859-1",
        "base64",
        "rot13",
        "utf-16",
        "semicolon",
        "tabulation",
        "&amp;",
        "&lt;x&gt;",
        "x" * 70_000,
        "é☃\u2028",
        "ye\ns",
        "yes\r\n no",
    ]
) | st.text(max_size=20)


@st.composite
def mutated_tree(draw, root) -> None:
    """Mutate ``root`` in place: drop, duplicate, rename, move, re-text, add attributes."""
    for _ in range(draw(st.integers(1, 4))):
        elements = [el for el in root.iter() if isinstance(el.tag, str)]
        el = draw(st.sampled_from(elements))
        kind = draw(
            st.sampled_from(
                ["drop", "duplicate", "rename", "text", "attribute", "child", "tail", "wrap"]
            )
        )
        parent = el.getparent()
        if kind == "drop" and parent is not None:
            parent.remove(el)
        elif kind == "duplicate" and parent is not None:
            parent.insert(parent.index(el), copy.deepcopy(el))
        elif kind == "rename":
            el.tag = draw(st.sampled_from(TAGS))
        elif kind == "text":
            el.text = draw(TEXTS)
        elif kind == "attribute":
            el.set(draw(st.sampled_from(["id", "x", "mandatory", "pathCode"])), draw(TEXTS))
        elif kind == "child":
            child = etree.SubElement(el, draw(st.sampled_from(TAGS)))
            child.text = draw(st.none() | TEXTS)
        elif kind == "tail":
            el.tail = draw(TEXTS)
        elif kind == "wrap" and parent is not None:
            wrapper = etree.Element(draw(st.sampled_from(TAGS)))
            parent.replace(el, wrapper)
            wrapper.append(el)


def _xml_safe(text: str) -> str:
    """What lxml accepts as text: XML 1.0 characters only (byte mutations bring the rest)."""
    return re.sub(r"[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]", "?", text)


@st.composite
def config_bytes(draw) -> bytes:
    seed = draw(st.sampled_from(CONFIG_SEEDS))
    data = seed.read_bytes()
    if draw(st.booleans()):
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            root = None
        if root is not None:
            for el in root.iter():
                if isinstance(el.tag, str):
                    el.text = _xml_safe(el.text) if el.text else el.text
            try:
                draw(mutated_tree(root))
                data = etree.tostring(root, xml_declaration=draw(st.booleans()), encoding="utf-8")
            except ValueError:  # a text lxml refuses (e.g. a control character)
                pass
    for _ in range(draw(st.integers(0, 2))):
        kind = draw(st.sampled_from(["bytes", "entity", "truncate", "nothing"]))
        at = draw(st.integers(0, len(data)))
        if kind == "bytes":
            data = draw(damage(data))
        elif kind == "entity":
            piece = draw(
                st.sampled_from(
                    [
                        b"&xxe;",
                        b"&#0;",
                        b"&#x1F;",
                        b"&#65536;",
                        b"&#xD800;",
                        b"<!DOCTYPE a [<!ENTITY x 'y'>]>",
                        b"<!ENTITY x SYSTEM 'file:///etc/passwd'>",
                        b"<![CDATA[..]]>",
                        b"<?pi x?>",
                        b"<!-- c -->",
                        b"<x:y xmlns:x='u'/>",
                        b"\xef\xbb\xbf",
                        b"<?xml version='1.0' encoding='latin-1'?>",
                    ]
                )
            )
            data = data[:at] + piece + data[at:]
        elif kind == "truncate":
            data = data[:at]
    return data


def check_config(data: bytes, name: str = "config.xml") -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        result = run_cli(["check", "--db", str(Path(folder) / "store.db"), str(path)])
        assert result.exit_code in (0, 4), (result.exit_code, result.stdout, result.stderr)
        assert "Traceback" not in result.stdout + result.stderr
        lines = result.stderr.splitlines()
        _event(f"exit {result.exit_code}")
        if result.exit_code == 4:
            assert lines, result.stdout
        # every line on stderr (errors, and the warnings of a valid config) is FILE:LINE: message
        for line in lines:
            where = FILE_LINE.match(line)
            assert where and where["file"] == str(path), (line, result.stderr)
        if result.exit_code == 0:
            assert result.stdout.rstrip().endswith(f"{path}: the configuration is valid.")


@settings(FUZZ, max_examples=300 * SCALE)
@given(data=config_bytes())
@example(data=b"")
@example(data=b"<\x00?xml version='1.0'?><actions/>")  # lxml's message ended in a line break
@example(data=b"<actions/>")
@example(data=b"<import-config><import id='a'/><import id='a'/></import-config>")
@example(data=(SAMPLE_CONFIGS / "sessions.xml").read_bytes()[:200])
@example(
    data=b"<actions><createOrUpdateSessionAction><options><fullAccess>ye\ns</fullAccess></options>"
    b"<fields><sessionTitle/></fields></createOrUpdateSessionAction></actions>"
)
def test_any_configuration_is_valid_or_refused_with_file_and_line(data):
    check_config(data)


@settings(FUZZ, max_examples=60 * SCALE)
@given(data=st.binary(max_size=300))
def test_random_bytes_as_configuration(data):
    check_config(data)


# ---- the reader alone ----

ENCODINGS = [
    "utf-8",
    "utf-8-sig",
    "latin-1",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "cp1252",
    "ascii",
    "utf-32",
    "utf-32-le",
    "shift_jis",
]


def read_all(path: Path, *, chunk_size: int | None = None, long_line: int | None = None, **options):
    """Every record and the error that stopped the reading, as plain values."""
    sizes = {
        k: v for k, v in (("chunk_size", chunk_size), ("long_line", long_line)) if v is not None
    }
    records, error, header = [], None, None
    try:
        with (
            DataFile(path, **options, **sizes) if sizes else open_data_file(path, **options)
        ) as data:
            header = data.header
            for record in data:
                assert isinstance(record, Record)
                records.append((record.line, list(record.cells)))
    except DataFileError as exc:
        error = (exc.line, exc.message)
        assert str(exc).startswith(f"{path}:{exc.line}: ")
    return header, records, error


READER_BYTES = st.binary(max_size=300) | csv_text() | csv_text("positional")


@settings(FUZZ, max_examples=300 * SCALE)
@given(
    data=READER_BYTES,
    encoding=st.sampled_from(ENCODINGS),
    delimiter=st.sampled_from([None, ";", ",", "|", "\t"]),
    has_header=st.booleans(),
)
@example(data=b"a;b\r", encoding="utf-8", delimiter=None, has_header=True)
@example(data=b'"a\r\nb";c\rd', encoding="utf-8", delimiter=None, has_header=False)
@example(data=b"\xef\xbb\xbf\xef\xbb\xbfa", encoding="utf-8", delimiter=";", has_header=True)
def test_the_reader_yields_records_or_a_data_file_error(
    tmp_path_factory, data, encoding, delimiter, has_header
):
    path = tmp_path_factory.mktemp("reader") / "data.csv"
    path.write_bytes(data)
    options = {"encoding": encoding, "delimiter": delimiter, "has_header": has_header}
    with deadline():
        header, records, error = read_all(path, **options)
        lines = [line for line, _ in records]
        assert lines == sorted(set(lines)) and all(line >= 1 for line in lines)
        assert all(isinstance(c, str) and "\x00" not in c for _, cells in records for c in cells)
        assert all(cells for _, cells in records)  # a blank line is no record
        if has_header:
            assert header is not None or error is not None
        # the outcome, message included, never depends on where the chunks are cut
        assert read_all(path, chunk_size=7, **options) == (header, records, error)


# ---- bugs the fuzzers found, kept as regression tests (all three fixed) ----
# BUG 1 (a bare UnicodeError out of the reader for a BOM-less UTF-16/UTF-32 file) was fixed in
# reader.py while this file was written; its test stays as a regression test.


@pytest.mark.parametrize(
    ("encoding", "data"),
    [
        ("utf-16", b"\x00\x00"),
        ("utf-16", "a;b\nc;d\n".encode("utf-16-le")),
        ("utf-32", "a;b\nc;d\n".encode("utf-32-le")),
    ],
)
def test_bug1_a_bom_less_utf16_or_utf32_file_is_a_data_file_error(tmp_path, encoding, data):
    """Python's UTF-16/UTF-32 incremental decoders raise a bare UnicodeError, not a
    UnicodeDecodeError, for a stream that does not start with a BOM."""
    path = tmp_path / "data.csv"
    path.write_bytes(data)
    try:  # read (by sniffing the byte order) or refused with file and line: never a bare UnicodeError
        with open_data_file(path, encoding=encoding) as records:
            list(records)
    except DataFileError as exc:
        assert str(exc).startswith(f"{path}:1: ")


def test_bug2_a_file_that_fails_as_a_whole_counts_the_warnings_it_lists(seeded_db):
    """A header warning (line 1), then an unclosed quote on line 2: the file fails as a whole,
    the report lists the warning but counts 0 warnings (the terminal says '0 warnings' and
    prints one)."""
    header = HEADER.replace("sessionStatus", "sessionStatut")
    check_run(
        seeded_db, "bare", (header + '\nM;";Paris;;;open;;;jdupont;;\n').encode(), dry_run=False
    )


def test_bug3_a_bom_less_utf16_file_gets_one_message_whatever_the_chunk_size(tmp_path):
    """No BOM, and a lone surrogate at byte 8: 256 KiB chunks say 'cannot be decoded as utf-16 at
    byte 8', 7-byte chunks say 'the file does not start with a byte order mark'."""
    path = tmp_path / "data.csv"
    path.write_bytes(b"\x00" * 9 + b"\xd8\x00\x00")
    options = {"encoding": "utf-16", "delimiter": None, "has_header": False}
    assert read_all(path, **options) == read_all(path, chunk_size=7, **options)
