"""`tpch-elt env ...`: environments (tpch_elt.environments) from the command line."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import typer
from rich.table import Table

from tpch_elt.cli import output
from tpch_elt.cli.output import console, safe
from tpch_elt.environments import build as env_build
from tpch_elt.environments import promotion, registry
from tpch_elt.environments.diff import Diff
from tpch_elt.environments.diff import diff as compute_diff
from tpch_elt.errors import PipelineError
from tpch_elt.publish.segments import history
from tpch_elt.reports.environment_diff import write_diff
from tpch_elt.settings import Settings

env_app = typer.Typer(
    help="Environments: zero-copy catalogs over prod's segments; build a change, diff it, promote it.",
    no_args_is_help=True,
)

_TTL = re.compile(r"^(\d+)([dhm])$")


def _settings(ctx: typer.Context) -> Settings:
    parent = ctx.find_root().obj
    assert isinstance(parent, Settings)
    return parent


@env_app.command()
def create(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="lower-case letters, digits, underscores (e.g. dev, pr_42)"),
    source: str = typer.Option(registry.PROD, "--from", help="prod, or another environment"),
) -> None:
    """A new environment naming SOURCE's segments: nothing is copied."""
    settings = _settings(ctx)
    created = output.guard(lambda: registry.create(settings, name, source))
    env = created.env
    console.print(
        f"Created environment [bold]{safe(name)}[/] from {safe(source)} (prod publication {env.base}): "
        f"{len(env.marts)} marts, {created.parquet_bytes_written:,} bytes of Parquet written, "
        f"{created.seconds:.2f} s",
        highlight=False,
    )
    console.print(f"  its catalog: duckdb -readonly {safe(env.catalog)}", highlight=False)


@env_app.command("list")
def list_environments(ctx: typer.Context) -> None:
    """prod and every environment: base, last build, audit, age."""
    settings = _settings(ctx)
    table = Table(title="environments", title_justify="left")
    for column in ("name", "base", "last build", "audit", "rebuilt marts", "by", "catalog"):
        table.add_column(column)
    live = output.guard(lambda: registry.prod_live(settings))
    event = live.event or {}
    how = {"promote": f"promoted from {event.get('environment')}", "rollback": "rolled back"}.get(
        str(event.get("kind")), "built"
    )
    table.add_row(
        "prod",
        f"publication {live.publication.number}",
        f"{live.publication.published_at:%Y-%m-%d %H:%M} ({how})",
        "passed",
        str(len(live.publication.rebuilt)),
        safe(event.get("by", "")),
        safe(live.publication.path),
    )
    for env in registry.environments(settings):
        build = env.build
        table.add_row(
            safe(env.name),
            f"publication {env.base}",
            f"{build.built_at:%Y-%m-%d %H:%M}"
            if build
            else f"none (created {env.created_at:%Y-%m-%d %H:%M})",
            ("passed" if build.passed else "[red]failed[/]") if build else "-",
            safe(", ".join(build.rebuilt)) if build else "",
            safe(build.by if build else env.created_by),
            safe(env.catalog),
        )
    console.print(table)
    promotions = history(registry.store(settings))[-5:]
    for entry in promotions:
        console.print(
            f"  {safe(entry.get('at', ''))} {safe(entry.get('kind', ''))} "
            f"{safe(entry.get('environment', ''))} -> publication {safe(entry.get('number', ''))} "
            f"by {safe(entry.get('by', ''))}",
            highlight=False,
        )


@env_app.command("build")
def build_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    select: list[str] = typer.Option([], "--select", "-m", help="dbt selector (default: state:modified+)."),
    exclude: list[str] = typer.Option([], "--exclude", help="dbt selector to skip (repeatable)."),
) -> None:
    """Build and test what changed against prod (deferring the rest to it), then publish it into NAME."""
    settings = _settings(ctx)
    with output.progress() as progress:
        task = progress.add_task(f"dbt build ({name})", total=None, detail="parsing project")

        def on_node(done: int, total: int, node: str) -> None:
            progress.update(task, completed=done, total=total, detail=safe(node))

        result = output.guard(
            lambda: env_build.build_environment(
                settings, name, select=select, exclude=exclude, on_node=on_node
            )
        )
        progress.update(task, detail="done")
    console.print(output.summary_table(result.summary))
    env = result.env
    if not result.summary.success:
        for failure in result.summary.failures:
            output.err_console.print(
                f"[red]{safe(failure.status)}[/] {safe(failure.unique_id)}: {safe(failure.message)}",
                highlight=False,
                soft_wrap=True,
            )
        output.err_console.print(
            f"[red]not published[/]: environment {safe(name)} keeps its catalog as it was and cannot be "
            "promoted until a build passes",
            highlight=False,
        )
        raise typer.Exit(code=1)
    rebuilt = ", ".join(result.rebuilt) or "none"
    console.print(
        f"Environment [bold]{safe(name)}[/] built on prod publication {env.base}: {len(result.selected)} "
        f"model(s) rebuilt, marts republished: {safe(rebuilt)}; {result.bytes_written:,} bytes of Parquet "
        f"written, {result.seconds:.1f} s",
        highlight=False,
    )
    if result.restricted:
        console.print(
            f"  restricted build ({safe(' '.join(result.restricted))}): it can be diffed, not promoted",
            highlight=False,
        )
    console.print(f"  next: tpch-elt env diff {safe(name)}", highlight=False)


@env_app.command("diff")
def diff_command(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    against: str = typer.Option(registry.PROD, "--against", help="prod, or another environment"),
) -> None:
    """Compare NAME's marts with AGAINST's by primary key; write diff JSON and an HTML page."""
    settings = _settings(ctx)
    result = output.guard(lambda: compute_diff(settings, name, against))
    print_diff(result)
    env = output.guard(lambda: registry.load(settings, name))
    json_path, html_path = output.guard(lambda: write_diff(result, env.directory))
    console.print(
        f"  written: {safe(json_path)}, {safe(html_path)} ({result.seconds:.1f} s)", highlight=False
    )


def print_diff(result: Diff) -> None:
    table = Table(
        title=f"{result.environment} against {result.against} (publication {result.against_publication})",
        title_justify="left",
    )
    for column, justify in (
        ("mart", "left"),
        ("status", "left"),
        ("rows", "right"),
        ("added", "right"),
        ("removed", "right"),
        ("changed", "right"),
        ("columns changed", "left"),
        ("money", "left"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for mart in result.differing:
        changed_columns = ", ".join(f"{c.column} ({c.changed:,})" for c in mart.columns)
        money = "; ".join(
            f"{m.column} {m.difference}" for m in mart.money if m.difference and Decimal(m.difference)
        )
        table.add_row(
            safe(mart.mart),
            mart.status,
            f"{mart.rows_after:,}",
            f"{mart.added:,}",
            f"{mart.removed:,}",
            f"{mart.changed:,}",
            safe(changed_columns),
            safe(money),
        )
    console.print(table)
    unchanged = len(result.marts) - len(result.differing)
    console.print(f"  {unchanged} mart(s) unchanged (same segments, or rewritten with the same rows)")
    for mart in result.differing:
        for change in mart.columns:
            for sample in change.samples[:3]:
                console.print(
                    f"  {safe(mart.mart)}.{safe(change.column)} [{safe(sample['key'])}]: "
                    f"{safe(sample['before'])} -> {safe(sample['after'])}",
                    highlight=False,
                )


@env_app.command()
def promote(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    to: str = typer.Option(registry.PROD, "--to", help="only prod: the environment readers see"),
    force: bool = typer.Option(False, "--force", help="promote although prod moved since NAME was built"),
) -> None:
    """Make prod's catalog NAME's in one atomic swap (refused if NAME failed its audit or prod moved)."""
    settings = _settings(ctx)
    if force:
        env = output.guard(lambda: registry.load(settings, name))
        live = output.guard(lambda: registry.prod_live(settings))
        if env.build is not None and env.build.base != live.publication.number:
            console.print(
                f"prod moved since {safe(name)} was built; what promoting it changes:", highlight=False
            )
            print_diff(output.guard(lambda: compute_diff(settings, name)))
    swapped = output.guard(lambda: promotion.promote(settings, name, force=force, to=to))
    publication = swapped.record.publication
    console.print(
        f"Promoted [bold]{safe(name)}[/] to prod: publication {publication.number} (was {swapped.replaced}), "
        f"{swapped.parquet_bytes_written} bytes of Parquet written, {swapped.seconds:.2f} s",
        highlight=False,
    )
    console.print("  undo: tpch-elt env rollback; prod's next build is a full refresh", highlight=False)


@env_app.command()
def rollback(ctx: typer.Context, environment: str = typer.Argument(registry.PROD, help="only prod")) -> None:
    """Return prod to the catalog it had before the current one, in one atomic swap."""
    settings = _settings(ctx)
    swapped = output.guard(lambda: promotion.rollback(settings, environment))
    event = swapped.record.event or {}
    console.print(
        f"Rolled prod back: publication {swapped.record.publication.number} names what publication "
        f"{event.get('restores')} named (was {swapped.replaced}), {swapped.seconds:.2f} s",
        highlight=False,
    )


@env_app.command()
def drop(ctx: typer.Context, name: str = typer.Argument(...)) -> None:
    """Remove an environment (its segments go at the next gc unless prod names them)."""
    settings = _settings(ctx)
    env = output.guard(lambda: registry.drop(settings, name))
    console.print(f"Dropped environment {safe(env.name)} ({safe(env.directory)})", highlight=False)


@env_app.command()
def gc(
    ctx: typer.Context,
    ttl: str = typer.Option("7d", "--ttl", help="drop environments idle this long: e.g. 7d, 12h, 30m"),
) -> None:
    """Drop idle environments, then delete segments no environment and none of prod's last catalogs name."""
    settings = _settings(ctx)
    age = output.guard(lambda: parse_ttl(ttl))
    collected = output.guard(lambda: registry.gc(settings, age))
    dropped = ", ".join(collected.dropped) or "none"
    console.print(
        f"Dropped environments: {safe(dropped)}; deleted {collected.files} segment(s), "
        f"{collected.bytes:,} bytes ({collected.seconds:.2f} s)",
        highlight=False,
    )


def parse_ttl(text: str) -> timedelta:
    match = _TTL.match(text.strip())
    if not match:
        raise PipelineError(f"--ttl {text!r} is not a duration: write e.g. 7d, 12h or 30m")
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]
