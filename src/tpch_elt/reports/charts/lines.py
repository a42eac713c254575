"""Lines over an ordered x axis: plain series, and one metric against its expected band."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from tpch_elt.reports.charts.numbers import compact
from tpch_elt.reports.charts.svg import (
    AXIS,
    CHART_WIDTH,
    FAIL,
    GRID,
    PALETTE,
    WARN,
    Formatter,
    Series,
    coord,
    domain,
    empty,
    finite,
    legend,
    nice_ticks,
    svg,
    text,
    tip,
    value_axis,
)


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
) -> Markup:
    """Lines over an ordered x axis (months, discount levels); gaps at None."""
    values = finite([v for s in series for v in s.values])
    if not labels or not values:
        return empty(title, width)
    low, high, ticks = domain(values, include_zero=include_zero)
    left, right = 56, width - 12
    top = 24 if len(series) > 1 else 10
    bottom = height - 40
    step = (right - left) / max(len(labels) - 1, 1)

    def x_of(i: int) -> float:
        return left + i * step

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    body: list[str] = legend(series, left, 14) if len(series) > 1 else []
    body += value_axis(ticks, y_of, left, right, value_format)
    body += [
        text(x_of(i), bottom + 14, label, anchor="middle", size=10, fill=AXIS)
        for i, label in enumerate(labels)
        if i % label_every == 0
    ]
    for s_index, item in enumerate(series):
        colour = PALETTE[s_index % len(PALETTE)]
        body += _polylines(item.values, colour, x_of, y_of)
        if len(labels) <= 40:
            body += _markers(labels, item, colour, x_of, y_of, value_format)
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="{AXIS}"/>')
    return svg(width, height, title, body)


def _polylines(
    values: Sequence[float | None],
    colour: str,
    x_of: Callable[[int], float],
    y_of: Callable[[float], float],
) -> list[str]:
    """One polyline per run of present values: the line breaks at each None."""
    segments: list[list[str]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            segments.append([])
            continue
        segments[-1].append(f"{coord(x_of(i))},{coord(y_of(float(value)))}")
    return [
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'
        for points in segments
        if len(points) > 1
    ]


def _markers(
    labels: Sequence[str],
    item: Series,
    colour: str,
    x_of: Callable[[int], float],
    y_of: Callable[[float], float],
    value_format: Formatter,
) -> list[str]:
    """A dot per present value, its value in a tooltip."""
    return [
        f'<circle cx="{coord(x_of(i))}" cy="{coord(y_of(float(value)))}" r="3" fill="{colour}">'
        + tip(f"{labels[i]} · {item.name}: {value_format(float(value))}")
        + "</circle>"
        for i, value in enumerate(item.values)
        if value is not None
    ]


# -- a metric's history against the range it was expected in ------------------------------


@dataclass(frozen=True)
class _Frame:
    """Where a band chart puts run i and value v."""

    count: int
    low: float
    high: float
    left: float
    right: float
    top: float
    bottom: float

    @property
    def step(self) -> float:
        return (self.right - self.left) / max(self.count - 1, 1)

    def x(self, i: int) -> float:
        return self.left + i * self.step if self.count > 1 else (self.left + self.right) / 2

    def y(self, v: float) -> float:
        return self.bottom - (v - self.low) / ((self.high - self.low) or 1) * (self.bottom - self.top)


def band_chart(
    labels: Sequence[str],
    values: Sequence[float | None],
    lows: Sequence[float | None],
    highs: Sequence[float | None],
    flagged: Sequence[str | None],
    *,
    title: str,
    value_format: Formatter = compact,
    width: int = 860,
    height: int = 220,
) -> Markup:
    """A metric's history as a line, its expected band as a shaded area, flagged points marked.

    `lows`/`highs` are the expected range each run was judged against
    (None where that run had no verdict, or the bound is open); `flagged`
    holds 'fail'/'warn' for anomalous points.
    """
    drawable = finite([*values, *lows, *highs])
    if not labels or not drawable:
        return _no_band(title, width)
    ticks = nice_ticks(min(drawable), max(drawable))
    frame = _Frame(len(labels), ticks[0], ticks[-1], 64, width - 12, 10, height - 34)
    body: list[str] = []
    for tick in ticks:
        body.append(
            f'<line x1="{frame.left}" y1="{frame.y(tick):.1f}" x2="{frame.right}" y2="{frame.y(tick):.1f}" '
            f'stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{frame.left - 6}" y="{frame.y(tick):.1f}" text-anchor="end" font-size="10" '
            f'fill="{AXIS}" dominant-baseline="middle">{escape(value_format(tick))}</text>'
        )
    body += [_band(run, frame, lows, highs) for run in _verdict_runs(len(labels), lows, highs)]
    points = [(i, float(v)) for i, v in enumerate(values) if v is not None]
    if len(points) > 1:
        line = " ".join(f"{frame.x(i):.1f},{frame.y(v):.1f}" for i, v in points)
        body.append(f'<polyline fill="none" stroke="{PALETTE[0]}" stroke-width="2" points="{line}"/>')
    for i, v in points:
        expected = _expected(lows[i], highs[i], value_format)
        body.append(_band_point(frame, i, v, flagged[i], f"{labels[i]}: {value_format(v)}{expected}"))
    every = max(1, round(len(labels) / 8))
    body += [
        f'<text x="{frame.x(i):.1f}" y="{frame.bottom + 14}" text-anchor="middle" font-size="10" '
        f'fill="{AXIS}">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    body.append(
        f'<line x1="{frame.left}" y1="{frame.bottom}" x2="{frame.right}" y2="{frame.bottom}" stroke="{AXIS}"/>'
    )
    return svg(width, height, title, body)


def _no_band(title: str, width: int) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 40" class="chart" role="img" '
        f'aria-label="{escape(title)}">{tip(title)}'
        f'<text x="10" y="24" fill="{AXIS}" font-size="12">no data</text></svg>'
    )


def _verdict_runs(count: int, lows: Sequence[float | None], highs: Sequence[float | None]) -> list[list[int]]:
    """Runs of consecutive indexes that had a verdict (an expected bound)."""
    runs: list[list[int]] = []
    run: list[int] = []
    for i in range(count):
        if lows[i] is not None or highs[i] is not None:
            run.append(i)
        elif run:
            runs.append(run)
            run = []
    if run:
        runs.append(run)
    return runs


def _band(run: list[int], frame: _Frame, lows: Sequence[float | None], highs: Sequence[float | None]) -> str:
    """The expected range over one run of verdicts; a lone verdict gets a box one step wide."""

    def bound(i: int, upper: bool) -> float:
        value = highs[i] if upper else lows[i]
        if value is None:
            value = frame.high if upper else frame.low
        return frame.y(min(max(float(value), frame.low), frame.high))

    half = (frame.step / 2) if len(run) == 1 else 0
    upper = [f"{frame.x(i) - half:.1f},{bound(i, True):.1f}" for i in run]
    lower = [f"{frame.x(i) + half:.1f},{bound(i, False):.1f}" for i in reversed(run)]
    if half:
        upper.append(f"{frame.x(run[0]) + half:.1f},{bound(run[0], True):.1f}")
        lower.append(f"{frame.x(run[0]) - half:.1f},{bound(run[0], False):.1f}")
    return (
        f'<polygon points="{" ".join(upper + lower)}" fill="{PALETTE[0]}" fill-opacity="0.15">'
        "<title>expected range</title></polygon>"
    )


def _expected(low: float | None, high: float | None, value_format: Formatter) -> str:
    if low is None and high is None:
        return ""
    shown_low = "–∞" if low is None else value_format(float(low))
    shown_high = "∞" if high is None else value_format(float(high))
    return f" (expected {shown_low} … {shown_high})"


def _band_point(frame: _Frame, i: int, v: float, flag: str | None, hover: str) -> str:
    colour = FAIL if flag == "fail" else WARN if flag == "warn" else PALETTE[0]
    radius = 5 if flag else 3
    return f'<circle cx="{frame.x(i):.1f}" cy="{frame.y(v):.1f}" r="{radius}" fill="{colour}">{tip(hover)}</circle>'
