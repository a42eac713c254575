"""Transform: `dbt build` and `dbt source freshness` through dbt's Python runner."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tpch_elt.errors import PipelineError
from tpch_elt.load.full_load import RAW_SCHEMA
from tpch_elt.observability.artifacts import artifact_from_result, read_json
from tpch_elt.observability.cost import build_profiles, record_model_costs
from tpch_elt.observability.record import record_dbt_invocation
from tpch_elt.publish.plan import MART_SCHEMA, plan_publication
from tpch_elt.publish.publication import last_published_batch, latest, publish, swapped_since_built
from tpch_elt.publish.segments import Publication
from tpch_elt.settings import Settings
from tpch_elt.transform.dbt import (
    common_dbt_args,
    dbt_environment,
    invoke,
    parsed_manifest,
    write_sources_json,
)
from tpch_elt.warehouse.connection import connect, table_exists
from tpch_elt.warehouse.lock import warehouse_lock
from tpch_elt.warehouse.watermarks import processed

# Skipped by incremental builds, run by first builds, full refreshes and
# `--full-tests`: models that re-aggregate all history (tag `daily`) and
# tests that must scan all history to mean anything (tag `full_history`).
INCREMENTAL_SKIPS = ("tag:daily", "tag:full_history")
# What an increment can change: batches bring orders and line items only
# (the other raw tables change only with `load`, which forces a full
# refresh), so an increment builds and tests their lineage and nothing
# else: the dimension views, partsupp and their tests are unchanged since
# the last audit. Used when the user gives no --select of their own.
INCREMENTAL_SELECT = ("source:tpch.orders+", "source:tpch.lineitem+")

# From this many raw line items (SF 8 and up) a build whose threads nobody
# chose runs one model at a time: each DuckDB query then has every core and
# the whole memory limit. Four at once shared it and spilled 27 GB of temp
# files at SF30, past the disk budget (bench/README.md); on smaller data four
# threads hide dbt's per-node overhead behind the queries.
ONE_MODEL_AT_A_TIME_LINES = 50_000_000

# Called as (finished, total, description) whenever a dbt node finishes.
NodeProgress = Callable[[int, int, str], None]
# Test statuses that count as audited: passed, or failed at warn severity.
AUDITED = ("pass", "warn")
# How many excluded tests the "not published" line names.
NAMED_TESTS = 10


@dataclass
class NodeFailure:
    unique_id: str
    resource_type: str
    status: str
    message: str
    compiled_path: str | None = None


@dataclass
class BuildSummary:
    """What one `tpch-elt build` did, for the summary table and exit code."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    freshness: Counter[str] = field(default_factory=Counter)
    failures: list[NodeFailure] = field(default_factory=list)
    plan: BuildPlan | None = None
    build_seconds: float = 0.0
    freshness_seconds: float = 0.0
    success: bool = True
    invocation_id: str | None = None
    # Write–audit–publish (tpch_elt.publish.publication): the snapshot this build
    # published, or, when it published nothing, the one readers still see.
    publication: Publication | None = None
    readers_see: Publication | None = None
    publish_seconds: float = 0.0
    # Set when a passing build published nothing: why, and how to publish.
    unpublished_reason: str | None = None
    publish_hint: str | None = None
    # Tests that audit the rebuilt marts but this build's selection left out.
    unaudited: list[str] = field(default_factory=list)

    def count(self, resource_type: str, status: str) -> int:
        return self.counts[(resource_type, status)]


@dataclass(frozen=True)
class BuildPlan:
    """What the warehouse says this build must do, decided before dbt runs."""

    # Set when raw was reloaded since the incremental models were built:
    # appending to them would mix two loads, so everything is rebuilt.
    full_refresh_reason: str | None
    # First batch whose rows are not yet audited: the first one this build
    # adds, or an earlier one a failed (unpublished) build processed.
    # Row-level tests look only at it and later ones. None: test all
    # history (first build, full refresh, --full-tests, nothing published).
    tests_from_batch: int | None


def plan_build(settings: Settings, *, full_refresh: bool, full_tests: bool) -> BuildPlan:
    """Fail early when there is nothing to build from; decide refresh and test scope."""
    if not settings.embedded:
        return BuildPlan(None, None)
    with connect(settings.warehouse_path, read_only=True) as con:
        if not table_exists(con, RAW_SCHEMA, "orders"):
            raise PipelineError(
                f"warehouse {settings.warehouse_path} has no raw.orders table: "
                "run `tpch-elt load` (or `tpch-elt run`) first"
            )
        swapped = None if full_refresh else swapped_since_built(settings, con)
        built = None if full_refresh else processed(con)
        if swapped:
            return BuildPlan(swapped, None)
        if built is None:
            return BuildPlan(None, None)
        published, published_batch = last_published_batch(con)
        raw_initial = None
        if table_exists(con, RAW_SCHEMA, "_batches"):
            rows = con.execute(f"select loaded_at from {RAW_SCHEMA}._batches where batch_id = 0").fetchall()
            raw_initial = rows[0][0] if rows else None
    if raw_initial is not None and built.initial_loaded_at != raw_initial:
        return BuildPlan("raw was reloaded since the last build", None)
    if full_tests or built.max_batch is None or not published or published_batch is None:
        return BuildPlan(None, None)
    # Batches a failed build processed were never published: audit them again.
    return BuildPlan(None, min(built.max_batch, published_batch) + 1)


class ProgressCallback:
    """Turns dbt's structured events into (finished, total, name) updates."""

    def __init__(self, on_node: NodeProgress | None) -> None:
        self.on_node = on_node
        self.total = 0
        self.finished = 0

    def __call__(self, event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine":
            self.total = max(self.total, int(getattr(event.data, "total", 0) or 0))
        elif name == "NodeFinished" and self.on_node is not None:
            self.finished += 1
            node = event.data.node_info
            self.on_node(self.finished, max(self.total, self.finished), node.node_name)


def build(
    settings: Settings,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    full_refresh: bool = False,
    full_tests: bool = False,
    dbt_vars: str | None = None,
    freshness: bool = True,
    on_node: NodeProgress | None = None,
    publish_marts: bool = True,
) -> BuildSummary:
    """Run `dbt build` (models, tests, unit tests), `dbt source freshness`, then publish.

    Incremental runs test only the rows of the batches they add (plus the
    cheap table-level invariants); `full_tests` sweeps all history. The
    marts are published only when the build and the freshness check passed
    and every test that audits them ran (see `_publish_if_audited`);
    `publish_marts` False never publishes.
    """
    args = (settings, select, exclude, full_refresh, full_tests, dbt_vars, freshness, on_node, publish_marts)
    if not settings.embedded:
        return _build(*args)
    with warehouse_lock(settings.warehouse_path, "build"):
        return _build(*args)


def _build(
    settings: Settings,
    select: Sequence[str],
    exclude: Sequence[str],
    full_refresh: bool,
    full_tests: bool,
    dbt_vars: str | None,
    freshness: bool,
    on_node: NodeProgress | None,
    publish_marts: bool,
) -> BuildSummary:
    plan = plan_build(settings, full_refresh=full_refresh, full_tests=full_tests)
    settings = sized_threads(settings)
    summary = BuildSummary(plan=plan)
    full_refresh = full_refresh or bool(plan.full_refresh_reason)
    planned = _planned_selection(plan, dbt_vars)
    args = ["build", *common_dbt_args(settings), "--quiet"]
    if dbt_vars:
        args += ["--vars", dbt_vars]
    for selector in list(select) or list(planned.select):
        args += ["--select", selector]
    for selector in [*exclude, *planned.exclude]:
        args += ["--exclude", selector]
    if full_refresh:
        args.append("--full-refresh")
    env = settings.dbt_env()
    env["TPCH_ELT_TESTS_FROM_BATCH"] = "" if plan.tests_from_batch is None else str(plan.tests_from_batch)

    with dbt_environment(env):
        started = time.perf_counter()
        manifest = parsed_manifest(settings, dbt_vars)
        with build_profiles(settings) as profiles:  # cost per model (observability.cost)
            result = invoke(args, [ProgressCallback(on_node)], manifest=manifest)
        summary.build_seconds = time.perf_counter() - started
        if result.exception is not None and result.result is None:
            raise PipelineError(f"dbt build could not run: {result.exception}")
        collect_build(summary, result.result)
        summary.success = bool(result.success)
        summary.invocation_id = _invocation_id(result)
        record_dbt_invocation(settings, result)  # observability; warns, never raises
        record_model_costs(settings, result, summary.invocation_id, profiles)  # the same
        if freshness:
            _check_freshness(settings, summary, select, dbt_vars, manifest)
        # Publish last: a source that fails its freshness check (error
        # severity) fails the build, and a failed build publishes nothing.
        if settings.embedded:
            started = time.perf_counter()
            if publish_marts:
                _publish_if_audited(
                    settings,
                    summary,
                    result.result,
                    audit=planned if select or exclude else None,
                    full_refresh=full_refresh,
                    restriction=" ".join(
                        [f"--select {s}" for s in select] + [f"--exclude {s}" for s in exclude]
                    ),
                )
            else:
                summary.readers_see = latest(settings)
                if summary.success:
                    summary.unpublished_reason = "--no-publish was given"
                    summary.publish_hint = "run `tpch-elt build` without --no-publish to publish"
            summary.publish_seconds = time.perf_counter() - started
    return summary


def sized_threads(settings: Settings) -> Settings:
    """`settings` with one dbt thread when nobody chose the threads and raw
    holds ONE_MODEL_AT_A_TIME_LINES line items or more; else unchanged."""
    if settings.threads_chosen or not settings.embedded or settings.threads == 1:
        return settings
    with connect(settings.warehouse_path, read_only=True) as con:
        rows = con.execute(
            "select estimated_size from duckdb_tables() "
            f"where schema_name = '{RAW_SCHEMA}' and table_name = 'lineitem'"
        ).fetchall()
    if rows and rows[0][0] >= ONE_MODEL_AT_A_TIME_LINES:
        return replace(settings, threads=1)
    return settings


def _planned_selection(plan: BuildPlan, dbt_vars: str | None) -> _Selection:
    """What the plan itself runs when the user restricts nothing: the audit every published mart needs."""
    if plan.tests_from_batch is None:
        return _Selection((), (), dbt_vars)
    # The 4-hourly increment: history-wide aggregates and sweeps wait for
    # the daily `--full-tests` run (see README, "Incremental loading").
    return _Selection(tuple(INCREMENTAL_SELECT), tuple(INCREMENTAL_SKIPS), dbt_vars)


def _check_freshness(
    settings: Settings, summary: BuildSummary, select: Sequence[str], dbt_vars: str | None, manifest: Any
) -> None:
    """`dbt source freshness` (of the selected sources, if the user selected any) into the summary.

    With --no-write-json, so that dbt does not serialize the build's 4 MB
    manifest.json a second time; sources.json is written here instead.
    """
    args = ["source", "freshness", *common_dbt_args(settings), "--quiet", "--no-write-json"]
    if dbt_vars:
        args += ["--vars", dbt_vars]
    args += [arg for selector in select if selector.startswith("source:") for arg in ("--select", selector)]
    started = time.perf_counter()
    fresh = invoke(args, manifest=manifest)
    summary.freshness_seconds = time.perf_counter() - started
    if fresh.exception is not None and fresh.result is None:
        raise PipelineError(f"dbt source freshness could not run: {fresh.exception}")
    write_sources_json(settings.dbt_target_dir, fresh.result)
    record_dbt_invocation(settings, fresh)
    for item in getattr(fresh.result, "results", []) or []:
        status = str(getattr(item.status, "value", item.status))
        summary.freshness[status] += 1
        if status == "error":
            message = (
                f"source {item.node.source_name}.{item.node.name} is stale "
                f"(last load {getattr(item, 'max_loaded_at', 'unknown')})"
            )
            summary.failures.append(NodeFailure(item.node.unique_id, "source", status, message))
        elif status == "runtime error":
            message = str(getattr(item, "message", ""))
            summary.failures.append(NodeFailure(item.node.unique_id, "source", status, message))
    summary.success = summary.success and bool(fresh.success)


def _invocation_id(result: Any) -> str | None:
    try:
        return str(artifact_from_result(result)["metadata"]["invocation_id"])
    except Exception:
        return None


@dataclass(frozen=True)
class _Selection:
    """The selectors (and vars) the build plan gives dbt when the user restricts nothing."""

    select: tuple[str, ...]
    exclude: tuple[str, ...]
    dbt_vars: str | None


def _publish_if_audited(
    settings: Settings,
    summary: BuildSummary,
    execution: Any,
    *,
    audit: _Selection | None,
    full_refresh: bool,
    restriction: str = "",
) -> None:
    """Publish the marts when every model, error-severity test and freshness check passed.

    `audit`: set when the user restricted the build (--select/--exclude):
    the selection the plan runs without restrictions. Then the marts are
    published only if every test of that selection which depends on a
    rebuilt mart or on anything upstream of it ran and passed; otherwise
    nothing is published and the summary names the tests left out.
    """
    if not summary.success:
        summary.readers_see = latest(settings)
        return
    plan = plan_publication(
        item.node.to_dict()
        for item in getattr(execution, "results", []) or []
        if str(getattr(item.status, "value", item.status)) == "success"
    )
    rebuilt = set(plan.rebuilt)
    current = latest(settings)
    if not rebuilt and current is not None:
        summary.readers_see = current  # no mart changed: nothing to publish
        return
    if audit is not None:
        # Nothing published yet: publishing writes every mart in the warehouse.
        try:
            summary.unaudited = _unaudited_tests(settings, execution, rebuilt if current else None, audit)
        except (PipelineError, OSError, ValueError, KeyError) as exc:
            summary.readers_see = current
            summary.unpublished_reason = (
                f"could not check that this restricted build ran every test of the marts it rebuilt ({exc})"
            )
            summary.publish_hint = "run `tpch-elt build` without --select/--exclude to publish"
            return
        if summary.unaudited:
            summary.readers_see = current
            named = ", ".join(summary.unaudited[:NAMED_TESTS])
            more = len(summary.unaudited) - NAMED_TESTS
            summary.unpublished_reason = (
                f"the selection ({restriction}) left out {len(summary.unaudited)} test(s) "
                f"that audit the marts it rebuilt: {named}" + (f" and {more} more" if more > 0 else "")
            )
            summary.publish_hint = "run `tpch-elt build` without --select/--exclude to publish"
            return
    summary.publication = publish(
        settings,
        rebuilt=rebuilt,
        invocation_id=summary.invocation_id,
        audited_all_batches=audit is None,
        full_refresh=full_refresh,
        keys=plan.keys,
    )
    summary.readers_see = summary.publication


def _unaudited_tests(
    settings: Settings, execution: Any, marts: set[str] | None, audit: _Selection
) -> list[str]:
    """Tests of `marts` (None: all) and their lineage that the full build runs but this one did not pass.

    "Upstream" is every model, seed, snapshot and source a mart is built
    from (dbt's parent map); a test counts when any node it depends on is
    in that lineage. The plan's own exclusions (`tag:daily`,
    `tag:full_history` on an increment) are not part of the audit, exactly
    as in an unrestricted build.
    """
    manifest = read_json(settings.dbt_target_dir / "manifest.json")
    parents: dict[str, list[str]] = manifest["parent_map"]
    lineage = {
        uid
        for uid, node in manifest["nodes"].items()
        if node.get("resource_type") == "model"
        and node.get("schema") == MART_SCHEMA
        and (marts is None or node.get("name") in marts)
    }
    pending = list(lineage)
    while pending:
        for parent in parents.get(pending.pop(), ()):
            if parent not in lineage:
                lineage.add(parent)
                pending.append(parent)
    args = ["ls", *common_dbt_args(settings, threads=False), "--log-level", "none", "--output", "json"]
    args += ["--output-keys", "unique_id", "--resource-type", "test", "--resource-type", "unit_test"]
    if audit.dbt_vars:
        args += ["--vars", audit.dbt_vars]
    for selector in audit.select:
        args += ["--select", selector]
    for selector in audit.exclude:
        args += ["--exclude", selector]
    listed = invoke(args, manifest=parsed_manifest(settings, audit.dbt_vars))
    if not listed.success or listed.result is None:
        raise PipelineError(f"dbt ls failed: {listed.exception or 'see the dbt log'}")
    planned = {str(json.loads(line)["unique_id"]) for line in listed.result}
    audited = {
        item.node.unique_id
        for item in getattr(execution, "results", []) or []
        if str(getattr(item.status, "value", item.status)) in AUDITED
    }
    missing = [uid for uid in planned if uid not in audited and not lineage.isdisjoint(parents.get(uid, ()))]
    depths: dict[str, int] = {}

    def depth(uid: str) -> int:  # 0 for a source, 1 + the deepest parent otherwise
        if uid not in depths:
            depths[uid] = 0  # (dbt's graph is acyclic; this only guards the recursion)
            depths[uid] = max((1 + depth(p) for p in parents.get(uid, ())), default=0)
        return depths[uid]

    # Named upstream first (source and staging tests, then the marts'), without dbt's hash.
    nodes = {**manifest["nodes"], **(manifest.get("unit_tests") or {})}
    ordered = sorted(missing, key=lambda uid: (depth(uid), uid))
    return [str(nodes.get(uid, {}).get("name") or uid) for uid in ordered]


def collect_build(summary: BuildSummary, execution: Any) -> None:
    for item in getattr(execution, "results", []) or []:
        node = item.node
        resource_type = str(getattr(node.resource_type, "value", node.resource_type))
        status = str(getattr(item.status, "value", item.status))
        summary.counts[(resource_type, status)] += 1
        if status in ("error", "fail", "runtime error"):
            compiled = getattr(node, "compiled_path", None)
            message = item.message or ""
            if status == "fail" and item.failures is not None:
                message = f"{item.failures} failing row(s)"
            summary.failures.append(NodeFailure(node.unique_id, resource_type, status, message, compiled))
