"""The one way this package runs dbt: its arguments, its environment, the runner, and the release after.

`tpch-elt build`, `docs` and the build's audit check (`dbt ls`) invoke dbt
in-process through `invoke`; the Airflow DAG, slim CI and the tests run the
`dbt` executable with the same `common_dbt_args` and `Settings.dbt_env()`.

In-process invocations share one parsed manifest (`parsed_manifest`): a
build, its freshness check, its audit and every increment of one `tpch-elt
run` parse the project once, not once each. The project's only env var
(TPCH_ELT_TESTS_FROM_BATCH) is read when tests execute, never at parse
time, so one manifest serves every increment; a changed project file or
other `--vars` parse again.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tpch_elt.settings import Settings

# Called with each structured event dbt emits during an invocation.
EventCallback = Callable[[Any], None]
# Entries of the dbt project whose changes do not change the manifest.
NOT_SOURCES = frozenset({"target", "logs", "dbt_packages", ".user.yml"})
# The manifest parsed in this process, by what decided it (see parsed_manifest).
_parsed: dict[tuple[object, ...], Any] = {}


def common_dbt_args(
    settings: Settings, target_path: Path | None = None, *, threads: bool = True
) -> list[str]:
    """The project, profile, target and artifact paths every dbt command takes.

    `threads` False for the commands that take no --threads (`dbt ls`).
    """
    args = [
        "--project-dir",
        str(settings.project_dir),
        "--profiles-dir",
        str(settings.profiles_dir),
        "--target",
        settings.target,
    ]
    if threads:
        args += ["--threads", str(settings.threads)]
    args += ["--target-path", str(target_path or settings.dbt_target_dir)]
    args += ["--log-path", str(settings.dbt_log_dir)]
    return args


@contextmanager
def dbt_environment(values: dict[str, str]) -> Iterator[None]:
    """Set `values` in os.environ (where dbt's Python runner reads them) for the block, then restore."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def invoke(args: Sequence[str], callbacks: Sequence[EventCallback] = (), manifest: Any = None) -> Any:
    """dbt's Python runner on `args` (a dbtRunnerResult); dbt-duckdb's handle is released after.

    `manifest`: a parsed manifest (parsed_manifest) dbt uses instead of parsing again.
    """
    # Imported here: dbt is heavy and only the commands that run it need it.
    from dbt.cli.main import dbtRunner

    runner = dbtRunner(manifest=manifest, callbacks=list(callbacks))
    try:
        return runner.invoke(list(args))
    finally:
        release_duckdb()


def write_sources_json(target_dir: Path, result: Any) -> None:
    """`target_dir`/sources.json, as `dbt source freshness` writes it, for a
    freshness run made with --no-write-json (which skips the manifest too)."""
    from dbt.artifacts.schemas.freshness import FreshnessExecutionResultArtifact, FreshnessResult

    if isinstance(result, FreshnessResult):
        FreshnessExecutionResultArtifact.from_result(result).write(str(target_dir / "sources.json"))


def release_duckdb() -> None:
    """Close the DuckDB handle dbt-duckdb keeps open after an invocation.

    dbt-duckdb caches one database instance per process; left open, it
    holds the warehouse file and blocks other readers in this process
    (the summary) and writers in others (the next Airflow task).
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing to release
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()  # type: ignore[no-untyped-call]  # dbt-duckdb is untyped


def dbt_executable() -> str:
    """The `dbt` beside the running Python, else on PATH (for dbt run as a subprocess)."""
    found = shutil.which("dbt", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        raise FileNotFoundError(
            "no `dbt` executable beside the Python running Airflow or on PATH: "
            "install the project with `pip install -e '.[airflow]'`"
        )
    return found


def project_files(project: Path) -> Iterator[Path]:
    """The dbt project's files that `dbt parse` reads (not its outputs or hidden files)."""
    for path in project.iterdir():
        if path.name in NOT_SOURCES or path.name.startswith("."):
            continue
        if path.is_dir():
            yield from (p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def _project_signature(project: Path) -> tuple[int, int, int]:
    """Files, newest change and bytes of the dbt project: any edit changes it (a few ms)."""
    count = newest = size = 0
    for path in project_files(project):
        stat = path.stat()
        count += 1
        newest = max(newest, stat.st_mtime_ns)
        size += stat.st_size
    return count, newest, size


def parsed_manifest(settings: Settings, dbt_vars: str | None = None) -> Any:
    """The project's manifest for these settings and `--vars`, parsed once per process.

    Parsed again when a project file changes. Call it inside the
    invocation's `dbt_environment`. None when the parse fails: the command
    then parses by itself and reports the error as it always did.
    """
    key = (
        str(settings.project_dir),
        str(settings.profiles_dir),
        settings.target,
        str(settings.dbt_target_dir),
        dbt_vars or "",
        _project_signature(settings.project_dir),
    )
    if key not in _parsed:
        # --no-write-json: the command this manifest is for writes
        # manifest.json when it ends (4 MB, about 0.4 s to serialize); the
        # partial-parse cache is saved either way.
        args = ["parse", *common_dbt_args(settings), "--quiet", "--no-write-json"]
        if dbt_vars:
            args += ["--vars", dbt_vars]
        result = invoke(args)
        if not result.success or result.result is None:
            return None
        _parsed.clear()  # keep the newest only: a manifest holds every node of the project
        _parsed[key] = result.result
    return _parsed[key]
