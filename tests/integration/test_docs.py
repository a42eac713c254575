"""`tpch-elt docs`: dbt's documentation site, generated with real dbt from
the warehouse the session's `tpch-elt run` built, as one HTML file that a
real browser (Debian Chromium through Playwright) opens from disk with the
network cut off.

The warehouse carries a source column named to break out of the page's
inline <script> (an extra Parquet column arrives in raw as additive drift,
and the schema check refuses such names only from now on): the page shows it
as data and runs nothing of it."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from testkit.browser import requires_chromium
from testkit.cli import REPO_ROOT, Pipeline, run_cli

LINEITEM = "source.tpch_elt.tpch.lineitem"
# Undocumented by design (additive drift): the description check leaves it out.
HOSTILE_COLUMN = "</script><script>window.injected = true</script>"


@dataclass(frozen=True)
class DocsSite:
    data_dir: Path
    page: Path
    stdout: str
    manifest: dict
    catalog: dict


@pytest.fixture(scope="module")
def docs_site(pipeline: Pipeline, tmp_path_factory: pytest.TempPathFactory) -> DocsSite:
    """`tpch-elt docs` on a copy of the session's warehouse (the original stays read-only)."""
    data_dir = tmp_path_factory.mktemp("docs") / "data"
    data_dir.mkdir()
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal"):
        if (pipeline.data_dir / name).exists():
            shutil.copy2(pipeline.data_dir / name, data_dir / name)
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute(f'alter table raw.lineitem add column "{HOSTILE_COLUMN}" varchar')
    proc = run_cli("--data-dir", str(data_dir), "docs", check=True)
    target = data_dir / "dbt" / "docs-target"
    return DocsSite(
        data_dir,
        data_dir / "docs" / "index.html",
        proc.stdout,
        json.loads((target / "manifest.json").read_text()),
        json.loads((target / "catalog.json").read_text()),
    )


def _models(manifest: dict) -> dict[str, dict]:
    return {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}


def test_docs_writes_one_self_contained_page_and_says_where(docs_site: DocsSite) -> None:
    assert str(docs_site.page) in docs_site.stdout.replace("\n", "")
    assert sorted(path.name for path in docs_site.page.parent.iterdir()) == ["index.html"]
    html = docs_site.page.read_text(encoding="utf-8")
    assert len(html) > 1_000_000  # dbt's app plus the inlined manifest and catalog
    # both artifacts are inlined: nothing to fetch at run time
    assert "MANIFEST.JSON INLINE DATA" not in html and "CATALOG.JSON INLINE DATA" not in html
    assert docs_site.catalog["metadata"]["generated_at"] in html
    # the usage tracker's loader is gone and telemetry is off in what is inlined
    assert "cloudfront.net" not in html
    assert docs_site.manifest["metadata"]["send_anonymous_usage_stats"] is False
    assert '<meta http-equiv="Content-Security-Policy"' in html
    # the hostile column is in the catalog, and in the page only as escaped data
    assert HOSTILE_COLUMN in docs_site.catalog["sources"][LINEITEM]["columns"]
    assert HOSTILE_COLUMN not in html and "window.injected" in html


def test_catalog_has_every_model_with_its_columns(docs_site: DocsSite) -> None:
    models = _models(docs_site.manifest)
    model_files = {path.stem for path in (REPO_ROOT / "dbt_project" / "models").rglob("*.sql")}
    assert {node["name"] for node in models.values()} == model_files
    with duckdb.connect(str(docs_site.data_dir / "warehouse.duckdb"), read_only=True) as con:
        for uid, node in models.items():
            assert uid in docs_site.catalog["nodes"], f"{node['name']} is not in the catalog"
            catalog_columns = [
                column["name"]
                for column in sorted(
                    docs_site.catalog["nodes"][uid]["columns"].values(), key=lambda column: column["index"]
                )
            ]
            warehouse_columns = [
                name
                for (name,) in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by ordinal_position",
                    [node["schema"], node["alias"]],
                ).fetchall()
            ]
            assert catalog_columns == warehouse_columns, node["name"]


def test_every_model_column_source_and_exposure_is_described(docs_site: DocsSite) -> None:
    manifest, catalog = docs_site.manifest, docs_site.catalog
    missing: list[str] = []
    for uid, node in _models(manifest).items():
        if not node["description"].strip():
            missing.append(f"model {node['name']}")
        documented = {name for name, column in node["columns"].items() if column["description"].strip()}
        missing += [
            f"column {node['name']}.{name}"
            for name in catalog["nodes"][uid]["columns"]
            if name not in documented
        ]
    assert manifest["sources"], "no sources"
    for uid, source in manifest["sources"].items():
        if not source["description"].strip():
            missing.append(f"source {source['name']}")
        assert uid in catalog["sources"], f"source {source['name']} is not in the catalog"
        documented = {name for name, column in source["columns"].items() if column["description"].strip()}
        missing += [
            f"column {source['name']}.{name}"
            for name in catalog["sources"][uid]["columns"]
            if name not in documented and name != HOSTILE_COLUMN
        ]
    assert manifest["exposures"], "no exposures"
    for exposure in manifest["exposures"].values():
        if not exposure["description"].strip():
            missing.append(f"exposure {exposure['name']}")
        assert exposure["depends_on"]["nodes"], f"exposure {exposure['name']} depends on nothing"
    assert not missing, f"undocumented: {missing}"


@requires_chromium
def test_docs_page_opens_offline_with_models_and_lineage(docs_site: DocsSite, browser) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    outside: list[str] = []
    problems: list[str] = []

    def only_this_machine(route) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:  # recorded and never sent
            outside.append(url)
            route.abort()

    context.route("**/*", only_this_machine)
    page = context.new_page()
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.on("requestfailed", lambda request: problems.append(f"request failed: {request.url}"))

    mart_orders = _models(docs_site.manifest)["model.tpch_elt.mart_orders"]
    page.goto(f"{docs_site.page.as_uri()}#!/model/model.tpch_elt.mart_orders", wait_until="load")
    page.locator("h1", has_text="mart_orders").wait_for()
    # the model page: its description and every column with its type from the catalog
    assert mart_orders["description"].split(".")[0] in page.locator("body").inner_text()
    for column in mart_orders["columns"]:
        assert page.get_by_text(column, exact=True).count() >= 1, f"column {column} not shown"
    # the project tree lists the models
    for name in ("mart_orders", "mart_customer_summary"):
        assert page.get_by_text(name, exact=True).count() >= 1

    # the lineage graph: mart_orders among its parents and children, drawn
    page.get_by_title("View Lineage Graph").click()
    page.locator(".launcher.on").wait_for(state="attached")
    page.wait_for_function(
        "() => (angular.element(document.documentElement).injector()"
        ".get('graph').graph.elements || []).length > 1"
    )
    names = set(
        page.evaluate(
            "() => angular.element(document.documentElement).injector().get('graph')"
            ".graph.elements.filter(e => e.data && e.data.label).map(e => e.data.label)"
        )
    )
    parents = {uid.rsplit(".", 1)[-1] for uid in mart_orders["depends_on"]["nodes"]}
    assert {"mart_orders", *parents} <= names, names
    canvas = page.locator(".launcher-body canvas").first.bounding_box()
    assert canvas is not None and canvas["width"] > 200 and canvas["height"] > 200

    # the source page lists the hostile column by its name, and none of it ran
    page.goto(f"{docs_site.page.as_uri()}#!/source/{LINEITEM}", wait_until="load")
    page.locator("h1", has_text="lineitem").wait_for()
    assert page.get_by_text(HOSTILE_COLUMN, exact=True).count() >= 1
    assert page.evaluate("() => window.injected") is None
    page.close()
    context.close()

    assert not outside, f"the docs page tried to reach the network: {outside}"
    assert not problems, problems
