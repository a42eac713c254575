"""The `expect_*` generic tests (dbt_project/tests/generic/, README "Expectations") on real dbt and DuckDB.

A throwaway dbt project in tmp_path reads the project's own macros and
generic tests (by path: nothing is copied) and holds two small seeds with
known distributions. Every expectation is applied with arguments it must
pass and arguments it must fail, all in ONE `dbt build`; the status of each
named test comes from run_results.json. Two failing KL divergence tests
store their failures, and the divergence dbt computed must equal the one
computed here from the documented binning and smoothing.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from testkit.cli import REPO_ROOT

from tpch_elt.transform.dbt import dbt_environment, invoke

DBT_PROJECT = REPO_ROOT / "dbt_project"
CATEGORIES = "abcde"
SMOOTHING = 0.001  # the KL test's default
ROWS = 500


def observation(i: int) -> dict[str, Any]:
    return {
        "id": i,
        "grp": i % 5,  # five groups of 100
        "category": CATEGORIES[i % 5],  # uniform
        # 60 % 'a', 10 % each of the others
        "drifted_category": "a" if i % 10 < 6 else CATEGORIES[i % 5],
        # 5 % a category the reference never has
        "new_category": "z" if i % 20 == 0 else CATEGORIES[i % 5],
        "amount": i % 100,  # 0..99, five times each: mean 49.5, stdev 28.9
        "shifted_amount": i % 100 + 30,
        "code": f"C#{i:06d}",
        "optional_value": "" if i % 3 == 0 else i,  # 334 of 500 non-null
    }


def reference(i: int) -> dict[str, Any]:
    return {"id": i, "category": CATEGORIES[i % 5], "amount": (i * 37) % 100}


OBSERVATIONS = [observation(i) for i in range(1, ROWS + 1)]
REFERENCE = [reference(i) for i in range(1, 1001)]

# name: (column or None for a model-level test, expectation, arguments, config, expected status)
Case = tuple[str | None, str, dict[str, Any], dict[str, Any], str]
ROW_COUNT = "expect_table_row_count_to_be_between"
REGEX = "expect_column_values_to_match_regex"
MEAN = "expect_column_mean_to_be_between"
STDEV = "expect_column_stdev_to_be_between"
QUANTILE = "expect_column_quantile_values_to_be_between"
DISTINCT = "expect_column_distinct_count_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
KL = "expect_column_kl_divergence_to_be_less_than"
UNIFORM = {"values": list(CATEGORIES), "weights": [1, 1, 1, 1, 1]}
QUARTERS = {"bins": [0, 25, 50, 75, 100], "weights": [1, 1, 1, 1]}
STORED = {"store_failures": True}

CASES: dict[str, Case] = {
    "row_count_pass": (None, ROW_COUNT, {"min_value": 500, "max_value": 500}, {}, "pass"),
    "row_count_fail": (None, ROW_COUNT, {"max_value": 499}, {}, "fail"),
    "row_count_strictly_fail": (None, ROW_COUNT, {"min_value": 500, "strictly": True}, {}, "fail"),
    "row_count_group_by_pass": (
        None,
        ROW_COUNT,
        {"min_value": 100, "max_value": 100, "group_by": ["grp"]},
        {},
        "pass",
    ),
    "row_count_group_by_fail": (
        None,
        ROW_COUNT,
        {"min_value": 100, "group_by": ["grp"], "row_condition": "id <= 250"},
        {},
        "fail",
    ),
    "regex_pass": ("code", REGEX, {"regex": r"^C#\d{6}$"}, {}, "pass"),
    "regex_fail": ("code", REGEX, {"regex": r"^C#0000\d\d$"}, {}, "fail"),
    "regex_search_pass": ("code", REGEX, {"regex": r"\d{3}$"}, {}, "pass"),
    "regex_flags_pass": ("code", REGEX, {"regex": "^c#", "flags": "i"}, {}, "pass"),
    "regex_case_fail": ("code", REGEX, {"regex": "^c#"}, {}, "fail"),
    "regex_row_condition_pass": (
        "code",
        REGEX,
        {"regex": "^C#0000", "row_condition": "id < 100"},
        {},
        "pass",
    ),
    "mean_pass": ("amount", MEAN, {"min_value": 49, "max_value": 50}, {}, "pass"),
    "mean_fail": ("amount", MEAN, {"min_value": 50}, {}, "fail"),
    "mean_warn": ("amount", MEAN, {"max_value": 40}, {"severity": "warn"}, "warn"),
    "mean_row_condition_pass": (
        "amount",
        MEAN,
        {"max_value": 10, "row_condition": "amount < 20"},
        {},
        "pass",
    ),
    "stdev_pass": ("amount", STDEV, {"min_value": 28.5, "max_value": 29.5}, {}, "pass"),
    "stdev_fail": ("amount", STDEV, {"max_value": 28.5}, {}, "fail"),
    "quantile_pass": ("amount", QUANTILE, {"quantile": 0.5, "min_value": 49, "max_value": 50}, {}, "pass"),
    "quantile_fail": ("amount", QUANTILE, {"quantile": 0.9, "max_value": 80}, {}, "fail"),
    "distinct_pass": ("category", DISTINCT, {"min_value": 5, "max_value": 5}, {}, "pass"),
    "distinct_fail": ("category", DISTINCT, {"min_value": 6}, {}, "fail"),
    "not_null_mostly_pass": ("optional_value", NOT_NULL, {"mostly": 0.66}, {}, "pass"),
    "not_null_mostly_fail": ("optional_value", NOT_NULL, {"mostly": 0.67}, {}, "fail"),
    "not_null_all_fail": ("optional_value", NOT_NULL, {}, {}, "fail"),
    "not_null_all_pass": ("code", NOT_NULL, {}, {}, "pass"),
    # KL divergence: categories against fixed weights, against a relation
    "kl_partition_pass": ("category", KL, {"threshold": 0.01, "partition_object": UNIFORM}, {}, "pass"),
    "kl_partition_fail": (
        "drifted_category",
        KL,
        {"threshold": 0.01, "partition_object": UNIFORM},
        STORED,
        "fail",
    ),
    "kl_new_category_fail": (
        "new_category",
        KL,
        {"threshold": 0.05, "partition_object": UNIFORM},
        {},
        "fail",
    ),
    "kl_reference_pass": (
        "category",
        KL,
        {"threshold": 0.01, "reference_model": "ref('reference')"},
        {},
        "pass",
    ),
    "kl_reference_fail": (
        "drifted_category",
        KL,
        {"threshold": 0.01, "reference_model": "ref('reference')", "reference_column": "category"},
        {},
        "fail",
    ),
    # ...numbers on the reference's deciles, and on a fixed partition
    "kl_quantile_bins_pass": (
        "amount",
        KL,
        {"threshold": 0.01, "reference_model": "ref('reference')", "bins": 10},
        {},
        "pass",
    ),
    "kl_quantile_bins_fail": (
        "shifted_amount",
        KL,
        {"threshold": 0.01, "reference_model": "ref('reference')", "reference_column": "amount", "bins": 10},
        STORED,
        "fail",
    ),
    "kl_fixed_bins_pass": ("amount", KL, {"threshold": 0.01, "partition_object": QUARTERS}, {}, "pass"),
    "kl_fixed_bins_fail": (
        "shifted_amount",
        KL,
        {"threshold": 0.01, "partition_object": QUARTERS},
        {},
        "fail",
    ),
}


def _write_project(root: Path) -> Path:
    project = root / "project"
    (project / "seeds").mkdir(parents=True)
    (project / "tests").mkdir()
    # the real generic tests, by path (dbt walks a symlinked search root)
    (project / "tests" / "generic").symlink_to(DBT_PROJECT / "tests" / "generic", target_is_directory=True)
    (project / "dbt_project.yml").write_text(
        yaml.safe_dump(
            {
                # the real project's name: its dispatch macros use its namespace
                "name": "tpch_elt",
                "version": "1.0.0",
                "config-version": 2,
                "profile": "expectations",
                "macro-paths": [str(DBT_PROJECT / "macros")],
                "test-paths": ["tests"],
                "seed-paths": ["seeds"],
                "model-paths": ["models"],
                "vars": {"batch_scoped_models": []},
                "flags": {"send_anonymous_usage_stats": False},
            }
        )
    )
    (project / "profiles.yml").write_text(
        yaml.safe_dump(
            {
                "expectations": {
                    "target": "duckdb",
                    "outputs": {
                        "duckdb": {"type": "duckdb", "path": str(root / "expectations.duckdb"), "threads": 4}
                    },
                }
            }
        )
    )
    for name, rows in (("observations", OBSERVATIONS), ("reference", REFERENCE)):
        with (project / "seeds" / f"{name}.csv").open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    columns: dict[str, list[dict[str, Any]]] = {}
    model_tests: list[dict[str, Any]] = []
    for name, (column, expectation, arguments, config, _) in CASES.items():
        test: dict[str, Any] = {"name": name, "arguments": arguments}
        if config:
            test["config"] = config
        (columns.setdefault(column, []) if column else model_tests).append({expectation: test})
    (project / "seeds" / "schema.yml").write_text(
        yaml.safe_dump(
            {
                "version": 2,
                "seeds": [
                    {
                        "name": "observations",
                        "data_tests": model_tests,
                        "columns": [
                            {"name": column, "data_tests": tests} for column, tests in columns.items()
                        ],
                    }
                ],
            },
            sort_keys=False,
        )
    )
    return project


def kl_divergence(observed: Counter[str], expected: dict[str, float]) -> float:
    """KL(P || Q) as the test documents it: both mixed with the uniform over the union of bins."""
    bins = set(observed) | set(expected)
    n, total = sum(observed.values()), sum(expected.values())
    divergence = 0.0
    for name in bins:
        p = (1 - SMOOTHING) * observed.get(name, 0) / n + SMOOTHING / len(bins)
        q = (1 - SMOOTHING) * expected.get(name, 0) / total + SMOOTHING / len(bins)
        divergence += p * math.log(p / q)
    return divergence


def continuous_quantile(values: Sequence[float], q: float) -> float:
    """quantile_cont / percentile_cont: linear interpolation between the nearest ranks."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def decile_bin_counts(values: Sequence[float], reference_values: Sequence[float]) -> Counter[str]:
    """Bin = number of the reference's distinct decile cut points <= the value."""
    cuts = sorted({continuous_quantile(reference_values, k / 10) for k in range(1, 10)})
    return Counter(str(bisect.bisect_right(cuts, value)) for value in values)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict[str, Any]], Path]:
    root = tmp_path_factory.mktemp("expectations")
    project = _write_project(root)
    target = root / "target"
    with dbt_environment({"DO_NOT_TRACK": "1", "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}):
        result = invoke(
            [
                "build",
                "--project-dir",
                str(project),
                "--profiles-dir",
                str(project),
                "--target-path",
                str(target),
                "--log-path",
                str(root / "logs"),
                "--quiet",
            ]
        )
    assert result.result is not None, f"dbt build could not run: {result.exception}"
    run_results = json.loads((target / "run_results.json").read_text())
    statuses = {item["unique_id"].split(".")[2]: item for item in run_results["results"]}
    return statuses, root / "expectations.duckdb"


def test_each_expectation_passes_and_fails_where_it_should(
    built: tuple[dict[str, dict[str, Any]], Path],
) -> None:
    results, _ = built
    assert results["observations"]["status"] == "success"
    actual = {name: results[name]["status"] for name in CASES if name in results}
    expected = {name: case[4] for name, case in CASES.items()}
    assert actual == expected
    # (arguments the tests refuse, e.g. two references, stop dbt's parse:
    # not a case a single build can hold)


def test_failures_report_what_was_measured(built: tuple[dict[str, dict[str, Any]], Path]) -> None:
    results, _ = built
    # row-level tests count the offending rows; group_by, one row per group
    assert results["regex_fail"]["failures"] == sum(1 for row in OBSERVATIONS if row["id"] >= 100)
    assert results["regex_case_fail"]["failures"] == ROWS
    assert results["row_count_group_by_fail"]["failures"] == 5
    # aggregate tests fail with one row
    for name in ("mean_fail", "stdev_fail", "quantile_fail", "distinct_fail", "not_null_mostly_fail"):
        assert results[name]["failures"] == 1, name


def test_kl_divergence_is_the_documented_one(built: tuple[dict[str, dict[str, Any]], Path]) -> None:
    _, warehouse = built
    with duckdb.connect(str(warehouse), read_only=True) as con:
        stored = {
            name: con.execute(f"select kl_divergence, bin_count from dbt_test__audit.{name}").fetchall()
            for name in ("kl_partition_fail", "kl_quantile_bins_fail")
        }
    drifted = Counter(str(row["drifted_category"]) for row in OBSERVATIONS)
    expected = kl_divergence(drifted, dict.fromkeys(CATEGORIES, 1.0))
    # 60 % 'a' against a uniform 20 %: about 0.38 nats
    assert stored["kl_partition_fail"] == [(pytest.approx(expected, rel=1e-9), 5)]
    assert 0.37 < expected < 0.39

    reference_amounts = [float(row["amount"]) for row in REFERENCE]
    shifted = [float(row["shifted_amount"]) for row in OBSERVATIONS]
    observed_bins = decile_bin_counts(shifted, reference_amounts)
    reference_bins = decile_bin_counts(reference_amounts, reference_amounts)
    expected = kl_divergence(observed_bins, {k: float(v) for k, v in reference_bins.items()})
    assert stored["kl_quantile_bins_fail"] == [(pytest.approx(expected, rel=1e-9), 10)]
    assert expected > 0.1
