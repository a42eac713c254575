"""Helpers shared by the Airflow tests: the stack module, ports, environments."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

from tpch_elt.orchestration import DAG_ID as DAG_ID
from tpch_elt.orchestration import WAREHOUSE_POOL as WAREHOUSE_POOL
from tpch_elt.orchestration.graph import LAYERS

REPO_ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = REPO_ROOT / "airflow" / "dags" / "pipelines.py"
PIPELINES_FILE = REPO_ROOT / "airflow" / "pipelines.yml"
STACK_FILE = REPO_ROOT / "airflow" / "stack.py"
# The warehouse the DAG runs on in the tests: SF 0.01, three arrival batches pending.
SCALE_FACTOR = "0.01"
BATCHES = 3


@cache
def stack() -> ModuleType:
    """airflow/stack.py, the module `make airflow` and the containers run."""
    spec = importlib.util.spec_from_file_location("tpch_airflow_stack", STACK_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def quiet_env() -> dict[str, str]:
    """This process's environment without the project's own settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("TPCH_ELT_", "AIRFLOW"))}
    env.update({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "NO_COLOR": "1"})
    return env


def manifest_nodes(manifest: Path) -> tuple[dict, dict]:
    data = json.loads(manifest.read_text())
    return data["nodes"], data.get("unit_tests", {})


def models_by_layer(manifest: Path) -> dict[str, list[str]]:
    nodes, _ = manifest_nodes(manifest)
    layers: dict[str, list[str]] = {layer: [] for layer in LAYERS}
    for node in nodes.values():
        if node["resource_type"] == "model":
            layers[Path(node["original_file_path"]).parts[1]].append(node["name"])
    return layers
