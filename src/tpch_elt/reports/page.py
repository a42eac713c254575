"""A page of the report, and what page modules share to read the warehouse."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb

from tpch_elt.errors import PipelineError
from tpch_elt.warehouse.connection import table_exists

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Page:
    """One HTML page of the report.

    `render` receives a read-only connection and returns the page's
    content as HTML (everything inside <main>; text from data escaped);
    the shell, styles and navigation are added by `write_reports`. It
    raises PipelineError when the tables it needs are missing. `reads` says
    which database the connection is to: "published", the snapshot of
    audited marts readers see (pages about the data), or "warehouse" (pages
    about the pipeline's own record).
    """

    slug: str
    title: str
    summary: str
    render: Callable[[duckdb.DuckDBPyConnection], str]
    reads: str = "warehouse"

    def __post_init__(self) -> None:
        if not _SLUG.match(self.slug) or self.slug == "index":
            raise ValueError(f"invalid page slug {self.slug!r}")
        if self.reads not in ("published", "warehouse"):
            raise ValueError(f"page {self.slug!r}: reads must be 'published' or 'warehouse'")

    @property
    def filename(self) -> str:
        return f"{self.slug}.html"


def query_rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """The rows of a query, each a dict by column name."""
    cursor = con.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def require_tables(con: duckdb.DuckDBPyConnection, schema: str, names: Sequence[str]) -> None:
    """Fail with one actionable line when a page's source tables are missing."""
    missing = [name for name in names if not table_exists(con, schema, name)]
    if missing:
        listed = ", ".join(f"{schema}.{name}" for name in missing)
        raise PipelineError(f"the warehouse lacks {listed}: run `tpch-elt build` (or `tpch-elt run`) first")
