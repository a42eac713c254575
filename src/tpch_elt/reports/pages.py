"""Report: offline, self-contained HTML pages rendered from the marts.

`tpch-elt report` writes one HTML file per page to `<data-dir>/reports/`
plus an `index.html` that links them. Pages are pluggable: a page is a
`Page` (tpch_elt.reports.page: a file name, a title and a function from a read-only warehouse
connection to HTML) and `default_pages()` lists the ones the command
writes. Each file inlines its CSS and SVG charts: no JavaScript, no fonts,
styles or images from the network.

A page whose database another process holds for writing (a running build
holds the warehouse) is not refreshed: the earlier report's page stays (or
one that says why), and the index and the command say so; the other pages
are written as usual.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import duckdb

from tpch_elt import __version__
from tpch_elt.errors import PipelineError, first_line
from tpch_elt.publish.publication import published_path
from tpch_elt.reports.page import Page
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect

REPORTS_DIRNAME = "reports"
INDEX_FILE = "index.html"

# Called as (finished, total, page title) after each page is written.
PageProgress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class WrittenPage:
    title: str
    path: Path
    size_bytes: int
    # Why the page was not rendered this time (its database was held by a
    # writer, e.g. a running build); the file is an earlier report's page,
    # or a page that says so.
    not_refreshed: str | None = None


@dataclass(frozen=True)
class ReportResult:
    directory: Path
    index: Path
    pages: list[WrittenPage]


def default_pages() -> list[Page]:
    """The pages `tpch-elt report` writes, in index order."""
    from tpch_elt.reports.insights import PAGE as insights_page
    from tpch_elt.reports.observability import PAGE as observability_page

    return [insights_page, observability_page]


def held_by_another_process(error: BaseException) -> bool:
    """Whether opening a database failed because another process holds it for writing
    (DuckDB allows one writing process, and no reader beside it)."""
    cause = error.__cause__ if isinstance(error, PipelineError) else error
    return isinstance(cause, duckdb.IOException) and "lock" in str(cause).lower()


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / REPORTS_DIRNAME


# -- HTML building blocks shared by the pages --------------------------------


def esc(value: object) -> str:
    return escape(str(value), quote=True)


_CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--accent:#0072b2;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--ink);background:#fff}
header{padding:20px 28px 12px;border-bottom:1px solid var(--line);background:var(--soft)}
header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;color:var(--muted)}
header nav a{margin-right:12px}
main{max-width:1100px;margin:0 auto;padding:12px 28px 40px}
a{color:var(--accent)}
.scroll{overflow-x:auto}
.toc{columns:2;font-size:13px;padding-left:18px}
section.bq{border-top:1px solid var(--line);padding:18px 0 8px}
section.bq h2{font-size:17px;margin:0 0 6px}
.bqid{display:inline-block;background:var(--accent);color:#fff;border-radius:4px;padding:0 6px;margin-right:6px;font-size:13px}
.answer{font-size:15px;margin:6px 0 8px}
.meta{color:var(--muted);font-size:12px;margin:0 0 8px}
.proxy{border-left:3px solid #e69f00;background:#fff8eb;padding:6px 10px;margin:8px 0;font-size:13px}
figure{margin:8px 0;overflow-x:auto}
svg.chart{max-width:100%;height:auto;font-family:inherit}
table{border-collapse:collapse;font-size:12px;margin:6px 0 4px;width:100%}
caption{text-align:left;color:var(--muted);font-size:12px;padding-bottom:4px}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;white-space:nowrap}
th{background:var(--soft)}
.num{text-align:right;font-variant-numeric:tabular-nums}
footer{color:var(--muted);font-size:12px;border-top:1px solid var(--line);padding:12px 28px}
ul.pages li{margin:6px 0}
"""


def _document(title: str, subtitle: str, content: str, nav: str) -> str:
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No favicon request, no referrer; nothing leaves the file.
        '<link rel="icon" href="data:,">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{subtitle}</p><nav>{nav}</nav></header>"
        f"<main>{content}</main>"
        f"<footer>Written by tpch-elt {esc(__version__)} · self-contained: no scripts, "
        "no network resources</footer></body></html>\n"
    )


def _write_atomically(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target, then renamed over it: a reader never sees a
    # half-written page. Plain open() so the file gets the usual umask mode.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise PipelineError(
            f"cannot write report {path}: {exc.strerror}; choose a writable --data-dir"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return len(data)


def _unavailable(page: Page, reason: str, generated: str, nav: str) -> str:
    """The page, when its database could not be read and no earlier report wrote it."""
    return _document(
        page.title,
        f"Not rendered {esc(generated)}",
        f"<p>This page could not be rendered: {esc(reason)}. Run <code>tpch-elt report</code> "
        "again once it has finished.</p>",
        nav,
    )


def _index(pages: Sequence[WrittenPage], page_specs: Sequence[Page], generated: str, source: str) -> str:
    def note(written: WrittenPage) -> str:
        if written.not_refreshed is None:
            return ""
        return f' <span class="meta">not refreshed: {esc(written.not_refreshed)}</span>'

    items = "".join(
        f'<li><a href="{esc(written.path.name)}">{esc(spec.title)}</a> — {esc(spec.summary)} '
        f'<span class="meta">({written.size_bytes / 1024:.0f} KiB)</span>{note(written)}</li>'
        for written, spec in zip(pages, page_specs, strict=True)
    )
    return _document(
        "tpch-elt reports",
        f"Generated {esc(generated)} from {esc(source)}",
        f'<ul class="pages">{items}</ul>',
        "",
    )


def write_reports(
    settings: Settings,
    pages: Sequence[Page] | None = None,
    on_page: PageProgress | None = None,
) -> ReportResult:
    """Render every page from the warehouse (read-only) into <data-dir>/reports/."""
    if settings.target != "dev":
        raise PipelineError(
            f"reports read the embedded DuckDB warehouse; target {settings.target!r} is not "
            "supported: run `tpch-elt --target dev report`"
        )
    pages = list(default_pages() if pages is None else pages)
    slugs = [page.slug for page in pages]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"duplicate page slugs: {slugs}")
    out_dir = reports_dir(settings)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(
            f"cannot create report directory {out_dir}: {exc.strerror}; choose a writable --data-dir"
        ) from exc
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    nav = f'<a href="{INDEX_FILE}">All reports</a>' + "".join(
        f'<a href="{esc(p.filename)}">{esc(p.title)}</a>' for p in pages
    )
    written: list[WrittenPage] = []
    sources = {"warehouse": settings.warehouse_path, "published": published_path(settings.warehouse_path)}
    if any(p.reads == "published" for p in pages) and not sources["published"].is_file():
        raise PipelineError(
            f"no published marts at {sources['published']}: run `tpch-elt build` (or `tpch-elt run`) "
            "until a build passes its tests"
        )
    with contextlib.ExitStack() as stack:
        connections: dict[str, duckdb.DuckDBPyConnection] = {}
        busy: dict[str, PipelineError] = {}
        for name, path in sources.items():
            if not any(p.reads == name for p in pages):
                continue
            try:
                connections[name] = stack.enter_context(connect(path, read_only=True))
            except PipelineError as exc:
                # A build writing the warehouse (or a notebook holding the
                # catalog read-write): write the other pages, say which not.
                if not held_by_another_process(exc):
                    raise
                busy[name] = exc
        if not connections:
            raise next(iter(busy.values()))
        for number, page in enumerate(pages, start=1):
            path = out_dir / page.filename
            if page.reads in busy:
                who = "a running build?" if page.reads == "warehouse" else "a read-write connection?"
                reason = f"{sources[page.reads].name} is held by another process ({who})"
                if not path.is_file():
                    _write_atomically(path, _unavailable(page, reason, generated, nav))
                written.append(WrittenPage(page.title, path, path.stat().st_size, reason))
                if on_page:
                    on_page(number, len(pages), page.title)
                continue
            con = connections[page.reads]
            try:
                content = page.render(con)
            except duckdb.Error as exc:
                reason = first_line(exc)
                raise PipelineError(
                    f"report page {page.filename}: {reason}; rebuild the marts with "
                    "`tpch-elt build --full-tests`"
                ) from exc
            subtitle = f"Generated {esc(generated)} from {esc(sources[page.reads].name)}"
            html = _document(page.title, subtitle, content, nav)
            written.append(WrittenPage(page.title, path, _write_atomically(path, html)))
            if on_page:
                on_page(number, len(pages), page.title)
    index = out_dir / INDEX_FILE
    _write_atomically(index, _index(written, pages, generated, settings.warehouse_path.name))
    return ReportResult(out_dir, index, written)
