"""Asset IO: outputs are real catalog tables, inputs are read back, checks run, and a
success is recorded in lineage and executions (against a local store and the real
Catalog / Executions)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from arco import asset
from arco.catalog import Catalog
from arco.core.partitions import PartitionKey
from arco.core.scope import DEFAULT_SCOPE
from arco.errors import ConflictError, NotFoundError, ValidationError
from arco.executions import Executions
from arco.lineage import LINEAGE
from arco.metadata.manifest import read_manifest
from arco.orchestration.assets import (
    AssetContext,
    CheckResult,
    check,
    freshness,
    not_null,
    row_count,
    sql_check,
    unique,
)
from arco.orchestration.io import (
    EXECUTION_EDGE,
    AssetIO,
    TaskOutput,
    blocking_failures,
    execute_asset,
    input_keys,
    materialization_id,
    run_checks,
    to_arrow,
    upstream_partitions,
)
from arco.orchestration.partitions import DailyPartitions
from arco.query.engine import QueryEngine
from arco.storage import LocalFileStore
from catalog_support import inline_options

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def sql(query: str) -> list[tuple[Any, ...]]:
    with duckdb.connect() as con:
        return con.execute(query).fetchall()


@dataclass
class Env:
    root: Path
    catalog: Catalog
    executions: Executions
    io: AssetIO

    def path(self, key: str) -> Path:
        return self.root / DEFAULT_SCOPE.prefix / key

    def lineage_version(self) -> int:
        head = read_manifest(self.catalog.store, LINEAGE.name)
        return 0 if head is None else head.manifest.snapshot_version


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    root = tmp_path / "store"
    store = LocalFileStore(root, fsync=False)
    catalog = Catalog(store, options=inline_options())
    executions = Executions(store, fold="inline")
    try:
        yield Env(root, catalog, executions, AssetIO(catalog.store, catalog, executions))
    finally:
        executions.close()
        catalog.close()


# --- assets used below ---------------------------------------------------------------------


@asset(namespace="shop", code_version="v1")
def orders(context: AssetContext) -> pa.Table:
    return pa.table({"id": [1, 2, 3], "amount": [10.0, 20.0, 30.0]})


@asset(namespace="shop", deps=["shop/audit"])
def big_orders(context: AssetContext, orders: pa.Table) -> pa.Table:
    context.log.info("reading %d orders", orders.num_rows)
    return orders.filter(pc.greater(orders["amount"], 15.0))


DAILY = DailyPartitions(start="2026-01-01")


def day(n: int) -> str:
    return PartitionKey({"date": dt.date(2026, 1, n)}).canonical()


@asset(namespace="shop", partitions=DAILY)
def visits(context: AssetContext) -> pa.Table:
    when = context.partition.values["date"]
    return pa.table({"day": [str(when)], "n": [context.attempt]})


@asset(namespace="shop", partitions=DAILY)
def visits_copy(context: AssetContext, visits: pa.Table) -> pa.Table:
    return visits


@asset(namespace="shop")
def nothing(context: AssetContext) -> None:
    return None


@asset(namespace="shop")
def wrong(context: AssetContext) -> int:
    return 42


@check(name="has_rows")
def has_rows(table: pa.Table) -> bool:
    return table.num_rows > 0


@asset(namespace="shop", checks=[row_count(min=10)])
def too_small(context: AssetContext) -> pa.Table:
    return pa.table({"id": [1]})


def spec_of(key: str, **extra: Any) -> Any:
    from arco.orchestration.manifest import AssetSpec

    return AssetSpec(key=key, entry_point="m:f", **extra)


# --- conversion ----------------------------------------------------------------------------

TABLE = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})


class CStream:
    """Any object with the Arrow PyCapsule stream interface."""

    def __arrow_c_stream__(self, requested_schema: object = None) -> object:
        return TABLE.__arrow_c_stream__(requested_schema)


@pytest.mark.parametrize(
    "make",
    [
        lambda: TABLE,
        lambda: TABLE.to_batches()[0],
        TABLE.to_batches,
        lambda: tuple(TABLE.to_batches()),
        lambda: iter(TABLE.to_batches()),
        lambda: pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches()),
        lambda: {"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]},
        CStream,
    ],
    ids=["table", "batch", "batches", "tuple", "iterator", "reader", "dict", "c_stream"],
)
def test_to_arrow_accepts_arrow_convertible_values(make: Any) -> None:
    assert to_arrow(make(), "shop/orders").equals(TABLE)


def test_to_arrow_accepts_a_duckdb_relation() -> None:
    con = duckdb.connect()
    rel = con.sql("SELECT * FROM (VALUES (1::BIGINT, 'a'), (2, 'b')) t(id, name) ORDER BY id")
    assert to_arrow(rel, "shop/orders").to_pylist() == TABLE.to_pylist()


def test_to_arrow_accepts_pandas() -> None:
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"id": [1, 2], "name": ["a", "b"]}, index=[7, 8])
    assert to_arrow(frame, "shop/orders").to_pylist() == TABLE.to_pylist()


def test_to_arrow_accepts_polars() -> None:
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"id": [1, 2], "name": ["a", "b"]})
    assert to_arrow(frame, "shop/orders").to_pylist() == TABLE.to_pylist()
    assert to_arrow(frame.lazy(), "shop/orders").to_pylist() == TABLE.to_pylist()


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (42, "int"),
        ("text", "str"),
        ([1, 2], "list"),
        (object(), "object"),
        (pa.array([1]), "Int64Array"),
    ],
)
def test_to_arrow_refuses_anything_else_in_one_line(value: object, type_name: str) -> None:
    with pytest.raises(ValidationError) as err:
        to_arrow(value, "shop/orders")
    assert err.value.message == (
        f"shop/orders: returned {type_name}; an asset must return an Arrow-convertible table "
        "(pyarrow, pandas, polars, DuckDB) or None"
    )


def test_to_arrow_names_a_failed_conversion() -> None:
    with pytest.raises(ValidationError, match="no record batches"):
        to_arrow([], "shop/orders")
    with pytest.raises(ValidationError, match=r"^shop/orders: cannot convert the returned dict"):
        to_arrow({"a": [1], "b": [1, 2]}, "shop/orders")


# --- outputs -------------------------------------------------------------------------------


def test_output_is_a_parquet_file_and_a_catalog_table(env: Env) -> None:
    out = env.io.write_output(orders.spec, "", TABLE, attempt_id="att-1", run_id="run-1")
    assert out.asset_key == "shop/orders" and out.partition_key == ""
    assert out.file == f"data/shop/orders/{materialization_id('att-1')}.parquet"
    assert out.rows == 2 and out.bytes == env.path(out.file).stat().st_size
    assert out.columns == (("id", "int64"), ("name", "string"))
    assert TaskOutput.from_json(out.to_json()) == out

    assert sql(
        f"SELECT * FROM read_parquet('{env.path(out.file)}', hive_partitioning=false) ORDER BY id"
    ) == [
        (1, "a"),
        (2, "b"),
    ]
    table = env.catalog.get_table("shop", "orders")
    assert table.table_id == out.table_id and table.format == "parquet"
    assert [(c.name, c.type) for c in table.columns] == list(out.columns)
    assert table.location == f"{env.catalog.store.url}/data/shop/orders/"
    assert table.properties == {"arco.asset": "shop/orders"}
    # the location reads as a table (every file of every attempt)
    location = table.location.removeprefix("file://")
    assert sql(f"SELECT count(*) FROM read_parquet('{location}**/*.parquet')") == [(2,)]


def test_unchanged_columns_cost_no_catalog_commit(env: Env) -> None:
    env.io.write_output(orders.spec, "", TABLE, attempt_id="a1", run_id="r1")
    version = env.catalog.snapshot_version()
    commits = env.catalog.writer.commits
    timings = []
    for i in range(20):
        started = time.perf_counter()
        env.io.write_output(orders.spec, "", TABLE, attempt_id=f"b{i}", run_id="r2")
        timings.append(time.perf_counter() - started)
    assert env.catalog.snapshot_version() == version
    assert env.catalog.writer.commits == commits
    timings.sort()
    print(f"write_output, unchanged table: median {timings[10] * 1000:.2f} ms")


def test_a_retry_of_the_same_attempt_finds_its_file(env: Env) -> None:
    first = env.io.write_output(orders.spec, "", TABLE, attempt_id="a1", run_id="r1")
    again = env.io.write_output(orders.spec, "", TABLE, attempt_id="a1", run_id="r1")
    assert again == first
    other = pa.table({"id": pa.array([9], pa.int64()), "name": ["z"]})
    with pytest.raises(ConflictError, match="attempt a1 already wrote"):
        env.io.write_output(orders.spec, "", other, attempt_id="a1", run_id="r1")


def test_schema_evolution_adds_columns_and_widens_types(env: Env) -> None:
    small = pa.table({"id": pa.array([1], pa.int32()), "name": ["a"]})
    env.io.write_output(orders.spec, "", small, attempt_id="a1", run_id="r")
    wider = pa.table(
        {"id": pa.array([2], pa.int64()), "name": ["b"], "ts": pa.array([1], pa.timestamp("us"))}
    )
    out = env.io.write_output(orders.spec, "", wider, attempt_id="a2", run_id="r")
    columns = {c.name: c.type for c in env.catalog.list_columns("shop", "orders")}
    assert columns == {"id": "int64", "name": "string", "ts": "timestamp[us]"}
    assert out.columns == (("id", "int64"), ("name", "string"), ("ts", "timestamp[us]"))
    # a narrower output is cast up to the catalog's type before it is written
    version = env.catalog.snapshot_version()
    out = env.io.write_output(orders.spec, "", small, attempt_id="a3", run_id="r")
    assert out.columns == (("id", "int64"), ("name", "string"))
    assert sql(f"SELECT typeof(id) FROM '{env.path(out.file)}'") == [("BIGINT",)]
    assert env.catalog.snapshot_version() == version


def test_null_columns_and_view_types_fit_later_outputs(env: Env) -> None:
    nulls = pa.table(
        {"id": pa.array([None, None], pa.null()), "s": pa.array(["a"] * 2, pa.string_view())}
    )
    out = env.io.write_output(orders.spec, "", nulls, attempt_id="a1", run_id="r")
    assert out.columns == (("id", "null"), ("s", "string"))
    typed = pa.table({"id": pa.array([1, 2], pa.int64()), "s": ["b", "c"]})
    out = env.io.write_output(orders.spec, "", typed, attempt_id="a2", run_id="r")
    assert [(c.name, c.type) for c in env.catalog.list_columns("shop", "orders")] == [
        ("s", "string"),
        ("id", "int64"),
    ]
    # nulls again: cast to the catalog's type, no commit
    version = env.catalog.snapshot_version()
    out = env.io.write_output(orders.spec, "", nulls, attempt_id="a3", run_id="r")
    assert out.columns == (("id", "int64"), ("s", "string"))
    assert env.catalog.snapshot_version() == version


def test_an_incompatible_type_change_is_refused_naming_the_column(env: Env) -> None:
    env.io.write_output(orders.spec, "", TABLE, attempt_id="a1", run_id="r")
    version = env.catalog.snapshot_version()
    bad = pa.table({"id": ["x"], "name": ["a"]})
    with pytest.raises(ValidationError) as err:
        env.io.write_output(orders.spec, "", bad, attempt_id="a2", run_id="r")
    assert err.value.message.startswith(
        "shop/orders: column 'id' changed type from int64 to string, which is not a widening"
    )
    assert env.catalog.snapshot_version() == version
    assert not env.path(f"data/shop/orders/{materialization_id('a2')}.parquet").exists()


def test_outputs_refuse_duplicate_and_unrecordable_columns(env: Env) -> None:
    dupes = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["id", "ID"])
    with pytest.raises(ValidationError, match="column 'ID' appears twice"):
        env.io.write_output(orders.spec, "", dupes, attempt_id="a", run_id="r")
    categories = pa.table({"c": pa.array(["x", "y", "x"]).dictionary_encode()})
    out = env.io.write_output(orders.spec, "", categories, attempt_id="b", run_id="r")
    assert out.columns == (("c", "string"),)


def test_partitioned_outputs_go_to_separate_directories(env: Env) -> None:
    keys = [day(d) for d in (1, 2)]
    outs = [
        env.io.write_output(visits.spec, k, pa.table({"n": [i]}), attempt_id=f"a{i}", run_id="r")
        for i, k in enumerate(keys)
    ]
    assert [o.file.rsplit("/", 1)[0] for o in outs] == [
        "data/shop/visits/date=2026-01-01",
        "data/shop/visits/date=2026-01-02",
    ]
    assert outs[0].table_id == outs[1].table_id
    base = env.path("data/shop/visits")
    rows = sql(
        f"SELECT date::VARCHAR, n FROM read_parquet('{base}/**/*.parquet', hive_partitioning=true) "
        "ORDER BY n"
    )
    assert rows == [("2026-01-01", 0), ("2026-01-02", 1)]


def test_concurrent_first_outputs_share_one_table(env: Env) -> None:
    results: list[TaskOutput] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        extra = {"new": [n]} if n % 2 else {}
        try:
            table = pa.table({"n": [n], **extra})
            results.append(
                env.io.write_output(visits.spec, day(n + 1), table, attempt_id=f"a{n}", run_id="r")
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({o.table_id for o in results}) == 1
    columns = [(c.name, c.type) for c in env.catalog.list_columns("shop", "visits")]
    assert columns == [("n", "int64"), ("new", "int64")]


# --- inputs --------------------------------------------------------------------------------


def test_inputs_are_read_back_from_this_runs_outputs(env: Env) -> None:
    day1, day2 = (day(d) for d in (1, 2))
    a = env.io.write_output(visits.spec, day1, pa.table({"n": [1]}), attempt_id="a", run_id="r")
    b = env.io.write_output(
        visits.spec, day2, pa.table({"n": [2], "extra": ["x"]}), attempt_id="b", run_id="r"
    )
    outputs = [a.to_json(), b.to_json()]
    assert env.io.read_input("shop/visits", [day1], outputs).to_pylist() == [{"n": 1}]
    both = env.io.read_input("shop/visits", None, outputs)
    assert both.to_pylist() == [{"n": 1, "extra": None}, {"n": 2, "extra": "x"}]
    day3 = day(3)
    with pytest.raises(NotFoundError) as err:
        env.io.read_input("shop/visits", [day3], outputs)
    assert err.value.message == f"input shop/visits [{day3}]: no output of its task in this run"
    with pytest.raises(NotFoundError, match="its tasks in this run wrote no table"):
        env.io.read_input("shop/visits", None, [])


def test_inputs_are_read_from_the_newest_materialization(env: Env) -> None:
    with pytest.raises(NotFoundError) as err:
        env.io.read_input("shop/orders", [""], None)
    assert (
        err.value.message == "input shop/orders: never materialized (no succeeded materialization)"
    )
    old = env.io.write_output(orders.spec, "", TABLE, attempt_id="a1", run_id="r1")
    env.io.record_success(
        orders.spec,
        "",
        old,
        run_id="r1",
        attempt_id="a1",
        inputs=[],
        started_ms=T0,
        completed_ms=T0 + 5,
    )
    new_table = pa.table({"id": pa.array([7], pa.int64()), "name": ["n"]})
    new = env.io.write_output(orders.spec, "", new_table, attempt_id="a2", run_id="r2")
    env.io.record_success(
        orders.spec,
        "",
        new,
        run_id="r2",
        attempt_id="a2",
        inputs=[],
        started_ms=T0 + 10,
        completed_ms=T0 + 20,
    )
    assert env.io.read_input("shop/orders", [""], None).equals(new_table)
    assert env.io.read_input("shop/orders", None, None).equals(new_table)
    # a newer materialization without a table: reading it is an error, not older data
    env.io.record_success(
        orders.spec,
        "",
        None,
        run_id="r3",
        attempt_id="a3",
        inputs=[],
        started_ms=T0 + 30,
        completed_ms=T0 + 40,
    )
    with pytest.raises(
        NotFoundError,
        match=r"^input shop/orders: its newest materialization \(run r3\) wrote no table$",
    ):
        env.io.read_input("shop/orders", None, None)


def test_partitioned_inputs_from_materializations(env: Env) -> None:
    day1, day2 = (day(d) for d in (1, 2))
    for i, pk in enumerate((day1, day2)):
        out = env.io.write_output(
            visits.spec, pk, pa.table({"n": [i]}), attempt_id=f"a{i}", run_id="r"
        )
        env.io.record_success(
            visits.spec,
            pk,
            out,
            run_id="r",
            attempt_id=f"a{i}",
            inputs=[],
            started_ms=T0,
            completed_ms=T0 + i,
        )
    assert env.io.read_input("shop/visits", [day2], None).to_pylist() == [{"n": 1}]
    assert env.io.read_input("shop/visits", None, None).to_pylist() == [{"n": 0}, {"n": 1}]
    missing = day(9)
    with pytest.raises(
        NotFoundError, match=rf"^input shop/visits \[{missing}\]: never materialized"
    ):
        env.io.read_input("shop/visits", [day1, missing], None)


def test_upstream_partitions_follow_the_planner_edges() -> None:
    key = day(1)
    assert upstream_partitions(visits_copy.spec, visits.spec, key) == [key]
    assert upstream_partitions(visits_copy.spec, orders.spec, key) == [""]
    assert upstream_partitions(orders.spec, visits.spec, "") is None
    assert upstream_partitions(orders.spec, None, "") is None


# --- checks --------------------------------------------------------------------------------


@check
def ids_positive(table: pa.Table) -> bool:
    return bool(pc.all(pc.greater(table["id"], 0)).as_py())


@check(name="custom_result", blocking=False)
def custom_result(table: pa.Table) -> CheckResult:
    return CheckResult("ignored", False, f"{table.num_rows} rows is too few", True)


@check
def explodes(table: pa.Table) -> bool:
    raise RuntimeError("boom\nsecond line")


@check
def says_maybe(table: pa.Table) -> str:
    return "maybe"


CHECKED = pa.table({"id": [1, 2, 2], "v": [1, None, 3]})


def test_every_check_kind_runs() -> None:
    @asset(
        namespace="shop",
        checks=[
            row_count(min=1, max=3),
            row_count(min=5, name="at_least_5", blocking=False),
            not_null("id"),
            not_null("v"),
            unique("v"),
            unique("id", blocking=False),
            freshness(60),
            sql_check("no_big", "SELECT * FROM output WHERE id > 10"),
            sql_check("has_big", "SELECT * FROM output WHERE id > 1"),
            sql_check("all_small", "SELECT max(id) < 10 FROM output"),
            sql_check("none_small", "SELECT min(id) > 1 FROM output", blocking=False),
            sql_check("broken", "SELECT nope FROM output"),
            ids_positive,
            custom_result,
            explodes,
            says_maybe,
        ],
    )
    def checked(context: AssetContext) -> None:
        return None

    results = {r.name: r for r in run_checks(checked, CHECKED)}
    outcome = {name: (r.kind, r.passed, r.blocking) for name, r in results.items()}
    assert outcome == {
        "row_count": ("row_count", True, True),
        "at_least_5": ("row_count", False, False),
        "not_null_id": ("not_null", True, True),
        "not_null_v": ("not_null", False, True),
        "unique_v": ("unique", True, True),
        "unique_id": ("unique", False, False),
        "freshness": ("freshness", True, True),
        "no_big": ("sql", True, True),
        "has_big": ("sql", False, True),
        "all_small": ("sql", True, True),
        "none_small": ("sql", False, False),
        "broken": ("sql", False, True),
        "ids_positive": ("python", True, True),
        "custom_result": ("python", False, False),
        "explodes": ("python", False, True),
        "says_maybe": ("python", False, True),
    }
    assert results["has_big"].message == "2 row(s), first (2, None)"
    assert results["none_small"].message == "returned false"
    assert results["broken"].message.startswith("BinderException: ")
    assert "\n" not in results["broken"].message
    assert results["custom_result"].message == "3 rows is too few"
    assert results["explodes"].message == "RuntimeError: boom second line"
    assert results["says_maybe"].message == (
        "returned str; a check must return a bool or a CheckResult"
    )
    assert [r.name for r in blocking_failures(results.values())] == [
        "not_null_v",
        "has_big",
        "broken",
        "explodes",
        "says_maybe",
    ]
    # a spec alone (no function at hand): python checks are loaded by entry point
    by_spec = {r.name: r.passed for r in run_checks(checked.spec, CHECKED)}
    assert by_spec == {name: r.passed for name, r in results.items()}


def test_check_results_travel_as_json() -> None:
    result = CheckResult("n", False, "why", False, "sql")
    assert CheckResult.from_json(result.to_json()) == result
    assert result.blocks is False and CheckResult("n", None, "m").blocks is True
    with pytest.raises(ValidationError):
        CheckResult.from_json({"name": "n", "passed": 1, "message": "m"})


# --- recording a success -------------------------------------------------------------------


def test_record_success_adds_lineage_and_a_materialization_once(env: Env) -> None:
    out = env.io.write_output(orders.spec, "", TABLE, attempt_id="att", run_id="run-1")
    args: dict[str, Any] = {
        "run_id": "run-1",
        "attempt_id": "att",
        "inputs": ["raw/orders", "raw/customers", "raw/orders"],
        "started_ms": T0,
        "completed_ms": T0 + 1500,
    }
    mid = env.io.record_success(orders.spec, "", out, **args)
    assert mid == materialization_id("att")
    graph = env.catalog.lineage("shop/orders", direction="upstream", depth=1)
    assert sorted((e.source, e.target, e.edge_type, e.run_id) for e in graph.edges) == [
        ("raw/customers", "shop/orders", EXECUTION_EDGE, "run-1"),
        ("raw/orders", "shop/orders", EXECUTION_EDGE, "run-1"),
    ]
    m = env.executions.get_materialization(mid)
    assert (m.asset_key, m.status, m.run_id, m.rows, m.bytes) == (
        "shop/orders",
        "succeeded",
        "run-1",
        2,
        out.bytes,
    )
    assert (m.code_version, m.partition_key, m.table_id) == ("v1", "", out.table_id)
    assert m.completed_at == dt.datetime(2026, 1, 1, 0, 0, 1, 500_000, tzinfo=dt.UTC)

    # again (a retried recording, or the same edges from a later run): nothing changes
    lineage_version = env.lineage_version()
    env.io.record_success(orders.spec, "", out, **args)
    later = env.io.write_output(orders.spec, "", TABLE, attempt_id="b", run_id="run-2")
    env.io.record_success(orders.spec, "", later, **{**args, "run_id": "run-2", "attempt_id": "b"})
    assert env.lineage_version() == lineage_version
    env.executions.compact()
    found = env.executions.list_materializations(asset_key="shop/orders").items
    assert sorted(x.materialization_id for x in found) == sorted([mid, materialization_id("b")])
    assert env.executions.get_materialization(mid) == m


def test_record_success_refuses_another_assets_output(env: Env) -> None:
    out = env.io.write_output(orders.spec, "", TABLE, attempt_id="a", run_id="r")
    with pytest.raises(ValidationError, match="the output is of shop/orders"):
        env.io.record_success(
            visits.spec,
            day(1),
            out,
            run_id="r",
            attempt_id="a",
            inputs=[],
            started_ms=T0,
            completed_ms=T0,
        )


def test_record_success_refuses_another_attempts_output(env: Env) -> None:
    out = env.io.write_output(orders.spec, "", TABLE, attempt_id="a", run_id="r")
    with pytest.raises(ValidationError, match=r"was not written by attempt b$"):
        env.io.record_success(
            orders.spec,
            "",
            out,
            run_id="r",
            attempt_id="b",
            inputs=[],
            started_ms=T0,
            completed_ms=T0,
        )
    assert env.executions.list_materializations().items == []


def test_sql_over_executions_sees_the_materialization(env: Env) -> None:
    out = env.io.write_output(orders.spec, "", TABLE, attempt_id="att", run_id="run-1")
    env.io.record_success(
        orders.spec,
        "",
        out,
        run_id="run-1",
        attempt_id="att",
        inputs=[],
        started_ms=T0,
        completed_ms=T0 + 1,
    )
    engine = QueryEngine()
    try:
        sql = (
            "SELECT asset_key, status, rows, run_id, code_version, table_id "
            "FROM executions.materializations"
        )
        rows = engine.query(env.catalog.store, DEFAULT_SCOPE.prefix, sql).table.to_pylist()
    finally:
        engine.close()
    assert rows == [
        {
            "asset_key": "shop/orders",
            "status": "succeeded",
            "rows": 2,
            "run_id": "run-1",
            "code_version": "v1",
            "table_id": out.table_id,
        }
    ]


# --- one execution -------------------------------------------------------------------------


def test_execute_asset_runs_writes_and_reads_inputs(env: Env) -> None:
    assert input_keys(big_orders) == ["shop/orders"]  # deps= only orders the run
    up, checks = execute_asset(env.io, orders, run_id="r1", attempt_id="a1")
    assert up is not None and checks == []
    # the upstream ran in this run: its output is read
    down, _ = execute_asset(
        env.io, big_orders, run_id="r1", attempt_id="a2", inputs={"shop/orders": [up.to_json()]}
    )
    assert down is not None and down.rows == 2
    assert env.io.read_input("shop/big_orders", None, [down.to_json()]).column(
        "id"
    ).to_pylist() == [
        2,
        3,
    ]
    # not in this run (and shop/audit, a deps= entry, is never read): the newest materialization
    env.io.record_success(
        orders.spec, "", up, run_id="r1", attempt_id="a1", inputs=[], started_ms=T0, completed_ms=T0
    )
    again, _ = execute_asset(env.io, big_orders, run_id="r2", attempt_id="a3")
    assert again is not None and again.rows == 2


def test_execute_asset_partitions_and_context(env: Env) -> None:
    key = day(2)
    out, _ = execute_asset(env.io, visits, run_id="r", attempt_id="a", attempt=3, partition_key=key)
    assert out is not None and out.partition_key == key
    assert env.io.read_input("shop/visits", [key], [out.to_json()]).to_pylist() == [
        {"day": "2026-01-02", "n": 3}
    ]
    env.io.record_success(
        visits.spec, key, out, run_id="r", attempt_id="a", inputs=[], started_ms=T0, completed_ms=T0
    )
    copy, _ = execute_asset(
        env.io,
        visits_copy,
        run_id="r2",
        attempt_id="b",
        partition_key=key,
        upstream_specs={"shop/visits": visits.spec},
    )
    assert copy is not None and copy.rows == 1


def test_execute_asset_none_bad_values_and_blocking_checks(env: Env) -> None:
    assert execute_asset(env.io, nothing, run_id="r", attempt_id="a") == (None, [])
    with pytest.raises(ValidationError, match=r"^shop/wrong: returned int; an asset must return"):
        execute_asset(env.io, wrong, run_id="r", attempt_id="b")
    out, checks = execute_asset(env.io, too_small, run_id="r", attempt_id="c")
    assert out is None
    assert [(c.name, c.passed, c.message) for c in blocking_failures(checks)] == [
        ("row_count", False, "1 rows, fewer than 10")
    ]
    assert not env.path("data/shop/too_small").exists()
    with pytest.raises(NotFoundError):
        env.catalog.get_table("shop", "too_small")
    with pytest.raises(NotFoundError, match="input shop/orders: never materialized"):
        execute_asset(env.io, big_orders, run_id="r", attempt_id="d")


def test_an_output_into_a_new_namespace_and_a_spec_without_namespace(env: Env) -> None:
    out = env.io.write_output(spec_of("fresh/t"), "", TABLE, attempt_id="a", run_id="r")
    assert env.catalog.get_namespace("fresh").name == "fresh"
    assert out.file.startswith("data/fresh/t/")
