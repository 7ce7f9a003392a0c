"""Charts as inline SVG drawn here, on the server side: they show without any script, in a
mail client's preview and under a strict Content-Security-Policy, and print as they look.

Every text that reaches a chart is escaped (markupsafe); colours are CSS classes of the
page, so the SVG holds no style attribute that the page's policy would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from session_import.pages.startdates import StartDates

OUTCOMES = ("created", "updated", "unchanged", "cancelled", "rejected")


def _number(n: float) -> str:
    return f"{n:g}" if isinstance(n, float) else str(n)


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}"'
        f' role="img" aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(label)}</title>" + "".join(body) + "</svg>"
    )


def _axis(x1: float, x2: float, y: float) -> str:
    return f'<line class="axis" x1="{x1}" y1="{y}" x2="{x2}" y2="{y}"/>'


def outcome_bars(counts: dict[str, int]) -> Markup:
    """One bar per outcome (created ... rejected), its count above it."""
    width, height, top, bottom = 420, 180, 20, 30
    bar, gap = 60, 24
    peak = max((counts.get(name, 0) for name in OUTCOMES), default=0) or 1
    body = [_axis(10, width - 10, height - bottom)]
    for index, name in enumerate(OUTCOMES):
        n = counts.get(name, 0)
        x = 20 + index * (bar + gap)
        h = round((height - top - bottom) * n / peak, 1)
        y = height - bottom - h
        body.append(
            f'<rect class="bar {name}" x="{x}" y="{y}" width="{bar}" height="{h}">'
            f"<title>{n} {name}</title></rect>"
        )
        body.append(f'<text class="value" x="{x + bar / 2}" y="{y - 4}">{n}</text>')
        body.append(f'<text class="label" x="{x + bar / 2}" y="{height - 10}">{name}</text>')
    return _svg(width, height, "Rows by outcome", body)


def reason_bars(reasons: Sequence, limit: int = 12) -> Markup:
    """The largest reasons as horizontal bars, each with its count; its text is beside the chart."""
    shown = list(reasons[:limit])
    row, width, label_width = 26, 640, 40
    height = row * len(shown) + 10
    peak = max((r.rows for r in shown), default=1) or 1
    body = []
    for index, reason in enumerate(shown):
        y = 5 + index * row
        w = max(round((width - label_width - 80) * reason.rows / peak, 1), 1)
        body.append(f'<text class="rank" x="{label_width - 8}" y="{y + 16}">{index + 1}</text>')
        body.append(
            f'<rect class="bar rejected" x="{label_width}" y="{y}" width="{w}" height="{row - 6}">'
            f"<title>{escape(reason.label)}: {reason.rows} rows</title></rect>"
        )
        body.append(
            f'<text class="count" x="{label_width + w + 6}" y="{y + 15}">{reason.rows}</text>'
        )
    return _svg(width, height, "Rejected rows by reason, largest first", body)


@dataclass(frozen=True)
class _Bin:
    label: str
    count: int
    odd: bool = False  # not a date


def _days(first: str, last: str) -> list[str] | None:
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError:
        return None
    span = (end - start).days
    return (
        [(start + timedelta(days=i)).isoformat() for i in range(span + 1)] if span <= 120 else None
    )


def _bins(dates: StartDates) -> list[_Bin]:
    keys = sorted(dates.counts)
    bins: list[_Bin] = []
    if keys:
        if dates.unit == "day":
            every_day = _days(keys[0], keys[-1])
            if every_day is not None:
                keys = every_day
            else:  # a long span: months read better than a thousand thin bars
                months: dict[str, int] = {}
                for key, n in dates.counts.items():
                    months[key[:7]] = months.get(key[:7], 0) + n
                bins = [_Bin(k, months[k]) for k in sorted(months)]
        if not bins:
            bins = [_Bin(k, dates.counts.get(k, 0)) for k in keys]
    if dates.not_a_date:
        if bins:
            bins.append(_Bin("", 0))  # a gap: the red bar is no date
        bins.append(_Bin("not a date", dates.not_a_date, odd=True))
    return bins


def start_date_bars(dates: StartDates) -> Markup:
    """The file's session rows by start date (day, or month over a long span), and a red bar
    for those whose start date is not a date: a shifted column shows as a red bar or as
    dates far from the others."""
    bins = _bins(dates)
    width, height, top, bottom, left, right = 720, 200, 20, 56, 36, 50
    slot = (width - left - right) / max(len(bins), 1)
    bar = max(min(slot * 0.8, 40), 1)
    peak = max((b.count for b in bins), default=1) or 1
    body = [
        _axis(left, width - right, height - bottom),
        f'<text class="tick" x="{left - 4}" y="{top + 4}">{peak}</text>',
    ]
    label_every = max(1, round(len(bins) / 12))
    for index, b in enumerate(bins):
        if not b.label:
            continue
        x = round(left + index * slot + (slot - bar) / 2, 1)
        h = round((height - top - bottom) * b.count / peak, 1)
        y = round(height - bottom - h, 1)
        kind = "odd" if b.odd else "dates"
        body.append(
            f'<rect class="bar {kind}" x="{x}" y="{y}" width="{round(bar, 1)}" height="{h}">'
            f"<title>{escape(b.label)}: {b.count}</title></rect>"
        )
        dated_last = index == len(bins) - 1 or not bins[index + 1].label
        if (
            b.odd
            or (index % label_every == 0 and index + label_every <= len(bins) - 1)
            or dated_last
        ):
            body.append(
                f'<text class="label slanted" x="{round(x + bar / 2, 1)}"'
                f' y="{height - bottom + 14}"'
                f' transform="rotate(30 {round(x + bar / 2, 1)} {height - bottom + 14})">'
                f"{escape(b.label)}</text>"
            )
    return _svg(width, height, "Session rows by start date", body)


def night_bars(nights: Sequence, anchor_prefix: str) -> Markup:
    """Per night: rows applied and rows rejected stacked, failed runs as a red mark above;
    each night links to its runs on the page."""
    width, height, top, bottom, left = 760, 210, 28, 46, 44
    slot = (width - left - 10) / max(len(nights), 1)
    bar = max(min(slot * 0.7, 36), 2)
    peak = max((n.rows for n in nights), default=1) or 1
    body = [
        _axis(left, width - 10, height - bottom),
        f'<text class="tick" x="{left - 4}" y="{top + 4}">{peak}</text>',
    ]
    label_every = max(1, round(len(nights) / 10))
    scale = (height - top - bottom) / peak
    for index, night in enumerate(nights):
        x = round(left + index * slot + (slot - bar) / 2, 1)
        applied = max(night.rows - night.rejected, 0)
        h_applied, h_rejected = round(applied * scale, 1), round(night.rejected * scale, 1)
        base = height - bottom
        parts = [
            f'<rect class="bar applied" x="{x}" y="{round(base - h_applied, 1)}"'
            f' width="{round(bar, 1)}"'
            f' height="{h_applied}"/>',
            f'<rect class="bar rejected" x="{x}" y="{round(base - h_applied - h_rejected, 1)}"'
            f' width="{round(bar, 1)}" height="{h_rejected}"/>',
        ]
        if night.failures:
            cx = round(x + bar / 2, 1)
            parts.append(
                f'<circle class="failure" cx="{cx}" cy="{top - 12}" r="7"/>'
                f'<text class="failure-count" x="{cx}" y="{top - 8}">{night.failures}</text>'
            )
        tip = (
            f"{night.night}: {night.rows} rows, {night.rejected} rejected, {night.failures} failed"
            f" run{'s' if night.failures != 1 else ''}"
        )
        body.append(
            f'<a href="#{escape(anchor_prefix)}-{escape(night.night)}"><title>{escape(tip)}</title>'
            + "".join(parts)
            + "</a>"
        )
        if index % label_every == 0 or index == len(nights) - 1:
            cx = round(x + bar / 2, 1)
            body.append(
                f'<text class="label slanted" x="{cx}" y="{height - bottom + 14}"'
                f' transform="rotate(30 {cx} {height - bottom + 14})">{escape(night.night)}</text>'
            )
    return _svg(width, height, "Rows, rejected rows and failed runs per night", body)
