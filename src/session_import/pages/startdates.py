"""The file's sessions counted by start date, for the chart where a shifted column shows."""

from __future__ import annotations

# distinct keys kept before days become months and months become years: a hostile file
# with a million different dates must not keep a million keys
MAX_KEYS = 4000
_WIDTH = {"day": 10, "month": 7, "year": 4}
_COARSER = {"day": "month", "month": "year"}


class StartDates:
    """Session rows by the day their start date names (``YYYY-MM-DD``), plus the rows whose
    start date is not a date and those that give none. Fed once per row by the pipeline."""

    __slots__ = ("counts", "unit", "not_a_date", "empty", "_width")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.unit = "day"
        self.not_a_date = 0
        self.empty = 0
        self._width = 10

    def add(self, start: object) -> None:
        """``start`` as the validator typed it: an ISO string, False (not a date), else none."""
        if start.__class__ is str:
            key = start[: self._width]
            counts = self.counts
            counts[key] = counts.get(key, 0) + 1
            if len(counts) > MAX_KEYS and self.unit in _COARSER:
                self._coarsen()
        elif start is False:
            self.not_a_date += 1
        else:
            self.empty += 1

    def _coarsen(self) -> None:
        self.unit = _COARSER[self.unit]
        self._width = _WIDTH[self.unit]
        coarse: dict[str, int] = {}
        for key, n in self.counts.items():
            coarse[key[: self._width]] = coarse.get(key[: self._width], 0) + n
        self.counts = coarse
        if len(coarse) > MAX_KEYS and self.unit in _COARSER:
            self._coarsen()

    @property
    def total(self) -> int:
        return sum(self.counts.values()) + self.not_a_date + self.empty

    def __bool__(self) -> bool:
        return bool(self.counts or self.not_a_date)
