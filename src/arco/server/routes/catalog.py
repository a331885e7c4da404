"""Routes: namespaces and tables (tier 1; see docs/api.md).

Every route is one call of the caller's workspace :class:`arco.catalog.Catalog` (the
library's facade, so the API applies exactly its checks), writes with the request's
``Idempotency-Key`` and ``If-Match``; another workspace's objects are simply not found.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response

from arco.catalog import Namespace, Page, Table
from arco.server.deps import CallerWorkspace
from arco.server.errors import ApiError
from arco.server.wire import (
    API_DEPENDENCIES,
    DEFAULT_LIMIT,
    NAME_SCHEMA,
    RENAME_FIELDS,
    CreateNamespaceBody,
    IdempotencyKey,
    IfMatch,
    Limit,
    PageToken,
    RegisterTableBody,
    TablePatchBody,
    UpdateNamespaceBody,
    error_responses,
    link,
    path_segment,
    set_etag,
)

router = APIRouter(tags=["catalog"], dependencies=API_DEPENDENCIES)

_NS = "/api/v1/namespaces"

NsName = Annotated[str, Path(description="the namespace", json_schema_extra=NAME_SCHEMA)]
TableName = Annotated[str, Path(description="the table", json_schema_extra=NAME_SCHEMA)]


# --- links: what can follow a response (OpenAPI links; Schemathesis walks them) -------------

_IF_MATCH = {"header.If-Match": "$response.header.ETag"}


def _namespace_links(name: str, *, etag: bool) -> dict[str, dict[str, Any]]:
    """Links from a response naming a namespace (``name``: the runtime expression of its
    name); with ``etag``, writes carry the response's ETag as If-Match."""
    ns = {"path.ns": name}
    guarded = {**ns, **_IF_MATCH} if etag else ns
    return {
        "GetNamespace": link("get", "/namespaces/{ns}", "the namespace", parameters=ns),
        "UpdateNamespace": link(
            "patch", "/namespaces/{ns}", "update the namespace", parameters=guarded
        ),
        "DropNamespace": link(
            "delete", "/namespaces/{ns}", "drop the namespace", parameters=guarded
        ),
        "ListTables": link(
            "get", "/namespaces/{ns}/tables", "the namespace's tables", parameters=ns
        ),
        "RegisterTable": link(
            "post", "/namespaces/{ns}/tables", "register a table in it", parameters=ns
        ),
    }


def _table_links(at: str, *, etag: bool) -> dict[str, dict[str, Any]]:
    """Links from a response holding a table at the JSON pointer ``at`` of its body."""
    ns, name = f"$response.body#{at}/namespace", f"$response.body#{at}/name"
    table = {"path.ns": ns, "path.table": name}
    guarded = {**table, **_IF_MATCH} if etag else table
    asset = f"{{{ns}}}/{{{name}}}"
    first_column = f"$response.body#{at}/columns/0/name"
    return {
        "GetTable": link("get", "/namespaces/{ns}/tables/{table}", "the table", parameters=table),
        "UpdateTable": link(
            "patch", "/namespaces/{ns}/tables/{table}", "update the table", parameters=guarded
        ),
        "DropColumn": link(
            "patch",
            "/namespaces/{ns}/tables/{table}",
            "drop the table's first column",
            parameters=guarded,
            request_body={"drop_columns": [first_column]},
        ),
        "RenameColumn": link(
            "patch",
            "/namespaces/{ns}/tables/{table}",
            "rename the table's first column",
            parameters=guarded,
            request_body={"rename_columns": {first_column: "renamed"}},
        ),
        "DropTable": link(
            "delete", "/namespaces/{ns}/tables/{table}", "drop the table", parameters=guarded
        ),
        "ListTables": link(
            "get",
            "/namespaces/{ns}/tables",
            "the tables of its namespace",
            parameters={"path.ns": ns},
        ),
        "TableLineage": link(
            "get", "/lineage/{asset}", "the table's lineage", parameters={"path.asset": asset}
        ),
        "AddLineageEdge": link(
            "post",
            "/lineage/edges",
            "record that the table feeds another asset",
            request_body={"source": asset},
        ),
        "TableMaterializations": link(
            "get",
            "/materializations",
            "the table's materializations",
            parameters={"query.asset_key": asset},
        ),
        "SearchTable": link(
            "get", "/search", "search for the table's name", parameters={"query.q": name}
        ),
    }


_NAMESPACE_LINKS = _namespace_links("$response.body#/name", etag=True)
_TABLE_LINKS = _table_links("", etag=True)


# --- namespaces ---------------------------------------------------------------------------


@router.post(
    "/namespaces",
    status_code=201,
    response_model=Namespace,
    summary="Create a namespace",
    responses=error_responses(
        400,
        409,
        413,
        etag=201,
        location=201,
        links={
            201: {
                **_NAMESPACE_LINKS,
                "SearchNamespace": link(
                    "get",
                    "/search",
                    "search for the namespace's name",
                    parameters={"query.q": "$response.body#/name"},
                ),
                "CatalogCommits": link(
                    "get",
                    "/commits/{domain}",
                    "the catalog's commits",
                    parameters={"path.domain": "catalog"},
                ),
            }
        },
    ),
)
def create_namespace(
    body: CreateNamespaceBody,
    ws: CallerWorkspace,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> Namespace:
    ns = ws.catalog.create_namespace(
        body.name,
        description=body.description,
        properties=body.properties,
        idempotency_key=idempotency_key,
    )
    set_etag(response, ns.version)
    response.headers["Location"] = f"{_NS}/{path_segment(ns.name)}"
    return ns


@router.get(
    "/namespaces",
    response_model=Page[Namespace],
    summary="List namespaces (by name)",
    responses=error_responses(
        400, links={200: _namespace_links("$response.body#/items/0/name", etag=False)}
    ),
)
def list_namespaces(
    ws: CallerWorkspace, page_token: PageToken = None, limit: Limit = DEFAULT_LIMIT
) -> Page[Namespace]:
    return ws.catalog.list_namespaces(page_token=page_token, limit=limit)


@router.get(
    "/namespaces/{ns}",
    response_model=Namespace,
    summary="Get a namespace",
    responses=error_responses(400, 404, etag=200, links={200: _NAMESPACE_LINKS}),
)
def get_namespace(ns: NsName, ws: CallerWorkspace, response: Response) -> Namespace:
    found = ws.catalog.get_namespace(ns)
    set_etag(response, found.version)
    return found


@router.patch(
    "/namespaces/{ns}",
    response_model=Namespace,
    summary="Update a namespace's description or properties",
    responses=error_responses(400, 404, 409, 412, 413, etag=200, links={200: _NAMESPACE_LINKS}),
)
def update_namespace(
    ns: NsName,
    body: UpdateNamespaceBody,
    ws: CallerWorkspace,
    response: Response,
    idempotency_key: IdempotencyKey,
    if_match: IfMatch,
) -> Namespace:
    updated = ws.catalog.update_namespace(
        ns,
        if_match=if_match,
        idempotency_key=idempotency_key,
        **body.model_dump(exclude_unset=True),
    )
    set_etag(response, updated.version)
    return updated


@router.delete(
    "/namespaces/{ns}",
    status_code=204,
    response_class=Response,
    summary="Drop an empty namespace",
    responses=error_responses(400, 404, 409, 412),
)
def drop_namespace(
    ns: NsName, ws: CallerWorkspace, idempotency_key: IdempotencyKey, if_match: IfMatch
) -> Response:
    ws.catalog.drop_namespace(ns, if_match=if_match, idempotency_key=idempotency_key)
    return Response(status_code=204)


# --- tables --------------------------------------------------------------------------------


@router.post(
    "/namespaces/{ns}/tables",
    status_code=201,
    response_model=Table,
    summary="Register a table with its columns",
    responses=error_responses(
        400, 404, 409, 413, etag=201, location=201, links={201: _TABLE_LINKS}
    ),
)
def register_table(
    ns: NsName,
    body: RegisterTableBody,
    ws: CallerWorkspace,
    response: Response,
    idempotency_key: IdempotencyKey,
) -> Table:
    table = ws.catalog.register_table(
        ns,
        body.name,
        body.columns,
        description=body.description,
        location=body.location,
        format=body.format,
        properties=body.properties,
        idempotency_key=idempotency_key,
    )
    set_etag(response, table.version)
    response.headers["Location"] = (
        f"{_NS}/{path_segment(table.namespace)}/tables/{path_segment(table.name)}"
    )
    return table


@router.get(
    "/namespaces/{ns}/tables",
    response_model=Page[Table],
    summary="List the tables of a namespace (by name)",
    responses=error_responses(
        400,
        404,
        links={200: _table_links("/items/0", etag=False)},
    ),
)
def list_tables(
    ns: NsName, ws: CallerWorkspace, page_token: PageToken = None, limit: Limit = DEFAULT_LIMIT
) -> Page[Table]:
    return ws.catalog.list_tables(ns, page_token=page_token, limit=limit)


@router.get(
    "/namespaces/{ns}/tables/{table}",
    response_model=Table,
    summary="Get a table with its columns",
    responses=error_responses(400, 404, etag=200, links={200: _TABLE_LINKS}),
)
def get_table(ns: NsName, table: TableName, ws: CallerWorkspace, response: Response) -> Table:
    found = ws.catalog.get_table(ns, table)
    set_etag(response, found.version)
    return found


@router.patch(
    "/namespaces/{ns}/tables/{table}",
    response_model=Table,
    summary="Update a table, or rename / move it",
    description="Either UpdateTable fields (description, location, format, properties, "
    "columns) or a rename (`new_name`, optionally `new_namespace`); mixing the two is 400.",
    responses=error_responses(400, 404, 409, 412, 413, etag=200, links={200: _TABLE_LINKS}),
)
def update_table(
    ns: NsName,
    table: TableName,
    ws: CallerWorkspace,
    response: Response,
    idempotency_key: IdempotencyKey,
    if_match: IfMatch,
    body: TablePatchBody,
) -> Table:
    given = body.model_dump(exclude_unset=True)
    renaming = RENAME_FIELDS & given.keys()
    if renaming:
        others = sorted(given.keys() - RENAME_FIELDS)
        if others:
            raise ApiError(
                400,
                "VALIDATION_FAILED",
                f"body: a rename (new_name, new_namespace) cannot be combined with other "
                f"changes ({', '.join(others)})",
            )
        if given.get("new_name") is None:
            raise ApiError(400, "VALIDATION_FAILED", "new_name: is required to rename a table")
        updated = ws.catalog.rename_table(
            ns,
            table,
            given["new_name"],
            new_namespace=given.get("new_namespace"),
            if_match=if_match,
            idempotency_key=idempotency_key,
        )
    else:
        updated = ws.catalog.update_table(
            ns, table, if_match=if_match, idempotency_key=idempotency_key, **given
        )
    set_etag(response, updated.version)
    return updated


@router.delete(
    "/namespaces/{ns}/tables/{table}",
    status_code=204,
    response_class=Response,
    summary="Drop a table",
    responses=error_responses(400, 404, 412),
)
def drop_table(
    ns: NsName,
    table: TableName,
    ws: CallerWorkspace,
    idempotency_key: IdempotencyKey,
    if_match: IfMatch,
) -> Response:
    ws.catalog.drop_table(ns, table, if_match=if_match, idempotency_key=idempotency_key)
    return Response(status_code=204)
