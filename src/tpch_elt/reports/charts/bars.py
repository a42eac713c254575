"""Bars: horizontal bar groups for ranked lists, vertical columns over ordered categories."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from tpch_elt.reports.charts.numbers import compact
from tpch_elt.reports.charts.svg import (
    AXIS,
    CHART_WIDTH,
    GRID,
    PALETTE,
    Formatter,
    Series,
    coord,
    domain,
    empty,
    finite,
    legend,
    svg,
    text,
    tip,
    value_axis,
)


def bar_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    value_format: Formatter = compact,
    width: int = CHART_WIDTH,
    label_width: int = 190,
) -> Markup:
    """Horizontal bars, one group per label and one bar per series.

    Negative values extend left of the zero line. Best for ranked lists
    (top products, suppliers) whose labels are long.
    """
    values = finite([v for s in series for v in s.values])
    if not labels or not values:
        return empty(title, width)
    low, high, ticks = domain(values, include_zero=True)
    bar_h = 14 if len(series) > 1 else 16
    group_h = bar_h * len(series) + 8
    top = 24 if len(series) > 1 else 8
    plot_left, plot_right = label_width, width - 70
    height = top + group_h * len(labels) + 24

    def x_of(value: float) -> float:
        return plot_left + (value - low) / (high - low) * (plot_right - plot_left)

    body: list[str] = []
    if len(series) > 1:
        body += legend(series, plot_left, 14)
    for tick in ticks:
        x = x_of(tick)
        body.append(
            f'<line x1="{coord(x)}" y1="{top}" x2="{coord(x)}" y2="{coord(height - 20)}" stroke="{GRID}"/>'
        )
        body.append(text(x, height - 6, value_format(tick), anchor="middle", size=10, fill=AXIS))
    zero = x_of(0.0)
    for row, label in enumerate(labels):
        y0 = top + row * group_h + 4
        fits = max(int((label_width - 10) / 6.4), 4)
        shown = label if len(label) <= fits else label[: fits - 1] + "…"
        body.append(text(plot_left - 6, y0 + group_h / 2 - 2, shown, anchor="end", baseline="middle"))
        for i, item in enumerate(series):
            value = item.values[row] if row < len(item.values) else None
            if value is None:
                continue
            value = float(value)
            x = min(zero, x_of(value))
            w = max(abs(x_of(value) - zero), 0.5)
            y = y0 + i * bar_h
            hover = tip(f"{label} · {item.name}: {value_format(value)}")
            body.append(
                f'<rect x="{coord(x)}" y="{coord(y)}" width="{coord(w)}" height="{bar_h - 2}" '
                f'fill="{PALETTE[i % len(PALETTE)]}">{hover}</rect>'
            )
            body.append(
                text(
                    max(x_of(value), zero) + 4, y + bar_h / 2, value_format(value), size=10, baseline="middle"
                )
            )
    body.append(
        f'<line x1="{coord(zero)}" y1="{top}" x2="{coord(zero)}" y2="{coord(height - 20)}" stroke="{AXIS}"/>'
    )
    return svg(width, height, title, body)


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
) -> Markup:
    """Vertical columns over ordered categories (months, bins, bands).

    Columns whose index is in `highlight` are drawn in the accent colour.
    `label_every` thins the x labels for long series.
    """
    clean = finite(values)
    if not labels or not clean:
        return empty(title, width)
    low, high, ticks = domain(clean, include_zero=include_zero)
    left, right, top, bottom = 56, width - 10, 10, height - 40
    slot = (right - left) / len(labels)
    gap = min(slot * 0.2, 6)

    def y_of(value: float) -> float:
        return bottom - (value - low) / (high - low) * (bottom - top)

    body = value_axis(ticks, y_of, left, right, value_format)
    base = y_of(max(low, min(0.0, high)))
    marked = set(highlight)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + i * slot + gap / 2
        if value is not None:
            y = y_of(float(value))
            colour = PALETTE[1] if i in marked else PALETTE[0]
            hover = tip(f"{label}: {value_format(float(value))}")
            body.append(
                f'<rect x="{coord(x)}" y="{coord(min(y, base))}" width="{coord(max(slot - gap, 0.5))}" '
                f'height="{coord(max(abs(base - y), 0.5))}" fill="{colour}">{hover}</rect>'
            )
        if i % label_every == 0:
            body.append(text(x + (slot - gap) / 2, bottom + 14, label, anchor="middle", size=10, fill=AXIS))
    body.append(f'<line x1="{left}" y1="{coord(base)}" x2="{right}" y2="{coord(base)}" stroke="{AXIS}"/>')
    return svg(width, height, title, body)
