"""What runs once at the end of each data file, in CrossKnowledge's order.

The error log, the move to backup, the e-mail report and the deletion of the
processed file. Each failure is reported (stderr and the JSON report) and never
changes the exit code; a file that failed as a whole is never moved or deleted.
They run after the file's transaction committed: nothing here may raise, since
what the store holds is already final.
"""

from __future__ import annotations

import base64
import codecs
import contextlib
import csv
import errno
import heapq
import io
import itertools
import os
import re
import secrets
import shutil
import smtplib
import socket
import ssl
import stat
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from itertools import islice
from pathlib import Path

from session_import import paths
from session_import.catalog import HTML_REPORT
from session_import.config import ConsolidatorConfig, ImportConfig
from session_import.formulas import neutralise_formula
from session_import.outputs import rejects_csv
from session_import.pages import email_html, run_page_for_file
from session_import.report import (
    COUNT_NAMES,
    ConsolidatorFailure,
    FileReport,
    Report,
    rejected_lines,
    worst,
)

SMTP_TIMEOUT = 30  # seconds, for the connection and for each SMTP command
HIDDEN = "********"  # what a secret becomes in any text the tool shows
# 7-bit transfer encodings, so that no relay needs 8BITMIME; headers folded only past SMTP's
# own limit (folding at 78 can leave a subject starting with a space once unfolded)
EMAIL_POLICY = policy.default.clone(cte_type="7bit", max_line_length=998)
EMAIL_ROWS = 100  # rejected rows and warnings an e-mail lists per action; the others are counted
MAX_ATTACHMENT = 10 * 1024 * 1024  # characters of rejects file; past it, mail servers refuse it


class ConsolidatorMsg(StrEnum):
    # CrossKnowledge's own wording, word for word
    LOG_FOLDER = "The {folder} directory can not be found nor created."
    LOG_WRITE = "Could not open the file {file} for writing."
    BACKUP_FOLDER = "The backup folder {folder} does not exists or can not be created."
    COPY = "Can not copy the file {source} to {target}"
    DELETE_MOVED = "Can not delete the file {file}"
    DELETE = "Can not delete file {file}."
    # the e-mail report (CrossKnowledge sends its own mail, so these are ours)
    NO_SMTP_HOST = "SMTP_HOST is not set; the e-mail report cannot be sent."
    BAD_PORT = "SMTP_PORT {value!r} is not a port number (1 to 65535)."
    BAD_YES_NO = "{name} {value!r} must be yes or no."
    BOTH_TLS = (
        "SMTP_STARTTLS and SMTP_TLS are both yes; set one: SMTP_TLS=yes for TLS from the first "
        "byte (port 465), SMTP_STARTTLS=yes to upgrade a plain connection (port 25 or 587)."
    )
    INSECURE_LOGIN = (
        "SMTP_USER is set but the connection to {server} is not encrypted, so the password would "
        "travel in clear; set SMTP_STARTTLS=yes or SMTP_TLS=yes "
        "(or SMTP_ALLOW_INSECURE_AUTH=yes to accept that)."
    )
    LOGIN_REFUSED = "the SMTP server {server} refused the login of {user} ({code})."
    NOT_SENT = "the e-mail could not be sent through {server}: {reason}."
    RECIPIENTS_REFUSED = (
        "the SMTP server {server} refused {refused}; the other recipients received it."
    )
    UNEXPECTED = "{name} failed: {reason}"
    EMAIL_MORE_ROWS = "and {count} more rows: see {where}."
    EMAIL_MORE_WARNINGS = (
        "and {count} more warnings: the error log and the --report file list them all."
    )
    EMAIL_ATTACHED = "the attached {attachment}"
    EMAIL_NOT_ATTACHED = "the error log or the --rejects file"
    EMAIL_PAGE = "The page of this file's run is attached as {page}."
    EMAIL_PAGE_TOO_LARGE = "The page of this file's run, {page}, is too large to be attached."
    EMAIL_TOO_LARGE = (
        "The rejects file is larger than {limit} and is not attached: write it with --rejects, or"
        " read the error log."
    )


class _Failed(Exception):
    """A consolidator could not do its work; the message is CrossKnowledge's wording."""


class _CopiedNotDeleted(_Failed):
    """The backup holds the file, but the source could not be deleted."""


def run_consolidators(
    imp: ImportConfig,
    path: Path,
    reports: list[FileReport],
    when: datetime,
    environ: Mapping[str, str],
    *,
    due: Collection[str] | None = None,
    backup: str | None = None,
    on_done: Callable[[str, str | None], None] | None = None,
) -> list[ConsolidatorFailure]:
    """Run the import's enabled consolidators over one committed data file; return their failures.

    ``due`` keeps only those names (what a stopped run left undone) and ``backup`` is the
    backup's outcome so far; ``on_done(name, backup)`` is called after each one has run.
    """
    failures: list[ConsolidatorFailure] = []
    failed_as_a_whole = any(r.error is not None for r in reports)
    stamp = backup_stamp(when)
    # backup: None, "moved", "copied" (the source stayed) or "failed"
    page: Path | None = None  # the file's page, for the e-mail
    for consolidator in imp.consolidators:
        if consolidator.disabled or (due is not None and consolidator.name not in due):
            continue
        try:
            if consolidator.name == "timeStampedFileErrorLogger":
                write_error_log(consolidator, path, reports, stamp)
            elif consolidator.name == "moveToBackupConsolidator" and not failed_as_a_whole:
                backup = "failed"
                move_to_backup(consolidator, path, stamp)
                backup = "moved"
            elif consolidator.name == HTML_REPORT:
                page = write_html_report(consolidator, path, reports, stamp, when)
            elif consolidator.name == "emailReport":
                send_email_report(consolidator, imp, path, reports, environ, page)
            elif (
                consolidator.name == "deleteProcessedFilesConsolidator"
                and not failed_as_a_whole
                and backup in (None, "copied")
            ):
                # moved: nothing left to delete; a backup that failed: the file is its only copy
                delete_processed_file(path)
        except _CopiedNotDeleted as exc:
            backup = "copied"
            failures.append(
                ConsolidatorFailure(consolidator.name, str(path), scrub(str(exc), environ))
            )
        except _Failed as exc:
            failures.append(
                ConsolidatorFailure(consolidator.name, str(path), scrub(str(exc), environ))
            )
        except Exception as exc:  # noqa: BLE001 - the file is committed: report it, never crash the run
            reason = scrub(f"{type(exc).__name__}: {exc}", environ)
            error = ConsolidatorMsg.UNEXPECTED.format(name=consolidator.name, reason=reason)
            failures.append(ConsolidatorFailure(consolidator.name, str(path), error))
        if on_done is not None:
            on_done(consolidator.name, backup)
    return failures


def backup_stamp(when: datetime) -> str:
    """The run's date and time to the millisecond: ``20261124-030509-123``."""
    return f"{when:%Y%m%d-%H%M%S}-{when.microsecond // 1000:03d}"


def scrub(text: str, environ: Mapping[str, str]) -> str:
    """``text`` without the SMTP password, as written or as SMTP AUTH encodes it."""
    password = environ.get("SMTP_PASSWORD") or ""
    if not password:
        return text
    user = environ.get("SMTP_USER") or ""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode("utf-8")).decode("ascii")

    forms = {
        password,
        repr(password)[1:-1],
        repr(password.encode("utf-8"))[2:-1],
        b64(password),
        b64(f"\0{user}\0{password}"),
    }
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, HIDDEN)
    return text


# ---- timeStampedFileErrorLogger ----


def _one_line(text: str) -> str:
    """A quoted cell may hold line breaks; the log keeps one message a line."""
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def _log_line(line: int, level: str, values: list[str]) -> str:
    """``Line number:N,LEVEL,<values>`` as one CSV record: each value neutralised (SPEC 7),
    quoted when it holds a comma or a quote, its line breaks written ``\\n``."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [f"Line number:{line}", level] + [_one_line(neutralise_formula(v)) for v in values]
    )
    return buffer.getvalue()


def _error_line(report: FileReport) -> int:
    """The line a whole-file error names (``FILE:LINE: ...``), else 1 like file-level warnings."""
    found = re.match(re.escape(report.file) + r":(\d+): ", report.error or "")
    return max(int(found.group(1)), 1) if found else 1


def error_log_lines(reports: list[FileReport]) -> Iterator[str]:
    """``Line number:4,ERROR,<the row's cells>,<message>``, in line order, errors first; read
    from the reports as a stream (a file may have a million rejected rows)."""
    streams: list = []
    errors_seen: set[str] = set()
    for report in reports:
        if report.error is not None and report.error not in errors_seen:
            # every action of a failed file carries the same error: one line
            errors_seen.add(report.error)
            line = _error_line(report)
            streams.append([(line, 0, _log_line(line, "ERROR", [report.error]))])
        streams.append(_rejected_entries(report))
        streams.append(_warning_entries(report))
    # merge keeps the order of the streams for equal keys: as a stable sort of them all would
    return (text for _, _, text in heapq.merge(*streams, key=lambda e: (e[0], e[1])))


def _rejected_entries(report: FileReport) -> Iterator[tuple[int, int, str]]:
    for row in report.rejected:
        for message in row.messages:
            yield row.line, 0, _log_line(row.line, "ERROR", [*row.cells, message])


def _warning_entries(report: FileReport) -> Iterator[tuple[int, int, str]]:
    for line, messages, cells in report.warnings.with_cells():
        for message in messages:
            yield line, 1, _log_line(line, "WARNING", [*(cells or []), message])


def write_error_log(
    consolidator: ConsolidatorConfig, path: Path, reports: list[FileReport], stamp: str
) -> Path | None:
    """The log of one data file, under a name no other file has; None for a clean file
    (no error and no warning: no log)."""
    lines = error_log_lines(reports)
    first = next(lines, None)
    if first is None:
        return None
    folder = Path(consolidator.options["location"][0])
    name = f"{stamp}_{path.name}.log"
    folder_fd = open_folder(folder, ConsolidatorMsg.LOG_FOLDER.format(folder=folder))
    try:
        chunks = (line.encode("utf-8") for line in itertools.chain([first], lines))
        return folder / _write_new_file(folder_fd, name, chunks)
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.LOG_WRITE.format(file=folder / name)) from exc
    finally:
        os.close(folder_fd)


def write_html_report(
    consolidator: ConsolidatorConfig,
    path: Path,
    reports: list[FileReport],
    stamp: str,
    when: datetime,
) -> Path:
    """``<htmlReport>``: the file's page, ``<stamp>_<file>.html`` beside its error log, for a
    clean file too."""
    folder = Path(consolidator.options["location"][0])
    name = f"{stamp}_{path.name}.html"
    folder_fd = open_folder(folder, ConsolidatorMsg.LOG_FOLDER.format(folder=folder))
    try:
        chunks = (piece.encode("utf-8") for piece in run_page_for_file(reports, when))
        return folder / _write_new_file(folder_fd, name, chunks)
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.LOG_WRITE.format(file=folder / name)) from exc
    finally:
        os.close(folder_fd)


# ---- folders opened once, files given a name no file has ----

# hard links refused: a file system without them, Linux' protected_hardlinks (another user's file)
_NO_HARD_LINKS = frozenset(
    {errno.EPERM, errno.EACCES, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS}
)
_MAX_NAME_RACES = 100  # names taken by someone else between our look and our claim


def open_folder(folder: Path, cannot: str) -> int:
    """A descriptor of ``folder`` reached without following a link (paths.open_folder);
    ``cannot`` is the failure when a component is not a folder or cannot be created."""
    try:
        return paths.open_folder(folder)
    except paths.FolderMoved as exc:
        raise _Failed(str(exc)) from exc
    except paths.FolderUnavailable as exc:
        raise _Failed(cannot) from exc


def _free_names(name: str, taken: Callable[[], set[str]]) -> Iterator[str]:
    """``name``, then ``stem-2.ext``, ``stem-3.ext``...: ``taken()`` lists the folder once the
    first name is in use, so a folder of many backups is not tried name by name."""
    yield name
    stem, ext = os.path.splitext(name)
    used = taken()
    for number in itertools.count(2):
        candidate = f"{stem}-{number}{ext}"
        if candidate not in used:
            yield candidate


def _claim(claim: Callable[[str], None], folder_fd: int, name: str) -> str:
    """The first free name that ``claim`` (which raises FileExistsError on a name in use) gets."""
    races = 0
    for candidate in _free_names(name, lambda: set(os.listdir(folder_fd))):
        try:
            claim(candidate)
            return candidate
        except FileExistsError:
            races += 1
            if races > _MAX_NAME_RACES:
                raise
    raise AssertionError("unreachable")  # _free_names never ends


def _give_name(
    source: str, source_dir_fd: int | None, folder_fd: int, name: str
) -> tuple[str, bool]:
    """Give ``source`` a name in the folder that no file has; (the name, whether ``source`` is
    still there for the caller to unlink).

    A hard link is POSIX's rename that never replaces: it fails when the name exists.
    Where links are refused, the name is reserved by an exclusive create and the source
    renamed onto that empty placeholder. EXDEV (another file system) is the caller's.
    """

    def link(candidate: str) -> None:
        os.link(
            source, candidate, src_dir_fd=source_dir_fd, dst_dir_fd=folder_fd, follow_symlinks=False
        )

    try:
        return _claim(link, folder_fd, name), True
    except OSError as exc:
        if exc.errno not in _NO_HARD_LINKS:
            raise

    def reserve(candidate: str) -> None:
        os.close(
            os.open(
                candidate,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=folder_fd,
            )
        )

    placeholder = _claim(reserve, folder_fd, name)
    try:
        os.rename(source, placeholder, src_dir_fd=source_dir_fd, dst_dir_fd=folder_fd)
    except OSError:
        _unlink_quietly(placeholder, folder_fd)
        raise
    return placeholder, False


def _unlink_quietly(name: str, dir_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def _temporary(folder_fd: int, name: str, mode: int) -> tuple[str, int]:
    """A new hidden ``.part`` file beside where ``name`` goes, created exclusively, open for
    writing."""
    while True:
        candidate = f".{name}.{secrets.token_hex(4)}.part"
        try:
            fd = os.open(
                candidate,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                mode,
                dir_fd=folder_fd,
            )
        except FileExistsError:
            continue
        return candidate, fd


def _finish_temporary(folder_fd: int, temporary: str, name: str) -> str:
    """The synced temporary file takes the first free name of ``name``; the name it got."""
    placed, left = _give_name(temporary, folder_fd, folder_fd, name)
    if left:
        _unlink_quietly(temporary, folder_fd)
    _sync_folder(folder_fd)
    return placed


def _write_new_file(folder_fd: int, name: str, chunks: Iterable[bytes]) -> str:
    """Write through a temporary file, so that a failure (a full disk) leaves no partial file."""
    temporary, fd = _temporary(folder_fd, name, 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.writelines(chunks)
            out.flush()
            os.fsync(out.fileno())
        return _finish_temporary(folder_fd, temporary, name)
    except BaseException:
        _unlink_quietly(temporary, folder_fd)
        raise


# ---- moveToBackupConsolidator ----


def move_to_backup(consolidator: ConsolidatorConfig, path: Path, stamp: str) -> Path:
    """Move the file under a name no file of the backup folder has; across file systems, copy
    and sync it there before deleting the source.

    At every moment the file exists whole in one place at least: a crash leaves at
    worst a hidden ``.part`` file in the backup folder, or the file in both places.
    """
    folder = Path(consolidator.options["backupFolder"][0])
    prefix = f"{stamp}_" if consolidator.options.get("timestamp", ("no",))[0] == "yes" else ""
    name = f"{prefix}{path.name}"
    folder_fd = open_folder(folder, ConsolidatorMsg.BACKUP_FOLDER.format(folder=folder))
    try:
        try:
            placed, left = _give_name(str(path), None, folder_fd, name)
            _sync_folder(folder_fd)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise _Failed(
                    ConsolidatorMsg.COPY.format(source=path, target=folder / name)
                ) from exc
            placed, left = _copy_synced(path, folder_fd, folder, name), True
    finally:
        os.close(folder_fd)
    if left:
        try:
            os.unlink(path)
        except OSError as exc:
            raise _CopiedNotDeleted(ConsolidatorMsg.DELETE_MOVED.format(file=path)) from exc
    return folder / placed


def _copy_synced(source: Path, folder_fd: int, folder: Path, name: str) -> str:
    """Copy to a temporary name in the folder, fsync, give it a free name; the source stays."""
    temporary: str | None = None
    try:
        temporary, fd = _temporary(folder_fd, name, 0o600)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out, 1 << 20)
            out.flush()
            status = os.fstat(data.fileno())
            try:  # the backup keeps the file's mode and date
                os.fchmod(out.fileno(), stat.S_IMODE(status.st_mode))
                os.utime(out.fileno(), ns=(status.st_atime_ns, status.st_mtime_ns))
            except OSError:
                pass  # a file system without modes or times still gets the content
            os.fsync(out.fileno())
        return _finish_temporary(folder_fd, temporary, name)
    except OSError as exc:
        if temporary is not None:
            _unlink_quietly(temporary, folder_fd)
        raise _Failed(ConsolidatorMsg.COPY.format(source=source, target=folder / name)) from exc


def _sync_folder(folder_fd: int) -> None:
    """Make a new name in the folder durable (best effort: some file systems refuse it)."""
    with contextlib.suppress(OSError):
        os.fsync(folder_fd)


# ---- deleteProcessedFilesConsolidator ----


def delete_processed_file(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.DELETE.format(file=path)) from exc


# ---- emailReport ----

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _header_safe(text: str) -> str:
    """A file name may hold a line break; a header may not."""
    return _CONTROL.sub(" ", text)


def _rejected_lines(reports: list[FileReport]) -> int:
    """Rows rejected by any action, each counted once."""
    return rejected_lines(reports)


def email_subject(imp: ImportConfig, path: Path, reports: list[FileReport]) -> str:
    what = f"session-import: {imp.id} {path.name}"
    if any(r.held for r in reports):
        return _header_safe(f"{what}: held for approval, nothing applied")
    if any(r.error is not None for r in reports):
        return _header_safe(f"{what}: failed as a whole, nothing applied")
    rows = max((r.counts["rows"] for r in reports), default=0)
    return _header_safe(f"{what}: {rows} rows, {_rejected_lines(reports)} rejected")


def _attachment_charset(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return encoding
    return "utf-8" if name == "utf-8-sig" else encoding


def build_email(
    consolidator: ConsolidatorConfig,
    imp: ImportConfig,
    path: Path,
    reports: list[FileReport],
    sender: str,
    page: Path | None = None,
) -> EmailMessage:
    """The summary and the rejected rows as text and as HTML, the rejects file attached,
    and the file's page when ``<htmlReport>`` wrote one (``page``).

    The attachment is what ``--rejects`` writes for this file, byte for byte.
    """
    message = EmailMessage(policy=EMAIL_POLICY)
    message["Subject"] = email_subject(imp, path, reports)
    message["From"] = sender
    message["To"] = ", ".join(consolidator.options["targetEmail"])
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(
        "session-import", domain=sender.rpartition("@")[2] or "localhost"
    )
    text: list[str] = [f"Import {imp.id}, file {path}"]
    run_id = next((r.run_id for r in reports if r.run_id is not None), None)
    if run_id is not None:
        text.append(f"Recorded as run {run_id}: session-import history {run_id} lists each change.")
    with_rejects = [r for r in reports if r.rejected]
    attachment = f"{_header_safe(path.stem)}.rejects.csv"
    csv_text = (
        rejects_csv(Report(files=list(reports)), with_rejects[0].file, MAX_ATTACHMENT)
        if with_rejects
        else None
    )
    where = (
        ConsolidatorMsg.EMAIL_ATTACHED.format(attachment=attachment)
        if csv_text is not None
        else ConsolidatorMsg.EMAIL_NOT_ATTACHED
    )
    for r in reports:
        counts = ", ".join(f"{r.counts[n]} {n}" for n in COUNT_NAMES[1:])
        text.append("")
        text.append(f"{r.action}: {r.counts['rows']} rows: {counts}")
        if r.error is not None:
            text.append(f"The file failed as a whole, nothing of it was applied: {r.error}")
        if r.rejected:
            rows = iter(r.rejected)
            shown = list(islice(rows, EMAIL_ROWS))
            text.append("Rejected rows:")
            text.extend(f"  line {row.line}: {' '.join(row.messages)}" for row in shown)
            if more := sum(1 for _ in rows):
                text.append(f"  {ConsolidatorMsg.EMAIL_MORE_ROWS.format(count=more, where=where)}")
        if r.warnings:
            warnings = iter(r.warnings)
            first_warnings = list(islice(warnings, EMAIL_ROWS))
            text.append("Warnings:")
            text.extend(f"  line {line}: {' '.join(msgs)}" for line, msgs in first_warnings)
            if more := sum(1 for _ in warnings):
                text.append(f"  {ConsolidatorMsg.EMAIL_MORE_WARNINGS.format(count=more)}")
    notes: list[str] = []
    if with_rejects:
        if csv_text is not None:
            notes.append(
                f"The rejected rows are attached as {attachment}: correct them and import"
                " that file again."
            )
        else:
            limit = (
                f"{MAX_ATTACHMENT // 2**20} MiB"
                if MAX_ATTACHMENT % 2**20 == 0
                else f"{MAX_ATTACHMENT:,} characters"
            )
            notes.append(ConsolidatorMsg.EMAIL_TOO_LARGE.format(limit=limit))
    page_bytes = _page_to_attach(page)
    if page is not None:
        notes.append(
            ConsolidatorMsg.EMAIL_PAGE.format(page=page.name)
            if page_bytes is not None
            else ConsolidatorMsg.EMAIL_PAGE_TOO_LARGE.format(page=page)
        )
    text.extend([""] + notes if notes else [])
    message.set_content("\n".join(text) + "\n")
    html_part = email_html(
        imp.id,
        path,
        reports,
        subject=message["Subject"],
        run_id=run_id,
        rows_limit=EMAIL_ROWS,
        more_rows=lambda n: ConsolidatorMsg.EMAIL_MORE_ROWS.format(count=n, where=where),
        more_warnings=lambda n: ConsolidatorMsg.EMAIL_MORE_WARNINGS.format(count=n),
        notes=notes,
        exit_code=int(worst(r.exit_code for r in reports)),
    )
    message.add_alternative(html_part, subtype="html")
    if csv_text is not None:
        first = with_rejects[0]
        message.add_attachment(
            csv_text.encode(first.encoding, errors="replace"),
            maintype="text",
            subtype="csv",
            filename=attachment,
            params={"charset": _attachment_charset(first.encoding)},
        )
    if page is not None and page_bytes is not None:
        message.add_attachment(
            page_bytes,
            maintype="text",
            subtype="html",
            filename=_header_safe(page.name),
            params={"charset": "utf-8"},
        )
    return message


def _page_to_attach(page: Path | None) -> bytes | None:
    """The page's bytes, None when there is none, it is gone or too large for a mail server."""
    if page is None:
        return None
    try:
        if page.stat().st_size > MAX_ATTACHMENT:
            return None
        return page.read_bytes()
    except OSError:
        return None


def send_email_report(
    consolidator: ConsolidatorConfig,
    imp: ImportConfig,
    path: Path,
    reports: list[FileReport],
    environ: Mapping[str, str],
    page: Path | None = None,
) -> None:
    """Send the report; each FileReport gets ``email = {"sent", "error"}``, never the password."""
    try:
        # set when some recipients refused
        error = _send(consolidator, imp, path, reports, environ, page)
        sent = True
    except _Failed as exc:
        sent, error = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the e-mail was not sent
        sent = False
        error = ConsolidatorMsg.UNEXPECTED.format(
            name="emailReport", reason=f"{type(exc).__name__}: {exc}"
        )
    if error is not None:
        error = scrub(error, environ)
    for r in reports:
        r.emailed(sent, error)
    if error is not None:
        raise _Failed(error)


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # "tls" (implicit, SMTPS), "starttls" or "none"
    user: str

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def _yes_no(environ: Mapping[str, str], name: str) -> bool:
    raw = (environ.get(name) or "").strip().lower() or "no"
    if raw not in ("yes", "no"):
        # a typo must never send the password in clear
        raise _Failed(ConsolidatorMsg.BAD_YES_NO.format(name=name, value=environ.get(name)))
    return raw == "yes"


def smtp_settings(environ: Mapping[str, str]) -> SmtpSettings:
    """The SMTP settings of the environment, refused before any connection when they would
    send the password in clear (unless SMTP_ALLOW_INSECURE_AUTH=yes says so) or contradict."""
    host = (environ.get("SMTP_HOST") or "").strip()
    if not host:
        raise _Failed(ConsolidatorMsg.NO_SMTP_HOST)
    starttls, tls = _yes_no(environ, "SMTP_STARTTLS"), _yes_no(environ, "SMTP_TLS")
    allow_insecure = _yes_no(environ, "SMTP_ALLOW_INSECURE_AUTH")
    if starttls and tls:
        raise _Failed(ConsolidatorMsg.BOTH_TLS)
    raw_port = (environ.get("SMTP_PORT") or "").strip() or ("465" if tls else "25")
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise _Failed(ConsolidatorMsg.BAD_PORT.format(value=environ.get("SMTP_PORT")))
    settings = SmtpSettings(
        host,
        int(raw_port),
        "tls" if tls else "starttls" if starttls else "none",
        environ.get("SMTP_USER") or "",
    )
    if settings.user and settings.security == "none" and not allow_insecure:
        raise _Failed(ConsolidatorMsg.INSECURE_LOGIN.format(server=settings.server))
    return settings


def _tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """Certificates and host names verified, against SSL_CERT_FILE when set (a private CA)."""
    return ssl.create_default_context(cafile=environ.get("SSL_CERT_FILE") or None)


def _send(
    consolidator: ConsolidatorConfig,
    imp: ImportConfig,
    path: Path,
    reports: list[FileReport],
    environ: Mapping[str, str],
    page: Path | None = None,
) -> str | None:
    """Send the e-mail; the text of the recipients the server refused, if only some were."""
    settings = smtp_settings(environ)
    server, user = settings.server, settings.user
    try:
        sender = (
            environ.get("SMTP_FROM") or ""
        ).strip() or f"session-import@{socket.gethostname()}"
        message = build_email(consolidator, imp, path, reports, sender, page)
        connection: smtplib.SMTP
        if settings.security == "tls":
            connection = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=SMTP_TIMEOUT, context=_tls_context(environ)
            )
        else:
            connection = smtplib.SMTP(settings.host, settings.port, timeout=SMTP_TIMEOUT)
        with connection as smtp:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=_tls_context(environ))  # no STARTTLS offered: an error
                smtp.ehlo()
            if user:
                smtp.login(user, environ.get("SMTP_PASSWORD") or "")
            refused = smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        refusal = ConsolidatorMsg.LOGIN_REFUSED.format(server=server, user=user, code=exc.smtp_code)
        raise _Failed(refusal) from None
    except smtplib.SMTPRecipientsRefused as exc:
        reason = f"every recipient was refused: {_reply_text(exc.recipients)}"
        raise _Failed(ConsolidatorMsg.NOT_SENT.format(server=server, reason=reason)) from None
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        reason = str(exc) or type(exc).__name__
        raise _Failed(
            ConsolidatorMsg.NOT_SENT.format(server=server, reason=reason.rstrip("."))
        ) from None
    if not refused:
        return None
    return ConsolidatorMsg.RECIPIENTS_REFUSED.format(server=server, refused=_reply_text(refused))


def _reply_text(refused: Mapping[str, tuple[int, bytes]]) -> str:
    def text(reply: bytes | str) -> str:
        return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

    return ", ".join(
        f"{address} ({code} {text(reply)})" for address, (code, reply) in refused.items()
    )
