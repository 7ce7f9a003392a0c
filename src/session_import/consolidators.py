"""What runs once at the end of each data file, in CrossKnowledge's order.

The error log, the move to backup, the e-mail report and the deletion of the
processed file. Each failure is reported (stderr and the JSON report) and never
changes the exit code; a file that failed as a whole is never moved or deleted.
"""

from __future__ import annotations

import errno
import html
import os
import re
import shutil
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from session_import.config import ConsolidatorConfig, ImportConfig
from session_import.report import COUNT_NAMES, ConsolidatorFailure, FileReport, Report, rejects_csv

SMTP_TIMEOUT = 30


class _Failed(Exception):
    """A consolidator could not do its work; the message is CrossKnowledge's wording."""


def run_consolidators(imp: ImportConfig, path: Path, reports: list[FileReport], when: datetime,
                      environ: Mapping[str, str]) -> list[ConsolidatorFailure]:
    failures: list[ConsolidatorFailure] = []
    failed_as_a_whole = any(r.error is not None for r in reports)
    stamp = when.strftime("%Y%m%d-%H%M%S")
    moved = False
    for consolidator in imp.consolidators:
        if consolidator.disabled:
            continue
        try:
            if consolidator.name == "timeStampedFileErrorLogger":
                write_error_log(consolidator, path, reports, stamp)
            elif consolidator.name == "moveToBackupConsolidator" and not failed_as_a_whole:
                move_to_backup(consolidator, path, stamp)
                moved = True
            elif consolidator.name == "emailReport":
                send_email_report(consolidator, imp, path, reports, environ)
            elif consolidator.name == "deleteProcessedFilesConsolidator":
                if not failed_as_a_whole and not moved:
                    try:
                        os.unlink(path)
                    except OSError as exc:
                        raise _Failed(f"Can not delete file {path}.") from exc
        except _Failed as exc:
            failures.append(ConsolidatorFailure(consolidator.name, str(path), str(exc)))
    return failures


# ---- timeStampedFileErrorLogger ----


def error_log_lines(reports: list[FileReport]) -> list[str]:
    """``Line number:4,ERROR,<the row's cells>,<message>``, in line order."""
    entries: list[tuple[int, int, str]] = []
    for report in reports:
        if report.error is not None:
            found = re.search(r":(\d+): ", report.error)
            line = int(found.group(1)) if found else 0
            entries.append((line, 0, f"Line number:{line},ERROR,{report.error}"))
            continue
        for row in report.rejected:
            for message in row.messages:
                entries.append((row.line, 0, f"Line number:{row.line},ERROR,{','.join(row.cells)},{message}"))
        for line, messages in report.warnings:
            cells = report.warning_cells.get(line)
            for message in messages:
                shown = f"{','.join(cells)},{message}" if cells is not None else message
                entries.append((line, 1, f"Line number:{line},WARNING,{shown}"))
    return [text for _, _, text in sorted(entries, key=lambda e: (e[0], e[1]))]


def write_error_log(consolidator: ConsolidatorConfig, path: Path, reports: list[FileReport],
                    stamp: str) -> Path:
    folder = Path(consolidator.options["location"][0])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failed(f"The {folder} directory can not be found nor created.") from exc
    target = folder / f"{stamp}_{path.name}.log"
    try:
        with open(target, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(line + "\n" for line in error_log_lines(reports))
    except OSError as exc:
        raise _Failed(f"Could not open the file {target} for writing.") from exc
    return target


# ---- moveToBackupConsolidator ----


def move_to_backup(consolidator: ConsolidatorConfig, path: Path, stamp: str) -> Path:
    """Move the file; across file systems, copy and sync it in place before deleting the source."""
    folder = Path(consolidator.options["backupFolder"][0])
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Failed(f"The backup folder {folder} does not exists or can not be created.") from exc
    prefix = f"{stamp}_" if consolidator.options.get("timestamp", ("no",))[0] == "yes" else ""
    target = folder / f"{prefix}{path.name}"
    try:
        os.replace(path, target)
        return target
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise _Failed(f"Can not copy the file {path} to {target}") from exc
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
        with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
            shutil.copyfileobj(source, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp_name, target)
    except OSError as exc:
        if tmp_name is not None and os.path.exists(tmp_name):
            os.unlink(tmp_name)
        raise _Failed(f"Can not copy the file {path} to {target}") from exc
    try:
        os.unlink(path)
    except OSError as exc:
        raise _Failed(f"Can not delete the file {path}") from exc
    return target


# ---- emailReport ----


def build_email(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
                reports: list[FileReport], sender: str) -> EmailMessage:
    """The summary and the rejected rows as text and as HTML, the rejects file attached."""
    rows = max(r.counts["rows"] for r in reports)
    rejected = sum(r.counts["rejected"] for r in reports)
    message = EmailMessage()
    message["Subject"] = f"session-import: {imp.id} {path.name}: {rows} rows, {rejected} rejected"
    message["From"] = sender
    message["To"] = ", ".join(consolidator.options["targetEmail"])
    text: list[str] = [f"Import {imp.id}, file {path}"]
    parts: list[str] = [f"<p>Import <b>{html.escape(imp.id)}</b>, file <code>{html.escape(str(path))}</code></p>"]
    for r in reports:
        counts = ", ".join(f"{r.counts[n]} {n}" for n in COUNT_NAMES)
        text.append(f"{r.action}: {counts}")
        cells = "".join(f"<td>{r.counts[n]}</td>" for n in COUNT_NAMES)
        head = "".join(f"<th>{n}</th>" for n in COUNT_NAMES)
        parts.append(f"<h3>{html.escape(r.action)}</h3><table border=1><tr>{head}</tr><tr>{cells}</tr></table>")
        if r.error is not None:
            text.append(f"The file failed as a whole: {r.error}")
            parts.append(f"<p>The file failed as a whole: {html.escape(r.error)}</p>")
        if r.rejected:
            text.append("Rejected rows:")
            text.extend(f"  line {row.line}: {' '.join(row.messages)}" for row in r.rejected)
            items = "".join(
                f"<tr><td>{row.line}</td><td>{html.escape(' '.join(row.messages))}</td></tr>"
                for row in r.rejected
            )
            parts.append(f"<table border=1><tr><th>line</th><th>messages</th></tr>{items}</table>")
        if r.warnings:
            text.append("Warnings:")
            text.extend(f"  line {line}: {' '.join(msgs)}" for line, msgs in r.warnings)
            items = "".join(
                f"<li>line {line}: {html.escape(' '.join(msgs))}</li>" for line, msgs in r.warnings
            )
            parts.append(f"<p>Warnings:</p><ul>{items}</ul>")
    message.set_content("\n".join(text) + "\n")
    message.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html")
    if rejected:
        encoding = reports[0].encoding
        csv_text = rejects_csv(Report(files=list(reports)), str(path))
        message.add_attachment(
            csv_text.encode(encoding, errors="replace"), maintype="text", subtype="csv",
            filename=f"{path.stem}.rejects.csv", params={"charset": encoding},
        )
    return message


def send_email_report(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
                      reports: list[FileReport], environ: Mapping[str, str]) -> None:
    password = environ.get("SMTP_PASSWORD") or ""
    try:
        _send(consolidator, imp, path, reports, environ)
    except _Failed as exc:
        error = str(exc)
        if password:
            error = error.replace(password, "********")
        for r in reports:
            r.email = {"sent": False, "error": error}
        raise _Failed(error) from None
    for r in reports:
        r.email = {"sent": True, "error": None}


def _send(consolidator: ConsolidatorConfig, imp: ImportConfig, path: Path,
          reports: list[FileReport], environ: Mapping[str, str]) -> None:
    host = environ.get("SMTP_HOST")
    if not host:
        raise _Failed("SMTP_HOST is not set; the e-mail report cannot be sent.")
    try:
        port = int(environ.get("SMTP_PORT") or 25)
    except ValueError:
        raise _Failed(f"SMTP_PORT {environ.get('SMTP_PORT')!r} is not a port number.") from None
    sender = environ.get("SMTP_FROM") or f"session-import@{socket.gethostname()}"
    message = build_email(consolidator, imp, path, reports, sender)
    starttls = (environ.get("SMTP_STARTTLS") or "no").lower() == "yes"
    user = environ.get("SMTP_USER")
    try:
        with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT) as smtp:
            smtp.ehlo()
            if starttls:
                context = ssl.create_default_context(cafile=environ.get("SSL_CERT_FILE") or None)
                smtp.starttls(context=context)
                smtp.ehlo()
            if user:
                smtp.login(user, environ.get("SMTP_PASSWORD") or "")
            smtp.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise _Failed(f"the SMTP server {host}:{port} refused the login of {user} ({exc.smtp_code}).") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise _Failed(f"the e-mail could not be sent through {host}:{port}: {exc}.") from None
