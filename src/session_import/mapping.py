"""Raw cells -> the action's fields, by header name or by position (pure)."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from session_import.catalog import IGNORED_COLUMN
from session_import.config import ActionConfig, ProviderConfig
from session_import.errors import ExitCode, SessionImportError
from session_import.messages import Issue, Msg, issue
from session_import.sources import DETECTED_DELIMITERS

DELIMITER_NAMES = {";": "semicolon", ",": "comma", "|": "pipe", "\t": "tab"}
HEADER_CELLS_SHOWN = 10  # header cells a warning names before "and N more"
CLOSE_CELL = 0.75  # how close a header cell must be to a field's name to be suggested


class FileLayoutError(SessionImportError):
    """The file's columns cannot be mapped: the file fails as a whole (line 1)."""

    exit_code = ExitCode.FILE_FAILED


class MissingColumn(FileLayoutError):
    """A mandatory field is absent from the header."""


class WrongDelimiter(FileLayoutError):
    """The file is written with another delimiter than the provider's <delimiter>."""


@dataclass(frozen=True)
class MappedRow:
    line: int
    cells: list[str]  # the record as read, for the rejects file
    values: dict[str, str]  # field -> trimmed cell, for the fields the file carries
    repeated: tuple[str, ...] = ()  # trimmed cells of a repeatable field, in order


def _wrong_width(cells: Sequence[str], width: int) -> bool:
    """A record of another width than ``width``; extra trailing cells that are all empty
    (a trailing delimiter) are tolerated."""
    found = len(cells)
    if found == width:
        return False
    return found < width or any(c.strip() for c in cells[width:])


@dataclass(frozen=True)
class ColumnMap:
    by_name: bool
    columns: tuple[tuple[str, int], ...]  # (field, cell index) for each field read
    width: int  # cells a record is expected to have
    warnings: tuple[str, ...] = ()  # file-level warnings, reported on line 1
    repeated_field: str | None = None

    def map(self, line: int, cells: list[str]) -> MappedRow | Issue:
        found = len(cells)
        if found != self.width and _wrong_width(cells, self.width):
            return issue(
                line,
                None,
                Msg.WRONG_WIDTH,
                found=found,
                columns=_columns_word(found),
                expected=self.width,
            )
        if self.repeated_field is None:
            cell_of = {name: cells[index].strip() for name, index in self.columns}
            return MappedRow(line, cells, cell_of, ())
        values: dict[str, str] = {}
        repeated: list[str] = []
        for name, index in self.columns:
            if name == self.repeated_field:
                repeated.append(cells[index].strip())
            else:
                values[name] = cells[index].strip()
        return MappedRow(line, cells, values, tuple(repeated))


def build_column_map(
    action: ActionConfig,
    provider: ProviderConfig,
    header: list[str] | None,
    split_sample: Callable[[str], list[list[str]] | None] | None = None,
) -> ColumnMap:
    """Decide how this file's columns map to ``action``'s fields.

    A header maps by name when one of its cells names a configured field
    (case-insensitively, after trimming); otherwise columns follow
    ``<columnsMapping>``, or the order of ``<fields>`` when there is none, and a
    file-level warning says so. ``split_sample`` (the data file's) lets check_delimiter
    refuse a file written with another delimiter than the provider's.
    Raises FileLayoutError when the file cannot be mapped.
    """
    wanted = {
        spec.name.casefold(): spec.name for spec in action.fields if spec.name != IGNORED_COLUMN
    }
    repeated_field = next(
        (spec.name for spec in action.fields if action.field_names.count(spec.name) > 1), None
    )
    named = header is not None and any(cell.strip().casefold() in wanted for cell in header)
    if provider.columns_mapping is not None:
        names = [col.name for col in provider.columns_mapping]
        source = "<columnsMapping>"
    else:
        names = list(action.field_names)
        source = "<fields>"
    if not named and provider.delimiter is not None and split_sample is not None:
        check_delimiter(wanted, len(names), provider.delimiter, header is not None, split_sample)
    if named and header is not None:  # (named implies a header; mypy cannot see it)
        return _by_name(action, header, wanted, repeated_field)
    configured = set(action.field_names)
    columns = tuple(
        (name, i)
        for i, name in enumerate(names)
        if name and name != IGNORED_COLUMN and name in configured
    )
    warnings: tuple[str, ...] = ()
    if header:
        warnings = (
            Msg.HEADER_NAMES_NOTHING.format(
                cells=_cells_shown(header),
                source=source,
                fields=", ".join(name or IGNORED_COLUMN for name in names),
            ),
        )
    return ColumnMap(False, columns, len(names), warnings, repeated_field=repeated_field)


def check_delimiter(
    wanted: dict[str, str],
    width: int,
    configured: str,
    has_header: bool,
    split_sample: Callable[[str], list[list[str]] | None],
) -> None:
    """Refuse a file that another of ; , | TAB reads as the configuration expects, when the
    configured delimiter does not (called only when no header cell names a field):

    - with a header: split at another delimiter, the header names configured fields (the
      delimiter naming the most wins, ties in the order ; , | TAB);
    - else, with or without a header: every one of the first records (up to
      sources.SAMPLE_RECORDS, the header included) has the wrong width split at the
      configured delimiter, and the expected width at another one (the first in that order).
    """
    others = [d for d in DETECTED_DELIMITERS if d != configured]
    if has_header:
        best: tuple[str, int] | None = None
        for other in others:
            sample = split_sample(other)
            if not sample:
                continue
            named = {
                wanted[c.strip().casefold()] for c in sample[0] if c.strip().casefold() in wanted
            }
            if named and (best is None or len(named) > best[1]):
                best = (other, len(named))
        if best is not None:
            other, count = best
            raise WrongDelimiter(
                Msg.HEADER_WRONG_DELIMITER.format(
                    configured=_shown(configured),
                    other=_shown(other),
                    count=count,
                    total=len(set(wanted.values())),
                    name=DELIMITER_NAMES[other],
                )
            )
    records = split_sample(configured)
    if not records or not all(_wrong_width(cells, width) for cells in records):
        return
    for other in others:
        sample = split_sample(other)
        if sample and not any(_wrong_width(cells, width) for cells in sample):
            widths = sorted({len(cells) for cells in records})
            found = (
                f"{widths[0]} {_columns_word(widths[0])}"
                if len(widths) == 1
                else f"{widths[0]} to {widths[-1]} columns"
            )
            raise WrongDelimiter(
                Msg.WIDTH_WRONG_DELIMITER.format(
                    records="record" if len(sample) == 1 else f"{len(sample)} records",
                    configured=_shown(configured),
                    found=found,
                    expected=width,
                    other=_shown(other),
                    name=DELIMITER_NAMES[other],
                )
            )


def _by_name(
    action: ActionConfig, header: list[str], wanted: dict[str, str], repeated_field: str | None
) -> ColumnMap:
    positions: dict[str, list[int]] = {}
    unnamed: list[str] = []  # header cells that name no configured field
    for i, cell in enumerate(header):
        name = wanted.get(cell.strip().casefold())
        if name:
            positions.setdefault(name, []).append(i)
        elif cell.strip():
            unnamed.append(cell.strip())
    columns: list[tuple[str, int]] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    for spec in action.fields:
        if spec.name == IGNORED_COLUMN:
            continue
        found = positions.get(spec.name, [])
        nth = seen.get(spec.name, 0)
        seen[spec.name] = nth + 1
        if nth < len(found):
            columns.append((spec.name, found[nth]))
            continue
        close = _close_cell(spec.name, unnamed)
        if spec.mandatory:
            if close is None:
                raise MissingColumn(Msg.MANDATORY_COLUMN_MISSING.format(field=spec.name))
            raise MissingColumn(
                Msg.MANDATORY_COLUMN_MISSING_CLOSE.format(field=spec.name, cell=close)
            )
        if nth == 0:
            if close is None:
                warnings.append(Msg.OPTIONAL_COLUMN_MISSING.format(field=spec.name))
            else:
                warnings.append(
                    Msg.OPTIONAL_COLUMN_MISSING_CLOSE.format(field=spec.name, cell=close)
                )
    return ColumnMap(True, tuple(columns), len(header), tuple(warnings), repeated_field)


def _close_cell(field: str, cells: list[str]) -> str | None:
    """The header cell (as written, trimmed) that most likely is ``field`` misspelt."""
    folded: dict[str, str] = {}
    for cell in cells:
        folded.setdefault(cell.casefold(), cell)
    close = difflib.get_close_matches(field.casefold(), list(folded), n=1, cutoff=CLOSE_CELL)
    return folded[close[0]] if close else None


def _columns_word(count: int) -> str:
    return "column" if count == 1 else "columns"


def _shown(delimiter: str) -> str:
    return "TAB" if delimiter == "\t" else f"'{delimiter}'"


def _cells_shown(header: list[str]) -> str:
    shown = ", ".join(f'"{cell.strip()}"' for cell in header[:HEADER_CELLS_SHOWN])
    if len(header) > HEADER_CELLS_SHOWN:
        shown += f" and {len(header) - HEADER_CELLS_SHOWN} more"
    return shown
