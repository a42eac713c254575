"""Durations as people write them in configuration: '30m', '5h', '1d', '2h30m', '90s'.

One parser for every setting that takes one: a mart's freshness objective
(dbt `meta.sla`) and a pipeline's deadline (`airflow/pipelines.yml`).
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")


def parse_duration(text: object) -> timedelta | None:
    """The duration `text` writes, or None when it is not one (or is zero)."""
    value = str(text).strip()
    match = _DURATION.fullmatch(value)
    if not value or match is None:
        return None
    days, hours, minutes, seconds = (int(group or 0) for group in match.groups())
    duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    return duration if duration > timedelta(0) else None


def format_duration(delta: timedelta) -> str:
    """A duration as a person reads it: '45 s', '12 min', '5.0 h', '2.5 d'."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds} s"
