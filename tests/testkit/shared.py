"""Expensive fixtures built once per test run and handed to every pytest-xdist worker.

Under xdist each worker is its own process with its own session fixtures; a
warehouse built in a session fixture would be built once per worker. Here
the first worker to ask builds it under a file lock in the run's common
temporary directory, and the others wait for it and reuse it. What is
built is read-only for the tests: a test that writes takes a copy.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def run_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary directory of this whole run (all workers), not of one worker."""
    base = tmp_path_factory.getbasetemp()
    # xdist gives each worker <run>/popen-gwN as its base
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run_root(tmp_path_factory) / "shared"


def build_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]) -> Path:
    """The directory `name`, made by `build(directory)` exactly once in this run.

    A build that raised leaves no completion mark: the next worker that asks
    builds again from an empty directory, and fails the same way, so every
    test that needs it reports the failure.
    """
    root = shared_root(tmp_path_factory)
    root.mkdir(parents=True, exist_ok=True)
    directory, done = root / name, root / f"{name}.done"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir()
            build(directory)
            done.touch()
    return directory
