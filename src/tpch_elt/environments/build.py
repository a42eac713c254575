"""`tpch-elt env build NAME`: build what changed against prod, audit it, publish it into NAME's catalog.

1. prod's live publication is the base: its manifest (kept with it in the
   store) is dbt's `--state`, and prod's warehouse, attached read-only,
   holds the relations it describes. The build refuses when prod's
   warehouse has moved past its publication (a failed or running build,
   a promotion not yet rebuilt): deferring to it would read unaudited rows.
2. `dbt build --select state:modified+ --defer --favor-state` into NAME's
   own warehouse, emptied first: the models whose code or config differs
   from the base and everything downstream are built and tested over all
   history; every other `ref` (and every source) reads prod's.
3. Only if every model and error-severity test passed: the marts it
   rebuilt are written as new segments in the shared store, and NAME's
   catalog names them plus prod's segments for every other mart
   (write–audit–publish, per environment). A failed build leaves NAME's
   catalog as it was and marks NAME unpromotable.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import duckdb

from tpch_elt.environments.registry import (
    EnvBuild,
    Environment,
    load,
    now,
    prod_live,
    save,
    store,
    who,
    write_env_catalog,
)
from tpch_elt.errors import PipelineError
from tpch_elt.publish.plan import MART_SCHEMA, plan_publication
from tpch_elt.publish.publication import last_publication_number
from tpch_elt.publish.segments import (
    Record,
    Segment,
    failure_reason,
    manifest_of,
    next_number,
    published_path,
    settled_records,
    write_mart,
    write_pin,
)
from tpch_elt.settings import ENVIRONMENT_TARGETS, Settings
from tpch_elt.transform.build import BuildSummary, NodeProgress, ProgressCallback, collect_build
from tpch_elt.transform.dbt import common_dbt_args, dbt_environment, invoke, parsed_manifest
from tpch_elt.warehouse.connection import connect
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.lock import warehouse_lock
from tpch_elt.warehouse.watermarks import processed

DEFAULT_SELECT = ("state:modified+",)


@dataclass
class EnvBuildResult:
    env: Environment
    summary: BuildSummary = field(default_factory=BuildSummary)
    selected: tuple[str, ...] = ()
    rebuilt: tuple[str, ...] = ()
    restricted: tuple[str, ...] = ()  # the user's --select/--exclude
    bytes_written: int = 0
    seconds: float = 0.0


def env_settings(settings: Settings, env: Environment) -> Settings:
    """The settings dbt runs with for `env`: its warehouse, its artifacts, and the dbt target
    `staging` for the environment of that name, `dev` for any other (profiles.yml)."""
    target = env.name if env.name in ENVIRONMENT_TARGETS else "dev"
    return replace(settings, data_dir=env.directory, warehouse=env.warehouse, target=target)


def build_environment(
    settings: Settings,
    name: str,
    *,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
    on_node: NodeProgress | None = None,
) -> EnvBuildResult:
    started = time.perf_counter()
    env = load(settings, name)
    if env.warehouse.stem == settings.warehouse_path.stem:
        raise PipelineError(
            f"environment {name!r} would share its dbt database name with prod's warehouse "
            f"{settings.warehouse_path}: choose another environment name"
        )
    with warehouse_lock(env.warehouse, f"build environment {name}"):
        # prod's lock too: its warehouse is attached (read-only) for the whole
        # build, and the store gets new segments.
        with warehouse_lock(settings.warehouse_path, f"build environment {name} (reads prod)"):
            live = prod_live(settings)
            _check_prod_warehouse(settings, live)
            result = _run_dbt(settings, env, live, select, exclude, on_node)
            if result.summary.success:
                _publish(settings, result, live)
            else:
                _record_failure(result, live)
    result.seconds = time.perf_counter() - started
    return result


def _check_prod_warehouse(settings: Settings, live: Record) -> None:
    """Refuse unless prod's warehouse holds exactly what its live publication was built from."""
    number = live.publication.number
    if live.event is not None:
        raise PipelineError(
            f"prod's catalog (publication {number}) came from a {live.event.get('kind', 'swap')}, "
            "so prod's warehouse does not hold what it names: run `tpch-elt build` (a full refresh) "
            "so prod publishes from its warehouse, then retry"
        )
    with connect(settings.warehouse_path, read_only=True) as con:
        newest = last_publication_number(con)
        built = processed(con)
    if newest is None:
        raise PipelineError(
            f"prod's warehouse {settings.warehouse_path} records no publication: run `tpch-elt build`, then retry"
        )
    if newest != number:
        raise PipelineError(
            f"prod's warehouse last published {newest}, its catalog is publication {number}: run "
            "`tpch-elt build` so they agree, then retry"
        )
    if built is not None and built.max_batch != live.publication.batch_id:
        raise PipelineError(
            f"prod's warehouse has processed batch {built.max_batch} but published only batch "
            f"{live.publication.batch_id} (its last build failed?): run `tpch-elt build` until it "
            "publishes, then retry (an environment never defers to unaudited rows)"
        )


def _run_dbt(
    settings: Settings,
    env: Environment,
    live: Record,
    select: Sequence[str],
    exclude: Sequence[str],
    on_node: NodeProgress | None,
) -> EnvBuildResult:
    base_manifest = manifest_of(store(settings), live.publication.number)
    if not base_manifest.is_file():
        raise PipelineError(
            f"prod's publication {live.publication.number} kept no dbt manifest (it was published before "
            "environments existed): run `tpch-elt build` so prod publishes with one, then retry"
        )
    state = env.directory / "state"
    state.mkdir(exist_ok=True)
    shutil.copyfile(base_manifest, state / "manifest.json")
    # Each build starts empty: what it does not rebuild comes from prod, never
    # from an earlier build of this environment on an older base.
    for stale in env.directory.glob(f"{env.warehouse.name}*"):
        if not stale.name.endswith(".lock"):
            stale.unlink(missing_ok=True)
    dbt_settings = env_settings(settings, env)
    prod_database = settings.warehouse_path.stem
    dbt_vars = json.dumps({"tpch_source_database": prod_database})
    args = ["build", *common_dbt_args(dbt_settings), "--quiet", "--vars", dbt_vars]
    for selector in list(select) or list(DEFAULT_SELECT):
        args += ["--select", selector]
    for selector in exclude:
        args += ["--exclude", selector]
    args += ["--state", str(state), "--defer", "--favor-state"]
    environ = dbt_settings.dbt_env()
    environ["TPCH_ELT_DEFER_WAREHOUSE"] = str(settings.warehouse_path)
    environ["TPCH_ELT_DEFER_DATABASE"] = prod_database
    environ["TPCH_ELT_TESTS_FROM_BATCH"] = ""  # a changed model is tested over all history
    result = EnvBuildResult(env)
    result.restricted = tuple([f"--select {s}" for s in select] + [f"--exclude {s}" for s in exclude])
    with dbt_environment(environ):
        started = time.perf_counter()
        manifest = parsed_manifest(dbt_settings, dbt_vars)
        outcome = invoke(args, [ProgressCallback(on_node)], manifest=manifest)
        result.summary.build_seconds = time.perf_counter() - started
    if outcome.exception is not None and outcome.result is None:
        raise PipelineError(f"dbt build of environment {env.name!r} could not run: {outcome.exception}")
    collect_build(result.summary, outcome.result)
    result.summary.success = bool(outcome.success)
    result.summary.invocation_id = _invocation_id(env)
    succeeded = [item.node.to_dict() for item in _results(outcome.result) if _status(item) == "success"]
    result.selected = tuple(sorted(str(n["name"]) for n in succeeded if n.get("resource_type") == "model"))
    result.rebuilt = tuple(sorted(plan_publication(succeeded).rebuilt))
    return result


def _results(execution: Any) -> list[Any]:
    return list(getattr(execution, "results", []) or [])


def _status(item: Any) -> str:
    return str(getattr(item.status, "value", item.status))


def _invocation_id(env: Environment) -> str | None:
    try:
        data = json.loads((env.target_dir / "run_results.json").read_text(encoding="utf-8"))
        return str(data["metadata"]["invocation_id"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _env_marts(env: Environment) -> set[str] | None:
    """The marts of the environment's code (its manifest), None if unreadable."""
    try:
        manifest = json.loads(env.manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return {
        str(node["name"])
        for node in manifest.get("nodes", {}).values()
        if node.get("resource_type") == "model" and node.get("schema") == MART_SCHEMA
    }


def _publish(settings: Settings, result: EnvBuildResult, live: Record) -> None:
    env = result.env
    shared = store(settings)
    records = settled_records(published_path(settings.warehouse_path), shared)
    number = next_number(shared, records, floor=live.publication.number)
    marts = _env_marts(env)
    segments: list[Segment] = []
    try:
        if result.rebuilt:  # nothing selected (no change): dbt created no warehouse, prod's marts stand
            with connect(env.warehouse, read_only=True) as con:
                for mart in result.rebuilt:
                    written, size = write_mart(con, shared, number, mart, [], None, True)
                    segments += written
                    result.bytes_written += size
            fsync(shared)
        rebuilt = set(result.rebuilt)
        segments += [s for s in live.segments if s.mart not in rebuilt and (marts is None or s.mart in marts)]
        # Pinned before the catalog names them, and the old ones until it no longer does.
        write_pin(shared, env.name, [*env.segments, *segments])
        build = _record(result, live, number, rebuilt=result.rebuilt)
        updated = replace(
            env,
            base=live.publication.number,
            batch_id=live.publication.batch_id,
            segments=tuple(sorted(segments, key=lambda s: (s.mart, s.path))),
            build=build,
        )
        write_env_catalog(settings, updated)
        save(updated)
        write_pin(shared, env.name, updated.segments)
    except (OSError, duckdb.Error) as exc:
        raise PipelineError(
            f"publishing environment {env.name!r} failed ({failure_reason(exc)}); its catalog is as before: "
            f"fix the cause and `tpch-elt env build {env.name}` again"
        ) from exc
    result.env = updated


def _record(
    result: EnvBuildResult,
    live: Record,
    number: int,
    *,
    rebuilt: tuple[str, ...],
    failures: tuple[str, ...] = (),
) -> EnvBuild:
    """The environment's record of this build (passed: no failure)."""
    return EnvBuild(
        number=number,
        built_at=now(),
        by=who(),
        base=live.publication.number,
        batch_id=live.publication.batch_id,
        passed=not failures,
        invocation_id=result.summary.invocation_id,
        selected=result.selected,
        rebuilt=rebuilt,
        failures=failures,
        restricted=result.restricted,
    )


def _record_failure(result: EnvBuildResult, live: Record) -> None:
    env = result.env
    failures = tuple(f"{f.unique_id} ({f.status})" for f in result.summary.failures) or ("dbt build failed",)
    number = env.build.number if env.build else live.publication.number
    result.env = replace(env, build=_record(result, live, number, rebuilt=(), failures=failures))
    save(result.env)
