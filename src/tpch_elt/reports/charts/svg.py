"""What every chart is drawn with: colours, the series type, round ticks and
the SVG pieces (text, legend, frame, the "no data" chart).

Every string from data that reaches the SVG passes through `text()`,
`svg()` or `tip()`, which escape it; numbers are formatted here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

# Colour-blind-safe (Okabe-Ito based) series colours.
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00")
AXIS = "#6b7280"
GRID = "#e5e7eb"
TEXT = "#1f2937"
# Marks of a failing and of a warning check (band chart points, lineage boxes).
FAIL = "#d55e00"
WARN = "#e69f00"

Formatter = Callable[[float], str]
# Default drawing width in SVG units; charts scale down with the page.
CHART_WIDTH = 860


@dataclass(frozen=True)
class Series:
    """One named sequence of values (None = missing) drawn in one colour."""

    name: str
    values: Sequence[float | None]


def _nice_step(span: float, target_ticks: int) -> float:
    raw = span / max(target_ticks, 1)
    magnitude: float = 10 ** math.floor(math.log10(raw))
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


def coord(x: float) -> str:
    """Coordinates with one decimal, no trailing '.0' (keeps files small)."""
    text = f"{x:.1f}"
    return text[:-2] if text.endswith(".0") else text


def text(
    x: float,
    y: float,
    content: str,
    *,
    anchor: str = "start",
    size: int = 11,
    fill: str = TEXT,
    baseline: str | None = None,
) -> str:
    """A `<text>` element; `content` is escaped."""
    extra = f' dominant-baseline="{baseline}"' if baseline else ""
    return (
        f'<text x="{coord(x)}" y="{coord(y)}" text-anchor="{anchor}" font-size="{size}" '
        f'fill="{fill}"{extra}>{escape(content)}</text>'
    )


def tip(content: str) -> str:
    """A hover tooltip (`<title>` of a mark); `content` is escaped."""
    return f"<title>{escape(content)}</title>"


def svg(width: float, height: float, title: str, body: Sequence[str]) -> Markup:
    """The chart: `body` (SVG built by this package) in a frame titled `title` (escaped)."""
    label = escape(title, quote=True)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {coord(width)} {coord(height)}" '
        f'width="{coord(width)}" height="{coord(height)}" role="img" aria-label="{label}" class="chart">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def legend(series: Sequence[Series], x: float, y: float) -> list[str]:
    parts = []
    for i, item in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(f'<rect x="{coord(x)}" y="{coord(y - 9)}" width="10" height="10" fill="{colour}"/>')
        parts.append(text(x + 14, y, item.name, size=11))
        x += 24 + 6.5 * len(item.name)
    return parts


def finite(values: Sequence[float | None]) -> list[float]:
    """The values that can be drawn: present and finite."""
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def domain(values: list[float], *, include_zero: bool) -> tuple[float, float, list[float]]:
    low = min(values) if values else 0.0
    high = max(values) if values else 1.0
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    ticks = nice_ticks(low, high)
    return ticks[0], ticks[-1], ticks


def value_axis(
    ticks: Sequence[float],
    y_of: Callable[[float], float],
    left: float,
    right: float,
    value_format: Formatter,
) -> list[str]:
    """Horizontal grid lines, each labelled with its value left of the plot."""
    body: list[str] = []
    for tick in ticks:
        y = y_of(tick)
        body.append(f'<line x1="{left}" y1="{coord(y)}" x2="{right}" y2="{coord(y)}" stroke="{GRID}"/>')
        body.append(
            text(left - 6, y, value_format(tick), anchor="end", size=10, fill=AXIS, baseline="middle")
        )
    return body


def empty(title: str, width: float) -> Markup:
    return svg(width, 60, title, [text(width / 2, 34, "no data", anchor="middle", fill=AXIS)])
