"""The dbt project stays portable to Snowflake: checked statically, in milliseconds.

Model, test and macro SQL and the SQL inside YAML tests contain no
DuckDB-only construct outside the DuckDB, Snowflake or default branch of an
`adapter.dispatch` macro; every dispatched macro has a Snowflake
implementation; the `snowflake` profile and the loader take every
credential from the environment. The whole project on the fakesnow
emulator is tests/integration/test_snowflake_emulated.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from testkit.cli import REPO_ROOT

from tpch_elt.errors import PipelineError
from tpch_elt.load.snowflake import connection_params

DBT_PROJECT = REPO_ROOT / "dbt_project"

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
        "LOG/LOG2/LOG10 (DuckDB's one-argument log is base 10; Snowflake's LOG needs a base)",
        r"\blog(2|10)?\s*\(",
        "select sum(p * log(p / q))",
        "ln(x), or ln(x) / ln(base)",
    ),
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
# A `snowflake__` one is Snowflake's own SQL (e.g. `percentile_cont(q) within
# group`, which the pattern for quantiles would flag): DuckDB never runs it.
_DISPATCH_IMPL = re.compile(
    r"\{%-?\s*macro\s+(default|duckdb|snowflake)__(\w+)\s*\(.*?\{%-?\s*endmacro\s*-?%\}", re.DOTALL
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
        if kind in ("duckdb", "snowflake") or name in snowflake_impls:
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
        "{% macro snowflake__thing() %}" + construct.example + "{% endmacro %}\n"
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
