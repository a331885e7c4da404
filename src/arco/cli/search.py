"""``arco search``: ranked prefix search over names, descriptions and columns."""

from typing import Annotated

import typer

from arco.cli.context import JsonFlag, current, print_json, table


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(metavar="QUERY", help="Words or word prefixes.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most results to show.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Find namespaces, tables and columns by name, description or column (any script)."""
    cli = current(ctx)
    hits = cli.catalog.search(query, limit=limit)
    if as_json:
        print_json(hits)
        return
    rows = [
        (h.kind, h.namespace, h.table or "", h.column or "", f"{h.score:g}", " ".join(h.matched))
        for h in hits
    ]
    cli.show(table(None, ["kind", "namespace", "table", "column", "score", "matched"], rows))
