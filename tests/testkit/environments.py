"""A tiny prod and stand-ins for environment builds, for the fast tier (tpch_elt.environments)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import duckdb

from tpch_elt.environments import registry
from tpch_elt.environments.registry import EnvBuild
from tpch_elt.publish.publication import publish
from tpch_elt.publish.segments import next_number, read_records, segments_dir, write_mart, write_pin
from tpch_elt.settings import Settings

ORDERS = "select range as k, range * 2 as v from range(10)"


def tiny_prod(tmp_path: Path, orders: str = ORDERS) -> Settings:
    """prod with two marts, `orders` (as the query `orders`) and `customers`, published once."""
    settings = Settings(data_dir=tmp_path, warehouse=tmp_path / "warehouse.duckdb")
    tmp_path.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema mart")
        con.execute(f"create table mart.orders as {orders}")
        con.execute("create table mart.customers as select range as k from range(5)")
    publish(settings, rebuilt=None)
    return settings


def catalog_rows(catalog: Path, mart: str = "orders") -> list[tuple]:
    with duckdb.connect(str(catalog), read_only=True) as con:
        return con.execute(f"select * from mart.{mart} order by all").fetchall()


def parquet_files(settings: Settings) -> dict[Path, int]:
    return {p: p.stat().st_size for p in segments_dir(settings.warehouse_path).glob("*/*.parquet")}


def stand_in_build(
    settings: Settings,
    name: str,
    sql: str,
    *,
    passed: bool = True,
    mart: str = "orders",
    restricted: tuple[str, ...] = (),
) -> registry.Environment:
    """What `env build` leaves when it rebuilt `mart` as `sql`: a segment, a pin, a catalog, a record."""
    env = registry.load(settings, name)
    store = registry.store(settings)
    live = registry.prod_live(settings)
    number = next_number(store, read_records(store))
    scratch = settings.data_dir / f"scratch-{number}.duckdb"
    with duckdb.connect(str(scratch)) as con:
        con.execute("create schema mart")
        con.execute(f"create table mart.{mart} as {sql}")
        new, _ = write_mart(con, store, number, mart, [], None, True)
    segments = (*new, *(s for s in live.segments if s.mart != mart)) if passed else env.segments
    build = EnvBuild(
        number,
        registry.now(),
        "tester@host",
        live.publication.number,
        None,
        passed,
        "invocation-1",
        (mart,),
        (mart,) if passed else (),
        () if passed else (f"test.unique_{mart}_k (fail)",),
        restricted,
    )
    env = replace(env, base=live.publication.number, segments=segments, build=build)
    write_pin(store, name, segments)
    registry.write_env_catalog(settings, env)
    registry.save(env)
    return env
