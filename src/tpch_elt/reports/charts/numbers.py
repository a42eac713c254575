"""Number formatting shared by the charts and the report text."""

from __future__ import annotations


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
