"""Asset IO: outputs become catalog tables, inputs are read back, checks run, and a
successful task is recorded in lineage and executions (ADR 015).

One :class:`AssetIO` serves one workspace. It is built from the workspace's scoped object
store (where output files are written), a :class:`~arco.catalog.api.CatalogApi` (tables and
lineage) and an :class:`~arco.executions.api.ExecutionsApi` (materializations); the local
:class:`~arco.catalog.Catalog` / :class:`~arco.executions.Executions` and their remote
clients work alike.

Invariants:

* an asset's value becomes Arrow through :func:`to_arrow` (pyarrow, pandas, polars, DuckDB,
  Arrow C streams, record batches, a dict of columns); ``None`` means no table output;
  anything else is refused with one line naming the asset and the type;
* one successful attempt writes exactly one Parquet file, create-only, at
  ``data/{namespace}/{name}/{dim=value/...}{materialization_id}.parquet``
  (:func:`arco.metadata.layout.asset_data_file`), where ``materialization_id`` is
  :func:`materialization_id` of the attempt id: a file is never overwritten, a retry of
  the same attempt finds its own file, and the materialization row names its file through
  its id (nothing else has to be stored to read it back);
* the asset's catalog table ``namespace.name`` (format ``parquet``, location the asset's
  data directory) is created on the first output and evolved by later ones: new columns
  are added; a column whose type is a widening (``int32`` -> ``int64``, ``float`` ->
  ``double``, a wider decimal, ``string`` -> ``large_string``, ``null`` -> anything) of
  the catalog's is
  re-declared with the wider type (dropped and added again in one commit, the only type
  change the catalog's column API allows); a narrower output is cast up to the catalog's
  type before it is written; any other change is refused naming the column. When the
  table already has the output's columns, no catalog commit happens (one read);
* checks run on the output before it is written; a blocking check that does not pass
  fails the task and nothing is written;
* recording a success adds the lineage edges ``input -> output`` (edge type
  :data:`EXECUTION_EDGE`; only missing edges are added) and appends one ``materialization``
  event whose idempotency key (``mat:{attempt_id}``), event id, time and materialization
  id all derive from the attempt, so recording again is a no-op.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from ulid import ULID

from arco.catalog.api import CatalogApi
from arco.catalog.model import Table
from arco.core.arrow_types import canonical_type, parse_column_type
from arco.core.assets import AssetKey
from arco.core.clock import rfc3339_ms
from arco.core.names import name_key
from arco.core.paging import MAX_PAGE
from arco.core.partitions import PartitionKey
from arco.errors import (
    AlreadyExistsError,
    ArcoError,
    ConflictError,
    NotFoundError,
    ObjectExistsError,
    ObjectNotFoundError,
    PreconditionFailedError,
    ValidationError,
)
from arco.executions.api import ExecutionsApi
from arco.executions.model import Materialization
from arco.executions.payloads import default_materialization_id
from arco.lineage.state import node_key
from arco.metadata.layout import asset_data_dir, asset_data_file
from arco.orchestration.assets import AssetContext, AssetDef, CheckResult, run_builtin_check
from arco.orchestration.manifest import AssetSpec, CheckSpec
from arco.storage.port import ObjectStore
from arco.tier2.envelope import EventEnvelope

__all__ = [
    "EXECUTION_EDGE",
    "AssetIO",
    "TaskOutput",
    "blocking_failures",
    "execute_asset",
    "input_keys",
    "materialization_id",
    "run_checks",
    "to_arrow",
    "upstream_partitions",
]

#: the lineage edge type of an edge observed by running a task (input read -> output written)
EXECUTION_EDGE = "execution"
#: the ``source`` of the events this module appends
EVENT_SOURCE = "arco.orchestration"
#: the view name of the output table in ``sql`` checks
SQL_CHECK_VIEW = "output"
#: how often registering or evolving a table is retried when other writers change it
_CATALOG_ROUNDS = 20

_BAD_RETURN = (
    "{where}: returned {type}; an asset must return an Arrow-convertible table "
    "(pyarrow, pandas, polars, DuckDB) or None"
)


def _one_line(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, ArcoError) else f"{type(exc).__name__}: {exc}"
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _where_partition(partition_key: str) -> str:
    return f" [{partition_key}]" if partition_key else ""


def materialization_id(attempt_id: str) -> str:
    """The materialization id of an attempt's success: what the compactor would derive from
    the event's idempotency key ``mat:{attempt_id}``, and the name of the attempt's file."""
    return default_materialization_id(f"k:mat:{attempt_id}")


# --- conversion ----------------------------------------------------------------------------


def to_arrow(value: object, where: str) -> pa.Table:
    """``value`` as an Arrow table (see the module); ``where`` (the asset key) names the
    asset in the one-line ValidationError for anything else. ``None`` is not a table:
    callers treat it as "no output" before calling this."""
    try:
        table = _convert(value, where)
    except ArcoError:
        raise
    except Exception as exc:
        raise ValidationError(
            f"{where}: cannot convert the returned {type(value).__name__} to Arrow "
            f"({_one_line(exc)})"
        ) from None
    if table is None:
        raise ValidationError(_BAD_RETURN.format(where=where, type=type(value).__name__))
    return table


def _convert(value: object, where: str) -> pa.Table | None:
    if isinstance(value, pa.Table):
        return value
    if isinstance(value, pa.RecordBatch):
        return pa.Table.from_batches([value])
    if isinstance(value, pa.RecordBatchReader):
        return value.read_all()
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValidationError(f"{where}: a dict of columns must have string keys")
        return pa.table(dict(value))
    kind = type(value)
    module = kind.__module__.split(".")[0].lstrip("_")
    # duck-typed by module: pandas and polars are imported only by the user's code
    if module == "pandas" and kind.__name__ == "DataFrame":
        return pa.Table.from_pandas(value, preserve_index=False)
    if module == "polars" and kind.__name__ in ("DataFrame", "LazyFrame"):
        frame: Any = value.collect() if kind.__name__ == "LazyFrame" else value  # type: ignore[attr-defined]
        arrow: pa.Table = frame.to_arrow()
        return arrow
    if module == "duckdb":
        for method in ("to_arrow_table", "fetch_arrow_table"):
            if hasattr(value, method):
                fetched: pa.Table = getattr(value, method)()
                return fetched
    if hasattr(value, "__arrow_c_stream__"):
        return pa.table(value)
    if isinstance(value, list | tuple | Iterator):
        batches = list(value)
        if batches and all(isinstance(b, pa.RecordBatch) for b in batches):
            return pa.Table.from_batches(batches)
        if not batches:
            raise ValidationError(
                f"{where}: returned no record batches (return None for no output, or an "
                "empty table with its schema)"
            )
    return None


def _normalize(table: pa.Table, where: str) -> pa.Table:
    """Dictionary columns decoded to their values, string and binary views made plain
    strings and binaries, schema metadata dropped, names checked."""
    seen: set[str] = set()
    for name in table.column_names:
        if not isinstance(name, str) or not name:
            raise ValidationError(f"{where}: every column needs a non-empty name")
        key = name_key(name)
        if key in seen:
            raise ValidationError(f"{where}: column {name!r} appears twice")
        seen.add(key)
    for i, f in enumerate(table.schema):
        plain = _PLAIN.get(f.type, f.type.value_type if pa.types.is_dictionary(f.type) else None)
        if plain is not None:
            decoded = pc.cast(table.column(i), plain)
            table = table.set_column(i, pa.field(f.name, plain, f.nullable), decoded)
    return table.replace_schema_metadata(None)


#: view types stored as their plain types (polars and DuckDB may produce them)
_PLAIN = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


@lru_cache(maxsize=4096)
def _canonical(text: str) -> str:
    return canonical_type(text)


@lru_cache(maxsize=4096)
def _parse(text: str) -> pa.DataType:
    return parse_column_type(text)


def _type_text(where: str, f: pa.Field) -> str:
    try:
        return _canonical(str(f.type))
    except ValidationError as exc:
        raise ValidationError(
            f"{where}: column {f.name!r} has Arrow type {f.type}, which a catalog column "
            f"cannot hold ({exc.message.split(': ', 1)[-1]})"
        ) from None


def _widens(narrow: pa.DataType, wide: pa.DataType) -> bool:
    """Whether every value of ``narrow`` is a value of ``wide`` (and they differ)."""
    t = pa.types
    if narrow == wide:
        return False
    if t.is_null(narrow):  # a column of nulls only
        return True
    if t.is_signed_integer(narrow) and t.is_signed_integer(wide):
        return bool(wide.bit_width > narrow.bit_width)
    if t.is_unsigned_integer(narrow) and t.is_integer(wide):
        return bool(wide.bit_width > narrow.bit_width)
    if t.is_floating(narrow) and t.is_floating(wide):
        return bool(wide.bit_width > narrow.bit_width)
    if t.is_decimal(narrow) and t.is_decimal(wide):
        return bool(wide.scale == narrow.scale and wide.precision >= narrow.precision)
    return (narrow, wide) in (
        (pa.string(), pa.large_string()),
        (pa.binary(), pa.large_binary()),
    )


# --- task outputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskOutput:
    """What one successful task wrote: the file (a key of the workspace store), its rows and
    bytes, the catalog table and its columns as ``(name, type)``."""

    asset_key: str
    partition_key: str
    table_id: str
    file: str
    rows: int
    bytes: int
    columns: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object (what travels in run events)."""
        return {
            "asset_key": self.asset_key,
            "partition_key": self.partition_key,
            "table_id": self.table_id,
            "file": self.file,
            "rows": self.rows,
            "bytes": self.bytes,
            "columns": [[name, type_] for name, type_ in self.columns],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TaskOutput:
        """Read :meth:`to_json`'s object back (one-line ValidationError on a wrong shape)."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"task output: must be an object (got {type(data).__name__})")
        try:
            fields = {
                "asset_key": data["asset_key"],
                "partition_key": data["partition_key"],
                "table_id": data["table_id"],
                "file": data["file"],
                "rows": data["rows"],
                "bytes": data["bytes"],
                "columns": tuple(
                    (c[0], c[1])
                    for c in data["columns"]
                    if isinstance(c, list | tuple) and len(c) == 2
                ),
            }
        except (KeyError, TypeError, IndexError) as exc:
            raise ValidationError(f"task output: missing or malformed field {exc}") from None
        for name in ("asset_key", "partition_key", "table_id", "file"):
            if not isinstance(fields[name], str):
                raise ValidationError(f"task output.{name}: must be a string")
        for name in ("rows", "bytes"):
            value = fields[name]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValidationError(f"task output.{name}: must be an integer >= 0")
        if len(fields["columns"]) != len(data["columns"]) or not all(
            isinstance(v, str) for c in fields["columns"] for v in c
        ):
            raise ValidationError("task output.columns: must be [name, type] string pairs")
        return cls(**fields)


# --- checks --------------------------------------------------------------------------------


def run_checks(asset: AssetDef | AssetSpec, table: pa.Table) -> list[CheckResult]:
    """Run every check of ``asset`` over ``table``, in declaration order.

    * ``row_count`` / ``not_null`` / ``unique``: :func:`~arco.orchestration.assets.run_builtin_check`;
    * ``freshness``: passes (the output is being materialized now; the lag of an asset's
      last materialization is judged by its partition status, not here);
    * ``sql``: the query runs in DuckDB with ``table`` as the view ``output``; it passes
      when it returns no row, or exactly one row of one boolean column that is true (so
      both ``SELECT * FROM output WHERE id IS NULL`` and ``SELECT count(*) = 0 FROM
      output WHERE ...`` work); any other result fails, naming how many rows and the first;
    * ``python``: the function is called with ``table`` and must return a bool or a
      :class:`CheckResult` (its ``passed`` and ``message`` are used). Given an
      :class:`AssetSpec` instead of the definition, it is imported from its entry point.

    A check that raises is a failed check whose message is the exception's, on one line.
    Each result carries the check's kind and blocking flag.
    """
    spec = asset.spec if isinstance(asset, AssetDef) else asset
    functions = (
        {n: c.fn for n, c in asset.python_checks.items()} if isinstance(asset, AssetDef) else {}
    )
    results: list[CheckResult] = []
    con: Any = None
    try:
        for check in spec.checks:
            try:
                if check.kind in ("row_count", "not_null", "unique"):
                    result = run_builtin_check(check, table)
                elif check.kind == "freshness":
                    result = CheckResult(check.name, True, "materialized now", check.blocking)
                elif check.kind == "sql":
                    if con is None:
                        import duckdb

                        con = duckdb.connect()
                        con.register(SQL_CHECK_VIEW, table)
                        # also under the asset's own name (``SELECT ... FROM orders``)
                        name = spec.asset_key.name
                        if name.isidentifier() and name != SQL_CHECK_VIEW:
                            con.register(name, table)
                    result = _sql_check(con, check)
                else:
                    result = _python_check(check, functions.get(check.name), table)
            except Exception as exc:
                result = CheckResult(check.name, False, _one_line(exc), check.blocking)
            results.append(
                dataclasses.replace(
                    result, name=check.name, blocking=check.blocking, kind=check.kind
                )
            )
    finally:
        if con is not None:
            con.close()
    return results


def blocking_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    """The results that fail their task (blocking checks that did not pass)."""
    return [r for r in results if r.blocks]


def _sql_check(con: Any, check: CheckSpec) -> CheckResult:
    sql = check.params.get("sql")
    if not isinstance(sql, str):
        return CheckResult(check.name, False, "no query (params.sql)", check.blocking)
    cursor = con.execute(sql)
    rows: list[tuple[Any, ...]] = cursor.fetchmany(101)
    if not rows:
        return CheckResult(check.name, True, "no rows", check.blocking)
    if len(rows) == 1 and len(rows[0]) == 1 and isinstance(rows[0][0], bool):
        passed = rows[0][0]
        return CheckResult(check.name, passed, f"returned {str(passed).lower()}", check.blocking)
    count = "more than 100 rows" if len(rows) > 100 else f"{len(rows)} row(s)"
    first = repr(rows[0])
    first = first if len(first) <= 200 else first[:197] + "..."
    return CheckResult(check.name, False, f"{count}, first {first}", check.blocking)


def _load_check(entry_point: object) -> Any:
    if not isinstance(entry_point, str) or ":" not in entry_point:
        raise ValidationError(f"check entry point must be 'module:qualname' (got {entry_point!r})")
    module_name, _, qualname = entry_point.partition(":")
    value: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        value = getattr(value, part)
    return getattr(value, "fn", value)


def _python_check(check: CheckSpec, fn: Any, table: pa.Table) -> CheckResult:
    if fn is None:
        fn = _load_check(check.params.get("entry_point"))
    value = fn(table)
    if isinstance(value, CheckResult):
        return value
    if isinstance(value, bool):
        return CheckResult(check.name, value, "passed" if value else "returned False", True)
    return CheckResult(
        check.name,
        False,
        f"returned {type(value).__name__}; a check must return a bool or a CheckResult",
        True,
    )


# --- dependencies --------------------------------------------------------------------------


def input_keys(asset: AssetDef) -> list[str]:
    """The upstream assets an execution of ``asset`` reads (its parameters' assets; ``deps=``
    entries only order the run and are not read), sorted."""
    return sorted(set(asset.inputs.values()))


def upstream_partitions(
    spec: AssetSpec, upstream: AssetSpec | None, partition_key: str
) -> list[str] | None:
    """Which partitions of ``upstream`` one task of ``spec`` reads when the upstream did not
    run in the same run (the planner's edge rule): the same partition when both have the
    same partitions definition, ``[""]`` for an unpartitioned upstream, else every
    partition (None). An unknown upstream (not in the manifest) is read whole (None)."""
    if upstream is None:
        return None
    if upstream.partitions is None:
        return [""]
    if upstream.partitions == spec.partitions:
        return [partition_key]
    return None


# --- the workspace's IO --------------------------------------------------------------------


class AssetIO:
    """Outputs, inputs and success records of one workspace (see the module)."""

    def __init__(self, store: ObjectStore, catalog: CatalogApi, executions: ExecutionsApi) -> None:
        self.store = store
        self.catalog = catalog
        self.executions = executions

    # --- outputs ------------------------------------------------------------------------

    def table_location(self, spec: AssetSpec) -> str:
        """The catalog location of an asset's table: its data directory's URL."""
        key = spec.asset_key
        return f"{self.store.url.rstrip('/')}/{asset_data_dir(key.namespace, key.name)}"

    def write_output(
        self,
        spec: AssetSpec,
        partition_key: str,
        table: pa.Table,
        *,
        attempt_id: str,
        run_id: str,
    ) -> TaskOutput:
        """Register or evolve the asset's catalog table, then write ``table`` as the
        attempt's Parquet file (create-only; an identical file of the same attempt is
        accepted, a different one is a ConflictError)."""
        key = spec.asset_key
        where = spec.key
        canonical = PartitionKey.parse(partition_key).canonical()
        table = _normalize(table, where)
        table_id, table = self._ensure_table(spec, table)
        columns = tuple((f.name, _type_text(where, f)) for f in table.schema)
        file = asset_data_file(key.namespace, key.name, canonical, materialization_id(attempt_id))
        stamped = table.replace_schema_metadata(
            {
                "arco.asset_key": where,
                "arco.partition_key": canonical,
                "arco.run_id": run_id,
                "arco.attempt_id": attempt_id,
            }
        )
        sink = io.BytesIO()
        pq.write_table(stamped, sink, compression="zstd")
        data = sink.getvalue()
        try:
            self.store.put(file, data, "create")
        except ObjectExistsError:
            if self.store.get(file).data != data:
                raise ConflictError(
                    f"{where}{_where_partition(canonical)}: attempt {attempt_id} already wrote "
                    f"{file} with other content"
                ) from None
        return TaskOutput(where, canonical, table_id, file, table.num_rows, len(data), columns)

    def _ensure_table(self, spec: AssetSpec, table: pa.Table) -> tuple[str, pa.Table]:
        """The table id, and ``table`` cast to the catalog's wider types; commits only
        when the catalog lacks a column or holds a narrower type."""
        key = spec.asset_key
        # each round, at least one concurrent writer's change lands (group commit)
        for _ in range(_CATALOG_ROUNDS):
            try:
                current = self.catalog.get_table(key.namespace, key.name)
            except NotFoundError:
                try:
                    return self._register(spec, table).table_id, table
                except AlreadyExistsError:
                    continue  # registered meanwhile: compare with that one
            if current.format != "parquet":
                raise ValidationError(
                    f"{spec.key}: table {key.namespace}.{key.name} has format "
                    f"{current.format}; an asset's output is a parquet table"
                )
            cast, add, drop = _evolution(spec.key, current, table)
            if not add:
                return current.table_id, cast
            try:
                self.catalog.update_table(
                    key.namespace,
                    key.name,
                    add_columns=add,
                    drop_columns=drop,
                    if_match=current.version,
                )
            except (PreconditionFailedError, AlreadyExistsError, NotFoundError):
                continue  # changed meanwhile: compare again
            return current.table_id, cast
        raise ConflictError(
            f"{spec.key}: table {key.namespace}.{key.name} kept changing while the output "
            "was being registered"
        )

    def _register(self, spec: AssetSpec, table: pa.Table) -> Table:
        key = spec.asset_key
        columns = [
            {"name": f.name, "type": _type_text(spec.key, f), "nullable": f.nullable}
            for f in table.schema
        ]

        def register() -> Table:
            try:
                return self.catalog.register_table(
                    key.namespace,
                    key.name,
                    columns,
                    description=spec.description,
                    location=self.table_location(spec),
                    format="parquet",
                    properties={"arco.asset": spec.key},
                )
            except ValidationError as exc:
                raise ValidationError(f"{spec.key}: {exc.message}") from None

        try:
            return register()
        except NotFoundError:  # the namespace does not exist yet
            with contextlib.suppress(AlreadyExistsError):
                self.catalog.create_namespace(key.namespace)
            return register()

    # --- inputs -------------------------------------------------------------------------

    def read_input(
        self,
        asset_key: str,
        partition_keys: Sequence[str] | None,
        outputs: Sequence[Mapping[str, Any]] | None,
    ) -> pa.Table:
        """The table of an upstream asset: ``outputs`` are the :class:`TaskOutput` objects of
        its tasks in this run (None: it did not run in this run, so its newest succeeded
        materialization of each partition is read). ``partition_keys`` selects partitions
        (None: every one given or materialized). Several partitions are concatenated, their
        schemas unified. A missing input is a one-line NotFoundError naming the asset and
        partition."""
        key = str(AssetKey.parse(asset_key))
        wanted = (
            None
            if partition_keys is None
            else list(dict.fromkeys(PartitionKey.parse(p).canonical() for p in partition_keys))
        )
        if outputs is not None:
            files = self._files_from_outputs(key, wanted, outputs)
        else:
            files = self._files_from_materializations(key, wanted)
        tables = [self._read_file(key, pk, file) for pk, file in files]
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(tables, promote_options="permissive")

    @staticmethod
    def _files_from_outputs(
        key: str, wanted: list[str] | None, outputs: Sequence[Mapping[str, Any]]
    ) -> list[tuple[str, str]]:
        found = [o for o in map(TaskOutput.from_json, outputs) if o.asset_key == key]
        if wanted is not None:
            by_partition = {o.partition_key: o for o in found}
            for pk in wanted:
                if pk not in by_partition:
                    raise NotFoundError(
                        f"input {key}{_where_partition(pk)}: no output of its task in this run"
                    )
            found = [by_partition[pk] for pk in wanted]
        if not found:
            raise NotFoundError(f"input {key}: its tasks in this run wrote no table")
        return [(o.partition_key, o.file) for o in found]

    def _files_from_materializations(
        self, key: str, wanted: list[str] | None
    ) -> list[tuple[str, str]]:
        newest: dict[str, Materialization] = {}
        token: str | None = None
        while True:
            page = self.executions.list_materializations(
                asset_key=key, status="succeeded", page_token=token, limit=MAX_PAGE
            )
            for m in page.items:  # newest first
                pk = m.partition_key or ""
                if (wanted is None or pk in wanted) and pk not in newest:
                    newest[pk] = m
            token = page.next_page_token
            if token is None or (wanted is not None and len(newest) == len(wanted)):
                break
        for pk in wanted if wanted is not None else [""]:
            if pk not in newest and (wanted is not None or not newest):
                raise NotFoundError(
                    f"input {key}{_where_partition(pk)}: never materialized "
                    "(no succeeded materialization)"
                )
        asset = AssetKey.parse(key)
        files = []
        for pk in wanted if wanted is not None else sorted(newest):
            m = newest[pk]
            if m.table_id is None:
                raise NotFoundError(
                    f"input {key}{_where_partition(pk)}: its newest materialization "
                    f"(run {m.run_id}) wrote no table"
                )
            files.append(
                (pk, asset_data_file(asset.namespace, asset.name, pk, m.materialization_id))
            )
        return files

    def _read_file(self, key: str, partition_key: str, file: str) -> pa.Table:
        try:
            data = self.store.get(file).data
        except ObjectNotFoundError:
            raise NotFoundError(
                f"input {key}{_where_partition(partition_key)}: its output file {file} is missing"
            ) from None
        table: pa.Table = pq.read_table(pa.BufferReader(data))
        return table.replace_schema_metadata(None)

    # --- success ------------------------------------------------------------------------

    def record_success(
        self,
        spec: AssetSpec,
        partition_key: str,
        output: TaskOutput | None,
        *,
        run_id: str,
        attempt_id: str,
        inputs: Iterable[str],
        started_ms: int,
        completed_ms: int,
        attempt: int | None = None,
    ) -> str:
        """Record a successful task: the lineage edges ``input -> asset`` that are missing
        (``inputs``: the upstream asset keys actually read), then its ``materialization``
        event (see the module; no table: ``table_id``, ``rows`` and ``bytes`` are null).
        Returns the materialization id. Idempotent: recording again appends a copy of the
        same event, which the compactor folds once. ``attempt`` (the attempt number) is
        accepted for the callers' convenience; the attempt id alone identifies the attempt."""
        del attempt
        target = spec.key
        canonical = PartitionKey.parse(partition_key).canonical()
        if output is not None and (output.asset_key != target or output.partition_key != canonical):
            raise ValidationError(
                f"{target}{_where_partition(canonical)}: the output is of "
                f"{output.asset_key}{_where_partition(output.partition_key)}"
            )
        mid = materialization_id(attempt_id)
        key = spec.asset_key
        if output is not None and output.file != asset_data_file(
            key.namespace, key.name, canonical, mid
        ):
            raise ValidationError(
                f"{target}{_where_partition(canonical)}: the output {output.file} was not "
                f"written by attempt {attempt_id}"
            )
        self._record_lineage(target, inputs, run_id)
        payload: dict[str, Any] = {
            "materialization_id": mid,
            "asset_key": target,
            "partition_key": canonical,
            "run_id": run_id,
            "status": "succeeded",
            "code_version": spec.code_version,
            "started_at": rfc3339_ms(started_ms),
            "completed_at": rfc3339_ms(completed_ms),
        }
        if output is not None:
            payload.update(table_id=output.table_id, rows=output.rows, bytes=output.bytes)
        digest = hashlib.sha256(f"mat:{attempt_id}".encode()).digest()
        event = EventEnvelope(
            event_id=str(ULID.from_bytes(completed_ms.to_bytes(6, "big") + digest[:10])),
            event_type="materialization",
            event_version=1,
            idempotency_key=f"mat:{attempt_id}",
            occurred_at=rfc3339_ms(completed_ms),
            source=EVENT_SOURCE,
            payload={k: v for k, v in payload.items() if v is not None},
        )
        self.executions.append([event])
        return mid

    def _record_lineage(self, target: str, inputs: Iterable[str], run_id: str) -> None:
        node = node_key(target)
        sources = sorted({str(AssetKey.parse(s)) for s in inputs if node_key(s) != node})
        if not sources:
            return
        graph = self.catalog.lineage(target, direction="upstream", depth=1)
        present = {
            node_key(e.source)
            for e in graph.edges
            if e.edge_type == EXECUTION_EDGE and node_key(e.target) == node
        }
        for source in sources:
            if node_key(source) not in present:
                self.catalog.add_lineage_edge(
                    source, target, edge_type=EXECUTION_EDGE, run_id=run_id
                )


def _evolution(
    where: str, current: Table, table: pa.Table
) -> tuple[pa.Table, list[dict[str, Any]], list[str]]:
    """How ``table`` fits the catalog table: the table cast to wider catalog types, the
    columns to add (new or widened) and the columns to drop (widened, re-added)."""
    by_key = {name_key(c.name): c for c in current.columns}
    add: list[dict[str, Any]] = []
    drop: list[str] = []
    for i, f in enumerate(table.schema):
        text = _type_text(where, f)
        col = by_key.get(name_key(f.name))
        if col is None:
            add.append({"name": f.name, "type": text, "nullable": True})
            continue
        if col.type == text:
            continue
        declared = _parse(col.type)
        if _widens(f.type, declared):
            table = table.set_column(
                i, pa.field(f.name, declared, f.nullable), pc.cast(table.column(i), declared)
            )
        elif _widens(declared, f.type):
            drop.append(col.name)
            add.append({"name": col.name, "type": text, "nullable": col.nullable})
        else:
            raise ValidationError(
                f"{where}: column {f.name!r} changed type from {col.type} to {text}, which is "
                "not a widening (cast it in the asset, or drop the column from the table first)"
            )
    return table, add, drop


# --- one execution -------------------------------------------------------------------------


def execute_asset(
    asset_io: AssetIO,
    asset: AssetDef,
    *,
    run_id: str,
    attempt_id: str,
    attempt: int = 1,
    partition_key: str = "",
    inputs: Mapping[str, Sequence[Mapping[str, Any]] | None] | None = None,
    upstream_specs: Mapping[str, AssetSpec] | None = None,
    resources: Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
    check_cancelled: Callable[[], None] | None = None,
) -> tuple[TaskOutput | None, list[CheckResult]]:
    """Run one task of ``asset``: load each input parameter's table, call the function
    with an :class:`AssetContext`, convert its value (:func:`to_arrow`), run the checks and,
    unless a blocking check failed, write the output (:meth:`AssetIO.write_output`).

    ``inputs`` maps an upstream asset key to the :class:`TaskOutput` objects of its tasks
    in this run; an upstream absent from it (or mapped to None) did not run in this run
    and its newest materialization is read, of the partitions :func:`upstream_partitions`
    picks from ``upstream_specs`` (the manifest's specs; an upstream without a spec is read
    whole). Returns the output (None: the function returned None, or a blocking check
    failed: see :func:`blocking_failures`) and the check results. Recording the success
    is the caller's (:meth:`AssetIO.record_success`, with :func:`input_keys`).
    """
    spec = asset.spec
    canonical = PartitionKey.parse(partition_key).canonical()
    given = inputs or {}
    specs = upstream_specs or {}
    loaded: dict[str, pa.Table] = {}
    for param, upstream in asset.inputs.items():
        outputs = given.get(upstream)
        keys = (
            None
            if outputs is not None
            else upstream_partitions(spec, specs.get(upstream), canonical)
        )
        loaded[param] = asset_io.read_input(upstream, keys, outputs)
    context = AssetContext(
        run_id=run_id,
        asset_key=spec.key,
        partition_key=canonical,
        attempt=attempt,
        log=log or logging.getLogger(f"arco.assets.{spec.key}"),
        resources=dict(resources or {}),
        cancellation=check_cancelled,
    )
    value = asset.fn(context, **loaded)
    if value is None:
        return None, []
    table = _normalize(to_arrow(value, spec.key), spec.key)
    checks = run_checks(asset, table)
    if blocking_failures(checks):
        return None, checks
    output = asset_io.write_output(spec, canonical, table, attempt_id=attempt_id, run_id=run_id)
    return output, checks
