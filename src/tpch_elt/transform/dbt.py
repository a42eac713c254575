"""The one way this package runs dbt: its arguments, its environment, the runner, and the release after.

`tpch-elt build`, `docs` and the build's audit check (`dbt ls`) invoke dbt
in-process through `invoke`; the Airflow DAG, slim CI and the tests run the
`dbt` executable with the same `common_dbt_args` and `Settings.dbt_env()`.
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


def invoke(args: Sequence[str], callbacks: Sequence[EventCallback] = ()) -> Any:
    """dbt's Python runner on `args` (a dbtRunnerResult); dbt-duckdb's handle is released after."""
    # Imported here: dbt is heavy and only the commands that run it need it.
    from dbt.cli.main import dbtRunner

    runner = dbtRunner(callbacks=list(callbacks))
    try:
        return runner.invoke(list(args))
    finally:
        release_duckdb()


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
