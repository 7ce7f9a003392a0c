"""The command line: parse options, call one library function, render, exit with the report's code."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from session_import import __version__
from session_import.config import ConfigError, describe, load_config
from session_import.export import KINDS, write_export
from session_import.pipeline import RunOptions, UsageError, run_import
from session_import.report import (
    ExitCode,
    OutputError,
    render,
    worst,
    write_json_report,
    write_rejects,
)
from session_import.store import Store, StoreUnavailable

DEFAULT_DB = "session-import.db"


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="session-import")
def main() -> None:
    """Import training sessions from CSV files into the session store, as an XML
    import configuration (CrossKnowledge generic-import format) describes."""


@main.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Do all the work, then roll it back.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write a JSON report.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False),
              help="Write the rejected rows, in the input's format, with an errors column.")
@click.option("--diff", is_flag=True, help="Show the fields each update changes.")
@common
def run(config, data, dry_run, report_path, rejects_path, diff, db, quiet, verbose):
    """Run every import of CONFIG (DATA files replace the provider's files)."""
    cfg = _load(config, quiet=quiet)
    if cfg.form == "fragment":
        _fail(f"{config}: a fragment cannot be run.", ExitCode.CONFIG_INVALID)
    store = _open_store(db)
    try:
        report = run_import(cfg, store, [Path(p) for p in data], RunOptions(dry_run=dry_run, diff=diff))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from exc
    except StoreUnavailable as exc:
        _fail(str(exc), ExitCode.STORE_UNAVAILABLE)
    finally:
        store.close()
    out, err = _consoles(quiet)
    render(report, out, err, quiet=quiet, verbose=verbose)
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
@common
def check(config, db, quiet, verbose):
    """Validate CONFIG alone and say what each import will read and do."""
    cfg = _load(config, fragments=True, quiet=quiet)
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
