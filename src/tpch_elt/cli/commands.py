"""The `tpch-elt` commands: parse the options, call one step, print. No pipeline logic here."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from tpch_elt import __version__
from tpch_elt.cli import output, steps
from tpch_elt.cli.cost import cost as cost_command
from tpch_elt.cli.env import env_app
from tpch_elt.cli.sla import sla as sla_command
from tpch_elt.extract.generate import parse_scale_factor
from tpch_elt.observability.alerts import SUPPRESS_ENV, WEBHOOK_ENV
from tpch_elt.pipeline import RunOptions, fail_on_anomalies
from tpch_elt.pipeline import run as run_pipeline
from tpch_elt.settings import DEFAULT_THREADS, ENV_VARS, Settings
from tpch_elt.transform.docs import generate_docs

app = typer.Typer(
    name="tpch-elt",
    help="TPC-H ELT pipeline: generate, load into DuckDB, transform with dbt.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(env_app, name="env")
app.command(name="cost")(cost_command)
app.command(name="sla")(sla_command)


ScaleFactor = typer.Option(
    "1",
    "--scale-factor",
    "-s",
    metavar="SF",
    help="TPC-H scale factor, e.g. 1 (about 1 GB of raw data) or 0.1.",
)


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)
    return settings


def _version(value: bool) -> None:
    if value:
        output.console.print(f"tpch-elt {__version__}")
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
        help=f"dbt threads (default: {DEFAULT_THREADS}, or 1 from SF 8 up; env {ENV_VARS['threads']}).",
    ),
    target: str | None = typer.Option(
        None,
        "--target",
        help=f"dbt target (default: prod = the embedded DuckDB warehouse; snowflake; env {ENV_VARS['target']}).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Global options; they go before the command: `tpch-elt --threads 2 build`."""
    ctx.obj = output.guard(
        lambda: Settings.from_env(data_dir=data_dir, warehouse=warehouse, threads=threads, target=target)
    )


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
    sf = output.guard(lambda: parse_scale_factor(scale_factor))
    output.guard(lambda: steps.generate(settings, sf, force, initial_fraction, batches))


@app.command()
def load(ctx: typer.Context, scale_factor: str = ScaleFactor) -> None:
    """Load the landing files into the warehouse's raw schema (atomic)."""
    settings = _settings(ctx)
    sf = output.guard(lambda: parse_scale_factor(scale_factor))
    output.guard(lambda: steps.load(settings, sf))


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
    output.guard(
        lambda: steps.build(
            settings,
            select,
            exclude,
            full_refresh,
            full_tests,
            dbt_vars=dbt_vars,
            publish_marts=not no_publish,
        )
    )
    output.guard(lambda: output.report_marts(settings))


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
        while output.guard(lambda: steps.ingest(settings, None)).status == "ingested":
            pass
    else:
        output.guard(lambda: steps.ingest(settings, batch))


@app.command()
def status(ctx: typer.Context) -> None:
    """Batches loaded and pending, watermarks, quarantined rows."""
    settings = _settings(ctx)
    output.guard(lambda: steps.status(settings))


@app.command()
def report(ctx: typer.Context) -> None:
    """Write the offline HTML reports (insights, ...) to <data-dir>/reports/."""
    settings = _settings(ctx)
    output.guard(lambda: steps.report(settings))


@app.command()
def docs(ctx: typer.Context) -> None:
    """dbt's documentation site (lineage graph, models, columns) as one offline HTML file."""
    settings = _settings(ctx)
    with output.console.status("dbt docs generate"):
        result = output.guard(lambda: generate_docs(settings))
    output.console.print(
        f"Docs site in [cyan]{output.safe(result.path)}[/] ({result.models} models, {result.sources} sources, "
        f"{result.exposures} exposures; {result.size_bytes / 2**20:,.1f} MiB, opens offline)",
        highlight=False,
    )


@app.command()
def observe(
    ctx: typer.Context,
    artifacts: Path | None = typer.Option(
        None, "--artifacts", help="Also record a dbt target directory's run_results.json/sources.json."
    ),
    webhook_url: str | None = typer.Option(
        None,
        "--webhook-url",
        help=f"Slack-compatible incoming webhook for the grouped alert (env {WEBHOOK_ENV}).",
    ),
    suppress_hours: float | None = typer.Option(
        None,
        "--suppress-hours",
        help=f"Do not re-alert an incident within this many hours (default 4; env {SUPPRESS_ENV}).",
    ),
) -> None:
    """Detect anomalies in the recorded dbt history, alert; exit 1 on a failing anomaly."""
    settings = _settings(ctx)
    result = output.guard(lambda: steps.observe(settings, artifacts, webhook_url, suppress_hours))
    output.guard(lambda: fail_on_anomalies(result))


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
    options = output.guard(
        lambda: RunOptions(parse_scale_factor(scale_factor), initial_fraction, batches, full_refresh)
    )
    output.guard(lambda: run_pipeline(settings, options, steps.CliSteps()))
    output.console.print(f"Pipeline finished in {time.perf_counter() - started:.1f} s")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
