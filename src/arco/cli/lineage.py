"""``arco lineage ...``: add and remove edges between assets, show the graph around one."""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

import typer
from rich.text import Text
from rich.tree import Tree

from arco.cli.context import (
    CliContext,
    IdempotencyKey,
    IfMatch,
    JsonFlag,
    current,
    print_json,
    table,
)
from arco.lineage import MAX_DEPTH, Direction, Edge, LineageGraph

app = typer.Typer(
    name="lineage",
    help="Add and remove lineage edges between assets; show the graph around an asset.",
    no_args_is_help=True,
)

_DIRECTIONS: dict[str, Direction] = {
    "up": "upstream",
    "upstream": "upstream",
    "down": "downstream",
    "downstream": "downstream",
    "both": "both",
}

SourceArg = Annotated[str, typer.Argument(metavar="SOURCE", help="Upstream asset (ns/name).")]
TargetArg = Annotated[str, typer.Argument(metavar="TARGET", help="Downstream asset (ns/name).")]
EdgeTypeOpt = Annotated[
    str,
    typer.Option(
        "--type", metavar="TYPE", help="Edge type: 1-32 characters of [a-z0-9_], e.g. derives."
    ),
]


def _done(cli: CliContext, verb: str, edge: Edge, as_json: bool) -> None:
    if as_json:
        print_json(edge)
        return
    run = f", run {edge.run_id}" if edge.run_id else ""
    cli.say(
        f"{verb} edge {edge.source} -> {edge.target} "
        f"({edge.edge_type}{run}, version {edge.version})"
    )


@app.command("add")
def add(
    ctx: typer.Context,
    source: SourceArg,
    target: TargetArg,
    edge_type: EdgeTypeOpt = "derives",
    run_id: Annotated[
        str | None, typer.Option("--run-id", metavar="RUN", help="Run that produced the edge.")
    ] = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Record that SOURCE feeds TARGET (adding an existing edge updates its run id).

    --if-match takes the lineage snapshot version for a new edge, the edge's version for an
    existing one.
    """
    cli = current(ctx)
    edge = cli.catalog.add_lineage_edge(
        source,
        target,
        edge_type=edge_type,
        run_id=run_id,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    _done(cli, "added", edge, as_json)


@app.command("remove")
def remove(
    ctx: typer.Context,
    source: SourceArg,
    target: TargetArg,
    edge_type: EdgeTypeOpt = "derives",
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove the edge SOURCE -> TARGET of a type."""
    cli = current(ctx)
    edge = cli.catalog.remove_lineage_edge(
        source, target, edge_type=edge_type, if_match=if_match, idempotency_key=idempotency_key
    )
    _done(cli, "removed", edge, as_json)


def _direction(value: str) -> Direction:
    try:
        return _DIRECTIONS[value.lower()]
    except KeyError:
        raise typer.BadParameter(
            f"must be up, down or both (or upstream, downstream); got {value!r}",
            param_hint="'--direction'",
        ) from None


def _path_tree(graph: LineageGraph, downstream: bool) -> Tree:
    """The paths from the root in one direction; a node is expanded once, cycles are marked."""
    children: dict[str, list[tuple[str, Edge]]] = defaultdict(list)
    for edge in graph.edges:
        start, end = (edge.source, edge.target) if downstream else (edge.target, edge.source)
        children[start.casefold()].append((end, edge))
    label = "downstream" if downstream else "upstream"
    tree = Tree(Text(f"{graph.root} ({label})"))
    expanded = {graph.root.casefold()}

    def grow(branch: Tree, node: str, path: frozenset[str], level: int) -> None:
        if level >= graph.depth:
            return
        for neighbour, edge in children.get(node.casefold(), []):
            key = neighbour.casefold()
            line = Text(f"{neighbour} [{edge.edge_type}]")
            if key in path:
                branch.add(line.append(" (cycle)", style="dim"))
            elif key in expanded:
                branch.add(line.append(" (see above)", style="dim"))
            else:
                expanded.add(key)
                grow(branch.add(line), neighbour, path | {key}, level + 1)

    grow(tree, graph.root, frozenset({graph.root.casefold()}), 0)
    return tree


@app.command("show")
def show_(
    ctx: typer.Context,
    asset: Annotated[str, typer.Argument(metavar="ASSET", help="Asset key (ns/name).")],
    direction: Annotated[
        str,
        typer.Option(
            "--direction",
            "-d",
            metavar="up|down|both",
            help="Which way to walk (upstream/downstream are accepted too).",
        ),
    ] = "both",
    depth: Annotated[
        int, typer.Option(min=1, max=MAX_DEPTH, metavar="N", help="Hops from ASSET (1-50).")
    ] = 3,
    as_json: JsonFlag = False,
) -> None:
    """Show the lineage graph within --depth hops of ASSET."""
    walk = _direction(direction)
    cli = current(ctx)
    graph = cli.catalog.lineage(asset, direction=walk, depth=depth)
    if as_json:
        print_json(graph)
        return
    cli.say(f"lineage of {graph.root} ({graph.direction}, depth {graph.depth})")
    cli.show(table("nodes", ["asset", "distance"], [(n.asset, n.distance) for n in graph.nodes]))
    if not graph.edges:
        cli.say("no edges")
        return
    cli.show(
        table(
            "edges",
            ["source → target", "type", "run id"],
            [(f"{e.source} → {e.target}", e.edge_type, e.run_id) for e in graph.edges],
        )
    )
    if walk in ("upstream", "both"):
        cli.show(_path_tree(graph, downstream=False))
    if walk in ("downstream", "both"):
        cli.show(_path_tree(graph, downstream=True))
