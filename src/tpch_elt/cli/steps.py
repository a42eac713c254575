"""Each CLI step: run it with a progress bar, then print what it did (the commands and `tpch-elt run` share them)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from tpch_elt.cli import output
from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import read_plan, validate_split
from tpch_elt.extract.generate import generate as run_generate
from tpch_elt.load.full_load import load as run_load
from tpch_elt.load.ingest import IngestResult
from tpch_elt.load.ingest import ingest as run_ingest
from tpch_elt.load.ingest import status as read_status
from tpch_elt.observability.alerts import AlertSettings
from tpch_elt.observability.observe import ObserveResult
from tpch_elt.observability.observe import observe as run_observe
from tpch_elt.pipeline import RunOptions
from tpch_elt.publish.publication import describe as describe_publication
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES, format_scale_factor
from tpch_elt.transform.build import BuildSummary
from tpch_elt.transform.build import build as run_build
from tpch_elt.warehouse.connection import held_by_another_process

if TYPE_CHECKING:
    from tpch_elt.reports.pages import ReportResult


def generate(
    settings: Settings,
    scale_factor: float,
    force: bool,
    initial_fraction: float = 1.0,
    batches: int = 0,
) -> None:
    validate_split(initial_fraction, batches)
    with output.progress() as progress:
        task = progress.add_task(
            f"generate SF {format_scale_factor(scale_factor)}", total=len(TABLES), detail=""
        )

        def on_table(name: str, rows: int, reused: bool) -> None:
            how = "reused" if reused else "generated"
            progress.update(task, advance=1, detail=f"{output.safe(name)}: {rows:,} rows {how}")

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
    output.console.print(f"Landing files in [cyan]{output.safe(settings.landing_dir(scale_factor))}[/]")
    output.console.print(
        f"  generated: {output.safe(', '.join(generated) or '-')}\n  reused (complete): {output.safe(', '.join(reused) or '-')}",
        highlight=False,
    )
    plan = read_plan(settings.landing_dir(scale_factor))
    if plan is not None:
        held = sum(b.orders for b in plan.batches)
        output.console.print(
            f"  held back: {held:,} newest orders (keys > {plan.initial_max_order_key:,}) "
            f"as {len(plan.batches)} arrival batches for `tpch-elt ingest`",
            highlight=False,
        )


def load(settings: Settings, scale_factor: float) -> None:
    with output.progress() as progress:
        task = progress.add_task("load raw", total=len(TABLES), detail="")

        def on_table(name: str, rows: int) -> None:
            progress.update(task, advance=1, detail=f"raw.{output.safe(name)}: {rows:,} rows")

        result = run_load(settings, scale_factor, on_table=on_table)
    total = sum(result.row_counts.values())
    output.console.print(
        f"Loaded {total:,} rows into [cyan]{output.safe(settings.warehouse_path)}[/] schema raw "
        f"(batch {result.batch_id}, {result.loaded_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    output.print_checks(result.warnings, result.quarantined)


def build(
    settings: Settings,
    select: list[str],
    exclude: list[str],
    full_refresh: bool,
    full_tests: bool = False,
    quiet: bool = False,
    dbt_vars: str | None = None,
    publish_marts: bool = True,
) -> BuildSummary:
    with output.progress() as progress:
        task = progress.add_task("dbt build", total=None, detail="parsing project")

        def on_node(done: int, total: int, name: str) -> None:
            progress.update(task, completed=done, total=total, detail=output.safe(name))

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
        output.console.print(f"[yellow]full refresh:[/] {output.safe(plan.full_refresh_reason)}")
    if not quiet or not summary.success:
        output.console.print(output.summary_table(summary))
    if plan is not None and plan.tests_from_batch is not None:
        output.console.print(
            f"row-level tests on incremental models covered batches >= {plan.tests_from_batch} "
            "(`--full-tests` sweeps all history)",
            highlight=False,
        )
    if summary.failures:
        for failure in summary.failures:
            where = f" (compiled SQL: {failure.compiled_path})" if failure.compiled_path else ""
            output.err_console.print(
                f"[red]{output.safe(failure.status)}[/] {output.safe(failure.unique_id)}: {output.safe(failure.message, lines=True)}{output.safe(where)}",
                highlight=False,
                soft_wrap=True,
            )
    if summary.publication is not None:
        published = summary.publication
        output.console.print(
            f"published {len(published.rebuilt)} rebuilt and {len(published.carried_over)} unchanged "
            f"mart(s) for readers: [cyan]{output.safe(published.path)}[/] ({summary.publish_seconds:.1f} s)",
            highlight=False,
        )
    if summary.success and summary.unpublished_reason:
        output.explain_unpublished(settings, summary)  # --no-publish, or a selection that skipped audits
    if not summary.success:
        output.explain_unpublished(settings, summary)
        raise PipelineError(
            f"dbt build did not pass ({len(summary.failures)} failing node(s) listed above); "
            f"details in {settings.dbt_log_dir / 'dbt.log'}"
        )
    return summary


def ingest(settings: Settings, batch: int | None) -> IngestResult:
    with output.console.status("ingesting the next batch" if batch is None else f"ingesting batch {batch}"):
        result = run_ingest(settings, batch)
    output.print_ingest(result)
    return result


def status(settings: Settings) -> None:
    try:
        state = read_status(settings)
    except PipelineError as exc:
        if not held_by_another_process(exc):  # e.g. a build running: say so, show what readers see
            raise
        output.err_console.print(
            f"[yellow]warning:[/] batches and watermarks unavailable: {output.safe(exc)}",
            highlight=False,
            soft_wrap=True,
        )
        output.console.print(output.safe(describe_publication(settings)), highlight=False)
        return
    table = Table(title=f"batches in {output.safe(state.warehouse)}", title_justify="left")
    for column in ("batch", "kind", "rows", "loaded at (UTC)"):
        table.add_column(column)
    for record in state.batches:
        table.add_row(
            str(record.batch_id),
            output.safe(record.kind),
            output.safe(record.row_counts.replace(",", ", ")),
            f"{record.loaded_at:%Y-%m-%d %H:%M:%S}",
        )
    output.console.print(table)
    loaded = sum(1 for r in state.batches if r.kind == "batch")
    output.console.print(
        f"batches loaded: {loaded} of {state.planned} planned, pending: {max(state.planned - loaded, 0)}"
    )
    output.console.print(f"raw order-key watermark: {state.raw_max_order_key}")
    output.console.print(
        f"processed by dbt: batches <= {state.processed_max_batch}, order keys <= {state.processed_max_order_key}"
    )
    output.console.print(f"quarantined rows: {state.quarantined}")
    output.console.print(output.safe(describe_publication(settings)), highlight=False)


def report(settings: Settings) -> ReportResult:
    # Imported here: Jinja2 and the report pages cost every other command 50 ms of start-up.
    from tpch_elt.reports.pages import default_pages, write_reports

    pages = default_pages()
    with output.progress() as progress:
        task = progress.add_task("report", total=len(pages), detail="")

        def on_page(done: int, total: int, title: str) -> None:
            progress.update(task, completed=done, detail=output.safe(title))

        result = write_reports(settings, pages, on_page=on_page)
    output.console.print(
        f"Reports in [cyan]{output.safe(result.directory)}[/] (open {output.safe(result.index.name)}):"
    )
    for page in result.pages:
        output.console.print(
            f"  {output.safe(page.path.name)}: {output.safe(page.title)}, {page.size_bytes / 1024:,.0f} KiB",
            highlight=False,
        )
        if page.not_refreshed:
            output.err_console.print(
                f"[yellow]warning:[/] {output.safe(page.path.name)} not refreshed: {output.safe(page.not_refreshed)}; "
                "run `tpch-elt report` again when it has finished",
                highlight=False,
                soft_wrap=True,
            )
    return result


def observe(
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
        out=lambda text: output.console.print(
            output.printable(text, lines=True),
            markup=False,
            highlight=False,
            soft_wrap=True,
        ),
    )
    for outcome in result.recorded:
        state = "recorded" if outcome.recorded else "already recorded"
        output.console.print(
            f"dbt {output.safe(outcome.command)} {output.safe(outcome.invocation_id)}: {state}",
            highlight=False,
        )
    counts = {s: sum(r.status == s for r in result.results) for s in ("pass", "warn", "fail")}
    scope = (
        f"{len(result.evaluated)} new dbt invocation(s)"
        if result.evaluated
        else "no new dbt invocation; latest build"
    )
    output.console.print(
        f"Observed {scope}: {len(result.results)} check(s), {counts['pass']} pass, "
        f"{counts['warn']} warn, {counts['fail']} fail",
        highlight=False,
    )
    for item in result.failing + result.warnings:
        colour = "red" if item.status == "fail" else "yellow"
        output.console.print(
            f"  [{colour}]{output.safe(item.status)}[/] {output.safe(item.monitor)}: {output.safe(item.describe())}",
            highlight=False,
        )
    if result.batches:
        drifted = [p for p in result.batches if p.status == "fail"]
        output.console.print(
            f"Judged {len(result.batches)} arrival batch(es) for drift: {len(drifted)} drifted",
            highlight=False,
        )
        for profile in drifted:
            for finding in (f for f in profile.findings if f.status == "fail"):
                output.console.print(f"  [yellow]drift[/] {output.safe(finding.describe())}", highlight=False)
    for level in result.slos:
        if level.state in ("at risk", "breached"):
            colour = "red" if level.state == "breached" else "yellow"
            output.console.print(
                f"  [{colour}]SLA {level.state}[/] {output.safe(level.name)}: {output.safe(level.evidence)}",
                highlight=False,
            )
    if result.alert is not None and result.alert.error:
        output.err_console.print(
            f"[yellow]warning:[/] alert not delivered: {output.safe(result.alert.error)}", highlight=False
        )
    return result


class CliSteps:
    """The steps of `tpch-elt run` (tpch_elt.pipeline) as the CLI shows them."""

    def __init__(self) -> None:
        self.increments = Table(title="incremental builds", title_justify="left")
        for column in ("batch", "orders", "lines", "models", "tests", "seconds"):
            self.increments.add_column(column, justify="right")

    def generate(self, settings: Settings, options: RunOptions) -> None:
        generate(settings, options.scale_factor, False, options.initial_fraction, options.batches)

    def load(self, settings: Settings, scale_factor: float) -> None:
        load(settings, scale_factor)

    def build(self, settings: Settings, *, full_refresh: bool, full_tests: bool, quiet: bool) -> BuildSummary:
        return build(settings, [], [], full_refresh, full_tests=full_tests, quiet=quiet)

    def ingest(self, settings: Settings) -> IngestResult:
        return ingest(settings, None)

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
            output.console.print(self.increments)
        output.report_marts(settings)

    def observe(self, settings: Settings) -> ObserveResult:
        return observe(settings)

    def report(self, settings: Settings) -> None:
        report(settings)
