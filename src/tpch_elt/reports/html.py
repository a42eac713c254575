"""HTML for the report pages: Jinja2 templates from `reports/templates/`, autoescaped.

A template prints every value as text (escaped) unless it is markup
already, a `markupsafe.Markup`: a chart, a table rendered here, a page's
content, another template's output. Page modules build the values; the
templates hold the tags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup


def _escaped(value: object) -> object:
    """What a template prints for `{{ value }}`: markup as it is, anything else escaped.

    Escaped as the standard library's html.escape, as the SVG charts are
    (`'` as &#x27;, `"` as &quot;), so a page escapes one way throughout;
    autoescape's own markupsafe.escape would write the same characters as
    &#39; and &#34;.
    """
    if hasattr(value, "__html__"):
        return value
    return Markup(escape(str(value), quote=True))


_ENV = Environment(
    loader=PackageLoader("tpch_elt.reports", "templates"),
    autoescape=True,
    finalize=_escaped,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)
_TABLE = _ENV.from_string('{% from "macros.html" import table %}{{ table(t) }}')


def render(template: str, **context: object) -> Markup:
    """A template of `reports/templates/` rendered with `context`."""
    return Markup(_ENV.get_template(template).render(**context))


@dataclass(frozen=True)
class Table:
    """A plain table of text cells; numeric columns are right-aligned."""

    headers: Sequence[str]
    rows: Sequence[Sequence[str]]
    numeric: Sequence[bool] | None = None
    caption: str = ""

    def __post_init__(self) -> None:
        if self.numeric is not None and len(self.numeric) != len(self.headers):
            raise ValueError("numeric must have one flag per header")
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"row has {len(row)} cells, expected {len(self.headers)}")

    @property
    def flags(self) -> list[bool]:
        """One flag per column: right-aligned (numeric) or not."""
        return list(self.numeric) if self.numeric is not None else [False] * len(self.headers)

    def html(self) -> Markup:
        return Markup(_TABLE.render(t=self))


def html_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    numeric: Sequence[bool] | None = None,
    caption: str = "",
) -> Markup:
    """A plain table; cells are text (escaped here), numeric columns right-aligned."""
    return Table(headers, rows, numeric, caption).html()
