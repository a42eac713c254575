"""`tpch-elt docs`: dbt's documentation site as one file that opens offline.

`dbt docs generate` compiles the project, reads the catalog (every
relation's columns and types) from the warehouse, and writes the manifest,
the catalog and dbt's single-page app (`index.html`) to its target
directory. This module runs it with its own target directory (the build's
manifest and run results stay untouched), inlines the manifest and catalog
into the app as `--static` would, so it needs no web server, makes sure the
page cannot reach the network and writes it to `<data-dir>/docs/index.html`.

The inlined JSON comes from data: a column that arrived in a Parquet file
is a source column in the catalog. dbt's own `--static` pastes the JSON
into the app's `<script>` verbatim, so a column named `</script><script>…`
would end the script and run its own. Here `<`, `>`, `&` and U+2028/U+2029
are written as `\\uXXXX` escapes (`script_safe_json`): the same data for
JavaScript and JSON, and nothing an HTML parser reads as a tag or comment.
The schema check refuses such names at load and ingest as well
(`tpch_elt.load.schema_check`).

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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpch_elt.errors import PipelineError
from tpch_elt.settings import Settings
from tpch_elt.transform.dbt import common_dbt_args, dbt_environment, invoke
from tpch_elt.warehouse.lock import warehouse_lock

# Everything the app needs is inline; it may fetch nothing at all.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; "
    "img-src data:; font-src data:; connect-src 'none'; form-action 'none'; base-uri 'none'"
)
_FAVICON_TEMPLATE = '<link rel="shortcut icon" href="${require(\'./assets/favicons/favicon.ico\')}"/>'
_TRACKER_SCRIPT = '"//d1fc8wv8zag5ca.cloudfront.net/2.9.0/sp.js"'
_TEMPLATED_ICON = '<use xlink:href="{{ getIcon('
_HEAD = "<head>"
# Where dbt's app takes the artifacts inline (what `--static` replaces).
_MANIFEST_SLOT = '"MANIFEST.JSON INLINE DATA"'
_CATALOG_SLOT = '"CATALOG.JSON INLINE DATA"'
# In JSON these occur only inside strings, where \uXXXX means the same character.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


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
    """Run `dbt docs generate` and publish the site as one offline page."""
    if settings.embedded:
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
    manifest_text = _read_text(target / "manifest.json")
    catalog_text = _read_text(target / "catalog.json")
    manifest = _parse_json(manifest_text, target / "manifest.json")
    _parse_json(catalog_text, target / "catalog.json")
    if manifest.get("metadata", {}).get("send_anonymous_usage_stats") is not False:
        raise PipelineError(
            "dbt's manifest has send_anonymous_usage_stats enabled: the docs page would load a "
            "tracker; set flags.send_anonymous_usage_stats: false in dbt_project/dbt_project.yml"
        )
    app = _read_text(target / "index.html")
    page = offline_page(inline_artifacts(app, manifest_text, catalog_text))

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


def script_safe_json(text: str) -> str:
    """JSON text that can sit inside an HTML `<script>`: no `</script>`, `<!--` or `<script`.

    `<`, `>`, `&` and the JavaScript line terminators U+2028/U+2029 become
    `\\uXXXX` escapes. In JSON they can only occur inside strings, so the
    text still parses (as JSON and as JavaScript) to exactly the same data.
    """
    return re.sub("[<>&\u2028\u2029]", lambda m: _SCRIPT_UNSAFE[m.group(0)], text)


def inline_artifacts(app: str, manifest_json: str, catalog_json: str) -> str:
    """dbt's docs app with the manifest and catalog inlined, as `--static` does, but script-safe.

    One pass over the app, so JSON that happens to contain the other slot's
    placeholder text is never substituted again.
    """
    data = {_MANIFEST_SLOT: manifest_json, _CATALOG_SLOT: catalog_json}
    for slot in data:
        if app.count(slot) != 1:
            raise PipelineError(
                f"dbt's docs app has {app.count(slot)} {slot} placeholders, expected 1: "
                "this dbt version inlines artifacts differently; pin the dbt-core version in pyproject.toml"
            )
    slots = re.compile("|".join(re.escape(slot) for slot in data))
    return slots.sub(lambda m: script_safe_json(data[m.group(0)]), app)


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
    target = docs_target_dir(settings)
    args = [
        "docs",
        "generate",
        *common_dbt_args(settings, target),
        "--quiet",
    ]
    with dbt_environment(settings.dbt_env()):
        result = invoke(args)
    if not result.success:
        detail = result.exception or "a node failed to compile or the catalog query failed"
        raise PipelineError(
            f"dbt docs generate failed: {detail}; see {settings.dbt_log_dir / 'dbt.log'} "
            "(`tpch-elt build` must have built the models first)"
        )
    for name in ("index.html", "manifest.json", "catalog.json"):
        if not (target / name).is_file():
            raise PipelineError(f"dbt docs generate wrote no {target / name}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc


def _parse_json(text: str, path: Path) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PipelineError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise PipelineError(f"cannot read {path}: not a JSON object")
    return data
