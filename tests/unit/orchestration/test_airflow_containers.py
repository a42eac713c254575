"""The container files, checked statically (no Docker engine on these machines).

They must parse, reference only files that exist, keep the image layout and
the compose mounts in agreement, run the same commands `make airflow` runs
natively, install from the lock (requirements/) with the Airflow version of
the image they build on, and (production) take every secret from the
environment, refusing to start without one, as `docker compose`
interpolation does.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.version import Version
from testkit.airflow import REPO_ROOT, stack
from testkit.lock import REQUIREMENTS_DIR, linux_environment, lock_python, pinned_version

DEV = REPO_ROOT / "docker-compose.yml"
PROD = REPO_ROOT / "docker-compose.prod.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
PROD_SECRETS = (
    "AIRFLOW_DATABASE_URL",
    "REDIS_PASSWORD",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_API_SECRET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
)
SECRET_KEYS = re.compile(r"PASSWORD|SECRET|FERNET|SQL_ALCHEMY_CONN|BROKER_URL")

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(Exception):
    pass


def interpolate(node: Any, env: Mapping[str, str]) -> Any:
    """docker compose's `${VAR}`, `${VAR:-default}`, `${VAR:?message}` and `$$`."""
    if isinstance(node, dict):
        return {key: interpolate(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env) for value in node]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = env.get(name)
        unset = not value if operator and operator.startswith(":") else value is None
        if operator in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {argument}")
        if operator in (":-", "-") and unset:
            return argument
        return value or ""

    return _VARIABLE.sub(substitute, node)


def compose(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def dockerfile_args() -> dict[str, str]:
    return dict(
        rest.split("=", 1) for kind, rest in dockerfile_instructions() if kind == "ARG" and "=" in rest
    )


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, rest in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), m.group(0)), value)
    return env


def repo_path(container_path: str) -> Path:
    """Where a path inside the image comes from in the repository."""
    home = PurePosixPath(image_env()["TPCH_ELT_HOME"])
    return REPO_ROOT / PurePosixPath(container_path).relative_to(home)


def airflow_services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: service for name, service in spec["services"].items() if "build" in service}


@pytest.mark.parametrize("path", [DEV, PROD], ids=lambda p: p.name)
def test_compose_file_parses_and_references_existing_files(path: Path) -> None:
    spec = compose(path)
    services = airflow_services(spec)
    assert services, f"{path.name} builds no Airflow image"
    for name, service in services.items():
        build = service["build"]
        context = REPO_ROOT / (build if isinstance(build, str) else build["context"])
        assert context.is_dir(), name
        dockerfile = context / (
            build.get("dockerfile", "Dockerfile") if isinstance(build, dict) else "Dockerfile"
        )
        assert dockerfile.is_file(), name
        for env_file in service.get("env_file", []):
            assert (REPO_ROOT / env_file).is_file(), f"{name}: env_file {env_file}"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source in spec["volumes"], f"{name}: volume {source} is not declared"


def test_dockerfile_builds_on_the_official_airflow_3_image_from_existing_sources() -> None:
    import airflow

    instructions = dockerfile_instructions()
    args = dockerfile_args()
    (base,) = [rest for kind, rest in instructions if kind == "FROM"]
    assert base == "apache/airflow:${AIRFLOW_VERSION}-python3.11"
    # The image's Airflow is the release line pyproject's `airflow` extra installs natively.
    assert args["AIRFLOW_VERSION"].split(".")[:2] == airflow.__version__.split(".")[:2] == ["3", "3"]
    ignored = [
        line.strip()
        for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copies = [shlex.split(rest) for kind, rest in instructions if kind == "COPY"]
    assert copies
    for words in copies:
        sources = [word for word in words[:-1] if not word.startswith("--")]
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), (
                f"{source} is dockerignored"
            )
    # The steps the image runs at build time are the native ones.
    runs = [rest for kind, rest in instructions if kind == "RUN"]
    assert any(run.endswith("/airflow/stack.py manifest") for run in runs)


def pip_installs(run: str) -> list[list[str]]:
    return [
        words
        for command in re.split(r"&&|\|\||;", run)
        if (words := shlex.split(command.strip()))[:2] == ["pip", "install"]
    ]


def test_image_installs_the_lock_then_the_project_alone() -> None:
    instructions = dockerfile_instructions()
    runs = [(index, rest) for index, (kind, rest) in enumerate(instructions) if kind == "RUN"]
    installs = [(index, words) for index, run in runs for words in pip_installs(run)]
    locked = [words[words.index("-r") + 1] for _, words in installs if "-r" in words]
    # the locked pip and build backend first, then the lock of the image's flavour
    assert locked == ["${TPCH_ELT_HOME}/requirements/build.txt", "${TPCH_ELT_HOME}/${REQUIREMENTS}"]
    *dependencies, (project_at, project) = installs
    for _, words in dependencies:
        assert "--require-hashes" in words, words
    assert {"--no-deps", "--no-build-isolation", "${TPCH_ELT_HOME}"} <= set(project), project
    # the dependencies' layer comes before the sources are copied: it stays cached while they change
    copies = {
        shlex.split(rest)[-2]: index for index, (kind, rest) in enumerate(instructions) if kind == "COPY"
    }
    assert copies["requirements"] < max(index for index, _ in dependencies) < copies["src"] < project_at
    assert dockerfile_args()["REQUIREMENTS"] == "requirements/airflow.txt"


def test_image_airflow_is_the_one_the_lock_pins() -> None:
    """The image's ARG and the locks agree on Airflow (the Dockerfile's guard also stops a build)."""
    args = dockerfile_args()
    version = args["AIRFLOW_VERSION"]
    (base,) = [rest for kind, rest in dockerfile_instructions() if kind == "FROM"]
    # the image's Python is the one the lock is resolved from
    python = base.rpartition("-python")[2]
    assert python == lock_python()
    environment = linux_environment("x86_64", python)
    airflow_locks = sorted(REQUIREMENTS_DIR.glob("airflow*.txt"))
    assert [path.name for path in airflow_locks] == ["airflow-snowflake.txt", "airflow.txt"]
    # dev.txt too: the tests run the Airflow the image runs
    for path in [*airflow_locks, REQUIREMENTS_DIR / "dev.txt"]:
        assert pinned_version(path, "apache-airflow", environment) == Version(version), (
            f"{path.name} pins apache-airflow=={pinned_version(path, 'apache-airflow', environment)}, "
            f"the Dockerfile's AIRFLOW_VERSION is {version}: change the airflow extra in pyproject.toml "
            "and run `make lock`, or the ARG"
        )
    (guard,) = [rest for kind, rest in dockerfile_instructions() if kind == "RUN" and "grep" in rest]
    pattern = re.search(
        r'grep -q "(\^apache-airflow==\$\{AIRFLOW_VERSION\} )" "\$\{TPCH_ELT_HOME\}/\$\{REQUIREMENTS\}"',
        guard,
    )
    assert pattern, guard
    assert guard.index("grep") < guard.index("pip install")
    for path in airflow_locks:
        line = pattern.group(1).replace("${AIRFLOW_VERSION}", re.escape(version))
        assert re.search(line, path.read_text(encoding="utf-8"), re.MULTILINE), path.name


def test_production_compose_builds_from_an_existing_lock() -> None:
    secrets = {name: f"test-{name.lower()}" for name in PROD_SECRETS}
    for env, expected in (
        (secrets, "requirements/airflow.txt"),
        (
            {**secrets, "TPCH_ELT_REQUIREMENTS": "requirements/airflow-snowflake.txt"},
            "requirements/airflow-snowflake.txt",
        ),
    ):
        for name, service in airflow_services(interpolate(compose(PROD), env)).items():
            assert service["build"]["args"]["REQUIREMENTS"] == expected, name
    environment = linux_environment("x86_64", lock_python())
    assert pinned_version(REQUIREMENTS_DIR / "airflow-snowflake.txt", "dbt-snowflake", environment)
    assert pinned_version(REQUIREMENTS_DIR / "airflow.txt", "dbt-snowflake", environment) is None


def test_image_layout_matches_the_repository_and_the_mounts() -> None:
    env = image_env()
    assert repo_path(env["AIRFLOW__CORE__DAGS_FOLDER"]) == REPO_ROOT / "airflow" / "dags"
    assert repo_path(env["TPCH_ELT_PROJECT_DIR"]) == REPO_ROOT / "dbt_project"
    assert repo_path(env["TPCH_ELT_DBT_MANIFEST"]) == stack().DEFAULT_MANIFEST
    for path in (DEV, PROD):
        for name, service in airflow_services(compose(path)).items():
            mounts = {volume.split(":")[1] for volume in service["volumes"]}
            assert env["TPCH_ELT_DATA_DIR"] in mounts, f"{path.name} {name}: the warehouse is not on a volume"
    assert env["DO_NOT_TRACK"] == "1" and env["SCARF_NO_ANALYTICS"] == "true"


@pytest.mark.parametrize("path", [DEV, PROD], ids=lambda p: p.name)
def test_containers_run_the_commands_the_native_path_runs(path: Path) -> None:
    secrets = {name: f"test-{name.lower()}" for name in PROD_SECRETS}
    services = interpolate(airflow_services(compose(path)), secrets)
    commands = {name: service["command"] for name, service in services.items()}
    components = {tuple(command[1:]) for command in commands.values() if command[0] == "airflow"}
    native = {(component,) for component in stack().COMPONENTS}
    expected = native | ({("celery", "worker")} if path == PROD else set())
    assert components == expected
    (init,) = [command for command in commands.values() if command[0] == "python"]
    script, *arguments = init[1:]
    assert repo_path(script) == REPO_ROOT / "airflow" / "stack.py"
    parsed = stack()._parser().parse_args(arguments)
    assert parsed.command == "prepare"
    # Every Airflow service waits for the init service to have prepared everything.
    for name, service in services.items():
        if service["command"][0] == "airflow":
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", (
                name
            )
    assert all(service.get("env_file") == ["airflow/airflow.env"] for service in services.values())


def test_local_compose_uses_postgres_and_the_local_executor_on_loopback_only() -> None:
    spec = interpolate(compose(DEV), {})
    assert spec["services"]["postgres"]["image"].startswith("postgres:")
    for name, service in airflow_services(spec).items():
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor", name
        assert service["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith(
            "postgresql+psycopg2://"
        )
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond this machine"
    init = spec["services"]["airflow-init"]["command"]
    assert init[init.index("--login") + 1] == "airflow:airflow"


def test_production_compose_refuses_to_start_without_each_secret() -> None:
    spec = compose(PROD)
    everything = {name: f"test-{name.lower()}" for name in PROD_SECRETS}
    resolved = interpolate(spec, everything)
    assert "${" not in yaml.safe_dump(resolved)
    for missing in PROD_SECRETS:
        with pytest.raises(MissingVariable, match=missing):
            interpolate(spec, {name: value for name, value in everything.items() if name != missing})


def test_production_compose_holds_no_secret_itself() -> None:
    spec = compose(PROD)
    assert "postgres" not in spec["services"], "production uses an external metadata database"
    for name, service in spec["services"].items():
        environment = service.get("environment", {})
        for key, value in environment.items():
            if SECRET_KEYS.search(key) and value:
                assert "${" in value, f"{name}: {key} is written in the file"
        for word in service.get("command", []):
            assert "password" not in word.lower() or "${" in word
    airflow = airflow_services(interpolate(spec, dict.fromkeys(PROD_SECRETS, "x")))
    for name, service in airflow.items():
        environment = service["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert environment["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager"), name
    assert "--requirepass" in spec["services"]["redis"]["command"]


def test_shared_airflow_settings_turn_telemetry_off() -> None:
    shared = stack().read_env_file()
    assert shared["AIRFLOW__COSMOS__ENABLE_TELEMETRY"] == "False"
    assert shared["DO_NOT_TRACK"] == "1"
    assert shared["SCARF_NO_ANALYTICS"] == "true"
    assert shared["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert shared["AIRFLOW__CORE__LOAD_EXAMPLES"] == "False"
    assert shared["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
