"""A grid of cells shaded by value."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from tpch_elt.reports.charts.numbers import compact
from tpch_elt.reports.charts.svg import (
    AXIS,
    CHART_WIDTH,
    TEXT,
    Formatter,
    coord,
    empty,
    finite,
    svg,
    text,
    tip,
)


def _shade(value: float, low: float, spread: float, center: float | None) -> tuple[str, str]:
    """A cell's fill and the ink of its label."""
    if center is not None:
        t = abs(value - center) / spread if spread else 0.0
        base = (0, 114, 178) if value >= center else (230, 159, 0)
    else:
        t = (value - low) / spread if spread else 0.0
        base = (0, 114, 178)
    t = 0.08 + 0.82 * t
    r, g, b = (round(255 + (c - 255) * t) for c in base)
    return f"#{r:02x}{g:02x}{b:02x}", ("#ffffff" if t > 0.6 else TEXT)


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
) -> Markup:
    """A grid of cells shaded by value, each cell labelled with its value.

    With `center` (e.g. 1.0 for an index) cells below it shade orange and
    above it blue, by distance from the center; otherwise light to dark
    blue from the minimum to the maximum. `min_spread` is the smallest
    distance (or range) drawn at full strength, so immaterial differences
    stay pale instead of being stretched over the whole colour scale.
    """
    flat = finite([v for row in values for v in row])
    if not row_labels or not column_labels or not flat:
        return empty(title, width)
    low, high = min(flat), max(flat)
    top = 24
    cell_w = (width - label_width - 4) / len(column_labels)
    height = top + cell_height * len(row_labels) + 4
    spread = max(abs(high - center), abs(low - center)) if center is not None else high - low
    spread = max(spread, min_spread)

    body: list[str] = [
        text(label_width + j * cell_w + cell_w / 2, 16, label, anchor="middle", size=10, fill=AXIS)
        for j, label in enumerate(column_labels)
    ]
    for i, row_label in enumerate(row_labels):
        y = top + i * cell_height
        body.append(
            text(label_width - 6, y + cell_height / 2, row_label, anchor="end", size=10, baseline="middle")
        )
        for j, value in enumerate(values[i]):
            if value is None:
                continue
            colour, ink = _shade(float(value), low, spread, center)
            x = label_width + j * cell_w
            shown = value_format(float(value))
            hover = tip(f"{row_label} × {column_labels[j]}: {shown}")
            body.append(
                f'<rect x="{coord(x)}" y="{coord(y)}" width="{coord(cell_w - 1)}" height="{cell_height - 1}" '
                f'fill="{colour}">{hover}</rect>'
            )
            body.append(
                text(
                    x + cell_w / 2,
                    y + cell_height / 2,
                    shown,
                    anchor="middle",
                    size=10,
                    fill=ink,
                    baseline="middle",
                )
            )
    return svg(width, height, title, body)
