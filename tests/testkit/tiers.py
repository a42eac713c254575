"""The fast tier's promise, enforced: no process, no warehouse dbt built.

tests/conftest.py wraps the setup, call and teardown of every test in
tests/unit in `fast_tier_guard`; a fast test that starts a process or
opens a shared built warehouse fails, naming the folder it belongs in.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import duckdb
import pytest

from testkit.shared import shared_root

# Fixtures that hand out warehouses built by dbt: never in the fast tier.
BUILT_WAREHOUSES = frozenset({"pipeline", "built_template", "prepared_data"})


class FastTierViolation(AssertionError):
    """A fast-tier test started a process or opened a warehouse dbt built."""


@contextmanager
def fast_tier_guard(item: pytest.Item) -> Iterator[None]:
    """While a fast-tier test (and the fixtures it sets up) runs: no process, no built warehouse."""
    where = f"{item.nodeid} is in tests/unit (the fast tier)"
    built = BUILT_WAREHOUSES & set(getattr(item, "fixturenames", ()))
    if built:
        raise FastTierViolation(f"{where} but uses {', '.join(sorted(built))}: move it to tests/integration")
    shared = str(shared_root(item.config._tmp_path_factory))  # type: ignore[attr-defined]

    def no_process(command, *args, **kwargs):
        raise FastTierViolation(f"{where} but starts a process ({command!r}): move it to tests/integration")

    def no_popen(self, command, *args, **kwargs):
        no_process(command)

    original_connect = duckdb.connect

    def connect(database=":memory:", *args, **kwargs):
        if str(database).startswith(shared):
            raise FastTierViolation(f"{where} but opens the built warehouse {database}")
        return original_connect(database, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(subprocess.Popen, "__init__", no_popen)
        for name in ("system", "fork", "forkpty", "posix_spawn", "posix_spawnp", "execv", "execve"):
            if hasattr(os, name):
                patch.setattr(os, name, no_process)
        patch.setattr(duckdb, "connect", connect)
        yield
