"""`tpch-elt env diff NAME`: what promoting NAME would change, mart by mart, by primary key.

Both sides are read from the segments their catalogs name (never from a
catalog a reader may hold). A mart whose segments are the same on both
sides is unchanged without reading a row. For every other mart:

    rows     added (key only in NAME), removed (key only in the other side),
             changed (same key, some column differs; NULLs compare equal)
    columns  per column, how many rows changed and a sample of old → new
    money    per DECIMAL column, the total on each side and the difference
    schema   columns only one side has

The key is the mart's grain as its dbt tests declare it (tests of the
environment's manifest): an incremental model's `unique_key`, a
`unique_combination_of_columns` test, else the first column with a
`unique` test. A mart without one, or whose key is not unique on a side,
is compared as a multiset of whole rows (added and removed only).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tpch_elt.environments.registry import PROD, Environment, load, prod_live, store
from tpch_elt.errors import PipelineError
from tpch_elt.publish.segments import Segment, manifest_of
from tpch_elt.settings import Settings, duckdb_memory_limit
from tpch_elt.warehouse.sql import quote_ident, quote_literal

# Changed values shown per column.
SAMPLES = 5


@dataclass
class ColumnChange:
    column: str
    changed: int
    samples: list[dict[str, str]] = field(default_factory=list)  # key, before, after


@dataclass
class MoneyTotal:
    column: str
    before: str | None
    after: str | None
    difference: str | None


@dataclass
class MartDiff:
    mart: str
    status: str  # unchanged, changed, identical (rewritten, same rows), added, removed
    key: list[str] = field(default_factory=list)
    rows_before: int = 0
    rows_after: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    columns: list[ColumnChange] = field(default_factory=list)
    money: list[MoneyTotal] = field(default_factory=list)
    columns_added: list[str] = field(default_factory=list)
    columns_removed: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Diff:
    environment: str
    against: str
    environment_base: int
    against_publication: int
    marts: list[MartDiff]
    seconds: float = 0.0

    @property
    def differing(self) -> list[MartDiff]:
        return [m for m in self.marts if m.status not in ("unchanged", "identical")]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)


def _side(settings: Settings, name: str) -> tuple[int, Sequence[Segment], Path | None]:
    """(publication, segments, manifest) of prod's live catalog or of environment `name`."""
    if name == PROD:
        live = prod_live(settings)
        number = live.publication.number
        return number, live.segments, manifest_of(store(settings), number)
    env = load(settings, name)
    return env.base, env.segments, env.manifest if env.manifest.is_file() else None


def diff(settings: Settings, name: str, against: str = PROD) -> Diff:
    started = time.perf_counter()
    if name == against:
        raise PipelineError(f"environment {name!r} compared with itself: name another with --against")
    env: Environment = load(settings, name)
    base_number, before, before_manifest = _side(settings, against)
    after = env.segments
    keys = primary_keys(_read_manifest(env.manifest) or _read_manifest(before_manifest))
    shared = store(settings)
    by_mart_before = _by_mart(before)
    by_mart_after = _by_mart(after)
    marts: list[MartDiff] = []
    with duckdb.connect(config={"memory_limit": duckdb_memory_limit()}) as con:
        for mart in sorted(set(by_mart_before) | set(by_mart_after)):
            old, new = by_mart_before.get(mart, []), by_mart_after.get(mart, [])
            if sorted(s.path for s in old) == sorted(s.path for s in new):
                rows = sum(s.rows for s in new)
                marts.append(MartDiff(mart, "unchanged", rows_before=rows, rows_after=rows))
                continue
            missing = [s.path for s in [*old, *new] if not (shared / s.path).is_file()]
            if missing:
                raise PipelineError(
                    f"segment {shared / missing[0]} is gone: rebuild with `tpch-elt env build {name}`"
                )
            marts.append(_compare(con, mart, shared, old, new, keys.get(mart, [])))
    return Diff(name, against, env.base, base_number, marts, time.perf_counter() - started)


def _by_mart(segments: Iterable[Segment]) -> dict[str, list[Segment]]:
    grouped: dict[str, list[Segment]] = {}
    for segment in segments:
        grouped.setdefault(segment.mart, []).append(segment)
    return grouped


def _read_manifest(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def primary_keys(manifest: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """Each mart's grain as its tests declare it (see the module's docstring)."""
    if not manifest:
        return {}
    nodes: Mapping[str, Any] = manifest.get("nodes", {})
    combinations, uniques = _tested_keys(nodes)
    found: dict[str, list[str]] = {}
    for uid, node in nodes.items():
        if node.get("resource_type") == "model" and node.get("schema") == "mart":
            key = _key_of(node, combinations.get(uid), uniques.get(uid, []))
            if key:
                found[str(node["name"])] = key
    return found


def _tested_keys(nodes: Mapping[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """By model: the columns of its unique_combination_of_columns test, and its columns with a unique test."""
    combinations: dict[str, list[str]] = {}
    uniques: dict[str, list[str]] = {}
    for node in nodes.values():
        meta = node.get("test_metadata") or {}
        model = str(node.get("attached_node") or "")
        kwargs = meta.get("kwargs") or {}
        columns = kwargs.get("combination_of_columns")
        if meta.get("name") == "unique_combination_of_columns" and isinstance(columns, list) and columns:
            combinations.setdefault(model, [str(c) for c in columns])
        elif meta.get("name") == "unique" and kwargs.get("column_name"):
            uniques.setdefault(model, []).append(str(kwargs["column_name"]))
    return combinations, uniques


def _key_of(node: Mapping[str, Any], combination: list[str] | None, uniques: list[str]) -> list[str]:
    unique_key = (node.get("config") or {}).get("unique_key")
    if isinstance(unique_key, str):
        return [unique_key]
    if isinstance(unique_key, list) and unique_key:
        return [str(c) for c in unique_key]
    if combination:
        return combination
    if uniques:
        order = list((node.get("columns") or {}).keys())
        return [min(uniques, key=lambda c: order.index(c) if c in order else len(order))]
    return []


def _relation(con: duckdb.DuckDBPyConnection, name: str, shared: Path, segments: Sequence[Segment]) -> None:
    files = "[" + ", ".join(quote_literal(shared / s.path) for s in segments) + "]"
    con.execute(
        f"create or replace temp view {quote_ident(name)} as "
        f"select * from read_parquet({files}, union_by_name = true)"
    )


def _columns(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    return {str(r[0]): str(r[1]) for r in con.execute(f"describe {quote_ident(name)}").fetchall()}


def _compare(
    con: duckdb.DuckDBPyConnection,
    mart: str,
    shared: Path,
    old: Sequence[Segment],
    new: Sequence[Segment],
    key: list[str],
) -> MartDiff:
    if not old:
        return MartDiff(mart, "added", rows_after=sum(s.rows for s in new), note="only in the environment")
    if not new:
        return MartDiff(mart, "removed", rows_before=sum(s.rows for s in old), note="not in the environment")
    _relation(con, "before", shared, old)
    _relation(con, "after", shared, new)
    cols_before, cols_after = _columns(con, "before"), _columns(con, "after")
    result = MartDiff(mart, "changed", key=list(key))
    result.columns_added = [c for c in cols_after if c not in cols_before]
    result.columns_removed = [c for c in cols_before if c not in cols_after]
    common = [c for c in cols_after if c in cols_before]
    result.rows_before = _scalar(con, "select count(*) from before")
    result.rows_after = _scalar(con, "select count(*) from after")
    result.money = _money(con, cols_before, cols_after)
    usable = bool(key) and all(k in common for k in key)
    if usable:
        listed = ", ".join(quote_ident(k) for k in key)
        for side in ("before", "after"):
            duplicated = (
                f"select count(*) from (select {listed} from {side} group by all having count(*) > 1)"
            )
            if _scalar(con, duplicated):
                usable = False
                result.note = f"key ({', '.join(key)}) is not unique {side}: compared as whole rows"
    elif not result.note:
        result.note = "no key declared by a uniqueness test: compared as whole rows"
    if usable:
        _by_key(con, result, key, [c for c in common if c not in key])
    else:
        result.key = []
        _by_rows(con, result, common)
    if not (
        result.added or result.removed or result.changed or result.columns_added or result.columns_removed
    ):
        result.status = "identical"
    return result


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _money(con: duckdb.DuckDBPyConnection, before: dict[str, str], after: dict[str, str]) -> list[MoneyTotal]:
    """The total of every DECIMAL (money) column on each side."""
    totals = []
    columns = {**before, **after}
    for column in [c for c, kind in columns.items() if kind.upper().startswith("DECIMAL")]:
        q = quote_ident(column)
        old = con.execute(f"select sum({q}) from before").fetchone() if column in before else None
        new = con.execute(f"select sum({q}) from after").fetchone() if column in after else None
        old_total = old[0] if old else None
        new_total = new[0] if new else None
        difference = None if old_total is None or new_total is None else new_total - old_total
        totals.append(MoneyTotal(column, _text(old_total), _text(new_total), _text(difference)))
    return totals


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _by_key(con: duckdb.DuckDBPyConnection, result: MartDiff, key: list[str], compared: list[str]) -> None:
    on = " and ".join(f"b.{quote_ident(k)} = a.{quote_ident(k)}" for k in key)
    key_select = ", ".join(
        f"coalesce(a.{quote_ident(k)}, b.{quote_ident(k)}) as {quote_ident('k_' + k)}" for k in key
    )
    pairs = ", ".join(
        f"b.{quote_ident(c)} as {quote_ident('b_' + c)}, a.{quote_ident(c)} as {quote_ident('a_' + c)}"
        for c in compared
    )
    first = quote_ident(key[0])
    con.execute(
        "create or replace temp table joined as select "
        f"{key_select}, b.{first} is not null as in_before, a.{first} is not null as in_after"
        f"{', ' + pairs if pairs else ''} from before b full outer join after a on {on}"
    )
    result.added = _scalar(con, "select count(*) from joined where not in_before")
    result.removed = _scalar(con, "select count(*) from joined where not in_after")
    if not compared:
        return
    differs = {c: f"{quote_ident('b_' + c)} is distinct from {quote_ident('a_' + c)}" for c in compared}
    counts = ", ".join(f"count(*) filter (where {cond})" for cond in differs.values())
    any_change = " or ".join(f"({cond})" for cond in differs.values())
    both = "in_before and in_after"
    row = con.execute(
        f"select count(*) filter (where {any_change}), {counts} from joined where {both}"
    ).fetchone()
    assert row is not None
    result.changed = int(row[0])
    keys_listed = ", ".join(quote_ident("k_" + k) for k in key)
    for column, count, cond in zip(compared, row[1:], differs.values(), strict=True):
        if not count:
            continue
        samples = con.execute(
            f"select {keys_listed}, {quote_ident('b_' + column)}, {quote_ident('a_' + column)} "
            f"from joined where {both} and {cond} order by {keys_listed} limit {SAMPLES}"
        ).fetchall()
        result.columns.append(
            ColumnChange(
                column,
                int(count),
                [
                    {
                        "key": ", ".join(str(v) for v in sample[: len(key)]),
                        "before": str(sample[len(key)]),
                        "after": str(sample[len(key) + 1]),
                    }
                    for sample in samples
                ],
            )
        )


def _by_rows(con: duckdb.DuckDBPyConnection, result: MartDiff, common: list[str]) -> None:
    listed = ", ".join(quote_ident(c) for c in common)
    result.added = _scalar(
        con, f"select count(*) from (select {listed} from after except all select {listed} from before)"
    )
    result.removed = _scalar(
        con, f"select count(*) from (select {listed} from before except all select {listed} from after)"
    )
