"""dbt's artifacts as observability reads them: run results, freshness results and the manifest.

The results of an in-process dbt invocation come from its in-memory
result, converted by dbt's own artifact classes into exactly what it
writes to `target/` (so a concurrent dbt process that rewrites
`target/run_results.json` cannot mix its run into ours); the manifest is
read from `target/manifest.json`. Artifacts of runs made elsewhere are read
from their target directory.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpch_elt.errors import PipelineError

# -- artifacts -----------------------------------------------------------------


def artifact_from_result(dbt_result: Any) -> dict[str, Any]:
    """The run_results.json / sources.json dict of an in-process dbt invocation.

    Built with dbt's own artifact classes from the runner's result, so it is
    exactly what dbt writes to `target/`, minus the race with any other dbt
    process writing there at the same time.
    """
    result = getattr(dbt_result, "result", None)
    if result is None:
        raise PipelineError("dbt returned no result to record")
    from dbt.artifacts.schemas.freshness import FreshnessExecutionResultArtifact, FreshnessResult
    from dbt.artifacts.schemas.run import RunExecutionResult, RunResultsArtifact

    if isinstance(result, RunExecutionResult):
        artifact = RunResultsArtifact.from_execution_results(
            results=result.results,
            elapsed_time=result.elapsed_time,
            generated_at=result.generated_at,
            args=result.args,
        )
    elif isinstance(result, FreshnessResult):
        artifact = FreshnessExecutionResultArtifact.from_result(result)
    else:
        raise PipelineError(f"cannot record a dbt result of type {type(result).__name__}")
    data: dict[str, Any] = artifact.to_dict(omit_none=False)
    return data


def read_json(path: Path, attempts: int = 3) -> dict[str, Any]:
    """Read a dbt artifact; retries briefly if a concurrent dbt is rewriting it."""
    for attempt in range(attempts):
        try:
            data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return data
        except FileNotFoundError:
            raise PipelineError(
                f"dbt artifact {path} is missing: run `tpch-elt build` (or dbt) first"
            ) from None
        except json.JSONDecodeError as exc:
            if attempt == attempts - 1:
                raise PipelineError(
                    f"dbt artifact {path} is not valid JSON ({exc.msg}): another dbt run may be "
                    "writing it; retry when it has finished"
                ) from exc
            time.sleep(0.2)
    raise AssertionError("unreachable")


def artifacts_in(directory: Path) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """run_results.json and sources.json found in a dbt target directory, and its manifest."""
    if not directory.is_dir():
        raise PipelineError(f"dbt artifacts directory {directory} does not exist: pass dbt's target path")
    found = [
        read_json(directory / name)
        for name in ("run_results.json", "sources.json")
        if (directory / name).is_file()
    ]
    if not found:
        raise PipelineError(
            f"{directory} has neither run_results.json nor sources.json: pass the target "
            "directory of a finished dbt invocation"
        )
    manifest_path = directory / "manifest.json"
    return found, (read_json(manifest_path) if manifest_path.is_file() else None)


# -- the manifest ------------------------------------------------------------------


@dataclass(frozen=True)
class Relation:
    """A source or model table in the warehouse, as the manifest names it."""

    unique_id: str
    resource_type: str
    relation: str  # schema.name
    materialized: str | None


class Manifest:
    """The parts of dbt's manifest.json (v12) observability needs."""

    def __init__(self, data: Mapping[str, Any] | None) -> None:
        self.data = data or {}
        self.nodes: Mapping[str, Any] = self.data.get("nodes") or {}
        self.sources: Mapping[str, Any] = self.data.get("sources") or {}
        self.exposures: Mapping[str, Any] = self.data.get("exposures") or {}
        self.unit_tests: Mapping[str, Any] = self.data.get("unit_tests") or {}

    def node(self, unique_id: str) -> Mapping[str, Any]:
        return (
            self.nodes.get(unique_id) or self.sources.get(unique_id) or self.unit_tests.get(unique_id) or {}
        )

    def relations(self) -> list[Relation]:
        out = []
        for uid, source in self.sources.items():
            if (source.get("config") or {}).get("enabled", True):
                name = source.get("identifier") or source.get("name")
                out.append(Relation(uid, "source", f"{source['schema']}.{name}", None))
        for uid, node in self.nodes.items():
            config = node.get("config") or {}
            if node.get("resource_type") in ("model", "seed", "snapshot") and config.get("enabled", True):
                name = node.get("alias") or node.get("name")
                out.append(
                    Relation(
                        uid, node["resource_type"], f"{node['schema']}.{name}", config.get("materialized")
                    )
                )
        return out


def _meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Effective meta of a node or source: source-level < config < own."""
    merged: dict[str, Any] = {}
    for part in (
        resource.get("source_meta"),
        (resource.get("config") or {}).get("meta"),
        resource.get("meta"),
    ):
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def _column_meta(column: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for part in ((column.get("config") or {}).get("meta"), column.get("meta")):
        if isinstance(part, Mapping):
            merged.update(part)
    return merged


def anomaly_meta(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The raw anomaly settings of a node: {'defaults', 'own', 'columns'}."""
    meta = _meta(resource)
    columns = {
        name: _column_meta(column).get("anomaly")
        for name, column in (resource.get("columns") or {}).items()
        if _column_meta(column).get("anomaly") is not None
    }
    return {
        "defaults": meta.get("anomaly_defaults") or {},
        "own": meta.get("anomaly") if meta.get("anomaly") is not None else {},
        "columns": columns,
    }


def _layer(resource: Mapping[str, Any]) -> str:
    kind = resource.get("resource_type")
    if kind in ("source", "exposure"):
        return str(kind)
    fqn = resource.get("fqn") or []
    return str(fqn[1]) if len(fqn) > 2 else str(kind or "other")


def manifest_rows(invocation_id: str, manifest: Manifest) -> list[tuple[Any, ...]]:
    """Sources, models and exposures with lineage, docs and test coverage."""
    tests: dict[str, int] = {}
    tested_columns: dict[str, set[str]] = {}
    for node in manifest.nodes.values():
        if node.get("resource_type") != "test":
            continue
        depends = (node.get("depends_on") or {}).get("nodes") or []
        attached = node.get("attached_node")
        for uid in [attached] if attached else depends:
            tests[uid] = tests.get(uid, 0) + 1
        if attached and node.get("column_name"):
            tested_columns.setdefault(attached, set()).add(str(node["column_name"]))
    unit_tests: dict[str, int] = {}
    for unit in manifest.unit_tests.values():
        for uid in (unit.get("depends_on") or {}).get("nodes") or []:
            if uid.startswith("model."):
                unit_tests[uid] = unit_tests.get(uid, 0) + 1
    rows: list[tuple[Any, ...]] = []
    resources = [
        *manifest.sources.values(),
        *(n for n in manifest.nodes.values() if n.get("resource_type") in ("model", "seed", "snapshot")),
        *manifest.exposures.values(),
    ]
    for resource in resources:
        uid = resource["unique_id"]
        kind = resource.get("resource_type")
        if kind == "exposure":
            relation = None
        else:
            name = resource.get("identifier") or resource.get("alias") or resource.get("name")
            relation = f"{resource.get('schema')}.{name}"
        columns = resource.get("columns") or {}
        documented = sorted(n for n, c in columns.items() if (c.get("description") or "").strip())
        rows.append(
            (
                invocation_id,
                uid,
                kind,
                resource.get("name"),
                relation,
                _layer(resource),
                (resource.get("config") or {}).get("materialized"),
                (resource.get("description") or "").strip()[:500],
                json.dumps(sorted(columns)),
                json.dumps(documented),
                json.dumps(sorted(tested_columns.get(uid, set()))),
                tests.get(uid, 0),
                unit_tests.get(uid, 0),
                json.dumps((resource.get("depends_on") or {}).get("nodes") or []),
                json.dumps(anomaly_meta(resource), default=str),
            )
        )
    return rows
