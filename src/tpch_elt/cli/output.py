"""What the CLI prints: one-line errors, progress bars, summary tables; every string from data made printable."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tpch_elt.errors import PipelineError
from tpch_elt.errors import printable as printable  # re-exported: output.printable
from tpch_elt.load.ingest import IngestResult
from tpch_elt.publish.publication import published_rows
from tpch_elt.publish.segments import published_path
from tpch_elt.settings import Settings
from tpch_elt.transform.build import BuildSummary
from tpch_elt.warehouse.connection import connect, table_exists

console = Console()


err_console = Console(stderr=True)


T = TypeVar("T")


def safe(value: object, *, lines: bool = False) -> str:
    """A data-derived string (path, column name, message, cell) for Rich markup: shown, never run."""
    return escape(printable(value, lines=lines))


def progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def guard(step: Callable[[], T]) -> T:
    """Run a step; turn a PipelineError into one red line and exit code 1."""
    try:
        return step()
    except PipelineError as exc:
        err_console.print(f"[bold red]error:[/] {safe(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: nothing half-done was committed")
        raise typer.Exit(code=130) from None


def print_checks(warnings: list[str], quarantined: dict[str, int]) -> None:
    """Additive schema changes let through (stderr) and rows quarantined, per reason."""
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    for reason, count in quarantined.items():
        console.print(
            f"  [yellow]quarantined[/] {count:,} row(s): {safe(reason)} (raw._quarantine)", highlight=False
        )


def summary_table(summary: BuildSummary) -> Table:
    table = Table(title="dbt build summary", title_justify="left")
    table.add_column("resource")
    for status in ("pass", "warn", "fail", "error", "skipped"):
        table.add_column(status, justify="right")
    table.add_column("seconds", justify="right")

    def cell(n: int, style: str) -> str:
        return f"[{style}]{n}[/]" if n else "0"

    rows: tuple[tuple[str, str, dict[str, str]], ...] = (
        ("models", "model", {"pass": "success"}),
        ("tests", "test", {}),
        ("unit tests", "unit_test", {}),
        ("seeds", "seed", {"pass": "success"}),
        ("snapshots", "snapshot", {"pass": "success"}),
    )
    first = True
    for label, rtype, alias in rows:
        statuses = {
            s: summary.count(rtype, alias.get(s, s)) for s in ("pass", "warn", "fail", "error", "skipped")
        }
        if not any(statuses.values()) and rtype in ("seed", "snapshot"):
            continue
        table.add_row(
            label,
            cell(statuses["pass"], "green"),
            cell(statuses["warn"], "yellow"),
            cell(statuses["fail"], "red"),
            cell(statuses["error"], "red"),
            cell(statuses["skipped"], "yellow"),
            f"{summary.build_seconds:.1f}" if first else "",
        )
        first = False
    if summary.freshness:
        table.add_row(
            "source freshness",
            cell(summary.freshness["pass"], "green"),
            cell(summary.freshness["warn"], "yellow"),
            "0",
            cell(summary.freshness["error"] + summary.freshness["runtime error"], "red"),
            "0",
            f"{summary.freshness_seconds:.1f}",
        )
    return table


def explain_unpublished(settings: Settings, summary: BuildSummary) -> None:
    """Say that nothing was published, what readers still see, where the failing rows are."""
    if not settings.embedded:
        return
    before = summary.readers_see
    if before is None:
        still = "nothing has been published yet"
    else:
        batch = "" if before.batch_id is None else f", batch {before.batch_id}"
        still = f"readers still see {before.path} as published at {before.published_at:%Y-%m-%d %H:%M:%S} UTC{batch}"
    why = f"{summary.unpublished_reason}; " if summary.unpublished_reason else ""
    hint = f"; {summary.publish_hint}" if summary.publish_hint else ""
    err_console.print(f"[red]not published[/]: {safe(why + still + hint)}", highlight=False, soft_wrap=True)
    if summary.invocation_id and any(f.status == "fail" for f in summary.failures):
        err_console.print(
            f'failing rows: duckdb {safe(settings.warehouse_path)} -c "select unique_id, failing_sample '
            f"from observability.test_results where invocation_id = '{safe(summary.invocation_id)}' "
            "and status = 'fail'\"",
            highlight=False,
            soft_wrap=True,
        )


def report_marts(settings: Settings) -> None:
    if not settings.embedded:
        return
    snapshot = published_path(settings.warehouse_path)
    source = snapshot if snapshot.is_file() else settings.warehouse_path
    # The row counts come from the publication's own record: opening the
    # live catalog could fail on a reader (a notebook) holding it read-write.
    counted = published_rows(settings) if snapshot.is_file() else None
    lines = []
    if counted is not None:
        for name in ("mart_orders", "mart_customer_summary"):
            if name in counted:
                lines.append(f"  mart.{name}: {counted[name]:,} rows")
    else:
        with connect(source, read_only=True) as con:
            for name in ("mart_orders", "mart_customer_summary"):
                if table_exists(con, "mart", name):
                    row = con.execute(f"select count(*) from mart.{name}").fetchone()
                    lines.append(f"  mart.{name}: {int(row[0]) if row else 0:,} rows")
    console.print(
        f"[bold green]Marts ready[/] in [cyan]{safe(source)}[/] (schema mart, tested and published):"
    )
    for line in lines:
        console.print(safe(line))
    console.print(
        f"  query them: duckdb -readonly {safe(source)} -c 'select * from mart.mart_orders limit 5'"
    )
    console.print(f"  every layer (raw, staging, intermediate, mart): {safe(settings.warehouse_path)}")


def print_ingest(result: IngestResult) -> None:
    if result.status == "nothing pending":
        console.print("No pending batch: every planned batch is loaded.")
        return
    if result.status == "already loaded":
        console.print(
            f"Batch {result.batch_id} is already loaded ({result.loaded_at:%Y-%m-%d %H:%M:%S} UTC): "
            "nothing to do."
        )
        return
    rows = ", ".join(f"{n:,} {t}" for t, n in result.rows.items())
    console.print(f"Ingested batch {result.batch_id}: {safe(rows)}", highlight=False)
    if result.late_orders:
        console.print(
            f"  {result.late_orders:,} late order(s) below the order-key watermark accepted",
            highlight=False,
        )
    print_checks(result.warnings, result.quarantined)
