"""The `reference_reload` pipeline's first step: raw's reference tables again from their landing files.

`tpch-elt load` replaces all of raw (and forgets the arrival batches); a
reload replaces only the reference tables (nation, region, part, supplier,
partsupp, customer) and keeps orders, line items and `raw._batches`, so
the build that follows is no full refresh of the incremental models. It
reads the landing files of the scale factor the initial load used
(`raw._batches`, batch 0), through `load`'s own pieces: the schema check
from the Parquet footer, the reject rules (rejected rows go to
`raw._quarantine`, replacing that table's earlier rejections), one
transaction under the writer lock. Each table's rows keep `_batch_id` 0
and get a new `_loaded_at`.
"""

from __future__ import annotations

from tpch_elt.errors import PipelineError
from tpch_elt.load.full_load import (
    BATCHES_TABLE,
    INITIAL_BATCH_ID,
    RAW_SCHEMA,
    LoadResult,
    check_landing_file,
    landing_files,
    replace_initial_table,
    utc_now,
)
from tpch_elt.load.rules import QUARANTINE_TABLE, ensure_quarantine_table
from tpch_elt.load.schema_check import describe_extra, read_parquet_sql
from tpch_elt.orchestration.pipelines import REFERENCE_TABLES
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES
from tpch_elt.warehouse.connection import connect, table_exists, transaction
from tpch_elt.warehouse.lock import warehouse_lock


def reload_reference(settings: Settings, tables: tuple[str, ...] = REFERENCE_TABLES) -> LoadResult:
    """Replace raw's `tables` (reference tables only) with their landing files, in one transaction."""
    unknown = [table for table in tables if table not in REFERENCE_TABLES]
    if unknown:
        raise PipelineError(
            f"{unknown[0]!r} is not a reference table ({', '.join(REFERENCE_TABLES)}): "
            "orders and line items arrive by `tpch-elt ingest`, a full reload is `tpch-elt load`"
        )
    specs = [spec for spec in TABLES if spec.name in tables]
    loaded_at = utc_now()
    stamp = f"cast('{loaded_at.isoformat(sep=' ')}' as timestamp)"
    row_counts: dict[str, int] = {}
    quarantined: dict[str, int] = {}
    with (
        warehouse_lock(settings.warehouse_path, "reload reference tables"),
        connect(settings.warehouse_path) as con,
    ):
        if not table_exists(con, RAW_SCHEMA, "_batches"):
            raise PipelineError(
                f"warehouse {settings.warehouse_path} has no initial load to reload from: run `tpch-elt load` first"
            )
        initial = con.execute(
            f"select scale_factor from {BATCHES_TABLE} where batch_id = ?", [INITIAL_BATCH_ID]
        ).fetchone()
        if initial is None or initial[0] is None:
            raise PipelineError(
                f"{BATCHES_TABLE} records no initial load: run `tpch-elt load` first, then reload"
            )
        files = landing_files(settings, float(initial[0]))
        schemas = {
            spec.name: check_landing_file(con, spec, files[spec.name], check_types=True) for spec in specs
        }
        warnings = [describe_extra(s, f"{RAW_SCHEMA}.{s.table}") for s in schemas.values() if s.extra]

        def failure(reason: str) -> str:
            return (
                f"reload of the reference tables failed ({reason}); raw is unchanged: "
                "fix or regenerate the landing files and reload again"
            )

        with transaction(con, failure):
            ensure_quarantine_table(con)
            for spec in specs:
                con.execute(
                    f"delete from {QUARANTINE_TABLE} where table_name = ? and batch_id = ?",
                    [spec.name, INITIAL_BATCH_ID],
                )
                source = f"(select * from {read_parquet_sql(files[spec.name])})"
                rows, checked = replace_initial_table(con, spec.name, source, stamp, schemas[spec.name].extra)
                quarantined.update(checked.quarantined)
                row_counts[spec.name] = rows
    return LoadResult(INITIAL_BATCH_ID, loaded_at, row_counts, quarantined, warnings)
