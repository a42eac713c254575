"""An environment's diff (tpch_elt.environments.diff) as one offline HTML page, and as JSON beside it."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from tpch_elt import __version__
from tpch_elt.environments.diff import Diff, MartDiff
from tpch_elt.errors import PipelineError
from tpch_elt.reports.html import html_table, render


def write_diff(diff: Diff, directory: Path) -> tuple[Path, Path]:
    """`diff-<against>.json` and `.html` in `directory`; their paths."""
    stem = f"diff-{diff.against}"
    json_path, html_path = directory / f"{stem}.json", directory / f"{stem}.html"
    try:
        _write(json_path, diff.to_json())
        _write(html_path, page(diff))
    except OSError as exc:
        raise PipelineError(f"cannot write the diff to {directory}: {exc.strerror}") from exc
    return json_path, html_path


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


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
