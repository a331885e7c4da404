"""``arco ns ...``: create, list, show, update and drop namespaces."""

from typing import Annotated, Any

import typer

from arco.catalog import Namespace
from arco.cli.context import (
    CatalogIfMatch,
    CliContext,
    IdempotencyKey,
    IfMatch,
    JsonFlag,
    LimitOpt,
    PageTokenOpt,
    Properties,
    current,
    fields,
    parse_pairs,
    print_json,
    print_listing,
)
from arco.core.paging import DEFAULT_PAGE

app = typer.Typer(
    name="ns", help="Create, list, show, update and drop namespaces.", no_args_is_help=True
)


def namespace_fields(ns: Namespace) -> list[tuple[str, object]]:
    return [
        ("name", ns.name),
        ("namespace_id", ns.namespace_id),
        ("description", ns.description),
        ("properties", ns.properties),
        ("version", ns.version),
        ("created_at", ns.created_at),
        ("updated_at", ns.updated_at),
    ]


def _done(cli: CliContext, verb: str, ns: Namespace, as_json: bool) -> None:
    if as_json:
        print_json(ns)
    else:
        cli.say(f"{verb} namespace {ns.name!r} (version {ns.version})")


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Namespace name.")],
    description: Annotated[str | None, typer.Option(help="Free-text description.")] = None,
    prop: Properties = None,
    if_match: CatalogIfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a namespace."""
    cli = current(ctx)
    properties = parse_pairs(prop, "--property")
    ns = cli.catalog.create_namespace(
        name,
        description=description,
        properties=properties,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    _done(cli, "created", ns, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    limit: LimitOpt = DEFAULT_PAGE,
    page_token: PageTokenOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List namespaces (all pages unless --page-token is given)."""
    cli = current(ctx)
    catalog = cli.catalog
    print_listing(
        cli,
        lambda tok: catalog.list_namespaces(page_token=tok, limit=limit),
        page_token,
        as_json,
        ["name", "description", "properties", "version", "updated_at"],
        lambda ns: (ns.name, ns.description, ns.properties, ns.version, ns.updated_at),
    )


@app.command("show")
def show_(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Namespace name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one namespace."""
    cli = current(ctx)
    ns = cli.catalog.get_namespace(name)
    if as_json:
        print_json(ns)
    else:
        cli.show(fields(f"namespace {ns.name}", namespace_fields(ns)))


@app.command("update")
def update(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Namespace name.")],
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Set a property (repeatable)."),
    ] = None,
    unset: Annotated[
        list[str] | None,
        typer.Option("--unset", metavar="KEY", help="Remove a property (repeatable)."),
    ] = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a namespace's description or properties."""
    cli = current(ctx)
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = description
    if set_:
        changes["set_properties"] = parse_pairs(set_, "--set")
    if unset:
        changes["remove_properties"] = list(unset)
    if not changes:
        raise typer.BadParameter("give at least one of --description, --set, --unset")
    ns = cli.catalog.update_namespace(
        name, if_match=if_match, idempotency_key=idempotency_key, **changes
    )
    _done(cli, "updated", ns, as_json)


@app.command("drop")
def drop(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Namespace name.")],
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Drop an empty namespace."""
    cli = current(ctx)
    ns = cli.catalog.drop_namespace(name, if_match=if_match, idempotency_key=idempotency_key)
    _done(cli, "dropped", ns, as_json)
