"""Rows decoded by filling slots column by column equal rows built by the constructor."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from arco.catalog.domain import CATALOG
from arco.executions import EXECUTIONS_SPEC
from arco.lineage import LINEAGE
from arco.metadata.parquet import TableSpec, field, schema_of

SPECS = {**CATALOG.specs, **LINEAGE.specs, **EXECUTIONS_SPEC.specs}


def sample_value(f: pa.Field, i: int) -> object:
    if f.nullable and i % 3 == 0:
        return None
    t = f.type
    if pa.types.is_boolean(t):
        return i % 2 == 0
    if pa.types.is_timestamp(t):
        return 1_700_000_000_000 + i
    if pa.types.is_integer(t):
        return i
    if pa.types.is_map(t):
        return [("k", f"v{i}")]
    return f"{f.name}-{i}"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_fast_rows_equal_constructed_rows(name: str) -> None:
    spec = SPECS[name]
    assert spec._setters is not None, f"{name}: expected a slotted row type"
    n = 50
    table = pa.table(
        {f.name: pa.array([sample_value(f, i) for i in range(n)], f.type) for f in spec.schema},
        schema=spec.schema,
    )
    decoded = spec.from_arrow(table, name)
    columns = {}
    for f in spec.field_names():
        col = table.column(f)
        values = (
            col.cast(pa.int64()).to_pylist() if pa.types.is_timestamp(col.type) else col.to_pylist()
        )
        if spec.schema.field(f).type == pa.map_(pa.string(), pa.string()):
            values = [tuple(v) if v is not None else () for v in values]
        columns[f] = values
    expected = list(map(spec.row_type, *columns.values()))
    assert [row for row, _ in decoded] == expected
    assert all(type(row) is spec.row_type for row, _ in decoded)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decoded[0][0].version = 0  # still frozen


@dataclasses.dataclass(frozen=True)
class _Plain:
    key: str
    version: int


@dataclasses.dataclass(frozen=True, slots=True)
class _Checked:
    key: str
    version: int

    def __post_init__(self) -> None:
        if self.version < 0:
            raise ValueError("negative")


@pytest.mark.parametrize("row_type", [_Plain, _Checked])
def test_other_row_types_are_built_by_their_constructor(row_type: type) -> None:
    spec = TableSpec(
        "t", row_type, "key", schema_of([field("key", pa.string()), field("version", pa.int64())])
    )
    assert spec._setters is None
    table = pa.table({"key": ["a"], "version": [1], "deleted": [False]}, schema=spec.schema)
    assert spec.from_arrow(table, "t") == [(row_type("a", 1), False)]
