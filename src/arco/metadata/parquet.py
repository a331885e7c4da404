"""Deterministic Parquet encoding of row dataclasses.

Every metadata file Arco writes goes through :func:`encode`: same rows in, same bytes out
(rows are sorted by primary key, writer options are fixed). :class:`TableSpec` ties a row
dataclass to its published Arrow schema; the schema of each table is frozen by golden files
under ``tests/fixtures/schemas`` and may only evolve by adding nullable columns.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import operator
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from arco.errors import CorruptStateError

R = TypeVar("R")

#: Every data file carries this column: True marks a tombstone in a delta file.
DELETED = "deleted"

TIMESTAMP = pa.timestamp("ms", tz="UTC")
PROPERTIES = pa.map_(pa.string(), pa.string())


@dataclasses.dataclass(frozen=True)
class TableSpec(Generic[R]):
    """A published Parquet table: its name, row type, primary key and Arrow schema."""

    name: str
    row_type: Callable[..., R]
    primary_key: str
    schema: pa.Schema
    schema_version: int = 1
    #: the row type's slot setters, in field order (None: construct rows by calling the type)
    _setters: list[Callable[[Any, Any], None]] | None = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        fields = [f.name for f in dataclasses.fields(self.row_type)]  # type: ignore[arg-type]
        if fields != self.field_names():
            raise TypeError(f"{self.name}: row fields {fields} differ from the schema")
        object.__setattr__(self, "_setters", _slot_setters(self.row_type, fields))

    def key_of(self, row: R) -> str:
        return str(getattr(row, self.primary_key))

    def field_names(self) -> list[str]:
        return [f.name for f in self.schema if f.name != DELETED]

    def to_arrow(self, rows: Iterable[tuple[R, bool]]) -> pa.Table:
        """Rows (with their tombstone flag) as an Arrow table sorted by primary key."""
        ordered = sorted(rows, key=lambda item: self.key_of(item[0]))
        names = self.field_names()
        # transpose with C-level helpers: checkpoints convert tens of thousands of rows
        # (every table has several fields, so attrgetter returns tuples)
        values = operator.attrgetter(*names)
        records = [values(row) for row, _ in ordered]
        columns: list[Sequence[Any]] = (
            list(zip(*records, strict=True)) if records else [() for _ in names]
        )
        by_name = dict(zip(names, columns, strict=True))
        arrays = []
        for f in self.schema:
            if f.name == DELETED:
                data: Sequence[Any] = [deleted for _, deleted in ordered]
            elif f.type == PROPERTIES:
                data = [list(v) for v in by_name[f.name]]
            else:
                data = by_name[f.name]
            arrays.append(pa.array(data, type=f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def from_arrow(self, table: pa.Table, where: str) -> list[tuple[R, bool]]:
        """Decode rows written by :meth:`to_arrow` (tolerating extra, newer columns)."""
        try:
            columns: dict[str, list[Any]] = {}
            for name in self.field_names():
                col = table.column(name)
                if pa.types.is_timestamp(col.type):
                    col = pc.cast(col, pa.int64())
                values = col.to_pylist()
                if self.schema.field(name).type == PROPERTIES:
                    values = [tuple(v) if v is not None else () for v in values]
                columns[name] = values
            deleted = table.column(DELETED).to_pylist()
        except (KeyError, pa.ArrowException) as exc:
            raise CorruptStateError(f"{where}: does not match table {self.name}: {exc}") from exc
        return list(zip(self._rows(columns), map(bool, deleted), strict=True))

    def _rows(self, columns: dict[str, list[Any]]) -> list[R]:
        """Rows from columns (in field order). A frozen dataclass's ``__init__`` sets each
        field through ``object.__setattr__`` (~4 µs a row of 15 fields); filling the slots
        column by column with their C-level setters builds the same rows ~5x faster, which
        is what loading a state of a million rows spends most of its time on."""
        values = list(columns.values())
        if self._setters is None:
            return list(map(self.row_type, *values))
        n = len(values[0]) if values else 0
        cls = self.row_type
        rows: list[R] = [object.__new__(cls) for _ in range(n)]  # type: ignore[arg-type]
        for setter, column in zip(self._setters, values, strict=True):
            collections.deque(map(setter, rows, column), maxlen=0)
        return rows


def _slot_setters(row_type: Any, fields: list[str]) -> list[Callable[[Any, Any], None]] | None:
    """The slot descriptors' setters of a plain slotted dataclass (no ``__post_init__``)."""
    if hasattr(row_type, "__post_init__"):
        return None
    setters = []
    for name in fields:
        slot = vars(row_type).get(name)
        if slot is None or type(slot).__name__ != "member_descriptor":
            return None
        setters.append(slot.__set__)
    return setters


def encode(spec: TableSpec[Any], rows: Iterable[tuple[Any, bool]]) -> tuple[bytes, int]:
    """Parquet bytes for ``rows`` and the row count; identical input gives identical bytes."""
    return encode_table(spec, spec.to_arrow(rows))


def encode_table(spec: TableSpec[Any], table: pa.Table) -> tuple[bytes, int]:
    """Parquet bytes for an Arrow table already in the spec's schema and primary-key order."""
    table = table.cast(spec.schema).combine_chunks()
    table = table.replace_schema_metadata(
        {"arco.table": spec.name, "arco.schema_version": str(spec.schema_version)}
    )
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        row_group_size=128 * 1024,
        data_page_version="2.0",
    )
    return sink.getvalue(), table.num_rows


def merge_tables(spec: TableSpec[Any], tables: Sequence[pa.Table], *, live_only: bool) -> pa.Table:
    """Newest row per primary key (highest ``version``) across files, in key order.

    Runs in Arrow kernels, off the GIL: compactions of large catalogs must not stall
    the commits running beside them. ``live_only`` drops tombstones (for checkpoints).
    """
    combined = pa.concat_tables([t.select(spec.schema.names).cast(spec.schema) for t in tables])
    order = pc.sort_indices(
        combined, sort_keys=[(spec.primary_key, "ascending"), ("version", "descending")]
    )
    combined = combined.take(order)
    if combined.num_rows > 1:
        keys = combined.column(spec.primary_key).combine_chunks()
        changed = pc.not_equal(keys.slice(1), keys.slice(0, len(keys) - 1))
        first = pa.concat_arrays([pa.array([True]), changed])
        combined = combined.filter(first)
    if live_only:
        combined = combined.filter(pc.invert(combined.column(DELETED)))
    return combined


def decode(spec: TableSpec[R], data: bytes, where: str) -> list[tuple[R, bool]]:
    """Rows of a Parquet file written by :func:`encode`."""
    try:
        table = read_table(data)
    except pa.ArrowException as exc:
        raise CorruptStateError(f"{where}: not a readable Parquet file: {exc}") from exc
    return spec.from_arrow(table, where)


def read_table(data: bytes) -> pa.Table:
    """Decode a whole Parquet file on the calling thread.

    Metadata files are small, so Arrow's thread pool buys nothing, and using it makes
    pyarrow abort ("terminate called without an active exception") in ~1% of process exits.
    """
    return pq.read_table(pa.BufferReader(data), use_threads=False)


def parquet_row_count(data: bytes) -> int:
    """Row count from a Parquet footer (used by verify)."""
    return int(pq.ParquetFile(pa.BufferReader(data)).metadata.num_rows)


def field(name: str, type_: pa.DataType, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable)


def schema_of(fields: Sequence[pa.Field]) -> pa.Schema:
    """A table schema: the given fields plus the trailing tombstone flag."""
    return pa.schema([*fields, field(DELETED, pa.bool_())])
