"""What an unattended command leaves for a person: the dated lines of `--quiet` and the
plain-text summary a heartbeat carries. Both are views of the report."""

from __future__ import annotations

import io
from datetime import datetime

from rich.console import Console

from session_import.errors import ExitCode
from session_import.render import render
from session_import.report import COUNT_NAMES, Report


def _reason(f) -> str:
    if f.error is not None:
        return f.error
    parts = []
    rejected = f.counts["rejected"]
    if rejected:
        parts.append(f"{rejected} row{'s' if rejected != 1 else ''} rejected")
    pending = {p: c["pending"] for p, c in f.publishers.items() if c.get("pending")}
    if pending:
        waiting = ", ".join(f"{p} {n}" for p, n in pending.items())
        parts.append(f"changes still to publish ({waiting})")
    return "; ".join(parts) or "not clean"


def quiet_lines(report: Report, when: datetime) -> list[str]:
    """One dated line per file that was not clean: run id, counts, exit code, the reason."""
    stamp = when.isoformat(timespec="seconds")
    lines = []
    for f in report.files:
        code = f.exit_code
        if code == ExitCode.OK:
            continue
        counts = ", ".join(f"{f.counts[n]} {n}" for n in COUNT_NAMES)
        earlier = " (delivery of an earlier run)" if f.earlier_run else ""
        lines.append(
            f"{stamp} {f.file} [{f.import_id}, {f.action}]{earlier}: run {f.run_id}, "
            f"exit {int(code)}: {counts}: {_reason(f)}"
        )
    return lines


def plain_text(report: Report) -> str:
    """The report as plain lines, what a piped run prints on stdout and stderr together."""
    buffer = io.StringIO()
    console = Console(
        file=buffer, width=200, color_system=None, force_terminal=False, highlight=False
    )
    render(report, console, console)
    return buffer.getvalue()
