"""Tier-1 catalog operations: request models, their validation, and how they change state.

Each request is a pydantic model with a literal ``op`` discriminator. ``validated()`` checks
every rule (names, types, sizes) and returns a normalised copy; ``apply()`` checks the
request against the current state and records the rows it changes. ``apply`` never
mutates anything before all of its checks have passed, so a failing request in a group
commit leaves no trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Annotated, Any, Literal, TypeVar

import pydantic
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from arco.catalog.model import Namespace, Table
from arco.catalog.schema import ColumnRow, NamespaceRow, Properties, TableRow
from arco.catalog.state import CatalogState
from arco.core.arrow_types import canonical_type
from arco.core.ids import new_entity_id
from arco.core.names import NAME_JSON_SCHEMA, name_key, validate_name
from arco.errors import (
    AlreadyExistsError,
    ConflictError,
    NotFoundError,
    ValidationError,
    preview,
)
from arco.metadata.domain import ApplyContext, RequestModel, check_if_match
from arco.metadata.domain import Changes as _Changes

Changes = _Changes[CatalogState]

MAX_COLUMNS = 4096
MAX_TEXT = 4096
MAX_LOCATION = 2048
MAX_PROPERTIES = 256

#: formats of the tables and views :mod:`arco.iceberg` manages (ADR 014)
ICEBERG_FORMATS = frozenset({"iceberg", "iceberg-view"})
#: property keys only :mod:`arco.iceberg` writes
ICEBERG_PROPERTY_PREFIX = "iceberg."


def _check_text(field: str, value: str | None, limit: int = MAX_TEXT) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise ValidationError(f"{field}: must be at most {limit} characters")
    if any((ord(ch) < 0x20 and ch not in "\n\t") or ord(ch) == 0x7F for ch in value):
        raise ValidationError(f"{field}: must not contain control characters")
    _check_unicode(field, value)
    return value


def _check_unicode(field: str, value: str) -> None:
    """Lone surrogates (JSON's ``"\\ud800"``) cannot be stored as UTF-8 (Parquet)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field}: must be valid Unicode (lone surrogate)") from None


def _check_properties(field: str, props: dict[str, str]) -> dict[str, str]:
    if len(props) > MAX_PROPERTIES:
        raise ValidationError(f"{field}: at most {MAX_PROPERTIES} entries")
    for key, value in props.items():
        if not key or len(key) > 255 or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
            raise ValidationError(
                f"{field}: key {preview(key)} must be 1-255 characters without control characters"
            )
        _check_unicode(f"{field}: key {preview(key)}", key)
        _check_text(f"{field}[{preview(key)}]", value)
    return dict(sorted(props.items()))


def _check_format(value: str) -> str:
    ok = 0 < len(value) <= 32 and value[0].isascii() and value[0].isalpha()
    if not ok or not all(ch.isascii() and (ch.isalnum() or ch == "_") for ch in value):
        raise ValidationError(
            f"format: must be 1-32 characters of [a-z0-9_] starting with a letter (got {preview(value)})"
        )
    return value.lower()


def _check_not_reserved(field: str, keys: Iterable[str]) -> None:
    for key in keys:
        if key.startswith(ICEBERG_PROPERTY_PREFIX):
            raise ValidationError(
                f"{field}: property {preview(key)} is reserved "
                f"({ICEBERG_PROPERTY_PREFIX}* properties are written only by the Iceberg REST catalog)"
            )


def iceberg_managed_row(row: TableRow) -> bool:
    """Whether :mod:`arco.iceberg` manages the table: an Iceberg format and its pointer link
    (a table merely labelled ``iceberg`` through the Arco API is an ordinary table)."""
    return row.format in ICEBERG_FORMATS and any(
        key.startswith(ICEBERG_PROPERTY_PREFIX) for key, _ in row.properties
    )


def _merge_properties(old: Properties, set_: dict[str, str], remove: list[str]) -> Properties:
    merged = dict(old)
    for key in remove:
        merged.pop(key, None)
    merged.update(set_)
    return tuple(sorted(merged.items()))


_Request = RequestModel


class ColumnSpec(BaseModel):
    """A column as given by a user when registering or altering a table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(json_schema_extra=dict(NAME_JSON_SCHEMA))
    type: str = Field(
        description="an Arrow type (see arco.core.arrow_types)",
        examples=["int64", "string", "decimal128(12, 2)", "timestamp[us, tz=UTC]"],
    )
    nullable: bool = True
    description: str | None = None

    def validated(self, field: str) -> ColumnSpec:
        return ColumnSpec(
            name=validate_name(f"{field}.name", self.name),
            type=_canonical_type(f"{field}.type", self.type),
            nullable=self.nullable,
            description=_check_text(f"{field}.description", self.description),
        )


def _canonical_type(field: str, text: str) -> str:
    try:
        return canonical_type(text)
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message.split(': ', 1)[-1]}") from exc


def _check_unique_columns(field: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        key = name_key(name)
        if key in seen:
            raise ValidationError(f"{field}: duplicate column name {name!r}")
        seen.add(key)


def _namespace(state: CatalogState, name: str) -> NamespaceRow:
    row = state.namespace_by_name(name)
    if row is None:
        raise NotFoundError(f"namespace {name!r} does not exist")
    return row


def _table(state: CatalogState, namespace: str, name: str) -> tuple[NamespaceRow, TableRow]:
    ns = _namespace(state, namespace)
    row = state.table_by_name(ns.namespace_id, name)
    if row is None:
        raise NotFoundError(f"table {namespace!r}.{name!r} does not exist")
    return ns, row


def table_view(state: CatalogState, row: TableRow) -> Table:
    ns = state.namespaces[row.namespace_id]
    return Table.from_rows(row, ns.name, state.columns_of(row.table_id))


class CreateNamespace(_Request):
    op: Literal["create_namespace"] = "create_namespace"
    name: str
    description: str | None = None
    properties: dict[str, str] = Field(default_factory=dict)

    def validated(self) -> CreateNamespace:
        return self.model_copy(
            update={
                "name": validate_name("name", self.name),
                "description": _check_text("description", self.description),
                "properties": _check_properties("properties", self.properties),
            }
        )

    def apply(self, changes: Changes, ctx: ApplyContext) -> Namespace:
        state = changes.state
        check_if_match("catalog", self.if_match, changes.domain_version(ctx))
        if state.namespace_by_name(self.name) is not None:
            raise AlreadyExistsError(f"namespace {self.name!r} already exists")
        row = NamespaceRow(
            namespace_id=new_entity_id(),
            name=self.name,
            description=self.description,
            properties=tuple(self.properties.items()),
            created_at=ctx.now_ms,
            updated_at=ctx.now_ms,
            version=ctx.version,
        )
        changes.upsert("namespaces", row.namespace_id, row)
        return Namespace.from_row(row)


class UpdateNamespace(_Request):
    presence_fields = ("description",)
    op: Literal["update_namespace"] = "update_namespace"
    name: str
    #: only applied when given (``None`` clears the description)
    description: str | None = None
    set_properties: dict[str, str] = Field(default_factory=dict)
    remove_properties: list[str] = Field(default_factory=list)

    def validated(self) -> UpdateNamespace:
        update: dict[str, Any] = {
            "name": validate_name("name", self.name),
            "set_properties": _check_properties("set_properties", self.set_properties),
        }
        if "description" in self.model_fields_set:
            update["description"] = _check_text("description", self.description)
        return self.model_copy(update=update)

    def apply(self, changes: Changes, ctx: ApplyContext) -> Namespace:
        ns = _namespace(changes.state, self.name)
        check_if_match(f"namespace {self.name!r}", self.if_match, ns.version)
        row = replace(
            ns,
            description=self.description
            if "description" in self.model_fields_set
            else ns.description,
            properties=_merge_properties(
                ns.properties, self.set_properties, self.remove_properties
            ),
            updated_at=ctx.now_ms,
            version=ctx.version,
        )
        changes.upsert("namespaces", row.namespace_id, row)
        return Namespace.from_row(row)


class DropNamespace(_Request):
    op: Literal["drop_namespace"] = "drop_namespace"
    name: str

    def validated(self) -> DropNamespace:
        return self.model_copy(update={"name": validate_name("name", self.name)})

    def apply(self, changes: Changes, ctx: ApplyContext) -> Namespace:
        ns = _namespace(changes.state, self.name)
        check_if_match(f"namespace {self.name!r}", self.if_match, ns.version)
        count = changes.state.table_count(ns.namespace_id)
        if count:
            raise ConflictError(f"namespace {self.name!r} is not empty ({count} tables)")
        changes.remove("namespaces", ns.namespace_id, replace(ns, version=ctx.version))
        return Namespace.from_row(ns)


class RegisterTable(_Request):
    op: Literal["register_table"] = "register_table"
    namespace: str
    name: str
    columns: list[ColumnSpec] = Field(default_factory=list)
    description: str | None = None
    location: str | None = None
    format: str = "parquet"
    properties: dict[str, str] = Field(default_factory=dict)
    #: set only by :func:`iceberg_managed`: may use the Iceberg formats and properties
    _iceberg: bool = PrivateAttr(default=False)

    def validated(self) -> RegisterTable:
        if len(self.columns) > MAX_COLUMNS:
            raise ValidationError(f"columns: at most {MAX_COLUMNS} columns")
        columns = [c.validated(f"columns[{i}]") for i, c in enumerate(self.columns)]
        _check_unique_columns("columns", [c.name for c in columns])
        if not self._iceberg:
            _check_not_reserved("properties", self.properties)
        system_format = self._iceberg and self.format in ICEBERG_FORMATS
        return self.model_copy(
            update={
                "namespace": validate_name("namespace", self.namespace),
                "name": validate_name("name", self.name),
                "columns": columns,
                "description": _check_text("description", self.description),
                "location": _check_text("location", self.location, MAX_LOCATION),
                "format": self.format if system_format else _check_format(self.format),
                "properties": _check_properties("properties", self.properties),
            }
        )

    def apply(self, changes: Changes, ctx: ApplyContext) -> Table:
        state = changes.state
        check_if_match("catalog", self.if_match, changes.domain_version(ctx))
        ns = _namespace(state, self.namespace)
        if state.table_by_name(ns.namespace_id, self.name) is not None:
            raise AlreadyExistsError(f"table {self.namespace!r}.{self.name!r} already exists")
        row = TableRow(
            table_id=new_entity_id(),
            namespace_id=ns.namespace_id,
            name=self.name,
            description=self.description,
            location=self.location,
            format=self.format,
            properties=tuple(self.properties.items()),
            created_at=ctx.now_ms,
            updated_at=ctx.now_ms,
            version=ctx.version,
        )
        changes.upsert("tables", row.table_id, row)
        for position, spec in enumerate(self.columns):
            col = ColumnRow(
                column_id=new_entity_id(),
                table_id=row.table_id,
                position=position,
                name=spec.name,
                type=spec.type,
                nullable=spec.nullable,
                description=spec.description,
                version=ctx.version,
            )
            changes.upsert("columns", col.column_id, col)
        return table_view(changes.state, row)


class UpdateTable(_Request):
    presence_fields = ("description", "location")
    op: Literal["update_table"] = "update_table"
    namespace: str
    name: str
    #: description, location and format are only applied when given
    description: str | None = None
    location: str | None = None
    format: str | None = None
    set_properties: dict[str, str] = Field(default_factory=dict)
    remove_properties: list[str] = Field(default_factory=list)
    add_columns: list[ColumnSpec] = Field(default_factory=list)
    drop_columns: list[str] = Field(default_factory=list)
    rename_columns: dict[str, str] = Field(default_factory=dict)
    #: set only by :func:`iceberg_managed`: may change what an Iceberg table projects
    _iceberg: bool = PrivateAttr(default=False)

    def validated(self) -> UpdateTable:
        if not self._iceberg:
            _check_not_reserved("set_properties", self.set_properties)
            _check_not_reserved("remove_properties", self.remove_properties)
        update: dict[str, Any] = {
            "namespace": validate_name("namespace", self.namespace),
            "name": validate_name("name", self.name),
            "set_properties": _check_properties("set_properties", self.set_properties),
            "add_columns": [
                c.validated(f"add_columns[{i}]") for i, c in enumerate(self.add_columns)
            ],
            "drop_columns": [
                validate_name(f"drop_columns[{i}]", c) for i, c in enumerate(self.drop_columns)
            ],
            "rename_columns": {
                validate_name("rename_columns.key", k): validate_name(f"rename_columns[{k!r}]", v)
                for k, v in self.rename_columns.items()
            },
        }
        _check_unique_columns("add_columns", [c.name for c in update["add_columns"]])
        if "description" in self.model_fields_set:
            update["description"] = _check_text("description", self.description)
        if "location" in self.model_fields_set:
            update["location"] = _check_text("location", self.location, MAX_LOCATION)
        if self.format is not None:
            update["format"] = _check_format(self.format)
        return self.model_copy(update=update)

    def apply(self, changes: Changes, ctx: ApplyContext) -> Table:
        state = changes.state
        ns, table = _table(state, self.namespace, self.name)
        check_if_match(f"table {self.namespace!r}.{self.name!r}", self.if_match, table.version)
        if not self._iceberg and iceberg_managed_row(table):
            self._refuse_iceberg_changes()
        current = {name_key(c.name): c for c in state.columns_of(table.table_id)}
        dropped: list[ColumnRow] = []
        for name in self.drop_columns:
            col = current.pop(name_key(name), None)
            if col is None:
                raise NotFoundError(f"drop_columns: column {name!r} does not exist")
            dropped.append(col)
        renamed: list[ColumnRow] = []
        for old, new in self.rename_columns.items():
            col = current.pop(name_key(old), None)
            if col is None:
                raise NotFoundError(f"rename_columns: column {old!r} does not exist")
            renamed.append(replace(col, name=new, version=ctx.version))
        for col in renamed:
            if name_key(col.name) in current:
                raise AlreadyExistsError(f"rename_columns: column {col.name!r} already exists")
            current[name_key(col.name)] = col
        next_position = max((c.position for c in state.columns_of(table.table_id)), default=-1) + 1
        added: list[ColumnRow] = []
        for spec in self.add_columns:
            if name_key(spec.name) in current:
                raise AlreadyExistsError(f"add_columns: column {spec.name!r} already exists")
            col = ColumnRow(
                column_id=new_entity_id(),
                table_id=table.table_id,
                position=next_position + len(added),
                name=spec.name,
                type=spec.type,
                nullable=spec.nullable,
                description=spec.description,
                version=ctx.version,
            )
            added.append(col)
            current[name_key(col.name)] = col
        if len(current) > MAX_COLUMNS:
            raise ValidationError(f"add_columns: a table has at most {MAX_COLUMNS} columns")
        fields = self.model_fields_set
        row = replace(
            table,
            description=self.description if "description" in fields else table.description,
            location=self.location if "location" in fields else table.location,
            format=self.format if self.format is not None else table.format,
            properties=_merge_properties(
                table.properties, self.set_properties, self.remove_properties
            ),
            updated_at=ctx.now_ms,
            version=ctx.version,
        )
        for col in dropped:
            changes.remove("columns", col.column_id, replace(col, version=ctx.version))
        for col in renamed + added:
            changes.upsert("columns", col.column_id, col)
        changes.upsert("tables", row.table_id, row)
        del ns
        return table_view(changes.state, row)

    def _refuse_iceberg_changes(self) -> None:
        """An Iceberg table's columns, location and format follow its Iceberg metadata."""
        given = {
            "add_columns": bool(self.add_columns),
            "drop_columns": bool(self.drop_columns),
            "rename_columns": bool(self.rename_columns),
            "location": "location" in self.model_fields_set,
            "format": self.format is not None,
        }
        for field, present in given.items():
            if present:
                raise ValidationError(
                    f"{field}: table {self.namespace!r}.{self.name!r} is an Iceberg table; its "
                    "columns, location and format follow its Iceberg metadata (change them "
                    "through the Iceberg REST API)"
                )


class RenameTable(_Request):
    op: Literal["rename_table"] = "rename_table"
    namespace: str
    name: str
    new_name: str
    #: move to another namespace (default: stay)
    new_namespace: str | None = None

    def validated(self) -> RenameTable:
        return self.model_copy(
            update={
                "namespace": validate_name("namespace", self.namespace),
                "name": validate_name("name", self.name),
                "new_name": validate_name("new_name", self.new_name),
                "new_namespace": None
                if self.new_namespace is None
                else validate_name("new_namespace", self.new_namespace),
            }
        )

    def apply(self, changes: Changes, ctx: ApplyContext) -> Table:
        state = changes.state
        _, table = _table(state, self.namespace, self.name)
        check_if_match(f"table {self.namespace!r}.{self.name!r}", self.if_match, table.version)
        target_ns = _namespace(state, self.new_namespace or self.namespace)
        existing = state.table_by_name(target_ns.namespace_id, self.new_name)
        if existing is not None and existing.table_id != table.table_id:
            raise AlreadyExistsError(f"table {target_ns.name!r}.{self.new_name!r} already exists")
        row = replace(
            table,
            namespace_id=target_ns.namespace_id,
            name=self.new_name,
            updated_at=ctx.now_ms,
            version=ctx.version,
        )
        changes.upsert("tables", row.table_id, row)
        return table_view(changes.state, row)


class DropTable(_Request):
    op: Literal["drop_table"] = "drop_table"
    namespace: str
    name: str

    def validated(self) -> DropTable:
        return self.model_copy(
            update={
                "namespace": validate_name("namespace", self.namespace),
                "name": validate_name("name", self.name),
            }
        )

    def apply(self, changes: Changes, ctx: ApplyContext) -> Table:
        state = changes.state
        _, table = _table(state, self.namespace, self.name)
        check_if_match(f"table {self.namespace!r}.{self.name!r}", self.if_match, table.version)
        view = table_view(state, table)
        for col in state.columns_of(table.table_id):
            changes.remove("columns", col.column_id, replace(col, version=ctx.version))
        changes.remove("tables", table.table_id, replace(table, version=ctx.version))
        return view


Operation = Annotated[
    CreateNamespace
    | UpdateNamespace
    | DropNamespace
    | RegisterTable
    | UpdateTable
    | RenameTable
    | DropTable,
    Field(discriminator="op"),
]

Result = Namespace | Table


M = TypeVar("M", bound=BaseModel)
IcebergRequest = TypeVar("IcebergRequest", RegisterTable, UpdateTable)


def iceberg_managed(request: IcebergRequest) -> IcebergRequest:
    """A copy of ``request`` that may write what only :mod:`arco.iceberg` writes: the Iceberg
    formats, ``iceberg.*`` properties, and the columns, location and format of an Iceberg
    table. The one explicit path around those rules; only :mod:`arco.iceberg` calls it."""
    copy = request.model_copy()
    copy._iceberg = True
    return copy


def build_request(model: type[M], **fields: Any) -> M:
    """Construct a request model; shape errors become one-line ValidationErrors."""
    try:
        return model(**fields)
    except pydantic.ValidationError as exc:
        raise shape_error(exc) from None


def shape_error(exc: pydantic.ValidationError) -> ValidationError:
    """The first problem of a pydantic error as ``field.path: message``."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "request"
    return ValidationError(f"{where}: {first['msg'].lower()}")


def describe_result(result: Result) -> str:
    """``namespace`` or ``namespace.table``: what a commit record says an operation touched."""
    if isinstance(result, Namespace):
        return result.name
    return f"{result.namespace}.{result.name}"


def result_to_json(result: Result) -> dict[str, Any]:
    kind = "namespace" if isinstance(result, Namespace) else "table"
    return {"kind": kind, "value": result.model_dump(mode="json")}


def result_from_json(data: dict[str, Any]) -> Result:
    if data["kind"] == "namespace":
        return Namespace.model_validate(data["value"])
    return Table.model_validate(data["value"])
