"""Report: offline, self-contained HTML pages rendered from the marts.

`tpch-elt report` writes one HTML file per page to `<data-dir>/reports/`
plus an `index.html` that links them. Pages are pluggable: a page is a
`Page` (tpch_elt.reports.page: a file name, a title and a function from a
read-only warehouse connection to HTML) and `default_pages()` lists the
ones the command writes. Each file inlines its CSS and SVG charts: no
JavaScript, no fonts, styles or images from the network.

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
from pathlib import Path

import duckdb
from markupsafe import Markup

from tpch_elt import __version__
from tpch_elt.errors import PipelineError, first_line
from tpch_elt.publish.segments import published_path
from tpch_elt.reports import insights, observability
from tpch_elt.reports.html import render
from tpch_elt.reports.page import Page
from tpch_elt.settings import Settings
from tpch_elt.warehouse.connection import connect, held_by_another_process

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
    return [insights.PAGE, observability.PAGE]


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / REPORTS_DIRNAME


@dataclass(frozen=True)
class _Run:
    """What every file of one `write_reports` shares."""

    out_dir: Path
    generated: str
    nav: list[dict[str, str]]
    sources: dict[str, Path]  # Page.reads -> the database file

    def document(self, template: str, title: str, subtitle: str, **context: object) -> str:
        return render(template, title=title, subtitle=subtitle, nav=self.nav, version=__version__, **context)


def write_atomically(path: Path, text: str) -> int:
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


def _checked(settings: Settings, pages: Sequence[Page] | None) -> list[Page]:
    """The pages to write; only the embedded warehouse, and one file per slug."""
    if not settings.embedded:
        raise PipelineError(
            f"reports read the embedded DuckDB warehouse; target {settings.target!r} is not "
            "supported: run `tpch-elt --target prod report`"
        )
    checked = list(default_pages() if pages is None else pages)
    slugs = [page.slug for page in checked]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"duplicate page slugs: {slugs}")
    return checked


def _start(settings: Settings, pages: Sequence[Page]) -> _Run:
    out_dir = reports_dir(settings)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PipelineError(
            f"cannot create report directory {out_dir}: {exc.strerror}; choose a writable --data-dir"
        ) from exc
    nav = [{"href": INDEX_FILE, "text": "All reports"}]
    nav += [{"href": p.filename, "text": p.title} for p in pages]
    sources = {"warehouse": settings.warehouse_path, "published": published_path(settings.warehouse_path)}
    if any(p.reads == "published" for p in pages) and not sources["published"].is_file():
        raise PipelineError(
            f"no published marts at {sources['published']}: run `tpch-elt build` (or `tpch-elt run`) "
            "until a build passes its tests"
        )
    return _Run(out_dir, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), nav, sources)


def _open(
    stack: contextlib.ExitStack, run: _Run, pages: Sequence[Page]
) -> tuple[dict[str, duckdb.DuckDBPyConnection], dict[str, PipelineError]]:
    """A read-only connection to each database a page reads; the ones another process holds."""
    connections: dict[str, duckdb.DuckDBPyConnection] = {}
    busy: dict[str, PipelineError] = {}
    for name, path in run.sources.items():
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
    return connections, busy


def _keep_earlier(run: _Run, page: Page) -> WrittenPage:
    """A page whose database is held: the earlier report's file stays, or one that says why."""
    path = run.out_dir / page.filename
    who = "a running build?" if page.reads == "warehouse" else "a read-write connection?"
    reason = f"{run.sources[page.reads].name} is held by another process ({who})"
    if not path.is_file():
        html = run.document("unavailable.html", page.title, f"Not rendered {run.generated}", reason=reason)
        write_atomically(path, html)
    return WrittenPage(page.title, path, path.stat().st_size, reason)


def _write_page(run: _Run, page: Page, con: duckdb.DuckDBPyConnection) -> WrittenPage:
    try:
        content = page.render(con)
    except duckdb.Error as exc:
        raise PipelineError(
            f"report page {page.filename}: {first_line(exc)}; rebuild the marts with "
            "`tpch-elt build --full-tests`"
        ) from exc
    subtitle = f"Generated {run.generated} from {run.sources[page.reads].name}"
    # A page's render returns HTML (Page): inserted as it is.
    html = run.document("document.html", page.title, subtitle, content=Markup(content))
    path = run.out_dir / page.filename
    return WrittenPage(page.title, path, write_atomically(path, html))


def _index(run: _Run, written: Sequence[WrittenPage], pages: Sequence[Page], source: str) -> Path:
    listed = [
        {
            "href": page.path.name,
            "title": spec.title,
            "summary": spec.summary,
            "kib": f"{page.size_bytes / 1024:.0f}",
            "not_refreshed": page.not_refreshed,
        }
        for page, spec in zip(written, pages, strict=True)
    ]
    html = render(
        "index.html",
        title="tpch-elt reports",
        subtitle=f"Generated {run.generated} from {source}",
        nav=[],
        version=__version__,
        pages=listed,
    )
    index = run.out_dir / INDEX_FILE
    write_atomically(index, html)
    return index


def write_reports(
    settings: Settings,
    pages: Sequence[Page] | None = None,
    on_page: PageProgress | None = None,
) -> ReportResult:
    """Render every page from the warehouse (read-only) into <data-dir>/reports/."""
    pages = _checked(settings, pages)
    run = _start(settings, pages)
    written: list[WrittenPage] = []
    with contextlib.ExitStack() as stack:
        connections, busy = _open(stack, run, pages)
        for number, page in enumerate(pages, start=1):
            if page.reads in busy:
                written.append(_keep_earlier(run, page))
            else:
                written.append(_write_page(run, page, connections[page.reads]))
            if on_page:
                on_page(number, len(pages), page.title)
    index = _index(run, written, pages, settings.warehouse_path.name)
    return ReportResult(run.out_dir, index, written)
