"""Run the real `tpch-elt` CLI, but freeze it at a named point so a test can SIGKILL it there.

    python tests/scripts/crash_at.py MARKER POINT -- [tpch-elt arguments]

POINT is where the process stops, writes MARKER (its pid and the point) and
sleeps until killed:

    rules:<table>           `load`/`ingest` is about to quarantine <table>'s
                            rejected rows: inside the transaction, after the
                            tables before it were written
    dbt:<event>:<node>      dbt fired <event> (NodeStart, NodeFinished) for
                            model <node> during `build`
    swap:record             a catalog swap (publication, promotion, rollback)
                            wrote its new catalog and record, and has not
                            renamed the catalog into place

Nothing else changes: the CLI, DuckDB and dbt run as they do for a user.
Only the tests use this (tests/integration/test_concurrency.py).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any


def _freeze(marker: Path, point: str) -> None:
    marker.write_text(f"pid {os.getpid()} at {point}\n")
    while True:
        time.sleep(60)


def _install(marker: Path, point: str) -> None:
    kind, _, where = point.partition(":")
    if kind == "rules":
        # The quarantine sequence both `load` and `ingest` run for each table.
        from tpch_elt.load import quarantine

        original = quarantine.quarantine_rejected

        def paused(con: Any, table: str, *args: Any, **kwargs: Any) -> Any:
            if table == where:
                _freeze(marker, point)
            return original(con, table, *args, **kwargs)

        quarantine.quarantine_rejected = paused
    elif kind == "dbt":
        import dbt.cli.main

        event_name, _, node_name = where.partition(":")

        def on_event(event: Any) -> None:
            if event.info.name == event_name and event.data.node_info.node_name == node_name:
                _freeze(marker, point)

        runner = dbt.cli.main.dbtRunner
        original_init = runner.__init__

        def init(self: Any, manifest: Any = None, callbacks: Any = None) -> None:
            original_init(self, manifest=manifest, callbacks=[*(callbacks or []), on_event])

        runner.__init__ = init  # type: ignore[method-assign]
    elif kind == "swap":
        from tpch_elt.publish import segments

        original_write = segments.write_record

        def written(store: Path, record: Any) -> Path:
            path = original_write(store, record)
            _freeze(marker, point)
            return path

        segments.write_record = written
    else:
        raise SystemExit(f"unknown crash point {point!r}")


def main() -> None:
    marker, point, separator, *args = sys.argv[1:]
    if separator != "--":
        raise SystemExit(__doc__)
    _install(Path(marker), point)
    from tpch_elt.cli import main as cli_main

    sys.argv = ["tpch-elt", *args]
    cli_main()


if __name__ == "__main__":
    main()
