"""How far the last build got: the batches and orders dbt has processed from raw.

`staging.stg_fct_orders` is the first model that reads each batch; what it
holds is what the build processed, whatever it published. The build plan,
the publication's batch watermark and `tpch-elt status` read it here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from tpch_elt.warehouse.connection import table_exists

PROCESSED_SCHEMA, PROCESSED_TABLE = "staging", "stg_fct_orders"


@dataclass(frozen=True)
class Processed:
    """The orders the last build processed."""

    # `_loaded_at` of the initial load (batch 0) the build read: a reload of raw changes it.
    initial_loaded_at: datetime | None
    max_order_key: int | None
    max_batch: int | None


def processed(con: duckdb.DuckDBPyConnection) -> Processed | None:
    """What the builds so far processed; None when nothing was built."""
    if not table_exists(con, PROCESSED_SCHEMA, PROCESSED_TABLE):
        return None
    initial, order_key, batch = con.execute(
        "select max(case when _batch_id = 0 then _loaded_at end), max(order_key), max(_batch_id) "
        f"from {PROCESSED_SCHEMA}.{PROCESSED_TABLE}"
    ).fetchall()[0]
    return Processed(
        initial,
        None if order_key is None else int(order_key),
        None if batch is None else int(batch),
    )
