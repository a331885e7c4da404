"""Iceberg namespaces are Arco namespaces: ``["a", "b"]`` is the Arco namespace ``a.b``.

A level may not contain ``.`` (or be empty): 400. ``list(parent)`` lists the namespaces
exactly one level below ``parent``. Namespace properties are the Arco namespace's
properties.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from arco.catalog import Catalog
from arco.core.names import name_key, validate_name
from arco.core.paging import DEFAULT_PAGE, Page, Sorted, paginate
from arco.errors import PreconditionFailedError, ValidationError
from arco.iceberg.errors import BadRequest, NoSuchNamespace, translated

__all__ = ["IcebergNamespaces", "PropertiesUpdate", "from_arco", "to_arco"]

#: an Iceberg namespace: its levels
NamespaceIdent = tuple[str, ...]


def to_arco(namespace: Sequence[str], field: str = "namespace") -> str:
    """The Arco namespace name of an Iceberg namespace (BadRequest if it cannot be one)."""
    if isinstance(namespace, str):
        raise BadRequest(f"{field}: must be a list of levels, not a string")
    levels = list(namespace)
    if not levels:
        raise BadRequest(f"{field}: must have at least one level")
    for i, level in enumerate(levels):
        if not isinstance(level, str) or not level:
            raise BadRequest(f"{field}[{i}]: must be a non-empty string")
        if "." in level:
            raise BadRequest(f"{field}[{i}]: must not contain '.' (it separates levels)")
    try:
        return validate_name(field, ".".join(levels))
    except ValidationError as exc:
        raise BadRequest(exc.message) from None


def from_arco(name: str) -> NamespaceIdent:
    """The Iceberg levels of an Arco namespace name."""
    return tuple(name.split("."))


@dataclass(frozen=True)
class PropertiesUpdate:
    """What an update of namespace properties did (the REST response's three lists)."""

    updated: list[str]
    removed: list[str]
    #: removals of keys that were not there
    missing: list[str]


class IcebergNamespaces:
    """Namespace operations of one workspace, in Iceberg terms."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def list(
        self,
        parent: Sequence[str] = (),
        *,
        page_token: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Page[NamespaceIdent]:
        """The namespaces one level below ``parent`` (top-level ones for ``()``).

        A level that only exists as the parent of deeper namespaces is listed too (creating
        ``a.b`` makes ``a`` visible in the top-level list), and such a parent can be listed.
        """
        depth = 0
        prefix: tuple[str, ...] = ()
        if parent:
            prefix = tuple(name_key(level) for level in from_arco(to_arco(parent, "parent")))
            depth = len(prefix)
        everything = self._catalog.reader.state().namespaces_sorted()
        children: dict[str, NamespaceIdent] = {}
        found_parent = not parent
        for row in everything.rows:
            levels = from_arco(row.name)
            keys = tuple(name_key(level) for level in levels)
            if keys[:depth] != prefix:
                continue
            found_parent = True
            if len(keys) > depth:
                child_key = ".".join(keys[: depth + 1])
                children.setdefault(child_key, levels[: depth + 1])
        if not found_parent:
            raise NoSuchNamespace(f"namespace {'.'.join(parent)!r} does not exist")
        ordered = sorted(children)
        with translated(NoSuchNamespace):
            page, token = paginate(
                Sorted(ordered, [children[k] for k in ordered]), page_token, limit
            )
        return Page[NamespaceIdent](items=page, next_page_token=token)

    def create(
        self,
        namespace: Sequence[str],
        properties: dict[str, str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, str]:
        name = to_arco(namespace)
        with translated(NoSuchNamespace):
            created = self._catalog.create_namespace(
                name, properties=dict(properties or {}), idempotency_key=idempotency_key
            )
        return dict(created.properties)

    def load(self, namespace: Sequence[str]) -> dict[str, str]:
        """The namespace's properties (NoSuchNamespace if it does not exist)."""
        name = to_arco(namespace)
        with translated(NoSuchNamespace):
            return dict(self._catalog.get_namespace(name).properties)

    def exists(self, namespace: Sequence[str]) -> bool:
        """Whether the namespace exists (as an Arco namespace of its own)."""
        name = to_arco(namespace)
        return self._catalog.reader.state().namespace_by_name(name) is not None

    def update_properties(
        self,
        namespace: Sequence[str],
        *,
        removals: Sequence[str] = (),
        updates: dict[str, str] | None = None,
        idempotency_key: str | None = None,
    ) -> PropertiesUpdate:
        """Set ``updates`` and remove ``removals`` (a key in both is a BadRequest)."""
        name = to_arco(namespace)
        updates = dict(updates or {})
        overlap = sorted(set(removals) & set(updates))
        if overlap:
            raise BadRequest(f"removals: {overlap[0]!r} is also in updates")
        for _ in range(16):
            with translated(NoSuchNamespace):
                current = self._catalog.get_namespace(name)
                try:
                    self._catalog.update_namespace(
                        name,
                        if_match=None if idempotency_key else current.version,
                        idempotency_key=idempotency_key,
                        set_properties=updates,
                        remove_properties=list(removals),
                    )
                except PreconditionFailedError:
                    continue  # changed between our read and write: the lists would be wrong
            present = set(current.properties)
            return PropertiesUpdate(
                updated=sorted(updates),
                removed=sorted(k for k in set(removals) if k in present),
                missing=sorted(k for k in set(removals) if k not in present),
            )
        raise BadRequest(f"namespace {name!r}: changed concurrently too often; try again")

    def drop(self, namespace: Sequence[str], *, idempotency_key: str | None = None) -> None:
        """Drop an empty namespace (NamespaceNotEmpty while it holds tables or views)."""
        name = to_arco(namespace)
        with translated(NoSuchNamespace):
            self._catalog.drop_namespace(name, idempotency_key=idempotency_key)
