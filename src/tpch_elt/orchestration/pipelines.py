"""The pipelines Airflow runs, read from `airflow/pipelines.yml`: one DAG per entry.

No Airflow import: the DAG file turns each `Pipeline` into a DAG, and
everything here is unit-tested without a scheduler. A file that cannot be
used fails with one line naming the file, the entry, the field and what to
do (a `PipelineError`); the dag-processor shows it as the DAG file's
import error, and no DAG of the file is registered half-configured.

    pipelines:
      - name: dbt_pipeline          # the DAG id (letters, digits, _ . -)
        schedule: "0 */4 * * *"     # cron, UTC
        assets: [tpch_elt_batch_landed]  # also run when one of these gets an event
        ingest: true                # append the next arrival batch first
        reload: []                  # raw reference tables to reload from landing first
        full_tests: false           # `tpch-elt build --full-tests` on every run
        sla: 2h                     # the run must finish this long after it was queued
        owner: data-platform
        description: ...
        tags: [tpch, dbt]

Every pipeline builds what `tpch-elt build` builds (with `full_tests`,
what `build --full-tests` builds): there is no per-pipeline dbt selection,
because the publication that closes each run publishes every mart the build
plan did not skip, and only the plan's own exclusions are known to it.
`TPCH_ELT_PIPELINES` names another file (the tests use one).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from tpch_elt.durations import parse_duration
from tpch_elt.errors import PipelineError, printable

PIPELINES_VAR = "TPCH_ELT_PIPELINES"
DEFAULT_PIPELINES = Path(__file__).resolve().parents[3] / "airflow" / "pipelines.yml"
# The raw tables a reload may replace: the reference data. orders and
# lineitem arrive in batches (`ingest`); a full reload is `tpch-elt load`.
REFERENCE_TABLES = ("nation", "region", "part", "supplier", "partsupp", "customer")

_REQUIRED = ("name", "schedule", "owner", "description")
_OPTIONAL = ("assets", "ingest", "reload", "full_tests", "sla", "tags")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")
_ASSET = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}")
_TAG = re.compile(r"[^\x00-\x1f\x7f]{1,100}")
# Cron fields: minute, hour, day of month, month, day of week (0-7, 7 is Sunday).
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))
_CRON_NAMES = {
    3: ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    4: ("sun", "mon", "tue", "wed", "thu", "fri", "sat"),
}
_CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@yearly")


@dataclass(frozen=True)
class Pipeline:
    """One entry of pipelines.yml: what its DAG runs, when, and by when it must be done."""

    name: str
    schedule: str
    owner: str
    description: str
    full_tests: bool = False
    ingest: bool = False
    reload: tuple[str, ...] = ()
    # Run-duration deadline after the run was queued; None: no deadline.
    deadline: timedelta | None = None
    sla: str | None = None  # the deadline as written, for alerts
    tags: tuple[str, ...] = ()
    # Asset names whose events also trigger a run (besides the schedule).
    assets: tuple[str, ...] = ()


def shown(value: object, limit: int = 60) -> str:
    """A value from the file as one printable, bounded piece of an error line."""
    text = printable(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quoted(value: object, limit: int = 60) -> str:
    """`shown(value)` in single quotes."""
    return f"'{shown(value, limit)}'"


def pipelines_path(default: Path = DEFAULT_PIPELINES, environ: Mapping[str, str] | None = None) -> Path:
    """`TPCH_ELT_PIPELINES`, or `default` (the DAG file passes airflow/pipelines.yml beside it)."""
    configured = (os.environ if environ is None else environ).get(PIPELINES_VAR)
    return Path(configured) if configured else default


def _cron_value(token: str, field: int) -> int | None:
    names = _CRON_NAMES.get(field, ())
    if token.lower() in names:
        return names.index(token.lower()) + (1 if field == 3 else 0)
    return int(token) if token.isdigit() else None


def _cron_item(item: str, field: int) -> bool:
    low, high = _CRON_RANGES[field]
    span, slash, step = item.partition("/")
    if slash and not (step.isdigit() and int(step) > 0):
        return False
    if span == "*":
        return True
    first, dash, last = span.partition("-")
    start = _cron_value(first, field)
    end = _cron_value(last, field) if dash else start
    if start is None or end is None:
        return False
    return low <= start <= end <= high


def is_cron(expression: str) -> bool:
    """A five-field cron expression (names for months and weekdays, ranges, steps, lists) or a preset."""
    if expression.strip() in _CRON_PRESETS:
        return True
    fields = expression.split()
    return len(fields) == 5 and all(
        all(item and _cron_item(item, index) for item in text.split(",")) for index, text in enumerate(fields)
    )


class _Entry:
    """One entry's fields, each checked with an error line naming the file, the entry and the field."""

    def __init__(self, where: str, label: str, raw: Mapping[str, Any]) -> None:
        self.where, self.label, self.raw = where, label, raw

    def fail(self, field: str, problem: str) -> PipelineError:
        return PipelineError(f"{self.where}: {self.label}: {field} {problem}")

    def text(self, field: str, *, required: bool = False, default: str = "") -> str:
        value = self.raw.get(field)
        if value is None:
            if required:
                raise self.fail(field, "is missing: every pipeline needs " + ", ".join(_REQUIRED))
            return default
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"{quoted(value)} must be non-empty text")
        return value.strip()

    def flag(self, field: str) -> bool:
        value = self.raw.get(field, False)
        if not isinstance(value, bool):
            raise self.fail(field, f"{quoted(value)} must be true or false")
        return value

    def words(self, field: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
        """A list of strings (a single string is split on whitespace), each matching `pattern`."""
        value = self.raw.get(field) or []
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(field, f"{quoted(value)} must be a list, e.g. [a, b]")
        for item in value:
            if not pattern.fullmatch(item):
                raise self.fail(field, f"has {quoted(item)}, which is not {what}")
        return tuple(value)


def _pipeline(where: str, index: int, raw: object) -> Pipeline:
    if not isinstance(raw, Mapping):
        raise PipelineError(f"{where}: pipeline #{index + 1} must be a mapping with name, schedule, ...")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        problem = "is missing" if name is None else f"{quoted(name)} is not a DAG id"
        raise PipelineError(
            f"{where}: pipeline #{index + 1}: name {problem}: use letters, digits, '_', '.' or '-'"
        )
    entry = _Entry(where, f"pipeline {name!r}", raw)
    unknown = sorted(str(key) for key in raw if key not in _REQUIRED + _OPTIONAL)
    if unknown:
        raise entry.fail(
            shown(unknown[0], 40), "is not a known field: use " + ", ".join(_REQUIRED + _OPTIONAL)
        )
    schedule = entry.text("schedule", required=True)
    if not is_cron(schedule):
        raise entry.fail(
            "schedule", f"{quoted(schedule)} is not a cron expression like '0 */4 * * *' (UTC) or @daily"
        )
    sla = raw.get("sla")
    deadline = None
    if sla is not None:
        deadline = parse_duration(sla) if isinstance(sla, str) else None
        if deadline is None:
            raise entry.fail("sla", f"{quoted(sla)} is not a duration like 30m or 2h")
    reload = entry.words("reload", _NAME, "a raw reference table")
    outside = [table for table in reload if table not in REFERENCE_TABLES]
    if outside:
        raise entry.fail(
            "reload",
            f"has {quoted(outside[0])}: only reference tables reload ({', '.join(REFERENCE_TABLES)}); "
            "orders and line items arrive by ingest",
        )
    return Pipeline(
        name=name,
        schedule=schedule,
        owner=entry.text("owner", required=True),
        description=entry.text("description", required=True),
        full_tests=entry.flag("full_tests"),
        ingest=entry.flag("ingest"),
        reload=reload,
        deadline=deadline,
        sla=str(sla).strip() if sla is not None else None,
        tags=entry.words("tags", _TAG, "a tag (text, at most 100 characters)"),
        assets=entry.words("assets", _ASSET, "an asset name (letters, digits, _ . : / -)"),
    )


def load_pipelines(path: Path | None = None) -> list[Pipeline]:
    """Every pipeline of the file (default: `pipelines_path()`), checked; a `PipelineError` otherwise."""
    import yaml  # type: ignore[import-untyped]  # PyYAML (a dbt dependency) ships no types

    path = path or pipelines_path()
    where = shown(path, 200)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PipelineError(
            f"{where}: cannot read the pipelines ({shown(exc.strerror or exc, 80)}): "
            f"create it, or point {PIPELINES_VAR} at one"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = shown(getattr(exc, "problem", None) or "invalid YAML", 80)
        raise PipelineError(f"{where}: not valid YAML{line} ({problem}): fix the file") from None
    entries = data.get("pipelines") if isinstance(data, Mapping) else None
    if not isinstance(entries, list) or not entries:
        raise PipelineError(f"{where}: expected a top-level 'pipelines:' list with at least one pipeline")
    extra = sorted(str(key) for key in data if key != "pipelines")
    if extra:
        raise PipelineError(f"{where}: {quoted(extra[0], 40)} is not a known key: only 'pipelines:' is")
    pipelines: list[Pipeline] = []
    for index, raw in enumerate(entries):
        pipeline = _pipeline(where, index, raw)
        if any(other.name == pipeline.name for other in pipelines):
            raise PipelineError(
                f"{where}: pipeline {pipeline.name!r}: name is used twice: each pipeline is one DAG id"
            )
        pipelines.append(pipeline)
    return pipelines


def deadlines(path: Path | None = None) -> list[tuple[str, timedelta]]:
    """Each pipeline that declares an SLA, with its deadline (`tpch-elt sla`, the report)."""
    return [(p.name, p.deadline) for p in load_pipelines(path) if p.deadline is not None]
