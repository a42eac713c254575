"""airflow/pipelines.yml as tpch_elt.orchestration.pipelines reads it: the shipped file, and each bad
entry refused with one line naming the file, the pipeline and the field. No Airflow, no subprocess."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from tpch_elt.durations import parse_duration
from tpch_elt.errors import PipelineError
from tpch_elt.orchestration import DAG_ID
from tpch_elt.orchestration.pipelines import (
    PIPELINES_VAR,
    REFERENCE_TABLES,
    Pipeline,
    is_cron,
    load_pipelines,
    pipelines_path,
)

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "airflow" / "pipelines.yml"

GOOD = """\
pipelines:
  - name: daily_sweep
    description: the sweep
    schedule: "0 2 * * *"
    full_tests: true
    sla: 3h
    owner: data-platform
    tags: [tpch]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipelines.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(PipelineError) as error:
        load_pipelines(path)
    message = str(error.value)
    assert "\n" not in message, message
    assert message.startswith(f"{path}: "), message
    return message


def test_the_shipped_pipelines_are_the_increment_the_sweep_and_the_reference_reload() -> None:
    pipelines = {p.name: p for p in load_pipelines(SHIPPED)}
    assert list(pipelines) == [DAG_ID, "daily_sweep", "reference_reload"]
    increment = pipelines[DAG_ID]
    # dbt_pipeline keeps its id and its behaviour: every 4 hours, one batch, the CLI's incremental build
    assert (increment.schedule, increment.ingest, increment.full_tests) == ("0 */4 * * *", True, False)
    assert increment.assets == ("tpch_elt_batch_landed",)
    assert increment.tags == ("tpch", "dbt")
    sweep = pipelines["daily_sweep"]
    assert (sweep.full_tests, sweep.ingest, sweep.reload) == (True, False, ())
    # between two increments (00:00 and 04:00 UTC)
    assert sweep.schedule == "0 2 * * *"
    reload = pipelines["reference_reload"]
    assert set(reload.reload) == set(REFERENCE_TABLES) and reload.full_tests and not reload.ingest
    assert reload.schedule == "0 3 * * 0"  # weekly
    for pipeline in pipelines.values():
        assert pipeline.deadline is not None and pipeline.deadline >= timedelta(hours=1)
        assert pipeline.owner and pipeline.description


def test_a_minimal_entry_takes_the_defaults(tmp_path: Path) -> None:
    (pipeline,) = load_pipelines(
        write(tmp_path, "pipelines:\n  - {name: p, schedule: '@daily', owner: me, description: d}\n")
    )
    assert pipeline == Pipeline(name="p", schedule="@daily", owner="me", description="d")
    assert pipeline.deadline is None and pipeline.assets == ()


def test_the_file_comes_from_the_environment_when_set(tmp_path: Path) -> None:
    default = tmp_path / "default.yml"
    assert pipelines_path(default, environ={}) == default
    assert pipelines_path(default, environ={PIPELINES_VAR: str(tmp_path / "x.yml")}) == tmp_path / "x.yml"
    assert pipelines_path(default, environ={PIPELINES_VAR: ""}) == default


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1d", timedelta(days=1)),
        ("2h30m", timedelta(hours=2, minutes=30)),
        ("5s", timedelta(seconds=5)),
    ],
)
def test_durations(text: str, duration: timedelta) -> None:
    assert parse_duration(text) == duration


@pytest.mark.parametrize("text", ["", "2 hours", "0m", "h", "30", "1.5h", "-2h", "2h 30m", "m30"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize(
    "expression",
    [
        "0 */4 * * *",
        "0 2 * * *",
        "0 3 * * 0",
        "*/15 8-18 * * mon-fri",
        "0 0 1 jan,jul *",
        "@daily",
        "0 0 * * 7",
    ],
)
def test_cron_expressions(expression: str) -> None:
    assert is_cron(expression)


@pytest.mark.parametrize(
    "expression",
    [
        "every day",
        "0 */4 * *",
        "0 24 * * *",
        "60 0 * * *",
        "0 0 0 * *",
        "0 0 * 13 *",
        "0 0 * * 8",
        "*/0 * * * *",
        "5-1 * * * *",
        "0 0 * * * *",
        "0,,1 * * * *",
        "@sometimes",
        "a b c d e",
    ],
)
def test_not_cron_expressions(expression: str) -> None:
    assert not is_cron(expression)


def test_a_bad_sla_names_the_file_the_pipeline_and_the_field(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD.replace("sla: 3h", "sla: 2 hours"))
    assert message.endswith("pipeline 'daily_sweep': sla '2 hours' is not a duration like 30m or 2h")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("    tags: [tpch]\n", "    tags: [tpch]\n    retries: 3\n"),
            "pipeline 'daily_sweep': retries is not a known field: use name, schedule",
        ),
        (
            ('    schedule: "0 2 * * *"\n', '    schedule: "0 25 * * *"\n'),
            "pipeline 'daily_sweep': schedule '0 25 * * *' is not a cron expression like '0 */4 * * *'",
        ),
        (
            ("    owner: data-platform\n", ""),
            "pipeline 'daily_sweep': owner is missing: every pipeline needs",
        ),
        (('    schedule: "0 2 * * *"\n', ""), "pipeline 'daily_sweep': schedule is missing"),
        (
            ("    full_tests: true\n", "    full_tests: yes please\n"),
            "pipeline 'daily_sweep': full_tests 'yes please' must be true or false",
        ),
        (
            ("    full_tests: true\n", "    reload: [orders]\n"),
            "pipeline 'daily_sweep': reload has 'orders': only reference tables reload",
        ),
        (
            ("    tags: [tpch]\n", "    tags: [tpch]\n    assets: ['batch landed']\n"),
            "pipeline 'daily_sweep': assets has 'batch landed', which is not an asset name",
        ),
        (
            ("    tags: [tpch]\n", "    tags: {a: 1}\n"),
            "pipeline 'daily_sweep': tags '{'a': 1}' must be a list, e.g. [a, b]",
        ),
        (
            ("    sla: 3h\n", "    sla: 3\n"),
            "pipeline 'daily_sweep': sla '3' is not a duration like 30m or 2h",
        ),
        (
            ("    description: the sweep\n", "    description: ''\n"),
            "pipeline 'daily_sweep': description '' must be non-empty text",
        ),
        (
            ("  - name: daily_sweep\n", "  - name: daily sweep\n"),
            "pipeline #1: name 'daily sweep' is not a DAG id: use letters, digits",
        ),
        (("  - name: daily_sweep\n", "  - description: x\n"), "pipeline #1: name is missing"),
    ],
)
def test_each_bad_field_is_one_line_naming_it(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    assert change[0] in GOOD
    assert expected in refused(tmp_path, GOOD.replace(*change))


def test_two_pipelines_with_one_name_are_refused(tmp_path: Path) -> None:
    twice = GOOD + GOOD.split("\n", 1)[1]
    assert "pipeline 'daily_sweep': name is used twice" in refused(tmp_path, twice)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pipelines: []\n", "expected a top-level 'pipelines:' list with at least one pipeline"),
        ("- name: x\n", "expected a top-level 'pipelines:' list"),
        (GOOD + "defaults: {}\n", "'defaults' is not a known key"),
        ("pipelines:\n  - just a name\n", "pipeline #1 must be a mapping"),
        ("pipelines: [\n", "not valid YAML at line"),
    ],
)
def test_a_file_of_the_wrong_shape_is_one_line(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in refused(tmp_path, text)


def test_a_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=f"cannot read the pipelines .*{PIPELINES_VAR}"):
        load_pipelines(tmp_path / "absent.yml")


def test_control_characters_from_the_file_are_shown_not_sent_to_the_terminal(tmp_path: Path) -> None:
    message = refused(tmp_path, GOOD.replace("sla: 3h", 'sla: "\\e[31m2 hours\\n"'))
    assert "\x1b" not in message and "\\x1b[31m2 hours\\x0a" in message
    message = refused(tmp_path, GOOD.replace("    tags: [tpch]\n", '    tags: [tpch]\n    "\\e]0;x": 1\n'))
    assert "\x1b" not in message and "\\x1b]0;x is not a known field" in message
    long = refused(tmp_path, GOOD.replace("sla: 3h", f"sla: {'9' * 500}x"))
    assert len(long) < 400


def test_each_pipelines_runs_have_their_own_ids_in_the_history() -> None:
    """Two DAGs' scheduled runs share run ids (scheduled__<time>): the history keys them by DAG too."""
    from types import SimpleNamespace

    from tpch_elt.orchestration.hooks import run_invocation_id

    run = "scheduled__2026-12-06T00:00:00+00:00"
    increment = SimpleNamespace(dag_id=DAG_ID, run_id=run)
    sweep = SimpleNamespace(dag_id="daily_sweep", run_id=run)
    assert run_invocation_id(increment) == f"airflow dbt_pipeline {run}"
    assert run_invocation_id(sweep) == f"airflow daily_sweep {run}"
