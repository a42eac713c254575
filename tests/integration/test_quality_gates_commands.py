"""The quality gates' commands, run: what `make` would run for each test
target, and pre-commit's own validation of its configuration."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from testkit.cli import REPO_ROOT
from testkit.workflow import dry_run, make_calls, workflow

PRE_COMMIT = REPO_ROOT / ".pre-commit-config.yaml"


def test_the_workflows_test_jobs_together_run_every_tier() -> None:
    """fast + e2e + airflow run every folder of tests/ that holds tests: nothing only local."""
    tests = REPO_ROOT / "tests"
    folders = {path.relative_to(tests).parts[0] for path in tests.rglob("test_*.py")}
    jobs = workflow()["jobs"]
    covered: set[str] = set()
    for name in ("fast", "e2e", "airflow"):
        for words in make_calls(jobs[name]):
            for line in dry_run(*words):
                if "-m pytest" in line:
                    covered |= {word.split("/")[1] for word in line.split() if word.startswith("tests/")}
    assert covered == folders == {"unit", "integration", "airflow"}


def test_make_test_runs_make_lint_first() -> None:
    lines = dry_run("test")
    pytest_at = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    lint = [
        i
        for i, line in enumerate(lines)
        if re.search(r"ruff (check|format --check)|\.ci/mypy|\.ci/sqlfluff lint", line)
    ]
    assert len(lint) == 4 and max(lint) < pytest_at, lines


def test_pre_commit_config_is_valid() -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "pre-commit"), "validate-config", str(PRE_COMMIT)],
        check=True,
        capture_output=True,
    )
