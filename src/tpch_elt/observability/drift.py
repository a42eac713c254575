"""Drift: each arrival batch against a rolling baseline of the batches before it.

`observe` evaluates every batch in `raw._batches` it has not evaluated yet,
oldest first, with two detectors:

statistical (SQL on the warehouse, per table and column)
    volume       rows delivered (accepted + quarantined) against the median of the
                 baseline's batches; with `seasonality` (day_of_week, day_of_month)
                 the baseline's batches that landed on the same weekday or day
    quarantine   the share of delivered rows quarantined, against the baseline's
                 (duplicated keys, nulls in guarded columns, impossible values)
    psi          Population Stability Index of each column: numbers in the
                 baseline's decile bins, categories as themselves, NULL a bin
                 of its own; a category the baseline never had is named
    late         how much later than expected the batch landed: the latest
                 baseline batch's landing plus the usual gap per batch since
learned (the batch's profile as one vector, per table: volume change, quarantine
    share, the largest PSI and the largest mean shift of its columns; and the
    gap since the previous batch. An Isolation Forest, forest.py, trained on
    the profiles of earlier batches that passed and this one, flags this
    batch when it is the most isolated of them all. Few features, because a forest
    splits on one feature at a time: with 25 (one per column) a change in one
    was rarely split on and went unseen.)

The baseline is the `baseline_batches` latest earlier batches that passed
(a drifted batch does not become the norm). Too short a baseline gives no
verdict ('learning'), as the anomaly checks do. Thresholds and what the
harness (`make bench BENCH=detection`) measured with them: bench/README.md.

SQL (drift_sql.py). Every query is rendered for a dialect (`duckdb`,
`snowflake`): the same statements run on Snowflake's RAW schema. Column
names come from the TPC-H spec (tpch.py), never from data; category values
from data reach the report and alerts only through their escaping.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from statistics import median
from typing import Any

import duckdb

from tpch_elt.extract.batches import BATCH_TABLES
from tpch_elt.load.full_load import BATCHES_TABLE
from tpch_elt.load.rules import QUARANTINE_TABLE
from tpch_elt.observability.drift_config import DriftSettings, configured_settings
from tpch_elt.observability.drift_sql import (
    NULL_BIN,
    deliveries_sql,
    distinct_sql,
    histogram_sql,
    means_sql,
    profiled_columns,
    quantiles_sql,
)
from tpch_elt.observability.store import SCHEMA, ensure_schema, insert_rows
from tpch_elt.warehouse.connection import table_exists

EPSILON = 1e-4  # the share a bin empty on one side is given (PSI takes a logarithm)


@dataclass(frozen=True)
class Finding:
    """One check of one batch: `status` pass | fail | learning."""

    batch_id: int
    relation: str
    column: str  # '' for a table-level metric
    detector: str  # statistical | learned
    metric: str  # volume | quarantine | psi | late | isolation
    value: float | None
    threshold: float | None
    status: str
    detail: str

    @property
    def key(self) -> str:
        return f"drift:{self.relation}:{self.column}:{self.metric}"

    def describe(self) -> str:
        where = f"{self.relation}.{self.column}" if self.column else self.relation
        return f"batch {self.batch_id} {where} {self.metric}: {self.detail}"


@dataclass
class BatchProfile:
    batch_id: int
    landed_at: datetime
    features: dict[str, float] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    # The verdict of a profile read back from the history (its findings are not).
    recorded_status: str | None = None

    @property
    def status(self) -> str:
        if self.recorded_status is not None:
            return self.recorded_status
        return "fail" if any(f.status == "fail" for f in self.findings) else "pass"


# --- statistics -----------------------------------------------------------------------------


def psi(expected: dict[str, int], actual: dict[str, int]) -> float:
    """Population Stability Index: sum over bins of (a - e) ln(a / e), shares; an empty bin counts EPSILON."""
    e_total, a_total = sum(expected.values()), sum(actual.values())
    if not e_total or not a_total:
        return 0.0
    value = 0.0
    for key in set(expected) | set(actual):
        e = max(expected.get(key, 0) / e_total, EPSILON)
        a = max(actual.get(key, 0) / a_total, EPSILON)
        value += (a - e) * math.log(a / e)
    return value


def mad(values: Sequence[float]) -> float:
    """Median absolute deviation, scaled to a normal's standard deviation."""
    if not values:
        return 0.0
    centre = median(values)
    return 1.4826 * median(abs(v - centre) for v in values)


def same_season(landed: datetime, at: datetime, seasonality: str | None) -> bool:
    """Whether a batch that landed at `landed` is comparable with one landing at `at`."""
    if seasonality == "day_of_week":
        return landed.weekday() == at.weekday()
    if seasonality == "day_of_month":
        return landed.day == at.day
    return True


# --- one batch ------------------------------------------------------------------------------


@dataclass
class _Table:
    table: str
    relation: str
    delivered: dict[int, int]
    quarantined: dict[int, int]


class BatchJudge:
    """Evaluates batches one at a time against those evaluated before (see the module doc)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: DriftSettings | None = None) -> None:
        self.con = con
        self.settings = settings or DriftSettings()
        self.dialect = "duckdb"

    def evaluate(
        self, batch: int, landed: dict[int, datetime], history: Sequence[BatchProfile]
    ) -> BatchProfile:
        """Every statistical check of `batch`, then the learned one over the profile they make."""
        profile = BatchProfile(batch, landed[batch])
        passed = [p.batch_id for p in history if p.status == "pass" and p.batch_id < batch]
        base = passed[-self.settings.baseline_batches :]
        for table in BATCH_TABLES:
            relation = f"raw.{table}"
            rows = self.con.execute(deliveries_sql(relation, table, 1)).fetchall()
            counts = _Table(
                table,
                relation,
                {int(b): int(a) + int(q) for b, _, a, q in rows},
                {int(b): int(q) for b, _, _, q in rows},
            )
            self._volume(profile, counts, passed, landed)
            self._quarantine(profile, counts, base)
            if len(base) >= self.settings.min_baseline:
                self._distributions(profile, relation, table, base)
            else:
                self._learning(profile, relation, "psi", len(base))
        self._late(profile, base, landed)
        profile.findings.append(self._learned(profile, history))
        return profile

    def _learning(self, profile: BatchProfile, relation: str, metric: str, have: int) -> None:
        need = self.settings.min_baseline
        profile.findings.append(
            Finding(
                profile.batch_id,
                relation,
                "",
                "statistical",
                metric,
                None,
                None,
                "learning",
                f"{have} comparable earlier batch(es) that passed, {need} needed",
            )
        )

    def _finding(
        self,
        profile: BatchProfile,
        relation: str,
        column: str,
        metric: str,
        value: float,
        limit: float,
        failed: bool,
        detail: str,
    ) -> None:
        profile.findings.append(
            Finding(
                profile.batch_id,
                relation,
                column,
                "statistical",
                metric,
                value,
                limit,
                "fail" if failed else "pass",
                detail,
            )
        )

    def _volume(
        self, profile: BatchProfile, t: _Table, passed: Sequence[int], landed: dict[int, datetime]
    ) -> None:
        """Rows delivered against the latest passing batches of the same season."""
        s = self.settings
        delivered = t.delivered.get(profile.batch_id, 0)
        season = [
            b
            for b in passed
            if t.delivered.get(b) and same_season(landed[b], profile.landed_at, s.seasonality)
        ][-s.baseline_batches :]
        if len(season) < s.min_baseline:
            self._learning(profile, t.relation, "volume", len(season))
            return
        expected = median(t.delivered[b] for b in season)
        change = delivered / expected - 1
        limit = max(s.volume_change, s.mad_multiplier * mad([t.delivered[b] for b in season]) / expected)
        profile.features[f"{t.table}:volume"] = change
        self._finding(
            profile,
            t.relation,
            "",
            "volume",
            change,
            limit,
            abs(change) > limit,
            f"{delivered:,} rows delivered, {expected:,.0f} expected ({change:+.0%}; limit ±{limit:.0%})",
        )

    def _quarantine(self, profile: BatchProfile, t: _Table, base: Sequence[int]) -> None:
        """The share of the delivery quarantined against the baseline's."""
        s = self.settings
        delivered = t.delivered.get(profile.batch_id, 0)
        quarantined = t.quarantined.get(profile.batch_id, 0)
        share = quarantined / delivered if delivered else 0.0
        shares = [t.quarantined.get(b, 0) / t.delivered[b] for b in base if t.delivered.get(b)]
        if len(shares) < s.min_baseline:
            self._learning(profile, t.relation, "quarantine", len(shares))
            return
        usual = median(shares)
        limit = usual + max(s.quarantine_change, s.mad_multiplier * mad(shares))
        profile.features[f"{t.table}:quarantine"] = share
        failed = share > limit
        self._finding(
            profile,
            t.relation,
            "",
            "quarantine",
            share,
            limit,
            failed,
            f"{quarantined:,} of {delivered:,} rows quarantined ({share:.1%}; usually {usual:.1%}, "
            f"limit {limit:.1%})" + (self._reasons(t.table, profile.batch_id) if failed else ""),
        )

    def _reasons(self, table: str, batch: int) -> str:
        rows = self.con.execute(
            f"select reason, count(*) from {QUARANTINE_TABLE} where batch_id = ? and table_name = ? "
            "group by 1 order by 2 desc limit 3",
            [batch, table],
        ).fetchall()
        return ": " + "; ".join(f"{reason} ({n:,})" for reason, n in rows) if rows else ""

    def _distributions(self, profile: BatchProfile, relation: str, table: str, base: Sequence[int]) -> None:
        """PSI and new values of every watched column; the mean of every numeric one."""
        numeric, text = profiled_columns(table)
        deciles = self.con.execute(quantiles_sql(relation, numeric, base, self.dialect)).fetchall()[0]
        edges = {
            column: sorted({float(v) for v in (values or []) if v is not None})
            for column, values in zip(numeric, deciles, strict=True)
        }
        distinct = self.con.execute(distinct_sql(relation, text, base)).fetchall()[0]
        categories = [
            c
            for c, n in zip(text, distinct, strict=True)
            if n is not None and n <= self.settings.max_categories
        ]
        counts: dict[str, tuple[dict[str, int], dict[str, int]]] = {
            c: ({}, {}) for c in [*numeric, *categories]
        }
        for column, side, bin_, n in self.con.execute(
            histogram_sql(relation, profile.batch_id, base, edges, categories)
        ).fetchall():
            counts[column][int(side)][str(bin_)] = int(n)
        for column, (old_bins, new_bins) in counts.items():
            self._psi(profile, relation, table, column, old_bins, new_bins, column in categories)
        stats = {
            int(row[0]): row[1:]
            for row in self.con.execute(means_sql(relation, [*base, profile.batch_id], numeric)).fetchall()
        }
        own = stats.get(profile.batch_id)
        for i, column in enumerate(numeric):
            usual = [stats[b][2 * i] for b in base if b in stats and stats[b][2 * i] is not None]
            if own is not None and own[2 * i] is not None:
                self._mean(profile, relation, table, column, (own[2 * i], own[2 * i + 1] or 0.0), usual)

    def _psi(
        self,
        profile: BatchProfile,
        relation: str,
        table: str,
        column: str,
        old_bins: dict[str, int],
        new_bins: dict[str, int],
        categorical: bool,
    ) -> None:
        s = self.settings
        value = psi(old_bins, new_bins)
        key = f"{table}:psi_max"
        profile.features[key] = max(profile.features.get(key, 0.0), value)
        rows = sum(new_bins.values()) or 1
        nulls = new_bins.get(NULL_BIN, 0) / rows
        usual_nulls = old_bins.get(NULL_BIN, 0) / (sum(old_bins.values()) or 1)
        notes = [f"PSI {value:.3f} (limit {s.psi_threshold})"]
        if nulls or usual_nulls:
            notes.append(f"{nulls:.1%} NULL (baseline {usual_nulls:.1%})")
        self._finding(
            profile,
            relation,
            column,
            "psi",
            value,
            s.psi_threshold,
            value > s.psi_threshold,
            "; ".join(notes),
        )
        if not categorical:
            return
        unseen = sorted(set(new_bins) - set(old_bins) - {NULL_BIN})
        unseen_rows = sum(new_bins[v] for v in unseen)
        share = unseen_rows / rows
        failed = unseen_rows >= s.new_value_rows and share >= s.new_value_share
        shown = ", ".join(repr(v[:40]) for v in unseen[:5]) + (" …" if len(unseen) > 5 else "")
        self._finding(
            profile,
            relation,
            column,
            "new_values",
            share,
            s.new_value_share,
            failed,
            f"{len(unseen)} value(s) never seen in the baseline in {share:.2%} of rows"
            + (f": {shown}" if unseen else ""),
        )

    def _mean(
        self,
        profile: BatchProfile,
        relation: str,
        table: str,
        column: str,
        estimate: tuple[float, float],
        usual: Sequence[float],
    ) -> None:
        """The batch's mean against the median of the baseline batches' means.

        Beyond `mean_sigmas` of the larger of two spreads: the baseline's
        means' (scaled MAD, unreliable from a few batches) and the batch
        mean's own standard error (sd / sqrt(n), which a short baseline
        can underestimate by chance).
        """
        s = self.settings
        mean, standard_error = estimate
        if len(usual) < s.min_baseline:
            return
        centre = median(usual)
        scale = abs(centre) if centre else 1.0
        change = (mean - centre) / scale
        limit = max(s.mean_change, s.mean_sigmas * max(mad(usual), standard_error) / scale)
        key = f"{table}:mean_shift_max"
        profile.features[key] = max(profile.features.get(key, 0.0), abs(change))
        self._finding(
            profile,
            relation,
            column,
            "mean",
            change,
            limit,
            abs(change) > limit,
            f"mean {mean:,.4g} against {centre:,.4g} ({change:+.1%}; limit ±{limit:.1%})",
        )

    def _late(self, profile: BatchProfile, base: Sequence[int], landed: dict[int, datetime]) -> None:
        """How much later than expected the batch landed.

        Expected: the latest baseline batch's landing plus the usual gap
        (the median, per batch, between consecutive baseline batches) per
        batch since.
        Measured from that batch, not from the previous one: a batch after
        a late one would otherwise look on time.
        """
        s = self.settings
        # Per batch between consecutive baseline batches (a failed batch between two leaves a gap of two).
        ordered = sorted(base)
        gaps = [(landed[b] - landed[a]).total_seconds() / (b - a) for a, b in itertools.pairwise(ordered)]
        reference = max(base, default=None)
        if len(gaps) < s.min_baseline or reference is None:
            self._learning(profile, BATCHES_TABLE, "late", len(gaps))
            return
        usual = median(gaps)
        expected = landed[reference].timestamp() + (profile.batch_id - reference) * usual
        lateness = profile.landed_at.timestamp() - expected
        limit = max(usual * (s.late_factor - 1), s.late_min_seconds)
        profile.features["batch:lateness"] = lateness / usual if usual > 0 else 0.0
        self._finding(
            profile,
            BATCHES_TABLE,
            "",
            "late",
            lateness,
            limit,
            lateness > limit,
            f"landed {lateness / 3600:+.1f} h from when it was expected (every {usual / 3600:.1f} h after "
            f"batch {reference}; limit {limit / 3600:+.1f} h)",
        )

    def _learned(self, profile: BatchProfile, history: Sequence[BatchProfile]) -> Finding:
        """The Isolation Forest's verdict on the whole profile (trained on passing batches only)."""
        s = self.settings
        names = sorted(profile.features)
        training = [
            p
            for p in history
            if p.status == "pass" and p.batch_id < profile.batch_id and sorted(p.features) == names
        ][-s.training_batches :]

        def finding(status: str, value: float | None, limit: float | None, detail: str) -> Finding:
            return Finding(
                profile.batch_id, "batch", "", "learned", "isolation", value, limit, status, detail
            )

        if len(training) < s.min_training or not names:
            return finding(
                "learning", None, None, f"{len(training)} passing batch profile(s), {s.min_training} needed"
            )
        # NumPy only here: every `tpch-elt` command imports this module, few fit a forest.
        import numpy as np

        from tpch_elt.observability.forest import IsolationForest

        vector = np.array([profile.features[n] for n in names])
        matrix = np.array([[p.features[n] for n in names] for p in training])
        # The batch is fitted with the passing ones and must be the most isolated of them all:
        # a forest fitted without it puts a value beyond the training's range in the
        # extreme rows' leaf, scored like them. Were the batch like the others, it would
        # be the most isolated of n + 1 with chance 1 / (n + 1).
        rows = np.vstack([matrix, vector])
        scores = IsolationForest(trees=s.forest_trees, seed=profile.batch_id).fit(rows).score(rows)
        score, limit = float(scores[-1]), float(scores[:-1].max()) + s.forest_margin
        detail = (
            f"isolation score {score:.3f} (limit {limit:.3f}: the most isolated of the "
            f"{len(training)} passing batches it was fitted with)"
        )
        if score > limit:
            spread = np.maximum([mad(list(col)) for col in matrix.T], 1e-9)
            z = np.abs((vector - np.median(matrix, axis=0)) / spread)
            detail += "; furthest from usual: " + ", ".join(names[i] for i in np.argsort(-z)[:3])
        return finding("fail" if score > limit else "pass", score, limit, detail)


# --- history --------------------------------------------------------------------------------


def _history(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[BatchProfile]:
    rows = con.execute(
        f"select batch_id, landed_at, status, features from {SCHEMA}.batch_profiles "
        "where landed_at >= coalesce(?, landed_at) order by batch_id",
        [since],
    ).fetchall()
    return [
        BatchProfile(int(batch), landed, json.loads(features), recorded_status=status)
        for batch, landed, status, features in rows
    ]


def pending_batches(con: duckdb.DuckDBPyConnection) -> tuple[dict[int, datetime], list[int]]:
    """Every arrival batch of the current load with its landing time, and those not evaluated yet."""
    if not table_exists(con, "raw", "_batches"):
        return {}, []
    ensure_schema(con)
    rows = con.execute(
        f"""
        select b.batch_id, b.loaded_at, p.batch_id is null as pending
        from {BATCHES_TABLE} as b
        left join {SCHEMA}.batch_profiles as p on p.batch_id = b.batch_id and p.landed_at = b.loaded_at
        where b.batch_id > 0
          and b.loaded_at >= (select coalesce(max(loaded_at), '1970-01-01') from {BATCHES_TABLE} where batch_id = 0)
        order by b.batch_id
        """
    ).fetchall()
    return {int(b): at for b, at, _ in rows}, [int(b) for b, _, pending in rows if pending]


def evaluate_pending(
    con: duckdb.DuckDBPyConnection, now: datetime, settings: DriftSettings | None = None
) -> list[BatchProfile]:
    """Evaluate and record every batch not evaluated yet, oldest first (see the module doc)."""
    landed, pending = pending_batches(con)
    if not pending:
        return []
    judge = BatchJudge(con, settings or configured_settings(con))
    first = min(landed.values())
    history = _history(con, first)
    evaluated = []
    for batch in pending:
        profile = judge.evaluate(batch, landed, history)
        record(con, profile, now)
        history.append(profile)
        evaluated.append(profile)
    return evaluated


def record(con: duckdb.DuckDBPyConnection, profile: BatchProfile, now: datetime) -> None:
    con.execute(
        f"insert or replace into {SCHEMA}.batch_profiles values (?, ?, ?, ?, ?)",
        [profile.batch_id, profile.landed_at, profile.status, json.dumps(profile.features), now],
    )
    rows: list[tuple[Any, ...]] = [
        (
            f.batch_id,
            profile.landed_at,
            f.relation,
            f.column,
            f.detector,
            f.metric,
            f.value,
            f.threshold,
            f.status,
            f.detail,
            now,
        )
        for f in profile.findings
    ]
    insert_rows(con, "drift_results", rows)
