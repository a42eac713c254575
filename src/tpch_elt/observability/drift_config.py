"""Drift settings: the thresholds `observability/drift.py` judges each arrival batch by.

Configuration is dbt `meta` on the batch tables' source, beside the
anomaly settings (`observability/anomaly_config.py`): `anomaly_defaults:
{drift: {...}}` in dbt_project.yml, `anomaly: {drift: {...}}` on the
`tpch` source or its `orders` table, merged key by key. What each
threshold means: the module doc of drift.py and the README, "Drift of
arrival batches".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.observability.store import SCHEMA

SEASONALITIES = ("day_of_week", "day_of_month")


@dataclass(frozen=True)
class DriftSettings:
    baseline_batches: int = 10
    min_baseline: int = 3
    psi_threshold: float = 0.2  # > 0.2: a significant shift, the usual reading of PSI
    volume_change: float = 0.2  # at least 20 % more or fewer rows than expected
    quarantine_change: float = 0.01  # at least 1 point more of the delivery quarantined
    mean_change: float = 0.02  # a mean at least 2 % off the baseline batches' median mean
    mean_sigmas: float = 4.0  # and beyond 4 of its standard errors (or of the baseline means' spread)
    new_value_share: float = 0.001  # values never seen before in at least 0.1 % of rows
    new_value_rows: int = 3  # and at least 3 rows
    mad_multiplier: float = 5.0  # and beyond 5 scaled MADs of the baseline
    late_factor: float = 1.5  # landing later than expected by over half the usual gap
    late_min_seconds: float = 1800.0  # and by at least 30 minutes
    max_categories: int = 50  # a text column with more distinct values is not binned
    seasonality: str | None = None
    # The forest flags a batch as the most isolated of itself and the passing
    # batches it is fitted with: by chance 1 in (n + 1), so under 1 in 100
    # from 100 passing batches on.
    min_training: int = 100
    training_batches: int = 200
    forest_trees: int = 200
    forest_margin: float = 0.03  # and by at least this much (a margin against chance)


def drift_settings(config: Any, where: str) -> DriftSettings:
    """`meta.anomaly.drift` of a batch table, checked: one line naming the key otherwise."""
    if config in (None, {}):
        return DriftSettings()
    if not isinstance(config, dict):
        raise PipelineError(f"drift config of {where}: expected a mapping like {{seasonality: day_of_week}}")
    known = {f.name: f for f in fields(DriftSettings)}
    values: dict[str, Any] = {}
    for key, value in config.items():
        if key not in known:
            raise PipelineError(
                f"drift config of {where}: unknown key {str(key)[:40]!r}; use {', '.join(sorted(known))}"
            )
        if key == "seasonality":
            if value not in (None, *SEASONALITIES):
                raise PipelineError(
                    f"drift config of {where}: seasonality {str(value)[:40]!r} must be one of "
                    f"{', '.join(SEASONALITIES)} or null"
                )
        elif isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PipelineError(f"drift config of {where}: {key} {str(value)[:40]!r} must be a number >= 0")
        values[key] = value
    return DriftSettings(**values)


def configured_settings(con: duckdb.DuckDBPyConnection) -> DriftSettings:
    """The drift settings the latest recorded manifest gives raw.orders (`anomaly_defaults` < `anomaly`)."""
    rows = con.execute(
        f"""
        select m.anomaly_config from {SCHEMA}.manifest_nodes as m
        inner join {SCHEMA}.invocations as i using (invocation_id)
        where m.relation = 'raw.orders' order by i.started_at desc limit 1
        """
    ).fetchall()
    raw = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    merged: dict[str, Any] = {}
    for part in (raw.get("defaults") or {}, raw.get("own") or {}):
        if isinstance(part, dict) and isinstance(part.get("drift"), dict):
            merged.update(part["drift"])
    return drift_settings(merged, "source tpch.orders")
