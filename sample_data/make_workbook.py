"""Write sample_data/sessions.xlsx from sample_data/sessions.csv (the same rows).

    .venv/bin/python sample_data/make_workbook.py

The workbook is what an HR system's Excel export looks like: one sheet, "Sessions",
the CSV's header in row 1 and its rows below, so that importing it gives the same
outcome, line for line, as importing the CSV. The dates of the first two sessions
are typed as dates (shown as dd/mm/yyyy hh:mm in Excel), as a spreadsheet user would
type them; the others stay text, including the date that does not exist (30/02/2027),
which no spreadsheet can hold as a date. sample_configs/sessions.xml reads both kinds:
a date cell whatever its dateFormat says, text in DD/MM/YYYY HH:II.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "sessions.csv"
TARGET = HERE / "sessions.xlsx"
DATE_COLUMNS = ("sessionStartDate", "sessionEndDate")
TYPED_DATE_ROWS = 2  # the first data rows whose dates are typed as dates
DATE_NUMBER_FORMAT = "dd/mm/yyyy hh:mm"


def main() -> None:
    with SOURCE.open(encoding="utf-8", newline="") as source:
        header, *rows = list(csv.reader(source, delimiter=";"))
    book = Workbook()
    sheet = book.active
    sheet.title = "Sessions"
    sheet.append(header)
    dates = [header.index(name) for name in DATE_COLUMNS]
    for number, row in enumerate(rows):
        values: list[object] = [cell or None for cell in row]  # an empty cell is no cell
        if number < TYPED_DATE_ROWS:
            for column in dates:
                values[column] = dt.datetime.strptime(row[column], "%d/%m/%Y %H:%M")
        sheet.append(values)
        if number < TYPED_DATE_ROWS:
            for column in dates:
                sheet.cell(row=sheet.max_row, column=column + 1).number_format = (
                    DATE_NUMBER_FORMAT
                )
    for column, width in zip("ABCDEFGHI", (14, 16, 30, 12, 13, 17, 17, 13, 11), strict=True):
        sheet.column_dimensions[column].width = width
    book.properties.creator = "session-import sample"
    book.properties.created = dt.datetime(2026, 11, 30, 8, 0)
    book.save(TARGET)
    print(f"wrote {TARGET.relative_to(HERE.parent)}: {len(rows)} rows from {SOURCE.name}")


if __name__ == "__main__":
    main()
