"""The dbt project on Snowflake, proven without an account.

Two kinds of check:

* Static (default suite, milliseconds): model, test and macro SQL and the
  SQL inside YAML tests contain no DuckDB-only construct outside the
  DuckDB/default branch of an `adapter.dispatch` macro; every dispatched
  macro has a Snowflake implementation; the `snowflake` profile takes every
  credential from the environment.

* Emulated (`pytest -m snowflake`): the whole project through dbt-snowflake
  against the fakesnow emulator (fakesnow patches the Snowflake connector
  in-process and runs the SQL on DuckDB). Raw TPC-H data at SF 0.01 goes in
  through the connector (PUT + COPY INTO, tpch_elt.snowflake_load), then
  `dbt build` and `dbt source freshness` run with `--target snowflake`, and
  every model is compared with the DuckDB build of the same data. Each dbt
  step runs in a subprocess of tests/snowflake_emulator.py, because
  fakesnow's patch only applies inside the process that made it.

Emulator limitations, named here and covered by the DuckDB suite instead:

* TEMP_RELATION_LIMITATION: dbt-snowflake creates a temporary table or view
  qualified with database and schema for every incremental run (append:
  view, delete+insert: table) and for every unit test; DuckDB, and so
  fakesnow, allows temporary objects only in its own `temp` catalog. The
  incremental path is covered by tests/test_incremental.py, unit tests by
  every DuckDB build.
* LAST_ALTERED_LIMITATION: fakesnow's INFORMATION_SCHEMA reports every
  table's LAST_ALTERED as to_timestamp(0), so metadata-based freshness (the
  sample share's) sees 1970-01-01: the emulated check proves the metadata
  path is taken, not the age it reports.
* fakesnow's `numeric_agg_implicit_cast` turns SUM/AVG arguments into
  DOUBLE; Snowflake's SUM of a NUMBER is an exact NUMBER. The runner
  switches that transform off (see tests/snowflake_emulator.py) so exact
  money reconciliation means what it means on Snowflake.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from conftest import E2E_BATCHES, REPO_ROOT, Pipeline, cli_env

from tpch_elt.errors import PipelineError
from tpch_elt.snowflake_load import connection_params
from tpch_elt.tpch import TABLES, format_scale_factor

DBT_PROJECT = REPO_ROOT / "dbt_project"
EMULATOR = REPO_ROOT / "tests" / "snowflake_emulator.py"

TEMP_RELATION_LIMITATION = 'TEMPORARY table names can *only* use the "temp" catalog'
LAST_ALTERED_LIMITATION = "1970-01-01 00:00:00"

# --------------------------------------------------------------------------
# Static portability check
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Construct:
    name: str
    pattern: re.Pattern[str]
    # DuckDB-only SQL the pattern must catch (the scanner's own test)
    example: str
    instead: str


def _c(name: str, pattern: str, example: str, instead: str) -> Construct:
    return Construct(name, re.compile(pattern, re.IGNORECASE), example, instead)


FORBIDDEN: tuple[Construct, ...] = (
    _c("`::` cast", r"::", "select order_date::date", "cast(x as type)"),
    _c(
        "aggregate FILTER clause",
        r"\)\s*filter\s*\(\s*where\b",
        "select count(*) filter (where is_late)",
        "sum(case when ... then 1 else 0 end)",
    ),
    _c(
        "star EXCLUDE/REPLACE/RENAME",
        r"\*\s*(exclude|replace|rename)\s*\(",
        "select * exclude (comment) from t",
        "list the columns",
    ),
    _c("COLUMNS(...) expression", r"\bcolumns\s*\(", "select max(columns('amount_.*'))", "list the columns"),
    _c(
        "UNION BY NAME",
        r"\bunion\s+(all\s+)?by\s+name\b",
        "select 1 as a union all by name select 2 as a",
        "union all with equal column lists",
    ),
    _c(
        "list/array/struct/map functions",
        r"\b(list|array|struct|map)_\w+\s*\(",
        "select list_aggregate(xs, 'sum')",
        "a dispatch macro",
    ),
    _c("list/struct literal", r"\[\s*['\d]|\{\s*'\w+'\s*:", "select [1, 2, 3] as xs", "a dispatch macro"),
    _c(
        "strftime/strptime",
        r"\bstr[fp]time\s*\(",
        "select strftime(order_date, '%Y-%m')",
        "dbt.date_trunc / a dispatch macro",
    ),
    _c(
        "epoch/make_date/make_timestamp/to_timestamp(number)",
        r"\b(epoch(_ms|_us|_ns)?|make_date|make_time|make_timestamp)\s*\(",
        "select make_date(1998, 12, 1)",
        "cast('1998-12-01' as date) / a dispatch macro",
    ),
    _c(
        "date functions outside dbt's cross-database macros",
        r"\b(date_part|datepart|date_diff|datediff|date_add|dateadd|date_sub|date_trunc|"
        r"last_day|age)\s*\(",
        "select date_diff('day', ship_date, receipt_date)",
        "dbt.datediff / dbt.dateadd / dbt.date_trunc / dbt.last_day",
    ),
    _c(
        "day-of-week and week numbering (differ by engine and session)",
        r"\b(dayofweek|dow|isodow|weekday|dayofyear|doy|week|weekofyear|yearweek)\b",
        "select extract(dow from order_date)",
        "a dispatch macro",
    ),
    _c("unquoted INTERVAL", r"\binterval\s+\d", "select order_date + interval 1 day", "dbt.dateadd"),
    _c(
        "GREATEST/LEAST (NULL handling differs)",
        r"\b(greatest|least)\s*\(",
        "select greatest(a, b)",
        "case when a > b then a else b end",
    ),
    _c(
        "median/quantile/percentile (functions and results differ)",
        r"\b(median|quantile\w*|percentile_(cont|disc)|approx_quantile|mode)\s*\(",
        "select median(net_revenue)",
        "a dispatch macro",
    ),
    _c(
        "boolean and argmax aggregates",
        r"\b(bool_and|bool_or|arg_max|arg_min|argmax|argmin)\s*\(",
        "select bool_or(is_late)",
        "max(case when ... then 1 else 0 end) = 1",
    ),
    _c(
        "string aggregation",
        r"\b(string_agg|group_concat|listagg)\s*\(",
        "select string_agg(name, ',')",
        "dbt.listagg",
    ),
    _c(
        "DuckDB string/regex functions",
        r"\b(regexp_matches|regexp_full_match|regexp_extract\w*|starts_with|ends_with|"
        r"printf|format|strip_accents|string_split\w*|str_split\w*)\s*\(",
        "select starts_with(part_type, 'PROMO')",
        "like 'PROMO%' / dbt.split_part",
    ),
    _c(
        "TRY_CAST (Snowflake: from strings only)",
        r"\btry_cast\s*\(",
        "select try_cast(x as integer)",
        "dbt.safe_cast",
    ),
    _c(
        "integer division and power operators",
        r"//|\*\*",
        "select line_count // 2",
        "floor(a / b) / power(a, b)",
    ),
    _c("now()/today()", r"\b(now|today)\s*\(\s*\)", "select now()", "current_timestamp"),
    _c(
        "DuckDB-only types",
        r"\b(hugeint|uhugeint|ubigint|uinteger|usmallint|utinyint|int128|"
        r"timestamptz|blob)\b",
        "cast(x as hugeint)",
        "dbt.type_* macros",
    ),
    _c(
        "file readers and DuckDB joins",
        r"\b(read_parquet|read_csv\w*|read_json\w*|"
        r"generate_series|range|unnest|asof\s+join|positional\s+join|pivot|unpivot)\b",
        "select * from read_parquet('x.parquet')",
        "a source() / a dispatch macro",
    ),
    _c(
        "DESC without NULLS FIRST/LAST (Snowflake sorts NULLs first on DESC, DuckDB last)",
        r"\bdesc\b(?!\s+nulls\s+(first|last))",
        "row_number() over (order by revenue desc)",
        "desc nulls last",
    ),
)

_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}", re.DOTALL)
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_LINE_COMMENT = re.compile(r"--[^\n]*")
_STRING = re.compile(r"'(?:[^']|'')*'")
# A dispatch implementation for DuckDB may use DuckDB-only SQL, and so may a
# `default__` one that has a `snowflake__` sibling (Snowflake never runs it).
_DISPATCH_IMPL = re.compile(
    r"\{%-?\s*macro\s+(default|duckdb)__(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.DOTALL
)


def _blank(match: re.Match[str]) -> str:
    # keep line numbers: replace everything but newlines
    return re.sub(r"[^\n]", " ", match.group(0))


def scannable_sql(text: str, snowflake_impls: frozenset[str] = frozenset()) -> str:
    """`text` with dispatch-exempt macros, Jinja, comments and strings blanked.

    `snowflake_impls`: names X of the project's `snowflake__X` macros.
    """

    def exempt(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        if kind == "duckdb" or name in snowflake_impls:
            return _blank(match)
        return match.group(0)

    text = _JINJA_COMMENT.sub(_blank, text)
    text = _DISPATCH_IMPL.sub(exempt, text)
    text = _JINJA.sub(_blank, text)
    text = _BLOCK_COMMENT.sub(_blank, text)
    text = _LINE_COMMENT.sub(_blank, text)
    return _STRING.sub(lambda m: "''" + _blank(m)[2:], text)


def scan(text: str, snowflake_impls: frozenset[str] = frozenset()) -> list[tuple[int, Construct, str]]:
    """(line, construct, matched text) for every DuckDB-only construct."""
    found = []
    sql = scannable_sql(text, snowflake_impls)
    for construct in FORBIDDEN:
        for match in construct.pattern.finditer(sql):
            line = sql.count("\n", 0, match.start()) + 1
            found.append((line, construct, match.group(0)))
    return found


def _project_sql_files() -> list[Path]:
    files = []
    for folder in ("models", "tests", "macros"):
        files += sorted((DBT_PROJECT / folder).rglob("*.sql"))
    return files


def _yaml_sql(node: Any, inside_test: bool = False) -> Iterator[str]:
    """SQL fragments in YAML: everything under a data test's arguments/config."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "data_tests":
                yield from _yaml_sql(value, True)
            elif inside_test and key in ("description", "name", "to", "field", "values"):
                continue
            else:
                yield from _yaml_sql(value, inside_test)
    elif isinstance(node, list):
        for item in node:
            yield from _yaml_sql(item, inside_test)
    elif isinstance(node, str) and inside_test:
        yield node


def _snowflake_impls() -> frozenset[str]:
    names = set()
    for path in (DBT_PROJECT / "macros").rglob("*.sql"):
        names |= set(re.findall(r"macro\s+snowflake__(\w+)\s*\(", path.read_text()))
    return frozenset(names)


def test_project_sql_has_no_duckdb_only_constructs_outside_dispatch_macros() -> None:
    problems = []
    snowflake_impls = _snowflake_impls()
    for path in _project_sql_files():
        for line, construct, matched in scan(path.read_text(), snowflake_impls):
            problems.append(
                f"{path.relative_to(REPO_ROOT)}:{line}: {construct.name} "
                f"({matched.strip()!r}); use {construct.instead}"
            )
    for path in sorted((DBT_PROJECT / "models").rglob("*.yml")):
        for fragment in _yaml_sql(yaml.safe_load(path.read_text())):
            for _, construct, _matched in scan(fragment):
                problems.append(
                    f"{path.relative_to(REPO_ROOT)}: {construct.name} in test SQL "
                    f"{fragment.strip()!r}; use {construct.instead}"
                )
    assert not problems, "DuckDB-only SQL outside dispatch macros:\n" + "\n".join(problems)


@pytest.mark.parametrize("construct", FORBIDDEN, ids=lambda c: c.name)
def test_scanner_catches_each_duckdb_only_construct(construct: Construct) -> None:
    flagged = {c.name for _, c, _ in scan(construct.example)}
    assert construct.name in flagged, f"{construct.example!r} not flagged"
    # ...but not inside a DuckDB/default dispatch implementation, a comment
    # or a string literal
    exempt = (
        "{% macro duckdb__thing() %}" + construct.example + "{% endmacro %}\n"
        "-- " + construct.example + "\n"
        "select '" + construct.example.replace("'", "''") + "' as text\n"
    )
    assert not [c for _, c, _ in scan(exempt) if c is construct], exempt
    # a default__ implementation is exempt only when a snowflake__ one exists
    default = "{% macro default__thing() %}" + construct.example + "{% endmacro %}"
    assert construct in [c for _, c, _ in scan(default)], default
    assert construct not in [c for _, c, _ in scan(default, frozenset({"thing"}))], default


def test_scanner_passes_portable_sql() -> None:
    portable = """
        {{ config(materialized='incremental', cluster_by=["date_trunc('year', d)"]) }}
        select
            cast(order_date as date) as order_date,
            {{ dbt.datediff('ship_date', 'receipt_date', 'day') }} as transit_days,
            sum(case when is_late then 1 else 0 end) as late_lines,
            row_number() over (order by net_revenue desc nulls last, key) as rank,
            cast(extract(year from order_date) as integer) as order_year
        from {{ ref('stg_fct_orders') }}
        union all
        select * from final
    """
    assert scan(portable) == []


_DISPATCH = re.compile(r"adapter\.dispatch\(\s*'(\w+)'")
_MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")


def test_every_dispatched_macro_has_a_snowflake_and_a_duckdb_implementation() -> None:
    defined: set[str] = set()
    dispatched: set[str] = set()
    for path in sorted((DBT_PROJECT / "macros").rglob("*.sql")):
        text = path.read_text()
        defined |= set(_MACRO.findall(text))
        dispatched |= set(_DISPATCH.findall(text))
    assert dispatched, "no dispatch macros found: the scanner's exemption is unused"
    missing = [
        f"{name}: needs snowflake__{name} and default__{name} or duckdb__{name}"
        for name in sorted(dispatched)
        if f"snowflake__{name}" not in defined or not ({f"default__{name}", f"duckdb__{name}"} & defined)
    ]
    assert not missing, "\n".join(missing)


def test_snowflake_profile_reads_every_credential_from_the_environment() -> None:
    profile = yaml.safe_load((DBT_PROJECT / "profiles" / "profiles.yml").read_text())
    target = profile["tpch_elt"]["outputs"]["snowflake"]
    assert target["type"] == "snowflake"
    env_var = re.compile(r"^\{\{ env_var\('(SNOWFLAKE_\w+)'(, '[^']*')?\) \}\}$")
    read = {}
    for key in (
        "account",
        "user",
        "password",
        "private_key_path",
        "private_key_passphrase",
        "role",
        "warehouse",
        "database",
        "schema",
    ):
        match = env_var.match(str(target.get(key, "")))
        assert match, f"snowflake.{key} must come from a SNOWFLAKE_* variable: {target.get(key)!r}"
        read[key] = match
    # secrets have no default: unset means "not used" (password or key-pair)
    for key in ("password", "private_key_path", "private_key_passphrase"):
        assert read[key].group(2) in (None, ", ''"), key
    assert "private_key" not in target, "never a key inline in the repository"


# --------------------------------------------------------------------------
# The loader's connection settings (no connector needed)
# --------------------------------------------------------------------------


def test_loader_connects_with_password_and_telemetry_off() -> None:
    params = connection_params(
        {
            "SNOWFLAKE_ACCOUNT": "acme-x1",
            "SNOWFLAKE_USER": "etl",
            "SNOWFLAKE_PASSWORD": "pw",
            "SNOWFLAKE_WAREHOUSE": "TPCH_XS",
        }
    )
    assert params["password"] == "pw" and "private_key_file" not in params
    assert params["warehouse"] == "TPCH_XS" and params["database"] == "TPCH_ELT"
    assert params["session_parameters"]["CLIENT_TELEMETRY_ENABLED"] is False
    assert params["log_imported_packages_in_telemetry"] is False


def test_loader_connects_with_a_key_pair_from_the_environment() -> None:
    params = connection_params(
        {
            "SNOWFLAKE_ACCOUNT": "acme-x1",
            "SNOWFLAKE_USER": "etl",
            "SNOWFLAKE_PRIVATE_KEY_PATH": "/secrets/rsa_key.p8",
            "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "s3cret",
        }
    )
    assert params["private_key_file"] == "/secrets/rsa_key.p8"
    assert params["private_key_file_pwd"] == "s3cret"
    assert "password" not in params


def test_loader_names_missing_credentials() -> None:
    with pytest.raises(PipelineError, match="SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY_PATH"):
        connection_params({"SNOWFLAKE_ACCOUNT": "acme-x1", "SNOWFLAKE_USER": "etl"})


# --------------------------------------------------------------------------
# The whole project on the fakesnow emulator
# --------------------------------------------------------------------------

EMULATED_DATABASE = "TPCH_ELT"


@dataclass
class Emulator:
    """Runs tests/snowflake_emulator.py steps against one set of emulated databases."""

    db_path: Path
    work: Path
    data_dir: Path
    scale_factor: float

    def run(self, name: str, *step: str, attach: tuple[str, ...] = (), **env: str) -> dict:
        report = self.work / f"{name}.json"
        report.unlink(missing_ok=True)
        args = [sys.executable, str(EMULATOR), "--db-path", str(self.db_path), "--report", str(report)]
        for database in attach:
            args += ["--attach", database]
        proc = subprocess.run(
            [*args, *step],
            cwd=REPO_ROOT,
            env=cli_env(**{"SNOWFLAKE_DATABASE": EMULATED_DATABASE, "TPCH_ELT_THREADS": "4", **env}),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if not report.is_file():
            raise AssertionError(
                f"emulator step {name} left no report (exit {proc.returncode})\n"
                f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
            )
        result = json.loads(report.read_text())
        result["output"] = proc.stdout[-6000:] + proc.stderr[-3000:]
        if step[0] != "reach":
            assert result["network_attempts"] == [], (
                f"step {name} tried to reach the network: {result['network_attempts']}"
            )
        return result

    def dbt(self, name: str, command: list[str], *args: str, **kwargs: Any) -> dict:
        target = self.work / f"target-{kwargs.pop('target_dir', 'main')}"
        return self.run(
            name,
            "dbt",
            *command,
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT / "profiles"),
            "--target",
            "snowflake",
            "--target-path",
            str(target),
            "--log-path",
            str(self.work / "logs"),
            *args,
            **kwargs,
        )

    def load(self, name: str, *args: str, **env: str) -> dict:
        return self.run(
            name,
            "load",
            "--data-dir",
            str(self.data_dir),
            "-s",
            str(self.scale_factor),
            *args,
            **env,
        )

    def query(self, name: str, *sql: str, attach: tuple[str, ...] = (), **env: str) -> list[list[list[Any]]]:
        return self.run(name, "query", *sql, attach=attach, **env)["results"]

    def models(self) -> list[tuple[str, str]]:
        """(schema, relation) of every model in the last main build's manifest."""
        manifest = json.loads((self.work / "target-main" / "manifest.json").read_text())
        return sorted(
            (node["schema"], node["alias"])
            for node in manifest["nodes"].values()
            if node["resource_type"] == "model"
        )


def failures(report: dict) -> dict[str, str]:
    return {
        node["unique_id"]: node["message"]
        for node in report["nodes"]
        if node["status"] in ("error", "fail", "runtime error")
    }


@pytest.fixture(scope="module")
def emulator(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> Emulator:
    try:
        import dbt.adapters.snowflake  # noqa: F401
        import fakesnow  # noqa: F401
    except ImportError as exc:
        raise AssertionError(
            f"{exc.name} is missing: install the snowflake extra "
            "(pip install -e '.[snowflake]'; `make test` does)"
        ) from exc
    work = tmp_path_factory.mktemp("snowflake")
    return Emulator(work / "databases", work, pipeline.data_dir, pipeline.scale_factor)


@dataclass
class EmulatedBuild:
    load: dict
    build: dict
    freshness: dict


@pytest.fixture(scope="module")
def emulated_build(emulator: Emulator, pipeline: Pipeline) -> EmulatedBuild:
    """RAW loaded through the connector (initial load + every arrival batch,
    i.e. the data the DuckDB pipeline ends with), then one full build."""
    batches = [arg for n in range(1, E2E_BATCHES + 1) for arg in ("--batch", str(n))]
    load = emulator.load("load", *batches)
    build = emulator.dbt("build", ["build"], "--exclude-resource-type", "unit_test")
    freshness = emulator.dbt("freshness", ["source", "freshness"])
    return EmulatedBuild(load, build, freshness)


def _manifest_nodes(emulator: Emulator, resource_type: str) -> set[str]:
    manifest = json.loads((emulator.work / "target-main" / "manifest.json").read_text())
    return {
        unique_id for unique_id, node in manifest["nodes"].items() if node["resource_type"] == resource_type
    }


@pytest.mark.snowflake
def test_emulator_steps_cannot_reach_the_network(emulator: Emulator) -> None:
    # The guard every emulator step runs under (and whose empty
    # "network_attempts" every other step asserts) refuses a real request.
    report = emulator.run("reach", "reach", "example.com", "443")
    assert report["refused"] and report["network_attempts"] == ["('example.com', 443)"]


@pytest.mark.snowflake
def test_raw_is_loaded_through_the_connector(emulated_build: EmulatedBuild, pipeline: Pipeline) -> None:
    loads = emulated_build.load["loads"]
    assert [load["batch_id"] for load in loads] == list(range(E2E_BATCHES + 1))
    loaded = dict.fromkeys(loads[0]["row_counts"], 0)
    for load in loads:
        for table, rows in load["row_counts"].items():
            loaded[table] += rows
    expected = {spec.name: pipeline.scalar(f"select count(*) from raw.{spec.name}") for spec in TABLES}
    assert loaded == expected


@pytest.mark.snowflake
def test_a_failed_snowflake_load_leaves_raw_as_it_was(
    emulator: Emulator, tmp_path: Path, pipeline: Pipeline
) -> None:
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_ATOMIC"}
    emulator.load("atomic-good", **env)
    before = emulator.query(
        "atomic-before",
        "select count(*), max(_loaded_at) from raw.orders",
        "select count(*), max(_loaded_at) from raw.lineitem",
        **env,
    )
    # Readable Parquet with every column, but a quantity no NUMBER(15,2) takes:
    # the COPY of the last table fails after the others were replaced.
    sf = format_scale_factor(pipeline.scale_factor)
    landing = tmp_path / "data" / "landing" / f"sf={sf}"
    landing.mkdir(parents=True)
    source = pipeline.data_dir / "landing" / f"sf={sf}"
    for spec in TABLES:
        if spec.name != "lineitem":
            (landing / f"{spec.name}.parquet").write_bytes((source / f"{spec.name}.parquet").read_bytes())
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * replace ('a lot' as l_quantity) from read_parquet("
            f"'{source / 'lineitem.parquet'}')) to '{landing / 'lineitem.parquet'}'"
        )
    failed = emulator.run("atomic-bad", "load", "--data-dir", str(tmp_path / "data"), "-s", sf, **env)
    assert not failed["success"]
    assert "Snowflake load failed while loading" in failed["exception"]
    assert "lineitem.parquet" in failed["exception"] and "RAW is unchanged" in failed["exception"]
    after = emulator.query(
        "atomic-after",
        "select count(*), max(_loaded_at) from raw.orders",
        "select count(*), max(_loaded_at) from raw.lineitem",
        **env,
    )
    assert after == before


@pytest.mark.snowflake
def test_dbt_build_runs_every_model_and_data_test_on_snowflake(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    build = emulated_build.build
    assert build["success"], (
        "dbt build failed on the emulator:\n"
        + "\n".join(f"{uid}: {message}" for uid, message in failures(build).items())
        + "\n"
        + build["output"]
    )
    statuses = {node["unique_id"]: node["status"] for node in build["nodes"]}
    models = _manifest_nodes(emulator, "model")
    tests = _manifest_nodes(emulator, "test")
    assert models and tests
    assert {uid: statuses.get(uid) for uid in models} == dict.fromkeys(models, "success")
    assert {uid: statuses.get(uid) for uid in tests} == dict.fromkeys(tests, "pass")


@pytest.mark.snowflake
def test_source_freshness_reads_loaded_at(emulated_build: EmulatedBuild) -> None:
    freshness = emulated_build.freshness
    assert freshness["success"], freshness["output"]
    nodes = freshness["nodes"]
    assert len(nodes) == len(TABLES)
    assert {node["status"] for node in nodes} == {"pass"}
    # orders/lineitem were last loaded with the last batch, the rest initially
    loaded_at = {load["batch_id"]: load["loaded_at"] for load in emulated_build.load["loads"]}
    for node in nodes:
        table = node["unique_id"].rsplit(".", 1)[1]
        expected = loaded_at[E2E_BATCHES] if table in ("orders", "lineitem") else loaded_at[0]
        assert node["max_loaded_at"].startswith(expected), (table, node["max_loaded_at"])


@pytest.mark.snowflake
def test_snowflake_configs_are_applied(emulated_build: EmulatedBuild, emulator: Emulator) -> None:
    run = emulator.work / "target-main" / "run" / "tpch_elt" / "models"
    orders = (run / "staging" / "stg_fct_orders.sql").read_text().lower()
    lines = (run / "intermediate" / "int_order_lineitems.sql").read_text().lower()
    summary = (run / "mart" / "mart_customer_summary.sql").read_text().lower()
    assert "cluster by (date_trunc('year', order_date))" in orders
    assert "cluster by (order_year)" in lines
    assert "create or replace transient table" in lines
    assert "create or replace transient table" in summary
    # layout_order_by renders nothing on Snowflake: only the cluster_by sort
    compiled = (
        (
            emulator.work
            / "target-main"
            / "compiled"
            / "tpch_elt"
            / "models"
            / "staging"
            / "stg_fct_orders.sql"
        )
        .read_text()
        .lower()
    )
    assert "order by" not in compiled


def _fingerprint_sql(schema: str, table: str, columns: list[tuple[str, str]]) -> str:
    """One row that changes if any value of the model changes (portable SQL)."""
    parts = ["count(*)"]
    for column, kind in columns:
        if kind in ("exact", "float"):
            parts.append(f"sum({column})")
        elif kind == "boolean":
            parts.append(f"sum(case when {column} then 1 else 0 end)")
        elif kind in ("date", "string"):
            parts += [f"min({column})", f"max({column})", f"count(distinct {column})"]
    return f"select {', '.join(parts)} from {schema}.{table}"


def _kind(duckdb_type: str) -> str | None:
    if duckdb_type in ("DOUBLE", "FLOAT", "REAL"):
        return "float"
    if duckdb_type.startswith("DECIMAL") or "INT" in duckdb_type:
        return "exact"
    if duckdb_type == "BOOLEAN":
        return "boolean"
    if duckdb_type == "DATE":
        return "date"
    if duckdb_type == "VARCHAR":
        return "string"
    return None  # timestamps: _loaded_at differs by load time


def _same(duckdb_value: Any, emulated_value: Any, kind: str) -> bool:
    if duckdb_value is None or emulated_value is None:
        return duckdb_value is None and emulated_value is None
    if kind == "float":
        return math.isclose(float(duckdb_value), float(emulated_value), rel_tol=1e-9)
    if kind == "exact":
        return Decimal(str(duckdb_value)) == Decimal(str(emulated_value))
    return str(duckdb_value) == str(emulated_value)


@pytest.mark.snowflake
def test_every_model_equals_the_duckdb_build(
    emulated_build: EmulatedBuild, emulator: Emulator, pipeline: Pipeline
) -> None:
    assert emulated_build.build["success"]
    with duckdb.connect(str(pipeline.warehouse), read_only=True) as con:
        plans = []
        for schema, table in emulator.models():
            described = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            assert described, f"{schema}.{table} is missing from the DuckDB build"
            columns = [(name, _kind(dtype)) for name, dtype in described if _kind(dtype)]
            sql = _fingerprint_sql(schema, table, columns)
            plans.append((f"{schema}.{table}", columns, sql, con.execute(sql).fetchone()))
    emulated = emulator.query("fingerprints", *(sql for _, _, sql, _ in plans))
    differences = []
    for (model, columns, _, expected), got in zip(plans, emulated, strict=True):
        kinds = ["exact"]
        for _, kind in columns:
            kinds += [kind] if kind in ("exact", "float", "boolean") else [kind] * 3
        labels = ["count(*)"]
        for column, kind in columns:
            labels += (
                [column]
                if kind in ("exact", "float", "boolean")
                else [f"min({column})", f"max({column})", f"count(distinct {column})"]
            )
        row = got[0]
        for label, kind, want, have in zip(labels, kinds, expected, row, strict=True):
            if not _same(want, have, "exact" if label.startswith("count") else kind):
                differences.append(f"{model}.{label}: duckdb {want!r} != snowflake {have!r}")
    assert not differences, "\n".join(differences)


@pytest.mark.snowflake
def test_marts_reconcile_with_raw(emulated_build: EmulatedBuild, emulator: Emulator) -> None:
    raw, mart = emulator.query(
        "reconcile",
        "select count(*), (select sum(l_extendedprice * (1 - l_discount)) from raw.lineitem), "
        "(select count(*) from raw.lineitem) from raw.orders",
        "select count(*), sum(net_revenue), sum(line_count) from mart.mart_orders",
    )
    assert [Decimal(str(v)) for v in mart[0]] == [Decimal(str(v)) for v in raw[0]]


@pytest.mark.snowflake
def test_unit_tests_meet_the_emulator_temp_table_limitation(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    report = emulator.dbt("unit", ["test"], "--select", "test_type:unit")
    if report["success"]:
        return  # fakesnow learned qualified temporary tables
    failed = failures(report)
    assert failed, report["output"]
    other = {uid: msg for uid, msg in failed.items() if TEMP_RELATION_LIMITATION not in msg}
    assert not other, f"unit tests failed for another reason: {other}"
    pytest.xfail(
        f"fakesnow limitation: dbt-snowflake's unit tests create a qualified temporary "
        f"table, fakesnow/DuckDB answers '001003 (42000): Parser Error: "
        f"{TEMP_RELATION_LIMITATION}'; the {len(failed)} unit tests run in every DuckDB build"
    )


@pytest.mark.snowflake
def test_incremental_runs_meet_the_emulator_temp_relation_limitation(
    emulator: Emulator,
) -> None:
    # A database of its own: initial load, first build of the incremental
    # models, one more batch, then the incremental run.
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_INCREMENTAL"}
    emulator.load("inc-load", **env)
    first = emulator.dbt(
        "inc-first", ["run"], "--select", "+config.materialized:incremental", target_dir="incremental", **env
    )
    assert first["success"], first["output"]
    emulator.load("inc-batch", "--append-only", "--batch", "1", **env)
    increment = emulator.dbt(
        "inc-run", ["run"], "--select", "config.materialized:incremental", target_dir="incremental", **env
    )
    if increment["success"]:
        return  # fakesnow learned qualified temporary relations
    failed = failures(increment)
    incremental = {
        "model.tpch_elt.stg_fct_orders",
        "model.tpch_elt.stg_fct_lineitem",
        "model.tpch_elt.int_order_lineitems",
        "model.tpch_elt.int_customer_orders",
        "model.tpch_elt.mart_orders",
    }
    assert set(failed) <= incremental and failed, increment["output"]
    other = {uid: msg for uid, msg in failed.items() if TEMP_RELATION_LIMITATION not in msg}
    assert not other, f"incremental models failed for another reason: {other}"
    pytest.xfail(
        "fakesnow limitation: every incremental run of dbt-snowflake creates a temporary "
        "view (append) or table (delete+insert) qualified with database and schema, and "
        f"fakesnow/DuckDB answers '001003 (42000): Parser Error: {TEMP_RELATION_LIMITATION}'; "
        "the incremental path is covered by tests/test_incremental.py on DuckDB"
    )


SHARE_VARS = (
    "{tpch_source_database: SNOWFLAKE_SAMPLE_DATA, tpch_source_schema: TPCH_SF1, "
    "tpch_source_has_load_metadata: false}"
)


@pytest.mark.snowflake
def test_sample_share_path_builds_staging_with_metadata_freshness(
    emulated_build: EmulatedBuild, emulator: Emulator
) -> None:
    # SNOWFLAKE_SAMPLE_DATA.TPCH_SF1 as Snowflake shares it: the TPC-H
    # columns only, no _batch_id/_loaded_at.
    statements = [
        "create database if not exists SNOWFLAKE_SAMPLE_DATA",
        "create schema if not exists SNOWFLAKE_SAMPLE_DATA.TPCH_SF1",
    ] + [
        f"create or replace table SNOWFLAKE_SAMPLE_DATA.TPCH_SF1.{spec.name} as "
        f"select {', '.join(spec.columns)} from {EMULATED_DATABASE}.RAW.{spec.name}"
        for spec in TABLES
    ]
    emulator.query("share", *statements)
    env = {"SNOWFLAKE_DATABASE": "TPCH_ELT_SHARE"}
    share = ("SNOWFLAKE_SAMPLE_DATA",)
    build = emulator.dbt(
        "share-build",
        ["build"],
        "--select",
        "staging",
        "--indirect-selection",
        "cautious",
        "--vars",
        SHARE_VARS,
        target_dir="share",
        attach=share,
        **env,
    )
    assert build["success"], "\n".join(failures(build).values()) + build["output"]
    staged = emulator.query(
        "share-staged",
        "select count(*), min(_batch_id), max(_batch_id), count(_loaded_at) "
        "from TPCH_ELT_SHARE.STAGING.STG_FCT_LINEITEM",
        attach=share,
        **env,
    )
    rows, min_batch, max_batch, loaded = (int(value) for value in staged[0][0])
    assert rows > 0 and (min_batch, max_batch, loaded) == (0, 0, 0)
    freshness = emulator.dbt(
        "share-freshness",
        ["source", "freshness"],
        "--vars",
        SHARE_VARS,
        target_dir="share",
        attach=share,
        **env,
    )
    assert "Pulling freshness from warehouse metadata tables for 8 sources" in (freshness["output"]), (
        freshness["output"]
    )
    # The emulator's LAST_ALTERED is always 1970-01-01 (LAST_ALTERED_LIMITATION):
    # a static source is stale, and on the share staleness only warns.
    assert {node["max_loaded_at"][:19] for node in freshness["nodes"]} == {LAST_ALTERED_LIMITATION}
    assert {node["status"] for node in freshness["nodes"]} == {"warn"}
    assert freshness["success"], freshness["output"]


# --------------------------------------------------------------------------
# The sample-share path's incremental re-run, on DuckDB (the emulator cannot
# run incremental models: TEMP_RELATION_LIMITATION)
# --------------------------------------------------------------------------


@pytest.mark.e2e
def test_static_source_without_load_metadata_reruns_without_duplicates(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    # A source shaped like SNOWFLAKE_SAMPLE_DATA.TPCH_SF1: TPC-H columns only.
    warehouse = tmp_path / "share.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"attach '{pipeline.warehouse}' as built (read_only)")
        con.execute("create schema tpch_sf1")
        for spec in TABLES:
            con.execute(
                f"create table tpch_sf1.{spec.name} as "
                f"select {', '.join(spec.columns)} from built.raw.{spec.name}"
            )
    share_vars = "{tpch_source_schema: tpch_sf1, tpch_source_has_load_metadata: false}"
    dbt = Path(sys.executable).parent / "dbt"
    args = [
        str(dbt),
        "run",
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT / "profiles"),
        "--target-path",
        str(tmp_path / "target"),
        "--log-path",
        str(tmp_path / "logs"),
        "--vars",
        share_vars,
        "--select",
        "stg_fct_orders",
        "stg_fct_lineitem",
    ]
    env = cli_env(TPCH_ELT_WAREHOUSE=str(warehouse), TPCH_ELT_THREADS="2")
    counts = []
    for _ in range(2):  # first build, then an incremental re-run
        proc = subprocess.run(
            args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        with duckdb.connect(str(warehouse), read_only=True) as con:
            counts.append(
                con.execute(
                    "select (select count(*) from staging.stg_fct_orders), "
                    "(select count(*) from staging.stg_fct_lineitem), "
                    "(select max(_batch_id) + count(_loaded_at) from staging.stg_fct_orders)"
                ).fetchone()
            )
    expected = (
        pipeline.scalar("select count(*) from raw.orders"),
        pipeline.scalar("select count(*) from raw.lineitem"),
        0,
    )
    assert counts == [expected, expected]
