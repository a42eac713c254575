"""`tpch-elt`: the command line. Parses options, calls the steps, reports."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
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

from tpch_elt import __version__
from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import read_plan, validate_split
from tpch_elt.extract.generate import generate as run_generate
from tpch_elt.extract.generate import parse_scale_factor
from tpch_elt.load.full_load import load as run_load
from tpch_elt.load.ingest import IngestResult
from tpch_elt.load.ingest import ingest as run_ingest
from tpch_elt.load.ingest import status as read_status
from tpch_elt.observability.alerts import AlertSettings
from tpch_elt.observability.observe import ObserveResult
from tpch_elt.observability.observe import observe as run_observe
from tpch_elt.pipeline import RunOptions, fail_on_anomalies
from tpch_elt.pipeline import run as run_pipeline
from tpch_elt.publish.publication import describe as describe_publication
from tpch_elt.publish.publication import published_path, published_rows
from tpch_elt.reports.pages import ReportResult, default_pages, held_by_another_process, write_reports
from tpch_elt.settings import DEFAULT_THREADS, ENV_VARS, Settings
from tpch_elt.tpch import TABLES, format_scale_factor
from tpch_elt.transform.build import BuildSummary
from tpch_elt.transform.build import build as run_build
from tpch_elt.transform.docs import generate_docs
from tpch_elt.warehouse.connection import connect, table_exists

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

app = typer.Typer(
    name="tpch-elt",
    help="TPC-H ELT pipeline: generate, load into DuckDB, transform with dbt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

ScaleFactor = typer.Option(
    "1",
    "--scale-factor",
    "-s",
    metavar="SF",
    help="TPC-H scale factor, e.g. 1 (about 1 GB of raw data) or 0.1.",
)


# What a terminal would act on instead of show: C0/C1 controls (ESC starts
# escape sequences), DEL, line separators, bidi overrides and marks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(value: object, *, lines: bool = False) -> str:
    """`value` as text a terminal shows as is: every control character written as \\xNN
    (newlines too, so an error stays one line, unless `lines`)."""
    if lines:
        return "\n".join(printable(line) for line in str(value).split("\n"))
    return _CONTROL.sub(_visible, str(value))


def safe(value: object, *, lines: bool = False) -> str:
    """A data-derived string (path, column name, message, cell) for Rich markup: shown, never run."""
    return escape(printable(value, lines=lines))


def _progress() -> Progress:
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


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _guard(step: Callable[[], T]) -> T:
    """Run a step; turn a PipelineError into one red line and exit code 1."""
    try:
        return step()
    except PipelineError as exc:
        err_console.print(f"[bold red]error:[/] {safe(exc)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]: nothing half-done was committed")
        raise typer.Exit(code=130) from None


def _version(value: bool) -> None:
    if value:
        console.print(f"tpch-elt {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    warehouse: Path | None = typer.Option(
        None,
        "--warehouse",
        help=f"DuckDB warehouse file (default: <data-dir>/warehouse.duckdb; env {ENV_VARS['warehouse']}).",
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help=f"Landing files and warehouse live here (default: data; env {ENV_VARS['data_dir']}).",
    ),
    threads: int | None = typer.Option(
        None,
        "--threads",
        min=1,
        help=f"dbt threads (default: {DEFAULT_THREADS}; env {ENV_VARS['threads']}).",
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help=f"dbt target (default: dev = embedded DuckDB; env {ENV_VARS['target']}).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Global options; they go before the command: `tpch-elt --threads 2 build`."""
    ctx.obj = _guard(
        lambda: Settings.from_env(data_dir=data_dir, warehouse=warehouse, threads=threads, target=target)
    )


def _do_generate(
    settings: Settings,
    scale_factor: float,
    force: bool,
    initial_fraction: float = 1.0,
    batches: int = 0,
) -> None:
    validate_split(initial_fraction, batches)
    with _progress() as progress:
        task = progress.add_task(
            f"generate SF {format_scale_factor(scale_factor)}", total=len(TABLES), detail=""
        )

        def on_table(name: str, rows: int, reused: bool) -> None:
            how = "reused" if reused else "generated"
            progress.update(task, advance=1, detail=f"{safe(name)}: {rows:,} rows {how}")

        tables = run_generate(
            settings,
            scale_factor,
            force=force,
            initial_fraction=initial_fraction,
            batches=batches,
            on_table=on_table,
        )
    generated = [t.name for t in tables if not t.reused]
    reused = [t.name for t in tables if t.reused]
    console.print(f"Landing files in [cyan]{safe(settings.landing_dir(scale_factor))}[/]")
    console.print(
        f"  generated: {safe(', '.join(generated) or '-')}\n  reused (complete): {safe(', '.join(reused) or '-')}",
        highlight=False,
    )
    plan = read_plan(settings.landing_dir(scale_factor))
    if plan is not None:
        held = sum(b.orders for b in plan.batches)
        console.print(
            f"  held back: {held:,} newest orders (keys > {plan.initial_max_order_key:,}) "
            f"as {len(plan.batches)} arrival batches for `tpch-elt ingest`",
            highlight=False,
        )


def _do_load(settings: Settings, scale_factor: float) -> None:
    with _progress() as progress:
        task = progress.add_task("load raw", total=len(TABLES), detail="")

        def on_table(name: str, rows: int) -> None:
            progress.update(task, advance=1, detail=f"raw.{safe(name)}: {rows:,} rows")

        result = run_load(settings, scale_factor, on_table=on_table)
    total = sum(result.row_counts.values())
    console.print(
        f"Loaded {total:,} rows into [cyan]{safe(settings.warehouse_path)}[/] schema raw "
        f"(batch {result.batch_id}, {result.loaded_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    _print_checks(result.warnings, result.quarantined)


def _print_checks(warnings: list[str], quarantined: dict[str, int]) -> None:
    """Additive schema changes let through (stderr) and rows quarantined, per reason."""
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {safe(warning)}", highlight=False, soft_wrap=True)
    for reason, count in quarantined.items():
        console.print(
            f"  [yellow]quarantined[/] {count:,} row(s): {safe(reason)} (raw._quarantine)", highlight=False
        )


def _summary_table(summary: BuildSummary) -> Table:
    table = Table(title="dbt build summary", title_justify="left")
    table.add_column("resource")
    for status in ("pass", "warn", "fail", "error", "skipped"):
        table.add_column(status, justify="right")
    table.add_column("seconds", justify="right")

    def cell(n: int, style: str) -> str:
        return f"[{style}]{n}[/]" if n else "0"

    rows = (
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


def _do_build(
    settings: Settings,
    select: list[str],
    exclude: list[str],
    full_refresh: bool,
    full_tests: bool = False,
    quiet: bool = False,
    dbt_vars: str | None = None,
    publish_marts: bool = True,
) -> BuildSummary:
    with _progress() as progress:
        task = progress.add_task("dbt build", total=None, detail="parsing project")

        def on_node(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, detail=safe(name))

        summary = run_build(
            settings,
            select=select,
            exclude=exclude,
            full_refresh=full_refresh,
            full_tests=full_tests,
            dbt_vars=dbt_vars,
            on_node=on_node,
            publish_marts=publish_marts,
        )
        progress.update(task, detail="done")
    plan = summary.plan
    if plan is not None and plan.full_refresh_reason:
        console.print(f"[yellow]full refresh:[/] {safe(plan.full_refresh_reason)}")
    if not quiet or not summary.success:
        console.print(_summary_table(summary))
    if plan is not None and plan.tests_from_batch is not None:
        console.print(
            f"row-level tests on incremental models covered batches >= {plan.tests_from_batch} "
            "(`--full-tests` sweeps all history)",
            highlight=False,
        )
    if summary.failures:
        for failure in summary.failures:
            where = f" (compiled SQL: {failure.compiled_path})" if failure.compiled_path else ""
            err_console.print(
                f"[red]{safe(failure.status)}[/] {safe(failure.unique_id)}: {safe(failure.message, lines=True)}{safe(where)}",
                highlight=False,
                soft_wrap=True,
            )
    if summary.publication is not None:
        published = summary.publication
        console.print(
            f"published {len(published.rebuilt)} rebuilt and {len(published.carried_over)} unchanged "
            f"mart(s) for readers: [cyan]{safe(published.path)}[/] ({summary.publish_seconds:.1f} s)",
            highlight=False,
        )
    if summary.success and summary.unpublished_reason:
        _explain_unpublished(settings, summary)  # --no-publish, or a selection that skipped audits
    if not summary.success:
        _explain_unpublished(settings, summary)
        raise PipelineError(
            f"dbt build did not pass ({len(summary.failures)} failing node(s) listed above); "
            f"details in {settings.dbt_log_dir / 'dbt.log'}"
        )
    return summary


def _explain_unpublished(settings: Settings, summary: BuildSummary) -> None:
    """Say that nothing was published, what readers still see, where the failing rows are."""
    if settings.target != "dev":
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


def _report_marts(settings: Settings) -> None:
    if settings.target != "dev":
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


InitialFraction = typer.Option(
    1.0,
    "--initial-fraction",
    help="Share of orders (lowest keys) the initial load takes; the rest arrive as batches.",
)
Batches = typer.Option(0, "--batches", help="Number of arrival batches the held-back orders form.")


@app.command()
def generate(
    ctx: typer.Context,
    scale_factor: str = ScaleFactor,
    force: bool = typer.Option(False, "--force", help="Regenerate files even if complete ones exist."),
    initial_fraction: float = InitialFraction,
    batches: int = Batches,
) -> None:
    """Generate TPC-H Parquet files under <data-dir>/landing/sf=<SF>/."""
    settings = _settings(ctx)
    sf = _guard(lambda: parse_scale_factor(scale_factor))
    _guard(lambda: _do_generate(settings, sf, force, initial_fraction, batches))


@app.command()
def load(ctx: typer.Context, scale_factor: str = ScaleFactor) -> None:
    """Load the landing files into the warehouse's raw schema (atomic)."""
    settings = _settings(ctx)
    sf = _guard(lambda: parse_scale_factor(scale_factor))
    _guard(lambda: _do_load(settings, sf))


@app.command()
def build(
    ctx: typer.Context,
    select: list[str] = typer.Option([], "--select", "-m", help="dbt selector (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="dbt selector to skip (repeatable)."),
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild incremental models."),
    full_tests: bool = typer.Option(
        False, "--full-tests", help="Test all history, not just the new batches (e.g. daily)."
    ),
    dbt_vars: str | None = typer.Option(None, "--vars", help="dbt vars as YAML/JSON, passed through to dbt."),
    no_publish: bool = typer.Option(
        False,
        "--no-publish",
        help="Build and test only: readers keep the current snapshot. (A build that fails, or whose "
        "--select/--exclude leaves out tests of the marts it rebuilt, never publishes.)",
    ),
) -> None:
    """dbt build (models, tests, unit tests), dbt source freshness, then publish the audited marts."""
    settings = _settings(ctx)
    _guard(
        lambda: _do_build(
            settings,
            select,
            exclude,
            full_refresh,
            full_tests,
            dbt_vars=dbt_vars,
            publish_marts=not no_publish,
        )
    )
    _guard(lambda: _report_marts(settings))


def _print_ingest(result: IngestResult) -> None:
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
    _print_checks(result.warnings, result.quarantined)


def _do_ingest(settings: Settings, batch: int | None) -> IngestResult:
    with console.status("ingesting the next batch" if batch is None else f"ingesting batch {batch}"):
        result = run_ingest(settings, batch)
    _print_ingest(result)
    return result


@app.command()
def ingest(
    ctx: typer.Context,
    batch: int | None = typer.Option(
        None, "--batch", help="Batch to ingest (default: the next pending one)."
    ),
    all_batches: bool = typer.Option(False, "--all", help="Ingest every pending batch."),
) -> None:
    """Append the next arrival batch to raw (atomic; re-ingesting is a no-op)."""
    settings = _settings(ctx)
    if all_batches:
        while _guard(lambda: _do_ingest(settings, None)).status == "ingested":
            pass
    else:
        _guard(lambda: _do_ingest(settings, batch))


def _do_status(settings: Settings) -> None:
    try:
        state = read_status(settings)
    except PipelineError as exc:
        if not held_by_another_process(exc):  # e.g. a build running: say so, show what readers see
            raise
        err_console.print(
            f"[yellow]warning:[/] batches and watermarks unavailable: {safe(exc)}",
            highlight=False,
            soft_wrap=True,
        )
        console.print(safe(describe_publication(settings)), highlight=False)
        return
    table = Table(title=f"batches in {safe(state.warehouse)}", title_justify="left")
    for column in ("batch", "kind", "rows", "loaded at (UTC)"):
        table.add_column(column)
    for record in state.batches:
        table.add_row(
            str(record.batch_id),
            safe(record.kind),
            safe(record.row_counts.replace(",", ", ")),
            f"{record.loaded_at:%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)
    loaded = sum(1 for r in state.batches if r.kind == "batch")
    console.print(
        f"batches loaded: {loaded} of {state.planned} planned, pending: {max(state.planned - loaded, 0)}"
    )
    console.print(f"raw order-key watermark: {state.raw_max_order_key}")
    console.print(
        f"processed by dbt: batches <= {state.processed_max_batch}, order keys <= {state.processed_max_order_key}"
    )
    console.print(f"quarantined rows: {state.quarantined}")
    console.print(safe(describe_publication(settings)), highlight=False)


@app.command()
def status(ctx: typer.Context) -> None:
    """Batches loaded and pending, watermarks, quarantined rows."""
    settings = _settings(ctx)
    _guard(lambda: _do_status(settings))


def _do_report(settings: Settings) -> ReportResult:
    pages = default_pages()
    with _progress() as progress:
        task = progress.add_task("report", total=len(pages), detail="")

        def on_page(done: int, total: int, title: str) -> None:
            progress.update(task, completed=done, detail=safe(title))

        result = write_reports(settings, pages, on_page=on_page)
    console.print(f"Reports in [cyan]{safe(result.directory)}[/] (open {safe(result.index.name)}):")
    for page in result.pages:
        console.print(
            f"  {safe(page.path.name)}: {safe(page.title)}, {page.size_bytes / 1024:,.0f} KiB",
            highlight=False,
        )
        if page.not_refreshed:
            err_console.print(
                f"[yellow]warning:[/] {safe(page.path.name)} not refreshed: {safe(page.not_refreshed)}; "
                "run `tpch-elt report` again when it has finished",
                highlight=False,
                soft_wrap=True,
            )
    return result


@app.command()
def report(ctx: typer.Context) -> None:
    """Write the offline HTML reports (insights, ...) to <data-dir>/reports/."""
    settings = _settings(ctx)
    _guard(lambda: _do_report(settings))


@app.command()
def docs(ctx: typer.Context) -> None:
    """dbt's documentation site (lineage graph, models, columns) as one offline HTML file."""
    settings = _settings(ctx)
    with console.status("dbt docs generate"):
        result = _guard(lambda: generate_docs(settings))
    console.print(
        f"Docs site in [cyan]{safe(result.path)}[/] ({result.models} models, {result.sources} sources, "
        f"{result.exposures} exposures; {result.size_bytes / 2**20:,.1f} MiB, opens offline)",
        highlight=False,
    )


def _do_observe(
    settings: Settings,
    artifacts: Path | None = None,
    webhook_url: str | None = None,
    suppress_hours: float | None = None,
) -> ObserveResult:
    alerts = AlertSettings.from_env(webhook_url, suppress_hours)
    result = run_observe(
        settings,
        artifacts_dir=artifacts,
        alert_settings=alerts,
        out=lambda text: console.print(
            printable(text, lines=True),
            markup=False,
            highlight=False,
            soft_wrap=True,
        ),
    )
    for outcome in result.recorded:
        state = "recorded" if outcome.recorded else "already recorded"
        console.print(f"dbt {safe(outcome.command)} {safe(outcome.invocation_id)}: {state}", highlight=False)
    counts = {s: sum(r.status == s for r in result.results) for s in ("pass", "warn", "fail")}
    scope = (
        f"{len(result.evaluated)} new dbt invocation(s)"
        if result.evaluated
        else "no new dbt invocation; latest build"
    )
    console.print(
        f"Observed {scope}: {len(result.results)} check(s), {counts['pass']} pass, "
        f"{counts['warn']} warn, {counts['fail']} fail",
        highlight=False,
    )
    for item in result.failing + result.warnings:
        colour = "red" if item.status == "fail" else "yellow"
        console.print(
            f"  [{colour}]{safe(item.status)}[/] {safe(item.monitor)}: {safe(item.describe())}",
            highlight=False,
        )
    if result.alert is not None and result.alert.error:
        err_console.print(
            f"[yellow]warning:[/] alert not delivered: {safe(result.alert.error)}", highlight=False
        )
    return result


@app.command()
def observe(
    ctx: typer.Context,
    artifacts: Path | None = typer.Option(
        None, "--artifacts", help="Also record a dbt target directory's run_results.json/sources.json."
    ),
    webhook_url: str | None = typer.Option(
        None,
        "--webhook-url",
        envvar="TPCH_ELT_SLACK_WEBHOOK_URL",
        help="Slack-compatible incoming webhook for the grouped alert.",
    ),
    suppress_hours: float | None = typer.Option(
        None,
        "--suppress-hours",
        envvar="TPCH_ELT_ALERT_SUPPRESS_HOURS",
        help="Do not re-alert an incident within this many hours (default 4).",
    ),
) -> None:
    """Detect anomalies in the recorded dbt history, alert; exit 1 on a failing anomaly."""
    settings = _settings(ctx)
    result = _guard(lambda: _do_observe(settings, artifacts, webhook_url, suppress_hours))
    _guard(lambda: fail_on_anomalies(result))


@app.command()
def run(
    ctx: typer.Context,
    scale_factor: str = ScaleFactor,
    initial_fraction: float = typer.Option(
        0.9, "--initial-fraction", help="Share of orders in the initial load."
    ),
    batches: int = typer.Option(
        10, "--batches", help="Arrival batches applied incrementally after the initial build."
    ),
    full_refresh: bool = typer.Option(False, "--full-refresh", help="Rebuild incremental models."),
) -> None:
    """The main job: generate, load, build, then each batch: ingest + incremental build; observe; report."""
    settings = _settings(ctx)
    started = time.perf_counter()
    options = _guard(
        lambda: RunOptions(parse_scale_factor(scale_factor), initial_fraction, batches, full_refresh)
    )
    _guard(lambda: run_pipeline(settings, options, _CliSteps()))
    console.print(f"Pipeline finished in {time.perf_counter() - started:.1f} s")


class _CliSteps:
    """The steps of `tpch-elt run` (tpch_elt.pipeline) as the CLI shows them."""

    def __init__(self) -> None:
        self.increments = Table(title="incremental builds", title_justify="left")
        for column in ("batch", "orders", "lines", "models", "tests", "seconds"):
            self.increments.add_column(column, justify="right")

    def generate(self, settings: Settings, options: RunOptions) -> None:
        _do_generate(settings, options.scale_factor, False, options.initial_fraction, options.batches)

    def load(self, settings: Settings, scale_factor: float) -> None:
        _do_load(settings, scale_factor)

    def build(self, settings: Settings, *, full_refresh: bool, full_tests: bool, quiet: bool) -> BuildSummary:
        return _do_build(settings, [], [], full_refresh, full_tests=full_tests, quiet=quiet)

    def ingest(self, settings: Settings) -> IngestResult:
        return _do_ingest(settings, None)

    def increment_built(self, ingested: IngestResult, summary: BuildSummary) -> None:
        self.increments.add_row(
            str(ingested.batch_id),
            f"{ingested.rows.get('orders', 0):,}",
            f"{ingested.rows.get('lineitem', 0):,}",
            str(summary.count("model", "success")),
            str(summary.count("test", "pass")),
            f"{summary.build_seconds + summary.freshness_seconds:.1f}",
        )

    def marts(self, settings: Settings) -> None:
        if self.increments.rows:
            console.print(self.increments)
        _report_marts(settings)

    def observe(self, settings: Settings) -> ObserveResult:
        return _do_observe(settings)

    def report(self, settings: Settings) -> None:
        _do_report(settings)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
