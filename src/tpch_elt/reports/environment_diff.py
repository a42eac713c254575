"""An environment's diff (tpch_elt.environments.diff) as one offline HTML page, and as JSON beside it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from markupsafe import Markup

from tpch_elt import __version__
from tpch_elt.environments.diff import Diff, MartDiff
from tpch_elt.reports.html import html_table, render
from tpch_elt.reports.pages import write_atomically


def write_diff(diff: Diff, directory: Path) -> tuple[Path, Path]:
    """`diff-<against>.json`, `.html` and `.md` (for a CI job summary) in `directory`; the first two's paths."""
    stem = f"diff-{diff.against}"
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    write_atomically(json_path, diff.to_json())
    write_atomically(html_path, page(diff))
    write_atomically(directory / f"{stem}.md", markdown(diff))
    return json_path, html_path


def page(diff: Diff) -> str:
    title = f"Environment {diff.environment} against {diff.against}"
    subtitle = (
        f"{diff.environment} (built on prod publication {diff.environment_base}) against {diff.against} "
        f"(publication {diff.against_publication}): {len(diff.differing)} of {len(diff.marts)} marts differ"
    )
    overview = html_table(
        ["mart", "status", "key", "rows before", "rows after", "added", "removed", "changed"],
        [
            [
                m.mart,
                m.status,
                ", ".join(m.key),
                f"{m.rows_before:,}",
                f"{m.rows_after:,}",
                f"{m.added:,}",
                f"{m.removed:,}",
                f"{m.changed:,}",
            ]
            for m in diff.marts
        ],
        numeric=[False, False, False, True, True, True, True, True],
    )
    sections = [Markup("<h2>Marts</h2>"), overview]
    for mart in diff.differing:
        sections.append(_mart_section(mart))
    content = Markup("").join(sections)
    return str(
        render("document.html", title=title, subtitle=subtitle, nav=[], version=__version__, content=content)
    )


def _mart_section(mart: MartDiff) -> Markup:
    parts = [render_heading(mart)]
    if mart.note:
        parts.append(Markup("<p class='meta'>{}</p>").format(mart.note))
    if mart.columns_added or mart.columns_removed:
        parts.append(
            Markup("<p>Columns added: {}; removed: {}</p>").format(
                ", ".join(mart.columns_added) or "none", ", ".join(mart.columns_removed) or "none"
            )
        )
    if mart.columns:
        rows = []
        for change in mart.columns:
            for sample in change.samples or [{"key": "", "before": "", "after": ""}]:
                rows.append(
                    [change.column, f"{change.changed:,}", sample["key"], sample["before"], sample["after"]]
                )
        parts.append(
            html_table(
                ["column", "rows changed", "key (sample)", "before", "after"],
                rows,
                numeric=[False, True, False, False, False],
                caption="Changed values per column, with up to five samples each",
            )
        )
    if mart.money:
        parts.append(
            html_table(
                ["money column", "total before", "total after", "difference"],
                [[m.column, m.before or "", m.after or "", m.difference or ""] for m in mart.money],
                numeric=[False, True, True, True],
                caption="Totals of the DECIMAL columns",
            )
        )
    return Markup("").join(parts)


def render_heading(mart: MartDiff) -> Markup:
    return Markup(
        "<section class='bq'><h2>{}</h2><p>{}: {:,} added, {:,} removed, {:,} changed</p></section>"
    ).format(mart.mart, mart.status, mart.added, mart.removed, mart.changed)


_MARKDOWN_SPECIAL = str.maketrans({c: f"\\{c}" for c in "\\`*_{}[]<>()#+-.!|~"})


def _md(value: object) -> str:
    """Text from data made inert in Markdown: special characters escaped, controls shown as \\xNN."""
    text = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in str(value))
    return text.translate(_MARKDOWN_SPECIAL)


def markdown(diff: Diff, *, samples: int = 3) -> str:
    """The diff as Markdown: what an approver reads in Airflow, a CI job summary shows."""
    lines = [
        f"**{_md(diff.environment)}** against **{_md(diff.against)}** (publication {diff.against_publication}): "
        f"{len(diff.differing)} of {len(diff.marts)} marts differ",
        "",
        "| mart | status | rows before | rows after | added | removed | changed | columns changed |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for mart in diff.differing:
        columns = ", ".join(f"{_md(c.column)} ({c.changed:,})" for c in mart.columns)
        lines.append(
            f"| {_md(mart.mart)} | {mart.status} | {mart.rows_before:,} | {mart.rows_after:,} | "
            f"{mart.added:,} | {mart.removed:,} | {mart.changed:,} | {columns} |"
        )
    unchanged = len(diff.marts) - len(diff.differing)
    lines += ["", f"{unchanged} mart(s) unchanged."]
    for mart in diff.differing:
        for money in mart.money:
            if money.difference and Decimal(money.difference) != 0:
                lines.append(
                    f"- {_md(mart.mart)}.{_md(money.column)}: total {_md(money.before)} → {_md(money.after)} "
                    f"({_md(money.difference)})"
                )
        for change in mart.columns:
            for sample in change.samples[:samples]:
                lines.append(
                    f"- {_md(mart.mart)}.{_md(change.column)} [{_md(sample['key'])}]: "
                    f"{_md(sample['before'])} → {_md(sample['after'])}"
                )
    return "\n".join(lines) + "\n"
