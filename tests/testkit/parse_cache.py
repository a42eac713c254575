"""dbt's parse of the project, done once per test run and handed to every data dir.

dbt keeps its parse of the project in `<target>/partial_parse.msgpack` and
reuses it while nothing it depends on changed: every file's checksum,
dbt's version, the vars and target, and a hash of the profile's
connection, which for DuckDB includes the warehouse path. So every new
data dir, and every copy of a shared one, made dbt parse the whole
project again: about 3.5 s on a quiet machine and 8-14 s with both cores
busy, over a hundred times per run of the suite.

Before every CLI command a test starts, `seed()` gives an existing data
dir dbt has not parsed for yet the parse `dbt parse` made once in this run, and
`retarget()` gives a copied data dir (testkit.cli.copy_data_dir) its own
parse back: each with the profile hash of the data dir's own warehouse,
and only where the parse was made for the same profile. Nothing else is changed,
so dbt still checks everything else and parses again when any of it
differs (another target, other vars, an edited model). Where the profile
hash cannot be reproduced (another dbt-duckdb), nothing is handed out and
dbt parses as it always did; so it does with TPCH_ELT_TEST_PARSE_CACHE=0.
"""

from __future__ import annotations

import fcntl
import os
import pprint
import subprocess
import sys
import warnings
from functools import cache
from pathlib import Path

import msgpack

FILE_NAME = "partial_parse.msgpack"
# Settings the profile's dev output renders when no TPCH_ELT_* variable is set (testkit.cli.cli_env).
_DEV_SETTINGS = {"preserve_insertion_order": True, "memory_limit": "6GB"}

# The shared directory of this run (tests/conftest.py sets it at session start).
shared_dir: Path | None = None


def profile_hash(warehouse: Path) -> str:
    """dbt's profile hash of the dev output pointed at `warehouse` (dbt.parser.manifest)."""
    from dbt.adapters.duckdb.credentials import DuckDBCredentials
    from dbt.contracts.files import FileHash

    credentials = DuckDBCredentials.from_dict(
        {"path": str(warehouse), "database": warehouse.stem, "schema": "main", "settings": _DEV_SETTINGS}
    )
    return FileHash.from_contents(pprint.pformat(sorted(credentials.connection_info()))).checksum


def _parse_once(directory: Path) -> Path | None:
    """`dbt parse` of the project for the data dir `directory`, once per run (file lock)."""
    from tpch_elt.settings import Settings
    from tpch_elt.transform.dbt import common_dbt_args

    settings = Settings(data_dir=directory)
    parsed, done = settings.dbt_target_dir / FILE_NAME, directory / "parsed.done"
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / "parse.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            env = {k: v for k, v in os.environ.items() if not k.startswith("TPCH_ELT_")}
            # The CLI's own dbt arguments and environment (tpch_elt.transform.build).
            subprocess.run(
                [str(Path(sys.executable).parent / "dbt"), "parse", *common_dbt_args(settings)],
                env={**env, **settings.dbt_env()},
                capture_output=True,
                check=True,
                timeout=600,
            )
            done.touch()
    if not parsed.exists():
        return None
    state = msgpack.unpackb(parsed.read_bytes(), strict_map_key=False)["state_check"]
    # Reproduce dbt's hash for this warehouse, or hand out nothing (and say so).
    if state["profile_hash"]["checksum"] != profile_hash(settings.warehouse_path):
        warnings.warn(
            "testkit.parse_cache cannot reproduce dbt's profile hash with this dbt-duckdb: "
            "every data dir parses the project again (the suite is slower, not wrong)",
            stacklevel=2,
        )
        return None
    return parsed


@cache
def _template() -> Path | None:
    if shared_dir is None or os.environ.get("TPCH_ELT_TEST_PARSE_CACHE") == "0":
        return None
    return _parse_once(shared_dir / "dbt-parse")


def _write(parsed: dict, destination: Path, warehouse: Path) -> None:
    parsed["state_check"]["profile_hash"]["checksum"] = profile_hash(warehouse.resolve())
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(".tmp")
    partial.write_bytes(msgpack.packb(parsed))
    partial.replace(destination)


def _read(path: Path) -> dict:
    return msgpack.unpackb(path.read_bytes(), strict_map_key=False)


def seed(data_dir: Path, warehouse: Path | None = None) -> None:
    """Give a data dir dbt has not parsed for yet the run's parse, hashed for its warehouse.

    Only a data dir that exists: a command refused before it writes
    anything must leave no directory behind (tests/integration/test_bad_input.py).
    """
    mine = data_dir / "dbt" / "target" / FILE_NAME
    if not data_dir.is_dir() or mine.exists():
        return
    template = _template()
    if template is not None:
        _write(_read(template), mine, warehouse or data_dir / "warehouse.duckdb")


def retarget(source: Path, copy: Path) -> None:
    """A copied data dir keeps its parse: dbt made it for the source's warehouse, hash it for the copy's."""
    mine = copy / "dbt" / "target" / FILE_NAME
    if _template() is None or not mine.exists():
        return
    parsed = _read(mine)
    if parsed["state_check"]["profile_hash"]["checksum"] == profile_hash(
        (source / "warehouse.duckdb").resolve()
    ):
        _write(parsed, mine, copy / "warehouse.duckdb")
