"""`tpch-elt run`: generate → load → build → (ingest → build)* → observe → report, under one writer lock.

The order of the steps and the decisions between them live here; what each
step shows the user is the caller's (`Steps`: the CLI prints progress and
summaries). The last increment is also the day's sweep: it rebuilds the
history-wide marts and runs every test over all history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from tpch_elt.errors import PipelineError
from tpch_elt.extract.batches import validate_split
from tpch_elt.load.ingest import IngestResult
from tpch_elt.load.ingest import status as read_status
from tpch_elt.observability.observe import ObserveResult
from tpch_elt.observability.store import enabled as observability_enabled
from tpch_elt.settings import Settings
from tpch_elt.transform.build import BuildSummary
from tpch_elt.warehouse.lock import warehouse_lock


@dataclass(frozen=True)
class RunOptions:
    scale_factor: float
    # Share of orders in the initial load; the rest arrive as `batches` batches.
    initial_fraction: float = 0.9
    batches: int = 10
    full_refresh: bool = False

    def validate(self) -> None:
        """Refuse bad options before anything is touched (not even the lock file)."""
        validate_split(self.initial_fraction, self.batches)


class Steps(Protocol):
    """Each step of the run, as the caller runs and shows it."""

    def generate(self, settings: Settings, options: RunOptions) -> None: ...

    def load(self, settings: Settings, scale_factor: float) -> None: ...

    def build(
        self, settings: Settings, *, full_refresh: bool, full_tests: bool, quiet: bool
    ) -> BuildSummary: ...

    def ingest(self, settings: Settings) -> IngestResult: ...

    def increment_built(self, ingested: IngestResult, summary: BuildSummary) -> None: ...

    def marts(self, settings: Settings) -> None: ...

    def observe(self, settings: Settings) -> ObserveResult: ...

    def report(self, settings: Settings) -> None: ...


def run(settings: Settings, options: RunOptions, steps: Steps) -> None:
    """The main job; PipelineError on the first step that fails (and on a failing anomaly, at the end)."""
    options.validate()
    # One writer for the whole job: a second run exits before generating.
    with warehouse_lock(settings.warehouse_path, "run"):
        steps.generate(settings, options)
        steps.load(settings, options.scale_factor)
        steps.build(settings, full_refresh=options.full_refresh, full_tests=False, quiet=False)
        while (ingested := steps.ingest(settings)).status == "ingested":
            state = read_status(settings)
            last = sum(1 for r in state.batches if r.kind == "batch") >= state.planned
            summary = steps.build(settings, full_refresh=False, full_tests=last, quiet=True)
            steps.increment_built(ingested, summary)
        steps.marts(settings)
        observed = None
        if settings.embedded and observability_enabled():
            observed = steps.observe(settings)
        if settings.embedded:
            steps.report(settings)
    if observed is not None:
        fail_on_anomalies(observed)


def fail_on_anomalies(result: ObserveResult) -> None:
    """A failing anomaly fails the command that observed it (warnings do not)."""
    if result.failing:
        first = result.failing[0]
        more = f" (+{len(result.failing) - 1} more)" if len(result.failing) > 1 else ""
        raise PipelineError(
            f"failing anomaly: {first.monitor} {first.describe()}{more}; "
            "see the observability page of `tpch-elt report`"
        )
