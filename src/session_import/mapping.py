"""Raw cells -> the action's fields, by header name or by position (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from session_import.config import ActionConfig, ProviderConfig
from session_import.messages import Issue, Msg, issue
from session_import.schema import IGNORED_COLUMN


class MissingColumn(Exception):
    """A mandatory field is absent from the header: the file fails as a whole (line 1)."""


@dataclass(frozen=True)
class MappedRow:
    line: int
    cells: list[str]  # the record as read, for the rejects file
    values: dict[str, str]  # field -> trimmed cell, for the fields the file carries
    repeated: tuple[str, ...] = ()  # trimmed cells of a repeatable field, in order


@dataclass(frozen=True)
class ColumnMap:
    by_name: bool
    columns: tuple[tuple[str, int], ...]  # (field, cell index) for each field read
    width: int  # cells a record is expected to have
    warnings: tuple[str, ...] = ()  # file-level warnings, reported on line 1
    repeated_field: str | None = None

    def map(self, line: int, cells: list[str]) -> MappedRow | Issue:
        found = len(cells)
        if found != self.width:
            if found < self.width or any(c.strip() for c in cells[self.width :]):
                return issue(line, None, Msg.WRONG_WIDTH, found=found, expected=self.width)
        values: dict[str, str] = {}
        repeated: list[str] = []
        for name, index in self.columns:
            if name == self.repeated_field:
                repeated.append(cells[index].strip())
            else:
                values[name] = cells[index].strip()
        return MappedRow(line, cells, values, tuple(repeated))


def build_column_map(
    action: ActionConfig, provider: ProviderConfig, header: list[str] | None
) -> ColumnMap:
    """Decide how this file's columns map to ``action``'s fields.

    A header maps by name when one of its cells names a configured field
    (case-insensitively, after trimming); otherwise columns follow
    ``<columnsMapping>``, or the order of ``<fields>`` when there is none.
    """
    wanted = {spec.name.casefold(): spec.name for spec in action.fields if spec.name != IGNORED_COLUMN}
    repeated_field = next(
        (spec.name for spec in action.fields if action.field_names.count(spec.name) > 1), None
    )
    if header is not None and any(cell.strip().casefold() in wanted for cell in header):
        return _by_name(action, header, wanted, repeated_field)
    if provider.columns_mapping is not None:
        names = [col.name for col in provider.columns_mapping]
    else:
        names = list(action.field_names)
    configured = set(action.field_names)
    columns = tuple(
        (name, i) for i, name in enumerate(names) if name and name != IGNORED_COLUMN and name in configured
    )
    return ColumnMap(False, columns, len(names), repeated_field=repeated_field)


def _by_name(
    action: ActionConfig, header: list[str], wanted: dict[str, str], repeated_field: str | None
) -> ColumnMap:
    positions: dict[str, list[int]] = {}
    for i, cell in enumerate(header):
        name = wanted.get(cell.strip().casefold())
        if name:
            positions.setdefault(name, []).append(i)
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
        elif spec.mandatory:
            raise MissingColumn(Msg.MANDATORY_COLUMN_MISSING.format(field=spec.name))
        elif nth == 0:
            warnings.append(Msg.OPTIONAL_COLUMN_MISSING.format(field=spec.name))
    return ColumnMap(True, tuple(columns), len(header), tuple(warnings), repeated_field)
