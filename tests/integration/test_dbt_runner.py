"""The one dbt runner's shared manifest (tpch_elt.transform.dbt.parsed_manifest), with real dbt parses.

A build, its freshness check, its audit and every increment of a run use
one parsed manifest; it must be parsed again when the project changes or
when other `--vars` are given, never served stale.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tpch_elt.settings import Settings
from tpch_elt.transform.dbt import dbt_environment, parsed_manifest

REPO = Path(__file__).resolve().parents[2]


def test_the_manifest_is_parsed_once_and_again_after_a_change(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    shutil.copytree(
        REPO / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    settings = Settings(data_dir=tmp_path / "data", project_dir=project)
    with dbt_environment(settings.dbt_env()):
        first = parsed_manifest(settings)
        assert first is not None and "model.tpch_elt.mart_orders" in first.nodes
        assert id(parsed_manifest(settings)) == id(first), "the same project and vars: no second parse"

        model = project / "models" / "mart" / "core" / "mart_orders.sql"
        model.write_text(model.read_text() + "\n-- a change\n")
        changed = parsed_manifest(settings)
        assert changed is not None and id(changed) != id(first), "a changed model file is parsed again"
        assert "-- a change" in changed.nodes["model.tpch_elt.mart_orders"].raw_code

        other_vars = parsed_manifest(settings, '{"lineitem_increment": "anti_join"}')
        assert other_vars is not None and id(other_vars) != id(changed), "other --vars are parsed again"
