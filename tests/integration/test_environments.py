"""Environments end to end: create, change a model, build, diff, promote, roll back, and every refusal.

One data dir (a copy of the shared built template) and two changed copies
of the dbt project: `changed` redefines a daily mart's dissatisfied lines
(every ship mode's count changes), `broken` duplicates that mart's rows
(its unique test fails). The tests run in file order on one worker: the
later ones promote and roll back prod.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from testkit.cli import (
    REPO_ROOT,
    cli_env,
    copy_data_dir,
    one_line_error,
    run_cli,
    start_frozen,
    wait_until_frozen,
)

from tpch_elt.publish.segments import history, live_record, read_records

MART = "mart_shipping_modes"
DISSATISFIED_BEFORE = "when return_flag <> 'N' and (is_late or is_returned) then 1"
DISSATISFIED_AFTER = "when return_flag <> 'N' and is_returned then 1"


def _project(root: Path, name: str, old: str, new: str) -> Path:
    project = root / name
    shutil.copytree(
        REPO_ROOT / "dbt_project", project, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    model = project / "models" / "mart" / "insights" / f"{MART}.sql"
    text = model.read_text()
    assert old in text, f"{model} no longer contains {old!r}: update this test"
    model.write_text(text.replace(old, new))
    return project


class Env:
    """The module's data dir, its changed projects, and what the fixture saw before and after the build."""

    before: dict[str, int]  # prod's dissatisfied lines per ship mode, before any change
    files_before_build: set[Path]
    built: subprocess.CompletedProcess[str]

    def __init__(self, root: Path, data_dir: Path) -> None:
        self.root = root
        self.data_dir = data_dir
        self.warehouse = data_dir / "warehouse.duckdb"
        self.catalog = data_dir / "warehouse.published.duckdb"
        self.store = data_dir / "warehouse.published"
        self.changed = _project(root, "changed", DISSATISFIED_BEFORE, DISSATISFIED_AFTER)
        self.broken = _project(
            root, "broken", "select * from final", "select * from final union all select * from final"
        )

    def cli(
        self, *args: str, project: Path | None = None, check: bool = False, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        if project:
            extra["TPCH_ELT_PROJECT_DIR"] = str(project)
        return run_cli("--data-dir", str(self.data_dir), *args, check=check, **extra)

    def dissatisfied(self, catalog: Path) -> dict[str, int]:
        with duckdb.connect(str(catalog), read_only=True) as con:
            rows = con.execute(f"select ship_mode, dissatisfied_line_count from mart.{MART}").fetchall()
        return {mode: int(count) for mode, count in rows}

    def parquet_files(self) -> set[Path]:
        return set(self.store.glob("*/*.parquet"))


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, built_template: Path) -> Env:
    root = tmp_path_factory.mktemp("environments")
    state = Env(root, copy_data_dir(built_template, root / "data"))
    state.before = state.dissatisfied(state.catalog)
    state.cli("env", "create", "dev", check=True)
    state.files_before_build = state.parquet_files()
    state.built = state.cli("env", "build", "dev", project=state.changed, check=True)
    return state


def test_create_writes_no_parquet_and_its_catalog_reads_like_prods(env: Env) -> None:
    files = env.parquet_files()
    created = env.cli("env", "create", "staging", check=True)
    assert "0 bytes of Parquet written" in created.stdout
    assert env.parquet_files() == files
    catalog = env.data_dir / "environments" / "staging" / "catalog.duckdb"
    assert env.dissatisfied(catalog) == env.before
    # the repository's own code: nothing differs from prod's publication, nothing is rebuilt
    unchanged = env.cli("env", "build", "staging", check=True)
    assert "0 model(s) rebuilt, marts republished: none" in " ".join(unchanged.stdout.split())
    assert env.parquet_files() == files
    assert env.dissatisfied(catalog) == env.before
    again = env.cli("env", "create", "staging")
    assert again.returncode == 1 and "exists" in one_line_error(again.stderr)
    bad = env.cli("env", "create", "Bad-Name")
    assert bad.returncode == 1 and "not valid" in one_line_error(bad.stderr)


def test_build_rebuilds_the_changed_mart_only_and_publishes_it_in_the_environment(env: Env) -> None:
    assert f"marts republished: {MART};" in " ".join(env.built.stdout.split())
    new_files = env.parquet_files() - env.files_before_build
    assert {path.parent.name for path in new_files} == {MART}
    after = env.dissatisfied(env.data_dir / "environments" / "dev" / "catalog.duckdb")
    assert set(after) == set(env.before)
    assert all(after[mode] < env.before[mode] for mode in after)
    assert env.dissatisfied(env.catalog) == env.before  # prod untouched


def test_diff_names_the_changed_rows_and_columns_by_key(env: Env) -> None:
    proc = env.cli("env", "diff", "dev", check=True)
    report = json.loads((env.data_dir / "environments" / "dev" / "diff-prod.json").read_text())
    differing = {m["mart"]: m for m in report["marts"] if m["status"] not in ("unchanged", "identical")}
    assert set(differing) == {MART}
    mart = differing[MART]
    assert mart["key"] == ["ship_mode"]
    assert (mart["added"], mart["removed"], mart["changed"]) == (0, 0, len(env.before))
    columns = {c["column"]: c for c in mart["columns"]}
    assert columns["dissatisfied_line_count"]["changed"] == len(env.before)
    sample = columns["dissatisfied_line_count"]["samples"][0]
    assert int(float(sample["before"])) == env.before[sample["key"]]
    assert "line_count" not in columns  # unchanged columns are not listed
    assert any(
        m["column"] == "net_revenue" and m["difference"] in ("0", "0.00", "0.0000") for m in mart["money"]
    )
    assert "dissatisfied_line_count" in proc.stdout
    html = (env.data_dir / "environments" / "dev" / "diff-prod.html").read_text()
    assert MART in html and "http://" not in html and "https://" not in html and "<script" not in html


def test_the_pull_request_job_builds_the_change_as_an_environment_and_posts_its_diff(env: Env) -> None:
    """`make ci-env` as the workflow runs it (.ci/environments.py pr), on this prod packed as main's state."""
    sys.path.insert(0, str(REPO_ROOT / ".ci"))
    try:
        import environments as ci
    finally:
        sys.path.remove(str(REPO_ROOT / ".ci"))
    state = env.root / "ci-state"
    ci.pack(env.data_dir, state)
    summary = env.root / "summary.md"
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / ".ci" / "environments.py"), "pr", "--state", str(state)],
        env=cli_env(
            CI_DATA_DIR=str(env.root / "ci"),
            GITHUB_STEP_SUMMARY=str(summary),
            TPCH_ELT_PROJECT_DIR=str(env.changed),
        ),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    posted = summary.read_text()
    assert "Environment `pr` against prod" in posted and "1 of 15 marts differ" in posted
    assert "mart\\_shipping\\_modes" in posted
    diff = json.loads((env.root / "ci" / "diff" / "diff-prod.json").read_text())
    assert [m["mart"] for m in diff["marts"] if m["status"] == "changed"] == [MART]
    assert (env.root / "ci" / "diff" / "diff-prod.html").is_file()


def test_a_build_that_fails_its_audit_cannot_be_promoted(env: Env) -> None:
    env.cli("env", "create", "broken", check=True)
    files = env.parquet_files()
    failed = env.cli("env", "build", "broken", project=env.broken)
    assert failed.returncode == 1
    assert "not published" in failed.stderr
    assert env.parquet_files() == files
    refused = env.cli("env", "promote", "broken")
    assert refused.returncode == 1
    assert "failed its audit" in one_line_error(refused.stderr)
    missing = env.cli("env", "promote", "nosuch")
    assert missing.returncode == 1 and "no environment 'nosuch'" in one_line_error(missing.stderr)


def test_a_second_promotion_is_refused_and_a_killed_one_leaves_prod_whole(env: Env) -> None:
    records_before = len(read_records(env.store))
    frozen, marker = start_frozen(
        env.data_dir, "swap:record", "--data-dir", str(env.data_dir), "env", "promote", "dev"
    )
    wait_until_frozen(marker, frozen, timeout=120)
    # mid-swap: the new catalog and its record are written, not renamed in
    second = env.cli("env", "promote", "dev")
    assert second.returncode == 1
    assert "busy" in one_line_error(second.stderr)
    assert env.dissatisfied(env.catalog) == env.before
    os.killpg(frozen.pid, signal.SIGKILL)
    frozen.communicate(timeout=60)
    assert frozen.returncode == -signal.SIGKILL
    assert len(read_records(env.store)) == records_before + 1  # the dead promotion's record
    assert env.dissatisfied(env.catalog) == env.before
    live = live_record(env.catalog, env.store)
    assert live is not None and live.event is None  # prod is still its own build's catalog


def test_promote_then_rollback_swap_what_readers_see(env: Env) -> None:
    after = env.dissatisfied(env.data_dir / "environments" / "dev" / "catalog.duckdb")
    files = env.parquet_files()
    promoted = env.cli("env", "promote", "dev", check=True, TPCH_ELT_USER="release-bot")
    assert "0 bytes of Parquet written" in promoted.stdout
    assert env.parquet_files() == files
    assert env.dissatisfied(env.catalog) == after
    live = live_record(env.catalog, env.store)
    assert live is not None and live.event is not None
    assert live.event["kind"] == "promote" and live.event["environment"] == "dev"
    assert str(live.event["by"]).startswith("release-bot@")
    rolled = env.cli("env", "rollback", check=True)
    assert "Rolled prod back" in rolled.stdout
    assert env.dissatisfied(env.catalog) == env.before
    kinds = [(entry["kind"], entry.get("environment")) for entry in history(env.store)]
    assert kinds == [("promote", "dev"), ("rollback", "prod")]
    # prod moved on since dev was built: promoting it as it is needs --force
    refused = env.cli("env", "promote", "dev")
    assert refused.returncode == 1
    assert "prod moved" in one_line_error(refused.stderr)
    # prod's warehouse never held what the swaps named: its next build is a full refresh
    rebuilt = env.cli("build", check=True)
    assert "full refresh: prod's catalog was rolled back" in " ".join(rebuilt.stdout.split())
    assert env.dissatisfied(env.catalog) == env.before
    forced = env.cli("env", "promote", "dev", "--force", check=True)
    assert "prod moved since dev was built" in forced.stdout
    assert env.dissatisfied(env.catalog) == after


def test_gc_drops_idle_environments_and_keeps_what_live_catalogs_name(env: Env) -> None:
    env.cli("env", "drop", "broken", check=True)
    collected = env.cli("env", "gc", "--ttl", "0m", check=True)
    assert "Dropped environments:" in collected.stdout
    assert not (env.data_dir / "environments" / "dev").exists()
    live = live_record(env.catalog, env.store)
    assert live is not None
    assert all((env.store / s.path).is_file() for s in live.segments)
    assert env.dissatisfied(env.catalog)  # prod still reads
    listed = env.cli("env", "list", check=True)
    assert "promoted from dev" in listed.stdout
