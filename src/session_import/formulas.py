"""Spreadsheet formulas in data: neutralised in every CSV written, restored in every cell read.

A cell that starts with one of FORMULA_PREFIXES would run as a formula when a
spreadsheet opens the file (CSV injection), so every CSV we write prefixes it with "'";
reading takes that "'" off again, so that a rejects file imports as it was.
"""

from __future__ import annotations

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: str) -> str:
    """For every CSV we write: a cell starting with one of FORMULA_PREFIXES gets a leading "'"."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def restore_formula(value: str) -> str:
    """For every cell we read: "'" followed by one of FORMULA_PREFIXES loses the "'" (so a
    rejects file round-trips); anything else unchanged."""
    if value[:1] == "'" and value[1:2] in FORMULA_PREFIXES:  # ("" is not in the tuple)
        return value[1:]
    return value
