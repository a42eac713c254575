"""Which marts a build rebuilt, and so what a publication writes: decided once, for the CLI and the DAG.

`tpch-elt build` asks with the models its `dbt build` ran successfully; the
DAG's `publish` task, reached only when every dbt task passed, asks with
the manifest's models minus those its build plan excluded by tag. Both
pass model nodes in the shape of dbt's manifest (`name`, `resource_type`,
`schema`, `tags`, `config.materialized`, `config.unique_key`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# The schema whose models are published (and that readers see).
MART_SCHEMA = "mart"


@dataclass(frozen=True)
class PublicationPlan:
    """The marts a build rebuilt, and which of them may be published as new rows only."""

    rebuilt: frozenset[str]
    # Incremental marts with a single unique key, by name: they may be
    # published as a new segment of the rows the build added.
    keys: Mapping[str, str] = field(default_factory=dict)


def excluded_tags(selectors: Iterable[str]) -> frozenset[str]:
    """The tags a build's `--exclude tag:...` selectors leave out (other selectors are ignored)."""
    return frozenset(s.removeprefix("tag:") for s in selectors if s.startswith("tag:"))


def plan_publication(
    models: Iterable[Mapping[str, Any]], *, skipped_tags: Iterable[str] = ()
) -> PublicationPlan:
    """The marts among `models` (dbt nodes the build ran) that no skipped tag left out."""
    skipped = frozenset(skipped_tags)
    marts = [
        node
        for node in models
        if node.get("resource_type") == "model"
        and node.get("schema") == MART_SCHEMA
        and skipped.isdisjoint(node.get("tags") or ())
    ]
    keys = {
        str(node["name"]): node["config"]["unique_key"]
        for node in marts
        if node["config"].get("materialized") == "incremental"
        and isinstance(node["config"].get("unique_key"), str)
    }
    return PublicationPlan(frozenset(str(node["name"]) for node in marts), keys)
