"""`tpch-elt cost`: the latest build's cost per model, the trend, and warehouse sizes to accept."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NoReturn

import duckdb
import typer
from rich.table import Table

from tpch_elt.cli import output
from tpch_elt.cli.output import console, safe
from tpch_elt.errors import PipelineError, first_line
from tpch_elt.observability import cost_history, sizing
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect

TOP_MODELS = 15


def _bytes(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"


def cost(
    ctx: typer.Context,
    recommend: bool = typer.Option(
        False,
        "--recommend",
        help="Recommend the smallest Snowflake warehouse per model (see --target-seconds).",
    ),
    target_seconds: float = typer.Option(
        sizing.DEFAULT_TARGET_SECONDS,
        "--target-seconds",
        min=0.001,
        help="Run time each model must stay under.",
    ),
    target_sf: float | None = typer.Option(
        None,
        "--target-sf",
        min=0.0001,
        help="Size for this TPC-H scale factor (bytes scale from the warehouse's).",
    ),
    xsmall_mb_per_second: float = typer.Option(
        sizing.XSMALL_BYTES_PER_SECOND / 1024 / 1024,
        "--xsmall-mb-per-second",
        min=0.001,
        help="Assumed scan throughput of an XSMALL warehouse; each size up doubles it.",
    ),
    warehouse_name: str = typer.Option(
        "TPCH_ELT_{size}", "--warehouse-name", help="Warehouse name per size, with {size}."
    ),
    write: Path | None = typer.Option(
        None, "--write", help="Write the recommendation as a dbt_project.yml `models:` block to PATH."
    ),
    force: bool = typer.Option(False, "--force", help="With --write: replace an existing file."),
) -> None:
    """Cost per model from DuckDB's profiler: the latest build's models (most expensive first) and the trend."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    if write is not None and not recommend:
        output.guard(lambda: _raise("--write needs --recommend"))
    shown, models, scans, measured_sf = output.guard(lambda: _read(settings))
    if not shown:
        console.print(
            "No model costs recorded yet: run `tpch-elt build` (model costs are recorded per build)."
        )
        return
    _print_latest(shown[-1], models)
    _print_trend(shown)
    if not recommend:
        return
    scale = 1.0
    if target_sf is not None:
        if not measured_sf:
            output.guard(
                lambda: _raise(
                    "the warehouse has no raw.customer rows to tell its scale factor: run `tpch-elt load`"
                )
            )
        scale = target_sf / float(measured_sf or 1)
    recs = sizing.recommend(
        scans,
        target_seconds=target_seconds,
        scale=scale,
        xsmall_bytes_per_second=xsmall_mb_per_second * 1024 * 1024,
    )
    _print_recommendations(recs, target_seconds, target_sf, xsmall_mb_per_second)
    if write is not None:
        fqns = output.guard(lambda: _fqns(settings))
        text = output.guard(lambda: _block(recs, fqns, warehouse_name))
        output.guard(lambda: _write(write, text, force=force))
        console.print(
            f"Wrote {safe(write)}: merge its `models:` block into dbt_project.yml to accept it.",
            highlight=False,
        )
    else:
        console.print("Nothing written: add --write PATH for a dbt_project.yml `models:` block.")


def _read(
    settings: Settings,
) -> tuple[
    list[cost_history.CostBuild], list[cost_history.ModelCostRow], list[tuple[str, str, int]], float | None
]:
    """The builds with costs, the latest one's models, the heaviest scans and the scale factor held."""
    try:
        with connect(settings.warehouse_path, read_only=True) as con:
            shown = cost_history.builds(con)
            if not shown:
                return [], [], [], None
            return (
                shown,
                cost_history.latest_models(con, shown),
                cost_history.heaviest_scans(con, shown),
                cost_history.measured_scale_factor(con),
            )
    except duckdb.Error as exc:
        raise PipelineError(
            f"cannot read the model costs in {settings.warehouse_path}: {first_line(exc)}"
        ) from None


def _raise(message: str) -> NoReturn:
    raise PipelineError(message)


def _block(recs: Sequence[sizing.Recommendation], fqns: Mapping[str, Sequence[str]], pattern: str) -> str:
    try:
        return sizing.dbt_project_block(recs, fqns, pattern)
    except ValueError as exc:
        raise PipelineError(str(exc)) from None


def _fqns(settings: Settings) -> dict[str, list[str]]:
    """Each model's fqn from the build's manifest.json (the folders dbt_project.yml configures by)."""
    path = settings.dbt_target_dir / "manifest.json"
    try:
        nodes = json.loads(path.read_text(encoding="utf-8"))["nodes"]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(
            f"cannot read the models' folders from {path} ({exc}): run `tpch-elt build` first"
        ) from None
    return {uid: list(node.get("fqn") or []) for uid, node in nodes.items() if uid.startswith("model.")}


def _write(path: Path, text: str, *, force: bool) -> None:
    if path.exists() and not force:
        raise PipelineError(f"{path} exists: give --force to replace it")
    path.write_text(text, encoding="utf-8")


def _print_latest(build: cost_history.CostBuild, models: Sequence[cost_history.ModelCostRow]) -> None:
    when = f"{build.started_at:%Y-%m-%d %H:%M:%S} UTC" if build.started_at else "time unknown"
    table = Table(title=f"cost per model, latest build ({when}), most expensive first", title_justify="left")
    for column in (
        "model",
        "seconds",
        "median s",
        "dbt s",
        "rows read",
        "rows written",
        "scanned",
        "written",
        "peak memory",
    ):
        table.add_column(column, justify="left" if column == "model" else "right", overflow="fold")
    for m in models[:TOP_MODELS]:
        table.add_row(
            safe(m.name),
            f"{m.seconds:.3f}",
            f"{m.median_seconds:.3f} ({m.builds})",
            "–" if m.dbt_seconds is None else f"{m.dbt_seconds:.2f}",
            f"{m.rows_read:,}",
            f"{m.rows_written:,}",
            _bytes(m.bytes_scanned),
            _bytes(m.bytes_written),
            _bytes(m.peak_memory),
        )
    console.print(table)
    if len(models) > TOP_MODELS:
        console.print(f"  and {len(models) - TOP_MODELS} more model(s)")


def _print_trend(shown: Sequence[cost_history.CostBuild]) -> None:
    table = Table(title="trend: profiled seconds per build, oldest first", title_justify="left")
    for column in ("build started (UTC)", "models", "seconds", "scanned"):
        table.add_column(column, justify="left" if column.startswith("build") else "right")
    for b in shown[-10:]:
        table.add_row(
            f"{b.started_at:%Y-%m-%d %H:%M:%S}" if b.started_at else "–",
            str(b.models),
            f"{b.seconds:.3f}",
            _bytes(b.bytes_scanned),
        )
    console.print(table)


def _print_recommendations(
    recs: Sequence[sizing.Recommendation],
    target_seconds: float,
    target_sf: float | None,
    mb_per_second: float,
) -> None:
    at = f" at SF {target_sf:g}" if target_sf is not None else ""
    table = Table(
        title=f"smallest Snowflake warehouse per model to stay under {target_seconds:g} s{at}",
        title_justify="left",
    )
    for column in ("model", "scanned", "warehouse", "est. seconds", "est. credits/run"):
        table.add_column(
            column, justify="left" if column in ("model", "warehouse") else "right", overflow="fold"
        )
    for r in recs:
        size = r.size if r.meets_target else f"{r.size} (over target)"
        table.add_row(safe(r.name), _bytes(r.bytes_scanned), size, f"{r.seconds:.2f}", f"{r.credits:.5f}")
    console.print(table)
    console.print(
        f"  assumed: an XSMALL scans {mb_per_second:g} MB/s, each size up doubles it (--xsmall-mb-per-second); "
        "bytes: the largest a model scanned in the recent builds (DuckDB, uncompressed)",
        highlight=False,
    )
