"""Model-based test: random DDL against the catalog and a plain-Python model of it.

A Hypothesis state machine issues create/update/drop namespace and register/update
(add/drop/rename columns)/rename/drop table requests with names from a small alphabet that
has case variants, non-Latin scripts, case-folding traps (``ß``/``SS``, ``ﬁ``/``fi``, final
sigma) and a decomposed accent, so name collisions and case-insensitive uniqueness are hit
all the time. Requests carry random idempotency keys (reused with the same or a different
body) and right or wrong ``if_match`` values.

After every step the full catalog - namespaces with descriptions, properties, versions and
timestamps, tables with their columns in order with types and nullability - is compared with
the model, through the writer's catalog, a second long-lived catalog instance on the same
store and a brand-new one; and every failed call must fail with the class the model expects.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from arco.catalog import Catalog, Namespace, Table
from arco.errors import (
    AlreadyExistsError,
    ArcoError,
    ConflictError,
    IdempotencyConflictError,
    NotFoundError,
    PreconditionFailedError,
    ValidationError,
)
from arco.maintenance.verify import verify_scope
from arco.storage import open_store
from catalog_support import FakeClock, inline_options

NS_NAMES = [
    "sales",
    "Sales",
    "SALES",
    "straße",
    "STRASSE",
    "Ωmega",
    "ωMEGA",
    "café",
    "cafe\u0301",  # decomposed: the same name as "café" after NFC
    "日本",
    "a/b",  # invalid
    " pad",  # invalid
]
TABLE_NAMES = ["orders", "Orders", "ORDERS", "ﬁle", "file", "Ёлка", "ёлка", "表", "σς", "ΣΣ", ""]
COLUMN_NAMES = ["id", "ID", "name", "Name", "ß", "SS", "数量", "Σ", "ς"]
INVALID_NAMES = {"a/b", " pad", ""}
TYPES = {  # given -> canonical (None: invalid)
    "int64": "int64",
    "INT64": "int64",
    "utf8": "string",
    "string": "string",
    "bool": "bool",
    "timestamp[us, tz=UTC]": "timestamp[us, tz=UTC]",
    "no_such_type": None,
}
PROP_KEYS = ["a", "b", "c"]
KEYS = [None, None, None, "k1", "k2", "k3", "k4"]
ABSENT = "<absent>"

names_ns = st.sampled_from(NS_NAMES)
names_table = st.sampled_from(TABLE_NAMES)
names_column = st.sampled_from(COLUMN_NAMES)
idem_keys = st.sampled_from(KEYS)
if_matches = st.sampled_from(["none", "none", "right", "wrong"])
descriptions = st.sampled_from([None, "first", "second"])
props = st.dictionaries(st.sampled_from(PROP_KEYS), st.sampled_from(["1", "2"]), max_size=2)
removals = st.lists(st.sampled_from(PROP_KEYS), max_size=2)
_column: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "name": names_column,
        # mostly valid types, now and then an unknown one
        "type": st.sampled_from([t for t in TYPES if TYPES[t]] * 3 + ["no_such_type"]),
        "nullable": st.booleans(),
    }
)
# mostly distinct column names; sometimes a (case-insensitive) duplicate
columns = st.one_of(
    st.lists(_column, max_size=3, unique_by=lambda c: nfc(c["name"]).casefold()),
    st.lists(_column, max_size=3, unique_by=lambda c: nfc(c["name"]).casefold()),
    st.lists(_column, max_size=3),
)


def variants(name: str) -> st.SearchStrategy[str]:
    """The same name in another case: the catalog must treat them as one."""
    return st.sampled_from([name, name.upper(), name.lower()])


def nfc(name: str) -> str:
    return unicodedata.normalize("NFC", name)


def key_of(name: str) -> str:
    return nfc(nfc(name).casefold())


def ms(dt: datetime) -> int:
    return int(dt.astimezone(UTC).timestamp() * 1000)


# --- the model ----------------------------------------------------------------------------


@dataclass
class MColumn:
    column_id: str
    position: int
    name: str
    type: str
    nullable: bool


@dataclass
class MTable:
    table_id: str
    name: str
    description: str | None
    properties: dict[str, str]
    columns: list[MColumn]
    created_at: int
    updated_at: int
    version: int


@dataclass
class MNamespace:
    namespace_id: str
    name: str
    description: str | None
    properties: dict[str, str]
    created_at: int
    updated_at: int
    version: int
    tables: dict[str, MTable] = field(default_factory=dict)


class Fail(Exception):
    """The model's verdict: the call must fail with ``cls``."""

    def __init__(self, cls: type[ArcoError]) -> None:
        super().__init__(cls.__name__)
        self.cls = cls


def ns_view(ns: MNamespace) -> dict[str, Any]:
    return {
        "namespace_id": ns.namespace_id,
        "name": ns.name,
        "description": ns.description,
        "properties": dict(ns.properties),
        "created_at": ns.created_at,
        "updated_at": ns.updated_at,
        "version": ns.version,
    }


def table_view(ns: MNamespace, t: MTable) -> dict[str, Any]:
    return {
        "table_id": t.table_id,
        "namespace_id": ns.namespace_id,
        "namespace": ns.name,
        "name": t.name,
        "description": t.description,
        "properties": dict(t.properties),
        "columns": [
            (c.column_id, c.position, c.name, c.type, c.nullable)
            for c in sorted(t.columns, key=lambda c: c.position)
        ],
        "created_at": t.created_at,
        "updated_at": t.updated_at,
        "version": t.version,
    }


def sut_ns_view(ns: Namespace) -> dict[str, Any]:
    return {
        "namespace_id": ns.namespace_id,
        "name": ns.name,
        "description": ns.description,
        "properties": dict(ns.properties),
        "created_at": ms(ns.created_at),
        "updated_at": ms(ns.updated_at),
        "version": ns.version,
    }


def sut_table_view(t: Table) -> dict[str, Any]:
    assert t.location is None and t.format == "parquet"
    return {
        "table_id": t.table_id,
        "namespace_id": t.namespace_id,
        "namespace": t.namespace,
        "name": t.name,
        "description": t.description,
        "properties": dict(t.properties),
        "columns": [(c.column_id, c.position, c.name, c.type, c.nullable) for c in t.columns],
        "created_at": ms(t.created_at),
        "updated_at": ms(t.updated_at),
        "version": t.version,
    }


def sut_listing(cat: Catalog) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for ns in cat.list_namespaces(limit=1000).items:
        view = sut_ns_view(ns)
        tables = cat.list_tables(ns.name, limit=1000).items
        view["tables"] = {key_of(t.name): sut_table_view(t) for t in tables}
        assert len(view["tables"]) == len(tables), "two tables share a name"
        out[key_of(ns.name)] = view
    return out


def check_name(name: str) -> str:
    if name in INVALID_NAMES:
        raise Fail(ValidationError)
    return nfc(name)


def check_columns(cols: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    out = []
    for c in cols:
        name = check_name(c["name"])
        canonical = TYPES[c["type"]]
        if canonical is None:
            raise Fail(ValidationError)
        out.append((name, canonical, c["nullable"]))
    keys = [key_of(n) for n, _, _ in out]
    if len(set(keys)) != len(keys):
        raise Fail(ValidationError)
    return out


Check = Callable[[Any], None]


class CatalogMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        root = open_store("memory://")
        self.clock = FakeClock()
        opts = inline_options(checkpoint_every=3)
        self.cat = Catalog(root, options=opts, holder="writer", clock=self.clock)
        self.peer = Catalog(root, options=opts, holder="peer", clock=self.clock)
        self.root = root
        self.model: dict[str, MNamespace] = {}
        #: idempotency key -> (request body, result of the first success)
        self.keys: dict[str, tuple[Any, Any]] = {}
        #: idempotency key -> (body, a function that re-sends exactly that request)
        self.senders: dict[str, tuple[Any, Callable[[str | None], Any]]] = {}
        self.last_version = 0
        self.seen_ids: set[str] = set()

    # --- the driver -----------------------------------------------------------------------

    def _if_match(self, mode: str, current: int | None) -> int | None:
        if mode == "none":
            return None
        if mode == "right":
            return current if current is not None else 1
        return (current or 0) + 1

    def execute(
        self,
        body: Any,
        key: str | None,
        send: Callable[[str | None], Any],
        plan: Callable[[int], Check],
    ) -> None:
        """Run one request against the catalog and the model and compare the outcomes."""
        self.clock.advance(7)
        now = self.clock.now_ms()
        expected: type[ArcoError] | None = None
        check: Check | None = None
        replay: Any = None
        try:
            # validation comes first, then the idempotency key, then the state checks
            validated = plan(now) if key is None else None
            if key is not None:
                try:
                    validated = plan(now)
                except Fail as fail:
                    if fail.cls is ValidationError:
                        raise
                    validated = fail  # type: ignore[assignment]
                if key in self.keys:
                    old_body, old_result = self.keys[key]
                    if old_body != body:
                        raise Fail(IdempotencyConflictError)
                    replay = old_result
                elif isinstance(validated, Fail):
                    raise validated
            check = validated
        except Fail as fail:
            expected = fail.cls
        before = self.cat.snapshot_version()
        try:
            result = send(key)
        except ArcoError as exc:
            assert expected is not None, f"unexpected {type(exc).__name__}: {exc}"
            assert type(exc) is expected, f"{type(exc).__name__} ({exc}), expected {expected}"
            assert self.cat.snapshot_version() == before, "a failed request was committed"
            return
        assert expected is None, f"expected {expected.__name__}, got {result!r}"
        if replay is not None:
            assert result == replay, "an idempotent retry must return the original result"
            assert self.cat.snapshot_version() == before, "a replay was committed again"
            return
        assert self.cat.snapshot_version() > before
        assert check is not None
        check(result)
        if key is not None:
            self.keys[key] = (body, result)
            self.senders[key] = (body, send)

    def new_version(self, result: Namespace | Table) -> int:
        assert result.version > self.last_version
        assert result.version <= self.cat.snapshot_version()
        self.last_version = result.version
        return result.version

    def fresh_id(self, entity_id: str) -> str:
        assert entity_id not in self.seen_ids
        self.seen_ids.add(entity_id)
        return entity_id

    def find_ns(self, name: str) -> MNamespace:
        ns = self.model.get(key_of(name))
        if ns is None:
            raise Fail(NotFoundError)
        return ns

    def find_table(self, namespace: str, name: str) -> tuple[MNamespace, MTable]:
        ns = self.find_ns(namespace)
        t = ns.tables.get(key_of(name))
        if t is None:
            raise Fail(NotFoundError)
        return ns, t

    def entity_version(self, namespace: str, table: str | None = None) -> int | None:
        ns = self.model.get(key_of(namespace))
        if ns is None:
            return None
        if table is None:
            return ns.version
        t = ns.tables.get(key_of(table))
        return t.version if t is not None else None

    def pick_ns(self, data: st.DataObject | None, drawn: str) -> str:
        """Half the time an existing namespace (in some case variant), else ``drawn``."""
        if data is None:
            return drawn
        existing = sorted(ns.name for ns in self.model.values())
        # (draw only when there is one to pick)
        if existing and data.draw(st.booleans(), label="existing namespace") is True:
            return data.draw(st.sampled_from(existing).flatmap(variants), label="namespace")
        return drawn

    def pick_table(self, data: st.DataObject, namespace: str, drawn: str) -> str:
        """Mostly an existing table of ``namespace`` (in some case variant), else ``drawn``."""
        ns = self.model.get(key_of(namespace))
        if ns is not None and ns.tables and data.draw(st.integers(0, 3), label="existing") > 0:
            names = sorted(t.name for t in ns.tables.values())
            return data.draw(st.sampled_from(names).flatmap(variants), label="table")
        return drawn

    def pick_columns(self, data: st.DataObject, namespace: str, table: str) -> list[str]:
        ns = self.model.get(key_of(namespace))
        t = ns.tables.get(key_of(table)) if ns is not None else None
        pool = COLUMN_NAMES + ([c.name for c in t.columns] * 6 if t is not None else [])
        return data.draw(st.lists(st.sampled_from(pool), max_size=1), label="columns")

    @initialize()
    def some_namespaces_and_tables(self) -> None:
        """Start from a catalog with content, so that table rules find something to change."""
        for name in ("sales", "日本"):
            self.create_namespace(name=name, description=None, properties={}, im="none", key=None)
        for ns, table, cols in (
            ("sales", "orders", [("id", "int64"), ("Name", "string"), ("ß", "bool")]),
            ("日本", "表", [("数量", "int64")]),
        ):
            self.register_table(
                data=None,
                namespace=ns,
                name=table,
                cols=[{"name": n, "type": t, "nullable": True} for n, t in cols],
                description=None,
                properties={},
                im="none",
                key=None,
            )
        assert len(self.model) == 2 and all(len(ns.tables) == 1 for ns in self.model.values())

    # --- namespace rules --------------------------------------------------------------------

    @rule(name=names_ns, description=descriptions, properties=props, im=if_matches, key=idem_keys)
    def create_namespace(
        self, name: str, description: str | None, properties: dict, im: str, key: str | None
    ) -> None:
        if_match = self._if_match(im, self.cat.snapshot_version())
        body = ("create_ns", nfc(name), description, sorted(properties.items()), if_match)

        def plan(now: int) -> Check:
            n = check_name(name)
            if if_match is not None and if_match != self.cat.snapshot_version():
                raise Fail(PreconditionFailedError)
            if key_of(n) in self.model:
                raise Fail(AlreadyExistsError)

            def check(result: Namespace) -> None:
                v = self.new_version(result)
                ns = MNamespace(
                    self.fresh_id(result.namespace_id),
                    n,
                    description,
                    dict(properties),
                    now,
                    now,
                    v,
                )
                assert sut_ns_view(result) == ns_view(ns)
                self.model[key_of(n)] = ns

            return check

        def send(k: str | None) -> Any:
            return self.cat.create_namespace(
                name,
                description=description,
                properties=properties,
                if_match=if_match,
                idempotency_key=k,
            )

        self.execute(body, key, send, plan)

    @rule(
        name=names_ns,
        description=st.sampled_from([ABSENT, None, "changed"]),
        set_props=props,
        remove=removals,
        im=if_matches,
        key=idem_keys,
        data=st.data(),
    )
    def update_namespace(
        self,
        data: st.DataObject,
        name: str,
        description: str | None,
        set_props: dict,
        remove: list,
        im: str,
        key: str | None,
    ) -> None:
        name = self.pick_ns(data, name)
        if_match = self._if_match(im, self.entity_version(name))
        body = ("update_ns", nfc(name), description, sorted(set_props.items()), remove, if_match)

        def plan(now: int) -> Check:
            check_name(name)
            ns = self.find_ns(name)
            if if_match is not None and if_match != ns.version:
                raise Fail(PreconditionFailedError)

            def check(result: Namespace) -> None:
                merged = {k: v for k, v in ns.properties.items() if k not in remove}
                merged.update(set_props)
                ns.properties = merged
                if description != ABSENT:
                    ns.description = description
                ns.updated_at = now
                ns.version = self.new_version(result)
                assert sut_ns_view(result) == ns_view(ns)

            return check

        def send(k: str | None) -> Any:
            changes: dict[str, Any] = {"set_properties": set_props, "remove_properties": remove}
            if description != ABSENT:
                changes["description"] = description
            return self.cat.update_namespace(name, if_match=if_match, idempotency_key=k, **changes)

        self.execute(body, key, send, plan)

    @rule(name=names_ns, im=if_matches, key=idem_keys, data=st.data())
    def drop_namespace(self, data: st.DataObject, name: str, im: str, key: str | None) -> None:
        name = self.pick_ns(data, name)
        if_match = self._if_match(im, self.entity_version(name))
        body = ("drop_ns", nfc(name), if_match)

        def plan(now: int) -> Check:
            check_name(name)
            ns = self.find_ns(name)
            if if_match is not None and if_match != ns.version:
                raise Fail(PreconditionFailedError)
            if ns.tables:
                raise Fail(ConflictError)

            def check(result: Namespace) -> None:
                assert sut_ns_view(result) == ns_view(ns)
                del self.model[key_of(ns.name)]

            return check

        def send(k: str | None) -> Any:
            return self.cat.drop_namespace(name, if_match=if_match, idempotency_key=k)

        self.execute(body, key, send, plan)

    # --- table rules ------------------------------------------------------------------------

    @rule(
        namespace=names_ns,
        name=names_table,
        cols=columns,
        description=descriptions,
        properties=props,
        im=if_matches,
        key=idem_keys,
        data=st.data(),
    )
    def register_table(
        self,
        data: st.DataObject | None,
        namespace: str,
        name: str,
        cols: list[dict[str, Any]],
        description: str | None,
        properties: dict,
        im: str,
        key: str | None,
    ) -> None:
        namespace = self.pick_ns(data, namespace)
        if_match = self._if_match(im, self.cat.snapshot_version())
        body = (
            "register",
            nfc(namespace),
            nfc(name),
            [(nfc(c["name"]), TYPES[c["type"]], c["nullable"]) for c in cols],
            description,
            sorted(properties.items()),
            if_match,
        )

        def plan(now: int) -> Check:
            specs = check_columns(cols)
            check_name(namespace)
            n = check_name(name)
            if if_match is not None and if_match != self.cat.snapshot_version():
                raise Fail(PreconditionFailedError)
            ns = self.find_ns(namespace)
            if key_of(n) in ns.tables:
                raise Fail(AlreadyExistsError)

            def check(result: Table) -> None:
                assert len(result.columns) == len(specs)
                t = MTable(
                    self.fresh_id(result.table_id),
                    n,
                    description,
                    dict(properties),
                    [
                        MColumn(self.fresh_id(got.column_id), pos, cname, ctype, nullable)
                        for pos, ((cname, ctype, nullable), got) in enumerate(
                            zip(specs, result.columns, strict=True)
                        )
                    ],
                    now,
                    now,
                    self.new_version(result),
                )
                assert sut_table_view(result) == table_view(ns, t)
                ns.tables[key_of(n)] = t

            return check

        def send(k: str | None) -> Any:
            return self.cat.register_table(
                namespace,
                name,
                cols,
                description=description,
                properties=properties,
                if_match=if_match,
                idempotency_key=k,
            )

        self.execute(body, key, send, plan)

    @rule(
        namespace=names_ns,
        name=names_table,
        description=st.sampled_from([ABSENT, ABSENT, None, "changed"]),
        set_props=props,
        remove=removals,
        add=columns,
        new_column_names=st.lists(names_column, min_size=1, max_size=1),
        im=if_matches,
        key=idem_keys,
        data=st.data(),
    )
    def update_table(
        self,
        data: st.DataObject,
        namespace: str,
        name: str,
        description: str | None,
        set_props: dict,
        remove: list,
        add: list[dict[str, Any]],
        new_column_names: list[str],
        im: str,
        key: str | None,
    ) -> None:
        namespace = self.pick_ns(data, namespace)
        name = self.pick_table(data, namespace, name)
        drop = self.pick_columns(data, namespace, name)
        rename = dict(zip(self.pick_columns(data, namespace, name), new_column_names, strict=False))
        self._update_table(
            namespace, name, description, set_props, remove, add, drop, rename, im, key
        )

    @precondition(lambda self: any(ns.tables for ns in self.model.values()))
    @rule(
        data=st.data(),
        action=st.sampled_from(["add", "drop", "rename", "swap"]),
        add=columns,
        new_name=names_column,
        im=st.sampled_from(["none", "right", "right", "wrong"]),
        key=idem_keys,
    )
    def alter_existing_table(
        self,
        data: st.DataObject,
        action: str,
        add: list[dict[str, Any]],
        new_name: str,
        im: str,
        key: str | None,
    ) -> None:
        """Column changes on a table that exists, mostly with columns that exist."""
        tables = sorted((ns.name, t.name) for ns in self.model.values() for t in ns.tables.values())
        namespace, name = data.draw(st.sampled_from(tables), label="table")
        name = data.draw(variants(name), label="table variant")
        _, t = self.find_table(namespace, name)
        existing = [c.name for c in t.columns] or ["id"]
        col = data.draw(st.sampled_from(existing).flatmap(variants), label="column")
        drop: list[str] = []
        rename: dict[str, str] = {}
        if action == "drop":
            drop = [col]
        elif action == "rename":
            rename = {col: new_name}
        elif action == "swap":
            other = data.draw(st.sampled_from(existing), label="other column")
            rename = {col: other, other: col}
        if action != "add":
            add = []
        self._update_table(namespace, name, ABSENT, {}, [], add, drop, rename, im, key)

    def _update_table(
        self,
        namespace: str,
        name: str,
        description: str | None,
        set_props: dict,
        remove: list,
        add: list[dict[str, Any]],
        drop: list[str],
        rename: dict[str, str],
        im: str,
        key: str | None,
    ) -> None:
        if_match = self._if_match(im, self.entity_version(namespace, name))
        renames: dict[str, str] = {}
        for old, new in rename.items():
            renames[nfc(old)] = nfc(new)
        body = (
            "update_table",
            nfc(namespace),
            nfc(name),
            description,
            sorted(set_props.items()),
            remove,
            [(nfc(c["name"]), TYPES[c["type"]], c["nullable"]) for c in add],
            [nfc(d) for d in drop],
            sorted(renames.items()),
            if_match,
        )

        def plan(now: int) -> Check:
            check_name(namespace)
            check_name(name)
            added_specs = check_columns(add)
            for d in drop:
                check_name(d)
            for old, new in rename.items():
                check_name(old)
                check_name(new)
            ns, t = self.find_table(namespace, name)
            if if_match is not None and if_match != t.version:
                raise Fail(PreconditionFailedError)
            current = {key_of(c.name): c for c in t.columns}
            for d in drop:
                if current.pop(key_of(d), None) is None:
                    raise Fail(NotFoundError)
            renamed = []
            for old, new in renames.items():
                col = current.pop(key_of(old), None)
                if col is None:
                    raise Fail(NotFoundError)
                renamed.append(replace(col, name=new))
            for col in renamed:
                if key_of(col.name) in current:
                    raise Fail(AlreadyExistsError)
                current[key_of(col.name)] = col
            for cname, _, _ in added_specs:
                if key_of(cname) in current:
                    raise Fail(AlreadyExistsError)
                current[key_of(cname)] = MColumn("?", -1, cname, "?", True)
            next_position = max((c.position for c in t.columns), default=-1) + 1

            def check(result: Table) -> None:
                kept = [c for c in current.values() if c.position >= 0]
                by_position = {c.position: c for c in result.columns}
                new_cols = []
                for i, (cname, ctype, nullable) in enumerate(added_specs):
                    got = by_position[next_position + i]
                    new_cols.append(
                        MColumn(
                            self.fresh_id(got.column_id), next_position + i, cname, ctype, nullable
                        )
                    )
                t.columns = sorted(kept + new_cols, key=lambda c: c.position)
                merged = {k: v for k, v in t.properties.items() if k not in remove}
                merged.update(set_props)
                t.properties = merged
                if description != ABSENT:
                    t.description = description
                t.updated_at = now
                t.version = self.new_version(result)
                assert sut_table_view(result) == table_view(ns, t)

            return check

        def send(k: str | None) -> Any:
            changes: dict[str, Any] = {
                "set_properties": set_props,
                "remove_properties": remove,
                "add_columns": add,
                "drop_columns": drop,
                "rename_columns": rename,
            }
            if description != ABSENT:
                changes["description"] = description
            return self.cat.update_table(
                namespace, name, if_match=if_match, idempotency_key=k, **changes
            )

        self.execute(body, key, send, plan)

    @rule(
        namespace=names_ns,
        name=names_table,
        new_name=names_table,
        new_namespace=st.none() | names_ns,
        im=if_matches,
        key=idem_keys,
        data=st.data(),
    )
    def rename_table(
        self,
        data: st.DataObject,
        namespace: str,
        name: str,
        new_name: str,
        new_namespace: str | None,
        im: str,
        key: str | None,
    ) -> None:
        namespace = self.pick_ns(data, namespace)
        name = self.pick_table(data, namespace, name)
        if new_namespace is not None:
            new_namespace = self.pick_ns(data, new_namespace)
        if_match = self._if_match(im, self.entity_version(namespace, name))
        body = (
            "rename_table",
            nfc(namespace),
            nfc(name),
            nfc(new_name),
            None if new_namespace is None else nfc(new_namespace),
            if_match,
        )

        def plan(now: int) -> Check:
            for n in (namespace, name, new_name, new_namespace):
                if n is not None:
                    check_name(n)
            ns, t = self.find_table(namespace, name)
            if if_match is not None and if_match != t.version:
                raise Fail(PreconditionFailedError)
            target = self.find_ns(new_namespace or namespace)
            existing = target.tables.get(key_of(new_name))
            if existing is not None and existing.table_id != t.table_id:
                raise Fail(AlreadyExistsError)

            def check(result: Table) -> None:
                del ns.tables[key_of(t.name)]
                t.name = nfc(new_name)
                t.updated_at = now
                t.version = self.new_version(result)
                target.tables[key_of(t.name)] = t
                assert sut_table_view(result) == table_view(target, t)

            return check

        def send(k: str | None) -> Any:
            return self.cat.rename_table(
                namespace,
                name,
                new_name,
                new_namespace=new_namespace,
                if_match=if_match,
                idempotency_key=k,
            )

        self.execute(body, key, send, plan)

    @rule(namespace=names_ns, name=names_table, im=if_matches, key=idem_keys, data=st.data())
    def drop_table(
        self, data: st.DataObject, namespace: str, name: str, im: str, key: str | None
    ) -> None:
        namespace = self.pick_ns(data, namespace)
        name = self.pick_table(data, namespace, name)
        if_match = self._if_match(im, self.entity_version(namespace, name))
        body = ("drop_table", nfc(namespace), nfc(name), if_match)

        def plan(now: int) -> Check:
            check_name(namespace)
            check_name(name)
            ns, t = self.find_table(namespace, name)
            if if_match is not None and if_match != t.version:
                raise Fail(PreconditionFailedError)

            def check(result: Table) -> None:
                assert sut_table_view(result) == table_view(ns, t)
                del ns.tables[key_of(t.name)]

            return check

        def send(k: str | None) -> Any:
            return self.cat.drop_table(namespace, name, if_match=if_match, idempotency_key=k)

        self.execute(body, key, send, plan)

    # --- idempotent retries -----------------------------------------------------------------

    @precondition(lambda self: bool(self.senders))
    @rule(data=st.data())
    def retry_with_same_key(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.senders)))
        body, send = self.senders[key]

        def plan(now: int) -> Check:
            def check(result: Any) -> None:
                raise AssertionError("a retry of a stored request must be answered from the key")

            return check

        self.execute(body, key, send, plan)

    # --- comparisons --------------------------------------------------------------------------

    def model_listing(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, ns in self.model.items():
            view = ns_view(ns)
            view["tables"] = {tk: table_view(ns, t) for tk, t in ns.tables.items()}
            out[k] = view
        return out

    @invariant()
    def catalog_matches_model(self) -> None:
        expected = self.model_listing()
        assert sut_listing(self.cat) == expected
        assert sut_listing(self.peer) == expected  # another instance reading the same store
        assert sut_listing(Catalog(self.root)) == expected  # a cold reader

    def teardown(self) -> None:
        report = verify_scope(self.cat.store)
        assert report.ok, report.findings


# Shrinking a failure re-runs many steps (Hypothesis stops shrinking after ~5 minutes): allow
# for it, so that a failure is reported with its shrunk example instead of a timeout.
pytest.mark.timeout(900)(CatalogMachine.TestCase)
CatalogMachine.TestCase.settings = settings(
    max_examples=50,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestCatalogStateMachine = CatalogMachine.TestCase
