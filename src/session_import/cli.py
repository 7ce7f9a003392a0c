"""The command line: parse options, call one library function, render, exit with the report's code."""

from __future__ import annotations

import errno
import json
import math
import os
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from session_import import __version__
from session_import.config import ConfigError, describe, load_config
from session_import.export import KINDS, write_export
from session_import.lock import ImportLock, LockBusy
from session_import.pipeline import (
    RunMsg,
    RunOptions,
    UsageError,
    publish_pending,
    run_import,
    stop_explained,
)
from session_import.publishing import credential_problems
from session_import.report import (
    ExitCode,
    OutputError,
    Report,
    _atomic_write,
    journal_view,
    render,
    render_journal,
    render_runs,
    worst,
    write_json_report,
    write_rejects,
)
from session_import.revert import RevertRefused, revert_run
from session_import.safety import parse_limit, store_file_clash
from session_import.store import Store, StoreUnavailable

DEFAULT_DB = "session-import.db"


class CliMsg(StrEnum):
    STORE_FAILED = "The store failed: {error}; nothing of the work in progress was written."
    DISK_FULL = "Could not write {target}: {reason}. Free some space and run the command again."
    FREE_SPACE = "{error} Free some space and run the command again."
    NOT_SECONDS = "{value} is not a number of seconds: give a finite number, 0 or more (e.g. 30)."


# a full disk (or quota) is the machine's problem, like a store that fails: exit 5
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(exc: BaseException) -> bool:
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
        click.echo(CliMsg.DISK_FULL.format(target="the standard output", reason=exc.strerror),
                   err=True)
        _stdout_gone()
        sys.exit(int(ExitCode.STORE_UNAVAILABLE))


def _consoles(quiet: bool) -> tuple[Console, Console]:
    return Console(file=sys.stdout), Console(file=sys.stderr)


def _fail(message: str, code: ExitCode) -> None:
    click.echo(message, err=True)
    sys.exit(int(code))


def _open_store(db: str) -> Store:
    try:
        return Store(db)
    except StoreUnavailable as exc:
        _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
        raise  # unreachable


def _load(config_path: str, *, fragments: bool = False, quiet: bool = False):
    try:
        config = load_config(config_path, fragments=fragments)
    except ConfigError as exc:
        for error in exc.errors:
            click.echo(error, err=True)
        sys.exit(int(ExitCode.CONFIG_INVALID))
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
        help="The embedded SQLite store (default: $SESSION_IMPORT_DB, else session-import.db here).",
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
        except sqlite3.Error as exc:
            click.echo(CliMsg.STORE_FAILED.format(error=exc), err=True)
            ctx.exit(int(ExitCode.STORE_UNAVAILABLE))
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
  130, 143  interrupted by SIGINT or SIGTERM (the message says what was committed)
"""


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=EXIT_CODES)
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


def _progress_callback(progress: Progress | None):
    """Rows done per file on a rich progress line; None when there is no terminal to draw on."""
    if progress is None:
        return None
    tasks: dict[tuple[str, str], tuple[int, float]] = {}

    def update(file: str, action: str, rows: int) -> None:
        key = (file, action)
        if key not in tasks:
            tasks[key] = (progress.add_task(f"{Path(file).name} ({action})", rows="", rate=""),
                          time.monotonic())
        task, started = tasks[key]
        elapsed = time.monotonic() - started
        rate = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
        progress.update(task, completed=rows, rows=f"{rows:,} rows", rate=rate)

    return update


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
        "--publish-timeout", type=SECONDS, default=900.0, show_default=True, metavar="SECONDS",
        help="Seconds to spend delivering changes to remote LMSs; the rest waits for the next run.",
    )(func)


def _not_the_store(option: str, path: str | None, db: str) -> None:
    """Refuse, before any work, an output path that is the store or one of its files."""
    if path:
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
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Write the rejected rows, in the input's format, with an errors column.")
@click.option("--diff", is_flag=True, help="Show the fields each update changes.")
@click.option("--force", is_flag=True, help="Import a file again even if this import applied it.")
@click.option("--max-rejects", callback=_limit, metavar="N|P%",
              help="Apply nothing of a file with more rejected rows than this.")
@click.option("--max-cancel", callback=_limit, metavar="N|P%",
              help="Apply nothing of a file that would cancel more sessions than this.")
@click.option("--lock-timeout", type=SECONDS, default=0.0, show_default=True, metavar="SECONDS",
              help="Seconds to wait for another import to finish.")
@click.option("--no-progress", is_flag=True, help="No progress bar, even on a terminal.")
@_publish_timeout
@common
def run(config, data, dry_run, report_path, rejects_path, diff, force, max_rejects, max_cancel,
        lock_timeout, no_progress, publish_timeout, db, quiet, verbose):
    """Run every import of CONFIG (DATA files, CSV or .xlsx, replace the provider's files)."""
    _not_the_store("--report", report_path, db)
    _not_the_store("--rejects", rejects_path, db)
    cfg = _runnable(config, quiet, "run")
    out, err = _consoles(quiet)
    progress = _progress(out, quiet, no_progress)
    options = RunOptions(dry_run=dry_run, diff=diff, force=force, max_rejects=max_rejects,
                         max_cancel=max_cancel, on_progress=_progress_callback(progress),
                         publish_timeout=publish_timeout, on_wait=_wait_callback(progress, err))
    report = Report(dry_run=dry_run, diff=diff)
    _locked(db, lock_timeout, f"session-import run {config}", progress, report, cfg,
            lambda store: run_import(cfg, store, [Path(p) for p in data], options, report))
    _finish(report, out, err, quiet, verbose, report_path, rejects_path)


def _runnable(config: str, quiet: bool, verb: str):
    """A configuration that can be run or published: not a fragment, credentials present."""
    cfg = _load(config, quiet=quiet)
    if cfg.form == "fragment":
        _fail(f"{config}: a fragment cannot be {verb}.", ExitCode.CONFIG_INVALID)
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


def _wait_callback(progress: Progress | None, err: Console):
    """A publisher's wait (pacing, lock, back-off). On a terminal: one live line of the
    progress display, its spinner turning while the publisher waits. Piped: a line once
    per reason, and for every long wait, so a paced delivery of hundreds of calls does
    not print hundreds of lines."""
    said: set[str] = set()
    task: list = []

    def waiting(why: str, seconds: float) -> None:
        text = f"{why}: waiting {seconds:.1f} s"
        if progress is not None:
            if task:
                progress.update(task[0], description=text)
            else:
                task.append(progress.add_task(text, total=None, rows="", rate=""))
            return
        if why in said and seconds < 5:
            return
        said.add(why)
        err.print(text, highlight=False, markup=False)

    return waiting


def _progress(out: Console, quiet: bool, no_progress: bool) -> Progress | None:
    """A live progress display on a terminal; None when piped, quiet or asked not to."""
    if not out.is_terminal or quiet or no_progress:
        return None
    return Progress(
        TextColumn("{task.description}"), SpinnerColumn(),
        TextColumn("{task.fields[rows]}"), TextColumn("{task.fields[rate]}"),
        console=out, transient=True,
    )


def _locked(db: str, lock_timeout: float, what: str, progress, report: Report, cfg, work) -> None:
    """Take the lock and open the store, and do the work into ``report``. A signal or a store
    that fails stops it: ``report`` then says what was rolled back and what was committed
    (exit 143/130, or 5), and is still rendered and written."""
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = ImportLock(db)
    store = None
    try:
        lock.acquire(lock_timeout, what=what)
        store = Store(db, busy_timeout=lock_timeout)
        if progress is not None:
            progress.start()
        work(store)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except (LockBusy, StoreUnavailable) as exc:
        if store is None:
            _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
        # busy in the middle of the work: its own words, and what a commit before left
        cause = RunMsg.STORE_FAILED.format(db=db, error=exc.__cause__ or exc)
        _stopped(report, store, cfg, cause, ExitCode.STORE_UNAVAILABLE, plain=str(exc))
    except sqlite3.Error as exc:
        cause = RunMsg.STORE_FAILED.format(db=db, error=exc)
        _stopped(report, store, cfg, cause, ExitCode.STORE_UNAVAILABLE)
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


def _stopped(report: Report, store: Store | None, cfg, cause: str, code: ExitCode,
             plain: str | None = None) -> None:
    """The work stopped: what is true of the files (rolled back, or committed with what is
    left to do), for the terminal and the JSON report."""
    if store is None:
        report.stopped = [RunMsg.NO_FILE.format(cause=cause)]
    else:
        report.stopped = stop_explained(report, store, cause, [imp.id for imp in cfg.imports],
                                        plain)
    report.exit_override = code


def _finish(report, out, err, quiet, verbose, report_path, rejects_path=None) -> None:
    try:
        render(report, out, err, quiet=quiet, verbose=verbose)
    except BrokenPipeError:  # | head: the summary goes nowhere, the report files still get it
        _stdout_gone()
    for line in report.stopped:
        click.echo(line, err=True)
    code = report.exit_code
    for target, writer in ((report_path, write_json_report), (rejects_path, write_rejects)):
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
    sys.exit(int(code))


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--lock-timeout", type=SECONDS, default=0.0, show_default=True, metavar="SECONDS",
              help="Seconds to wait for a running import to finish.")
@_publish_timeout
@common
def publish(config, report_path, lock_timeout, publish_timeout, db, quiet, verbose):
    """Deliver to the remote LMSs of CONFIG the changes still waiting, reading no data file."""
    _not_the_store("--report", report_path, db)
    cfg = _runnable(config, quiet, "published")
    out, err = _consoles(quiet)
    progress = _progress(out, quiet, False)
    options = RunOptions(publish_timeout=publish_timeout, on_wait=_wait_callback(progress, err))
    report = Report()
    _locked(db, lock_timeout, f"session-import publish {config}", progress, report, cfg,
            lambda store: publish_pending(cfg, store, options, report))
    _finish(report, out, err, quiet, verbose, report_path)


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
        click.echo(f"{config}: the configuration is valid.")


@main.command()
@click.argument("kind", type=click.Choice(KINDS))
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json",
              show_default=True,
              help="JSON (an array of objects) or CSV (a header, formulas neutralised).")
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write to FILE (whole or not at all) instead of stdout.")
@common
def export(kind, fmt, output, db, quiet, verbose):
    """Print the store's sessions, trainings, users or groups."""
    _not_the_store("--output", output, db)
    if not Path(db).exists():
        _fail(f"The store {db} does not exist; run an import first or give --db.",
              ExitCode.STORE_UNAVAILABLE)
    store = _open_store(db)
    try:
        if output:
            try:
                _atomic_write(Path(output), lambda handle: write_export(store, kind, fmt, handle))
            except OutputError as exc:
                if _disk_full(exc):
                    _fail(CliMsg.FREE_SPACE.format(error=exc), ExitCode.STORE_UNAVAILABLE)
                _fail(str(exc), ExitCode.FILE_FAILED)
        else:
            write_export(store, kind, fmt, sys.stdout)
    finally:
        store.close()


def _existing_store(db: str) -> Store:
    if not Path(db).exists():
        _fail(f"The store {db} does not exist; run an import first or give --db.",
              ExitCode.STORE_UNAVAILABLE)
    return _open_store(db)


@main.command()
@click.argument("run_id", metavar="[RUN]", type=int, required=False)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="A table (plain lines when piped) or JSON.")
@common
def history(run_id, fmt, db, quiet, verbose):
    """The recorded runs, newest first; with RUN, that run's journal of changes."""
    store = _existing_store(db)
    try:
        runs = store.runs()
        if run_id is None:
            payload = runs
        else:
            if not any(r["id"] == run_id for r in runs):
                _fail(f"There is no run {run_id}; `session-import history` lists the runs.",
                      ExitCode.USAGE)
            payload = [journal_view(e) for e in store.run_journal(run_id)]
    finally:
        store.close()
    if fmt == "json":
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    out = Console(file=sys.stdout)
    if run_id is None:
        render_runs(payload, out)
    else:
        render_journal(run_id, payload, out)


@main.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be undone, change nothing.")
@click.option("--lock-timeout", type=SECONDS, default=0.0, show_default=True, metavar="SECONDS",
              help="Seconds to wait for a running import to finish.")
@common
def revert(run_id, dry_run, lock_timeout, db, quiet, verbose):
    """Undo what run RUN changed, as a new recorded run."""
    lock = ImportLock(db)
    try:
        lock.acquire(lock_timeout, what=f"session-import revert {run_id}")
        store = _existing_store(db)
        try:
            result = revert_run(store, run_id, dry_run=dry_run,
                                now=datetime.now(UTC).astimezone())
        finally:
            store.close()
    except LockBusy as exc:
        _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
    except RevertRefused as exc:
        for reason in exc.reasons:
            click.echo(reason, err=True)
        sys.exit(int(ExitCode.PARTIAL))
    finally:
        lock.release()
    if not quiet:
        click.echo(result.summary())
