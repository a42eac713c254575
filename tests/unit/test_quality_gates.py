"""The quality gates' configuration (README, "Quality gates"): the CI
workflow runs the same make targets as local use, a pull request is
built as an environment of main's prod and main promotes, pre-commit uses only PyPI hooks, and the sqlfluff rules
describe the project's SQL style. Static checks and sqlfluff's Python
API: no dbt run, no process, a few seconds in all (tests/integration/
test_quality_gates_commands.py runs make and pre-commit)."""

from __future__ import annotations

import json
import sys
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from testkit.cli import REPO_ROOT
from testkit.workflow import make_calls, make_targets, workflow

REPO = REPO_ROOT
PRE_COMMIT = REPO / ".pre-commit-config.yaml"
# The jobs the issue asks for, each with the make target it runs.
EXPECTED_JOBS = {
    "fast": "test-fast",
    "e2e": "test-e2e",
    "airflow": "test-airflow",
    "env-pr": "ci-env",
    "promote": "ci-promote",
}


def test_workflow_is_valid_yaml_and_runs_on_pushes_to_main_and_pull_requests() -> None:
    ci = workflow()
    assert ci["on"]["push"]["branches"] == ["main"]
    assert "pull_request" in ci["on"]
    assert ci["permissions"] == {"contents": "read"}
    assert ci["env"]["DO_NOT_TRACK"] == "1"


def test_every_workflow_job_runs_a_make_target_that_exists() -> None:
    jobs = workflow()["jobs"]
    targets = make_targets()
    assert set(jobs) == set(EXPECTED_JOBS)
    for name, job in jobs.items():
        calls = make_calls(job)
        assert calls, f"job {name} runs no make target"
        for words in calls:
            goals = [word for word in words if "=" not in word and not word.startswith("-")]
            assert goals, f"job {name}: `make {' '.join(words)}` names no target"
            missing = [goal for goal in goals if goal not in targets]
            assert not missing, f"job {name} runs make {missing}, not in the Makefile"
        assert EXPECTED_JOBS[name] in {goal for words in calls for goal in words}, name
        # Only make does the work: the other steps check out, cache, move
        # artifacts, or start the machine's services as .ci/run does.
        for step in job["steps"]:
            run = str(step.get("run", ""))
            if run and not run.startswith("make "):
                assert run == ".ci/services", f"job {name} runs {run!r} outside make"


def test_pull_requests_download_the_prod_that_main_promotes_and_upload() -> None:
    jobs = workflow()["jobs"]
    promote, pr = jobs["promote"], jobs["env-pr"]
    assert "push" in promote["if"] and "refs/heads/main" in promote["if"]
    assert set(promote["needs"]) == {"fast", "e2e", "airflow"}  # only tested code is promoted
    assert pr["if"] == "github.event_name == 'pull_request'"

    def step(job: dict, action: str, name: str | None = None) -> dict:
        return next(
            s
            for s in job["steps"]
            if str(s.get("uses", "")).startswith(action) and (name is None or s["with"]["name"] == name)
        )

    upload = step(promote, "actions/upload-artifact", "prod-state-main")
    for job in (pr, promote):
        download = step(job, "actions/download-artifact")
        assert download["with"]["name"] == upload["with"]["name"]
        # another workflow run's artifact: needs its run id and a token
        assert {"run-id", "github-token"} <= set(download["with"])
        assert job["permissions"]["actions"] == "read"
        assert download["with"]["path"].rstrip("/") == upload["with"]["path"].rstrip("/")
        diff = step(job, "actions/upload-artifact", None)
        assert diff["with"]["path"].rstrip("/") == "data/ci/diff" and diff["if"] == "always()"
    state_dir = upload["with"]["path"].rstrip("/")
    # upload-artifact (v4.4+) silently skips hidden paths, dot-directories included
    assert not any(part.startswith(".") for part in Path(state_dir).parts), state_dir
    assert ["ci-promote", f"STATE={state_dir}"] in make_calls(promote)
    assert ["ci-env", f"STATE={state_dir}"] in make_calls(pr)


def _ci_environments():
    sys.path.insert(0, str(REPO / ".ci"))
    try:
        import environments
    finally:
        sys.path.remove(str(REPO / ".ci"))
    return environments


def _state(tmp_path: Path, ci, age: timedelta = timedelta(hours=1)) -> Path:
    prod = tmp_path / "made"
    for name in ci.KEPT:
        (prod / name).parent.mkdir(parents=True, exist_ok=True)
    (prod / "warehouse.duckdb").write_bytes(b"main's warehouse")
    (prod / "warehouse.published.duckdb").write_bytes(b"main's catalog")
    (prod / "warehouse.published" / ".publications").mkdir(parents=True)
    (prod / "warehouse.published" / ".publications" / "000001.json").write_text("{}")
    state = tmp_path / "state"
    ci.pack(prod, state)
    info = state / ci.STATE_INFO
    info.write_text(json.dumps({"created_at": (datetime.now(UTC) - age).isoformat()}))
    return state


def test_a_pull_request_is_built_and_diffed_as_an_environment_of_mains_prod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ci = _ci_environments()
    state = _state(tmp_path, ci)
    commands: list[list[str]] = []
    monkeypatch.setattr(ci, "_run", lambda command, env: commands.append(command))
    monkeypatch.setattr(
        ci, "_publish_diff", lambda data_dir, name, out: commands.append(["diff to", str(out)])
    )
    data_dir = tmp_path / "ci"
    assert ci.main(["pr", "--state", str(state), "--data-dir", str(data_dir)]) == 0
    prod = data_dir / "prod"
    # main's prod unpacked, hidden folders included (upload-artifact would have dropped them)
    assert (prod / "warehouse.duckdb").read_bytes() == b"main's warehouse"
    assert (prod / "warehouse.published" / ".publications" / "000001.json").is_file()
    assert [c[3:] for c in commands[:3]] == [
        ["env", "create", "pr"],
        ["env", "build", "pr"],
        ["env", "diff", "pr"],
    ]
    assert all(c[1:3] == ["--data-dir", str(prod)] for c in commands[:3])
    assert commands[3] == ["diff to", str(data_dir / "diff")]
    assert len(commands) == 4  # a pull request never promotes


def test_main_promotes_then_rebuilds_prod_and_keeps_it_as_the_new_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ci = _ci_environments()
    state = _state(tmp_path, ci)
    commands: list[list[str]] = []
    monkeypatch.setattr(ci, "_run", lambda command, env: commands.append(command[3:]))
    monkeypatch.setattr(ci, "_publish_diff", lambda data_dir, name, out: None)
    before = (state / ci.STATE_INFO).read_text()
    assert ci.main(["promote", "--state", str(state), "--data-dir", str(tmp_path / "ci")]) == 0
    assert commands == [
        ["env", "create", "main"],
        ["env", "build", "main"],
        ["env", "diff", "main"],
        ["env", "promote", "main"],
        ["build"],
    ]
    assert (state / ci.STATE_INFO).read_text() != before  # the promoted prod is the next state


@pytest.mark.parametrize("age", [None, timedelta(hours=30)])
def test_without_a_usable_state_prod_is_built_from_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, age: timedelta | None
) -> None:
    ci = _ci_environments()
    state = tmp_path / "none" if age is None else _state(tmp_path, ci, age)
    commands: list[str] = []
    monkeypatch.setattr(ci, "_run", lambda command, env: commands.append(command[3]))
    assert ci.main(["pr", "--state", str(state), "--data-dir", str(tmp_path / "ci")]) == 0
    assert commands == ["generate", "load", "build"]


def test_pre_commit_uses_only_local_hooks_pinned_from_pypi() -> None:
    config = yaml.safe_load(PRE_COMMIT.read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {repo["repo"] for repo in config["repos"]} == {"local"}
    assert {
        "trailing-whitespace",
        "end-of-file-fixer",
        "check-yaml",
        "check-merge-conflict",
        "check-added-large-files",
        "ruff-check",
        "ruff-format",
        "mypy",
        "sqlfluff-lint",
    } <= set(hooks)
    dev = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    pins = dict(requirement.split("==") for requirement in dev["dev"] if "==" in requirement)
    for hook in hooks.values():
        if hook["language"] == "python":
            assert hook["additional_dependencies"], hook["id"]
            for requirement in hook["additional_dependencies"]:
                name, _, version = requirement.partition("==")
                assert version, f"{hook['id']}: {requirement} is not pinned"
                if name in pins:
                    assert pins[name] == version, f"{hook['id']} pins {requirement}, pyproject {pins[name]}"
    # sqlfluff's dbt templater runs in the project's environment, through make lint's wrapper
    assert hooks["sqlfluff-lint"]["language"] == "unsupported"
    assert hooks["sqlfluff-lint"]["entry"].startswith(".ci/sqlfluff lint")
    # so does mypy: checking the code's use of duckdb, dbt and Airflow needs them installed
    assert hooks["mypy"]["language"] == "unsupported" and hooks["mypy"]["entry"] == ".ci/mypy"
    for name in ("ruff", "sqlfluff", "sqlfluff-templater-dbt", "pre-commit", "mypy"):
        assert name in pins, f"{name} is not pinned in the dev extra"


# The project's style, as the models write it, and what .sqlfluff must reject.
PROJECT_STYLE = """\
with

orders as (

    select * from raw_orders

),

final as (

    select
        orders.order_key,
        count(*) as line_count,
        cast(sum(orders.net_revenue) as decimal(18, 2)) as net_revenue
    from orders
    inner join customers
        on orders.customer_key = customers.customer_key
    group by orders.order_key

)

select * from final
"""


def _lint(sql: str) -> set[str]:
    from sqlfluff.core import FluffConfig, Linter

    # The project's rules, with the plain Jinja templater: no dbt compile.
    config = FluffConfig.from_path(str(REPO), overrides={"templater": "jinja", "processes": 1})
    result = Linter(config=config).lint_string(sql)
    return {violation.rule_code() for violation in result.get_violations()}


def test_sqlfluff_accepts_the_project_style() -> None:
    assert _lint(PROJECT_STYLE) == set()


@pytest.mark.parametrize(
    ("sql", "rule"),
    [
        ("SELECT order_key FROM orders\n", "CP01"),  # lowercase keywords
        ("select Order_Key from orders\n", "CP02"),  # lowercase identifiers
        ("select order_key, SUM(price) as total from orders group by order_key\n", "CP03"),
        ("select order_key\n    , price\nfrom orders\n", "LT04"),  # trailing commas
        ("select price * 2 total from orders\n", "AL02"),  # explicit column aliases
        ("select o.order_key from orders o\n", "AL01"),  # explicit table aliases
        ("select order_key::bigint as order_key from orders\n", "CV11"),  # cast(), not ::
        ("select orders.order_key from orders join lines on orders.order_key = lines.order_key\n", "AM05"),
    ],
)
def test_sqlfluff_rejects_other_styles(sql: str, rule: str) -> None:
    assert rule in _lint(sql)
