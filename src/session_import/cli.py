"""The command line: parse options, call one library function, render, exit with the report's code."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

from session_import import __version__
from session_import.config import ConfigError, describe, load_config
from session_import.export import KINDS, write_export
from session_import.lock import ImportLock, LockBusy
from session_import.pipeline import RunOptions, UsageError, publish_pending, run_import
from session_import.publishing import credential_problems
from session_import.report import (
    ExitCode,
    OutputError,
    journal_view,
    render,
    render_journal,
    render_runs,
    terminal_safe,
    worst,
    write_json,
    write_json_report,
    write_rejects,
)
from session_import.revert import RevertRefused, revert_run
from session_import.safety import parse_limit
from session_import.spool import SpillFailed
from session_import.store import Store, StoreUnavailable

DEFAULT_DB = "session-import.db"


def _console(file) -> Console:
    """Data is printed as written: never read as markup (``[bold]``) or emoji codes (``:100:``)."""
    return Console(file=file, markup=False, emoji=False, highlight=False)


def _consoles(quiet: bool) -> tuple[Console, Console]:
    return _console(sys.stdout), _console(sys.stderr)


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
    """Every command: a store that fails (disk full, I/O error, locked) is exit 5, not a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except sqlite3.Error as exc:
            click.echo(f"The store failed: {exc}; nothing of the work in progress was written.", err=True)
            ctx.exit(int(ExitCode.STORE_UNAVAILABLE))


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="session-import")
def main() -> None:
    """Import training sessions from CSV files into the session store, as an XML
    import configuration (CrossKnowledge generic-import format) describes."""


class Interrupted(BaseException):
    """SIGTERM or SIGINT: unwinds like KeyboardInterrupt, so the open transaction rolls back."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def _raise_interrupted(signum, frame):
    raise Interrupted(signum)


def _progress_callback(progress: Progress | None):
    """Per file and action, on a rich progress line: a bar of the bytes read of the file's
    size, the rows done, the rate and the time left; None when there is no terminal to draw
    on. The pipeline calls it when the file starts, so that the rate and the time left are
    measured from there (they once were from the end of the first chunk: 2 billion rows/s)."""
    if progress is None:
        return None
    tasks: dict[tuple[str, str], tuple[int, float]] = {}

    def update(file: str, action: str, rows: int, done: int, size: int) -> None:
        key = (file, action)
        if key not in tasks:
            name = terminal_safe(f"{Path(file).name} ({action})")
            tasks[key] = (progress.add_task(name, total=max(size, 1), **_NO_FIGURES), time.monotonic())
        task, started = tasks[key]
        elapsed = time.monotonic() - started
        done = min(done, size) if rows else 0  # the reader reads ahead: nothing is done yet
        figures = dict(_NO_FIGURES, rows=f"{rows:,} rows",
                       percent=f"{100 * done / size:3.0f}%" if size else "")
        if elapsed > 0 and rows:
            figures["rate"] = f"{rows / elapsed:,.0f} rows/s"
        if elapsed > 0 and done:
            left = elapsed * (size - done) / done
            figures["left"] = f"{int(left) // 60}:{int(left) % 60:02d} left"
        progress.update(task, completed=done, refresh=True, **figures)  # each chunk is drawn

    return update


_NO_FIGURES = {"percent": "", "rows": "", "rate": "", "left": ""}


def _publish_timeout(func):
    return click.option(
        "--publish-timeout", type=click.FloatRange(min=0), default=900.0, show_default=True,
        help="Seconds to spend delivering changes to remote LMSs; the rest waits for the next run.",
    )(func)


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
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for another import to finish.")
@click.option("--no-progress", is_flag=True, help="No progress bar, even on a terminal.")
@_publish_timeout
@common
def run(config, data, dry_run, report_path, rejects_path, diff, force, max_rejects, max_cancel,
        lock_timeout, no_progress, publish_timeout, db, quiet, verbose):
    """Run every import of CONFIG (DATA files replace the provider's files)."""
    cfg = _runnable(config, quiet, "run")
    out, err = _consoles(quiet)
    progress = _progress(out, quiet, no_progress)
    options = RunOptions(dry_run=dry_run, diff=diff, force=force, max_rejects=max_rejects,
                         max_cancel=max_cancel, on_progress=_progress_callback(progress),
                         publish_timeout=publish_timeout, on_wait=_wait_callback(progress, err))
    report = _locked(db, lock_timeout, f"session-import run {config}", progress,
                     lambda store: run_import(cfg, store, [Path(p) for p in data], options))
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
                task.append(progress.add_task(text, total=None, **_NO_FIGURES))
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
        TextColumn("{task.description}", markup=False), SpinnerColumn(), BarColumn(),
        TextColumn("{task.fields[percent]}", markup=False),
        TextColumn("{task.fields[rows]}", markup=False), TextColumn("{task.fields[rate]}", markup=False),
        TextColumn("{task.fields[left]}", markup=False),
        console=out, transient=True,
    )


def _locked(db: str, lock_timeout: float, what: str, progress, work):
    """Take the lock and open the store; turn a signal into a rollback and exit 143/130."""
    previous = {sig: signal.signal(sig, _raise_interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = ImportLock(db)
    store = None
    try:
        lock.acquire(lock_timeout, what=what)
        store = Store(db, busy_timeout=lock_timeout)
        if progress is not None:
            progress.start()
        return work(store)
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except (LockBusy, StoreUnavailable) as exc:
        _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
    except sqlite3.Error as exc:
        _fail(f"The store {db} failed: {exc}; the file being applied was rolled back.",
              ExitCode.STORE_UNAVAILABLE)
    except SpillFailed as exc:
        _fail(f"Could not keep the run's rejected rows and warnings in the temporary folder ({exc}); "
              "set TMPDIR to a folder with room. A file whose import had not ended was rolled back.",
              ExitCode.STORE_UNAVAILABLE)
    except Interrupted as exc:
        name = signal.Signals(exc.signum).name
        code = ExitCode.SIGTERM if exc.signum == signal.SIGTERM else ExitCode.SIGINT
        _fail(f"Interrupted by {name}: the file being applied was rolled back.", code)
    finally:
        if progress is not None:
            progress.stop()
        if store is not None:
            store.close()
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _finish(report, out, err, quiet, verbose, report_path, rejects_path=None) -> None:
    render(report, out, err, quiet=quiet, verbose=verbose, report_path=report_path,
           rejects_path=rejects_path)
    code = report.exit_code
    for target, writer in ((report_path, write_json_report), (rejects_path, write_rejects)):
        if target:
            try:
                writer(report, Path(target))
            except OutputError as exc:
                click.echo(str(exc), err=True)
                code = worst([code, ExitCode.FILE_FAILED])
    sys.exit(int(code))


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds to wait for a running import to finish.")
@_publish_timeout
@common
def publish(config, report_path, lock_timeout, publish_timeout, db, quiet, verbose):
    """Deliver to the remote LMSs of CONFIG the changes still waiting, reading no data file."""
    cfg = _runnable(config, quiet, "published")
    out, err = _consoles(quiet)
    progress = _progress(out, quiet, False)
    options = RunOptions(publish_timeout=publish_timeout, on_wait=_wait_callback(progress, err))
    report = _locked(db, lock_timeout, f"session-import publish {config}", progress,
                     lambda store: publish_pending(cfg, store, options))
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
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write to FILE instead of stdout.")
@common
def export(kind, fmt, output, db, quiet, verbose):
    """Print the store's sessions, trainings, users or groups."""
    if not Path(db).exists():
        _fail(f"The store {db} does not exist; run an import first or give --db.",
              ExitCode.STORE_UNAVAILABLE)
    store = _open_store(db)
    try:
        if output:
            try:
                with open(output, "w", encoding="utf-8", newline="") as handle:
                    write_export(store, kind, fmt, handle)
            except OSError as exc:
                _fail(f"Could not write {output}: {exc.strerror or exc}.", ExitCode.FILE_FAILED)
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
              show_default=True)
@common
def history(run_id, fmt, db, quiet, verbose):
    """The recorded runs, newest first; with RUN, that run's journal of changes."""
    store = _existing_store(db)
    try:
        runs = store.runs()
        if run_id is None:
            if fmt == "json":
                click.echo(json.dumps(runs, indent=2, ensure_ascii=False))
            else:
                render_runs(runs, _console(sys.stdout))
            return
        if not any(r["id"] == run_id for r in runs):
            _fail(f"There is no run {run_id}; `session-import history` lists the runs.",
                  ExitCode.USAGE)
        # streamed from the store: a run's journal may hold millions of changes
        views = (journal_view(e) for e in store.journal_entries(run_id))
        if fmt == "json":
            write_json(views, sys.stdout.write)
            sys.stdout.write("\n")
        else:
            render_journal(run_id, views, _console(sys.stdout))
    finally:
        store.close()


@main.command()
@click.argument("run_id", metavar="RUN", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be undone, change nothing.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0.0, show_default=True)
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
        c = result.counts
        prefix = "[dry run] " if dry_run else ""
        click.echo(
            f"{prefix}Run {run_id} reverted by run {result.run_id}: {c['deleted']} deleted, "
            f"{c['restored']} restored, {c['recreated']} recreated."
        )
