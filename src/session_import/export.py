"""The store's content as JSON (an array of objects) or CSV, streamed."""

from __future__ import annotations

import csv
import json
from typing import TextIO

from session_import.formulas import neutralise_formula
from session_import.store import StoreInterface

KINDS = ("sessions", "trainings", "users", "groups")


def write_export(store: StoreInterface, kind: str, fmt: str, out: TextIO) -> int:
    """Write every record of ``kind``; returns how many were written."""
    columns, rows = store.export(kind)
    count = 0
    if fmt == "json":
        out.write("[")
        for count, row in enumerate(rows, start=1):
            out.write(",\n  " if count > 1 else "\n  ")
            out.write(json.dumps(row, ensure_ascii=False))
        out.write("\n]\n" if count else "]\n")
        return count
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        count += 1
        writer.writerow(["" if v is None else neutralise_formula(_text(v)) for v in row.values()])
    return count


def _text(value: object) -> str:
    """A cell's text; the `remote` ids are written as JSON, as in the JSON export."""
    return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)
