"""The quarantine sequence, once for the full load and for each batch: check, cascade, quarantine, write, clean up.

Each table's rows are checked against its rules (tpch_elt.load.rules); the
rejected ones move to `raw._quarantine` with their reason (a rejected line
item takes its whole order of this delivery with it); the caller writes
the accepted ones, inside the same transaction; the scratch relations go.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import duckdb

from tpch_elt.load.rules import cascade_rejected_lines, check_rows, drop_checked, quarantine_rejected

# Rows of the checked view the caller writes.
ACCEPTED = "_reject_reason is null"


@dataclass
class Screened:
    """One table's delivery after its rejected rows went to the quarantine."""

    # The checked view: write its rows WHERE `ACCEPTED`, without `_reject_reason`.
    view: str
    # Rows quarantined, by "table: reason".
    quarantined: dict[str, int] = field(default_factory=dict)
    # Orders of this delivery already written that a rejected line took with it.
    orders_withdrawn: int = 0


@contextmanager
def screened(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: str,
    *,
    batch_id: int,
    stamp_sql: str,
    redeliveries: bool,
) -> Iterator[Screened]:
    """Check `source`'s rows for `table`, quarantine the rejected ones, yield the view to write from.

    Call it inside the load's transaction, orders before line items (a
    line's rules read the orders accepted in this delivery). `redeliveries`:
    a batch may repeat keys raw already holds (rejected as re-deliveries).
    The scratch relations are dropped when the block ends without error;
    on an error the caller's transaction rolls everything back.
    """
    view = check_rows(con, table, source, redeliveries=redeliveries)
    result = Screened(view)
    if table == "lineitem":
        cascaded = cascade_rejected_lines(con, batch_id, stamp_sql)
        result.quarantined.update(cascaded)
        result.orders_withdrawn = sum(cascaded.values())
    result.quarantined.update(quarantine_rejected(con, table, batch_id, stamp_sql))
    yield result
    drop_checked(con, table)
