"""Inline SVG charts for the offline HTML reports.

Pure functions from numbers to an `<svg>` string: no JavaScript, no fonts
or assets from the network (text inherits the page's system font), so a
report is one self-contained file. Every chart carries a `<title>` and an
`aria-label`, scales with `viewBox`, and shows each value in a hover
tooltip (`<title>` on the mark).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# Colour-blind-safe (Okabe-Ito based) series colours.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")
AXIS = "#6b7280"
GRID = "#e5e7eb"
TEXT = "#1f2937"

Formatter = Callable[[float], str]
# Default drawing width in SVG units; charts scale down with the page.
CHART_WIDTH = 860


@dataclass(frozen=True)
class Series:
    """One named sequence of values (None = missing) drawn in one colour."""

    name: str
    values: Sequence[float | None]


# -- number formatting, shared with the report text -------------------------


def compact(value: float | None, digits: int = 3) -> str:
    """1234567 -> '1.23M'; 950 -> '950'; None -> '–'."""
    if value is None:
        return "–"
    value = float(value)
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            scaled = value / size
            return f"{scaled:.{max(digits - len(str(int(abs(scaled)))), 0)}f}{suffix}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.{digits - 1}f}"


def percent(value: float | None, digits: int = 1) -> str:
    """0.1234 -> '12.3%'."""
    return "–" if value is None else f"{float(value) * 100:.{digits}f}%"


def number(value: float | None, digits: int = 0) -> str:
    """Thousands separators: 12345.6 -> '12,346' (digits=0)."""
    return "–" if value is None else f"{float(value):,.{digits}f}"


# -- helpers -----------------------------------------------------------------


def _nice_step(span: float, target_ticks: int) -> float:
    raw = span / max(target_ticks, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 2.5, 5, 10):
        if multiple * magnitude >= raw:
            return multiple * magnitude
    return 10 * magnitude


def nice_ticks(low: float, high: float, target_ticks: int = 5) -> list[float]:
    """Round tick values covering [low, high], e.g. 0, 250, 500, 750."""
    if not math.isfinite(low) or not math.isfinite(high):
        raise ValueError("tick range must be finite")
    if high < low:
        low, high = high, low
    if high == low:
        high = low + (abs(low) or 1.0)
    step = _nice_step(high - low, target_ticks)
    start = math.floor(low / step) * step
    ticks = []
    tick = start
    while tick < high + step * 0.5:
        ticks.append(round(tick, 10))
        tick += step
    if ticks[-1] < high:
        ticks.append(round(tick, 10))
    return ticks


def _f(x: float) -> str:
    """Coordinates with one decimal, no trailing '.0' (keeps files small)."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: int = 11,
    fill: str = TEXT,
    weight: str | None = None,
    baseline: str | None = None,
) -> str:
    extra = f' font-weight="{weight}"' if weight else ""
    extra += f' dominant-baseline="{baseline}"' if baseline else ""
    return (
        f'<text x="{_f(x)}" y="{_f(y)}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}"{extra}>{escape(content)}</text>'
    )


def _svg(width: float, height: float, title: str, body: list[str]) -> str:
    label = escape(title, quote=True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_f(width)} {_f(height)}" '
        f'width="{_f(width)}" height="{_f(height)}" role="img" aria-label="{label}" class="chart">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for i, item in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{_f(x)}" y="{_f(y - 9)}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, y, item.name, size=11))
        x += 24 + 6.5 * len(item.name)
    return parts


def _clean(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _domain(values: list[float], *, include_zero: bool) -> tuple[float, float, list[float]]:
    low = min(values) if values else 0.0
    high = max(values) if values else 1.0
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    ticks = nice_ticks(low, high)
    return ticks[0], ticks[-1], ticks


def _empty(title: str, width: float) -> str:
    return _svg(width, 60, title, [_text(width / 2, 34, "no data", anchor="middle", fill=AXIS)])


# -- charts --------------------------------------------------------------------


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Formatter = compact,
    width: int = CHART_WIDTH,
    label_width: int = 190,
) -> str:
    """Horizontal bars, one group per label and one bar per series.

    Negative values extend left of the zero line. Best for ranked lists
    (top products, suppliers) whose labels are long.
    """
    values = _clean([v for s in series for v in s.values])
    if not labels or not values:
        return _empty(title, width)
    low, high, ticks = _domain(values, include_zero=True)
    bar_h = 14 if len(series) > 1 else 16
    group_h = bar_h * len(series) + 8
    top = 24 if len(series) > 1 else 8
    plot_left, plot_right = label_width, width - 70
    height = top + group_h * len(labels) + 24

    def x_of(value: float) -> float:
        return plot_left + (value - low) / (high - low) * (plot_right - plot_left)

    body: list[str] = []
    if len(series) > 1:
        body += _legend(series, plot_left, 14)
    for tick in ticks:
        x = x_of(tick)
        body.append(f'<line x1="{_f(x)}" y1="{top}" x2="{_f(x)}" y2="{_f(height - 20)}" stroke="{GRID}"/>')
        body.append(_text(x, height - 6, value_format(tick), anchor="middle", size=10, fill=AXIS))
    zero = x_of(0.0)
    for row, label in enumerate(labels):
        y0 = top + row * group_h + 4
        fits = max(int((label_width - 10) / 6.4), 4)
        shown = label if len(label) <= fits else label[: fits - 1] + "…"
        body.append(_text(plot_left - 6, y0 + group_h / 2 - 2, shown, anchor="end", baseline="middle"))
        for i, item in enumerate(series):
            value = item.values[row] if row < len(item.values) else None
            if value is None:
                continue
            value = float(value)
            x = min(zero, x_of(value))
            w = max(abs(x_of(value) - zero), 0.5)
            y = y0 + i * bar_h
            tip = escape(f"{label} · {item.name}: {value_format(value)}")
            body.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{bar_h - 2}" '
                f'fill="{PALETTE[i % len(PALETTE)]}"><title>{tip}</title></rect>'
            )
            body.append(
                _text(
                    max(x_of(value), zero) + 4, y + bar_h / 2, value_format(value), size=10, baseline="middle"
                )
            )
    body.append(f'<line x1="{_f(zero)}" y1="{top}" x2="{_f(zero)}" y2="{_f(height - 20)}" stroke="{AXIS}"/>')
    return _svg(width, height, title, body)


def column_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    *,
    title: str,
    value_format: Formatter = compact,
    highlight: Sequence[int] = (),
    width: int = CHART_WIDTH,
    height: int = 240,
    include_zero: bool = True,
    label_every: int = 1,
) -> str:
    """Vertical columns over ordered categories (months, bins, bands).

    Columns whose index is in `highlight` are drawn in the accent colour.
    `label_every` thins the x labels for long series.
    """
    clean = _clean(values)
    if not labels or not clean:
        return _empty(title, width)
    low, high, ticks = _domain(clean, include_zero=include_zero)
    left, right, top, bottom = 56, width - 10, 10, height - 40
    slot = (right - left) / len(labels)
    gap = min(slot * 0.2, 6)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    body: list[str] = []
    for tick in ticks:
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{_f(y)}" x2="{right}" y2="{_f(y)}" stroke="{GRID}"/>')
        body.append(
            _text(left - 6, y, value_format(tick), anchor="end", size=10, fill=AXIS, baseline="middle")
        )
    base = y_of(max(low, min(0.0, high)))
    marked = set(highlight)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * slot + gap / 2
        if value is not None:
            y = y_of(float(value))
            colour = PALETTE[1] if i in marked else PALETTE[0]
            tip = escape(f"{label}: {value_format(float(value))}")
            body.append(
                f'<rect x="{_f(x)}" y="{_f(min(y, base))}" width="{_f(max(slot - gap, 0.5))}" '
                f'height="{_f(max(abs(base - y), 0.5))}" fill="{colour}"><title>{tip}</title></rect>'
            )
        if i % label_every == 0:
            body.append(_text(x + (slot - gap) / 2, bottom + 14, label, anchor="middle", size=10, fill=AXIS))
    body.append(f'<line x1="{left}" y1="{_f(base)}" x2="{right}" y2="{_f(base)}" stroke="{AXIS}"/>')
    return _svg(width, height, title, body)


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Formatter = compact,
    width: int = CHART_WIDTH,
    height: int = 240,
    include_zero: bool = False,
    label_every: int = 1,
) -> str:
    """Lines over an ordered x axis (months, discount levels); gaps at None."""
    values = _clean([v for s in series for v in s.values])
    if not labels or not values:
        return _empty(title, width)
    low, high, ticks = _domain(values, include_zero=include_zero)
    left, right = 56, width - 12
    top = 24 if len(series) > 1 else 10
    bottom = height - 40
    step = (right - left) / max(len(labels) - 1, 1)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    body: list[str] = []
    if len(series) > 1:
        body += _legend(series, left, 14)
    for tick in ticks:
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{_f(y)}" x2="{right}" y2="{_f(y)}" stroke="{GRID}"/>')
        body.append(
            _text(left - 6, y, value_format(tick), anchor="end", size=10, fill=AXIS, baseline="middle")
        )
    for i, label in enumerate(labels):
        if i % label_every == 0:
            body.append(_text(left + i * step, bottom + 14, label, anchor="middle", size=10, fill=AXIS))
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for i, value in enumerate(item.values):
            if value is None:
                segments.append([])
                continue
            segments[-1].append(f"{_f(left + i * step)},{_f(y_of(float(value)))}")
        for points in segments:
            if len(points) > 1:
                body.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
        if len(labels) <= 40:
            for i, value in enumerate(item.values):
                if value is None:
                    continue
                tip = escape(f"{labels[i]} · {item.name}: {value_format(float(value))}")
                body.append(
                    f'<circle cx="{_f(left + i * step)}" cy="{_f(y_of(float(value)))}" r="3" '
                    f'fill="{colour}"><title>{tip}</title></circle>'
                )
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>')
    return _svg(width, height, title, body)


def heatmap(
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    value_format: Formatter = compact,
    center: float | None = None,
    min_spread: float = 0.0,
    width: int = CHART_WIDTH,
    label_width: int = 130,
    cell_height: int = 22,
) -> str:
    """A grid of cells shaded by value, each cell labelled with its value.

    With `center` (e.g. 1.0 for an index) cells below it shade orange and
    above it blue, by distance from the center; otherwise light to dark
    blue from the minimum to the maximum. `min_spread` is the smallest
    distance (or range) drawn at full strength, so immaterial differences
    stay pale instead of being stretched over the whole colour scale.
    """
    flat = _clean([v for row in values for v in row])
    if not row_labels or not column_labels or not flat:
        return _empty(title, width)
    low, high = min(flat), max(flat)
    top = 24
    cell_w = (width - label_width - 4) / len(column_labels)
    height = top + cell_height * len(row_labels) + 4
    spread = max(abs(high - center), abs(low - center)) if center is not None else high - low
    spread = max(spread, min_spread)

    def fill(value: float) -> tuple[str, str]:
        if center is not None:
            t = abs(value - center) / spread if spread else 0.0
            base = (0, 114, 178) if value >= center else (230, 159, 0)
        else:
            t = (value - low) / spread if spread else 0.0
            base = (0, 114, 178)
        t = 0.08 + 0.82 * t
        r, g, b = (round(255 + (c - 255) * t) for c in base)
        return f"#{r:02x}{g:02x}{b:02x}", ("#ffffff" if t > 0.6 else TEXT)

    body: list[str] = []
    for j, label in enumerate(column_labels):
        body.append(
            _text(label_width + j * cell_w + cell_w / 2, 16, label, anchor="middle", size=10, fill=AXIS)
        )
    for i, row_label in enumerate(row_labels):
        y = top + i * cell_height
        body.append(
            _text(label_width - 6, y + cell_height / 2, row_label, anchor="end", size=10, baseline="middle")
        )
        for j, value in enumerate(values[i]):
            if value is None:
                continue
            colour, ink = fill(float(value))
            x = label_width + j * cell_w
            tip = escape(f"{row_label} × {column_labels[j]}: {value_format(float(value))}")
            body.append(
                f'<rect x="{_f(x)}" y="{_f(y)}" width="{_f(cell_w - 1)}" height="{cell_height - 1}" '
                f'fill="{colour}"><title>{tip}</title></rect>'
            )
            body.append(
                _text(
                    x + cell_w / 2,
                    y + cell_height / 2,
                    value_format(float(value)),
                    anchor="middle",
                    size=10,
                    fill=ink,
                    baseline="middle",
                )
            )
    return _svg(width, height, title, body)
