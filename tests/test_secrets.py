"""Secrets never leak: not into files the pipeline writes, not into its output,
not into the repository.

Related tests elsewhere: the Airflow UI requires a login
(tests/test_airflow_dag.py::test_login_for_a_user_airflow_does_not_know_is_refused)
and the production compose file refuses to start without each secret and
holds none itself (tests/test_airflow_containers.py::
test_production_compose_refuses_to_start_without_each_secret,
test_production_compose_holds_no_secret_itself).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import BIN_DIR, REPO_ROOT, cli_env, run_cli

pytestmark = pytest.mark.e2e

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
    shutil.copytree(built_template, data_dir)
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
    """The dev target never renders the snowflake profile; `dbt parse --target
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


# --- the repository itself ----------------------------------------------------------

# Values that are not credentials: empty, elided, templated, the local-only
# defaults (`airflow`), and the obviously fake ones the emulator tests log in with.
PLACEHOLDER = re.compile(
    r"^(|…|\.\.\.|<[^>]*>|\*+|x+|changeme|example|airflow|emulated|pw|s3cret|(fake|dummy|test)[-_].*)$",
    re.IGNORECASE,
)
CREDENTIAL_PATTERNS = {
    "private key": re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+]{40}", re.IGNORECASE
    ),
    "Slack webhook": re.compile(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+"),
    "Slack token": re.compile(r"\bxox[abposr]-[0-9A-Za-z-]{10,}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}
# `password = "literal"` / `PASSWORD: literal` / `"password": "literal"`, not from
# the environment, a template or a variable
PASSWORD_LITERAL = re.compile(
    r"""(?ix) \b[a-z_]*(?:password|passwd|passphrase)["']? \s* (?:=|:) \s* (?P<q>["']) (?P<value>[^"'\s]*) (?P=q)"""
)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    out = []
    for name in names:
        path = REPO_ROOT / name.decode()
        if not name or not path.is_file() or path.name == Path(__file__).name:
            continue  # this file spells out the patterns and fake values on purpose
        out.append(path)
    return out


def credential_findings(text: str) -> list[str]:
    found = [label for label, pattern in CREDENTIAL_PATTERNS.items() if pattern.search(text)]
    for match in PASSWORD_LITERAL.finditer(text):
        if not PLACEHOLDER.match(match.group("value")):
            found.append(f"password literal {match.group(0)!r}")
    return found


def test_the_scan_finds_what_it_looks_for() -> None:
    """The patterns are live: each kind of credential is caught, placeholders are not."""
    key_header = "-----BEGIN " + "RSA PRIVATE KEY-----"
    assert credential_findings(key_header) == ["private key"]
    assert credential_findings("AKIA" + "IOSFODNN7EXAMPLE") == ["AWS access key id"]
    assert credential_findings("https://hooks.slack.com/services/" + "T0123ABCD/B0123ABCD/abcDEF123") == [
        "Slack webhook"
    ]
    assert credential_findings('password = "' + 'hunter2"')
    assert credential_findings('"SNOWFLAKE_PASSWORD": "' + 's3cr3t"')
    assert credential_findings("password: \"{{ env_var('SNOWFLAKE_PASSWORD') }}\"") == []
    assert credential_findings('password = os.environ["X"]') == []
    assert credential_findings('password = ""') == []


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
