"""The files a run writes: the JSON report and the rejects CSV, each written atomically.

Both are written as streams (a million rejected rows are never in memory together),
through a temporary file in the target's folder, so that a failure never leaves half
a file; OutputError says which file could not be written.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path

from session_import.errors import ExitCode, SessionImportError
from session_import.formulas import neutralise_formula
from session_import.report import Report, merge_rows


class OutputMsg(StrEnum):
    NOT_WRITTEN = "Could not write {path}: {reason}."


class OutputError(SessionImportError):
    """A report or rejects file could not be written."""

    exit_code = ExitCode.FILE_FAILED


def atomic_write(path: Path, write, encoding: str = "utf-8") -> None:
    """Write through a temporary file in the same folder, so a failure never leaves half a file."""
    path = Path(path)
    tmp_name = None
    try:
        if path.exists() and not path.is_file():
            # a device or a pipe (/dev/stdout, /dev/full): write to it, never replace it
            with open(path, "w", encoding=encoding, newline="") as handle:
                write(handle)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "w", encoding=encoding, newline="") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except (OSError, UnicodeError) as exc:
        if tmp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
        reason = getattr(exc, "strerror", None) or exc
        raise OutputError(OutputMsg.NOT_WRITTEN.format(path=path, reason=reason)) from exc


# ---- JSON, streamed ----

_encode = json.JSONEncoder(ensure_ascii=False).encode
_encode_indented = json.JSONEncoder(ensure_ascii=False, indent=2).encode


def write_json(value, write: Callable[[str], object], depth: int = 0) -> None:
    """``json.dump(value, indent=2, ensure_ascii=False)``, written piece by piece: an
    iterator is written as an array, one item at a time (each item whole: it holds no
    iterator), so that a million rejected rows are never in memory together. The text is
    the same as json.dump's."""
    inner = "\n" + "  " * (depth + 1)
    if isinstance(value, Iterator):
        first = True
        for item in value:
            write(("[" if first else ",") + inner + _encode_indented(item).replace("\n", inner))
            first = False
        write("[]" if first else "\n" + "  " * depth + "]")
    elif isinstance(value, dict) and value:
        for i, (key, item) in enumerate(value.items()):
            write(("{" if i == 0 else ",") + inner + _encode(key) + ": ")
            write_json(item, write, depth + 1)
        write("\n" + "  " * depth + "}")
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            write(("[" if i == 0 else ",") + inner)
            write_json(item, write, depth + 1)
        write("\n" + "  " * depth + "]")
    else:
        write(_encode(value))


def write_json_report(report: Report, path: Path) -> None:
    atomic_write(path, lambda h: write_json(report.to_json(streamed=True), h.write))


# ---- rejects file ----


def rejects_paths(report: Report, path: Path) -> dict[str, Path]:
    """Data file -> its rejects file: ``path`` itself, or one per data file when several
    have rejects."""
    files = list(dict.fromkeys(f.file for f in report.files if f.rejected))
    path = Path(path)
    if len(files) <= 1:
        return {name: path for name in files}
    return {name: path.with_name(f"{path.stem}-{Path(name).stem}{path.suffix}") for name in files}


def write_rejects_csv(report: Report, file: str, handle) -> None:
    """The rejected rows of one data file in its own delimiter, header and line breaks,
    plus ``errors``, written row by row.

    A row rejected by several actions of one import is written once, with all
    its messages. Formula-like cells are neutralised so a spreadsheet never runs them.
    """
    parts = [f for f in report.files if f.file == file and f.rejected]
    first = parts[0]
    writer = csv.writer(handle, delimiter=first.delimiter, lineterminator=first.newline)
    if first.header is not None:
        writer.writerow([neutralise_formula(c) for c in first.header] + ["errors"])
    for row in merge_rows([iter(part.rejected) for part in parts]):
        errors = neutralise_formula(" ".join(row.messages))
        writer.writerow([neutralise_formula(c) for c in row.cells] + [errors])


class _TooLong(Exception):
    pass


class _BoundedText(io.StringIO):
    def __init__(self, limit: int | None):
        super().__init__()
        self.limit = limit

    def write(self, text: str) -> int:
        if self.limit is not None and self.tell() + len(text) > self.limit:
            raise _TooLong
        return super().write(text)


def rejects_csv(report: Report, file: str, max_chars: int | None = None) -> str | None:
    """What ``--rejects`` writes for one data file, as text; None when it would be longer
    than ``max_chars`` (an e-mail attachment must stay small)."""
    buffer = _BoundedText(max_chars)
    try:
        write_rejects_csv(report, file, buffer)
    except _TooLong:
        return None
    return buffer.getvalue()


def write_rejects(report: Report, path: Path) -> list[Path]:
    """One rejects file per data file that has rejected rows (see ``rejects_paths``)."""
    written = []
    for name, target in rejects_paths(report, path).items():
        encoding = next(f.encoding for f in report.files if f.file == name)
        atomic_write(
            target, lambda handle, name=name: write_rejects_csv(report, name, handle), encoding
        )
        written.append(target)
    return written
