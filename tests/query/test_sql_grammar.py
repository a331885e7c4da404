"""Hypothesis-generated SELECTs over the catalog views, posted to ``POST /api/v1/query``
and run by DuckDB directly on the same Parquet files (tests/sql_support.py): the endpoint
answers what DuckDB answers -- the same rows, in the same order where ORDER BY fixes it --
or, where DuckDB refuses the statement, a 4xx with the JSON error. Never a 5xx.

The grammar: projections of real columns (or ``*``, or aggregates over GROUP BY), one view
or a join of two on their ids, WHERE with comparisons, AND / OR / NOT, IS [NOT] NULL,
[NOT] LIKE, IN and BETWEEN on literals of the right and the wrong type, ORDER BY, LIMIT /
OFFSET, ``system.*`` spellings of the ``info.*`` views, computed values of many types
(intervals, blobs, decimals, huge integers, NaN, structs, maps, lists, unions), and now and
then a garbage token or a cut-off statement. Answers come as Arrow or as JSON (decoded back
by the column types it states); names and Arrow types must match DuckDB's too.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from arco.domains.registry import VIEWS
from arco.server import ServerSettings, create_app
from arco.server.settings import Limits
from seed_support import seed_workspace
from sql_support import direct_duckdb, view_columns

#: generated statements (bounded: this runs on every push)
EXAMPLES = 300

COLUMNS = view_columns()
#: a key of each view: unique per row, so ordering by it makes the order total
KEYS = {f"{s}.{v}": domain.specs[table].primary_key for (s, v), (domain, table) in VIEWS.items()}
KEYS |= {"info.tables": "table_id", "info.columns": "column_id", "info.namespaces": "namespace_id"}
assert set(KEYS) == set(COLUMNS)

#: (left view, right view, left column, right column): joins on ids (or asset keys)
JOINS = [
    ("catalog.tables", "catalog.namespaces", "namespace_id", "namespace_id"),
    ("catalog.columns", "catalog.tables", "table_id", "table_id"),
    ("info.columns", "catalog.columns", "column_id", "column_id"),
    ("info.tables", "catalog.tables", "table_id", "table_id"),
    ("info.namespaces", "catalog.namespaces", "namespace_id", "namespace_id"),
    ("search.postings", "catalog.tables", "table_id", "table_id"),
    ("lineage.edges", "executions.materializations", "source", "asset_key"),
    ("executions.materializations", "executions.ingested", "event_id", "event_id"),
    ("runs.tasks", "runs.runs", "run_id", "run_id"),
    ("runs.attempts", "runs.runs", "run_id", "run_id"),
]


def _kind(duckdb_type: str) -> str:
    if duckdb_type.startswith("MAP"):
        return "map"
    if duckdb_type.startswith("TIMESTAMP"):
        return "ts"
    return {"BIGINT": "int", "INTEGER": "int", "BOOLEAN": "bool", "DOUBLE": "float"}.get(
        duckdb_type, "str"
    )


# --- literals -----------------------------------------------------------------------------

#: strings of the seeded workspace (so comparisons hit rows), and awkward ones
WORDS = [
    "sales", "orders", "customers", "bi", "daily", "raw", "events_v2", "Ünïcode Straße",
    "Größe", "int64", "string", "succeeded", "failed", "started", "run-1", "run-2",
    "sales/orders", "bi/daily", "derives", "joins", "parquet", "iceberg", "owner", "analytics",
    "", " ", "%", "_", "O'Brien", "it''s", "\\", "a%b_c", "NULL", "日本語", "🙂",
]  # fmt: skip


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_text = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12)
_strings = st.one_of(st.sampled_from(WORDS), _text).map(_quote)
_ints = st.one_of(
    st.integers(-3, 40),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([2**63, -(2**63) - 1, 10**30]),  # past BIGINT
).map(str)
_floats = st.floats(allow_nan=False, allow_infinity=False, width=64).map(repr)
_bools = st.sampled_from(["true", "false", "TRUE", "NULL"])
_timestamps = st.one_of(
    st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2100, 1, 1)).map(
        lambda d: f"TIMESTAMPTZ '{d.isoformat(sep=' ')}+00'"
    ),
    st.sampled_from(["'2026-01-01'", "'2026-12-31 23:59:59'", "'not a time'", "now()"]),
)
LITERALS = {
    "str": _strings,
    "int": _ints,
    "float": _floats,
    "bool": _bools,
    "ts": _timestamps,
    "map": st.sampled_from(["MAP {'owner': 'analytics'}", "MAP {}"]),
}
_any_literal = st.one_of(*LITERALS.values(), st.just("NULL"))


def literal_for(kind: str) -> st.SearchStrategy[str]:
    """A literal of the column's type mostly, of any type (the wrong one) sometimes."""
    return st.one_of(LITERALS[kind], LITERALS[kind], LITERALS[kind], _any_literal)


# --- the grammar --------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """FROM: one view (alias ``a``) or two joined on ids (aliases ``a`` and ``b``); the
    ``spelled`` names are what the endpoint is sent (``system.*`` for some ``info.*``)."""

    views: tuple[str, ...]
    spelled: tuple[str, ...]
    join: str = ""
    on: str = ""

    def columns(self) -> list[tuple[str, str]]:
        """(qualified column, kind) of every column in scope."""
        return [
            (f"{alias}.{name}", _kind(kind))
            for alias, view in zip("ab", self.views, strict=False)
            for name, kind in COLUMNS[view]
        ]

    def keys(self) -> list[str]:
        return [f"{alias}.{KEYS[view]}" for alias, view in zip("ab", self.views, strict=False)]

    def sql(self, spelled: bool) -> str:
        names = self.spelled if spelled else self.views
        text = f"{names[0]} AS a"
        if len(names) == 2:
            text += f" {self.join} {names[1]} AS b ON {self.on}"
        return text


def _spelling(view: str) -> st.SearchStrategy[str]:
    if view.startswith("info."):
        return st.sampled_from([view, "system." + view.removeprefix("info.")])
    return st.just(view)


@st.composite
def sources(draw: st.DrawFn) -> Source:
    if draw(st.integers(0, 3)) == 0:
        left, right, lcol, rcol = draw(st.sampled_from(JOINS))
        if draw(st.booleans()):
            left, right, lcol, rcol = right, left, rcol, lcol
        return Source(
            views=(left, right),
            spelled=(draw(_spelling(left)), draw(_spelling(right))),
            join=draw(st.sampled_from(["JOIN", "LEFT JOIN"])),
            on=f"a.{lcol} = b.{rcol}",
        )
    view = draw(st.sampled_from(sorted(COLUMNS)))
    return Source(views=(view,), spelled=(draw(_spelling(view)),))


def predicates(columns: list[tuple[str, str]]) -> st.SearchStrategy[str]:
    """One condition on a column in scope."""
    scalar = [(c, k) for c, k in columns if k != "map"]
    maps = [c for c, k in columns if k == "map"]
    strings = [c for c, k in columns if k == "str"]

    @st.composite
    def leaf(draw: st.DrawFn) -> str:
        if maps and draw(st.integers(0, 5)) == 0:
            column = f"{draw(st.sampled_from(maps))}[{draw(_strings)}]"
            kind = "str"
        else:
            column, kind = draw(st.sampled_from(scalar))
        form = draw(st.integers(0, 9))
        if form <= 3:
            op = draw(st.sampled_from(["=", "<>", "<", "<=", ">", ">=", "!="]))
            return f"{column} {op} {draw(literal_for(kind))}"
        if form <= 5:
            return f"{column} IS {draw(st.sampled_from(['', 'NOT ']))}NULL"
        if form <= 7:
            if strings and draw(st.integers(0, 4)) > 0:  # mostly on text
                column = draw(st.sampled_from(strings))
            op = draw(st.sampled_from(["LIKE", "NOT LIKE", "ILIKE"]))
            return f"{column} {op} {draw(_strings)}"
        if form == 8:
            items = draw(st.lists(literal_for(kind), min_size=1, max_size=3))
            return f"{column} IN ({', '.join(items)})"
        return f"{column} BETWEEN {draw(literal_for(kind))} AND {draw(literal_for(kind))}"

    return st.recursive(
        leaf(),
        lambda inner: st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]} AND {p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]} OR {p[1]})"),
            inner.map(lambda p: f"NOT ({p})"),
        ),
        max_leaves=4,
    )


#: constant expressions of many types: each output format must carry every one of them
#: (UNREPRESENTABLE below lists more, which the JSON and CSV encoders cannot yet)
CONSTANTS = [
    "1/0", "-1/0", "0/0", "'NaN'::DOUBLE", "-0.0::DOUBLE", "1e308 * 10", "INTERVAL 1 DAY",
    "INTERVAL '1 year 2 months 3 seconds'", "x'00ff'::BLOB", "'x'::BLOB",
    "uuid '00000000-0000-4000-8000-000000000001'", "TIME '12:34:56.789'", "DATE '2026-01-01'",
    "1.10::DECIMAL(4, 2)", "170141183460469231731687303715884105727",
    "-170141183460469231731687303715884105727", "18446744073709551615::UBIGINT", "[1, 2, NULL]",
    "{'a': 1, 'b': 'x'}", "MAP {'k': 1}", "NULL::INTEGER", "NULL", "TIMESTAMP '2026-01-01 12:00:00'",
    "TIMESTAMP '0001-01-01'", "TIMESTAMP '9999-12-31 23:59:59.999999'",
    "TIMESTAMPTZ '2026-06-01 12:00:00+02'", "'🙂'", "'\\'", "'a\nb'", "[]::INT[]",
    "'101'::BITSTRING", "union_value(k := 1)", "true", "2**70", "[[1], [2, 3]]", "''",
]  # fmt: skip


def expressions(columns: list[tuple[str, str]]) -> st.SearchStrategy[str]:
    """A computed value: a constant, or a function of a column of the matching kind."""
    by_kind: dict[str, list[str]] = {}
    for column, kind in columns:
        by_kind.setdefault(kind, []).append(column)
    forms = {
        "int": ["{} + 1", "{} * 2.5", "{} / 0", "{} % 7", "-{}", "CAST({} AS VARCHAR)"],
        "str": ["upper({})", "length({})", "{} || '!'", "{}[1:2]", "{} IS NULL", "md5({})"],
        "ts": [
            "CAST({} AS DATE)",
            "{} + INTERVAL 1 DAY",
            "date_trunc('hour', {})",
            "epoch_ms({})",
            "{} - {}",
            "CAST({} AS TIMESTAMP)",
        ],
        "map": ["map_keys({})", "cardinality({})", "{}['owner']"],
        "bool": ["NOT {}", "CAST({} AS INTEGER)"],
    }
    options = [st.sampled_from(CONSTANTS)]
    for kind, names in by_kind.items():
        if kind in forms:
            options.append(
                st.tuples(st.sampled_from(forms[kind]), st.sampled_from(names)).map(
                    lambda p: p[0].replace("{}", p[1])
                )
            )
    return st.one_of(options)


@dataclass(frozen=True)
class Query:
    """A generated SELECT, in parts (to run it without its LIMIT / OFFSET as well)."""

    select: str
    source: Source
    where: str = ""
    group_by: str = ""
    order_by: str = ""
    #: ORDER BY fixes the order of every row (it ends with a unique key)
    total_order: bool = False
    limit: str = ""

    def sql(self, *, spelled: bool = True, limited: bool = True) -> str:
        text = f"SELECT {self.select} FROM {self.source.sql(spelled)}"
        for keyword, part in (
            ("WHERE", self.where),
            ("GROUP BY", self.group_by),
            ("ORDER BY", self.order_by),
        ):
            if part:
                text += f" {keyword} {part}"
        if self.limit and limited:
            text += f" {self.limit}"
        return text


def _direction(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(["", " ASC", " DESC", " DESC NULLS FIRST", " ASC NULLS LAST"]))


@st.composite
def queries(draw: st.DrawFn) -> Query:
    source = draw(sources())
    columns = source.columns()
    scalar = [c for c, k in columns if k != "map"]
    where = draw(st.one_of(st.just(""), predicates(columns)))
    if draw(st.integers(0, 3)) == 0:  # aggregates over groups
        groups = draw(st.lists(st.sampled_from(scalar), min_size=1, max_size=2, unique=True))
        aggregates = draw(
            st.lists(
                st.one_of(
                    st.just("count(*)"),
                    st.sampled_from(scalar).map(lambda c: f"count({c})"),
                    st.sampled_from(scalar).map(lambda c: f"min({c})"),
                    st.sampled_from(scalar).map(lambda c: f"max({c})"),
                ),
                min_size=1,
                max_size=3,
            )
        )
        query = Query(
            select=", ".join([*groups, *aggregates]),
            source=source,
            where=where,
            group_by=", ".join(groups),
        )
        keys = orderable = groups
    else:
        if draw(st.integers(0, 4)) == 0:
            select = "*"
        else:
            picked = draw(
                st.lists(st.sampled_from([c for c, _ in columns]), min_size=1, max_size=5)
            )
            computed = draw(st.lists(expressions(columns), max_size=3))
            select = ", ".join([*picked, *(f"{e} AS e{i}" for i, e in enumerate(computed))])
        query = Query(select=select, source=source, where=where)
        keys, orderable = source.keys(), scalar
    if draw(st.booleans()):
        order = draw(st.lists(st.sampled_from(orderable), max_size=2, unique=True))
        total = draw(st.booleans())
        if total:
            order += [k for k in keys if k not in order]
        if order:
            query = replace(
                query,
                order_by=", ".join(f"{c}{_direction(draw)}" for c in order),
                total_order=total,
            )
    if draw(st.integers(0, 2)) == 0:
        limit = f"LIMIT {draw(st.integers(0, 12))}"
        if draw(st.booleans()):
            limit += f" OFFSET {draw(st.integers(0, 8))}"
        query = replace(query, limit=limit)
    return query


GARBAGE = [
    ";", ",", "(", ")", "FROM", "SELECT", "WHERE", "'", '"', "--", "/*", "*", "AND",
    "ORDER BY", "UNION", "JOIN", "1e", "::", "$1", "?", "\\", "DROP TABLE a", "; SELECT 1",
    "catalog.nope", "a.nope", "GROUP BY", "LIMIT -1", "OFFSET 'x'",
]  # fmt: skip


@st.composite
def mangled(draw: st.DrawFn, sql: str) -> str:
    """``sql`` with a garbage token put somewhere, or cut off."""
    at = draw(st.integers(0, len(sql)))
    if draw(st.integers(0, 3)) == 0:
        return sql[:at]
    return f"{sql[:at]} {draw(st.sampled_from(GARBAGE))} {sql[at:]}"


# --- comparing results --------------------------------------------------------------------


def _canon(value: Any, as_json: bool = False) -> Any:
    """A hashable, comparable form of a cell (structs, maps and lists as tuples, times in
    UTC); ``as_json``: as the endpoint's JSON states it (a NaN or infinite float is null)."""
    if isinstance(value, float):
        if not math.isfinite(value) and as_json:
            return None
        return ("nan",) if math.isnan(value) else value
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    if isinstance(value, dict):
        return tuple(sorted((str(k), _canon(v, as_json)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_canon(v, as_json) for v in value)
    return value


def _rows(table: pa.Table, as_json: bool = False) -> list[tuple[Any, ...]]:
    columns = [column.to_pylist() for column in table.columns]
    return [tuple(_canon(v, as_json) for v in row) for row in zip(*columns, strict=True)]


def _from_json(value: Any, arrow_type: str) -> Any:
    """A JSON cell of the endpoint back as the Python value of its Arrow type (the
    encoding docs/api.md describes: times ISO 8601, decimals as text, bytes base64)."""
    if value is None:
        return None
    if arrow_type.startswith("timestamp"):
        return _canon(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
    if arrow_type.startswith("decimal"):
        return Decimal(value)
    if arrow_type.startswith("date"):
        return dt.date.fromisoformat(value)
    if arrow_type.startswith("time"):
        return dt.time.fromisoformat(value)
    if arrow_type in ("binary", "large_binary"):
        return base64.b64decode(value)
    return _canon(value, as_json=True)


@dataclass
class Answer:
    """What the endpoint answered: column names and Arrow types and rows, or an error."""

    status: int
    names: list[str]
    types: list[str]
    rows: list[tuple[Any, ...]]
    error: str = ""


def ask(client: TestClient, sql: str, fmt: str) -> Answer:
    r = client.post(f"/api/v1/query?format={fmt}", json={"sql": sql})
    assert r.status_code < 500, f"{r.status_code} for {sql!r}: {r.text[:500]}"
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/json"), r.headers
        error = r.json()["error"]
        assert error["code"] and error["message"], r.text
        return Answer(r.status_code, [], [], [], f"{error['code']}: {error['message']}")
    assert r.status_code == 200, r.text
    assert r.headers["X-Arco-Truncated"] == "false", sql
    if fmt == "arrow":
        table = pa.ipc.open_stream(r.content).read_all()
        types = [str(t) for t in table.schema.types]
        return Answer(200, table.column_names, types, _rows(table))
    body = r.json()
    types = [c["type"] for c in body["columns"]]
    rows = [
        tuple(_from_json(v, t) for v, t in zip(row, types, strict=True)) for row in body["rows"]
    ]
    assert body["row_count"] == len(rows)
    return Answer(200, [c["name"] for c in body["columns"]], types, rows)


def reference(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """DuckDB's answer (raises duckdb.Error where it refuses the statement)."""
    cursor = con.cursor()
    try:
        return cursor.sql(sql).to_arrow_table()
    finally:
        cursor.close()


def _one_select(sql: str) -> bool:
    """Whether ``sql`` is exactly one SELECT (all the direct connection is given to run:
    the endpoint refuses the rest)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error:
        return True  # DuckDB's own parser error is the reference
    return len(statements) == 1 and statements[0].type == duckdb.StatementType.SELECT


# --- the test -----------------------------------------------------------------------------


@dataclass
class Stack:
    client: TestClient
    direct: duckdb.DuckDBPyConnection


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("sql-grammar") / "store"
    seed_workspace(f"file://{root}")
    settings_ = ServerSettings(
        store_url=f"file://{root}",
        dev=True,
        compactor=False,
        limits=Limits(query_per_s=10_000.0, query_burst=10_000, requests_per_s=10_000.0),
    )
    direct = direct_duckdb(root)
    with TestClient(create_app(settings_)) as client:
        yield Stack(client, direct)
    direct.close()


#: errors DuckDB raises while it runs a statement, on the values it meets: whether a
#: statement meets them depends on the plan (the order it evaluates OR and IN operands in,
#: what it filters first), and the endpoint's plan over materialised tables differs from the
#: plan over read_parquet -- ``a.column_id IN (0) OR a.column_id <> 'x'`` fails to cast a
#: UUID on the files and returns every row on the endpoint. Either answer is DuckDB's.
RUNTIME_ERRORS = (
    duckdb.ConversionException,
    duckdb.OutOfRangeException,
    duckdb.InvalidInputException,
)
RUNTIME_MESSAGES = ("Conversion Error", "Out of Range Error", "Invalid Input Error")


def check(stack: Stack, query: Query, sql: str, direct_sql: str, fmt: str, mangled: bool) -> None:
    """The endpoint's answer to ``sql`` against DuckDB's to ``direct_sql`` (the same
    statement with ``info.`` for ``system.``)."""
    answer = ask(stack.client, sql, fmt)
    if not _one_select(direct_sql):
        event("not one SELECT")
        assert answer.status == 400, f"{sql!r} is not one SELECT, yet answered {answer}"
        return
    try:
        expected = reference(stack.direct, direct_sql)
    except RUNTIME_ERRORS:
        event(f"DuckDB fails at run time, the endpoint answers {answer.status}")
        return
    except duckdb.Error as exc:
        event(f"DuckDB refuses: {type(exc).__name__}")
        assert answer.status == 400, f"DuckDB refuses {sql!r} ({exc}), the endpoint answered 200"
        return
    if answer.status == 400 and any(m in answer.error for m in RUNTIME_MESSAGES):
        event("the endpoint fails at run time, DuckDB answers")
        return
    assert answer.status == 200, f"DuckDB runs {sql!r}, the endpoint answered {answer.error}"
    rows = _rows(expected, as_json=fmt == "json")
    event("rows compared" if rows else "no rows")
    assert answer.names == expected.column_names, sql
    assert answer.types == [str(t) for t in expected.schema.types], sql
    if mangled:
        assert len(answer.rows) == len(rows), sql
    elif query.total_order:
        assert answer.rows == rows, sql
    elif query.limit:
        # the rows a LIMIT keeps depend on an order nothing fixes: as many, all from the rest
        assert len(answer.rows) == len(rows), sql
        try:
            everything = _rows(
                reference(stack.direct, query.sql(spelled=False, limited=False)),
                as_json=fmt == "json",
            )
        except RUNTIME_ERRORS:  # without the LIMIT, the plan meets other values
            return
        assert not Counter(answer.rows) - Counter(everything), sql
    else:
        assert Counter(answer.rows) == Counter(rows), sql


def _fuzz(stack: Stack, query: Query, data: Any) -> None:
    sql, direct_sql = query.sql(), query.sql(spelled=False)
    mangle = data.draw(st.integers(0, 7)) == 3  # about one in 8 (not 0: Hypothesis favours it)
    if mangle:
        sql = direct_sql = data.draw(mangled(direct_sql), label="mangled")
    fmt = data.draw(st.sampled_from(["arrow", "json"]), label="format")
    note(f"{fmt}: {sql}")
    check(stack, query, sql, direct_sql, fmt, mangle)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@given(query=queries(), data=st.data())
@_settings(EXAMPLES)
def test_endpoint_answers_what_duckdb_answers(stack: Stack, query: Query, data: Any) -> None:
    _fuzz(stack, query, data)


@pytest.mark.slow
@given(query=queries(), data=st.data())
@_settings(10 * EXAMPLES)  # 3,000: the slow step must keep CI under 20 minutes
def test_endpoint_answers_what_duckdb_answers_longer(stack: Stack, query: Query, data: Any) -> None:
    _fuzz(stack, query, data)


#: values DuckDB holds and Python's datetime cannot (years past 9999, infinities,
#: nanoseconds), also inside lists and structs: JSON and CSV carry them as DuckDB's JSON does
UNREPRESENTABLE = [
    "'infinity'::TIMESTAMP",
    "'-infinity'::TIMESTAMPTZ",
    "'-infinity'::DATE",
    "DATE '10000-01-01'",
    "TIMESTAMP '10000-01-01 00:00:00'",
    "'2026-01-01 00:00:00.000000001'::TIMESTAMP_NS",
    "['infinity'::TIMESTAMP, NULL]",
    "{'a': DATE '10000-01-01'}",
]


@pytest.mark.parametrize("fmt", ["arrow", "json", "csv"])
@pytest.mark.parametrize("value", UNREPRESENTABLE)
def test_values_python_cannot_hold_are_answered(stack: Stack, value: str, fmt: str) -> None:
    """Every format answers (JSON and CSV were 500s: found fuzzing the output formats)."""
    r = stack.client.post(f"/api/v1/query?format={fmt}", json={"sql": f"SELECT {value} AS v"})
    assert r.status_code == 200, r.text
    (expected,) = stack.direct.execute(f"SELECT to_json({value})").fetchone() or (None,)
    if fmt == "json":
        assert r.json()["rows"] == [[json.loads(expected)]]
    elif fmt == "csv":
        cell = next(csv.reader(io.StringIO(r.text.splitlines()[1])))[0]
        decoded = json.loads(expected)
        assert cell == (decoded if isinstance(decoded, str) else json.dumps(decoded))


def test_the_grammar_reaches_rows(stack: Stack) -> None:
    """Every view holds rows (so the comparisons compare rows), as many on both sides."""
    for view in COLUMNS:
        (count,) = stack.direct.execute(f"SELECT count(*) FROM {view}").fetchone() or (0,)
        assert count > 0, view
        r = stack.client.post("/api/v1/query", json={"sql": f"SELECT count(*) AS n FROM {view}"})
        assert r.json()["rows"] == [[count]], view
