"""The command line: parse options, call one library function, render, exit with the report's
code."""

from __future__ import annotations

import errno
import io
import json
import math
import os
import signal
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import NoReturn

import click
from rich.console import Console
from rich.progress import Progress

from session_import import __version__
from session_import.approvals import apply_approval, check_approval, discard_held, held_config
from session_import.config import describe, load_config
from session_import.errors import ExitCode, SessionImportError, worst
from session_import.export import KINDS, write_export
from session_import.history import (
    journal_line,
    journal_view,
    render_journal,
    render_runs,
    revert_run,
    run_outcome,
)
from session_import.limits import ON_LIMIT, parse_limit, store_file_clash
from session_import.lock import LockBusy
from session_import.outputs import (
    OutputError,
    atomic_write,
    write_json,
    write_json_report,
    write_rejects,
)
from session_import.pages import write_history_page, write_run_page
from session_import.pipeline import (
    RunMsg,
    RunOptions,
    UsageError,
    publish_pending,
    run_import,
    stop_explained,
)
from session_import.publishers import credential_problems
from session_import.render import progress_callback, progress_display, render, wait_lines
from session_import.report import Report
from session_import.spool import SpillFailed
from session_import.store import (
    StoreError,
    StoreInterface,
    StoreUnavailable,
    check_location,
    create_store,
    is_postgres_url,
    open_store,
    run_lock,
    shown,
)
from session_import.store.postgres.copy import copy_between
from session_import.watch.events import Event, EventName, json_line
from session_import.watch.heartbeat import BODY_LIMIT, Heartbeat
from session_import.watch.metrics import MetricsError, write_metrics
from session_import.watch.nights import on_record
from session_import.watch.status import status_line, store_status
from session_import.watch.summary import plain_text, quiet_lines
from session_import.watch.timespans import parse_duration, parse_since

DEFAULT_DB = "session-import.db"


class CliMsg(StrEnum):
    DISK_FULL = "Could not write {target}: {reason}. Free some space and run the command again."
    FREE_SPACE = "{error} Free some space and run the command again."
    FRAGMENT = "{config}: a fragment cannot be {verb}."
    VALID = "{config}: the configuration is valid."
    NO_RUN = "There is no run {run}; `session-import history` lists the runs."
    NO_SPILL = (
        "Could not keep the run's rejected rows and warnings in the temporary folder ({error}); "
        "set TMPDIR to a folder with room. A file whose import had not ended was rolled back."
    )
    HTML_WITH_RUN = "--html writes the page of recent nights; give it without RUN."
    NOT_SECONDS = "{value} is not a number of seconds: give a finite number, 0 or more (e.g. 30)."


# a full disk (or quota) is the machine's problem, like a store that fails: exit 5
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            return True
        exc = exc.__cause__
    return False


def _stdout_gone() -> None:
    """The reader of our stdout went away (``| head``): what is left goes nowhere, quietly."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):
        return  # not a real file (a test runner's capture): nothing will flush there
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fileno)
    os.close(devnull)


def _flush_stdout() -> None:
    """Flush now, so that a full disk or a closed pipe is met here and not by the
    interpreter at exit (a traceback-like "Exception ignored" and exit 120)."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _stdout_gone()
    except OSError as exc:
        if not _disk_full(exc):
            raise
        click.echo(
            CliMsg.DISK_FULL.format(target="the standard output", reason=exc.strerror), err=True
        )
        _stdout_gone()
        sys.exit(int(ExitCode.STORE_UNAVAILABLE))


def _console(file) -> Console:
    """Data is printed as written: never read as markup (``[bold]``) or emoji codes (``:100:``)."""
    return Console(file=file, markup=False, emoji=False, highlight=False)


def _consoles(quiet: bool, watch: _Watch | None = None) -> tuple[Console, Console]:
    """stdout and stderr; with --log-format json, the report's stderr lines are its events."""
    if watch is not None and watch.log is not None:
        return _console(sys.stdout), _console(io.StringIO())
    return _console(sys.stdout), _console(sys.stderr)


def _fail(message: str, code: ExitCode) -> NoReturn:
    click.echo(message, err=True)
    sys.exit(int(code))


def _exit_on(exc: SessionImportError) -> NoReturn:
    """The one place a fatal error becomes its message and its exit code."""
    _fail(exc.explain(), exc.exit_code)


def _open_store(db: str) -> StoreInterface:
    """An existing store, to read: never created here (`session-import init` does that)."""
    return open_store(db, create=False, writable=False)


def _preflight(db: str) -> None:
    """A store that a run, publish or revert may write: it exists, and it and its folder can
    be written; said before anything is read or locked. (A server's store says so when it
    is reached.)"""
    if not is_postgres_url(db):
        check_location(db)


def _now() -> datetime:
    return datetime.now(UTC).astimezone()


def _load(config_path: str, *, fragments: bool = False, quiet: bool = False):
    config = load_config(config_path, fragments=fragments)
    if not quiet:
        for warning in config.warnings:
            click.echo(warning, err=True)
    return config


def common(func):
    func = click.option("--verbose", is_flag=True, help="Say more about what is done.")(func)
    func = click.option("--quiet", is_flag=True, help="Print nothing but errors.")(func)
    func = click.option(
        "--db",
        envvar="SESSION_IMPORT_DB",
        default=DEFAULT_DB,
        show_default=True,
        type=click.Path(dir_okay=False),
        help=(
            "The store: an SQLite file, or a postgresql://USER@HOST:PORT/DB URL (default:"
            " $SESSION_IMPORT_DB, else session-import.db here)."
        ),
    )(func)
    return func


class _Commands(click.Group):
    """Every command: a store that fails (disk full, I/O error, locked) or a full disk is
    exit 5, not a traceback; a reader that closes our output (``| head``) ends it quietly."""

    def main(self, *args, **kwargs):
        try:
            try:
                return super().main(*args, **kwargs)
            finally:
                _flush_stdout()
        except BrokenPipeError:
            _stdout_gone()
            sys.exit(int(ExitCode.OK))
        except OSError as exc:
            if not _disk_full(exc):
                raise
            target = exc.filename or "the standard output"  # what writes without a name
            click.echo(CliMsg.DISK_FULL.format(target=target, reason=exc.strerror), err=True)
            _stdout_gone()
            sys.exit(int(ExitCode.STORE_UNAVAILABLE))

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SessionImportError as exc:
            _exit_on(exc)
        except BrokenPipeError:  # caught before click, which would exit 1
            _stdout_gone()
            ctx.exit(int(ExitCode.OK))


EXIT_CODES = """\b
Exit codes (the worst of the files of a run):
  0   every row applied (warnings allowed), or an empty file
  1   some rows rejected, the others applied (revert: refused)
  2   command-line usage error
  3   a data file failed as a whole, or every one of its rows was rejected
  4   the configuration is invalid; nothing was run
  5   the store is unavailable or failed, another import holds the lock, or a disk is full
  6   applied to the store; some changes still wait to be delivered to a remote LMS
  7   held for approval: a file past a safety limit, with --on-limit hold (approve RUN)
  130, 143  interrupted by SIGINT or SIGTERM (the message says what was committed)
"""


@click.group(
    cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_CODES
)
@click.version_option(__version__, prog_name="session-import")
def main() -> None:
    """Import training sessions from delimited text files (CSV, semicolon, pipe, tab) or
    Excel workbooks (.xlsx) into the session store, as an XML import configuration
    (CrossKnowledge generic-import format) describes, and publish them to hosted LMSs."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT: unwinds like KeyboardInterrupt, so the open transaction rolls back."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


class _StderrTap(io.TextIOBase):
    """stderr for the length of a run or publish: keeps what is written (the heartbeat's
    body when the command ends before it has a report) and, with --log-format json,
    turns each plain line into a ``message`` event, so that stderr is JSON lines only."""

    def __init__(self, target, log: _JsonLog | None):
        self.target = target
        self.log = log
        self.kept = io.StringIO()
        self._partial = ""

    # typeshed declares TextIOBase.encoding a plain attribute; at run time it is a read-only
    # descriptor, so a property is how a subclass gives it
    @property
    def encoding(self):  # type: ignore[override]
        return getattr(self.target, "encoding", None) or "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.log is None and self.target.isatty()

    def write(self, text: str) -> int:
        if self.kept.tell() < BODY_LIMIT:
            self.kept.write(text)
        if self.log is None:
            return self.target.write(text)
        self._partial += text
        *lines, self._partial = self._partial.split("\n")
        for line in lines:
            if line.strip():
                self.log.emit(Event(EventName.MESSAGE, "error", fields={"message": line}))
        return len(text)

    def flush(self) -> None:
        self.target.flush()


class _JsonLog:
    def __init__(self, target):
        self.target = target

    def emit(self, event: Event) -> None:
        self.target.write(json_line(event, _now()) + "\n")
        self.target.flush()


class _Watch:
    """What an unattended run or publish tells the outside: heartbeats (--ping-url), the
    metrics file (--metrics-file) and, with --log-format json, its events on stderr."""

    def __init__(
        self,
        command: str,
        config: str,
        db: str,
        ping_url: str | None,
        metrics_file: str | None,
        log_format: str,
    ):
        self.command, self.config, self.db = command, config, db
        self.metrics_file = metrics_file
        self.heartbeat = Heartbeat(ping_url) if ping_url else None
        self.real_stderr = sys.stderr
        self.log = _JsonLog(self.real_stderr) if log_format == "json" else None
        self.tap = _StderrTap(self.real_stderr, self.log)
        self.report = None
        self.imports: dict[str, list[str]] = {}  # import id -> publishers, once the config is read

    @property
    def on_event(self):
        return self.log.emit if self.log is not None else None

    def configured(self, cfg) -> None:
        self.imports = {imp.id: [p.name for p in imp.publishers] for imp in cfg.imports}

    def warn(self, message: str) -> None:
        if self.log is not None:
            self.log.emit(Event(EventName.MESSAGE, "warning", fields={"message": message}))
        else:
            self.real_stderr.write(message + "\n")

    def begin(self) -> None:
        sys.stderr = self.tap
        if self.log is not None:
            self.log.emit(
                Event(
                    EventName.COMMAND_STARTED,
                    fields={"command": self.command, "config": self.config, "pid": os.getpid()},
                )
            )
        if self.heartbeat is not None:
            problem = self.heartbeat.start()
            if problem:
                self.warn(problem)

    def end(self, code: int) -> None:
        try:
            if self.metrics_file and self.imports:
                self._write_metrics(self.metrics_file)
            if self.heartbeat is not None:
                summary = (
                    plain_text(self.report) if self.report is not None else self.tap.kept.getvalue()
                )
                head = f"session-import {self.command} {self.config}: exit {code}\n"
                problem = self.heartbeat.finish(code, head + summary)
                self.heartbeat.close()
                if problem:
                    self.warn(problem)
            if self.log is not None:
                level = (
                    "info"
                    if code == 0
                    else "warning"
                    if code == ExitCode.PUBLISH_PENDING
                    else "error"
                )
                self.log.emit(
                    Event(
                        EventName.COMMAND_ENDED,
                        level,
                        fields={"command": self.command, "exit_code": code},
                    )
                )
        finally:
            sys.stderr = self.real_stderr

    def _write_metrics(self, metrics_file: str) -> None:
        try:
            store = open_store(self.db, create=False, writable=False)
        except StoreUnavailable:
            return  # said already; the store's history is what the file shows
        try:
            write_metrics(store, self.imports, metrics_file)
        except MetricsError as exc:
            self.warn(str(exc))
        finally:
            store.close()


@contextmanager
def _watched(command: str, config: str, db: str, ping_url, metrics_file, log_format):
    watch = _Watch(command, config, db, ping_url, metrics_file, log_format)
    watch.begin()
    code = int(ExitCode.PARTIAL)
    try:
        yield watch
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        raise
    except click.ClickException as exc:
        code = exc.exit_code
        raise
    except SessionImportError as exc:
        code = int(exc.exit_code)
        _exit_on(exc)
    finally:
        watch.end(code)


def _watch_options(func):
    func = click.option(
        "--log-format",
        type=click.Choice(["text", "json"]),
        default="text",
        show_default=True,
        help="json: one JSON object per line on stderr for each event (stdout stays as it is).",
    )(func)
    func = click.option(
        "--metrics-file",
        type=click.Path(dir_okay=False),
        help="Write the Prometheus textfile (node_exporter) of every import of CONFIG at the end.",
    )(func)
    func = click.option(
        "--ping-url",
        envvar="SESSION_IMPORT_PING_URL",
        metavar="URL",
        help="Heartbeat URL (healthchecks.io convention): URL/start, then URL/<exit code> "
        "(default $SESSION_IMPORT_PING_URL).",
    )(func)
    return func


def _recorded(store: StoreInterface, import_ids, command: str, options: RunOptions, work):
    """A non-dry command on record in the store's commands table, per import."""
    if options.dry_run:
        return work()
    return on_record(store, import_ids, command, options.clock, work)


class _Seconds(click.ParamType):
    """A number of seconds: finite and not negative (``nan`` would wait forever)."""

    name = "seconds"

    def convert(self, value, param, ctx):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if not math.isfinite(seconds) or seconds < 0:
            self.fail(CliMsg.NOT_SECONDS.format(value=value), param, ctx)
        return seconds


SECONDS = _Seconds()


def _publish_timeout(func):
    return click.option(
        "--publish-timeout",
        type=SECONDS,
        default=900.0,
        show_default=True,
        metavar="SECONDS",
        help="Seconds to spend delivering changes to remote LMSs; the rest waits for the next run.",
    )(func)


def _html_option(func):
    return click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False),
        help="Write the page of the run: one self-contained HTML file.",
    )(func)


def _not_the_store(option: str, path: str | None, db: str) -> None:
    """Refuse, before any work, an output path that is the store or one of its files."""
    if path and not is_postgres_url(db):
        problem = store_file_clash(path, db)
        if problem:
            raise click.BadParameter(problem, param_hint=f"'{option}'")


def _limit(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_limit(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Do all the work, then roll it back.")
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report."
)
@click.option(
    "--rejects",
    "rejects_path",
    type=click.Path(dir_okay=False),
    help="Write the rejected rows, in the input's format, with an errors column.",
)
@click.option("--diff", is_flag=True, help="Show the fields each update changes.")
@click.option("--force", is_flag=True, help="Import a file again even if this import applied it.")
@click.option(
    "--resolve-all",
    is_flag=True,
    help="Validate and resolve every row: no row is counted unchanged by its digest.",
)
@click.option(
    "--max-rejects",
    callback=_limit,
    metavar="N|P%",
    help="Apply nothing of a file with more rejected rows than this.",
)
@click.option(
    "--max-cancel",
    callback=_limit,
    metavar="N|P%",
    help="Apply nothing of a file that would cancel more sessions than this.",
)
@click.option(
    "--on-limit",
    type=click.Choice(ON_LIMIT),
    help="What a file past a limit becomes: failed (exit 3), or held for approval (exit 7).",
)
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for another import to finish.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar, even on a terminal.")
@_html_option
@_publish_timeout
@_watch_options
@common
def run(
    config,
    data,
    dry_run,
    report_path,
    rejects_path,
    diff,
    force,
    resolve_all,
    max_rejects,
    max_cancel,
    on_limit,
    lock_timeout,
    no_progress,
    html_path,
    publish_timeout,
    ping_url,
    metrics_file,
    log_format,
    db,
    quiet,
    verbose,
):
    """Run every import of CONFIG (DATA files, CSV or .xlsx, replace the provider's files)."""
    _not_the_store("--report", report_path, db)
    _not_the_store("--rejects", rejects_path, db)
    page = _page(html_path, db, "run")
    with _watched("run", config, db, ping_url, metrics_file, log_format) as watch:
        _preflight(db)
        cfg = _runnable(config, quiet, "run")
        watch.configured(cfg)
        out, err = _consoles(quiet, watch)
        progress = progress_display(out, quiet, no_progress)
        options = RunOptions(
            dry_run=dry_run,
            diff=diff,
            force=force,
            resolve_all=resolve_all,
            max_rejects=max_rejects,
            max_cancel=max_cancel,
            on_limit=on_limit,
            on_progress=progress_callback(progress),
            publish_timeout=publish_timeout,
            on_wait=_wait_callback(progress, err, watch),
            on_event=watch.on_event,
        )
        imports = [imp.id for imp in cfg.imports]
        report = Report(dry_run=dry_run, diff=diff)
        _locked(
            db,
            lock_timeout,
            f"session-import run {config}",
            progress,
            report,
            cfg,
            lambda store: _recorded(
                store,
                imports,
                "run",
                options,
                lambda: run_import(cfg, store, [Path(p) for p in data], options, report),
            ),
        )
        _finish(report, out, err, quiet, verbose, report_path, rejects_path, watch, page)


def _runnable(config: str, quiet: bool, verb: str):
    """A configuration that can be run or published: not a fragment, credentials present."""
    cfg = _load(config, quiet=quiet)
    if cfg.form == "fragment":
        _fail(CliMsg.FRAGMENT.format(config=config, verb=verb), ExitCode.CONFIG_INVALID)
    _check_credentials(cfg)
    return cfg


def _check_credentials(cfg) -> None:
    problems = credential_problems(cfg, _environ())
    if problems:
        for problem in problems:
            click.echo(problem, err=True)
        sys.exit(int(ExitCode.CONFIG_INVALID))


def _environ() -> dict[str, str]:
    return dict(os.environ)


def _wait_callback(progress: Progress | None, err: Console, watch: _Watch | None = None):
    """A publisher's wait: an event in the JSON log when there is one, else render.wait_lines."""
    if watch is not None and watch.log is not None:
        return lambda why, seconds: watch.log.emit(
            Event(EventName.WAIT, fields={"reason": why, "seconds": round(seconds, 1)})
        )
    return wait_lines(progress, err)


def _locked(
    db: str,
    lock_timeout: float,
    what: str,
    progress,
    report: Report,
    cfg,
    work,
    *,
    publishing: bool = False,
) -> None:
    """Take the lock of the imports of ``cfg`` and open the store, and do the work into
    ``report``. A signal or a store that fails stops it: ``report`` then says what was
    rolled back and what was committed (exit 143/130, or 5), and is still rendered and
    written."""
    previous = {
        sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    lock = run_lock(db)
    store = None
    try:
        lock.acquire(
            lock_timeout, what=what, imports=[imp.id for imp in cfg.imports], publishing=publishing
        )
        store = open_store(db, busy_timeout=lock_timeout, create=False)
        if progress is not None:
            progress.start()
        work(store)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except (LockBusy, StoreUnavailable) as exc:
        if store is None:
            _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
        # busy in the middle of the work: its own words, and what a commit before left
        cause = RunMsg.STORE_FAILED.format(db=shown(db), error=exc.__cause__ or exc)
        _stopped(report, store, cfg, cause, ExitCode.STORE_UNAVAILABLE, plain=str(exc))
    except StoreError as exc:
        cause = RunMsg.STORE_FAILED.format(db=shown(db), error=exc)
        _stopped(report, store, cfg, cause, ExitCode.STORE_UNAVAILABLE)
    except SpillFailed as exc:
        _fail(CliMsg.NO_SPILL.format(error=exc), ExitCode.STORE_UNAVAILABLE)
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        code = ExitCode.SIGTERM if exc.signum == signal.SIGTERM else ExitCode.SIGINT
        _stopped(report, store, cfg, RunMsg.INTERRUPTED.format(signal=name), code)
    finally:
        if progress is not None:
            progress.stop()
        if store is not None:
            store.close()
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(
    report: Report,
    store: StoreInterface | None,
    cfg,
    cause: str,
    code: ExitCode,
    plain: str | None = None,
) -> None:
    """The work stopped: what is true of the files (rolled back, or committed with what is
    left to do), for the terminal and the JSON report."""
    if store is None:
        report.stopped = [RunMsg.NO_FILE.format(cause=cause)]
    else:
        report.stopped = stop_explained(
            report, store, cause, [imp.id for imp in cfg.imports], plain
        )
    report.exit_override = code


def _page(html_path: str | None, db: str, command: str):
    """(path, writer) of ``--html``, the start taken now; None without the option."""
    if not html_path:
        return None
    _not_the_store("--html", html_path, db)
    started = _now()

    def write(report: Report, path: Path) -> None:
        write_run_page(report, path, started=started, command=command)

    return html_path, write


def _finish(
    report, out, err, quiet, verbose, report_path, rejects_path=None, watch=None, page=None
) -> None:
    if watch is not None:
        watch.report = report
    try:
        render(
            report,
            out,
            err,
            quiet=quiet,
            verbose=verbose,
            report_path=report_path,
            rejects_path=rejects_path,
        )
    except BrokenPipeError:  # | head: the summary goes nowhere, the report files still get it
        _stdout_gone()
    for line in report.stopped:
        click.echo(line, err=True)
    code = report.exit_code
    writers = [(report_path, write_json_report), (rejects_path, write_rejects)]
    if page is not None:
        writers.append(page)
    for target, writer in writers:
        if target:
            try:
                writer(report, Path(target))
            except OutputError as exc:
                if _disk_full(exc):
                    click.echo(CliMsg.FREE_SPACE.format(error=exc), err=True)
                    code = worst([code, ExitCode.STORE_UNAVAILABLE])
                else:
                    click.echo(str(exc), err=True)
                    code = worst([code, ExitCode.FILE_FAILED])
    if quiet and code != ExitCode.OK and (watch is None or watch.log is None):
        # a cron mail says what happened: a dated line per file that was not clean
        for line in quiet_lines(report, _now()):
            click.echo(line, err=True)
    sys.exit(int(code))


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report."
)
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a running import to finish.",
)
@_html_option
@_publish_timeout
@_watch_options
@common
def publish(
    config,
    report_path,
    lock_timeout,
    html_path,
    publish_timeout,
    ping_url,
    metrics_file,
    log_format,
    db,
    quiet,
    verbose,
):
    """Deliver to the remote LMSs of CONFIG the changes still waiting, reading no data file."""
    _not_the_store("--report", report_path, db)
    page = _page(html_path, db, "publish")
    with _watched("publish", config, db, ping_url, metrics_file, log_format) as watch:
        _preflight(db)
        cfg = _runnable(config, quiet, "published")
        watch.configured(cfg)
        out, err = _consoles(quiet, watch)
        progress = progress_display(out, quiet, False)
        options = RunOptions(
            publish_timeout=publish_timeout,
            on_wait=_wait_callback(progress, err, watch),
            on_event=watch.on_event,
        )
        imports = [imp.id for imp in cfg.imports if imp.publishers]
        report = Report()
        _locked(
            db,
            lock_timeout,
            f"session-import publish {config}",
            progress,
            report,
            cfg,
            lambda store: _recorded(
                store,
                imports,
                "publish",
                options,
                lambda: publish_pending(cfg, store, options, report),
            ),
            publishing=True,
        )
        _finish(report, out, err, quiet, verbose, report_path, watch=watch, page=page)


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@common
def check(config, db, quiet, verbose):
    """Validate CONFIG alone and say what each import will read and do."""
    cfg = _load(config, fragments=True, quiet=quiet)
    if cfg.form != "fragment":
        _check_credentials(cfg)
    if not quiet:
        for line in describe(cfg):
            click.echo(line)
        click.echo(CliMsg.VALID.format(config=config))


@main.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "csv"]),
    default="json",
    show_default=True,
    help="JSON (an array of objects) or CSV (a header, formulas neutralised).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False),
    help="Write to FILE (whole or not at all) instead of stdout.",
)
@common
def export(kind, fmt, output, db, quiet, verbose):
    """Print the store's sessions, trainings, users or groups."""
    _not_the_store("--output", output, db)
    store = _open_store(db)
    try:
        if output:
            try:
                atomic_write(Path(output), lambda handle: write_export(store, kind, fmt, handle))
            except OutputError as exc:
                if _disk_full(exc):
                    _fail(CliMsg.FREE_SPACE.format(error=exc), ExitCode.STORE_UNAVAILABLE)
                _fail(str(exc), ExitCode.FILE_FAILED)
        else:
            write_export(store, kind, fmt, sys.stdout)
    finally:
        store.close()


def _since(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_since(value, _now())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _duration(ctx, param, value):
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command()
@click.argument("run_id", metavar="[RUN]", type=int, required=False)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table (plain lines when piped) or JSON.",
)
@click.option(
    "--since",
    callback=_since,
    metavar="DURATION|DATE",
    help="Only the runs started since then: 7d, 26h, 2026-12-01, 2026-12-01T02:00.",
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False),
    help="Also write the page of recent nights: one self-contained HTML file.",
)
@common
def history(run_id, fmt, since, html_path, db, quiet, verbose):
    """The recorded runs, newest first; with RUN, that run's journal of changes."""
    if html_path and run_id is not None:
        raise click.UsageError(CliMsg.HTML_WITH_RUN)
    _not_the_store("--html", html_path, db)
    store = _open_store(db)
    try:
        if run_id is None:
            since_iso = since.astimezone(UTC).isoformat(timespec="seconds") if since else None
            runs = [dict(r, outcome=run_outcome(r)) for r in store.runs(since=since_iso)]
            if html_path:
                _write_history_page(store, html_path, runs, since)
            if fmt == "json":
                click.echo(json.dumps(runs, indent=2, ensure_ascii=False))
            else:
                render_runs(runs, _console(sys.stdout))
            return
        if store.run_file(run_id) is None:
            _fail(CliMsg.NO_RUN.format(run=run_id), ExitCode.USAGE)
        # streamed from the store: a run's journal may hold millions of changes
        views = (journal_view(e) for e in store.journal_entries(run_id))
        if fmt == "json":
            write_json(views, sys.stdout.write)
            sys.stdout.write("\n")
        else:
            render_journal(run_id, views, _console(sys.stdout))
    finally:
        store.close()


def _write_history_page(store: StoreInterface, html_path: str, runs: list[dict], since) -> None:
    def journal(run_id: int):
        return (journal_line(journal_view(e)) for e in store.journal_entries(run_id))

    try:
        write_history_page(
            Path(html_path),
            runs,
            run_outcome,
            journal,
            since.isoformat(timespec="minutes") if since else None,
        )
    except OutputError as exc:
        _fail(str(exc), ExitCode.FILE_FAILED)


@main.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be undone, change nothing.")
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a running import to finish.",
)
@common
def revert(run_id, dry_run, lock_timeout, db, quiet, verbose):
    """Undo what run RUN changed, as a new recorded run."""
    _preflight(db)
    lock = run_lock(db)
    try:
        lock.acquire(lock_timeout, what=f"session-import revert {run_id}", exclusive_store=True)
        store = open_store(db, busy_timeout=lock_timeout, create=False)
        try:
            result = revert_run(store, run_id, dry_run=dry_run, now=datetime.now(UTC).astimezone())
        finally:
            store.close()
    finally:
        lock.release()
    if not quiet:
        click.echo(result.summary())


@main.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report."
)
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a running import to finish.",
)
@_publish_timeout
@common
def approve(run_id, report_path, lock_timeout, publish_timeout, db, quiet, verbose):
    """Apply held run RUN as a new run, when neither its file nor a session it would touch
    changed since it was held."""
    _not_the_store("--report", report_path, db)
    _preflight(db)
    store = _open_store(db)
    try:
        cfg = held_config(store, run_id)
    finally:
        store.close()
    _check_credentials(cfg)
    out, err = _consoles(quiet)
    options = RunOptions(publish_timeout=publish_timeout, on_wait=_wait_callback(None, err))
    report = Report()
    imports = [imp.id for imp in cfg.imports]

    def work(store: StoreInterface) -> None:
        approval = check_approval(store, run_id)
        _recorded(
            store, imports, "run", options, lambda: apply_approval(store, approval, options, report)
        )

    _locked(db, lock_timeout, f"session-import approve {run_id}", None, report, cfg, work)
    _finish(report, out, err, quiet, verbose, report_path)


@main.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a running import to finish.",
)
@common
def discard(run_id, lock_timeout, db, quiet, verbose):
    """Drop held run RUN: nothing of its file is applied (it stays on record)."""
    _preflight(db)
    lock = run_lock(db)
    try:
        lock.acquire(lock_timeout, what=f"session-import discard {run_id}", exclusive_store=True)
        store = open_store(db, busy_timeout=lock_timeout, create=False)
        try:
            said = discard_held(store, run_id, RunOptions())
        finally:
            store.close()
    finally:
        lock.release()
    if not quiet:
        click.echo(said)


@main.command()
@common
def init(db, quiet, verbose):
    """Create an empty store at the current schema (an existing one is left as it is)."""
    message = create_store(db)
    if not quiet:
        click.echo(message)


@main.command("copy-store")
@click.argument("src")
@click.argument("dst")
@click.option(
    "--lock-timeout",
    type=SECONDS,
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds to wait for a running import of either store to finish.",
)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
@click.option("--verbose", is_flag=True, help="Say more about what is done.")
def copy_store_command(src, dst, lock_timeout, quiet, verbose):
    """Copy the whole store SRC (an SQLite file or a postgresql:// URL) into the empty store
    DST (the other kind, or the same), history, journal and outbox included."""
    if not is_postgres_url(src):
        _preflight(src)
    message = copy_between(src, dst, lock_timeout)
    if not quiet:
        click.echo(message)


@main.command()
@click.argument("dest", type=click.Path())
@common
def backup(dest, db, quiet, verbose):
    """Write a consistent copy of the store to DEST (a file, or a folder to copy it into),
    also while an import writes to it."""
    store = _open_store(db)
    try:
        message = store.backup(dest)
    finally:
        store.close()
    if not quiet:
        click.echo(message)


@main.command()
@click.option(
    "--max-age",
    default="26h",
    show_default=True,
    callback=_duration,
    metavar="DURATION",
    help="How old the last success of an import may be: 26h, 8d, 90m.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="A line per import, or JSON.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False),
    help="The imports of CONFIG (default: every import on record in the store).",
)
@common
def status(max_age, fmt, config_path, db, quiet, verbose):
    """Each import's last run, outcome, last success and changes to publish; exit 0 when
    every import ran successfully within --max-age, else 1 (a monitoring check)."""
    import_ids = None
    if config_path:
        import_ids = [imp.id for imp in _load(config_path, quiet=True).imports]
    store = _open_store(db)
    try:
        report = store_status(store, _now(), max_age, import_ids)
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        if not quiet:
            for import_status in report.imports:
                click.echo(status_line(import_status))
        for problem in report.problems + [p for s in report.imports for p in s.problems]:
            click.echo(problem, err=True)
    sys.exit(report.exit_code)
