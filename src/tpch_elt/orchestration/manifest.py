"""The dbt manifest the DAG renders from: where it is, whether it is stale, reading it.

`airflow/stack.py manifest` (and the image build) writes it with `dbt parse`
ahead of time, so parsing the DAG never runs dbt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from tpch_elt.transform.dbt import project_files

MANIFEST_ENV = "TPCH_ELT_DBT_MANIFEST"


def manifest_location(default: Path, environ: Mapping[str, str] | None = None) -> Path:
    """$TPCH_ELT_DBT_MANIFEST, else `default` (airflow/dbt_target/manifest.json in a clone)."""
    return Path((os.environ if environ is None else environ).get(MANIFEST_ENV) or default)


def manifest_path(default: Path) -> Path:
    """The manifest's location; a missing file is a one-line error saying how to make it."""
    path = manifest_location(default)
    if not path.is_file():
        raise FileNotFoundError(
            f"dbt manifest {path} is missing: run `python airflow/stack.py manifest` "
            "(or `make airflow`) to produce it with `dbt parse`"
        )
    return path


def manifest_is_stale(manifest: Path, project: Path) -> bool:
    """Missing, or older than a file of the dbt project."""
    if not manifest.is_file():
        return True
    built = manifest.stat().st_mtime
    return any(source.stat().st_mtime > built for source in project_files(project))


@cache
def read_manifest(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def manifest_nodes(path: Path) -> dict[str, Any]:
    nodes: dict[str, Any] = read_manifest(path)["nodes"]
    return nodes
