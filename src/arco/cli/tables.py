"""``arco table ...``: register, list, show, update, rename and drop tables."""

from typing import Annotated, Any

import typer

from arco.catalog import ColumnSpec, Table
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
    parse_column_spec,
    parse_pairs,
    print_json,
    print_listing,
    table,
)
from arco.core.paging import DEFAULT_PAGE

app = typer.Typer(
    name="table",
    help="Register, list, show, update, rename and drop tables.",
    no_args_is_help=True,
)

Namespace = Annotated[str, typer.Argument(metavar="NS", help="Namespace name.")]
Name = Annotated[str, typer.Argument(help="Table name.")]
Pairs = list[str] | None


def _columns(values: list[str] | None, option: str) -> list[ColumnSpec]:
    return [parse_column_spec(v, option) for v in values or ()]


def table_fields(t: Table) -> list[tuple[str, object]]:
    return [
        ("name", f"{t.namespace}.{t.name}"),
        ("table_id", t.table_id),
        ("namespace_id", t.namespace_id),
        ("description", t.description),
        ("location", t.location),
        ("format", t.format),
        ("properties", t.properties),
        ("version", t.version),
        ("created_at", t.created_at),
        ("updated_at", t.updated_at),
    ]


def show_table(cli: CliContext, t: Table) -> None:
    """Print a table's metadata and its columns."""
    rows = [
        (c.position, c.name, c.type, "yes" if c.nullable else "no", c.description)
        for c in t.columns
    ]
    cli.show(
        fields(f"table {t.namespace}.{t.name}", table_fields(t)),
        table("columns", ["#", "name", "type", "nullable", "description"], rows),
    )


def _done(cli: CliContext, verb: str, t: Table, as_json: bool) -> None:
    if as_json:
        print_json(t)
    else:
        cli.say(
            f"{verb} table {t.namespace!r}.{t.name!r} "
            f"({len(t.columns)} columns, version {t.version})"
        )


@app.command("register")
def register(
    ctx: typer.Context,
    namespace: Namespace,
    name: Name,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            "-c",
            metavar="NAME:TYPE[:nullable|:not-null]",
            help="A column, e.g. 'id:int64:not-null' or 'ts:timestamp\\[us, tz=UTC]' (repeatable).",
        ),
    ] = None,
    description: Annotated[str | None, typer.Option(help="Free-text description.")] = None,
    location: Annotated[str | None, typer.Option(help="Where the table's data lives.")] = None,
    format: Annotated[str, typer.Option("--format", help="Data format.")] = "parquet",
    prop: Properties = None,
    if_match: CatalogIfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Register a table with its columns."""
    cli = current(ctx)
    columns = _columns(column, "--column")
    properties = parse_pairs(prop, "--property")
    t = cli.catalog.register_table(
        namespace,
        name,
        columns,
        description=description,
        location=location,
        format=format,
        properties=properties,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    _done(cli, "registered", t, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    namespace: Namespace,
    limit: LimitOpt = DEFAULT_PAGE,
    page_token: PageTokenOpt = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tables of a namespace (all pages unless --page-token is given)."""
    cli = current(ctx)
    catalog = cli.catalog
    print_listing(
        cli,
        lambda tok: catalog.list_tables(namespace, page_token=tok, limit=limit),
        page_token,
        as_json,
        ["name", "format", "columns", "location", "description", "version"],
        lambda t: (t.name, t.format, len(t.columns), t.location, t.description, t.version),
    )


@app.command("show")
def show_(ctx: typer.Context, namespace: Namespace, name: Name, as_json: JsonFlag = False) -> None:
    """Show a table's metadata and columns."""
    cli = current(ctx)
    t = cli.catalog.get_table(namespace, name)
    if as_json:
        print_json(t)
    else:
        show_table(cli, t)


@app.command("update")
def update(
    ctx: typer.Context,
    namespace: Namespace,
    name: Name,
    description: Annotated[str | None, typer.Option(help="New description.")] = None,
    location: Annotated[str | None, typer.Option(help="New data location.")] = None,
    format: Annotated[str | None, typer.Option("--format", help="New data format.")] = None,
    set_: Annotated[
        Pairs, typer.Option("--set", metavar="KEY=VALUE", help="Set a property (repeatable).")
    ] = None,
    unset: Annotated[
        Pairs, typer.Option("--unset", metavar="KEY", help="Remove a property (repeatable).")
    ] = None,
    add_column: Annotated[
        Pairs,
        typer.Option("--add-column", metavar="NAME:TYPE[:nullable|:not-null]", help="Repeatable."),
    ] = None,
    drop_column: Annotated[
        Pairs, typer.Option("--drop-column", metavar="NAME", help="Repeatable.")
    ] = None,
    rename_column: Annotated[
        Pairs, typer.Option("--rename-column", metavar="OLD=NEW", help="Repeatable.")
    ] = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a table's metadata and evolve its columns (drops, then renames, then adds)."""
    cli = current(ctx)
    changes: dict[str, Any] = {}
    for key, value in (("description", description), ("location", location), ("format", format)):
        if value is not None:
            changes[key] = value
    if set_:
        changes["set_properties"] = parse_pairs(set_, "--set")
    if unset:
        changes["remove_properties"] = list(unset)
    if add_column:
        changes["add_columns"] = _columns(add_column, "--add-column")
    if drop_column:
        changes["drop_columns"] = list(drop_column)
    if rename_column:
        changes["rename_columns"] = parse_pairs(rename_column, "--rename-column")
    if not changes:
        raise typer.BadParameter(
            "give at least one change (--description, --location, --format, --set, --unset, "
            "--add-column, --drop-column, --rename-column)"
        )
    t = cli.catalog.update_table(
        namespace, name, if_match=if_match, idempotency_key=idempotency_key, **changes
    )
    _done(cli, "updated", t, as_json)


@app.command("rename")
def rename(
    ctx: typer.Context,
    namespace: Namespace,
    name: Name,
    new_name: Annotated[str, typer.Argument(help="New table name.")],
    to_namespace: Annotated[
        str | None, typer.Option(metavar="NS", help="Move the table to this namespace.")
    ] = None,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Rename a table, optionally moving it to another namespace."""
    cli = current(ctx)
    t = cli.catalog.rename_table(
        namespace,
        name,
        new_name,
        new_namespace=to_namespace,
        if_match=if_match,
        idempotency_key=idempotency_key,
    )
    _done(cli, "renamed", t, as_json)


@app.command("drop")
def drop(
    ctx: typer.Context,
    namespace: Namespace,
    name: Name,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Drop a table (its data files are not touched)."""
    cli = current(ctx)
    t = cli.catalog.drop_table(namespace, name, if_match=if_match, idempotency_key=idempotency_key)
    _done(cli, "dropped", t, as_json)
