"""One writer at a time: an advisory lock beside the warehouse file.

DuckDB itself refuses a second writing process, but only when it opens the
file, which may be half-way through a run (after generate, inside dbt).
Every command that writes the warehouse takes this lock first, so a second
`tpch-elt run`/`build`/`load`/`ingest`/`generate` exits at once, changes
nothing and says who holds it. `generate` also takes the landing
directory's lock (`landing_lock`), so two generates into one landing
directory never interleave even with different warehouses. The kernel
releases a lock when its holder exits, however it exits (even SIGKILL), so
a crashed run never blocks the next.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tpch_elt.errors import PipelineError

LANDING_LOCK = ".generate.lock"


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def warehouse_lock(warehouse: Path, purpose: str) -> Iterator[None]:
    """Hold the writer lock of `warehouse` for the duration of the block.

    Re-entrant within one process: a command that calls another step
    (`run` calling `build`) keeps the lock it already holds.
    """
    with _file_lock(
        lock_path(warehouse),
        purpose,
        busy=f"{warehouse} is being written by another tpch-elt process",
        what="warehouse",
        remedy="choose a writable --warehouse path",
    ):
        yield


@contextmanager
def landing_lock(landing_dir: Path, purpose: str) -> Iterator[None]:
    """Hold the writer lock of a landing directory (`generate` writes it)."""
    with _file_lock(
        landing_dir / LANDING_LOCK,
        purpose,
        busy=f"{landing_dir} is being written by another tpch-elt process",
        what="landing directory",
        remedy="choose a writable --data-dir",
    ):
        yield


@contextmanager
def _file_lock(path: Path, purpose: str, *, busy: str, what: str, remedy: str) -> Iterator[None]:
    if _HELD.get(path):
        _HELD[path] += 1
        try:
            yield
        finally:
            _HELD[path] -= 1
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise PipelineError(f"cannot create lock file {path}: {exc.strerror}; {remedy}") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise PipelineError(f"{what} busy ({holder}): {busy}; wait for it to finish and retry") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {purpose}".encode(), 0)
        _HELD[path] = 1
        try:
            yield
        finally:
            _HELD.pop(path, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# Locks this process holds, with their nesting depth.
_HELD: dict[Path, int] = {}
