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
import errno
import heapq
import html
import os
import re
import shutil
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from itertools import islice
from pathlib import Path

from session_import.config import ConsolidatorConfig, ImportConfig, RunPathMsg, leads_outside
from session_import.report import (
    COUNT_NAMES,
    ConsolidatorFailure,
    FileReport,
    Report,
    rejected_lines,
    rejects_csv,
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
    BAD_STARTTLS = "SMTP_STARTTLS {value!r} must be yes or no."
    LOGIN_REFUSED = "the SMTP server {server} refused the login of {user} ({code})."
    NOT_SENT = "the e-mail could not be sent through {server}: {reason}."
    RECIPIENTS_REFUSED = "the SMTP server {server} refused {refused}; the other recipients received it."
    UNEXPECTED = "{name} failed: {reason}"
    EMAIL_MORE_ROWS = "and {count} more rows: see {where}."
    EMAIL_MORE_WARNINGS = "and {count} more warnings: the error log and the --report file list them all."
    EMAIL_ATTACHED = "the attached {attachment}"
    EMAIL_NOT_ATTACHED = "the error log or the --rejects file"
    EMAIL_TOO_LARGE = (
        "The rejects file is larger than {limit} and is not attached: write it with --rejects, or"
        " read the error log."
    )


class _Failed(Exception):
    """A consolidator could not do its work; the message is CrossKnowledge's wording."""


class _CopiedNotDeleted(_Failed):
    """The backup holds the file, but the source could not be deleted."""


def run_consolidators(imp: ImportConfig, path: Path, reports: list[FileReport], when: datetime,
                      environ: Mapping[str, str]) -> list[ConsolidatorFailure]:
    """Run the import's enabled consolidators over one committed data file; return their failures."""
    failures: list[ConsolidatorFailure] = []
    failed_as_a_whole = any(r.error is not None for r in reports)
    stamp = when.strftime("%Y%m%d-%H%M%S")
    backup: str | None = None  # "moved", "copied" (the source stayed) or "failed"
    for consolidator in imp.consolidators:
        if consolidator.disabled:
            continue
        try:
            if consolidator.name == "timeStampedFileErrorLogger":
                write_error_log(consolidator, path, reports, stamp)
            elif consolidator.name == "moveToBackupConsolidator" and not failed_as_a_whole:
                backup = "failed"
                move_to_backup(consolidator, path, stamp)
                backup = "moved"
            elif consolidator.name == "emailReport":
                send_email_report(consolidator, imp, path, reports, environ)
            elif (consolidator.name == "deleteProcessedFilesConsolidator" and not failed_as_a_whole
                  and backup in (None, "copied")):
                # moved: nothing left to delete; a backup that failed: the file is its only copy
                delete_processed_file(path)
        except _CopiedNotDeleted as exc:
            backup = "copied"
            failures.append(ConsolidatorFailure(consolidator.name, str(path), scrub(str(exc), environ)))
        except _Failed as exc:
            failures.append(ConsolidatorFailure(consolidator.name, str(path), scrub(str(exc), environ)))
        except Exception as exc:  # noqa: BLE001 - the file is committed: report it, never crash the run
            reason = scrub(f"{type(exc).__name__}: {exc}", environ)
            error = ConsolidatorMsg.UNEXPECTED.format(name=consolidator.name, reason=reason)
            failures.append(ConsolidatorFailure(consolidator.name, str(path), error))
    return failures


def scrub(text: str, environ: Mapping[str, str]) -> str:
    """``text`` without the SMTP password, as written or as SMTP AUTH encodes it."""
    password = environ.get("SMTP_PASSWORD") or ""
    if not password:
        return text
    user = environ.get("SMTP_USER") or ""

    def b64(value: str) -> str:
        return base64.b64encode(value.encode("utf-8")).decode("ascii")

    forms = {password, repr(password)[1:-1], repr(password.encode("utf-8"))[2:-1],
             b64(password), b64(f"\0{user}\0{password}")}
    for form in sorted(forms, key=len, reverse=True):
        if form:
            text = text.replace(form, HIDDEN)
    return text


# ---- timeStampedFileErrorLogger ----


def _one_line(text: str) -> str:
    """A quoted cell may hold line breaks; the log keeps one message a line."""
    return text.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


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
            streams.append([(line, 0, f"Line number:{line},ERROR,{_one_line(report.error)}")])
        streams.append(_rejected_entries(report))
        streams.append(_warning_entries(report))
    # merge keeps the order of the streams for equal keys: as a stable sort of them all would
    return (text for _, _, text in heapq.merge(*streams, key=lambda e: (e[0], e[1])))


def _rejected_entries(report: FileReport) -> Iterator[tuple[int, int, str]]:
    for row in report.rejected:
        cells = _one_line(",".join(row.cells))
        for message in row.messages:
            yield row.line, 0, f"Line number:{row.line},ERROR,{cells},{_one_line(message)}"


def _warning_entries(report: FileReport) -> Iterator[tuple[int, int, str]]:
    for line, messages, cells in report.warnings.with_cells():
        for message in messages:
            shown = _one_line(message if cells is None else f"{','.join(cells)},{message}")
            yield line, 1, f"Line number:{line},WARNING,{shown}"


def write_error_log(consolidator: ConsolidatorConfig, path: Path, reports: list[FileReport],
                    stamp: str) -> Path:
    folder = Path(consolidator.options["location"][0])
    _still_where_configured(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.LOG_FOLDER.format(folder=folder)) from exc
    _still_where_configured(folder)
    target = folder / f"{stamp}_{path.name}.log"
    try:
        with open(target, "w", encoding="utf-8", newline="\n", opener=_no_follow) as handle:
            handle.writelines(line + "\n" for line in error_log_lines(reports))
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.LOG_WRITE.format(file=target)) from exc
    return target


def _still_where_configured(folder: Path) -> None:
    """The configuration resolved ``folder`` when it was read; a link made since must not move it."""
    target = leads_outside(folder, folder)
    if target is not None:
        raise _Failed(RunPathMsg.FOLDER_MOVED.format(folder=folder, target=target))


def _no_follow(name: str, flags: int) -> int:
    """Open without following a link at the last step: a log name is predictable."""
    return os.open(name, flags | os.O_NOFOLLOW, 0o666)


# ---- moveToBackupConsolidator ----


def move_to_backup(consolidator: ConsolidatorConfig, path: Path, stamp: str) -> Path:
    """Move the file; across file systems, copy and sync it in place before deleting the source.

    At every moment the file exists whole in one place at least: a crash leaves
    at worst a hidden ``.part`` file in the backup folder, never a lost file.
    """
    folder = Path(consolidator.options["backupFolder"][0])
    _still_where_configured(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failed(ConsolidatorMsg.BACKUP_FOLDER.format(folder=folder)) from exc
    _still_where_configured(folder)
    prefix = f"{stamp}_" if consolidator.options.get("timestamp", ("no",))[0] == "yes" else ""
    target = folder / f"{prefix}{path.name}"
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise _Failed(ConsolidatorMsg.COPY.format(source=path, target=target)) from exc
    else:
        _sync_folder(folder)
        return target
    _copy_synced(path, target)
    try:
        os.unlink(path)
    except OSError as exc:
        raise _CopiedNotDeleted(ConsolidatorMsg.DELETE_MOVED.format(file=path)) from exc
    return target


def _copy_synced(source: Path, target: Path) -> None:
    """Copy to a temporary name beside ``target``, fsync, rename into place; the source stays."""
    tmp_name: str | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
            shutil.copyfileobj(data, out, 1 << 20)
            out.flush()
            try:
                shutil.copystat(source, tmp_name)  # the backup keeps the file's date and mode
            except OSError:
                pass  # a file system without modes or times still gets the content
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass
        raise _Failed(ConsolidatorMsg.COPY.format(source=source, target=target)) from exc
    _sync_folder(target.parent)


def _sync_folder(folder: Path) -> None:
    """Make a rename into ``folder`` durable (best effort: some file systems refuse it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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


def build_email(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
                reports: list[FileReport], sender: str) -> EmailMessage:
    """The summary and the rejected rows as text and as HTML, the rejects file attached.

    The attachment is what ``--rejects`` writes for this file, byte for byte.
    """
    message = EmailMessage(policy=EMAIL_POLICY)
    message["Subject"] = email_subject(imp, path, reports)
    message["From"] = sender
    message["To"] = ", ".join(consolidator.options["targetEmail"])
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid("session-import", domain=sender.rpartition("@")[2] or "localhost")
    esc = html.escape
    text: list[str] = [f"Import {imp.id}, file {path}"]
    page: list[str] = [f"<p>Import <b>{esc(imp.id)}</b>, file <code>{esc(str(path))}</code></p>"]
    run_id = next((r.run_id for r in reports if r.run_id is not None), None)
    if run_id is not None:
        text.append(f"Recorded as run {run_id}: session-import history {run_id} lists each change.")
        page.append(f"<p>Recorded as run {run_id}: <code>session-import history {run_id}</code> "
                    "lists each change.</p>")
    head = "".join(f"<th>{n}</th>" for n in COUNT_NAMES)
    with_rejects = [r for r in reports if r.rejected]
    attachment = f"{_header_safe(path.stem)}.rejects.csv"
    csv_text = (rejects_csv(Report(files=list(reports)), with_rejects[0].file, MAX_ATTACHMENT)
                if with_rejects else None)
    where = (ConsolidatorMsg.EMAIL_ATTACHED.format(attachment=attachment) if csv_text is not None
             else ConsolidatorMsg.EMAIL_NOT_ATTACHED)
    for r in reports:
        counts = ", ".join(f"{r.counts[n]} {n}" for n in COUNT_NAMES[1:])
        text.append("")
        text.append(f"{r.action}: {r.counts['rows']} rows: {counts}")
        cells = "".join(f"<td>{r.counts[n]}</td>" for n in COUNT_NAMES)
        page.append(f"<h3>{esc(r.action)}</h3><table border=1><tr>{head}</tr><tr>{cells}</tr></table>")
        if r.error is not None:
            text.append(f"The file failed as a whole, nothing of it was applied: {r.error}")
            page.append(f"<p>The file failed as a whole, nothing of it was applied: {esc(r.error)}</p>")
        if r.rejected:
            rows = iter(r.rejected)
            shown = list(islice(rows, EMAIL_ROWS))
            text.append("Rejected rows:")
            text.extend(f"  line {row.line}: {' '.join(row.messages)}" for row in shown)
            items = "".join(
                f"<tr><td>{row.line}</td><td>{esc(' '.join(row.messages))}</td></tr>" for row in shown
            )
            page.append(f"<table border=1><tr><th>line</th><th>messages</th></tr>{items}</table>")
            if more := sum(1 for _ in rows):
                said = ConsolidatorMsg.EMAIL_MORE_ROWS.format(count=more, where=where)
                text.append(f"  {said}")
                page.append(f"<p>{esc(said)}</p>")
        if r.warnings:
            warnings = iter(r.warnings)
            shown = list(islice(warnings, EMAIL_ROWS))
            text.append("Warnings:")
            text.extend(f"  line {line}: {' '.join(msgs)}" for line, msgs in shown)
            items = "".join(f"<tr><td>{line}</td><td>{esc(' '.join(msgs))}</td></tr>"
                            for line, msgs in shown)
            page.append(f"<p>Warnings:</p><table border=1><tr><th>line</th><th>messages</th></tr>"
                        f"{items}</table>")
            if more := sum(1 for _ in warnings):
                said = ConsolidatorMsg.EMAIL_MORE_WARNINGS.format(count=more)
                text.append(f"  {said}")
                page.append(f"<p>{esc(said)}</p>")
    if with_rejects:
        if csv_text is not None:
            note = f"The rejected rows are attached as {attachment}: correct them and import that file again."
        else:
            limit = (f"{MAX_ATTACHMENT // 2**20} MiB" if MAX_ATTACHMENT % 2**20 == 0
                     else f"{MAX_ATTACHMENT:,} characters")
            note = ConsolidatorMsg.EMAIL_TOO_LARGE.format(limit=limit)
        text.extend(["", note])
        page.append(f"<p>{esc(note)}</p>")
    message.set_content("\n".join(text) + "\n")
    message.add_alternative(
        '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
        + "\n".join(page) + "</body></html>\n",
        subtype="html",
    )
    if csv_text is not None:
        first = with_rejects[0]
        message.add_attachment(
            csv_text.encode(first.encoding, errors="replace"), maintype="text", subtype="csv",
            filename=attachment, params={"charset": _attachment_charset(first.encoding)},
        )
    return message


def send_email_report(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
                      reports: list[FileReport], environ: Mapping[str, str]) -> None:
    """Send the report; each FileReport gets ``email = {"sent", "error"}``, never the password."""
    try:
        error = _send(consolidator, imp, path, reports, environ)  # set when some recipients refused
        sent = True
    except _Failed as exc:
        sent, error = False, str(exc)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the e-mail was not sent
        sent = False
        error = ConsolidatorMsg.UNEXPECTED.format(name="emailReport", reason=f"{type(exc).__name__}: {exc}")
    if error is not None:
        error = scrub(error, environ)
    for r in reports:
        r.email = {"sent": sent, "error": error}
    if error is not None:
        raise _Failed(error)


def _smtp_settings(environ: Mapping[str, str]) -> tuple[str, int, bool]:
    host = (environ.get("SMTP_HOST") or "").strip()
    if not host:
        raise _Failed(ConsolidatorMsg.NO_SMTP_HOST)
    raw_port = (environ.get("SMTP_PORT") or "").strip() or "25"
    if not raw_port.isdigit() or not 0 < int(raw_port) < 65536:
        raise _Failed(ConsolidatorMsg.BAD_PORT.format(value=environ.get("SMTP_PORT")))
    raw_starttls = (environ.get("SMTP_STARTTLS") or "").strip().lower() or "no"
    if raw_starttls not in ("yes", "no"):
        # a typo must never send the password in clear
        raise _Failed(ConsolidatorMsg.BAD_STARTTLS.format(value=environ.get("SMTP_STARTTLS")))
    return host, int(raw_port), raw_starttls == "yes"


def _tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """Certificates and host names verified, against SSL_CERT_FILE when set (a private CA)."""
    return ssl.create_default_context(cafile=environ.get("SSL_CERT_FILE") or None)


def _send(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
          reports: list[FileReport], environ: Mapping[str, str]) -> str | None:
    """Send the e-mail; the text of the recipients the server refused, if only some were."""
    host, port, starttls = _smtp_settings(environ)
    server = f"{host}:{port}"
    user = environ.get("SMTP_USER") or ""
    try:
        sender = (environ.get("SMTP_FROM") or "").strip() or f"session-import@{socket.gethostname()}"
        message = build_email(consolidator, imp, path, reports, sender)
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT) as smtp:
            smtp.ehlo()
            if starttls:
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
        raise _Failed(ConsolidatorMsg.NOT_SENT.format(server=server, reason=reason.rstrip("."))) from None
    if not refused:
        return None
    return ConsolidatorMsg.RECIPIENTS_REFUSED.format(server=server, refused=_reply_text(refused))


def _reply_text(refused: Mapping[str, tuple[int, bytes]]) -> str:
    def text(reply: bytes | str) -> str:
        return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

    return ", ".join(f"{address} ({code} {text(reply)})" for address, (code, reply) in refused.items())
