"""What the DAG reads off dbt's graph: each node's layer, and the tests no single model's task runs."""

from __future__ import annotations

from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

LAYERS = ("staging", "intermediate", "mart")


def layer_of(node: dict[str, Any]) -> str | None:
    """`staging`, `intermediate` or `mart`: the folder under models/ a node's file is in."""
    parts = Path(node.get("original_file_path", "")).parts
    return parts[1] if len(parts) > 2 and parts[0] == "models" and parts[1] in LAYERS else None


def cross_model_tests(nodes: dict[str, Any]) -> dict[str, list[str]]:
    """Per layer, the data tests no single model's build task runs.

    A model's build task selects the model with `--indirect-selection
    buildable`: it runs a test when every other node the test reads is an
    ancestor of the model. A test on two models neither of which depends on
    the other fits no task; it belongs after its latest layer.
    """
    parents = {
        uid: node["depends_on"]["nodes"] for uid, node in nodes.items() if node["resource_type"] == "model"
    }

    @cache
    def ancestors(uid: str) -> frozenset[str]:
        found: set[str] = set()
        for parent in parents.get(uid, ()):
            found |= {parent} | ancestors(parent)
        return frozenset(found)

    by_layer: dict[str, list[str]] = defaultdict(list)
    for node in nodes.values():
        if node["resource_type"] != "test":
            continue
        reads = set(node["depends_on"]["nodes"])
        models = [uid for uid in reads if uid in parents]
        if not models or any(reads - {uid} <= ancestors(uid) for uid in models):
            continue
        layers = [layer for layer in (layer_of(nodes[uid]) for uid in models) if layer is not None]
        if layers:
            by_layer[max(layers, key=LAYERS.index)].append(node["name"])
    return {layer: sorted(names) for layer, names in by_layer.items()}
