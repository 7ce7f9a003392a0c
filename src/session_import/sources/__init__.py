"""Data sources: one data file -> a stream of Records (line, raw cells).

Delimited text is read by ``delimited.DataFile``; a name ending in ``.xlsx`` by
``excel.ExcelFile`` (openpyxl loads slowly: it is imported only for a workbook).
Both offer ``records.RecordFile``'s interface; ``open_data_file`` chooses.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from session_import.sources.delimited import SAMPLE_RECORDS, DataFile
from session_import.sources.encodings import (
    DEFAULT_DELIMITER,
    DETECTED_DELIMITERS,
    SUGGESTED_ENCODINGS,
    rejects_layout,
)
from session_import.sources.records import DataFileError, DateCell, ReadMsg, Record, RecordFile

if TYPE_CHECKING:
    from session_import.sources.excel import ExcelFile

__all__ = [
    "DEFAULT_DELIMITER",
    "DETECTED_DELIMITERS",
    "SAMPLE_RECORDS",
    "SUGGESTED_ENCODINGS",
    "DataFile",
    "DataFileError",
    "DateCell",
    "ReadMsg",
    "Record",
    "RecordFile",
    "open_data_file",
    "rejects_layout",
]


def open_data_file(
    path: str | os.PathLike[str],
    *,
    encoding: str = "utf-8",
    delimiter: str | None = DEFAULT_DELIMITER,
    has_header: bool = True,
    sheet_name: str | None = None,
    date_format: str | None = None,
) -> DataFile | ExcelFile:
    """Open a data file; read its header now when ``has_header``.

    A name ending in ``.xlsx`` (in any case) is an Excel workbook (excel.ExcelFile):
    ``sheet_name`` chooses its sheet (default the first) and ``date_format`` writes its
    date cells (see records.DateCell); ``encoding`` and ``delimiter`` do not apply.
    Any other file is delimited text: ``delimiter`` None detects it among ; , | TAB from
    the first record (outside quotes): the most frequent wins, ties in that order, none
    found -> ';'.
    Raises DataFileError when the file cannot be opened, or its header cannot be read.
    """
    if os.fspath(path).lower().endswith(".xlsx"):
        from session_import.sources.excel import ExcelFile  # openpyxl loads slowly: only for Excel

        return ExcelFile(
            path, has_header=has_header, sheet_name=sheet_name, date_format=date_format
        )
    return DataFile(path, encoding=encoding, delimiter=delimiter, has_header=has_header)
