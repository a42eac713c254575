"""The CI workflow and the Makefile, read as data (tests of the quality gates)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from testkit.cli import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
MAKEFILE = REPO_ROOT / "Makefile"
REPO = REPO_ROOT


def workflow() -> dict:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "ci.yml is not a YAML mapping"
    # YAML 1.1 reads the bare key `on` as the boolean true.
    if True in data:
        data["on"] = data.pop(True)
    return data


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+):(?!=)", MAKEFILE.read_text(encoding="utf-8"), re.MULTILINE))


def make_calls(job: dict) -> list[list[str]]:
    """Every `make …` command line in the job's `run` steps, split into words."""
    calls = []
    for step in job.get("steps", []):
        for line in str(step.get("run", "")).splitlines():
            words = line.split()
            if words[:1] == ["make"]:
                calls.append(words[1:])
    return calls


def dry_run(*goals: str) -> list[str]:
    # not the flags of a `make test` this suite may be running under
    env = {key: value for key, value in os.environ.items() if key not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    proc = subprocess.run(
        ["make", "-n", "--always-make", *goals, f"BIN={Path(sys.executable).parent}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.splitlines()
