"""Secrets never leak: not into files the pipeline writes, not into its output,
not into the repository.

Related tests elsewhere: the Airflow UI and API require a login
(tests/airflow/test_airflow_run.py::test_browser_logs_in_and_finds_the_pipeline_and_its_task_groups,
::test_the_api_refuses_requests_without_a_valid_token) and the production
compose file refuses to start without each secret and holds none itself
(tests/unit/orchestration/test_airflow_containers.py::
test_production_compose_refuses_to_start_without_each_secret,
test_production_compose_holds_no_secret_itself).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from testkit.cli import BIN_DIR, REPO_ROOT, cli_env, copy_data_dir, one_line_error, run_cli
from testkit.credentials import credential_findings

SF = "0.01"
WEBHOOK_TOKEN = "fakeWebhookToken3kP9sQ7"
# Fake, but shaped like the real thing; each must appear nowhere the pipeline writes.
FAKE_SECRETS = {
    "SNOWFLAKE_PASSWORD": "fake-snowflake-pw-7Q2x9LmZ4",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "fake-key-passphrase-Vb81Kq",
    "DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": "fake-dbt-env-secret-Wq93Lp",
    "TPCH_ELT_SLACK_WEBHOOK_URL": f"https://hooks.slack.invalid/services/T0FAKE000/B0FAKE000/{WEBHOOK_TOKEN}",
    "AIRFLOW__API_AUTH__JWT_SECRET": "fake-jwt-secret-Hn72PqXr",
    "AIRFLOW__API__SECRET_KEY": "fake-api-secret-key-Zk41",
    "AIRFLOW__CORE__FERNET_KEY": "ZmFrZS1mZXJuZXQta2V5LWZvci10ZXN0cy0xMjM0NTY=",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:fake-db-pw-Tz54Yh@db/airflow",
    "AWS_SECRET_ACCESS_KEY": "fakeAwsSecretK7MDENGbPxRfiCYEXAMPLEKEYx1",
    "REDIS_PASSWORD": "fake-redis-pw-Gg62Ns",
}
# What is searched for: the values, and the parts of them that are secret on their own.
NEEDLES = {
    **FAKE_SECRETS,
    "webhook token": WEBHOOK_TOKEN,
    "database password": "fake-db-pw-Tz54Yh",
}


def leaks_in(blob: bytes) -> list[str]:
    return [name for name, value in NEEDLES.items() if value.encode() in blob]


@pytest.fixture(scope="module")
def pipeline_with_secrets(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """generate, load, ingest, build, observe, report with the secrets in the environment."""
    data_dir = tmp_path_factory.mktemp("secrets") / "data"
    copy_data_dir(built_template, data_dir)
    outputs: list[tuple[str, str, str]] = []
    for args in (
        ("generate", "-s", SF, "--initial-fraction", "0.8", "--batches", "2"),
        ("load", "-s", SF),
        ("ingest",),
        ("build",),
        ("observe",),
        ("report",),
        ("status",),
    ):
        proc = run_cli("--data-dir", str(data_dir), *args, **FAKE_SECRETS)
        assert proc.returncode in (0, 1), proc.stderr  # observe exits 1 on a failing anomaly
        assert "Traceback" not in proc.stderr, proc.stderr
        outputs.append((" ".join(args), proc.stdout, proc.stderr))
    return {"data_dir": data_dir, "outputs": outputs}


def test_no_secret_in_any_file_the_pipeline_writes(pipeline_with_secrets: dict) -> None:
    data_dir: Path = pipeline_with_secrets["data_dir"]
    files = [p for p in data_dir.rglob("*") if p.is_file()]
    # the places a leak would hide: dbt's artifacts and logs, the reports, the warehouse itself
    names = {p.name for p in files}
    assert {"manifest.json", "run_results.json", "dbt.log", "warehouse.duckdb"} <= names, sorted(names)
    assert any(p.suffix == ".html" for p in files)
    leaks = {str(p.relative_to(data_dir)): found for p in files if (found := leaks_in(p.read_bytes()))}
    assert leaks == {}


def test_no_secret_in_the_pipelines_output(pipeline_with_secrets: dict) -> None:
    for command, stdout, stderr in pipeline_with_secrets["outputs"]:
        assert leaks_in(stdout.encode()) == [], command
        assert leaks_in(stderr.encode()) == [], command


def test_no_secret_in_dbt_artifacts_when_the_snowflake_profile_renders_them(tmp_path: Path) -> None:
    """The prod (DuckDB) target never renders the snowflake profile; `dbt parse --target
    snowflake` does (no connection needed): its manifest, partial-parse state
    and logs must not hold the credentials it read."""
    env = {
        **FAKE_SECRETS,
        "SNOWFLAKE_ACCOUNT": "fake-account",
        "SNOWFLAKE_USER": "fake-user",
        "TPCH_ELT_TARGET": "snowflake",
    }
    proc = subprocess.run(
        [
            str(BIN_DIR / "dbt"),
            "parse",
            "--project-dir",
            str(REPO_ROOT / "dbt_project"),
            "--profiles-dir",
            str(REPO_ROOT / "dbt_project" / "profiles"),
            "--target",
            "snowflake",
            "--target-path",
            str(tmp_path / "target"),
            "--log-path",
            str(tmp_path / "logs"),
        ],
        cwd=REPO_ROOT,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"manifest.json", "partial_parse.msgpack", "dbt.log"} <= {p.name for p in files}
    leaks = {str(p.relative_to(tmp_path)): found for p in files if (found := leaks_in(p.read_bytes()))}
    assert leaks == {}
    assert leaks_in((proc.stdout + proc.stderr).encode()) == []


@pytest.mark.parametrize(
    "url",
    [
        f"hooks.slack.invalid/services/T0FAKE000/B0FAKE000/{WEBHOOK_TOKEN}",
        f"https://ops:{WEBHOOK_TOKEN}@hooks.slack.invalid/services/T0FAKE000/B0FAKE000/x",
    ],
)
def test_a_malformed_webhook_url_is_refused_without_echoing_it(url: str, tmp_path: Path) -> None:
    """The URL is checked before anything is read: one line naming scheme and host at most."""
    proc = run_cli("--data-dir", str(tmp_path / "data"), "observe", TPCH_ELT_SLACK_WEBHOOK_URL=url)
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert line.startswith("error: alert webhook URL ") and "TPCH_ELT_SLACK_WEBHOOK_URL" in line, line
    assert leaks_in((proc.stdout + proc.stderr).encode()) == []


# --- the repository itself ----------------------------------------------------------

SPELLS_OUT_FAKES = {Path(__file__).name, "test_secret_scan.py", "credentials.py"}


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    out = []
    for name in names:
        path = REPO_ROOT / name.decode()
        if not name or not path.is_file() or path.name in SPELLS_OUT_FAKES:
            continue  # these spell out the patterns and fake values on purpose
        out.append(path)
    return out


def test_no_credential_in_the_tracked_files() -> None:
    files = tracked_text_files()
    assert len(files) > 50
    findings = {}
    for path in files:
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue  # binary (images, parquet answers): no text credentials
        if hits := credential_findings(text):
            findings[str(path.relative_to(REPO_ROOT))] = hits
    assert findings == {}
