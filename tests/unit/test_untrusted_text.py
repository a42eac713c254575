"""Strings from data (column names from Parquet files, paths, webhook URLs) reach HTML,
Slack and the terminal as text, never as code or markup, and never carry a secret along.

- the docs page inlines dbt's catalog into a <script> (tpch_elt.transform.docs): a column name
  cannot end that script;
- the schema check refuses column names with control characters or <, >, &
  (tpch_elt.load.schema_check), one line naming the file and the column;
- a webhook URL shows no more than its scheme and host in any error or alerts row, and
  names in an alert are escaped for Slack (tpch_elt.observability.alerts);
- the CLI prints data through Rich without running it as markup or escape sequences
  (tpch_elt.cli);
- the report pages print names and values from the warehouse (test and model names,
  messages, sample rows, mart values, the warehouse's file name) as text: the Jinja2
  templates autoescape, the SVG charts escape what they draw (tpch_elt.reports).
"""

from __future__ import annotations

import importlib.util
import io
import json
import socket
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest
import typer
from rich.console import Console

from tpch_elt.cli import output as cli_output
from tpch_elt.errors import PipelineError
from tpch_elt.load.schema_check import check_file
from tpch_elt.observability import alerts
from tpch_elt.observability.alerts import AlertSettings, Incident, notify, post_webhook
from tpch_elt.observability.record import record_artifact
from tpch_elt.observability.store import SCHEMA, ensure_schema
from tpch_elt.reports import observability as observability_page
from tpch_elt.reports.charts import Series, bar_chart
from tpch_elt.reports.html import Table
from tpch_elt.reports.insights import Insight, insight_marts
from tpch_elt.reports.insights import page as insights_page
from tpch_elt.reports.insights.answer import Answer, Marts
from tpch_elt.reports.page import Page
from tpch_elt.reports.pages import write_reports
from tpch_elt.settings import Settings
from tpch_elt.tpch import TABLES
from tpch_elt.transform import docs
from tpch_elt.warehouse.sql import quote_ident, quote_literal

SCRIPT_BREAKER = "</script><script>document.title='pwned'</script><!--"
HOSTILE_NAMES = [SCRIPT_BREAKER, "</SCRIPT ><img src=x onerror=alert(1)>", "a\u2028b\u2029c & <!-- d"]


# -- the docs page ----------------------------------------------------------------------------------


class ScriptCounter(HTMLParser):
    """What an HTML parser sees: how many script elements, and their text."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self.open = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            self.scripts.append("")
            self.open = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.open = False

    def handle_data(self, data: str) -> None:
        if self.open:
            self.scripts[-1] += data


def scripts_in(html: str) -> list[str]:
    parser = ScriptCounter()
    parser.feed(html)
    parser.close()
    return parser.scripts


def dbt_docs_app() -> str:
    """dbt's docs single-page app, the file `dbt docs generate` copies to its target dir."""
    spec = importlib.util.find_spec("dbt")
    assert spec is not None and spec.submodule_search_locations
    return (Path(spec.submodule_search_locations[0]) / "task" / "docs" / "index.html").read_text(
        encoding="utf-8"
    )


def catalog_with_column(name: str) -> dict:
    column = {"type": "VARCHAR", "index": 9, "name": name, "comment": None}
    return {
        "metadata": {"generated_at": "2026-01-01T00:00:00Z"},
        "nodes": {},
        "sources": {
            "source.tpch_elt.tpch.lineitem": {
                "metadata": {"type": "BASE TABLE", "schema": "raw", "name": "lineitem"},
                "columns": {name: column},
                "stats": {},
                "unique_id": "source.tpch_elt.tpch.lineitem",
            }
        },
        "errors": None,
    }


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_script_safe_json_cannot_close_the_script_and_parses_to_the_same_data(name: str) -> None:
    text = json.dumps(catalog_with_column(name), ensure_ascii=False)
    safe = docs.script_safe_json(text)
    assert json.loads(safe) == json.loads(text)
    for marker in ("</", "<!--", "<script", "\u2028", "\u2029"):
        assert marker not in safe.lower()


def test_docs_page_inlines_a_hostile_column_name_as_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tpch-elt docs` with dbt faked: it writes what `dbt docs generate --static` writes
    (the app, the manifest, a catalog with a hostile source column, and dbt's verbatim
    static page); the page written has exactly the app's script elements."""
    app = dbt_docs_app()
    manifest = {
        "metadata": {"send_anonymous_usage_stats": False},
        "nodes": {},
        "sources": {},
        "exposures": {},
    }
    manifest_text = json.dumps(manifest)
    catalog_text = json.dumps(catalog_with_column(SCRIPT_BREAKER))
    settings = Settings(data_dir=tmp_path / "data", target="snowflake")

    def fake_dbt_docs_generate(settings: Settings) -> None:
        target = docs.docs_target_dir(settings)
        target.mkdir(parents=True)
        (target / "index.html").write_text(app, encoding="utf-8")
        (target / "manifest.json").write_text(manifest_text, encoding="utf-8")
        (target / "catalog.json").write_text(catalog_text, encoding="utf-8")
        static = app.replace('"MANIFEST.JSON INLINE DATA"', manifest_text)
        static = static.replace('"CATALOG.JSON INLINE DATA"', catalog_text)
        (target / "static_index.html").write_text(static, encoding="utf-8")

    monkeypatch.setattr(docs, "_dbt_docs_generate", fake_dbt_docs_generate)
    page = docs.generate_docs(settings).path.read_text(encoding="utf-8")

    assert len(scripts_in(page)) == len(scripts_in(app)) > 0, "a column name added a script element"
    assert "pwned" in page, "the column is in the page, as data"
    assert SCRIPT_BREAKER not in page
    assert "CATALOG.JSON INLINE DATA" not in page and '<meta http-equiv="Content-Security-Policy"' in page


def test_inlined_artifacts_are_the_same_data_in_one_pass() -> None:
    """JSON that holds the other slot's placeholder text is not substituted again."""
    app = '<html><head></head><body><script>var n={manifest:"MANIFEST.JSON INLINE DATA",catalog:"CATALOG.JSON INLINE DATA"}</script></body></html>'
    manifest = {"description": 'see "CATALOG.JSON INLINE DATA" </script>'}
    catalog = catalog_with_column(SCRIPT_BREAKER)
    page = docs.inline_artifacts(app, json.dumps(manifest), json.dumps(catalog))
    (script,) = scripts_in(page)
    prefix, rest = script.split("{manifest:", 1)
    decoder = json.JSONDecoder()
    got_manifest, end = decoder.raw_decode(rest)
    assert rest[end:].startswith(",catalog:")
    got_catalog, _ = decoder.raw_decode(rest[end + len(",catalog:") :])
    assert (prefix, got_manifest, got_catalog) == ("var n=", manifest, catalog)


# -- the schema check -------------------------------------------------------------------------------

REGION = next(spec for spec in TABLES if spec.name == "region")


def region_file(tmp_path: Path, extra_column: str) -> Path:
    path = tmp_path / "region.parquet"
    with duckdb.connect() as con:
        quoted = '"' + extra_column.replace('"', '""') + '"'
        con.execute(
            f"copy (select 0::bigint as r_regionkey, 'AFRICA' as r_name, 'c' as r_comment, 'v' as {quoted}) "
            f"to '{path}' (format parquet)"
        )
    return path


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        (SCRIPT_BREAKER, "holds '<', '>'"),
        ("tom & jerry", "holds '&'"),
        ("x\x1b[31mred", "holds a control or invisible character"),
        ("two\nlines", "holds a control or invisible character"),
        ("rtl\u202egnp.exe", "holds a control or invisible character"),
    ],
)
def test_schema_check_refuses_a_column_name_with_markup_or_control_characters(
    tmp_path: Path, name: str, problem: str
) -> None:
    path = region_file(tmp_path, name)
    with duckdb.connect() as con, pytest.raises(PipelineError) as caught:
        check_file(con, REGION, path, kind="batch file")
    message = str(caught.value)
    assert message.startswith(f"batch file {path}: column {name.lower()!r} {problem} (table region); ")
    assert message.endswith("rename the column in the file, then retry")
    assert "\n" not in message and "\x1b" not in message and "\u202e" not in message


def test_schema_check_lets_brackets_and_quotes_through(tmp_path: Path) -> None:
    """Legal quoted SQL identifiers stay additive drift; every printer escapes them."""
    name = "x[/y] \"quoted\" 'it'"
    with duckdb.connect() as con:
        schema = check_file(con, REGION, region_file(tmp_path, name), kind="batch file")
    assert schema.extra == ((name, "VARCHAR"),)


# -- alerts -----------------------------------------------------------------------------------------

SECRETS = ("s3cret", "tokenXYZ")
MALFORMED_WEBHOOKS = [
    "hooks.example/services/T0/B0/tokenXYZ",  # no scheme
    "user:s3cret@hooks.example/services/T0/B0/tokenXYZ",  # no scheme, userinfo read as one
    "https:/hooks.example/services/T0/B0/tokenXYZ?p=s3cret",  # no host
    "ftp://user:s3cret@hooks.example/services/T0/B0/tokenXYZ",  # not http(s)
    "https://user:s3cret@hooks.example/services/T0/B0/tokenXYZ",  # userinfo urllib would read as a port
    "http://user:s3cret@127.0.0.1:9/services/T0/B0/tokenXYZ",  # userinfo in the host it would resolve
    "https://hooks.example:s3cret/services/T0/B0/tokenXYZ",  # a port that is no number
    "https://[hooks.example/services/T0/B0/tokenXYZ",  # a broken IPv6 host
    "https://hooks.example/services/T0/B0/token XYZ s3cret",  # whitespace
    "https://hooks.example/services/T0/B0/tokenXYZ\x1b[2Js3cret",  # a control character
]


def leaked(text: object) -> list[str]:
    return [secret for secret in SECRETS if secret in str(text)]


def what_an_operator_sees(url: str, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every text the URL can reach: the settings' error, or the delivery error and the alerts rows."""
    try:
        settings = AlertSettings.from_env(url)
    except PipelineError as exc:
        return [str(exc)]
    outcome = notify(con, [INCIDENT], settings, headline="h", now=NOW, out=lambda _: None)
    rows = con.execute(f"select * from {SCHEMA}.alerts").fetchall()
    return [str(outcome.error), str(rows)]


INCIDENT = Incident("test:t", "test", "fail", "inv-1", "t: 3 failing row(s)")
NOW = datetime(2026, 1, 1)  # noqa: DTZ001 - the alerts table holds naive UTC


@pytest.fixture
def history_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_schema(con)
    yield con
    con.close()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """urllib runs for real up to the name lookup, which fails as on a machine without DNS."""

    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)


@pytest.mark.parametrize("url", MALFORMED_WEBHOOKS)
def test_a_malformed_webhook_url_never_shows_its_secret(
    url: str, history_con: duckdb.DuckDBPyConnection, offline: None
) -> None:
    seen = what_an_operator_sees(url, history_con)
    assert seen and not any(leaked(text) for text in seen), seen
    assert any("webhook" in text for text in seen)


@pytest.mark.parametrize("url", MALFORMED_WEBHOOKS)
def test_posting_to_a_malformed_webhook_url_fails_in_one_redacted_line(url: str, offline: None) -> None:
    """post_webhook on its own (the URL not validated first): a PipelineError, never
    urllib's own (http.client.InvalidURL quotes the URL's userinfo or path)."""
    with pytest.raises(PipelineError) as caught:
        post_webhook(url, "text")
    assert not leaked(caught.value) and "\n" not in str(caught.value), caught.value


def test_an_unreachable_webhook_is_named_by_scheme_and_host(
    history_con: duckdb.DuckDBPyConnection, offline: None
) -> None:
    settings = AlertSettings("http://127.0.0.1:9/services/T0/B0/tokenXYZ")
    outcome = notify(history_con, [INCIDENT], settings, headline="h", now=NOW, out=lambda _: None)
    assert outcome.delivered is False
    assert outcome.error.startswith("webhook http://127.0.0.1/… unreachable"), outcome.error
    assert not leaked(history_con.execute(f"select * from {SCHEMA}.alerts").fetchall())


class FakeResponse:
    status = 200

    def __enter__(self) -> FakeResponse:
        return self

    def __exit__(self, *args: object) -> None:
        return None


def test_slack_control_syntax_in_a_column_name_is_escaped(
    history_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[bytes] = []

    def fake_urlopen(request, timeout: float) -> FakeResponse:
        sent.append(request.data)
        return FakeResponse()

    monkeypatch.setattr(alerts.urllib.request, "urlopen", fake_urlopen)
    column = "<!channel> & <http://x|y>"
    incident = Incident(
        "test:t", "test", "fail", "inv-1", f"not_null on raw.lineitem.{column}: 3 failing row(s)"
    )
    printed: list[str] = []
    settings = AlertSettings("https://hooks.example/services/T0/B0/tokenXYZ")
    outcome = notify(history_con, [incident], settings, headline="h", now=NOW, out=printed.append)

    assert outcome.delivered is True
    (payload,) = sent
    text = json.loads(payload)["text"]
    assert "not_null on raw.lineitem.&lt;!channel&gt; &amp; &lt;http://x|y&gt;: 3 failing row(s)" in text
    assert "<" not in text and ">" not in text
    assert column in printed[0], "stdout shows the name as it is"


# -- the terminal -----------------------------------------------------------------------------------


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The CLI's stdout and stderr consoles, writing to one buffer as a terminal would."""
    buffer = io.StringIO()
    for name in ("console", "err_console"):
        monkeypatch.setattr(
            cli_output, name, Console(file=buffer, force_terminal=True, color_system=None, width=300)
        )
    return buffer


def test_a_warning_about_a_column_named_like_markup_prints_as_is(terminal: io.StringIO) -> None:
    """The defect's scenario: ingest has committed, then its warning raised MarkupError."""
    warning = "batch_0001/lineitem.parquet: new column x[/y] (VARCHAR) kept in raw.lineitem"
    cli_output.print_checks([warning, "[bold]y[/bold] and [link=http://x]z[/link]"], {"bad [/row]": 2})
    assert terminal.getvalue().splitlines() == [
        f"warning: {warning}",
        "warning: [bold]y[/bold] and [link=http://x]z[/link]",
        "  quarantined 2 row(s): bad [/row] (raw._quarantine)",
    ]


def test_escape_sequences_from_data_reach_the_terminal_as_text(terminal: io.StringIO) -> None:
    cli_output.print_checks(["col\x1b[2J\x1b]8;;http://x\x07\u202e\r\nnext"], {})
    out = terminal.getvalue()
    assert out == "warning: col\\x1b[2J\\x1b]8;;http://x\\x07\\u202e\\x0d\\x0anext\n"


def test_an_error_from_data_prints_as_one_line_and_exits_1(terminal: io.StringIO) -> None:
    def step() -> None:
        raise PipelineError("batch file /d/[/x]\x1b[31m.parquet: column 'x[/y]\nz' is bad")

    with pytest.raises(typer.Exit) as caught:
        cli_output.guard(step)
    assert caught.value.exit_code == 1
    assert terminal.getvalue() == "error: batch file /d/[/x]\\x1b[31m.parquet: column 'x[/y]\\x0az' is bad\n"


def test_names_and_values_from_data_reach_sql_only_quoted() -> None:
    """tpch_elt.warehouse.connection's two quoting helpers: what goes in is what DuckDB stores."""
    name = 'o_"note"; drop table t --'
    value = "it's'); drop table t --"
    with duckdb.connect() as con:
        con.execute(f"create table t ({quote_ident(name)} varchar)")
        con.execute(f"insert into t values ({quote_literal(value)})")
        assert con.execute("select * from t").fetchall() == [(value,)]
        assert [row[0] for row in con.execute("describe t").fetchall()] == [name]


# -- the report pages -------------------------------------------------------------------------------

HOSTILE = SCRIPT_BREAKER + " & \"q\" 'a' <img src=x onerror=alert(1)>"


class PageReader(HTMLParser):
    """What a browser would build: the elements by tag name, and the text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def read_page(html: str) -> PageReader:
    reader = PageReader()
    reader.feed(html)
    reader.close()
    return reader


def assert_shown_as_text(html: str, times: int = 1) -> None:
    page = read_page(html)
    assert "script" not in page.tags and "img" not in page.tags, "a value from data became markup"
    assert "".join(page.text).count(HOSTILE) >= times, "the value is on the page, as text"


def test_the_observability_page_shows_names_messages_and_sample_rows_as_text(tmp_path: Path) -> None:
    """A build whose test, column, model, message and failing rows carry markup."""
    test, model = "test.p.hostile", "model.p.hostile"
    manifest = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
        "sources": {},
        "nodes": {
            model: {
                "unique_id": model,
                "resource_type": "model",
                "name": HOSTILE,
                "alias": "m",
                "schema": "main",
                "fqn": ["p", "mart", "m"],
                "description": HOSTILE,
                "config": {"enabled": True, "materialized": "table", "meta": {}},
                "columns": {},
                "depends_on": {"nodes": []},
            },
            test: {
                "unique_id": test,
                "resource_type": "test",
                "name": HOSTILE,
                "test_metadata": {"name": "not_null"},
                "attached_node": model,
                "column_name": HOSTILE,
                "config": {"severity": "error"},
                "depends_on": {"nodes": [model]},
            },
        },
        "exposures": {},
        "unit_tests": {},
    }
    # The failing rows the test's SQL returns: a column named, and a value holding, the markup.
    sample_sql = f"select {quote_literal(HOSTILE)} as {quote_ident(HOSTILE)}"
    run_results = {
        "metadata": {
            "dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
            "dbt_version": "1.11.16",
            "invocation_id": "inv-1",
            "invocation_started_at": "2026-01-01T00:00:00Z",
            "generated_at": "2026-01-01T00:00:05Z",
        },
        "elapsed_time": 5.0,
        "args": {"which": "build"},
        "results": [
            {
                "unique_id": test,
                "status": "error",
                "timing": [],
                "execution_time": 0.1,
                "adapter_response": {},
                "message": HOSTILE,
                "failures": 1,
                "compiled_code": sample_sql,
            }
        ],
    }
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        con.execute("create table m as select 1 as x")
        record_artifact(con, run_results, manifest, target="dev")
        html = observability_page.render(con)
    # test name: attention list, heading, strip; message; sample header and cell; model: coverage
    assert_shown_as_text(html, times=6)
    assert "&lt;img src=x" in html


def test_the_insights_page_shows_questions_answers_and_tables_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def answer(marts: Marts) -> Answer:
        chart = bar_chart([HOSTILE], [Series(HOSTILE, [1.0])], title=HOSTILE)
        return Answer(HOSTILE, chart, Table([HOSTILE], [[HOSTILE]], caption=HOSTILE))

    hostile = Insight("BQ01", HOSTILE, "mart_orders", HOSTILE, answer, proxy=HOSTILE)
    monkeypatch.setattr(insights_page, "INSIGHTS", (hostile,))
    with duckdb.connect(str(tmp_path / "marts.duckdb")) as con:
        con.execute("create schema mart")
        for mart in insight_marts():
            con.execute(f"create table mart.{mart} (x integer)")
        con.execute(
            "create or replace table mart.mart_orders as select date '1998-08-02' as order_date, "
            "1 as customer_key, 10.0 as net_revenue"
        )
        html = insights_page.render(con)
    # contents, heading, answer, proxy, exposure, table caption, header and cell
    assert_shown_as_text(html, times=8)


def test_a_warehouse_file_name_with_markup_is_text_in_every_file(tmp_path: Path) -> None:
    warehouse = tmp_path / "w<img src=x onerror=alert(1)>&'\".duckdb"
    duckdb.connect(str(warehouse)).close()
    page = Page("p", "P", "a page", lambda con: "<p>content</p>")
    result = write_reports(Settings(data_dir=tmp_path / "data", warehouse=warehouse), [page])
    for path in (result.index, result.pages[0].path):
        html = path.read_text(encoding="utf-8")
        assert "img" not in read_page(html).tags, path.name
        assert f"from {warehouse.name}" in "".join(read_page(html).text), path.name
    assert "<p>content</p>" in result.pages[0].path.read_text(encoding="utf-8"), "a page's HTML is kept"
