"""Bad input gets one actionable line, a non-zero exit, and loses nothing."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from testkit.cli import copy_data_dir, one_line_error, run_cli
from testkit.warehouse import untouched

TINY_SF = "0.01"


@pytest.fixture
def loaded(built_template: Path, tmp_path: Path) -> Path:
    """A data dir with SF 0.01 landing files loaded and built, two batches pending."""
    return copy_data_dir(built_template, tmp_path / "data")


def test_negative_scale_factor_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "d"), "generate", "-s", "-1")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "scale factor must be a positive number" in line
    assert "-1" in line
    assert not (tmp_path / "d").exists(), "nothing may be written for a refused scale factor"


def test_non_numeric_scale_factor_is_refused(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "d"), "run", "-s", "lots")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "scale factor must be a number (e.g. 1 or 0.1), got 'lots'" in line
    assert not (tmp_path / "d").exists()


def test_unwritable_warehouse_path_names_the_path(loaded: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    bad = blocker / "warehouse.duckdb"
    proc = run_cli("--data-dir", str(loaded), "--warehouse", str(bad), "load", "-s", TINY_SF)
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert str(bad) in line
    assert "choose a writable --warehouse path" in line


def test_truncated_parquet_is_named_and_raw_is_left_intact(loaded: Path) -> None:
    before = untouched(loaded / "warehouse.duckdb")
    orders = loaded / "landing" / f"sf={TINY_SF}" / "orders.parquet"
    content = orders.read_bytes()
    orders.write_bytes(content[: len(content) // 2])

    proc = run_cli("--data-dir", str(loaded), "load", "-s", TINY_SF)

    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert str(orders) in line
    assert "corrupt or truncated" in line
    assert "tpch-elt generate" in line
    assert untouched(loaded / "warehouse.duckdb") == before, (
        "a failed load must leave raw and the marts as they were"
    )


def test_truncated_batch_file_is_named_and_nothing_is_ingested(loaded: Path) -> None:
    before = untouched(loaded / "warehouse.duckdb")
    orders = loaded / "landing" / f"sf={TINY_SF}" / "batches" / "batch_0001" / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[:1000])

    proc = run_cli("--data-dir", str(loaded), "ingest")

    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert line.startswith(f"error: batch file {orders} is corrupt or truncated (")
    assert line.endswith("delete it and run `tpch-elt generate` again")
    assert untouched(loaded / "warehouse.duckdb") == before


def test_missing_batch_file_is_named_and_nothing_is_ingested(loaded: Path) -> None:
    before = untouched(loaded / "warehouse.duckdb")
    lineitem = loaded / "landing" / f"sf={TINY_SF}" / "batches" / "batch_0001" / "lineitem.parquet"
    lineitem.unlink()

    proc = run_cli("--data-dir", str(loaded), "ingest")

    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == (
        f"error: batch file {lineitem} is missing: run `tpch-elt generate` again to rebuild the batches"
    )
    assert untouched(loaded / "warehouse.duckdb") == before


def test_generate_replaces_a_truncated_file_and_reuses_complete_ones(loaded: Path) -> None:
    landing = loaded / "landing" / f"sf={TINY_SF}"
    orders = landing / "orders.parquet"
    orders.write_bytes(orders.read_bytes()[:100])
    customer_mtime = (landing / "customer.parquet").stat().st_mtime_ns

    proc = run_cli("--data-dir", str(loaded), "generate", "-s", TINY_SF, check=True)

    assert "generated: orders\n" in proc.stdout
    assert "reused (complete): region, nation, supplier, customer, part, partsupp, lineitem" in proc.stdout
    assert (landing / "customer.parquet").stat().st_mtime_ns == customer_mtime
    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from '{orders}'").fetchall() == [(15000,)]


def test_missing_landing_file_says_to_generate(loaded: Path) -> None:
    before = untouched(loaded / "warehouse.duckdb")
    lineitem = loaded / "landing" / f"sf={TINY_SF}" / "lineitem.parquet"
    lineitem.unlink()
    proc = run_cli("--data-dir", str(loaded), "load", "-s", TINY_SF)
    assert proc.returncode == 1
    assert one_line_error(proc.stderr) == (
        f"error: landing file {lineitem} is missing: run `tpch-elt generate -s {TINY_SF}` first"
    )
    assert untouched(loaded / "warehouse.duckdb") == before


def test_build_before_load_says_what_to_run(tmp_path: Path) -> None:
    proc = run_cli("--data-dir", str(tmp_path / "empty"), "build")
    assert proc.returncode == 1
    line = one_line_error(proc.stderr)
    assert "does not exist" in line and "tpch-elt run" in line


def test_load_records_utc_load_time_and_batch_zero(loaded: Path) -> None:
    """Far from UTC on either side, `_loaded_at` is still UTC wall-clock time."""
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago"):  # UTC+14, UTC-11
        before = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
        run_cli("--data-dir", str(loaded), "load", "-s", TINY_SF, check=True, TZ=zone)
        after = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1)
        with duckdb.connect(str(loaded / "warehouse.duckdb"), read_only=True) as con:
            state = con.execute(
                """
                select 'orders', count(*), min(_loaded_at), max(_loaded_at), max(_batch_id) from raw.orders
                union all select 'lineitem', count(*), min(_loaded_at), max(_loaded_at), max(_batch_id)
                    from raw.lineitem
                union all select 'customer', count(*), min(_loaded_at), max(_loaded_at), max(_batch_id)
                    from raw.customer
                union all select '_batches', count(*), min(loaded_at), max(loaded_at), max(batch_id)
                    from raw._batches
                """
            ).fetchall()
        for table, rows, first, last, batch_id in state:
            assert rows > 0 and batch_id == 0, table
            assert before <= first <= last <= after, f"TZ={zone}: {table} loaded at {first}..{last}, not UTC"


# --- bad rows: quarantined with their reason, the same rules for load and ingest ---
#
# Crafted from the generated files themselves: each case takes "donor" rows
# (distinct orders, their first line) and breaks one thing, so exactly one
# rule applies. Expected counts follow from the donors, not from the rules.

ORPHAN_CUSTOMER = 99_999_999


@dataclass(frozen=True)
class Crafted:
    data_dir: Path
    stdout: str
    stderr: str
    returncode: int
    expected: dict[str, int]  # "table: reason" -> rows
    delivered: dict[str, int]  # rows per table in the delivered files (in scope)
    donors: dict[str, int]  # case -> donor order key


def _rewrite(con: duckdb.DuckDBPyConnection, path: Path, sql: str) -> None:
    tmp = path.with_suffix(".tmp.parquet")
    con.execute(f"copy ({sql}) to '{tmp}' (format parquet)")
    tmp.replace(path)


def _src(path: Path) -> str:
    return f"(select * from read_parquet('{path}', hive_partitioning = false))"


def craft_bad_rows(
    orders: Path,
    lineitem: Path,
    *,
    customer: Path | None,
    redelivered_orders: Path | None,
    redelivered_lineitem: Path | None,
    scope_max_key: int | None,
    all_orders: Path,
) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Break rows of `orders`/`lineitem` (and `customer`) in place; the
    expected quarantine, the delivered row counts and the donors."""
    scope = f"where o_orderkey <= {scope_max_key}" if scope_max_key else ""
    with duckdb.connect() as con:
        keys = [
            r[0] for r in con.execute(f"select o_orderkey from {_src(orders)} {scope} order by 1").fetchall()
        ]
        names = [
            "null_order_key",
            "repeated_order",
            "null_customer",
            "unknown_customer",
            "negative_total",
            "null_line_key",
            "repeated_line",
            "orphan_line",
            "negative_quantity",
            "discount_high",
            "discount_negative",
            "tax_high",
            "negative_price",
            "receipt_before_ship",
            "ship_not_after_order",
        ]
        d = dict(zip(names, keys[: len(names)], strict=True))
        lines_of = dict(
            con.execute(
                f"select l_orderkey, count(*) from {_src(lineitem)} "
                f"where l_orderkey in ({', '.join(map(str, d.values()))}) group by 1"
            ).fetchall()
        )
        orphan_key = con.execute(
            f"select min(x) from range(1, 1000000) t(x) where x not in (select o_orderkey from {_src(all_orders)})"
        ).fetchall()[0][0]
        order_date = con.execute(
            f"select o_orderdate from {_src(orders)} where o_orderkey = {d['ship_not_after_order']}"
        ).fetchall()[0][0]
        expected = {
            "orders: null order key": 1,
            "orders: order key repeated in batch": 2,
            "orders: null customer key": 1,
            "orders: customer missing or quarantined": 1,
            "orders: negative total price": 1,
            "lineitem: order missing or quarantined": 1
            + sum(
                lines_of[d[k]]
                for k in ("repeated_order", "null_customer", "unknown_customer", "negative_total")
            ),
            "lineitem: null line key": 1,
            "lineitem: line key repeated in batch": 2,
            "lineitem: quantity not positive": 1,
            "lineitem: discount outside [0, 0.10]": 2,
            "lineitem: tax outside [0, 0.08]": 1,
            "lineitem: negative extended price": 1,
            "lineitem: receipt before ship": 1,
            "lineitem: ship date not after order date": 1,
        }
        # An order goes whole or not at all: a rejected line takes its order
        # and the order's other lines along (rules.cascade_rejected_lines).
        # The null-line-key case adds a broken copy: every original line follows.
        bad_line_cases = names[names.index("null_line_key") :]
        bad_line_cases.remove("orphan_line")  # no order of the delivery to take along
        expected["orders: a line of the order was rejected"] = len(bad_line_cases)
        expected["lineitem: another line of the order was rejected"] = sum(
            lines_of[d[k]] - (0 if k == "null_line_key" else 1) for k in bad_line_cases
        )
        extra_orders = extra_lines = ""
        if customer is not None:
            # a customer delivered twice: both copies quarantined, and its
            # orders and their lines follow it into the quarantine
            victim = con.execute(
                f"select o_custkey, count(*) from {_src(orders)} {scope} "
                f"and o_custkey not in (select o_custkey from {_src(orders)} "
                f"where o_orderkey in ({', '.join(map(str, d.values()))})) "
                "group by 1 order by 2 desc, 1 limit 1"
            ).fetchall()[0]
            victim_lines = con.execute(
                f"select count(*) from {_src(lineitem)} where l_orderkey in "
                f"(select o_orderkey from {_src(orders)} {scope} and o_custkey = {victim[0]})"
            ).fetchall()[0][0]
            d["quarantined_customer"] = victim[0]
            expected["customer: customer key repeated in batch"] = 2
            expected["customer: null customer key"] = 1
            expected["orders: customer missing or quarantined"] += victim[1]
            expected["lineitem: order missing or quarantined"] += victim_lines
            donor_customer = con.execute(f"select min(c_custkey) from {_src(customer)}").fetchall()[0][0]
            _rewrite(
                con,
                customer,
                f"""
                select * from {_src(customer)}
                union all select * from {_src(customer)} where c_custkey = {victim[0]}
                union all select * replace (cast(null as bigint) as c_custkey)
                    from {_src(customer)} where c_custkey = {donor_customer}
                """,
            )
        if redelivered_orders is not None and redelivered_lineitem is not None:
            # an order the initial load already took, delivered again with its lines
            again = con.execute(f"select min(o_orderkey) from {_src(redelivered_orders)}").fetchall()[0][0]
            again_lines = con.execute(
                f"select count(*) from {_src(redelivered_lineitem)} where l_orderkey = {again}"
            ).fetchall()[0][0]
            expected["orders: order key already loaded"] = 1
            expected["lineitem: line key already loaded"] = again_lines
            extra_orders = f"union all select * from {_src(redelivered_orders)} where o_orderkey = {again}"
            extra_lines = f"union all select * from {_src(redelivered_lineitem)} where l_orderkey = {again}"

        def line(case: str) -> str:
            return f"l_orderkey = {d[case]} and l_linenumber = 1"

        _rewrite(
            con,
            orders,
            f"""
            select * replace (
                case when o_orderkey = {d["null_customer"]} then null
                     when o_orderkey = {d["unknown_customer"]} then {ORPHAN_CUSTOMER}
                     else o_custkey end :: bigint as o_custkey,
                case when o_orderkey = {d["negative_total"]} then -1
                     else o_totalprice end :: decimal(15, 2) as o_totalprice
            )
            from {_src(orders)}
            union all select * replace (cast(null as bigint) as o_orderkey)
                from {_src(orders)} where o_orderkey = {d["null_order_key"]}
            union all select * from {_src(orders)} where o_orderkey = {d["repeated_order"]}
            {extra_orders}
            """,
        )
        _rewrite(
            con,
            lineitem,
            f"""
            select * replace (
                case when {line("negative_quantity")} then -3
                     else l_quantity end :: decimal(15, 2) as l_quantity,
                case when {line("discount_high")} then 0.25
                     when {line("discount_negative")} then -0.01
                     else l_discount end :: decimal(15, 2) as l_discount,
                case when {line("tax_high")} then 0.5 else l_tax end :: decimal(15, 2) as l_tax,
                case when {line("negative_price")} then -1
                     else l_extendedprice end :: decimal(15, 2) as l_extendedprice,
                case when {line("receipt_before_ship")} then l_shipdate - 1
                     else l_receiptdate end as l_receiptdate,
                case when {line("ship_not_after_order")} then date '{order_date}'
                     else l_shipdate end as l_shipdate
            )
            from {_src(lineitem)}
            union all select * replace (cast(null as integer) as l_linenumber)
                from {_src(lineitem)} where {line("null_line_key")}
            union all select * from {_src(lineitem)} where {line("repeated_line")}
            union all select * replace ({orphan_key} :: bigint as l_orderkey)
                from {_src(lineitem)} where {line("orphan_line")}
            {extra_lines}
            """,
        )
        scoped = {"orders": "o_orderkey", "lineitem": "l_orderkey"}
        delivered = {}
        for table, path in (("orders", orders), ("lineitem", lineitem), ("customer", customer)):
            if path is None:
                continue
            where = ""
            if scope_max_key and table in scoped:
                where = f"where {scoped[table]} is null or {scoped[table]} <= {scope_max_key}"
            delivered[table] = con.execute(f"select count(*) from {_src(path)} {where}").fetchall()[0][0]
    return expected, delivered, d


@pytest.fixture(scope="module")
def bad_load(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Crafted:
    """Landing files with every kind of bad row, loaded once."""
    data_dir = tmp_path_factory.mktemp("bad-load") / "data"
    copy_data_dir(built_template, data_dir)
    landing = data_dir / "landing" / f"sf={TINY_SF}"
    scope_max = json.loads((landing / "batches" / "plan.json").read_text())["initial_max_order_key"]
    shutil.copyfile(landing / "orders.parquet", data_dir.parent / "all_orders.parquet")
    expected, delivered, donors = craft_bad_rows(
        landing / "orders.parquet",
        landing / "lineitem.parquet",
        customer=landing / "customer.parquet",
        redelivered_orders=None,
        redelivered_lineitem=None,
        scope_max_key=scope_max,
        all_orders=data_dir.parent / "all_orders.parquet",
    )
    proc = run_cli("--data-dir", str(data_dir), "load", "-s", TINY_SF)
    return Crafted(data_dir, proc.stdout, proc.stderr, proc.returncode, expected, delivered, donors)


@pytest.fixture(scope="module")
def bad_ingest(built_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Crafted:
    """Arrival batch 1 with every kind of bad row (and re-deliveries), ingested once."""
    data_dir = tmp_path_factory.mktemp("bad-ingest") / "data"
    copy_data_dir(built_template, data_dir)
    landing = data_dir / "landing" / f"sf={TINY_SF}"
    batch = landing / "batches" / "batch_0001"
    expected, delivered, donors = craft_bad_rows(
        batch / "orders.parquet",
        batch / "lineitem.parquet",
        customer=None,
        redelivered_orders=landing / "orders.parquet",
        redelivered_lineitem=landing / "lineitem.parquet",
        scope_max_key=None,
        all_orders=landing / "orders.parquet",
    )
    proc = run_cli("--data-dir", str(data_dir), "ingest")
    return Crafted(data_dir, proc.stdout, proc.stderr, proc.returncode, expected, delivered, donors)


def _quarantine(data_dir: Path, batch_id: int) -> dict[str, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return dict(
            con.execute(
                "select table_name || ': ' || reason, count(*) from raw._quarantine "
                "where batch_id = ? group by 1",
                [batch_id],
            ).fetchall()
        )


def _row(data_dir: Path, sql: str) -> tuple:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()[0]


def _scalar(data_dir: Path, sql: str):
    return _row(data_dir, sql)[0]


@pytest.fixture(params=["load", "ingest"])
def crafted(request: pytest.FixtureRequest, bad_load: Crafted, bad_ingest: Crafted) -> tuple[str, Crafted]:
    step = request.param
    return step, {"load": bad_load, "ingest": bad_ingest}[step]


def test_bad_rows_are_quarantined_with_their_exact_reason(crafted: tuple[str, Crafted]) -> None:
    step, run = crafted
    assert run.returncode == 0, run.stderr
    assert _quarantine(run.data_dir, 0 if step == "load" else 1) == run.expected


def test_the_cli_reports_quarantined_rows_per_reason(crafted: tuple[str, Crafted]) -> None:
    _, run = crafted
    for reason, count in run.expected.items():
        assert f"quarantined {count:,} row(s): {reason} (raw._quarantine)" in run.stdout, run.stdout


def test_every_delivered_row_is_in_raw_or_in_quarantine(crafted: tuple[str, Crafted]) -> None:
    step, run = crafted
    batch = 0 if step == "load" else 1
    for table, delivered in run.delivered.items():
        in_raw = _scalar(run.data_dir, f"select count(*) from raw.{table} where _batch_id = {batch}")
        held = _scalar(
            run.data_dir,
            f"select count(*) from raw._quarantine where batch_id = {batch} and table_name = '{table}'",
        )
        assert in_raw + held == delivered, f"{table}: {in_raw} in raw + {held} quarantined != {delivered}"


# (case, raw must hold none of these rows afterwards)
BAD_ROW_CASES = {
    "null order key": "select count(*) from raw.orders where o_orderkey is null",
    "duplicate order key": "select count(*) from raw.orders where o_orderkey = {repeated_order}",
    "null customer key": "select count(*) from raw.orders where o_custkey is null",
    "order without its customer": "select count(*) from raw.orders where o_orderkey = {unknown_customer}",
    "negative total price": "select count(*) from raw.orders where o_totalprice < 0",
    "null line key": "select count(*) from raw.lineitem where l_orderkey is null or l_linenumber is null",
    "duplicate line key": (
        "select count(*) from raw.lineitem where l_orderkey = {repeated_line} and l_linenumber = 1"
    ),
    "lineitem without its order": (
        "select count(*) from raw.lineitem l anti join raw.orders o on o.o_orderkey = l.l_orderkey"
    ),
    "negative quantity": "select count(*) from raw.lineitem where l_quantity <= 0",
    "discount outside 0..0.10": "select count(*) from raw.lineitem where l_discount not between 0 and 0.10",
    "tax outside 0..0.08": "select count(*) from raw.lineitem where l_tax not between 0 and 0.08",
    "negative extended price": "select count(*) from raw.lineitem where l_extendedprice < 0",
    "receipt before ship date": "select count(*) from raw.lineitem where l_receiptdate < l_shipdate",
    "ship date not after order date": (
        "select count(*) from raw.lineitem l join raw.orders o on o.o_orderkey = l.l_orderkey "
        "where l.l_shipdate <= o.o_orderdate"
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROW_CASES))
def test_no_bad_row_reaches_raw(crafted: tuple[str, Crafted], case: str) -> None:
    _, run = crafted
    assert _scalar(run.data_dir, BAD_ROW_CASES[case].format(**run.donors)) == 0


def test_a_quarantined_customer_takes_its_orders_and_lines_with_it(bad_load: Crafted) -> None:
    victim = bad_load.donors["quarantined_customer"]
    assert _scalar(bad_load.data_dir, "select count(*) from raw.customer where c_custkey is null") == 0
    assert _scalar(bad_load.data_dir, f"select count(*) from raw.customer where c_custkey = {victim}") == 0, (
        "a customer delivered twice is quarantined, not kept once"
    )
    assert (
        _scalar(
            bad_load.data_dir,
            "select count(*) from raw.orders o anti join raw.customer c on c.c_custkey = o.o_custkey",
        )
        == 0
    )
    assert (
        _scalar(
            bad_load.data_dir,
            "select count(*) - count(distinct c_custkey) from raw.customer",
        )
        == 0
    )
    # its orders and every line of them went to the quarantine, none stayed in raw
    orders, lines_in_raw, lines_held = _row(
        bad_load.data_dir,
        f"""
        with victim_orders as (
            select cast(json_extract(record, '$.o_orderkey') as bigint) as order_key
            from raw._quarantine
            where table_name = 'orders' and cast(json_extract(record, '$.o_custkey') as bigint) = {victim}
        )
        select
            (select count(*) from victim_orders),
            (select count(*) from raw.lineitem where l_orderkey in (select order_key from victim_orders)),
            (select count(*) from raw._quarantine where table_name = 'lineitem'
                and cast(json_extract(record, '$.l_orderkey') as bigint) in (select order_key from victim_orders))
        """,
    )
    assert orders > 0 and lines_held >= orders, (orders, lines_held)
    assert lines_in_raw == 0
    assert _scalar(bad_load.data_dir, f"select count(*) from raw.orders where o_custkey = {victim}") == 0


def test_quarantined_records_keep_the_delivered_values(bad_load: Crafted) -> None:
    record = _scalar(
        bad_load.data_dir,
        "select record from raw._quarantine where reason = 'quantity not positive'",
    )
    row = json.loads(record)
    assert row["l_orderkey"] == bad_load.donors["negative_quantity"]
    assert float(row["l_quantity"]) == -3


def test_reloading_replaces_the_quarantine_with_the_new_loads(bad_load: Crafted, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    copy_data_dir(bad_load.data_dir, data_dir)
    assert _quarantine(data_dir, 0) == bad_load.expected
    proc = run_cli("--data-dir", str(data_dir), "load", "-s", TINY_SF, check=True)
    assert _quarantine(data_dir, 0) == bad_load.expected, "a reload must not double the quarantine"
    assert "quarantined" in proc.stdout


def test_a_batch_with_bad_rows_still_builds_and_publishes_its_good_orders(
    bad_ingest: Crafted, tmp_path: Path
) -> None:
    """Quarantine keeps orders whole, so every test passes on what is left,
    the good orders are published and no order with a rejected line is."""
    data_dir = tmp_path / "data"
    copy_data_dir(bad_ingest.data_dir, data_dir)
    proc = run_cli("--data-dir", str(data_dir), "build")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "published" in proc.stdout and "not published" not in proc.stdout, proc.stdout
    with duckdb.connect(str(data_dir / "warehouse.published.duckdb"), read_only=True) as con:
        published = {r[0] for r in con.execute("select order_key from mart.mart_orders").fetchall()}
    assert bad_ingest.donors["discount_high"] not in published
    assert bad_ingest.donors["ship_not_after_order"] not in published
    assert _scalar(data_dir, "select count(*) from raw.orders where _batch_id = 1") > 0
    assert _scalar(data_dir, "select max(o_orderkey) from raw.orders where _batch_id = 1") in published


# a NULL in each column a not_null test guards: (table, column) -> donor order
NULL_CASES = (
    ("orders", "o_orderdate"),
    ("lineitem", "l_quantity"),
    ("lineitem", "l_discount"),
    ("lineitem", "l_shipdate"),
    ("lineitem", "l_receiptdate"),
)


def test_nulls_in_guarded_columns_are_quarantined_and_the_batch_still_publishes(
    loaded: Path,
) -> None:
    """A NULL measure or date is quarantined with its order (every reject rule is
    NULL-safe), so the build's not_null tests pass and the good orders publish."""
    batch = loaded / "landing" / f"sf={TINY_SF}" / "batches" / "batch_0001"
    orders, lineitem = batch / "orders.parquet", batch / "lineitem.parquet"
    with duckdb.connect() as con:
        keys = [r[0] for r in con.execute(f"select o_orderkey from {_src(orders)} order by 1").fetchall()]
        donors = dict(zip(NULL_CASES, keys[: len(NULL_CASES)], strict=True))
        total_orders = len(keys)
        lines_of = dict(
            con.execute(f"select l_orderkey, count(*) from {_src(lineitem)} group by 1").fetchall()
        )
        nulls = {
            table: [(c, k) for (t, c), k in donors.items() if t == table] for table in ("orders", "lineitem")
        }

        def replaced(table: str, key_column: str, extra: str) -> str:
            return ", ".join(
                f"case when {key_column} = {key} {extra} then null else {column} end as {column}"
                for column, key in nulls[table]
            )

        _rewrite(
            con, orders, f"select * replace ({replaced('orders', 'o_orderkey', '')}) from {_src(orders)}"
        )
        _rewrite(
            con,
            lineitem,
            f"select * replace ({replaced('lineitem', 'l_orderkey', 'and l_linenumber = 1')}) from {_src(lineitem)}",
        )
    dated = donors[("orders", "o_orderdate")]
    line_cases = [key for (table, _), key in donors.items() if table == "lineitem"]
    expected = {
        "orders: null o_orderdate": 1,
        "lineitem: order missing or quarantined": lines_of[dated],
        **{f"lineitem: null {column}": 1 for column, _ in nulls["lineitem"]},
        "orders: a line of the order was rejected": len(line_cases),
        "lineitem: another line of the order was rejected": sum(lines_of[k] - 1 for k in line_cases),
    }

    proc = run_cli("--data-dir", str(loaded), "ingest")
    assert proc.returncode == 0, proc.stderr
    assert _quarantine(loaded, 1) == expected
    build = run_cli("--data-dir", str(loaded), "build")
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert "published" in build.stdout and "not published" not in build.stdout, build.stdout
    with duckdb.connect(str(loaded / "warehouse.published.duckdb"), read_only=True) as con:
        published = {r[0] for r in con.execute("select order_key from mart.mart_orders").fetchall()}
    assert not published & set(donors.values()), "an order with a NULL guarded value was published"
    good = set(keys) - set(donors.values())
    assert good <= published, f"{len(good - published)} good order(s) of the batch not published"
    assert len(good) == total_orders - len(NULL_CASES)
