"""`tpch-elt sla`: where every service level stands now (tpch_elt.observability.sla)."""

from __future__ import annotations

import typer
from rich.table import Table

from tpch_elt.cli import output
from tpch_elt.cli.output import console, safe
from tpch_elt.errors import PipelineError
from tpch_elt.observability.sla import State, current_states
from tpch_elt.observability.store import utc_now
from tpch_elt.orchestration.pipelines import deadlines
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect

_STYLE = {"met": "green", "at risk": "yellow", "breached": "bold red", "unknown": "dim"}


def states(settings: Settings) -> list[State]:
    if not settings.embedded:
        raise PipelineError(
            f"sla reads the embedded DuckDB warehouse's history; target {settings.target!r} is not "
            "supported: run `tpch-elt --target prod sla`"
        )
    with connect(settings.warehouse_path, read_only=True) as con:
        return current_states(con, settings, utc_now(), deadlines())


def sla(ctx: typer.Context) -> None:
    """Where each SLA stands (met / at risk / breached) with its evidence; exit 1 when one is breached."""
    settings = ctx.find_root().obj
    assert isinstance(settings, Settings)
    found = output.guard(lambda: states(settings))
    if not found:
        console.print(
            "No SLA declared: set meta.sla on a model or sla on a pipeline in airflow/pipelines.yml"
        )
        return
    table = Table(title="Service levels", title_justify="left")
    for column in ("SLA", "kind", "objective", "state", "evidence"):
        table.add_column(column, overflow="fold")
    for state in found:
        style = _STYLE.get(state.state, "")
        table.add_row(
            safe(state.name),
            state.kind,
            safe(state.objective),
            f"[{style}]{state.state}[/{style}]" if style else state.state,
            safe(state.evidence),
        )
    console.print(table)
    breached = [s for s in found if s.state == "breached"]
    if breached:
        output.err_console.print(
            f"{len(breached)} SLA(s) breached: {safe(', '.join(s.name for s in breached))}"
        )
        raise typer.Exit(1)
