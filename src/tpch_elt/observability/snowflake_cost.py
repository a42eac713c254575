"""Cost per model on Snowflake: credits from the query history, by each model's query tag.

The tag. On the snowflake targets every statement a dbt node runs carries a
JSON query tag (dbt_project/macros/query_tag.sql overrides dbt-snowflake's
`set_query_tag`):

    {"app": "tpch-elt", "invocation_id": "<dbt invocation id>",
     "unique_id": "model.tpch_elt.mart_orders", "run": "<the profile's query_tag>"}

The credits. `attribution_sql` groups SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY
by (invocation_id, unique_id) of that tag and *estimates* each model's
compute credits as

    sum(EXECUTION_TIME ms / 3,600,000 x the credits per hour of the statement's WAREHOUSE_SIZE)

(XSMALL 1, SMALL 2, MEDIUM 4 ... 6XLARGE 512: standard warehouses). It is
the time the model kept a warehouse of that size busy, not the bill: idle
time before auto-suspend, the 60-second minimum per resume and queries
sharing a warehouse concurrently are not apportioned, and cloud-services
credits are left out. Snowflake's own apportioning,
ACCOUNT_USAGE.QUERY_ATTRIBUTION_HISTORY.CREDITS_ATTRIBUTED_COMPUTE (Enterprise
edition, queries from about 100 ms up, hours of latency), can replace the
estimate by joining on QUERY_ID where it is available; this module does not
use it, so that the same SQL works on every edition. ACCOUNT_USAGE lags by up
to 45 minutes: record a build's costs some time after it ran.

What the emulator can check. tests/integration/test_snowflake_cost_emulated.py
runs the rendered SQL on the fakesnow emulator (Snowflake SQL transpiled to
DuckDB), which proves it parses and computes as intended. fakesnow has no
SNOWFLAKE.ACCOUNT_USAGE (and records no query history or tags: it treats
`alter session set query_tag` as a no-op, see tests/scripts/snowflake_emulator.py),
so the test creates a table of the same shape (the columns read here) and
points `relation` at it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tpch_elt.errors import PipelineError
from tpch_elt.observability.cost import SOURCE_SNOWFLAKE

QUERY_HISTORY = "SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY"
TAG_APP = "tpch-elt"
# Standard warehouse sizes, smallest first; credits per hour double per size.
SIZES = (
    "XSMALL",
    "SMALL",
    "MEDIUM",
    "LARGE",
    "XLARGE",
    "2XLARGE",
    "3XLARGE",
    "4XLARGE",
    "5XLARGE",
    "6XLARGE",
)
CREDITS_PER_HOUR = {size: 2**index for index, size in enumerate(SIZES)}
# How QUERY_HISTORY.WAREHOUSE_SIZE spells them ('X-Small', '2X-Large'), with
# '-' and spaces removed and upper-cased, plus the DDL synonyms.
SIZE_SPELLINGS = {
    **{size: size for size in SIZES},
    "XXLARGE": "2XLARGE",
    "X2LARGE": "2XLARGE",
    "XXXLARGE": "3XLARGE",
    "X3LARGE": "3XLARGE",
    "X4LARGE": "4XLARGE",
    "X5LARGE": "5XLARGE",
    "X6LARGE": "6XLARGE",
}
_RELATION = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*){0,2}$")
_INVOCATION = re.compile(r"^[0-9a-fA-F-]{1,64}$")
# The columns attribution_sql returns, in order.
COLUMNS = (
    "invocation_id",
    "unique_id",
    "warehouse_size",
    "statements",
    "seconds",
    "rows_written",
    "bytes_scanned",
    "bytes_written",
    "credits",
)


def query_tag(invocation_id: str, unique_id: str, run: str | None) -> str:
    """The tag a node's statements carry (what the dbt macro renders), for tests and docs."""
    return json.dumps({"app": TAG_APP, "invocation_id": invocation_id, "unique_id": unique_id, "run": run})


def _size_case() -> str:
    """A CASE from the normalized WAREHOUSE_SIZE to credits per hour (NULL: unknown size)."""
    size = "upper(replace(replace(warehouse_size, '-', ''), ' ', ''))"
    whens = " ".join(
        f"when '{spelling}' then {CREDITS_PER_HOUR[size_name]}"
        for spelling, size_name in SIZE_SPELLINGS.items()
    )
    return f"case {size} {whens} end"


def attribution_sql(
    *,
    since: datetime,
    invocation_id: str | None = None,
    relation: str = QUERY_HISTORY,
) -> str:
    """Per (invocation, model) statements, seconds, bytes and estimated credits since `since`.

    `relation`: the query history to read (a table of the same shape in tests).
    `invocation_id`: one dbt invocation only. Every value is checked, so the
    text is safe to run as is."""
    if not _RELATION.match(relation):
        raise PipelineError(f"not a table name: {relation!r}")
    if invocation_id is not None and not _INVOCATION.match(invocation_id):
        raise PipelineError(f"not a dbt invocation id: {invocation_id!r}")
    only = f"\n      and tag:invocation_id::varchar = '{invocation_id}'" if invocation_id else ""
    return f"""with tagged as (
    select
        try_parse_json(query_tag) as tag,
        warehouse_size,
        {_size_case()} as credits_per_hour,
        coalesce(execution_time, 0) as execution_ms,
        coalesce(bytes_scanned, 0) as bytes_scanned,
        coalesce(bytes_written, 0) as bytes_written,
        coalesce(rows_inserted, 0) + coalesce(rows_updated, 0) as rows_written
    from {relation}
    where start_time >= '{since.strftime("%Y-%m-%d %H:%M:%S")}'::timestamp_ltz
      and query_tag like '{{%'
)
select
    tag:invocation_id::varchar as invocation_id,
    tag:unique_id::varchar as unique_id,
    max_by(warehouse_size, credits_per_hour) as warehouse_size,
    count(*) as statements,
    sum(execution_ms) / 1000.0 as seconds,
    sum(rows_written) as rows_written,
    sum(bytes_scanned) as bytes_scanned,
    sum(bytes_written) as bytes_written,
    sum(execution_ms / 3600000.0 * credits_per_hour) as credits
from tagged
where tag:app::varchar = '{TAG_APP}'
  and tag:unique_id::varchar like 'model.%'{only}
group by 1, 2
order by credits desc, unique_id"""


@dataclass(frozen=True)
class SnowflakeCost:
    invocation_id: str
    unique_id: str
    warehouse_size: str | None
    statements: int
    seconds: float
    rows_written: int
    bytes_scanned: int
    bytes_written: int
    credits: float


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _float(value: Any) -> float:
    return float(value) if value is not None else 0.0


def parse_rows(rows: Sequence[Sequence[Any]]) -> list[SnowflakeCost]:
    """attribution_sql's rows (any DB-API cursor's, Decimals or strings alike) as costs."""
    return [
        SnowflakeCost(
            invocation_id=str(row[0]),
            unique_id=str(row[1]),
            warehouse_size=None if row[2] is None else str(row[2]),
            statements=_int(row[3]),
            seconds=_float(row[4]),
            rows_written=_int(row[5]),
            bytes_scanned=_int(row[6]),
            bytes_written=_int(row[7]),
            credits=_float(row[8]),
        )
        for row in rows
    ]


def cost_rows(costs: Sequence[SnowflakeCost], recorded_at: datetime) -> list[tuple[Any, ...]]:
    """observability.model_costs rows (source snowflake_query_history) for `costs`."""
    return [
        (
            c.invocation_id,
            c.unique_id,
            c.unique_id.rsplit(".", 1)[-1],
            SOURCE_SNOWFLAKE,
            c.statements,
            c.seconds,
            None,
            None,
            c.rows_written,
            None,
            c.bytes_scanned,
            c.bytes_written,
            None,
            c.credits,
            c.warehouse_size,
            recorded_at,
        )
        for c in costs
    ]


def fetch_costs(
    cursor: Any, *, since: datetime, invocation_id: str | None = None, relation: str = QUERY_HISTORY
) -> list[SnowflakeCost]:
    """Run attribution_sql on a Snowflake DB-API cursor (snowflake.connector's) and parse its rows.

    Record them with `store.insert_rows(con, "model_costs", cost_rows(costs, utc_now()))`."""
    cursor.execute(attribution_sql(since=since, invocation_id=invocation_id, relation=relation))
    return parse_rows(cursor.fetchall())
