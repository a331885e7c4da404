"""The ``arco`` command line: happy paths, JSON output, exit codes, isolation, parsing."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import typer
from typer.testing import CliRunner, Result

from arco.catalog import Catalog, ColumnSpec
from arco.cli import app
from arco.cli.context import parse_column_spec, parse_pairs
from arco.core.scope import Scope

runner = CliRunner()

ORDERS = [
    "-c",
    "id:int64:not-null",
    "-c",
    "customer:string",
    "-c",
    "amount:decimal128(12, 2)",
    "-c",
    "ordered_at:timestamp[us, tz=UTC]",
]


@dataclass
class Cli:
    """Runs ``arco --store URL ...`` in-process against one temporary local store."""

    root: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"file://{self.root}"

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(app, ["--store", self.url, *args], env={**self.env, **(env or {})})

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def catalog(self, tenant: str = "default", workspace: str = "default") -> Catalog:
        return Catalog.open(self.url, Scope(tenant, workspace))

    def files(self) -> dict[str, bytes]:
        """Every file of the store (the lease lock's own file excluded: taking the lock to
        find out that a request fails rewrites it, which is not catalog state)."""
        if not self.root.exists():
            return {}
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file() and "locks" not in p.relative_to(self.root).parts
        }

    def listing(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*"))


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "store")


@pytest.fixture
def sales(cli: Cli) -> Cli:
    """A store with namespace ``sales`` holding table ``orders``."""
    cli.ok("ns", "create", "sales", "--description", "Sales data")
    cli.ok("table", "register", "sales", "orders", *ORDERS)
    return cli


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return lines[0]


# --- happy path -------------------------------------------------------------------------


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("arco ")


def test_happy_path(cli: Cli) -> None:
    out = cli.ok("ns", "create", "sales", "--description", "Sales data", "-p", "owner=bi").stdout
    assert "created namespace 'sales'" in out
    cli.ok("ns", "create", "staging")
    registered = cli.ok("table", "register", "sales", "orders", *ORDERS, "--description", "Orders")
    assert "registered table 'sales'.'orders' (4 columns" in registered.stdout
    cli.ok(
        "table", "register", "sales", "customers", "-c", "id:int64:required", "-c", "name:string"
    )

    listing = cli.ok("ns", "list").stdout
    assert "sales" in listing and "staging" in listing and "owner=bi" in listing
    tables = cli.ok("table", "list", "sales").stdout
    assert "orders" in tables and "customers" in tables
    shown = cli.ok("table", "show", "sales", "orders").stdout
    for text in ("sales.orders", "decimal128(12, 2)", "timestamp[us, tz=UTC]", "Orders"):
        assert text in shown
    assert "Sales data" in cli.ok("ns", "show", "sales").stdout

    out = cli.ok(
        "table",
        "update",
        "sales",
        "orders",
        "--add-column",
        "note:string",
        "--rename-column",
        "customer=customer_id",
        "--set",
        "tier=gold",
        "--description",
        "All orders",
    ).stdout
    assert "updated table 'sales'.'orders' (5 columns" in out
    table = cli.catalog().get_table("sales", "orders")
    assert [c.name for c in table.columns] == [
        "id",
        "customer_id",
        "amount",
        "ordered_at",
        "note",
    ]
    assert table.properties == {"tier": "gold"}
    assert table.description == "All orders"

    cli.ok("table", "update", "sales", "orders", "--drop-column", "note", "--unset", "tier")
    cli.ok("ns", "update", "sales", "--set", "a=1", "--set", "b=2", "--unset", "owner")
    assert cli.catalog().get_namespace("sales").properties == {"a": "1", "b": "2"}

    renamed = cli.ok(
        "table", "rename", "sales", "orders", "raw_orders", "--to-namespace", "staging"
    )
    assert "renamed table 'staging'.'raw_orders'" in renamed.stdout
    assert [t.name for t in cli.catalog().list_tables("staging").items] == ["raw_orders"]
    cli.ok("table", "drop", "staging", "raw_orders")
    cli.ok("ns", "drop", "staging")
    assert [ns.name for ns in cli.catalog().list_namespaces().items] == ["sales"]


def test_json_outputs_equal_the_library_view(cli: Cli) -> None:
    created = cli.json("ns", "create", "sales", "--description", "d", "-p", "k=v")
    registered = cli.json("table", "register", "sales", "orders", *ORDERS)
    catalog = cli.catalog()
    ns = catalog.get_namespace("sales").model_dump(mode="json")
    table = catalog.get_table("sales", "orders").model_dump(mode="json")
    assert created == ns
    assert registered == table
    assert cli.json("ns", "show", "sales") == ns
    assert cli.json("ns", "list") == [ns]
    assert cli.json("table", "show", "sales", "orders") == table
    assert cli.json("table", "list", "sales") == [table]
    assert table["columns"][0] == {**table["columns"][0], "name": "id", "nullable": False}
    assert table["columns"][3]["type"] == "timestamp[us, tz=UTC]"

    updated = cli.json("table", "update", "sales", "orders", "--add-column", "x:int32")
    assert updated == cli.catalog().get_table("sales", "orders").model_dump(mode="json")
    assert updated["version"] == table["version"] + 1
    dropped = cli.json("table", "drop", "sales", "orders", "--if-match", str(updated["version"]))
    assert dropped["table_id"] == table["table_id"]


def test_ns_list_follows_every_page(cli: Cli) -> None:
    names = [f"ns{i}" for i in range(5)]
    for name in names:
        cli.ok("ns", "create", name)
    assert [n["name"] for n in cli.json("ns", "list", "--limit", "2")] == names
    assert "ns4" in cli.ok("ns", "list", "--limit", "2").stdout

    first = cli.json("ns", "list", "--limit", "2", "--page-token", "")
    assert [n["name"] for n in first["items"]] == names[:2]
    second = cli.json("ns", "list", "--limit", "2", "--page-token", first["next_page_token"])
    assert [n["name"] for n in second["items"]] == names[2:4]
    text = cli.ok("ns", "list", "--limit", "2", "--page-token", "").stdout
    assert f"next page token: {first['next_page_token']}" in text


def test_table_list_follows_every_page(sales: Cli) -> None:
    for i in range(3):
        sales.ok("table", "register", "sales", f"t{i}", "-c", "a:int64")
    names = [t["name"] for t in sales.json("table", "list", "sales", "--limit", "1")]
    assert names == ["orders", "t0", "t1", "t2"]


def test_idempotency_key_replay_returns_the_same_result(cli: Cli) -> None:
    first = cli.json("ns", "create", "sales", "--idempotency-key", "k-1")
    again = cli.json("ns", "create", "sales", "--idempotency-key", "k-1")
    assert again == first
    t1 = cli.json("table", "register", "sales", "orders", *ORDERS, "--idempotency-key", "k-2")
    t2 = cli.json("table", "register", "sales", "orders", *ORDERS, "--idempotency-key", "k-2")
    assert t1["table_id"] == t2["table_id"] and t1["version"] == t2["version"]
    assert cli.catalog().snapshot_version() == 2

    line = one_error_line(cli("ns", "create", "other", "--idempotency-key", "k-1"))
    assert "idempotency_key" in line


def test_if_match(sales: Cli) -> None:
    version = sales.catalog().get_namespace("sales").version
    line = one_error_line(sales("ns", "update", "sales", "--description", "x", "--if-match", "99"))
    assert "if_match" in line
    sales.ok("ns", "update", "sales", "--description", "x", "--if-match", str(version))


# --- errors: exit 1, one stderr line, nothing written -----------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ns", "show", "missing"], "error: namespace 'missing' does not exist"),
        (["ns", "drop", "missing"], "error: namespace 'missing' does not exist"),
        (["ns", "create", "sales"], "error: namespace 'sales' already exists"),
        (["ns", "create", "SALES"], "error: namespace 'SALES' already exists"),
        (["ns", "create", "../x"], "error: name: must not contain '/' (got '../x')"),
        (["ns", "create", "a/b"], "error: name: must not contain '/' (got 'a/b')"),
        (["ns", "create", " padded"], "must not start or end with whitespace"),
        (["ns", "create", "x", "-p", "k\x01=v"], "properties: key"),
        (["ns", "drop", "sales"], "error: namespace 'sales' is not empty (1 tables)"),
        (["ns", "update", "sales", "--description", "x", "--if-match", "99"], "if_match"),
        (["table", "show", "sales", "missing"], "does not exist"),
        (["table", "list", "missing"], "namespace 'missing' does not exist"),
        (["table", "register", "sales", "orders", "-c", "a:int64"], "already exists"),
        (["table", "register", "missing", "t", "-c", "a:int64"], "does not exist"),
        (["table", "register", "sales", "../x", "-c", "a:int64"], "name: must not contain '/'"),
        (["table", "register", "a/b", "t", "-c", "a:int64"], "namespace: must not contain '/'"),
        (["table", "register", "sales", "t", "-c", "a:notatype"], "columns[0].type: unknown"),
        (["table", "register", "sales", "t", "-c", "ts:timestamp[us, tz=Mars/Base]"], "type"),
        (["table", "register", "sales", "t", "-c", "a/b:int64"], "columns[0].name"),
        (
            ["table", "register", "sales", "t", "-c", "a:int64", "-c", "A:string"],
            "error: columns: duplicate column name 'A'",
        ),
        (["table", "register", "sales", "t", "--format", "par quet"], "format:"),
        (["table", "update", "sales", "orders", "--add-column", "id:int64"], "already exists"),
        (["table", "update", "sales", "orders", "--drop-column", "nope"], "does not exist"),
        (["table", "update", "sales", "orders", "--add-column", "x:bogus"], "add_columns[0]"),
        (["table", "rename", "sales", "orders", "x", "--to-namespace", "nope"], "'nope'"),
        (["table", "drop", "sales", "missing"], "does not exist"),
        (["--store", "ftp://x", "ns", "list"], "error: store url scheme 'ftp'"),
    ],
)
def test_errors_exit_1_with_one_line_and_write_nothing(
    sales: Cli, args: list[str], message: str
) -> None:
    before_listing, before_files = sales.listing(), sales.files()
    line = one_error_line(sales(*args))
    assert message in line
    assert sales.listing() == before_listing
    assert sales.files() == before_files


@pytest.mark.parametrize(
    "args",
    [
        ["ns", "create"],
        ["ns", "show"],
        ["table", "register", "sales"],
        ["table", "register", "sales", "t", "-c", "nocolon"],
        ["table", "register", "sales", "t", "-c", "a:"],
        ["table", "register", "sales", "t", "-c", "a:not-null"],
        ["table", "register", "sales", "t", "-c", ":int64"],
        ["table", "register", "sales", "t", "-c", "a:int64", "-p", "novalue"],
        ["table", "update", "sales", "orders"],
        ["table", "update", "sales", "orders", "--add-column", "x"],
        ["table", "update", "sales", "orders", "--rename-column", "a"],
        ["ns", "update", "sales"],
        ["ns", "create", "x", "-p", "k=1", "-p", "k=2"],
        ["ns", "list", "--limit", "0"],
        ["ns", "drop", "sales", "--if-match", "abc"],
        ["ns", "frobnicate"],
        ["query", "SELECT 1", "--json", "--csv"],
        ["--nope"],
        [],
    ],
)
def test_usage_errors_exit_2(sales: Cli, args: list[str]) -> None:
    before = sales.files()
    result = sales(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    assert sales.files() == before


def test_missing_type_names_the_option(sales: Cli) -> None:
    result = sales("table", "update", "sales", "orders", "--add-column", "x")
    assert result.exit_code == 2
    assert "--add-column" in result.stderr
    assert "type is missing" in result.stderr


def test_unexpected_exception_is_one_line_unless_debug(
    sales: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: Catalog, name: str) -> None:
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(Catalog, "get_namespace", boom)
    line = one_error_line(sales("ns", "show", "sales"))
    assert line == "error: internal error: RuntimeError: boom second line"

    result = sales("ns", "show", "sales", env={"ARCO_DEBUG": "1"})
    assert isinstance(result.exception, RuntimeError)


def test_catalog_is_closed_on_success_and_failure(
    sales: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[int] = []
    original = Catalog.close

    def close(self: Catalog) -> None:
        closed.append(1)
        original(self)

    monkeypatch.setattr(Catalog, "close", close)
    sales.ok("ns", "list")
    sales("ns", "show", "missing")
    assert closed == [1, 1]


# --- scope --------------------------------------------------------------------------------


def test_tenant_and_workspace_isolate(cli: Cli) -> None:
    cli.ok("--workspace", "w1", "ns", "create", "sales")
    assert cli.json("--workspace", "w2", "ns", "list") == []
    assert cli.json("--tenant", "t2", "--workspace", "w1", "ns", "list") == []
    line = one_error_line(cli("--workspace", "w2", "ns", "show", "sales"))
    assert line == "error: namespace 'sales' does not exist"
    assert [n["name"] for n in cli.json("--workspace", "w1", "ns", "list")] == ["sales"]
    # the environment variables select the scope too
    env = {"ARCO_TENANT": "default", "ARCO_WORKSPACE": "w1"}
    result = runner.invoke(app, ["--store", cli.url, "ns", "list", "--json"], env=env)
    assert [n["name"] for n in json.loads(result.stdout)] == ["sales"]
    result = runner.invoke(app, ["ns", "list", "--json"], env={**env, "ARCO_STORE": cli.url})
    assert [n["name"] for n in json.loads(result.stdout)] == ["sales"]
    # the same name can exist independently in another workspace
    other = cli.json("--workspace", "w2", "ns", "create", "sales")
    assert other["namespace_id"] != cli.catalog("default", "w1").get_namespace("sales").namespace_id
    assert sorted(p.name for p in (cli.root / "tenant=default").iterdir()) == [
        "workspace=w1",
        "workspace=w2",
    ]


@pytest.mark.parametrize(
    ("option", "value"),
    [("--tenant", "BAD"), ("--tenant", "../x"), ("--workspace", "a/b"), ("--workspace", "")],
)
def test_invalid_scope_exits_1_naming_the_option(cli: Cli, option: str, value: str) -> None:
    line = one_error_line(cli(option, value, "ns", "create", "sales"))
    assert line.startswith(f"error: {option.lstrip('-')}: must be 1-63 characters")
    assert cli.files() == {}


# --- option parsing -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("id:int64", ("id", "int64", True)),
        ("id:int64:not-null", ("id", "int64", False)),
        ("id:int64:required", ("id", "int64", False)),
        ("id:int64:nullable", ("id", "int64", True)),
        ("id:int64:null", ("id", "int64", True)),
        ("id:int64:NOT-NULL", ("id", "int64", False)),
        ("ts:timestamp[us, tz=UTC]", ("ts", "timestamp[us, tz=UTC]", True)),
        ("ts:timestamp[us, tz=UTC]:not-null", ("ts", "timestamp[us, tz=UTC]", False)),
        ("ts:timestamp[us, tz=+05:30]:required", ("ts", "timestamp[us, tz=+05:30]", False)),
        ("amount:decimal128(10, 2)", ("amount", "decimal128(10, 2)", True)),
        ("m:map<string, list<item: int64>>:null", ("m", "map<string, list<item: int64>>", True)),
        ("s:struct<a: int64, b: string>", ("s", "struct<a: int64, b: string>", True)),
        ("n:null", ("n", "null", True)),
        ("n:null:not-null", ("n", "null", False)),
        ("Ünïcode name:string", ("Ünïcode name", "string", True)),
    ],
)
def test_parse_column_spec(text: str, expected: tuple[str, str, bool]) -> None:
    name, type_, nullable = expected
    assert parse_column_spec(text) == ColumnSpec(name=name, type=type_, nullable=nullable)


@pytest.mark.parametrize("text", ["id", "id:", ":int64", "id:not-null", "id:  :required", ""])
def test_parse_column_spec_rejects(text: str) -> None:
    with pytest.raises(typer.BadParameter) as info:
        parse_column_spec(text, "--add-column")
    assert "'--add-column'" in str(info.value.param_hint)


def test_parse_pairs() -> None:
    assert parse_pairs(["a=1", "b=x=y", "c="], "--set") == {"a": "1", "b": "x=y", "c": ""}
    assert parse_pairs(None, "--set") == {}
    for bad in (["a"], ["=1"], ["a=1", "a=2"]):
        with pytest.raises(typer.BadParameter):
            parse_pairs(bad, "--set")


# --- verify, query, bench (their implementations are faked here) -----------------------


@dataclass
class FakeFinding:
    domain: str
    code: str
    message: str
    key: str | None


@dataclass
class FakeReport:
    findings: list[FakeFinding]
    checked: dict[str, int]
    warnings: list[FakeFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "findings": [f.__dict__ for f in self.findings],
        }


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_verify_ok_and_findings(sales: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []
    findings: list[FakeFinding] = []

    def verify_scope(store: Any, *, progress: Any = None) -> FakeReport:
        seen.append(store)
        if progress is not None:
            progress("catalog")
        return FakeReport(list(findings), {"manifests": 1, "snapshots": 2})

    fake_module(monkeypatch, "arco.maintenance.verify", verify_scope=verify_scope)
    out = sales.ok("verify").stdout
    assert "manifests=1" in out and "no findings" in out
    # the scoped store: keys are relative to tenant=default/workspace=default/
    keys = [meta.key for meta in seen[0].list()]
    assert "manifests/catalog.manifest.json" in keys
    assert sales.json("verify") == {
        "ok": True,
        "checked": {"manifests": 1, "snapshots": 2},
        "findings": [],
    }

    findings.append(FakeFinding("catalog", "ORPHAN", "orphan snapshot", "snapshots/x"))
    result = sales("verify")
    assert result.exit_code == 1
    assert "ORPHAN" in result.stdout and "orphan snapshot" in result.stdout
    assert result.stderr == "error: verify: 1 finding(s)\n"
    result = sales("verify", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["findings"][0]["code"] == "ORPHAN"


def test_query_outputs(sales: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Catalog, str]] = []
    ts = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)

    def run_query(catalog: Catalog, sql: str) -> pa.Table:
        calls.append((catalog, sql))
        return pa.table(
            {
                "name": pa.array(["orders", None]),
                "n": pa.array([1, 2], pa.int64()),
                "amount": pa.array([Decimal("1.50"), None], pa.decimal128(12, 2)),
                "at": pa.array([ts, None], pa.timestamp("us", tz="UTC")),
                "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
            }
        )

    fake_module(monkeypatch, "arco.query.views", run_query=run_query)
    sql = "SELECT * FROM system.tables"
    out = sales.ok("query", sql).stdout
    assert "orders" in out and "1.50" in out and "2 row(s)" in out
    assert calls[0][1] == sql and calls[0][0].scope == Scope("default", "default")

    rows = sales.json("query", sql)
    assert rows == [
        {
            "name": "orders",
            "n": 1,
            "amount": "1.50",
            "at": "2024-05-01T12:30:00+00:00",
            "tags": ["a", "b"],
        },
        {"name": None, "n": 2, "amount": None, "at": None, "tags": []},
    ]
    text = sales.ok("query", sql, "--csv").stdout
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed == [
        ["name", "n", "amount", "at", "tags"],
        ["orders", "1", "1.50", "2024-05-01T12:30:00+00:00", '["a", "b"]'],
        ["", "2", "", "", "[]"],
    ]


def test_query_error_is_one_line(sales: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    from arco.errors import ValidationError

    def run_query(catalog: Catalog, sql: str) -> pa.Table:
        raise ValidationError("sql: only SELECT statements are allowed")

    fake_module(monkeypatch, "arco.query.views", run_query=run_query)
    line = one_error_line(sales("query", "DROP TABLE x"))
    assert line == "error: sql: only SELECT statements are allowed"


def test_bench_catalog(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    def run_catalog_bench(
        json_path: Path | None, *, quick: bool, s3: bool, console: Any
    ) -> dict[str, Any]:
        calls.append({"json_path": json_path, "quick": quick, "s3": s3})
        return {"local": {"register_p50_ms": 3.5, "commits": 10}, "backends": ["local"]}

    fake_module(monkeypatch, "arco.bench.catalog", run_catalog_bench=run_catalog_bench)
    out = cli.ok("bench", "catalog", "--quick", "--no-s3", "--json", str(tmp_path / "b.json"))
    assert calls == [{"json_path": tmp_path / "b.json", "quick": True, "s3": False}]
    assert "local.register_p50_ms" in out.stdout and "3.5" in out.stdout
    cli.ok("bench", "catalog")
    assert calls[1] == {"json_path": None, "quick": False, "s3": True}


def test_real_verify_on_a_fresh_catalog(sales: Cli) -> None:
    import arco.maintenance.verify  # noqa: F401  (our own module: it must import)

    result = sales("verify", "--json")
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert json.loads(result.stdout)["ok"] is True


def test_real_query_over_system_tables(sales: Cli) -> None:
    import arco.query.views  # noqa: F401  (our own module: it must import)

    assert sales.json("query", "SELECT name FROM catalog.tables") == [{"name": "orders"}]


# --- the real entry points, in subprocesses -----------------------------------------------


def run_process(cmd: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("ARCO_")}
    return subprocess.run(
        cmd,
        cwd=cwd,
        env={**full_env, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_python_dash_m_arco_end_to_end(tmp_path: Path) -> None:
    arco = [sys.executable, "-m", "arco"]
    # the default store is file://./.arco, relative to the working directory
    created = run_process([*arco, "ns", "create", "sales", "--json"], tmp_path)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "sales"
    assert (tmp_path / ".arco" / "tenant=default" / "workspace=default").is_dir()

    reg = run_process([*arco, "table", "register", "sales", "orders", *ORDERS], tmp_path)
    assert reg.returncode == 0, reg.stderr
    shown = run_process([*arco, "table", "show", "sales", "orders", "--json"], tmp_path)
    catalog = Catalog.open(f"file://{tmp_path / '.arco'}")
    assert json.loads(shown.stdout) == catalog.get_table("sales", "orders").model_dump(mode="json")

    missing = run_process([*arco, "ns", "show", "nope"], tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == "error: namespace 'nope' does not exist\n"
    assert missing.stdout == ""

    usage = run_process([*arco, "table", "register", "sales", "t", "-c", "x"], tmp_path)
    assert usage.returncode == 2
    assert "--column" in usage.stderr and "Traceback" not in usage.stderr


def test_arco_script(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "arco"
    if not script.exists():
        pytest.skip("the arco console script is not installed next to this interpreter")
    version = run_process([str(script), "--version"], tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("arco ")
    store = f"file://{tmp_path}/s"
    bad = run_process([str(script), "ns", "list"], tmp_path, ARCO_STORE=store, ARCO_TENANT="Nope")
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: tenant: ") and bad.stderr.count("\n") == 1
    listed = run_process([str(script), "ns", "list", "--json"], tmp_path, ARCO_STORE=store)
    assert listed.returncode == 0 and json.loads(listed.stdout) == []


@pytest.mark.slow
def test_exit_status_is_stable_over_many_runs(tmp_path: Path) -> None:
    """pyarrow can abort the interpreter's final teardown at random (status 134); the entry
    point ends the process before that teardown, so every run reports its real status."""
    arco = [sys.executable, "-m", "arco"]
    assert run_process([*arco, "ns", "create", "sales"], tmp_path).returncode == 0
    reg = run_process([*arco, "table", "register", "sales", "orders", *ORDERS], tmp_path)
    assert reg.returncode == 0, reg.stderr
    codes = [
        run_process([*arco, "table", "list", "sales", "--json"], tmp_path).returncode
        for _ in range(40)
    ]
    assert codes == [0] * 40
