"""Anomaly configuration: the thresholds each monitor of a source or model is judged by.

Configuration is dbt `meta`, read from the manifest: project-wide defaults
under `anomaly_defaults` (dbt_project.yml), overrides under `anomaly` on a
source, model or folder, and per column under the column's `anomaly`
(`metrics:` adds column metrics to watch; thresholds apply to them all).
The thresholds apply to every monitor; `volume:`, `freshness:` and
each column metric's name (e.g. `null_percent:`) take overrides for that
monitor or metric alone. dbt merges `meta` one key deep, so the two names
keep defaults and overrides apart; here they are merged key by key.
What the thresholds mean is told in `tpch_elt.observability.detect`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from tpch_elt.errors import PipelineError

DIRECTIONS = ("both", "spike", "drop")
SEVERITIES = ("fail", "warn")
COLUMN_METRICS = {
    # metric -> column in observability.column_metrics
    "null_percent": "null_percent",
    "distinct_count": "distinct_count",
    "min": "min_value",
    "max": "max_value",
    "avg": "avg_value",
    "min_length": "min_length",
    "max_length": "max_length",
}


@dataclass(frozen=True)
class Thresholds:
    """How one metric is judged."""

    sensitivity: float = 3.0
    direction: str = "both"
    training_runs: int = 14
    min_training_size: int = 5
    min_change_percent: float = 5.0
    min_change: float = 0.0
    severity: str = "fail"

    def validate(self, where: str) -> Thresholds:
        problems = []
        if not self.sensitivity > 0:
            problems.append(f"sensitivity must be > 0 (got {self.sensitivity})")
        if self.direction not in DIRECTIONS:
            problems.append(f"direction must be one of {', '.join(DIRECTIONS)} (got {self.direction!r})")
        if self.training_runs < 2 or self.min_training_size < 2:
            problems.append("training_runs and min_training_size must be >= 2")
        if self.min_training_size > self.training_runs:
            problems.append(
                f"min_training_size ({self.min_training_size}) exceeds training_runs ({self.training_runs})"
            )
        if self.min_change_percent < 0 or self.min_change < 0:
            problems.append("min_change_percent and min_change must be >= 0")
        if self.severity not in SEVERITIES:
            problems.append(f"severity must be fail or warn (got {self.severity!r})")
        if problems:
            raise PipelineError(f"anomaly config of {where}: {problems[0]}; fix its dbt meta")
        return self


_THRESHOLD_KEYS = {f.name for f in fields(Thresholds)}
# `drift`: the arrival batches' drift checks (observability/drift.py reads and checks it).
_TABLE_KEYS = _THRESHOLD_KEYS | {
    "enabled",
    "volume",
    "freshness",
    "schema_changes",
    "column_metrics",
    "drift",
}
_TABLE_KEYS |= set(COLUMN_METRICS)
_COLUMN_KEYS = _THRESHOLD_KEYS | {"metrics"}

# The built-in defaults; dbt_project.yml restates them as `anomaly_defaults`.
BUILTIN: dict[str, Any] = {
    "enabled": True,
    "sensitivity": 3,
    "direction": "both",
    "training_runs": 14,
    "min_training_size": 5,
    "min_change_percent": 5,
    "min_change": 0,
    "severity": "fail",
    "volume": {},
    # A lag only matters when data is late, and by at least an hour.
    "freshness": {"direction": "spike", "min_change": 3600},
    "schema_changes": "fail",
    "column_metrics": ["null_percent"],
    # Null rates move by chance in small batches (a customer's first order
    # leaves its average gap null): a move under one point never alerts.
    "null_percent": {"min_change": 1},
}


@dataclass(frozen=True)
class TableConfig:
    """The effective anomaly config of one source or model."""

    where: str
    enabled: bool
    base: Thresholds
    volume: Thresholds | None
    freshness: Thresholds | None
    schema_changes: str | None  # fail | warn | None (off)
    column_metrics: tuple[str, ...]
    # Per column metric, per column: thresholds and the metrics watched.
    metric_thresholds: Mapping[str, Thresholds]
    columns: Mapping[str, tuple[Mapping[str, Thresholds], tuple[str, ...]]]

    def metrics_for(self, column: str) -> tuple[str, ...]:
        return self.columns[column][1] if column in self.columns else self.column_metrics

    def thresholds_for(self, column: str, metric: str) -> Thresholds:
        """Base < the table's settings for this metric < the column's own settings."""
        if column in self.columns:
            return self.columns[column][0][metric]
        return self.metric_thresholds[metric]


def _check_keys(settings: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise PipelineError(
            f"anomaly config of {where}: unknown key {unknown[0]!r} "
            f"(known: {', '.join(sorted(allowed))}); fix its dbt meta"
        )


def _thresholds(base: Thresholds, settings: Mapping[str, Any], where: str) -> Thresholds:
    picked = {k: v for k, v in settings.items() if k in _THRESHOLD_KEYS}
    try:
        converted: dict[str, Any] = {
            key: (
                str(value)
                if key in ("direction", "severity")
                else int(value)
                if key in ("training_runs", "min_training_size")
                else float(value)
            )
            for key, value in picked.items()
        }
    except (TypeError, ValueError) as exc:
        raise PipelineError(f"anomaly config of {where}: {exc}; fix its dbt meta") from None
    return replace(base, **converted).validate(where)


def _metrics(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    for item in items:
        if item not in COLUMN_METRICS:
            raise PipelineError(
                f"anomaly config of {where}: unknown column metric {item!r} "
                f"(known: {', '.join(COLUMN_METRICS)}); fix its dbt meta"
            )
    return tuple(items)


def _monitor(base: Thresholds, value: Any, where: str) -> Thresholds | None:
    if value is False or value == "off":
        return None
    if value in (None, True):
        return base
    if not isinstance(value, Mapping):
        raise PipelineError(f"anomaly config of {where}: expected a mapping or false; fix its dbt meta")
    _check_keys(value, _THRESHOLD_KEYS, where)
    return _thresholds(base, value, where)


def table_config(where: str, raw: Mapping[str, Any] | None) -> TableConfig:
    """Merge built-in defaults < `anomaly_defaults` < `anomaly` (+ column settings).

    `raw` is what artifacts.anomaly_meta() stored: {'defaults', 'own', 'columns'}.
    """
    raw = raw or {}
    merged = _merged(raw, where)
    base = _thresholds(Thresholds(), merged, where)
    schema_changes = _schema_changes(merged.get("schema_changes"), where)
    column_metrics = _metrics(merged.get("column_metrics"), where)
    metric_thresholds = _metric_thresholds(base, merged, where)
    columns = _columns(raw.get("columns") or {}, column_metrics, metric_thresholds, where)
    return TableConfig(
        where=where,
        enabled=bool(merged.get("enabled", True)),
        base=base,
        volume=_monitor(base, merged.get("volume"), f"{where} (volume)"),
        freshness=_monitor(base, merged.get("freshness"), f"{where} (freshness)"),
        schema_changes=schema_changes,
        column_metrics=column_metrics,
        metric_thresholds=metric_thresholds,
        columns=columns,
    )


def _merged(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """The built-in defaults, then `anomaly_defaults`, then `anomaly`, merged key by key."""
    defaults = raw.get("defaults") or {}
    own = raw.get("own")
    if own is False:
        own = {"enabled": False}
    for part, label in ((defaults, "anomaly_defaults"), (own or {}, "anomaly")):
        if not isinstance(part, Mapping):
            raise PipelineError(
                f"anomaly config of {where}: meta.{label} must be a mapping; fix its dbt meta"
            )
        _check_keys(part, _TABLE_KEYS, where)
    merged: dict[str, Any] = dict(BUILTIN)
    for part in (defaults, own or {}):
        for key, value in part.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = {**merged[key], **value}
            else:
                merged[key] = value
    return merged


def _schema_changes(severity: Any, where: str) -> str | None:
    if severity in (False, None, "off"):
        return None
    if severity in SEVERITIES:
        return str(severity)
    raise PipelineError(
        f"anomaly config of {where}: schema_changes must be fail, warn or off; fix its dbt meta"
    )


def _metric_thresholds(base: Thresholds, merged: Mapping[str, Any], where: str) -> dict[str, Thresholds]:
    """Per column metric: the base thresholds with the table's settings for that metric."""
    per_metric: dict[str, Mapping[str, Any]] = {}
    for metric in COLUMN_METRICS:
        settings = merged.get(metric) or {}
        if not isinstance(settings, Mapping):
            raise PipelineError(f"anomaly config of {where}: {metric} must be a mapping; fix its dbt meta")
        _check_keys(settings, _THRESHOLD_KEYS, f"{where} ({metric})")
        per_metric[metric] = settings
    return {m: _thresholds(base, per_metric[m], f"{where} ({m})") for m in COLUMN_METRICS}


def _columns(
    raw_columns: Mapping[str, Any],
    column_metrics: tuple[str, ...],
    metric_thresholds: Mapping[str, Thresholds],
    where: str,
) -> dict[str, tuple[Mapping[str, Thresholds], tuple[str, ...]]]:
    """Per column with its own settings: its thresholds per metric and the metrics watched."""
    columns: dict[str, tuple[Mapping[str, Thresholds], tuple[str, ...]]] = {}
    for column, settings in raw_columns.items():
        label = f"{where} column {column}"
        if settings is False:
            columns[column] = (metric_thresholds, ())
            continue
        if not isinstance(settings, Mapping):
            raise PipelineError(f"anomaly config of {label}: expected a mapping; fix its dbt meta")
        _check_keys(settings, _COLUMN_KEYS, label)
        metrics = column_metrics + tuple(
            m for m in _metrics(settings.get("metrics"), label) if m not in column_metrics
        )
        own_settings = {k: v for k, v in settings.items() if k != "metrics"}
        columns[column] = (
            {m: _thresholds(metric_thresholds[m], own_settings, label) for m in COLUMN_METRICS},
            metrics,
        )
    return columns
