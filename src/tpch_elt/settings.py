"""One settings object, read from CLI options and environment variables.

`Settings.from_env` is the one place the pipeline's environment variables
are read: the CLI calls it with its options (an option beats its variable),
the Airflow DAG with none.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tpch_elt.errors import PipelineError
from tpch_elt.tpch import format_scale_factor

DEFAULT_THREADS = 4
# dbt targets (dbt_project/profiles/profiles.yml). `prod`: the embedded
# DuckDB warehouse tpch-elt loads, builds and publishes (the default).
# `dev`, `staging`: environment builds (`tpch-elt env build`), which attach
# prod's warehouse read-only; tpch-elt's own commands refuse them.
# `snowflake` (prod), `snowflake_staging`, `snowflake_dev`: Snowflake.
DEFAULT_TARGET = "prod"
ENVIRONMENT_TARGETS = ("dev", "staging")
# The variables `Settings.from_env` reads, by field; the CLI's help names them.
ENV_VARS = {
    "data_dir": "TPCH_ELT_DATA_DIR",
    "warehouse": "TPCH_ELT_WAREHOUSE",
    "threads": "TPCH_ELT_THREADS",
    "target": "TPCH_ELT_TARGET",
}
PROJECT_DIR_VAR = "TPCH_ELT_PROJECT_DIR"
# DuckDB's buffer memory, for dbt's connection (profiles.yml) and the
# pipeline's own (warehouse.connection): past it DuckDB spills to disk.
# 6 GB: at SF30 the full-history key test of 162 M line items needs a
# 1 GiB hash table beside 4 GiB of partitions (5 GB ran out of memory), and
# a run's peak RSS stays under 8 GB (bench/README.md). DuckDB's own default
# is 80 % of RAM, which leaves nothing for Airflow or a reader.
MEMORY_LIMIT_VAR = "TPCH_ELT_DUCKDB_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "6GB"


def duckdb_memory_limit(environ: Mapping[str, str] | None = None) -> str:
    """DuckDB's memory limit: $TPCH_ELT_DUCKDB_MEMORY_LIMIT (e.g. 12GB), else 6GB."""
    return (os.environ if environ is None else environ).get(MEMORY_LIMIT_VAR) or DEFAULT_MEMORY_LIMIT


def _repo_root() -> Path:
    # src/tpch_elt/settings.py -> the repository (editable installs, tests).
    return Path(__file__).resolve().parents[2]


def default_project_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The dbt project: $TPCH_ELT_PROJECT_DIR, else the repository's."""
    env = (os.environ if environ is None else environ).get(PROJECT_DIR_VAR)
    if env:
        return Path(env).resolve()
    candidate = _repo_root() / "dbt_project"
    if candidate.is_dir():
        return candidate
    return (Path.cwd() / "dbt_project").resolve()


@dataclass(frozen=True)
class Settings:
    """Where things live and how hard to work.

    Every path is absolute so that dbt (which runs from the project
    directory) and Airflow workers agree on them.
    """

    data_dir: Path = field(default_factory=lambda: Path("data").resolve())
    warehouse: Path | None = None
    project_dir: Path = field(default_factory=default_project_dir)
    threads: int = DEFAULT_THREADS
    target: str = DEFAULT_TARGET
    # Whether the user chose `threads` (option or variable); if not, a build
    # on a large warehouse runs one model at a time (transform.build).
    threads_chosen: bool = False

    @classmethod
    def from_env(
        cls,
        *,
        data_dir: Path | None = None,
        warehouse: Path | None = None,
        threads: int | None = None,
        target: str | None = None,
        project_dir: Path | None = None,
        default_data_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Settings:
        """Settings from the arguments given, else the environment, else the defaults.

        `default_data_dir` replaces `./data` when neither an argument nor
        TPCH_ELT_DATA_DIR names one (the DAG: `data/` beside the dbt project).
        `environ` replaces os.environ (the environment a subprocess will get).
        """
        source = os.environ if environ is None else environ
        env = {field: source.get(name) or None for field, name in ENV_VARS.items()}
        threads_text = env["threads"]
        if threads is not None and threads < 1:
            raise PipelineError(f"threads must be a whole number >= 1, got {threads}")
        if threads is None and threads_text is not None:
            try:
                threads = int(threads_text)
            except ValueError:
                threads = 0
            if threads < 1:
                raise PipelineError(
                    f"{ENV_VARS['threads']}={threads_text!r} is not a whole number >= 1: set it to e.g. 4"
                )
        chosen_target = target or env["target"] or DEFAULT_TARGET
        if chosen_target in ENVIRONMENT_TARGETS:
            raise PipelineError(
                f"dbt target {chosen_target!r} builds environments, through `tpch-elt env build "
                f"{chosen_target}`; tpch-elt's own commands build prod: use --target prod (the default)"
            )
        chosen_data_dir = data_dir or env["data_dir"] or default_data_dir or Path("data")
        chosen_warehouse = warehouse or env["warehouse"]
        return cls(
            data_dir=Path(chosen_data_dir),
            warehouse=Path(chosen_warehouse) if chosen_warehouse else None,
            threads=threads or DEFAULT_THREADS,
            threads_chosen=threads is not None,
            project_dir=project_dir or default_project_dir(source),
            target=chosen_target,
        )

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir).resolve())
        warehouse = self.warehouse or self.data_dir / "warehouse.duckdb"
        object.__setattr__(self, "warehouse", Path(warehouse).resolve())
        object.__setattr__(self, "project_dir", Path(self.project_dir).resolve())

    @property
    def embedded(self) -> bool:
        """Whether the target is the embedded DuckDB warehouse tpch-elt manages (locks, publishes, observes)."""
        return self.target == DEFAULT_TARGET

    @property
    def warehouse_path(self) -> Path:
        assert self.warehouse is not None  # set in __post_init__
        return self.warehouse

    @property
    def profiles_dir(self) -> Path:
        return self.project_dir / "profiles"

    @property
    def landing_root(self) -> Path:
        return self.data_dir / "landing"

    def landing_dir(self, scale_factor: float) -> Path:
        return self.landing_root / f"sf={format_scale_factor(scale_factor)}"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's artifacts for this warehouse (one per data dir, so two
        pipelines never overwrite each other's manifest or run results)."""
        return self.data_dir / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.data_dir / "dbt" / "logs"

    def dbt_env(self) -> dict[str, str]:
        """Environment dbt needs to find the warehouse, with telemetry off."""
        return {
            "TPCH_ELT_WAREHOUSE": str(self.warehouse_path),
            "TPCH_ELT_THREADS": str(self.threads),
            "TPCH_ELT_TARGET": self.target,
            MEMORY_LIMIT_VAR: duckdb_memory_limit(),
            "DBT_PROFILES_DIR": str(self.profiles_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "DO_NOT_TRACK": "1",
        }
