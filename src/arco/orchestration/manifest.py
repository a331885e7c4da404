"""The definitions manifest: what a code location declares, as deployed to a workspace.

The one wire model between the SDK (which builds it from ``@asset`` functions), deploy
(which stores it) and the planner (which reads it). Invariants, checked on construction so
that a manifest from anywhere (a file, the API, another version) is refused rather than
guessed at:

* asset keys and dependency keys are :class:`~arco.core.assets.AssetKey` strings
  (``namespace/name``), assets unique by key, sorted by key;
* partition dimensions follow :mod:`arco.core.partitions` (the one key format);
* the canonical bytes are canonical JSON of ``model_dump(mode="json")`` and the
  fingerprint is their sha256, so equal definitions have one fingerprint in any process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from arco.core import canonical_json
from arco.core.assets import AssetKey
from arco.errors import ValidationError

__all__ = [
    "MANIFEST_FORMAT",
    "AssetSpec",
    "CheckSpec",
    "DefinitionsManifest",
    "MultiPartitionsSpec",
    "PartitionsSpec",
    "RetrySpec",
    "StaticPartitionsSpec",
    "TimeWindowPartitionsSpec",
]

MANIFEST_FORMAT: Literal[1] = 1
_DIM_RE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_STRICT = ConfigDict(frozen=True, extra="forbid")


def _asset_key(value: str) -> str:
    try:
        return str(AssetKey.parse(value))
    except ValidationError as exc:  # as a ValueError, pydantic names the field
        raise ValueError(exc.message) from None


def _dimension(value: str) -> str:
    if not _DIM_RE.fullmatch(value):
        raise ValueError("must be [a-z][a-z0-9_]* (at most 64 characters)")
    return value


#: a partition dimension name (the rule of :mod:`arco.core.partitions`)
Dimension = Annotated[str, AfterValidator(_dimension)]


class TimeWindowPartitionsSpec(BaseModel):
    """One partition per day, hour or month from ``start`` (inclusive) to ``end``
    (exclusive; None: up to the last complete window), in ``timezone``. Keys: dimension
    ``dimension`` with a date (daily, monthly: the first day) or a UTC datetime (hourly)."""

    model_config = _STRICT

    kind: Literal["daily", "hourly", "monthly"]
    dimension: Dimension = "date"
    start: str
    end: str | None = None
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _check_instant(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be an ISO date or date-time (got {value!r})") from None
        if parsed.tzinfo is not None:
            raise ValueError("must be local to the partitions' timezone (no offset)")
        return value


class StaticPartitionsSpec(BaseModel):
    """A fixed list of string partitions (keys: ``dimension`` with a string value)."""

    model_config = _STRICT

    kind: Literal["static"] = "static"
    dimension: Dimension = "key"
    values: tuple[str, ...] = Field(min_length=1)

    @field_validator("values")
    @classmethod
    def _check_values(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(values)) != len(values):
            raise ValueError("must be unique")
        return values


SinglePartitionsSpec = Annotated[
    TimeWindowPartitionsSpec | StaticPartitionsSpec, Field(discriminator="kind")
]


class MultiPartitionsSpec(BaseModel):
    """The cross product of two or more single-dimension definitions."""

    model_config = _STRICT

    kind: Literal["multi"] = "multi"
    dimensions: tuple[SinglePartitionsSpec, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique_dimensions(self) -> MultiPartitionsSpec:
        names = [d.dimension for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"dimensions: names must be unique (got {names})")
        return self


PartitionsSpec = Annotated[
    TimeWindowPartitionsSpec | StaticPartitionsSpec | MultiPartitionsSpec,
    Field(discriminator="kind"),
]


class RetrySpec(BaseModel):
    """Attempts and backoff: attempt ``n`` (from 2) waits ``min(max_backoff_s, backoff_s *
    factor**(n-2))``, spread by up to ``jitter`` of itself (deterministic per attempt)."""

    model_config = _STRICT

    max_attempts: int = Field(default=1, ge=1, le=100)
    backoff_s: float = Field(default=1.0, ge=0)
    factor: float = Field(default=2.0, ge=1)
    max_backoff_s: float = Field(default=300.0, ge=0)
    jitter: float = Field(default=0.1, ge=0, le=1)


class CheckSpec(BaseModel):
    """A data check that runs after each materialization; ``blocking`` fails the task."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=128)
    kind: Literal["row_count", "not_null", "unique", "freshness", "sql", "python"]
    #: kind-specific arguments (columns, bounds, SQL text, ...), canonical-JSON values
    params: dict[str, object] = Field(default_factory=dict)
    blocking: bool = True


class AssetSpec(BaseModel):
    """One asset as deployed (everything but its code, which ``entry_point`` names)."""

    model_config = _STRICT

    key: str
    description: str | None = None
    deps: tuple[str, ...] = ()
    partitions: PartitionsSpec | None = None
    owners: tuple[str, ...] = ()
    tags: dict[str, str] = Field(default_factory=dict)
    group: str | None = None
    code_version: str | None = None
    retry: RetrySpec = RetrySpec()
    timeout_s: float | None = Field(default=None, gt=0)
    resources: tuple[str, ...] = ()
    checks: tuple[CheckSpec, ...] = ()
    #: ``module:qualname`` of the function
    entry_point: str

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        return _asset_key(value)

    @field_validator("deps")
    @classmethod
    def _check_deps(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        keys = [_asset_key(v) for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError("must not repeat a key")
        return tuple(sorted(keys))

    @model_validator(mode="after")
    def _no_self_dependency(self) -> AssetSpec:
        if self.key in self.deps:
            raise ValueError(f"deps: {self.key} depends on itself")
        names = [c.name for c in self.checks]
        if len(set(names)) != len(names):
            raise ValueError("checks: names must be unique per asset")
        return self

    @property
    def asset_key(self) -> AssetKey:
        return AssetKey.parse(self.key)


class DefinitionsManifest(BaseModel):
    """Every asset of a code location, sorted by key."""

    model_config = _STRICT

    format: Literal[1] = MANIFEST_FORMAT
    assets: tuple[AssetSpec, ...]

    @model_validator(mode="after")
    def _sorted_unique(self) -> DefinitionsManifest:
        keys = [a.key for a in self.assets]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"assets: duplicate keys {dupes}")
        if keys != sorted(keys):
            object.__setattr__(self, "assets", tuple(sorted(self.assets, key=lambda a: a.key)))
        return self

    def canonical_bytes(self) -> bytes:
        """The manifest as canonical JSON (floats written as strings: see below)."""
        return canonical_json.canonical_dumps(_floats_as_text(self.model_dump(mode="json")))

    @property
    def fingerprint(self) -> str:
        """sha256 of :meth:`canonical_bytes`: the same in every process and version."""
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "manifest") -> DefinitionsManifest:
        """Parse stored canonical bytes (ValidationError naming ``where`` and the field)."""
        try:
            raw = canonical_json.loads(data)
        except ValidationError as exc:
            raise ValidationError(f"{where}: not canonical JSON ({exc.message})") from None
        try:
            return cls.model_validate(_text_as_floats(raw))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise ValidationError(f"{where}.{loc}: {msg}") from None

    def asset(self, key: str) -> AssetSpec:
        """The asset of ``key`` (NotFound as a ValidationError naming the key)."""
        for a in self.assets:
            if a.key == key:
                return a
        raise ValidationError(f"asset_key: {key!r} is not in the manifest")


# Canonical JSON has no floats (their text is not unique); the few float fields of a
# manifest (backoff, timeouts) are stored as their shortest repr string under a marker.
_FLOAT_FIELDS = {"backoff_s", "factor", "max_backoff_s", "jitter", "timeout_s"}


def _is_number(value: object) -> bool:
    return isinstance(value, float | int) and not isinstance(value, bool)


def _floats_as_text(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: repr(float(v)) if k in _FLOAT_FIELDS and _is_number(v) else _floats_as_text(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_floats_as_text(v) for v in value]
    if isinstance(value, float):
        raise ValidationError(
            "manifest: numbers with a fraction are allowed only in retry and timeout fields "
            "(check params take integers and strings)"
        )
    return value


def _text_as_floats(value: object) -> object:
    if isinstance(value, dict):
        return {
            k: (float(v) if k in _FLOAT_FIELDS and isinstance(v, str) else _text_as_floats(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_text_as_floats(v) for v in value]
    return value
