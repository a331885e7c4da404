"""``arco lineage add|remove|show``: edges, traversal, errors, idempotency, SQL view."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from arco.cli import app

runner = CliRunner()

#: raw -> clean -> agg -> report -> raw is a cycle; ext feeds agg from another namespace
EDGES = [
    ("s/raw", "s/clean", "--run-id", "r1"),
    ("s/clean", "s/agg"),
    ("s/agg", "s/report"),
    ("s/report", "s/raw"),
    ("x/ext", "s/agg", "--type", "feeds"),
]


class Arco:
    def __init__(self, root: Path) -> None:
        self.url = f"file://{root}"

    def __call__(self, *args: str) -> Result:
        return runner.invoke(app, ["--store", self.url, *args])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)

    def error(self, *args: str) -> str:
        """The one ``error: ...`` line of a command that must fail with status 1."""
        result = self(*args)
        assert result.exit_code == 1, (result.stdout, result.stderr, result.exception)
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        assert result.stdout == ""
        return lines[0]

    def graph(self, asset: str, *options: str) -> tuple[dict[str, int], set[tuple[str, str]]]:
        data = self.json("lineage", "show", asset, *options)
        nodes = {n["asset"]: n["distance"] for n in data["nodes"]}
        assert len(nodes) == len(data["nodes"])
        return nodes, {(e["source"], e["target"]) for e in data["edges"]}


@pytest.fixture
def arco(tmp_path: Path) -> Arco:
    return Arco(tmp_path / "store")


@pytest.fixture
def graph(arco: Arco) -> Arco:
    for source, target, *options in EDGES:
        arco.ok("lineage", "add", source, target, *options)
    return arco


def test_add_prints_the_edge(arco: Arco) -> None:
    out = arco.ok("lineage", "add", "s/raw", "s/clean", "--run-id", "r1").stdout
    assert out == "added edge s/raw -> s/clean (derives, run r1, version 1)\n"
    edge = arco.json("lineage", "add", "s/clean", "s/agg", "--type", "feeds")
    assert {k: edge[k] for k in ("source", "target", "edge_type", "run_id", "version")} == {
        "source": "s/clean",
        "target": "s/agg",
        "edge_type": "feeds",
        "run_id": None,
        "version": 2,
    }
    assert edge["edge_id"]
    # adding it again with a run id updates the same edge
    again = arco.json("lineage", "add", "s/clean", "s/agg", "--type", "feeds", "--run-id", "r2")
    assert again["edge_id"] == edge["edge_id"]
    assert (again["run_id"], again["version"]) == ("r2", 3)


def test_show_downstream_depths(graph: Arco) -> None:
    nodes, edges = graph.graph("s/raw", "--direction", "down", "--depth", "1")
    assert nodes == {"s/raw": 0, "s/clean": 1}
    assert edges == {("s/raw", "s/clean")}
    nodes, edges = graph.graph("s/raw", "--direction", "downstream", "--depth", "2")
    assert nodes == {"s/raw": 0, "s/clean": 1, "s/agg": 2}
    assert edges == {("s/raw", "s/clean"), ("s/clean", "s/agg")}
    # the cycle closes at depth 4 without revisiting s/raw
    nodes, edges = graph.graph("s/raw", "-d", "down", "--depth", "4")
    assert nodes == {"s/raw": 0, "s/clean": 1, "s/agg": 2, "s/report": 3}
    assert edges == {
        ("s/raw", "s/clean"),
        ("s/clean", "s/agg"),
        ("s/agg", "s/report"),
        ("s/report", "s/raw"),
    }


def test_show_upstream_depths(graph: Arco) -> None:
    nodes, edges = graph.graph("s/agg", "--direction", "up", "--depth", "1")
    assert nodes == {"s/agg": 0, "s/clean": 1, "x/ext": 1}
    assert edges == {("s/clean", "s/agg"), ("x/ext", "s/agg")}
    nodes, _ = graph.graph("s/agg", "--direction", "upstream", "--depth", "2")
    assert nodes == {"s/agg": 0, "s/clean": 1, "x/ext": 1, "s/raw": 2}
    nodes, edges = graph.graph("s/agg", "--direction", "up", "--depth", "50")
    assert nodes == {"s/agg": 0, "s/clean": 1, "x/ext": 1, "s/raw": 2, "s/report": 3}
    assert len(edges) == 5


def test_show_both_and_defaults(graph: Arco) -> None:
    nodes, edges = graph.graph("s/clean", "--depth", "1")
    assert nodes == {"s/clean": 0, "s/raw": 1, "s/agg": 1}
    assert edges == {("s/raw", "s/clean"), ("s/clean", "s/agg")}
    nodes, _ = graph.graph("s/clean", "--direction", "both", "--depth", "2")
    assert nodes == {"s/clean": 0, "s/raw": 1, "s/agg": 1, "s/report": 2, "x/ext": 2}
    data = graph.json("lineage", "show", "s/clean")
    assert (data["root"], data["direction"], data["depth"]) == ("s/clean", "both", 3)
    # an asset without edges is a graph of one node
    lonely = graph.json("lineage", "show", "z/none")
    assert lonely["nodes"] == [{"asset": "z/none", "distance": 0}]
    assert lonely["edges"] == []


def test_show_text(graph: Arco) -> None:
    out = graph.ok("lineage", "show", "s/raw", "--depth", "4").stdout
    assert "lineage of s/raw (both, depth 4)" in out
    for text in ("s/clean", "s/report", "x/ext", "feeds", "r1", "(upstream)", "(downstream)"):
        assert text in out
    assert "(cycle)" in out
    down = graph.ok("lineage", "show", "s/raw", "-d", "down").stdout
    assert "(downstream)" in down and "(upstream)" not in down
    assert "no edges" in graph.ok("lineage", "show", "z/none").stdout


def test_remove(graph: Arco) -> None:
    out = graph.ok("lineage", "remove", "s/report", "s/raw").stdout
    assert out.startswith("removed edge s/report -> s/raw (derives, version ")
    nodes, _ = graph.graph("s/raw", "-d", "up")
    assert nodes == {"s/raw": 0}
    # the type is part of the edge's identity
    line = graph.error("lineage", "remove", "x/ext", "s/agg")
    assert line == "error: edge x/ext -> s/agg (derives) does not exist"
    removed = graph.json("lineage", "remove", "x/ext", "s/agg", "--type", "feeds")
    assert (removed["source"], removed["target"], removed["edge_type"]) == (
        "x/ext",
        "s/agg",
        "feeds",
    )
    nodes, _ = graph.graph("s/agg", "-d", "up", "--depth", "1")
    assert nodes == {"s/agg": 0, "s/clean": 1}


def test_errors_are_one_line(graph: Arco) -> None:
    assert "asset_key" in graph.error("lineage", "show", "nodelimiter")
    assert "source" in graph.error("lineage", "add", "nodelimiter", "s/raw")
    assert "target" in graph.error("lineage", "add", "s/raw", "a/b/c")
    assert "itself" in graph.error("lineage", "add", "s/raw", "s/raw")
    assert "itself" in graph.error("lineage", "add", "s/raw", "S/RAW")
    assert "edge_type" in graph.error("lineage", "add", "s/raw", "s/new", "--type", "Bad-Type")
    assert "does not exist" in graph.error("lineage", "remove", "s/raw", "s/agg")
    # a stale --if-match on an existing edge
    assert graph.error("lineage", "add", "s/raw", "s/clean", "--run-id", "r9", "--if-match", "99")


@pytest.mark.parametrize(
    "options",
    [
        ("--depth", "0"),
        ("--depth", "51"),
        ("--depth", "x"),
        ("--direction", "sideways"),
    ],
)
def test_bad_show_options_are_usage_errors(graph: Arco, options: tuple[str, ...]) -> None:
    result = graph("lineage", "show", "s/raw", *options)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert options[0] in result.stderr


def test_idempotency_key_replay(arco: Arco) -> None:
    first = arco.json("lineage", "add", "s/raw", "s/clean", "--idempotency-key", "k-1")
    again = arco.json("lineage", "add", "s/raw", "s/clean", "--idempotency-key", "k-1")
    assert again == first
    # the same key for another request is refused
    assert "idempotency" in arco.error("lineage", "add", "s/a", "s/b", "--idempotency-key", "k-1")
    gone = arco.json("lineage", "remove", "s/raw", "s/clean", "--idempotency-key", "k-2")
    replay = arco.json("lineage", "remove", "s/raw", "s/clean", "--idempotency-key", "k-2")
    assert replay == gone
    assert gone["edge_id"] == first["edge_id"]
    assert arco.graph("s/raw")[0] == {"s/raw": 0}


def test_if_match(arco: Arco) -> None:
    edge = arco.json("lineage", "add", "s/raw", "s/clean", "--if-match", "0")
    updated = arco.json(
        "lineage", "add", "s/raw", "s/clean", "--run-id", "r2", "--if-match", str(edge["version"])
    )
    assert updated["run_id"] == "r2"
    assert arco.error("lineage", "remove", "s/raw", "s/clean", "--if-match", "1")
    arco.ok("lineage", "remove", "s/raw", "s/clean", "--if-match", str(updated["version"]))


def test_query_lineage_edges(graph: Arco) -> None:
    rows = graph.json("query", "SELECT source, target FROM lineage.edges ORDER BY 1, 2")
    assert rows == [
        {"source": "s/agg", "target": "s/report"},
        {"source": "s/clean", "target": "s/agg"},
        {"source": "s/raw", "target": "s/clean"},
        {"source": "s/report", "target": "s/raw"},
        {"source": "x/ext", "target": "s/agg"},
    ]
    out = graph.ok("query", "SELECT source, target FROM lineage.edges ORDER BY 1").stdout
    assert "s/report" in out and "x/ext" in out
