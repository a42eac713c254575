"""The suite's tiers, the fast tier's guard, and the warehouses the tests share.

Tiers follow the folder a test lives in, so a new test cannot land in the
wrong one by accident (README, "Tests"):

    tests/unit/         fast     no dbt build, no subprocess, no service
    tests/integration/  e2e      the real CLI, dbt and DuckDB (snowflake: the fakesnow emulator)
    tests/airflow/      airflow  real Airflow runs, its API server and UI

Under pytest-xdist (`make test` runs both cores) the built warehouses are
made once per run and shared by the workers (testkit.shared); tests that
share a module-scoped fixture run on one worker (`--dist loadgroup`), and
the longest units are handed out first.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from testkit import parse_cache
from testkit.browser import launch
from testkit.cli import (
    E2E_BATCHES,
    E2E_SCALE_FACTOR,
    PENDING_BATCHES,
    PENDING_INITIAL_FRACTION,
    Pipeline,
    run_cli,
)
from testkit.shared import build_once, shared_root
from testkit.tiers import fast_tier_guard

TESTS_DIR = Path(__file__).resolve().parent
TIERS = {"unit": "fast", "integration": "e2e", "airflow": "airflow"}
# Handed out first (longest first keeps both cores busy to the end): the
# two Airflow runs, then the modules whose shared fixtures build the most.
LONGEST_FIRST = (
    "airflow/test_airflow_run.py",
    "integration/test_observability_e2e.py",
    "integration/test_snowflake_emulated.py",
    "integration/test_concurrency.py",
    "integration/test_incremental.py",
    "integration/test_docs.py",
)


def tier_of(path: Path) -> str:
    folder = path.resolve().relative_to(TESTS_DIR).parts[0]
    if folder not in TIERS:
        raise pytest.UsageError(f"{path}: a test lives in tests/unit, tests/integration or tests/airflow")
    return TIERS[folder]


def _xdist_group(item: pytest.Item) -> str | None:
    """Tests sharing a module-scoped fixture of their module run on one worker;
    the rest are free (session fixtures are built once per run, testkit.shared)."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    module = item.nodeid.split("::")[0]
    for name in info.names_closure:
        definitions = info.name2fixturedefs.get(name)
        if definitions and definitions[-1].scope in ("module", "class") and definitions[-1].baseid == module:
            return Path(str(item.path)).stem
    return None


def _rank(item: pytest.Item) -> int:
    nodeid = str(item.path.resolve().relative_to(TESTS_DIR)) + "::" + item.name
    for rank, prefix in enumerate(LONGEST_FIRST):
        if nodeid.startswith(prefix):
            return rank
    return len(LONGEST_FIRST)


# First: pytest-xdist's worker turns xdist_group marks into node ids in its own hook.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        tier = tier_of(item.path)
        item.add_marker(getattr(pytest.mark, tier))
        if tier != "fast" and (group := _xdist_group(item)):
            item.add_marker(pytest.mark.xdist_group(group))
    # stable: a module's tests stay together and in file order
    items.sort(key=_rank)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under --dist loadgroup the worker must have put each group into its node ids."""
    if not session.config.getoption("loadgroup", default=False):
        return
    for item in session.items:
        if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
            raise pytest.UsageError(
                "pytest-xdist did not apply --dist loadgroup's groups with this pytest "
                f"({pytest.__version__}): tests sharing a module fixture would build it on every worker; "
                "install the versions pyproject.toml pins"
            )


def pytest_sessionstart(session: pytest.Session) -> None:
    """Where this run's dbt parse is kept for every data dir (testkit.parse_cache)."""
    parse_cache.shared_dir = shared_root(session.config._tmp_path_factory)  # type: ignore[attr-defined]


# --- the fast tier's guard, around every phase of a fast test (testkit.tiers) ------------------


def _guarded(item: pytest.Item):
    return fast_tier_guard(item) if item.get_closest_marker("fast") else _nothing()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    with _guarded(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    with _guarded(item):
        return (yield)


# --- time per tier in the summary ---------------------------------------------------------------

_STARTED = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", "")
            when = getattr(report, "when", None)
            if "::" not in nodeid or when is None:
                continue
            try:
                tier = tier_of(config.rootpath / nodeid.split("::")[0])
            except (ValueError, pytest.UsageError):
                continue
            totals[tier][1] += report.duration
            totals[tier][0] += when == "call"
    if not totals:
        return
    terminalreporter.section("time per tier (test seconds, summed over workers)")
    for tier in ("fast", "e2e", "airflow"):
        if tier in totals:
            tests, seconds = totals[tier]
            terminalreporter.write_line(f"{tier:8} {int(tests):4d} tests {seconds:8.1f} s")
    terminalreporter.write_line(f"wall clock {time.monotonic() - _STARTED:.1f} s")


# --- shared, read-only builds -------------------------------------------------------------------


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    """One full `tpch-elt run` shared by the end-to-end tests: read-only (Pipeline.copy_to)."""

    def build(directory: Path) -> None:
        proc = run_cli(
            "--data-dir",
            str(directory / "data"),
            "run",
            "--scale-factor",
            str(E2E_SCALE_FACTOR),
            "--initial-fraction",
            "0.9",
            "--batches",
            str(E2E_BATCHES),
            check=True,
        )
        (directory / "stdout.txt").write_text(proc.stdout)

    directory = build_once(tmp_path_factory, "pipeline", build)
    data_dir = directory / "data"
    return Pipeline(
        data_dir, data_dir / "warehouse.duckdb", E2E_SCALE_FACTOR, (directory / "stdout.txt").read_text()
    )


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir at E2E_SCALE_FACTOR: generated with two pending arrival
    batches, loaded and built once. Tests copy it (testkit.cli.copy_data_dir)
    and never change it; a copy ingests from its own landing files."""

    def build(directory: Path) -> None:
        data_dir = directory / "data"
        sf = f"{E2E_SCALE_FACTOR:g}"
        run_cli(
            "--data-dir",
            str(data_dir),
            "generate",
            "-s",
            sf,
            "--initial-fraction",
            PENDING_INITIAL_FRACTION,
            "--batches",
            PENDING_BATCHES,
            check=True,
        )
        run_cli("--data-dir", str(data_dir), "load", "-s", sf, check=True)
        run_cli("--data-dir", str(data_dir), "build", check=True)

    return build_once(tmp_path_factory, "built-template", build) / "data"


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium per worker for the browser tests (testkit.browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()
