"""``@asset``: keys, inputs, options, checks and the built-in check evaluation."""

from __future__ import annotations

import logging

import pyarrow as pa
import pytest

import arco
from arco import (
    AssetContext,
    AssetDef,
    DailyPartitions,
    RetryPolicy,
    StaticPartitions,
    asset,
    check,
    freshness,
    not_null,
    row_count,
    sql_check,
    unique,
)
from arco.errors import ValidationError
from arco.orchestration.assets import CheckResult, run_builtin_check
from arco.orchestration.manifest import CheckSpec, RetrySpec


def test_bare_decorator_defaults() -> None:
    @asset
    def orders(context: AssetContext) -> int:
        """Orders, one row each.

        More detail that is not the description.
        """
        return 1

    assert isinstance(orders, AssetDef)
    spec = orders.to_spec()
    assert spec.key == "default/orders"
    assert spec.description == "Orders, one row each."
    assert spec.deps == ()
    assert spec.partitions is None
    assert spec.retry == RetrySpec()
    assert spec.entry_point == f"{__name__}:test_bare_decorator_defaults.<locals>.orders"
    assert orders.fn.__name__ == "orders" and orders.__doc__ is not None
    assert orders(AssetContext(run_id="r", asset_key="default/orders")) == 1


def test_parameters_name_upstream_assets_of_the_same_namespace() -> None:
    sales = asset(namespace="sales")

    @sales
    def orders(context: AssetContext) -> list[int]:
        return [1, 2]

    @sales(deps=["raw/events", orders])
    def summary(context: AssetContext, orders: list[int], customers: list[int]) -> int:
        return len(orders) + len(customers)

    assert summary.to_spec().key == "sales/summary"
    assert summary.to_spec().deps == ("raw/events", "sales/customers", "sales/orders")
    assert summary.inputs == {"orders": "sales/orders", "customers": "sales/customers"}
    ctx = AssetContext(run_id="r", asset_key="sales/summary")
    assert summary(ctx, orders(ctx), [3]) == 3  # plain call for unit tests

    @sales(namespace="ops")  # later options win
    def jobs(context: AssetContext) -> None:
        return None

    assert str(jobs.key) == "ops/jobs"


def test_an_explicit_dep_binds_a_parameter_of_its_name_to_another_namespace() -> None:
    @asset(namespace="sales", deps=["raw/orders"])
    def cleaned(context: AssetContext, orders: object) -> None:
        return None

    assert cleaned.inputs == {"orders": "raw/orders"}
    assert cleaned.to_spec().deps == ("raw/orders",)
    with pytest.raises(ValidationError, match="ambiguous input"):

        @asset(deps=["a/orders", "b/orders"])
        def both(context: AssetContext, orders: object) -> None:
            return None


def test_every_option_reaches_the_spec() -> None:
    @asset(
        name="daily_orders",
        namespace="shop",
        description="Explicit.",
        partitions=DailyPartitions("2026-01-01", timezone="Europe/Paris"),
        owners=["a@example.com"],
        tags={"tier": "gold"},
        group="orders",
        code_version="7",
        retry=RetryPolicy(max_attempts=4, backoff_s=0.5),
        timeout_s=60,
        resources=["warehouse"],
        checks=[row_count(min=1, max=10), not_null("id"), unique("id", "day")],
    )
    def f(context: AssetContext) -> None:
        """Ignored docstring."""

    spec = f.to_spec()
    assert spec.key == "shop/daily_orders"
    assert spec.description == "Explicit."
    assert spec.partitions == DailyPartitions("2026-01-01", timezone="Europe/Paris").to_spec()
    assert f.partitions == DailyPartitions("2026-01-01", timezone="Europe/Paris")
    assert spec.owners == ("a@example.com",)
    assert spec.tags == {"tier": "gold"}
    assert spec.group == "orders" and spec.code_version == "7"
    assert spec.retry.max_attempts == 4 and spec.retry.backoff_s == 0.5
    assert spec.timeout_s == 60 and spec.resources == ("warehouse",)
    assert [c.name for c in spec.checks] == ["row_count", "not_null_id", "unique_id_day"]
    assert spec.checks[0].params == {"min": 1, "max": 10}
    assert spec.checks[2].params == {"columns": ["id", "day"]}


def test_module_level_namespace(tmp_path: object) -> None:
    namespace: dict[str, object] = {"ARCO_NAMESPACE": "ops", "__name__": "mod"}
    exec(
        "from arco import asset\n@asset\ndef jobs(context):\n    return 1\n",
        namespace,
    )
    jobs = namespace["jobs"]
    assert isinstance(jobs, AssetDef)
    assert str(jobs.key) == "ops/jobs" and jobs.entry_point == "mod:jobs"


def test_checks_declarations() -> None:
    assert row_count() == CheckSpec(name="row_count", kind="row_count", params={})
    assert freshness(3600).params == {"max_lag_s": 3600}
    assert freshness(60, name="fresh", blocking=False).blocking is False
    q = sql_check("no_negative", "SELECT * FROM t WHERE x < 0")
    assert q.kind == "sql" and q.params == {"sql": "SELECT * FROM t WHERE x < 0"}

    @check
    def positive(table: pa.Table) -> bool:
        return True

    @check(name="custom", blocking=False)
    def other(table: pa.Table) -> bool:
        return False

    assert positive.spec.kind == "python" and positive.spec.name == "positive"
    assert str(positive.spec.params["entry_point"]).endswith(
        "test_checks_declarations.<locals>.positive"
    )
    assert other.spec.name == "custom" and other.spec.blocking is False
    assert positive(pa.table({})) is True

    @asset(checks=[positive, row_count(min=1)])
    def t(context: AssetContext) -> None:
        return None

    assert [c.name for c in t.to_spec().checks] == ["positive", "row_count"]
    assert t.python_checks == {"positive": positive}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: row_count(min=-1), "checks.row_count.min: must be an integer >= 0"),
        (lambda: row_count(min=True), "checks.row_count.min"),
        (lambda: row_count(min=5, max=1), "min 5 is above max 1"),
        (not_null, "checks.not_null: name at least one column"),
        (lambda: unique("a", "a"), "columns must not repeat"),
        (lambda: freshness(0), "checks.freshness.max_lag_s: must be an integer >= 1"),
        (lambda: sql_check("x", " "), "checks.sql.sql: must be a non-empty query"),
        (lambda: sql_check("", "select 1"), "checks.sql.name"),
    ],
)
def test_invalid_checks(make: object, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        make()  # type: ignore[operator]
    assert message in err.value.message


def no_context() -> None:
    return None


def kwargs_asset(context: AssetContext, **more: object) -> None:
    return None


def self_dep(context: AssetContext, me: object) -> None:
    return None


@pytest.mark.parametrize(
    ("fn", "options", "message"),
    [
        (no_context, {}, "the first parameter must be the context"),
        (kwargs_asset, {}, "cannot name upstream assets"),
        (self_dep, {"name": "me"}, "depends on itself"),
        (no_context, {"name": "a/b"}, "asset_key.name: must not contain '/'"),
        (self_dep, {"namespace": "x", "name": "y", "deps": ["nope"]}, ".deps: asset_key"),
        (self_dep, {"deps": [3]}, ".deps: each must be"),
        (self_dep, {"deps": "raw/orders"}, ".deps: must be a list of assets or keys"),
        (self_dep, {"timeout_s": 0}, ".timeout_s:"),
        (self_dep, {"retry": RetryPolicy(max_attempts=0)}, "retry.max_attempts"),
        (self_dep, {"retry": 3}, ".retry: must be a RetryPolicy"),
        (self_dep, {"tags": {"a": 1}}, ".tags: must map strings to strings"),
        (self_dep, {"owners": "me"}, ".owners: must be a list of strings"),
        (self_dep, {"partitions": "daily"}, ".partitions: must be a partitions definition"),
        (self_dep, {"checks": ["rows"]}, ".checks: each must be a declared check"),
        (self_dep, {"checks": [row_count(), row_count()]}, "checks: names must be unique"),
    ],
)
def test_invalid_assets_are_one_line_errors(fn: object, options: dict, message: str) -> None:
    with pytest.raises(ValidationError) as err:
        asset(**options)(fn)  # type: ignore[call-overload]
    assert message in err.value.message and "\n" not in err.value.message


def test_unknown_options_of_a_reused_decorator() -> None:
    with pytest.raises(ValidationError, match="asset: unknown option 'colour'"):
        asset(namespace="x")(colour="red")
    with pytest.raises(ValidationError, match="not both"):
        asset()(self_dep, namespace="y")  # type: ignore[call-overload]


def test_context() -> None:
    ctx = AssetContext(run_id="r1", asset_key="a/b", partition_key="region=s:ZXU", attempt=2)
    assert ctx.partition.values == {"region": "eu"}
    assert isinstance(ctx.log, logging.Logger)
    assert ctx.resources == {}
    assert AssetContext(run_id="r", asset_key="a/b").partition.values == {}


def test_retry_policy_defaults() -> None:
    assert RetryPolicy().to_spec() == RetrySpec(
        max_attempts=1, backoff_s=1.0, factor=2.0, max_backoff_s=300.0, jitter=0.1
    )


def test_partitions_accept_a_spec() -> None:
    spec = StaticPartitions(["a"]).to_spec()

    @asset(partitions=spec)
    def s(context: AssetContext) -> None:
        return None

    assert s.to_spec().partitions == spec and s.partitions == StaticPartitions(["a"])


def test_run_builtin_check() -> None:
    table = pa.table({"id": [1, 2, 2, None], "day": ["a", "b", "c", "d"]})
    assert run_builtin_check(row_count(min=1, max=4), table).passed is True
    low = run_builtin_check(row_count(min=5), table)
    assert low == CheckResult("row_count", False, "4 rows, fewer than 5", True)
    assert run_builtin_check(row_count(max=3), table).message == "4 rows, more than 3"
    nulls = run_builtin_check(not_null("id", "day"), table)
    assert nulls.passed is False and nulls.message == "id: 1 null(s)"
    assert run_builtin_check(not_null("day"), table).passed is True
    dupes = run_builtin_check(unique("id"), table)
    assert dupes.passed is False and dupes.message == "1 duplicate row(s) over id"
    assert run_builtin_check(unique("id", "day"), table).passed is True
    missing = run_builtin_check(not_null("nope"), table)
    assert missing.passed is False and "no column 'nope'" in missing.message
    later = run_builtin_check(freshness(10, blocking=False), table)
    assert later.passed is None and later.blocking is False
    assert run_builtin_check(sql_check("q", "select 1"), table).passed is None
    assert run_builtin_check(unique("id"), pa.table({"id": pa.array([], pa.int64())})).passed


def test_public_names() -> None:
    names = [
        "asset", "AssetContext", "AssetDef", "RetryPolicy", "DailyPartitions",
        "HourlyPartitions", "MonthlyPartitions", "StaticPartitions", "MultiPartitions",
        "row_count", "not_null", "unique", "freshness", "sql_check", "check",
    ]  # fmt: skip
    for name in names:
        assert name in arco.__all__ and getattr(arco, name) is not None
