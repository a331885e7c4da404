"""Payloads of the event types the ``executions`` domain applies, one model per version.

``materialization`` v1 carries a whole materialization row: each event replaces the row
of its ``materialization_id`` (if it is newer), so a ``started`` event and the later
``succeeded`` event of one materialization should both carry every field known so far.
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator

from arco.core.assets import AssetKey
from arco.core.ids import is_entity_id
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError, preview
from arco.tier2.envelope import rfc3339_to_ms, rule_error, shape_error

__all__ = ["MATERIALIZATION_STATUSES", "MaterializationV1", "default_materialization_id"]

MATERIALIZATION_STATUSES = ("started", "succeeded", "failed")
_MAX_INT64 = (1 << 63) - 1
_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# materialization ids derived from an event's dedupe key live in their own UUIDv5 namespace
_DERIVED_IDS = uuid.UUID("8f1d0f0e-5b7c-4c55-9a39-3b1c8f3e2a61")
_NULLABLE = frozenset(
    {
        "materialization_id",
        "table_id",
        "partition_key",
        "rows",
        "bytes",
        "code_version",
        "started_at",
        "completed_at",
    }
)


def default_materialization_id(dedupe_key: str) -> str:
    """The id of a materialization whose event names none: one row per logical event."""
    return str(uuid.uuid5(_DERIVED_IDS, dedupe_key))


def _text(value: str, lo: int, hi: int) -> str:
    if not lo <= len(value) <= hi or not value.isprintable():
        rule_error(f"must be {lo}-{hi} printable characters (got {preview(value)})")
    return value


def _ms(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return rfc3339_to_ms(value)
    except ValueError as exc:
        rule_error(str(exc))


class MaterializationV1(BaseModel):
    """The payload of a ``materialization`` event, version 1."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    materialization_id: str | None = None
    asset_key: str
    table_id: str | None = None
    partition_key: str | None = None
    run_id: str
    status: Literal["started", "succeeded", "failed"]
    rows: int | None = None
    bytes: int | None = None
    code_version: str | None = None
    started_at: str | None = None
    completed_at: str | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> MaterializationV1:
        """Validate a payload; ValidationError names the field as ``payload.<field>``."""
        try:
            return cls.model_validate(payload)
        except pydantic.ValidationError as exc:
            raise shape_error(exc, "payload.", _NULLABLE, "a materialization payload") from None

    @field_validator("materialization_id")
    @classmethod
    def _materialization_id(cls, v: str | None) -> str | None:
        if v is not None and _UUID_RE.fullmatch(v) is None:
            rule_error(f"must be a lowercase hyphenated UUID (got {preview(v)})")
        return v

    @field_validator("asset_key")
    @classmethod
    def _asset_key(cls, v: str) -> str:
        try:
            return str(AssetKey.parse(v))
        except ValidationError as exc:
            rule_error(exc.message.partition(": ")[2])

    @field_validator("table_id")
    @classmethod
    def _table_id(cls, v: str | None) -> str | None:
        if v is not None and not is_entity_id(v):
            rule_error(f"must be a table id (a lowercase UUIDv7) (got {preview(v)})")
        return v

    @field_validator("partition_key")
    @classmethod
    def _partition_key(cls, v: str | None) -> str | None:
        if v is None:
            return None
        try:
            return PartitionKey.parse(v).canonical()
        except ValidationError as exc:
            rule_error(exc.message.partition(": ")[2])

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, v: str) -> str:
        return _text(v, 1, 128)

    @field_validator("code_version")
    @classmethod
    def _code_version(cls, v: str | None) -> str | None:
        return None if v is None else _text(v, 1, 255)

    @field_validator("rows", "bytes")
    @classmethod
    def _count(cls, v: int | None) -> int | None:
        if v is not None and not 0 <= v <= _MAX_INT64:
            rule_error(f"must be an integer from 0 to {_MAX_INT64} (got {preview(v)})")
        return v

    @field_validator("started_at", "completed_at")
    @classmethod
    def _time(cls, v: str | None) -> str | None:
        _ms(v)
        return v

    def started_ms(self) -> int | None:
        return _ms(self.started_at)

    def completed_ms(self) -> int | None:
        return _ms(self.completed_at)
