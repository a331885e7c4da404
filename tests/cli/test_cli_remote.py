"""The CLI with ``--url``: the same commands against a real server (uvicorn on loopback)."""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from typer.testing import CliRunner, Result

from arco.cli import app
from arco.server.settings import AuthSettings


def _load_live_server() -> Any:
    path = Path(__file__).resolve().parents[1] / "client" / "live_server.py"
    spec = importlib.util.spec_from_file_location("arco_test_live_server", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.LiveServer


LiveServer = _load_live_server()
runner = CliRunner()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Any]:
    with LiveServer(tmp_path / "served") as live:
        yield live


def arco(url: str, *args: str, input: str | None = None, **env: str) -> Result:
    # --store points at a directory the server never uses: remote commands must not touch it
    return runner.invoke(
        app, ["--url", url, "--store", "file:///nonexistent/arco", *args], input=input, env=env
    )


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def test_namespaces_and_tables_through_the_server(server: Any) -> None:
    url = server.url
    created = as_json(
        arco(url, "ns", "create", "sales", "--description", "Orders", "-p", "o=bi", "--json")
    )
    assert (created["name"], created["properties"]) == ("sales", {"o": "bi"})
    ok(arco(url, "ns", "create", "raw"))
    assert [n["name"] for n in as_json(arco(url, "ns", "list", "--json"))] == ["raw", "sales"]
    page = as_json(arco(url, "ns", "list", "--limit", "1", "--page-token", "", "--json"))
    assert [n["name"] for n in page["items"]] == ["raw"] and page["next_page_token"]
    shown = ok(arco(url, "ns", "show", "sales")).stdout
    assert "Orders" in shown and created["namespace_id"] in shown
    updated = as_json(
        arco(
            url,
            "ns",
            "update",
            "sales",
            "--set",
            "tier=1",
            "--if-match",
            str(created["version"]),
            "--json",
        )
    )
    assert updated["properties"] == {"o": "bi", "tier": "1"}

    registered = ok(
        arco(url, "table", "register", "raw", "orders", "-c", "id:int64:not-null", "-c", "x:string")
    )
    assert "registered table 'raw'.'orders' (2 columns" in registered.stdout
    listed = as_json(arco(url, "table", "list", "raw", "--json"))
    assert [t["name"] for t in listed] == ["orders"]
    ok(arco(url, "table", "update", "raw", "orders", "--add-column", "ts:timestamp[us]"))
    table = as_json(arco(url, "table", "show", "raw", "orders", "--json"))
    assert [c["name"] for c in table["columns"]] == ["id", "x", "ts"]
    renamed = as_json(
        arco(
            url, "table", "rename", "raw", "orders", "orders2", "--to-namespace", "sales", "--json"
        )
    )
    assert (renamed["namespace"], renamed["name"]) == ("sales", "orders2")
    assert renamed["table_id"] == table["table_id"]
    dropped = ok(arco(url, "table", "drop", "sales", "orders2"))
    assert "dropped table 'sales'.'orders2'" in dropped.stdout
    assert ok(arco(url, "ns", "drop", "raw")).stdout.startswith("dropped namespace 'raw'")
    assert [n["name"] for n in as_json(arco(url, "ns", "list", "--json"))] == ["sales"]

    # the server's store holds it all; the --store directory was never created
    assert not Path("/nonexistent/arco").exists()
    assert (server.store / "tenant=default" / "workspace=default").is_dir()


def test_scope_options_become_dev_headers(server: Any) -> None:
    ok(arco(server.url, "--tenant", "acme", "--workspace", "w1", "ns", "create", "secret"))
    assert as_json(
        arco(server.url, "--tenant", "acme", "--workspace", "w1", "ns", "list", "--json")
    )
    assert as_json(arco(server.url, "ns", "list", "--json")) == []
    assert (server.store / "tenant=acme" / "workspace=w1").is_dir()
    # ARCO_URL / ARCO_TENANT from the environment
    env_result = runner.invoke(
        app,
        ["ns", "list", "--json"],
        env={"ARCO_URL": server.url, "ARCO_TENANT": "acme", "ARCO_WORKSPACE": "w1"},
    )
    assert [n["name"] for n in json.loads(ok(env_result).stdout)] == ["secret"]


def test_lineage_search_events_and_materializations(server: Any, tmp_path: Path) -> None:
    url = server.url
    ok(arco(url, "ns", "create", "sales", "--description", "Revenue"))
    ok(arco(url, "table", "register", "sales", "orders", "-c", "customer:string"))
    added = ok(arco(url, "lineage", "add", "raw/orders", "sales/orders", "--run-id", "r1"))
    assert "added edge raw/orders -> sales/orders (derives, run r1" in added.stdout
    graph = as_json(arco(url, "lineage", "show", "sales/orders", "-d", "up", "--json"))
    assert graph["direction"] == "upstream"
    assert {n["asset"] for n in graph["nodes"]} == {"sales/orders", "raw/orders"}
    assert "raw/orders" in ok(arco(url, "lineage", "show", "sales/orders")).stdout
    removed = ok(arco(url, "lineage", "remove", "raw/orders", "sales/orders"))
    assert "removed edge raw/orders -> sales/orders" in removed.stdout
    assert as_json(arco(url, "lineage", "show", "sales/orders", "--json"))["edges"] == []

    hits = as_json(arco(url, "search", "revenue", "--json"))
    assert [(h["kind"], h["namespace"]) for h in hits] == [("namespace", "sales")]
    assert "customer" in ok(arco(url, "search", "cust")).stdout

    events = tmp_path / "events.jsonl"
    events.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_type": "materialization",
                    "asset_key": "sales/orders",
                    "run_id": r,
                    "status": "succeeded",
                    "rows": n,
                }
            )
            for r, n in (("r1", 5), ("r2", 7))
        )
        + "\n"
    )
    appended = ok(arco(url, "events", "append", str(events)))
    assert appended.stdout.startswith("appended 2 events to executions")
    listed: list[Any] = []
    deadline = time.monotonic() + 10
    while len(listed) < 2 and time.monotonic() < deadline:
        listed = as_json(arco(url, "materializations", "list", "--json"))
        time.sleep(0.05)
    assert sorted(m["rows"] for m in listed) == [5, 7]
    one = as_json(arco(url, "materializations", "show", listed[0]["materialization_id"], "--json"))
    assert one == listed[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"event_type": "materialization", "asset_key": "a/b"}\n')
    failed = arco(url, "events", "append", str(bad))
    assert failed.exit_code == 1 and failed.stderr.startswith("error: line 1: ")


def test_query_through_the_server(server: Any) -> None:
    url = server.url
    ok(arco(url, "ns", "create", "b"))
    ok(arco(url, "ns", "create", "a"))
    sql = "SELECT name FROM catalog.namespaces ORDER BY name"
    assert as_json(arco(url, "query", sql, "--json")) == [{"name": "a"}, {"name": "b"}]
    assert ok(arco(url, "query", sql, "--csv")).stdout == "name\na\nb\n"
    assert "2 row(s)" in ok(arco(url, "query", sql)).stdout
    refused = arco(url, "query", "DELETE FROM catalog.namespaces")
    assert refused.exit_code == 1 and refused.stderr.startswith("error: ")
    assert len(refused.stderr.strip().splitlines()) == 1


def test_errors_are_one_line_and_exit_1(server: Any) -> None:
    url = server.url
    missing = arco(url, "ns", "show", "nope")
    assert (missing.exit_code, missing.stderr) == (1, "error: namespace 'nope' does not exist\n")
    ok(arco(url, "ns", "create", "sales"))
    twice = arco(url, "ns", "create", "sales")
    assert twice.exit_code == 1 and "already exists" in twice.stderr
    stale = arco(url, "ns", "update", "sales", "--description", "x", "--if-match", "99")
    assert stale.exit_code == 1 and stale.stderr.startswith("error: ")
    ok(arco(url, "ns", "create", "k", "--idempotency-key", "key-1"))
    replay = as_json(arco(url, "ns", "create", "k", "--idempotency-key", "key-1", "--json"))
    assert replay["name"] == "k"
    reused = arco(url, "ns", "create", "other", "--idempotency-key", "key-1")
    assert reused.exit_code == 1 and "key-1" in reused.stderr


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["gc", "--dry-run"], "gc"),
        (["verify"], "verify"),
        (["compact"], "compact"),
        (["bench", "catalog", "--quick"], "bench"),
        (["events", "list"], "events list"),
        (["serve"], "serve"),
    ],
)
def test_store_only_commands_refuse_url(server: Any, args: list[str], name: str) -> None:
    result = arco(server.url, *args)
    assert result.exit_code == 1
    assert result.stderr == f"error: {name} works on a store, not with --url\n"


def test_quarantine_needs_a_store(server: Any, tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_text(
        '{"event_type": "materialization", "asset_key": "a/b", "run_id": "r", '
        '"status": "started"}\n'
    )
    result = arco(server.url, "events", "append", str(events), "--unknown", "quarantine")
    assert result.exit_code == 1
    assert result.stderr == (
        "error: events append --unknown quarantine works on a store, not with --url\n"
    )


def test_unreachable_server_is_one_line_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = arco(f"http://127.0.0.1:{port}", "ns", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: GET /api/v1/namespaces: cannot reach")
    assert len(result.stderr.splitlines()) == 1


def test_bearer_token_comes_from_the_environment(tmp_path: Path) -> None:
    secret = "s" * 32
    auth = AuthSettings(algorithms=("HS256",), secret=secret)
    claims = {"sub": "ann", "tenant": "acme", "workspace": "prod", "exp": int(time.time()) + 600}
    token = jwt.encode(claims, secret, algorithm="HS256")
    with LiveServer(tmp_path / "prod", dev=False, auth=auth) as live:
        denied = arco(live.url, "ns", "list")
        assert denied.exit_code == 1 and denied.stderr.startswith("error: ")
        ok(arco(live.url, "ns", "create", "sales", ARCO_TOKEN=token))
        named = runner.invoke(
            app,
            ["--url", live.url, "--token-env", "MY_TOKEN", "ns", "list", "--json"],
            env={"MY_TOKEN": token},
        )
        assert [n["name"] for n in json.loads(ok(named).stdout)] == ["sales"]
        assert (live.store / "tenant=acme" / "workspace=prod").is_dir()
