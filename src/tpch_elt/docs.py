"""`tpch-elt docs`: dbt's documentation site as one file that opens offline.

`dbt docs generate --static` compiles the project, reads the catalog
(every relation's columns and types) from the warehouse, and writes
`static_index.html`: dbt's single-page app with the manifest and catalog
inlined, so it needs no web server. This module runs it with its own
target directory (the build's manifest and run results stay untouched),
then makes sure the page cannot reach the network and copies it to
`<data-dir>/docs/index.html`.

dbt's page has three things that point off the page, all handled here:

- a favicon link that is an unexpanded webpack template
  (`${require(...)}`): replaced by an empty inline icon;
- SVG icons whose `xlink:href` is an Angular template (`{{ getIcon(...) }}`):
  the browser requests the literal template as a file before Angular fills
  it in, and reports each as an error. They become `ng-attr-href`, which
  Angular sets once interpolated (to an in-page `#icn-…` symbol);
- dbt Docs' usage tracker, which loads a Snowplow script from a CDN when
  the manifest says `send_anonymous_usage_stats: true`. The project turns
  that off (dbt_project.yml) and this module refuses a manifest that says
  otherwise; the script URL is also blanked, and a Content-Security-Policy
  lets the page load nothing but itself and inline `data:` resources.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpch_elt.build import common_dbt_args
from tpch_elt.errors import PipelineError
from tpch_elt.lock import warehouse_lock
from tpch_elt.settings import Settings

# Everything the app needs is inline; it may fetch nothing at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
)
_FAVICON_TEMPLATE = '<link rel="shortcut icon" href="${require(\'./assets/favicons/favicon.ico\')}"/>'
_TRACKER_SCRIPT = '"//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js"'
_TEMPLATED_ICON = '<use xlink:href="{{ getIcon('
_HEAD = "<head>"


@dataclass(frozen=True)
class DocsResult:
    path: Path
    size_bytes: int
    models: int
    sources: int
    exposures: int
    catalog_path: Path


def docs_target_dir(settings: Settings) -> Path:
    """dbt's target directory for docs (beside the build's, never the same)."""
    return settings.data_dir / "dbt" / "docs-target"


def docs_path(settings: Settings) -> Path:
    return settings.data_dir / "docs" / "index.html"


def generate_docs(settings: Settings) -> DocsResult:
    """Run `dbt docs generate --static` and publish an offline copy of the site."""
    if settings.target == "dev":
        if not settings.warehouse_path.is_file():
            raise PipelineError(
                f"no warehouse at {settings.warehouse_path}: run `tpch-elt run` (make run) first, "
                "the docs' catalog is read from the built models"
            )
        # dbt-duckdb opens the warehouse file for writing: take the writer
        # lock so a concurrent build fails cleanly instead of on DuckDB's lock.
        with warehouse_lock(settings.warehouse_path, "docs"):
            _dbt_docs_generate(settings)
    else:
        _dbt_docs_generate(settings)

    target = docs_target_dir(settings)
    manifest = _read_json(target / "manifest.json")
    if manifest.get("metadata", {}).get("send_anonymous_usage_stats") is not False:
        raise PipelineError(
            "dbt's manifest has send_anonymous_usage_stats enabled: the docs page would load a "
            "tracker; set flags.send_anonymous_usage_stats: false in dbt_project/dbt_project.yml"
        )
    page = offline_page((target / "static_index.html").read_text(encoding="utf-8"))

    out = docs_path(settings)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    nodes = manifest.get("nodes", {}).values()
    return DocsResult(
        path=out,
        size_bytes=out.stat().st_size,
        models=sum(node.get("resource_type") == "model" for node in nodes),
        sources=len(manifest.get("sources", {})),
        exposures=len(manifest.get("exposures", {})),
        catalog_path=target / "catalog.json",
    )


def offline_page(html: str) -> str:
    """dbt's static page with nothing left that could reach the network."""
    if _HEAD not in html or "MANIFEST.JSON INLINE DATA" in html:
        raise PipelineError("dbt wrote an unexpected docs page (no <head>, or the manifest is not inlined)")
    html = html.replace(_FAVICON_TEMPLATE, '<link rel="icon" href="data:,"/>')
    html = html.replace(_TRACKER_SCRIPT, '""')
    html = html.replace(_TEMPLATED_ICON, '<use ng-attr-href="{{ getIcon(')
    csp = f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
    return html.replace(_HEAD, _HEAD + csp, 1)


def _dbt_docs_generate(settings: Settings) -> None:
    # Imported here: dbt is heavy and only this command needs it here.
    from dbt.cli.main import dbtRunner

    target = docs_target_dir(settings)
    args = [
        "docs",
        "generate",
        "--static",
        *common_dbt_args(settings, target),
        "--quiet",
    ]
    saved = {key: os.environ.get(key) for key in settings.dbt_env()}
    os.environ.update(settings.dbt_env())
    try:
        result = dbtRunner().invoke(args)
    finally:
        _release_duckdb()
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
    if not result.success:
        detail = result.exception or "a node failed to compile or the catalog query failed"
        raise PipelineError(
            f"dbt docs generate failed: {detail}; see {settings.dbt_log_dir / 'dbt.log'} "
            "(`tpch-elt build` must have built the models first)"
        )
    if not (target / "static_index.html").is_file():
        raise PipelineError(f"dbt docs generate wrote no {target / 'static_index.html'}")


def _release_duckdb() -> None:
    """Close dbt-duckdb's cached database so the warehouse file is free again."""
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # another adapter: nothing to release
        return
    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
