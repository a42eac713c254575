"""The drift checks' SQL, rendered per dialect (observability/drift.py runs it).

Every statement runs on DuckDB (`duckdb`) and on Snowflake's RAW schema
(`snowflake`); only the quantiles differ: DuckDB's `quantile_cont` with a
list (one sort per column), Snowflake's `percentile_cont … within group`.
Column names come from the TPC-H spec (tpch.py), never from data; batch ids
are integers. tests/unit/observability/test_drift.py runs the Snowflake
rendering on the emulator.
"""

from __future__ import annotations

from collections.abc import Sequence

from tpch_elt.load.full_load import BATCHES_TABLE
from tpch_elt.load.rules import QUARANTINE_TABLE
from tpch_elt.tpch import DECIMAL, INTEGER, TEXT
from tpch_elt.tpch import table as table_spec
from tpch_elt.warehouse.sql import quote_literal

QUANTILES = tuple(round(q / 10, 1) for q in range(1, 10))
NULL_BIN = "∅"
DIALECTS = ("duckdb", "snowflake")


def profiled_columns(table: str) -> tuple[list[str], list[str]]:
    """(numeric, text) columns of a batch table whose distribution is watched: keys and dates are not."""
    spec = table_spec(table)
    numeric = [name for name, kind in spec.schema if kind in (DECIMAL, INTEGER) and name not in spec.key]
    text = [name for name, kind in spec.schema if kind == TEXT]
    return numeric, text


def _batches_in(ids: Sequence[int]) -> str:
    return ", ".join(str(int(i)) for i in ids)


def quantiles_sql(relation: str, columns: Sequence[str], baseline: Sequence[int], dialect: str) -> str:
    """The baseline's deciles of each numeric column (one row)."""
    if dialect == "duckdb":
        values = [f"quantile_cont({c}, [{', '.join(map(str, QUANTILES))}])" for c in columns]
    else:
        values = [f"percentile_cont({q}) within group (order by {c})" for c in columns for q in QUANTILES]
    return f"select {', '.join(values)} from {relation} where _batch_id in ({_batches_in(baseline)})"


def distinct_sql(relation: str, columns: Sequence[str], baseline: Sequence[int]) -> str:
    """How many values each text column takes in the baseline (HyperLogLog, both dialects)."""
    counts = ", ".join(f"approx_count_distinct({c})" for c in columns)
    return f"select {counts} from {relation} where _batch_id in ({_batches_in(baseline)})"


def bin_expression(column: str, edges: Sequence[float]) -> str:
    """A number's bin as text: '0' below or at the first edge, …, NULL its own bin."""
    whens = " ".join(f"when {column} <= {edge!r} then '{i}'" for i, edge in enumerate(edges))
    return f"case when {column} is null then '{NULL_BIN}' {whens} else '{len(edges)}' end"


def histogram_sql(
    relation: str,
    batch: int,
    baseline: Sequence[int],
    numeric_edges: dict[str, list[float]],
    categories: Sequence[str],
) -> str:
    """Rows per (column, side, bin): side 1 the batch, 0 the baseline."""
    scope = f"_batch_id in ({_batches_in([*baseline, batch])})"
    side = f"case when _batch_id = {int(batch)} then 1 else 0 end"
    parts = [
        f"select '{c}' as column_name, {side} as side, {bin_expression(c, edges)} as bin, count(*) as n "
        f"from {relation} where {scope} group by 1, 2, 3"
        for c, edges in numeric_edges.items()
    ] + [
        f"select '{c}' as column_name, {side} as side, coalesce(cast({c} as varchar), '{NULL_BIN}') as bin, "
        f"count(*) as n from {relation} where {scope} group by 1, 2, 3"
        for c in categories
    ]
    return "\nunion all\n".join(parts)


def means_sql(relation: str, batches: Sequence[int], columns: Sequence[str]) -> str:
    """Each numeric column's mean, standard error of the mean and count in each of `batches`."""
    means = ", ".join(
        f"avg(cast({c} as double)), stddev_samp(cast({c} as double)) / sqrt(count({c}))" for c in columns
    )
    return f"select _batch_id, {means} from {relation} where _batch_id in ({_batches_in(batches)}) group by 1"


def deliveries_sql(relation: str, table: str, since: int) -> str:
    """Rows accepted and quarantined per batch of `table` from batch `since` on."""
    return f"""
        select b.batch_id, b.loaded_at,
               coalesce(a.n, 0) as accepted, coalesce(q.n, 0) as quarantined
        from {BATCHES_TABLE} as b
        left join (
            select _batch_id, count(*) as n from {relation} where _batch_id >= {int(since)} group by 1
        ) as a on a._batch_id = b.batch_id
        left join (
            select batch_id, count(*) as n from {QUARANTINE_TABLE}
            where table_name = {quote_literal(table)} and batch_id >= {int(since)} group by 1
        ) as q on q.batch_id = b.batch_id
        where b.batch_id >= {int(since)} and b.batch_id > 0
        order by b.batch_id
    """
