"""Consolidators: the error log, the move to backup, the e-mail report, the deletion.

Unit tests call ``run_consolidators`` with FileReports built here; end-to-end tests
drive ``session-import run``. Every e-mail goes to a real SMTP server (aiosmtpd) on
127.0.0.1, with a certificate made for the test run; every server is stopped in
its fixture's teardown and every client call is bounded by a short timeout.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from conftest import HEADER, rows
from smtp import Inbox, SmtpServer, free_port, smtp_server  # noqa: F401  (a fixture)

from session_import import consolidators
from session_import.config import ConsolidatorConfig, ImportConfig
from session_import.consolidators import run_consolidators, scrub
from session_import.outputs import write_rejects
from session_import.report import (
    ConsolidatorFailure,
    FileReport,
    RejectedRow,
    Report,
)

SENTINEL = "S3ntinel-pa55"


@pytest.fixture(autouse=True)
def short_smtp_timeout(monkeypatch):
    monkeypatch.setattr(consolidators, "SMTP_TIMEOUT", 5)


@pytest.fixture
def dropping_server():
    """A port that accepts a connection and closes it at once, before the SMTP greeting."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    stop = threading.Event()

    def accept_and_drop():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=accept_and_drop, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=5)
    listener.close()


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path, name: str, subject_alt_names: str) -> Certificate:
    """A self-signed certificate, made for the test run and never committed."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName={subject_alt_names}",
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return Certificate(cert, key)


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> Certificate:
    """Valid for 127.0.0.1 and localhost."""
    return make_certificate(
        tmp_path_factory.mktemp("tls"), "loopback", "IP:127.0.0.1,DNS:localhost"
    )


@pytest.fixture(scope="module")
def other_host_certificate(tmp_path_factory) -> Certificate:
    """Trusted, but made out for another host than the one the client connects to."""
    return make_certificate(
        tmp_path_factory.mktemp("tls"), "mail.example.org", "DNS:mail.example.org"
    )


# ---- building what the pipeline hands over ----

WHEN = datetime(2026, 11, 24, 3, 5, 9, 123456)
STAMP = "20261124-030509-123"  # to the millisecond
SESSION_ACTION = "createOrUpdateSessionAction"
STATUS_MISSING = "Column sessionStatus is missing from the header; the field is left as it is."
BOOKED = "Teacher jdupont is already booked on session Rome (6F9619FF-8B86-D011-B42D-00C04FC964FF) at that time."
GOOD = "M;TP-001;Paris;;;open;2026-12-01;;jdupont;;"
BAD = "M;TP-001;=Bad;;;open;;;<nobody>;;"
WARNED = "M;TP-001;Lyon;;;open;2026-12-01;;jdupont;;"


def data_file(root: Path, name: str = "sessions_1.csv", encoding: str = "utf-8") -> Path:
    path = root / "drop" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rows(GOOD, BAD, WARNED).encode(encoding))
    return path


def partial_report(
    path: Path,
    action: str = SESSION_ACTION,
    title: str = "=Bad",
    more_messages: tuple[str, ...] = (),
) -> FileReport:
    """Line 2 created, line 3 rejected, line 4 created with a warning; a file-level warning."""
    report = FileReport(str(path), "nightly", action)
    report.header = HEADER.split(";")
    report.counts.update(rows=3, created=2, rejected=1)
    cells = BAD.split(";")
    cells[2] = title
    report.rejected.append(
        RejectedRow(
            3,
            {"sessionTitle": title, "teacherLogin": "<nobody>"},
            ["Teacher with login <nobody> is not found.", *more_messages],
            cells,
        )
    )
    report.add_warning(1, [STATUS_MISSING])
    report.add_warning(4, [BOOKED], WARNED.split(";"))
    report.run_id = 7
    return report


def clean_report(path: Path) -> FileReport:
    report = FileReport(str(path), "nightly", SESSION_ACTION)
    report.header = HEADER.split(";")
    report.counts.update(rows=3, created=3)
    return report


def failed_reports(path: Path, error: str) -> list[FileReport]:
    """A file that failed as a whole, as the pipeline leaves it: every action's report fails."""
    reports = [partial_report(path), partial_report(path, "createOrUpdateTrainingCourseAction")]
    for r in reports:
        r.fail(error)
    return reports


def consolidator(
    name: str, disabled: bool = False, **options: str | tuple[str, ...]
) -> ConsolidatorConfig:
    values = {k: v if isinstance(v, tuple) else (v,) for k, v in options.items()}
    return ConsolidatorConfig(name, values, disabled, 1)


def logger(folder: Path, **kw) -> ConsolidatorConfig:
    return consolidator("timeStampedFileErrorLogger", location=str(folder), **kw)


def backup(folder: Path, timestamp: str = "no", **kw) -> ConsolidatorConfig:
    return consolidator(
        "moveToBackupConsolidator", backupFolder=str(folder), timestamp=timestamp, **kw
    )


def mailer(*to: str, **kw) -> ConsolidatorConfig:
    return consolidator("emailReport", targetEmail=to or ("admin@example.org",), **kw)


def deleter(**kw) -> ConsolidatorConfig:
    return consolidator("deleteProcessedFilesConsolidator", **kw)


def run(
    path: Path,
    reports: list[FileReport],
    *configured: ConsolidatorConfig,
    environ: dict[str, str] | None = None,
) -> list[ConsolidatorFailure]:
    """The consolidators in CrossKnowledge's order, as the configuration parser hands them over."""
    order = [
        "timeStampedFileErrorLogger",
        "moveToBackupConsolidator",
        "emailReport",
        "deleteProcessedFilesConsolidator",
    ]
    imp = ImportConfig(
        "nightly", None, (), tuple(sorted(configured, key=lambda c: order.index(c.name)))
    )
    return run_consolidators(imp, path, reports, WHEN, environ or {})


def errors(failures: list[ConsolidatorFailure]) -> list[str]:
    return [f.error for f in failures]


# ---- timeStampedFileErrorLogger ----


def test_error_log_one_line_per_message_in_line_order(tmp_path):
    path = data_file(tmp_path)
    location = tmp_path / "logs" / "nightly"  # missing folders are created
    assert run(path, [partial_report(path)], logger(location)) == []
    (log,) = location.iterdir()
    assert log.name == f"{STAMP}_sessions_1.csv.log"
    assert log.read_text(encoding="utf-8") == (
        f"Line number:1,WARNING,{STATUS_MISSING}\n"
        "Line number:3,ERROR,M,TP-001,'=Bad,,,open,,,<nobody>,,,Teacher with login <nobody> is not found.\n"
        f"Line number:4,WARNING,{WARNED.replace(';', ',')},{BOOKED}\n"
    )


def test_error_log_of_several_actions_sorted_together(tmp_path):
    path = data_file(tmp_path)
    sessions = partial_report(path)
    trainings = FileReport(str(path), "nightly", "createOrUpdateTrainingCourseAction")
    trainings.rejected.append(
        RejectedRow(2, {}, ["Field trainingTitle is empty.", "Other."], ["a", "b"])
    )
    trainings.add_warning(3, ["Careful."], ["c", "d"])
    run(path, [sessions, trainings], logger(tmp_path / "logs"))
    (log,) = (tmp_path / "logs").iterdir()
    assert [line.split(",")[0:2] for line in log.read_text().splitlines()] == [
        ["Line number:1", "WARNING"],
        ["Line number:2", "ERROR"],
        ["Line number:2", "ERROR"],
        ["Line number:3", "ERROR"],
        ["Line number:3", "WARNING"],
        ["Line number:4", "WARNING"],
    ]


def test_error_log_keeps_one_message_a_line(tmp_path):
    path = data_file(tmp_path)
    report = FileReport(str(path), "nightly", SESSION_ACTION)
    report.rejected.append(
        RejectedRow(5, {}, ["Field sessionTitle is empty."], ["M", "two\nlines\r\nhere", ""])
    )
    run(path, [report], logger(tmp_path / "logs"))
    (log,) = (tmp_path / "logs").iterdir()
    assert (
        log.read_text()
        == "Line number:5,ERROR,M,two\\nlines\\nhere,,Field sessionTitle is empty.\n"
    )


def test_error_log_of_a_file_that_failed_as_a_whole(tmp_path):
    path = data_file(tmp_path)
    error = f"{path}:7: the file has an unterminated quote."
    run(path, failed_reports(path, error), logger(tmp_path / "logs"))
    (log,) = (tmp_path / "logs").iterdir()
    lines = log.read_text().splitlines()
    # one ERROR line for the file, whatever the number of actions; its warnings stay in line order
    assert [line for line in lines if ",ERROR," in line] == [f"Line number:7,ERROR,{error}"]
    assert lines[0] == f"Line number:1,WARNING,{STATUS_MISSING}"


def test_error_log_of_a_safety_limit_names_line_1(tmp_path):
    path = data_file(tmp_path)
    error = f"{path}: 3 rows rejected, more than --max-rejects 2; nothing of the file was applied."
    run(path, failed_reports(path, error)[:1], logger(tmp_path / "logs"))
    (log,) = (tmp_path / "logs").iterdir()
    assert f'Line number:1,ERROR,"{error}"\n' in log.read_text()  # quoted: it holds a comma


def test_error_log_quotes_and_neutralises_cells_as_csv_does(tmp_path):
    """A value with a comma or a quote is quoted, a formula gets its leading ', as in every CSV
    the tool writes: the log reads back cell for cell with a CSV reader."""
    path = data_file(tmp_path)
    report = FileReport(str(path), "nightly", SESSION_ACTION)
    cells = [
        "M",
        "=cmd|' /C calc'!A0",
        "Paris, Lyon",
        'say "hi"',
        "+1",
        "@SUM(A1)",
        "-2",
        "\tx",
        "",
    ]
    message = "Training with training path code A, title B is not found."
    report.rejected.append(RejectedRow(2, {}, [message], cells))
    report.add_warning(3, ["Teacher =x is already booked."], ['=HYPERLINK("http://x")', "a,b"])
    run(path, [report], logger(tmp_path / "logs"))
    (log,) = (tmp_path / "logs").iterdir()
    text = log.read_text()
    assert text == (
        'Line number:2,ERROR,M,\'=cmd|\' /C calc\'!A0,"Paris, Lyon","say ""hi""",\'+1,\'@SUM(A1),\'-2,\'\tx,,'
        '"Training with training path code A, title B is not found."\n'
        'Line number:3,WARNING,"\'=HYPERLINK(""http://x"")","a,b",Teacher =x is already booked.\n'
    )
    import csv

    first, second = csv.reader(text.splitlines())
    assert first == [
        "Line number:2",
        "ERROR",
        "M",
        "'=cmd|' /C calc'!A0",
        "Paris, Lyon",
        'say "hi"',
        "'+1",
        "'@SUM(A1)",
        "'-2",
        "'\tx",
        "",
        message,
    ]
    assert second[2:] == ['\'=HYPERLINK("http://x")', "a,b", "Teacher =x is already booked."]


def test_a_clean_file_gets_no_log(tmp_path):
    """Clean: no rejected row, no warning, no error. The folder is not even created."""
    path = data_file(tmp_path)
    assert run(path, [clean_report(path)], logger(tmp_path / "logs")) == []
    assert not (tmp_path / "logs").exists()


def test_error_log_folder_that_cannot_be_created(tmp_path):
    path = data_file(tmp_path)
    (tmp_path / "a-file").write_text("x")
    location = tmp_path / "a-file" / "logs"
    failures = run(path, [partial_report(path)], logger(location))
    assert failures == [
        ConsolidatorFailure(
            "timeStampedFileErrorLogger",
            str(path),
            f"The {location} directory can not be found nor created.",
        )
    ]


def test_error_log_never_replaces_a_file_of_its_name(tmp_path):
    """Two files of the same name logged in the same millisecond (a `*/export.csv` glob, two
    imports sharing a log folder), or anything already there: the new log takes the next name."""
    path = data_file(tmp_path)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"{STAMP}_sessions_1.csv.log").write_text("an earlier log\n")
    (logs / f"{STAMP}_sessions_1.csv-2.log").mkdir()  # a folder is in the way too
    for _ in range(2):
        assert run(path, [partial_report(path)], logger(logs)) == []
    assert (logs / f"{STAMP}_sessions_1.csv.log").read_text() == "an earlier log\n"
    written = [logs / f"{STAMP}_sessions_1.csv-3.log", logs / f"{STAMP}_sessions_1.csv-4.log"]
    assert sorted(logs.iterdir()) == sorted(
        [logs / f"{STAMP}_sessions_1.csv.log", logs / f"{STAMP}_sessions_1.csv-2.log", *written]
    )
    assert written[0].read_text() == written[1].read_text() != ""


@pytest.fixture
def small_file_system(tmp_path):
    """A real tmpfs of 64 KiB mounted for the test (root only): a disk that fills up."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mount_point)],
        capture_output=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True, timeout=30)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to its last byte."""
    with open(folder / "filler", "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"x" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC


def test_error_log_on_a_full_disk_leaves_no_empty_log(tmp_path, small_file_system):
    path = data_file(tmp_path)
    logs = small_file_system / "logs"
    logs.mkdir()
    fill(small_file_system)
    failures = run(path, [partial_report(path)], logger(logs))
    assert [
        (p.name, p.stat().st_size) for p in logs.iterdir()
    ] == []  # no 0-byte log, no temporary file
    assert errors(failures) == [
        f"Could not open the file {logs / f'{STAMP}_sessions_1.csv.log'} for writing."
    ]


# ---- moveToBackupConsolidator ----


def test_move_to_backup_with_and_without_timestamp(tmp_path):
    first, second = data_file(tmp_path, "a.csv"), data_file(tmp_path, "b.csv")
    content = first.read_bytes()
    assert run(first, [clean_report(first)], backup(tmp_path / "backup", timestamp="yes")) == []
    assert run(second, [clean_report(second)], backup(tmp_path / "backup")) == []
    assert sorted(p.name for p in (tmp_path / "backup").iterdir()) == [f"{STAMP}_a.csv", "b.csv"]
    assert (tmp_path / "backup" / f"{STAMP}_a.csv").read_bytes() == content
    assert not first.exists() and not second.exists()


@pytest.mark.parametrize("timestamp", ["yes", "no"])
def test_a_backup_never_replaces_a_file(tmp_path, timestamp):
    """Two `export.csv` backed up in the same millisecond (a `*/export.csv` glob, two imports
    sharing a backup folder), or the same name every night without timestamp: each one is kept."""
    folder = tmp_path / "backup"
    contents = []
    for n in range(3):
        path = tmp_path / f"in{n}" / "export.csv"
        path.parent.mkdir()
        path.write_text(f"file {n}\n")
        contents.append(path.read_bytes())
        assert run(path, [clean_report(path)], backup(folder, timestamp=timestamp)) == []
        assert not path.exists()
    prefix = f"{STAMP}_" if timestamp == "yes" else ""
    names = [f"{prefix}export.csv", f"{prefix}export-2.csv", f"{prefix}export-3.csv"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert [(folder / name).read_bytes() for name in names] == contents


@pytest.mark.parametrize("timestamp", ["yes", "no"])
def test_where_hard_links_are_refused_a_backup_still_never_replaces_a_file(
    tmp_path, monkeypatch, timestamp
):
    """A file system without hard links, or Linux' protected_hardlinks for another user's file
    (neither can be made here as root: os.link is made to fail as they make it fail): the
    name is reserved by an exclusive create, then the file renamed onto that placeholder."""

    def no_links(*args, **kwargs):
        raise PermissionError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", no_links)
    folder = tmp_path / "backup"
    contents = []
    for n in range(3):
        path = tmp_path / f"in{n}" / "export.csv"
        path.parent.mkdir()
        path.write_text(f"file {n}\n")
        contents.append(path.read_bytes())
        assert run(path, [clean_report(path)], backup(folder, timestamp=timestamp)) == []
        assert not path.exists()
    prefix = f"{STAMP}_" if timestamp == "yes" else ""
    names = [f"{prefix}export.csv", f"{prefix}export-2.csv", f"{prefix}export-3.csv"]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    assert [(folder / name).read_bytes() for name in names] == contents


def other_file_system(tmp_path: Path) -> Path:
    shm = Path("/dev/shm")
    if not (
        shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != tmp_path.stat().st_dev
    ):
        pytest.skip("no writable tmpfs at /dev/shm on another device")
    return Path(tempfile.mkdtemp(dir=shm, prefix="session-import-test-"))


@pytest.fixture
def elsewhere(tmp_path):
    """A folder on another file system than tmp_path (a real tmpfs): a move there is a copy."""
    folder = other_file_system(tmp_path)
    yield folder
    shutil.rmtree(folder)


def recorded(monkeypatch, events: list[tuple]) -> None:
    """Record the calls that make a backup durable and give it its name."""
    real_link, real_fsync, real_unlink = os.link, os.fsync, os.unlink

    def link(src, dst, *args, **kwargs):
        try:
            real_link(src, dst, *args, **kwargs)
        except OSError as exc:
            events.append(("link", Path(src).name, Path(dst).name, exc.errno))
            raise
        events.append(("link", Path(src).name, Path(dst).name, 0))

    def fsync(fd):
        events.append(("fsync",))
        return real_fsync(fd)

    def unlink(target, *args, **kwargs):
        events.append(("unlink", Path(target).name))
        return real_unlink(target, *args, **kwargs)

    monkeypatch.setattr(os, "link", link)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "unlink", unlink)


def test_move_across_file_systems_copies_syncs_names_then_deletes(tmp_path, elsewhere, monkeypatch):
    path = data_file(tmp_path)
    content, mtime = path.read_bytes(), 1_700_000_000
    os.utime(path, (mtime, mtime))
    folder = elsewhere / "backup"
    folder.mkdir()
    (folder / f"{STAMP}_sessions_1.csv").write_text("already there\n")
    events: list[tuple] = []
    recorded(monkeypatch, events)
    assert run(path, [clean_report(path)], backup(folder, timestamp="yes")) == []
    target = folder / f"{STAMP}_sessions_1-2.csv"  # the name in use is kept as it was
    assert target.read_bytes() == content and target.stat().st_mtime == mtime
    assert (folder / f"{STAMP}_sessions_1.csv").read_text() == "already there\n"
    assert not path.exists()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [target.name, f"{STAMP}_sessions_1.csv"]
    )
    # the name in use is refused as a link would refuse it; the free one is another file system
    assert events[:2] == [
        ("link", "sessions_1.csv", f"{STAMP}_sessions_1.csv", errno.EEXIST),
        ("link", "sessions_1.csv", target.name, errno.EXDEV),
    ]
    named = next(
        i for i, e in enumerate(events) if e[0] == "link" and e[2] == target.name and not e[3]
    )
    assert ("fsync",) in events[:named]  # the copy is on disk before it takes the backup's name
    assert events[named][1].startswith(".") and events[named][1].endswith(".part")
    assert events[-1] == ("unlink", "sessions_1.csv")  # the source goes last


def test_move_to_a_real_other_file_system(tmp_path, elsewhere):
    path = data_file(tmp_path)
    content = path.read_bytes()
    assert run(path, [clean_report(path)], backup(elsewhere / "backup")) == []
    assert [p.name for p in (elsewhere / "backup").iterdir()] == ["sessions_1.csv"]
    assert (elsewhere / "backup" / "sessions_1.csv").read_bytes() == content
    assert not path.exists()


def test_a_failed_copy_keeps_the_source_and_the_delete_keeps_it_too(tmp_path, small_file_system):
    """A real full disk: the copy to the other file system fails half-way."""
    path = data_file(tmp_path)
    path.write_bytes(path.read_bytes() * 2000)  # bigger than the 64 KiB file system
    content = path.read_bytes()
    folder = small_file_system / "backup"
    failures = run(path, [clean_report(path)], backup(folder), deleter())
    # the delete consolidator does not delete the only copy of a file whose backup failed
    assert failures == [
        ConsolidatorFailure(
            "moveToBackupConsolidator",
            str(path),
            f"Can not copy the file {path} to {folder / 'sessions_1.csv'}",
        )
    ]
    assert path.read_bytes() == content
    assert list(folder.iterdir()) == []  # the partial copy is removed


def test_a_source_that_cannot_be_deleted_after_its_copy(tmp_path, elsewhere):
    """The source really cannot be deleted: immutable (chattr +i) when root, who ignores
    modes; in a read-only folder otherwise."""
    path = data_file(tmp_path)
    content = path.read_bytes()
    if os.geteuid() == 0:
        protect = ["chattr", "+i", str(path)], ["chattr", "-i", str(path)]
    else:
        protect = ["chmod", "555", str(path.parent)], ["chmod", "755", str(path.parent)]
    if subprocess.run(protect[0], capture_output=True, timeout=30).returncode != 0:
        pytest.skip(f"{protect[0][0]} is not possible here")
    try:
        failures = run(path, [clean_report(path)], backup(elsewhere / "backup"), deleter())
    finally:
        subprocess.run(protect[1], check=True, timeout=30)
    assert failures == [
        ConsolidatorFailure(
            "moveToBackupConsolidator", str(path), f"Can not delete the file {path}"
        ),
        # the backup holds the file, so the delete consolidator tries again
        ConsolidatorFailure(
            "deleteProcessedFilesConsolidator", str(path), f"Can not delete file {path}."
        ),
    ]
    assert (elsewhere / "backup" / "sessions_1.csv").read_bytes() == content
    assert path.read_bytes() == content


def test_backup_folder_that_cannot_be_created(tmp_path):
    path = data_file(tmp_path)
    (tmp_path / "a-file").write_text("x")
    folder = tmp_path / "a-file" / "backup"
    failures = run(path, [clean_report(path)], backup(folder), deleter())
    assert errors(failures) == [
        f"The backup folder {folder} does not exists or can not be created."
    ]
    assert path.exists()


# ---- deleteProcessedFilesConsolidator, disabled, failed files ----


def test_delete_processed_file(tmp_path):
    path = data_file(tmp_path)
    assert run(path, [partial_report(path)], deleter()) == []
    assert not path.exists()
    # a file that is not there any more cannot be deleted
    assert run(path, [partial_report(path)], deleter()) == [
        ConsolidatorFailure(
            "deleteProcessedFilesConsolidator", str(path), f"Can not delete file {path}."
        ),
    ]


def test_nothing_to_delete_after_a_move(tmp_path):
    path = data_file(tmp_path)
    assert run(path, [clean_report(path)], deleter(), backup(tmp_path / "backup")) == []
    assert not path.exists() and (tmp_path / "backup" / "sessions_1.csv").exists()


def test_disabled_consolidators_do_nothing(tmp_path):
    path = data_file(tmp_path)
    configured = (
        logger(tmp_path / "logs", disabled=True),
        backup(tmp_path / "backup", disabled=True),
        mailer(disabled=True),
        deleter(disabled=True),
    )
    report = partial_report(path)
    assert run(path, [report], *configured) == []  # no SMTP_HOST, and no failure: the e-mail is off
    assert path.exists() and not (tmp_path / "logs").exists() and not (tmp_path / "backup").exists()
    assert report.email is None


def test_a_file_that_failed_as_a_whole_is_logged_and_mailed_never_moved_or_deleted(
    tmp_path, smtp_server
):
    server = smtp_server()
    path = data_file(tmp_path)
    reports = failed_reports(
        path, f"{path}:1: Mandatory column sessionTitle is missing from the header."
    )
    configured = (logger(tmp_path / "logs"), backup(tmp_path / "backup"), mailer(), deleter())
    assert run(path, reports, *configured, environ=server.env) == []
    assert path.exists() and not (tmp_path / "backup").exists()
    assert len(list((tmp_path / "logs").iterdir())) == 1
    (message,) = server.inbox.messages
    assert (
        message["Subject"]
        == "session-import: nightly sessions_1.csv: failed as a whole, nothing applied"
    )
    assert "Mandatory column sessionTitle is missing" in message.get_body(("plain",)).get_content()
    assert list(message.iter_attachments()) == []


def test_an_unexpected_error_is_reported_never_raised(tmp_path):
    path = data_file(tmp_path)
    broken = consolidator("timeStampedFileErrorLogger")  # no location: the parser never allows it
    assert errors(run(path, [partial_report(path)], broken, deleter())) == [
        "timeStampedFileErrorLogger failed: KeyError: 'location'",
    ]
    assert not path.exists()  # the next consolidators still ran


# ---- emailReport ----


def test_email_report_text_html_and_the_rejects_file(tmp_path, smtp_server):
    server = smtp_server()
    path = data_file(tmp_path, encoding="iso-8859-1")
    report = partial_report(
        path, title="=Bad été", more_messages=("Group with name Équipe is not found.",)
    )
    report.encoding = "ISO-8859-1"
    failures = run(
        path, [report], mailer("admin@example.org", "ops@example.org"), environ=server.env
    )
    assert failures == []
    assert report.email == {"sent": True, "error": None}
    (message,) = server.inbox.messages
    assert server.inbox.recipients == [["admin@example.org", "ops@example.org"]]
    assert message["Subject"] == "session-import: nightly sessions_1.csv: 3 rows, 1 rejected"
    assert message["From"] == "imports@example.org"
    assert message["To"] == "admin@example.org, ops@example.org"
    assert message["Date"] and message["Message-ID"]
    assert all(
        part["Content-Transfer-Encoding"] in (None, "7bit", "quoted-printable", "base64")
        for part in message.walk()
    )  # no relay needs 8BITMIME
    body = message.get_body(("related", "html", "plain"))
    assert message.get_content_type() == "multipart/mixed"
    assert body.get_content_type() == "text/html"
    assert next(message.iter_parts()).get_content_type() == "multipart/alternative"

    text = message.get_body(("plain",)).get_content()
    assert f"Import nightly, file {path}" in text
    assert (
        f"{SESSION_ACTION}: 3 rows: 2 created, 0 updated, 0 unchanged, 0 cancelled, 1 rejected, 2 warnings"
        in text
    )
    assert (
        "line 3: Teacher with login <nobody> is not found. Group with name Équipe is not found."
        in text
    )
    assert f"line 1: {STATUS_MISSING}" in text and f"line 4: {BOOKED}" in text
    assert "session-import history 7" in text

    page = message.get_body(("html",)).get_content()
    assert (
        "<td>3</td><td>Teacher with login &lt;nobody&gt; is not found. Group with name Équipe is not found.</td>"
        in page
    )
    assert "<nobody>" not in page
    assert "<td>3</td><td>2</td><td>0</td><td>0</td><td>0</td><td>1</td><td>2</td>" in page

    (attachment,) = message.iter_attachments()
    assert attachment.get_filename() == "sessions_1.rejects.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_param("charset") == "ISO-8859-1"
    # byte for byte what --rejects writes for that file
    expected = write_rejects(Report(files=[report]), tmp_path / "rejects.csv")[0].read_bytes()
    assert attachment.get_payload(decode=True) == expected
    assert attachment.get_content().splitlines() == [
        f"{HEADER};errors",
        (
            "M;TP-001;'=Bad été;;;open;;;<nobody>;;;Teacher with login <nobody> is not found. "
            "Group with name Équipe is not found."
        ),
    ]


def test_email_report_without_rejects_has_no_attachment(tmp_path, smtp_server):
    server = smtp_server()
    path = data_file(tmp_path, "sessions\n2.csv")  # a line break in a name never reaches a header
    report = clean_report(path)
    assert run(path, [report], mailer(), environ=server.env) == []
    (message,) = server.inbox.messages
    assert message["Subject"] == "session-import: nightly sessions 2.csv: 3 rows, 0 rejected"
    assert list(message.iter_attachments()) == []
    assert report.email == {"sent": True, "error": None}


def test_email_report_counts_a_row_rejected_by_two_actions_once(tmp_path, smtp_server):
    server = smtp_server()
    path = data_file(tmp_path)
    reports = [partial_report(path), partial_report(path, "createOrUpdateTrainingCourseAction")]
    assert run(path, reports, mailer(), environ=server.env) == []
    (message,) = server.inbox.messages
    assert message["Subject"] == "session-import: nightly sessions_1.csv: 3 rows, 1 rejected"
    assert all(r.email == {"sent": True, "error": None} for r in reports)


def test_starttls_with_a_certificate_the_client_trusts(tmp_path, smtp_server, certificate):
    server = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    path = data_file(tmp_path)
    # the private CA is taken from the environ given to the run, not from os.environ
    environ = server.env | {"SMTP_STARTTLS": "yes", "SSL_CERT_FILE": str(certificate.cert)}
    assert run(path, [partial_report(path)], mailer(), environ=environ) == []
    assert len(server.inbox.messages) == 1


def test_starttls_with_a_certificate_the_client_does_not_trust(tmp_path, smtp_server, certificate):
    server = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    path = data_file(tmp_path)
    report = partial_report(path)
    failures = run(path, [report], mailer(), environ=server.env | {"SMTP_STARTTLS": "yes"})
    assert report.email["sent"] is False
    assert report.email["error"].startswith(
        f"the e-mail could not be sent through 127.0.0.1:{server.port}: "
    )
    assert "CERTIFICATE_VERIFY_FAILED" in report.email["error"]
    assert failures == [ConsolidatorFailure("emailReport", str(path), report.email["error"])]
    assert server.inbox.messages == []


def test_starttls_with_a_certificate_for_another_host(
    tmp_path, smtp_server, other_host_certificate
):
    server = smtp_server(tls_context=other_host_certificate.server_context(), require_starttls=True)
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = server.env | {
        "SMTP_STARTTLS": "yes",
        "SSL_CERT_FILE": str(other_host_certificate.cert),
    }
    run(path, [report], mailer(), environ=environ)
    assert report.email["sent"] is False and "CERTIFICATE_VERIFY_FAILED" in report.email["error"]
    assert server.inbox.messages == []


def test_starttls_asked_but_not_offered_sends_nothing_in_clear(tmp_path, smtp_server):
    server = smtp_server(accept_login=True, auth_require_tls=False)
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = server.env | {
        "SMTP_STARTTLS": "yes",
        "SMTP_USER": "importer",
        "SMTP_PASSWORD": SENTINEL,
    }
    run(path, [report], mailer(), environ=environ)
    assert report.email == {
        "sent": False,
        "error": f"the e-mail could not be sent through 127.0.0.1:{server.port}: "
        "STARTTLS extension not supported by server.",
    }
    assert server.logins == [] and server.inbox.messages == []


def test_login_over_starttls(tmp_path, smtp_server, certificate):
    server = smtp_server(
        tls_context=certificate.server_context(), require_starttls=True, accept_login=True
    )
    path = data_file(tmp_path)
    environ = server.env | {
        "SMTP_STARTTLS": "yes",
        "SSL_CERT_FILE": str(certificate.cert),
        "SMTP_USER": "importer",
        "SMTP_PASSWORD": SENTINEL,
    }
    assert run(path, [partial_report(path)], mailer(), environ=environ) == []
    assert server.logins == [("importer", SENTINEL)]
    assert len(server.inbox.messages) == 1


def test_a_refused_login_is_reported_and_the_password_appears_nowhere(tmp_path, smtp_server):
    server = smtp_server(accept_login=False, auth_require_tls=False)
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = server.env | {
        "SMTP_USER": "importer",
        "SMTP_PASSWORD": SENTINEL,
        "SMTP_ALLOW_INSECURE_AUTH": "yes",
    }
    failures = run(path, [report], logger(tmp_path / "logs"), mailer(), environ=environ)
    refusal = f"the SMTP server 127.0.0.1:{server.port} refused the login of importer (535)."
    assert failures == [ConsolidatorFailure("emailReport", str(path), refusal)]
    assert report.email == {"sent": False, "error": refusal}
    assert set(server.logins) == {("importer", SENTINEL)} and server.inbox.messages == []
    written = json.dumps(Report(files=[report], consolidators=failures).to_json())
    logs = [p.read_text() for p in (tmp_path / "logs").iterdir()]
    assert not any(SENTINEL in text for text in [written, *logs, *errors(failures)])


def test_no_password_over_an_unencrypted_connection(tmp_path, smtp_server):
    """SMTP_USER without SMTP_STARTTLS or SMTP_TLS: refused before any connection, nothing sent;
    it used to log in with AUTH PLAIN in clear."""
    server = smtp_server(accept_login=True, auth_require_tls=False)  # a server that would take it
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = server.env | {"SMTP_USER": "importer", "SMTP_PASSWORD": SENTINEL}
    failures = run(path, [report], mailer(), environ=environ)
    refusal = (
        f"SMTP_USER is set but the connection to 127.0.0.1:{server.port} is not encrypted, so the "
        "password would travel in clear; set SMTP_STARTTLS=yes or SMTP_TLS=yes "
        "(or SMTP_ALLOW_INSECURE_AUTH=yes to accept that)."
    )
    assert errors(failures) == [refusal] and report.email == {"sent": False, "error": refusal}
    assert server.logins == [] and server.inbox.messages == []
    # the administrator's explicit choice
    assert (
        run(path, [report], mailer(), environ=environ | {"SMTP_ALLOW_INSECURE_AUTH": "yes"}) == []
    )
    assert server.logins == [("importer", SENTINEL)] and len(server.inbox.messages) == 1


def test_implicit_tls_with_a_login(tmp_path, smtp_server, certificate):
    """SMTP_TLS=yes: TLS from the first byte (SMTPS, port 465). The server below speaks only
    TLS (aiosmtpd's auth_require_tls only knows STARTTLS, hence False: the socket is TLS)."""
    server = smtp_server(
        ssl_context=certificate.server_context(), accept_login=True, auth_require_tls=False
    )
    path = data_file(tmp_path)
    environ = server.env | {
        "SMTP_TLS": "yes",
        "SSL_CERT_FILE": str(certificate.cert),
        "SMTP_USER": "importer",
        "SMTP_PASSWORD": SENTINEL,
    }
    assert run(path, [partial_report(path)], mailer(), environ=environ) == []
    assert server.logins == [("importer", SENTINEL)]
    assert len(server.inbox.messages) == 1
    # the same server, its certificate not trusted: nothing sent, no login
    report = partial_report(path)
    del environ["SSL_CERT_FILE"]
    run(path, [report], mailer(), environ=environ)
    assert report.email["sent"] is False and "CERTIFICATE_VERIFY_FAILED" in report.email["error"]
    assert len(server.logins) == 1 and len(server.inbox.messages) == 1


def test_implicit_tls_goes_to_port_465_by_default(tmp_path):
    path = data_file(tmp_path)
    report = partial_report(path)
    run(path, [report], mailer(), environ={"SMTP_HOST": "127.0.0.1", "SMTP_TLS": "yes"})
    assert report.email["error"].startswith("the e-mail could not be sent through 127.0.0.1:465: ")


def test_implicit_tls_to_a_plain_server_sends_nothing(tmp_path, smtp_server):
    server = smtp_server(accept_login=True, auth_require_tls=False)
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = server.env | {"SMTP_TLS": "yes", "SMTP_USER": "importer", "SMTP_PASSWORD": SENTINEL}
    run(path, [report], mailer(), environ=environ)
    assert report.email["sent"] is False
    assert server.logins == [] and server.inbox.messages == []


def test_the_password_is_scrubbed_from_any_failure_text():
    environ = {"SMTP_USER": "importer", "SMTP_PASSWORD": "pä55"}
    assert scrub("(535, b'pä55 no')", environ) == "(535, b'******** no')"
    assert scrub("(535, b'p\\xc3\\xa455 no')", environ) == "(535, b'******** no')"
    assert scrub("echo cMOkNTU= and AGltcG9ydGVyAHDDpDU1", environ) == "echo ******** and ********"
    assert scrub("nothing to hide", {}) == "nothing to hide"


def test_a_refused_connection_is_reported(tmp_path):
    path = data_file(tmp_path)
    report = partial_report(path)
    port = free_port()  # nothing listens there
    failures = run(
        path, [report], mailer(), environ={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port)}
    )
    assert report.email["sent"] is False
    assert report.email["error"].startswith(
        f"the e-mail could not be sent through 127.0.0.1:{port}: "
    )
    assert "Connection refused" in report.email["error"]
    assert errors(failures) == [report.email["error"]]


def test_a_dropped_connection_is_reported(tmp_path, dropping_server):
    path = data_file(tmp_path)
    report = partial_report(path)
    environ = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(dropping_server),
        "SMTP_PASSWORD": SENTINEL,
    }
    failures = run(path, [report], mailer(), environ=environ)
    assert report.email == {
        "sent": False,
        "error": f"the e-mail could not be sent through 127.0.0.1:{dropping_server}: "
        "Connection unexpectedly closed.",
    }
    assert errors(failures) == [report.email["error"]]


@pytest.mark.parametrize(
    ("environ", "error"),
    [
        ({}, "SMTP_HOST is not set; the e-mail report cannot be sent."),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "smtp"},
            "SMTP_PORT 'smtp' is not a port number (1 to 65535).",
        ),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "70000"},
            "SMTP_PORT '70000' is not a port number (1 to 65535).",
        ),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_STARTTLS": "true"},
            "SMTP_STARTTLS 'true' must be yes or no.",
        ),
        ({"SMTP_HOST": "127.0.0.1", "SMTP_TLS": "on"}, "SMTP_TLS 'on' must be yes or no."),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_ALLOW_INSECURE_AUTH": "y"},
            "SMTP_ALLOW_INSECURE_AUTH 'y' must be yes or no.",
        ),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_STARTTLS": "yes", "SMTP_TLS": "yes"},
            "SMTP_STARTTLS and SMTP_TLS are both yes; set one: SMTP_TLS=yes for TLS from the first byte (port 465), "
            "SMTP_STARTTLS=yes to upgrade a plain connection (port 25 or 587).",
        ),
        (
            {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "SMTP_USER": "importer"},
            "SMTP_USER is set but the connection to 127.0.0.1:2525 is not encrypted, so the password would travel "
            "in clear; set SMTP_STARTTLS=yes or SMTP_TLS=yes (or SMTP_ALLOW_INSECURE_AUTH=yes to accept that).",
        ),
    ],
)
def test_smtp_settings_that_cannot_work(tmp_path, environ, error):
    path = data_file(tmp_path)
    report = partial_report(path)
    assert run(path, [report], mailer(), environ=environ) == [
        ConsolidatorFailure("emailReport", str(path), error)
    ]
    assert report.email == {"sent": False, "error": error}


def test_some_recipients_refused(tmp_path, smtp_server):
    server = smtp_server(refuse=("gone@example.org",))
    path = data_file(tmp_path)
    report = partial_report(path)
    failures = run(
        path, [report], mailer("admin@example.org", "gone@example.org"), environ=server.env
    )
    error = (
        f"the SMTP server 127.0.0.1:{server.port} refused gone@example.org (550 5.1.1 no such mailbox); "
        "the other recipients received it."
    )
    assert report.email == {"sent": True, "error": error}
    assert errors(failures) == [error]
    assert server.inbox.recipients == [["admin@example.org"]]


def test_every_recipient_refused(tmp_path, smtp_server):
    server = smtp_server(refuse=("gone@example.org",))
    path = data_file(tmp_path)
    report = partial_report(path)
    run(path, [report], mailer("gone@example.org"), environ=server.env)
    assert report.email == {
        "sent": False,
        "error": f"the e-mail could not be sent through 127.0.0.1:{server.port}: every recipient was "
        "refused: gone@example.org (550 5.1.1 no such mailbox).",
    }


# ---- through `session-import run` ----


def serve_through_environment(monkeypatch, server: SmtpServer) -> None:
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)


CONFIG = """
<import-config><import id="nightly">
  <providers><fileSystemSourceProvider><fileName>sessions_*.csv</fileName><path>drop</path></fileSystemSourceProvider></providers>
  <actions><createOrUpdateSessionAction>
    <options><sessionSearchField><sessionTitle/></sessionSearchField></options>
    <fields><sessionAction/><trainingPathCode/><sessionTitle/><sessionGuid><mandatory>no</mandatory></sessionGuid>
      <sessionId/><sessionStatus/><sessionStartDate/><sessionEndDate/><teacherLogin/><groupName/><groupGuid/></fields>
  </createOrUpdateSessionAction></actions>
  <consolidators>
    {consolidators}
  </consolidators>
</import></import-config>
"""

ALL = """
    <deleteProcessedFilesConsolidator/>
    <emailReport><targetEmail>admin@example.org</targetEmail><targetEmail>ops@example.org</targetEmail></emailReport>
    <moveToBackupConsolidator><backupFolder>backup</backupFolder><timestamp>yes</timestamp></moveToBackupConsolidator>
    <timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>
"""


@pytest.fixture
def nightly(ws):
    ws.seed()
    ws.write(
        "drop/sessions_1.csv",
        rows(
            "M;TP-001;Paris;;;open;2026-12-01;;jdupont;;",
            "M;TP-001;=Bad;;;open;;;nobody;;",
        ),
    )
    return ws


def configure(ws, consolidators: str) -> Path:
    return ws.write("nightly.xml", CONFIG.format(consolidators=consolidators))


def test_all_consolidators_in_crossknowledge_order(nightly, monkeypatch, smtp_server):
    server = smtp_server()
    serve_through_environment(monkeypatch, server)
    result = nightly.run(
        "run",
        "--report",
        nightly.root / "r.json",
        "--rejects",
        nightly.root / "rej.csv",
        configure(nightly, ALL),
    )
    assert result.exit_code == 1, result.stderr
    (log,) = (nightly.root / "logs").iterdir()
    assert log.name.endswith("_sessions_1.csv.log")
    assert log.read_text() == (
        "Line number:3,ERROR,M,TP-001,'=Bad,,,open,,,nobody,,,Teacher with login nobody is not found.\n"
    )
    (backup,) = (nightly.root / "backup").iterdir()
    assert backup.name.endswith("_sessions_1.csv") and len(backup.name) > len("sessions_1.csv")
    assert not (
        nightly.root / "drop" / "sessions_1.csv"
    ).exists()  # moved, so nothing left to delete
    (message,) = server.inbox.messages
    assert message["To"] == "admin@example.org, ops@example.org"
    assert message["Subject"] == "session-import: nightly sessions_1.csv: 2 rows, 1 rejected"
    text = message.get_body(("plain",)).get_content()
    assert "1 created" in text and "line 3: Teacher with login nobody is not found." in text
    page = message.get_body(("html",)).get_content()
    assert "<td>3</td><td>Teacher with login nobody is not found.</td>" in page
    (attachment,) = list(message.iter_attachments())
    lines = attachment.get_content().splitlines()
    assert lines[0].endswith(";errors")
    assert lines[1] == "M;TP-001;'=Bad;;;open;;;nobody;;;Teacher with login nobody is not found."
    assert attachment.get_payload(decode=True) == (nightly.root / "rej.csv").read_bytes()
    report = json.loads((nightly.root / "r.json").read_text())
    assert report["files"][0]["email"] == {"sent": True, "error": None}
    assert report["consolidators"] == []


def test_delete_processed_file_and_disabled_consolidators(nightly):
    config = configure(
        nightly,
        """
        <deleteProcessedFilesConsolidator/>
        <moveToBackupConsolidator><backupFolder>backup</backupFolder><disabled>yes</disabled></moveToBackupConsolidator>
    """,
    )
    assert nightly.run("run", config).exit_code == 1
    assert not (nightly.root / "drop" / "sessions_1.csv").exists()
    assert not (nightly.root / "backup").exists()


def test_a_file_that_failed_as_a_whole_is_never_moved_or_deleted(nightly):
    bad = nightly.write("drop/sessions_2.csv", "sessionAction;teacherLogin\nM;jdupont\n")
    config = configure(
        nightly, ALL.replace("<emailReport>", "<emailReport><disabled>yes</disabled>")
    )
    result = nightly.run("run", config)
    assert result.exit_code == 3
    assert bad.exists()
    assert not (nightly.root / "drop" / "sessions_1.csv").exists()  # the good one was moved
    logs = sorted(p.name for p in (nightly.root / "logs").iterdir())
    assert len(logs) == 2
    failed_log = next(p for p in (nightly.root / "logs").iterdir() if "sessions_2" in p.name)
    assert failed_log.read_text() == (
        f"Line number:1,ERROR,{bad}:1: Mandatory column sessionTitle is missing from the header.\n"
    )


def test_move_across_file_systems_copies_then_deletes(nightly, monkeypatch):
    real_replace = os.replace
    data = nightly.root / "drop" / "sessions_1.csv"
    original = data.read_bytes()

    def replace(src, dst, *args, **kwargs):
        if Path(src) == data:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    config = configure(
        nightly,
        "<moveToBackupConsolidator><backupFolder>backup</backupFolder></moveToBackupConsolidator>",
    )
    result = nightly.run("run", config)
    assert result.exit_code == 1, result.stderr
    assert (nightly.root / "backup" / "sessions_1.csv").read_bytes() == original
    assert not data.exists()
    assert [p.name for p in (nightly.root / "backup").iterdir()] == [
        "sessions_1.csv"
    ]  # no temporary left


def test_consolidator_failures_are_reported_without_changing_the_exit_code(nightly):
    nightly.write("not-a-folder", "x")
    config = configure(
        nightly,
        """
        <timeStampedFileErrorLogger><location>not-a-folder/logs</location></timeStampedFileErrorLogger>
        <moveToBackupConsolidator><backupFolder>not-a-folder/backup</backupFolder></moveToBackupConsolidator>
    """,
    )
    result = nightly.run("run", "--report", nightly.root / "r.json", config)
    assert result.exit_code == 1
    logs = nightly.root / "not-a-folder" / "logs"
    backup = nightly.root / "not-a-folder" / "backup"
    assert f"The {logs} directory can not be found nor created." in result.stderr
    assert f"The backup folder {backup} does not exists or can not be created." in result.stderr
    data = nightly.root / "drop" / "sessions_1.csv"
    assert json.loads((nightly.root / "r.json").read_text())["consolidators"] == [
        {
            "name": "timeStampedFileErrorLogger",
            "file": str(data),
            "error": f"The {logs} directory can not be found nor created.",
        },
        {
            "name": "moveToBackupConsolidator",
            "file": str(data),
            "error": f"The backup folder {backup} does not exists or can not be created.",
        },
    ]
    assert data.exists()


def test_dry_run_runs_no_consolidator(nightly):
    assert nightly.run("run", "--dry-run", configure(nightly, ALL)).exit_code == 1
    assert (nightly.root / "drop" / "sessions_1.csv").exists()
    assert not (nightly.root / "logs").exists()


EMAIL_ONLY = "<emailReport><targetEmail>admin@example.org</targetEmail></emailReport>"


def test_starttls_with_a_trusted_certificate(nightly, monkeypatch, smtp_server, certificate):
    server = smtp_server(tls_context=certificate.server_context(), require_starttls=True)
    serve_through_environment(monkeypatch, server)
    monkeypatch.setenv("SMTP_STARTTLS", "yes")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    assert nightly.run("run", configure(nightly, EMAIL_ONLY)).exit_code == 1
    assert len(server.inbox.messages) == 1
    # the same server, not trusted: the certificate check refuses it
    monkeypatch.delenv("SSL_CERT_FILE")
    result = nightly.run(
        "run", "--force", "--report", nightly.root / "r.json", configure(nightly, EMAIL_ONLY)
    )
    assert result.exit_code == 1
    assert (
        "the e-mail report was not sent" in result.stderr
        and "CERTIFICATE_VERIFY_FAILED" in result.stderr
    )
    assert len(server.inbox.messages) == 1
    assert json.loads((nightly.root / "r.json").read_text())["files"][0]["email"]["sent"] is False


def test_refused_login_is_reported_and_the_password_appears_nowhere(
    nightly, monkeypatch, smtp_server
):
    server = smtp_server(accept_login=False, auth_require_tls=False)
    serve_through_environment(monkeypatch, server)
    monkeypatch.setenv("SMTP_ALLOW_INSECURE_AUTH", "yes")
    monkeypatch.setenv("SMTP_USER", "importer")
    monkeypatch.setenv("SMTP_PASSWORD", SENTINEL)
    config = configure(
        nightly,
        EMAIL_ONLY
        + "<timeStampedFileErrorLogger><location>logs</location></timeStampedFileErrorLogger>",
    )
    result = nightly.run(
        "run", "--report", nightly.root / "r.json", "--rejects", nightly.root / "rej.csv", config
    )
    assert result.exit_code == 1  # what the rows made it
    assert "refused the login of importer" in result.stderr
    assert set(server.logins) == {("importer", SENTINEL)} and server.inbox.messages == []
    everything = [
        result.stdout,
        result.stderr,
        (nightly.root / "r.json").read_text(),
        (nightly.root / "rej.csv").read_text(),
    ]
    everything += [p.read_text() for p in (nightly.root / "logs").iterdir()]
    everything += [str(row) for row in nightly.query("SELECT * FROM runs")]
    everything += [str(row) for row in nightly.query("SELECT * FROM journal")]
    everything.append(nightly.db.read_bytes().decode("latin-1"))
    assert not any(SENTINEL in text for text in everything)


def test_a_dropped_connection_is_reported_through_the_cli(nightly, monkeypatch, dropping_server):
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(dropping_server))
    result = nightly.run("run", "--report", nightly.root / "r.json", configure(nightly, EMAIL_ONLY))
    assert result.exit_code == 1
    error = f"the e-mail could not be sent through 127.0.0.1:{dropping_server}: Connection unexpectedly closed."
    assert f"the e-mail report was not sent: {error}" in result.stderr
    report = json.loads((nightly.root / "r.json").read_text())
    assert report["files"][0]["email"] == {"sent": False, "error": error}
    assert report["consolidators"] == [
        {
            "name": "emailReport",
            "file": str(nightly.root / "drop" / "sessions_1.csv"),
            "error": error,
        },
    ]


def test_two_files_of_one_name_keep_their_backups_and_logs(nightly):
    """A `*/sessions.csv` glob picks two files of the same name, processed in the same second:
    each keeps its own backup and its own log (they used to overwrite each other)."""
    first = nightly.write(
        "drop/a/sessions.csv",
        rows("M;TP-001;Paris;;;open;;;jdupont;;", "M;TP-001;X;;;open;;;nobody;;"),
    )
    second = nightly.write(
        "drop/b/sessions.csv",
        rows("M;TP-001;Lyon;;;open;;;jdupont;;", "M;TP-001;Y;;;open;;;ghost;;"),
    )
    contents = {first.read_bytes(), second.read_bytes()}
    config = nightly.write(
        "nightly.xml",
        CONFIG.format(consolidators=ALL)
        .replace("<fileName>sessions_*.csv</fileName>", "<fileName>*/sessions.csv</fileName>")
        .replace("<emailReport>", "<emailReport><disabled>yes</disabled>"),
    )
    result = nightly.run("run", "--report", nightly.root / "r.json", config)
    assert result.exit_code == 1, result.stderr
    assert json.loads((nightly.root / "r.json").read_text())["consolidators"] == []
    backups = list((nightly.root / "backup").iterdir())
    assert {p.read_bytes() for p in backups} == contents and len(backups) == 2
    assert not first.exists() and not second.exists()
    logs = [p.read_text() for p in (nightly.root / "logs").iterdir()]
    assert sorted(logs) == [
        "Line number:3,ERROR,M,TP-001,X,,,open,,,nobody,,,Teacher with login nobody is not found.\n",
        "Line number:3,ERROR,M,TP-001,Y,,,open,,,ghost,,,Teacher with login ghost is not found.\n",
    ]


def test_the_password_never_travels_in_clear_through_the_cli(
    nightly, monkeypatch, smtp_server, certificate
):
    clear = smtp_server(accept_login=True, auth_require_tls=False)
    serve_through_environment(monkeypatch, clear)
    monkeypatch.setenv("SMTP_USER", "importer")
    monkeypatch.setenv("SMTP_PASSWORD", SENTINEL)
    result = nightly.run("run", configure(nightly, EMAIL_ONLY))
    assert result.exit_code == 1  # what the rows made it
    assert (
        f"the e-mail report was not sent: SMTP_USER is set but the connection to 127.0.0.1:{clear.port} "
        "is not encrypted"
    ) in result.stderr
    assert clear.logins == [] and clear.inbox.messages == []
    # implicit TLS, as on port 465
    tls = smtp_server(
        ssl_context=certificate.server_context(), accept_login=True, auth_require_tls=False
    )
    serve_through_environment(monkeypatch, tls)
    monkeypatch.setenv("SMTP_TLS", "yes")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    result = nightly.run("run", "--force", configure(nightly, EMAIL_ONLY))
    assert result.exit_code == 1 and "e-mail" not in result.stderr
    assert tls.logins == [("importer", SENTINEL)] and len(tls.inbox.messages) == 1
