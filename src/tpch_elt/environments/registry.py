"""Where environments live, what each is, and the steps that need no dbt: create, list, drop, gc."""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
import shutil
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.publish.segments import (
    Publication,
    Record,
    Segment,
    collect_garbage,
    drop_pin,
    failure_reason,
    live_record,
    pins_dir,
    published_path,
    read_records,
    scratch_catalog,
    segments_dir,
    write_json,
    write_pin,
)
from tpch_elt.settings import Settings
from tpch_elt.warehouse.durable import fsync
from tpch_elt.warehouse.lock import warehouse_lock

PROD = "prod"
ENVIRONMENTS_DIRNAME = "environments"
METADATA = "environment.json"
CATALOG = "catalog.duckdb"
# Lower-case letters, digits and underscores: a dbt database name, a file name, a pin name.
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Who a promotion or build is recorded as: $TPCH_ELT_USER, else the login name, at this host.
USER_VAR = "TPCH_ELT_USER"
# `env gc` drops environments not built (or created) for this long.
DEFAULT_TTL = timedelta(days=7)


@dataclass(frozen=True)
class EnvBuild:
    """An environment's last `tpch-elt env build`."""

    number: int  # names the segments it wrote (one sequence with prod's publications)
    built_at: datetime
    by: str
    base: int  # prod's publication it was built against (and deferred to)
    batch_id: int | None  # the newest batch that publication covered
    passed: bool  # every model and error-severity test passed: promotable
    invocation_id: str | None
    selected: tuple[str, ...]  # the models it rebuilt
    rebuilt: tuple[str, ...]  # the marts it rebuilt (new segments)
    failures: tuple[str, ...] = ()
    # The user's --select/--exclude: the build may have left out tests of
    # what it rebuilt, so it can be diffed but not promoted.
    restricted: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environment:
    name: str
    directory: Path
    created_at: datetime
    created_by: str
    source: str  # prod, or the environment it was created from
    base: int  # prod's publication its catalog started from (or was last built on)
    batch_id: int | None
    segments: tuple[Segment, ...]
    build: EnvBuild | None = None

    @property
    def catalog(self) -> Path:
        return self.directory / CATALOG

    @property
    def warehouse(self) -> Path:
        return self.directory / f"env_{self.name}.duckdb"

    @property
    def target_dir(self) -> Path:
        return self.directory / "dbt" / "target"

    @property
    def manifest(self) -> Path:
        return self.target_dir / "manifest.json"

    @property
    def marts(self) -> list[str]:
        return sorted({s.mart for s in self.segments})

    @property
    def last_active(self) -> datetime:
        return self.build.built_at if self.build else self.created_at


def who() -> str:
    """`user@host` for the records: $TPCH_ELT_USER if set, else the login name."""
    user = os.environ.get(USER_VAR)
    if not user:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def root(settings: Settings) -> Path:
    return settings.data_dir / ENVIRONMENTS_DIRNAME


def store(settings: Settings) -> Path:
    """The segment store every environment shares: prod's."""
    return segments_dir(settings.warehouse_path)


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise PipelineError(
            f"environment name {name!r} is not valid: use a lower-case letter, then up to 39 "
            "lower-case letters, digits or underscores (e.g. dev, staging, pr_123)"
        )
    return name


def prod_live(settings: Settings) -> Record:
    """prod's live catalog, by its record; fails with what to do when nothing is published."""
    target = published_path(settings.warehouse_path)
    record = live_record(target, store(settings)) if target.is_file() else None
    if record is None:
        raise PipelineError(
            f"prod has no published snapshot with a record at {target}: run `tpch-elt build` "
            "(or `make run`) so prod publishes, then retry"
        )
    return record


def load(settings: Settings, name: str) -> Environment:
    """Environment `name` as its environment.json says; one line on what to do if there is none."""
    if name == PROD:
        raise PipelineError(
            "prod is not an environment this command takes: name one `tpch-elt env list` shows"
        )
    check_name(name)
    path = root(settings) / name / METADATA
    if not path.is_file():
        raise PipelineError(
            f"no environment {name!r} in {root(settings)}: `tpch-elt env list` shows them, "
            f"`tpch-elt env create {name}` makes it"
        )
    try:
        return _from_json(path.parent, _read(path))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(
            f"environment file {path} is unreadable ({failure_reason(exc)}): `tpch-elt env drop {name}` "
            "and create it again"
        ) from exc


def _read(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError("not an object")
    return data


def _segments(rows: Iterable[Any]) -> tuple[Segment, ...]:
    return tuple(Segment(str(m), str(p), None if t is None else int(t), int(r)) for m, p, t, r in rows)


def _from_json(directory: Path, data: dict[str, Any]) -> Environment:
    build = data.get("build")
    return Environment(
        name=str(data["name"]),
        directory=directory,
        created_at=datetime.fromisoformat(data["created_at"]),
        created_by=str(data["created_by"]),
        source=str(data["source"]),
        base=int(data["base"]),
        batch_id=None if data["batch_id"] is None else int(data["batch_id"]),
        segments=_segments(data["segments"]),
        build=None
        if build is None
        else EnvBuild(
            number=int(build["number"]),
            built_at=datetime.fromisoformat(build["built_at"]),
            by=str(build["by"]),
            base=int(build["base"]),
            batch_id=None if build["batch_id"] is None else int(build["batch_id"]),
            passed=bool(build["passed"]),
            invocation_id=build["invocation_id"],
            selected=tuple(build["selected"]),
            rebuilt=tuple(build["rebuilt"]),
            failures=tuple(build.get("failures") or ()),
            restricted=tuple(build.get("restricted") or ()),
        ),
    )


def save(env: Environment) -> None:
    """Write environment.json atomically (a reader sees the old file or the new)."""
    build = env.build
    write_json(
        env.directory / METADATA,
        {
            "name": env.name,
            "created_at": env.created_at.isoformat(),
            "created_by": env.created_by,
            "source": env.source,
            "base": env.base,
            "batch_id": env.batch_id,
            "segments": [[s.mart, s.path, s.max_batch_id, s.rows] for s in env.segments],
            "build": None
            if build is None
            else {
                "number": build.number,
                "built_at": build.built_at.isoformat(),
                "by": build.by,
                "base": build.base,
                "batch_id": build.batch_id,
                "passed": build.passed,
                "invocation_id": build.invocation_id,
                "selected": list(build.selected),
                "rebuilt": list(build.rebuilt),
                "failures": list(build.failures),
                "restricted": list(build.restricted),
            },
        },
    )


def write_env_catalog(settings: Settings, env: Environment) -> None:
    """The environment's catalog, naming env.segments, renamed into place (atomic for its readers)."""
    number = env.build.number if env.build and env.build.passed else env.base
    publication = Publication(
        env.catalog,
        number,
        env.build.built_at if env.build and env.build.passed else env.created_at,
        env.build.invocation_id if env.build and env.build.passed else None,
        env.batch_id,
        env.build.rebuilt if env.build and env.build.passed else (),
        tuple(m for m in env.marts if not (env.build and env.build.passed and m in env.build.rebuilt)),
    )
    with scratch_catalog(
        env.catalog, store(settings), list(env.segments), publication, warehouse=env.warehouse
    ) as scratch:
        os.replace(scratch, env.catalog)
        fsync(env.directory)


@dataclass(frozen=True)
class Created:
    env: Environment
    seconds: float
    parquet_bytes_written: int


def create(settings: Settings, name: str, source: str = PROD) -> Created:
    """A new environment naming `source`'s segments: no Parquet is written."""
    started = time.perf_counter()
    check_name(name)
    shared = store(settings)
    parquet_before = _parquet_bytes(shared)
    if source == PROD:
        live = prod_live(settings)
        base, batch_id, segments = live.publication.number, live.publication.batch_id, tuple(live.segments)
    else:
        origin = load(settings, source)
        base, batch_id, segments = origin.base, origin.batch_id, origin.segments
    directory = root(settings) / name
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        directory.mkdir()  # the claim: two creates of one name, one wins
    except FileExistsError:
        raise PipelineError(
            f"environment {name!r} exists ({directory}): `tpch-elt env drop {name}` first, or choose another name"
        ) from None
    env = Environment(name, directory, now(), who(), source, base, batch_id, segments)
    try:
        # Pinned before its catalog names them: no collection can take them.
        write_pin(shared, name, segments)
        write_env_catalog(settings, env)
        save(env)
    except (OSError, duckdb.Error) as exc:
        shutil.rmtree(directory, ignore_errors=True)
        drop_pin(shared, name)
        raise PipelineError(
            f"creating environment {name!r} failed ({failure_reason(exc)}): fix the cause and retry"
        ) from exc
    written = _parquet_bytes(shared) - parquet_before
    return Created(env, time.perf_counter() - started, written)


def _parquet_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.glob("*/*.parquet")) if folder.is_dir() else 0


def environments(settings: Settings) -> list[Environment]:
    """Every environment with a readable environment.json, by name."""
    folder = root(settings)
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob(f"*/{METADATA}")):
        with contextlib.suppress(PipelineError):
            found.append(load(settings, path.parent.name))
    return found


def drop(settings: Settings, name: str) -> Environment:
    """Remove an environment: its directory, then its pin (its segments go at the next collection)."""
    env = load(settings, name)
    with warehouse_lock(env.warehouse, f"drop environment {name}"):
        shutil.rmtree(env.directory)
    drop_pin(store(settings), name)
    return env


@dataclass(frozen=True)
class Collected:
    dropped: tuple[str, ...]
    files: int
    bytes: int
    seconds: float


def gc(settings: Settings, ttl: timedelta = DEFAULT_TTL) -> Collected:
    """Drop environments idle longer than `ttl`, then delete segments nothing live names.

    Kept: every segment an environment pins, and every segment the last
    KEEP_PUBLICATIONS (7) prod catalogs name.
    """
    started = time.perf_counter()
    cutoff = now() - ttl
    dropped = [env.name for env in environments(settings) if env.last_active <= cutoff]
    for name in dropped:
        drop(settings, name)
    shared = store(settings)
    live_names = {env.name for env in environments(settings)}
    for pin in pins_dir(shared).glob("*.json"):
        if pin.stem not in live_names:  # its environment's directory is gone
            pin.unlink(missing_ok=True)
    files = size = 0
    with warehouse_lock(settings.warehouse_path, "env gc"):
        records = read_records(shared)
        if records:
            before = {p: p.stat().st_size for p in shared.glob("*/*.parquet")}
            collect_garbage(shared, records)
            gone = [p for p in before if not p.exists()]
            files, size = len(gone), sum(before[p] for p in gone)
    return Collected(tuple(dropped), files, size, time.perf_counter() - started)
