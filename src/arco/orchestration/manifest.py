"""The definitions manifest: what a code location declares, as deployed to a workspace.

The one wire model between the SDK (which builds it from ``@asset`` functions), deploy
(which stores it) and the planner (which reads it). Invariants, checked on construction so
that a manifest from anywhere (a file, the API, another version) is refused rather than
guessed at:

* asset keys and dependency keys are :class:`~arco.core.assets.AssetKey` strings
  (``namespace/name``), assets unique by key, sorted by key;
* partition dimensions follow :mod:`arco.core.partitions` (the one key format);
* the canonical bytes are canonical JSON of ``model_dump(mode="json")`` and the
  fingerprint is their sha256, so equal definitions have one fingerprint in any process;
* automation (ADR 017) is part of the manifest and of its fingerprint: schedules and
  sensors sorted by name (names unique case-insensitively across both, following the name
  rules of :mod:`arco.core.names`), cron expressions that parse, IANA zones that exist and
  targets that select assets of the manifest; per-asset ``automation`` conditions. Empty
  automation is left out of the canonical bytes, so a manifest without any is byte for
  byte what it was before automation existed (its fingerprint unchanged).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from typing import Annotated, Any, Literal
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
from arco.core.names import name_key, validate_name
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError

__all__ = [
    "DEFAULT_CATCHUP_WINDOW_S",
    "DEFAULT_MINIMUM_INTERVAL_S",
    "MANIFEST_FORMAT",
    "AssetSpec",
    "AutomationConditionSpec",
    "CheckSpec",
    "ConditionSpec",
    "DefinitionsManifest",
    "LastWindowSpec",
    "MultiPartitionsSpec",
    "PartitionKeysSpec",
    "PartitionsSpec",
    "RetrySpec",
    "ScheduleSpec",
    "SensorSpec",
    "StaticPartitionsSpec",
    "TickPartitionsSpec",
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
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'America' is a folder
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


# --- automation (ADR 017) -----------------------------------------------------------------

#: how late a missed schedule tick may still run (seconds), unless the schedule says
DEFAULT_CATCHUP_WINDOW_S = 3600
#: how often a poll sensor is evaluated at most (seconds), unless it says
DEFAULT_MINIMUM_INTERVAL_S = 30


def _cron(value: str) -> str:
    from arco.orchestration.automation.cron import validate_cron

    try:
        return validate_cron("cron", value)
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("cron: ")) from None


def _zone(value: str) -> str:
    from arco.orchestration.automation.cron import validate_timezone

    try:
        return validate_timezone("timezone", value)
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("timezone: ")) from None


def _automation_name(value: str) -> str:
    try:
        return validate_name("name", value)
    except ValidationError as exc:
        raise ValueError(exc.message.removeprefix("name: ")) from None


def _selection(values: tuple[str, ...]) -> tuple[str, ...]:
    if not values:
        raise ValueError("must select at least one asset ('*' for all)")
    for item in values:
        if not item or item != item.strip():
            raise ValueError(f"selection items must be non-empty and unpadded (got {item!r})")
    if len(set(values)) != len(values):
        raise ValueError("must not repeat an item")
    return values


CronText = Annotated[str, AfterValidator(_cron)]
ZoneName = Annotated[str, AfterValidator(_zone)]
AutomationName = Annotated[str, AfterValidator(_automation_name)]
Selection = Annotated[tuple[str, ...], AfterValidator(_selection)]
Status = Literal["running", "paused"]


class LastWindowSpec(BaseModel):
    """A tick requests the time window of its targets that closed last at the tick
    instant (``offset`` windows earlier when ``offset`` > 0)."""

    model_config = _STRICT

    kind: Literal["last_window"] = "last_window"
    offset: int = Field(default=0, ge=0, le=10_000)


class PartitionKeysSpec(BaseModel):
    """A tick requests these canonical partition keys."""

    model_config = _STRICT

    kind: Literal["keys"] = "keys"
    keys: tuple[str, ...] = Field(min_length=1)

    @field_validator("keys")
    @classmethod
    def _canonical(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            try:
                parsed = PartitionKey.parse(value)
            except ValidationError as exc:
                raise ValueError(exc.message) from None
            if not parsed.values:
                raise ValueError("a key must name a partition (not '')")
        if len(set(values)) != len(values):
            raise ValueError("must not repeat a key")
        return values


TickPartitionsSpec = Annotated[LastWindowSpec | PartitionKeysSpec, Field(discriminator="kind")]


class ScheduleSpec(BaseModel):
    """A cron schedule: each tick (``cron`` in ``timezone``) requests a run of ``target``
    (selection items, as ``arco run`` takes them) with ``partitions``, or whatever the
    function at ``entry_point`` returns. Missed ticks older than ``catchup_window_s`` are
    not run."""

    model_config = _STRICT

    name: AutomationName
    cron: CronText
    timezone: ZoneName = "UTC"
    target: Selection
    partitions: TickPartitionsSpec | None = None
    catchup_window_s: int = Field(default=DEFAULT_CATCHUP_WINDOW_S, ge=0, le=366 * 86_400)
    default_status: Status = "running"
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    #: ``module:qualname`` of the function deciding each tick (None: request ``target``)
    entry_point: str | None = None


class SensorSpec(BaseModel):
    """A sensor: ``poll`` (the function at ``entry_point``, evaluated at most every
    ``minimum_interval_s``, with a cursor), ``push`` (messages posted to it, keyed by
    message id) or ``asset`` (a run of ``target`` when one of ``assets`` materializes)."""

    model_config = _STRICT

    name: AutomationName
    kind: Literal["poll", "push", "asset"]
    target: Selection
    minimum_interval_s: int | None = Field(default=None, ge=1, le=366 * 86_400)
    #: the assets an ``asset`` sensor watches (need not be assets of this manifest)
    assets: tuple[str, ...] = ()
    default_status: Status = "running"
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    entry_point: str | None = None

    @field_validator("assets")
    @classmethod
    def _check_assets(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        keys = [_asset_key(v) for v in values]
        if len(set(keys)) != len(keys):
            raise ValueError("must not repeat a key")
        return tuple(sorted(keys))

    @model_validator(mode="after")
    def _by_kind(self) -> SensorSpec:
        if self.kind == "poll":
            if self.entry_point is None:
                raise ValueError("entry_point: a poll sensor needs its function")
            if self.minimum_interval_s is None:
                object.__setattr__(self, "minimum_interval_s", DEFAULT_MINIMUM_INTERVAL_S)
        elif self.minimum_interval_s is not None:
            raise ValueError(f"minimum_interval_s: only poll sensors have one (not {self.kind})")
        if self.kind != "poll" and self.entry_point is not None:
            raise ValueError(f"entry_point: only poll sensors have a function (not {self.kind})")
        if self.kind == "asset" and not self.assets:
            raise ValueError("assets: an asset sensor must watch at least one asset")
        if self.kind != "asset" and self.assets:
            raise ValueError(f"assets: only asset sensors watch assets (not {self.kind})")
        return self


def _leaf_rules(kind: str, cron: str | None, timezone: str | None) -> str | None:
    """The timezone an ``on_cron`` condition gets (UTC by default); ValueError when a
    field does not belong to ``kind``."""
    if kind == "on_cron":
        if cron is None:
            raise ValueError("cron: on_cron needs a cron expression")
        return timezone or "UTC"
    if cron is not None or timezone is not None:
        raise ValueError(f"cron: only on_cron has a cron and timezone (not {kind})")
    return None


class ConditionSpec(BaseModel):
    """One condition of an ``any`` (``eager``, ``on_cron`` or ``missing``)."""

    model_config = _STRICT

    kind: Literal["eager", "on_cron", "missing"]
    cron: CronText | None = None
    timezone: ZoneName | None = None

    @model_validator(mode="after")
    def _by_kind(self) -> ConditionSpec:
        object.__setattr__(self, "timezone", _leaf_rules(self.kind, self.cron, self.timezone))
        return self


class AutomationConditionSpec(BaseModel):
    """A declarative condition on an asset (ADR 017): ``eager`` (an upstream materialized
    since this asset's last materialization), ``on_cron`` (at each ``cron`` tick in
    ``timezone``, once every upstream was materialized since that tick), ``missing``
    (partitions never materialized) or ``any`` of two or more of those ``conditions``."""

    model_config = _STRICT

    kind: Literal["eager", "on_cron", "missing", "any"]
    cron: CronText | None = None
    timezone: ZoneName | None = None
    conditions: tuple[ConditionSpec, ...] = ()

    @model_validator(mode="after")
    def _by_kind(self) -> AutomationConditionSpec:
        if self.kind == "any":
            if self.cron is not None or self.timezone is not None:
                raise ValueError("cron: only on_cron has a cron and timezone (not any)")
            if len(self.conditions) < 2:
                raise ValueError("conditions: any needs at least two conditions")
            if len(set(self.conditions)) != len(self.conditions):
                raise ValueError("conditions: must not repeat a condition")
            return self
        if self.conditions:
            raise ValueError(f"conditions: only any has conditions (not {self.kind})")
        object.__setattr__(self, "timezone", _leaf_rules(self.kind, self.cron, self.timezone))
        return self

    def leaves(self) -> tuple[ConditionSpec, ...]:
        """The single conditions: the ``any``'s, or this one."""
        if self.kind == "any":
            return self.conditions
        return (ConditionSpec(kind=self.kind, cron=self.cron, timezone=self.timezone),)


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
    #: when the automation controller requests this asset by itself (None: never; left
    #: out of the stored manifest then)
    automation: AutomationConditionSpec | None = None

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
    """Every asset of a code location, sorted by key, and its schedules and sensors,
    sorted by name (left out of the stored manifest when there are none)."""

    model_config = _STRICT

    format: Literal[1] = MANIFEST_FORMAT
    assets: tuple[AssetSpec, ...]
    schedules: tuple[ScheduleSpec, ...] = ()
    sensors: tuple[SensorSpec, ...] = ()

    @model_validator(mode="after")
    def _sorted_unique(self) -> DefinitionsManifest:
        keys = [a.key for a in self.assets]
        if len(set(keys)) != len(keys):
            dupes = sorted({k for k in keys if keys.count(k) > 1})
            raise ValueError(f"assets: duplicate keys {dupes}")
        if keys != sorted(keys):
            object.__setattr__(self, "assets", tuple(sorted(self.assets, key=lambda a: a.key)))
        if self.schedules or self.sensors:
            _check_automation(self)
        return self

    def schedule(self, name: str) -> ScheduleSpec:
        """The schedule called ``name`` (ValidationError naming it when there is none)."""
        for s in self.schedules:
            if s.name == name:
                return s
        raise ValidationError(f"schedule: {name!r} is not in the manifest")

    def sensor(self, name: str) -> SensorSpec:
        """The sensor called ``name`` (ValidationError naming it when there is none)."""
        for s in self.sensors:
            if s.name == name:
                return s
        raise ValidationError(f"sensor: {name!r} is not in the manifest")

    def canonical_bytes(self) -> bytes:
        """The manifest as canonical JSON (floats written as strings: see below; empty
        automation fields left out: see :func:`_wire`)."""
        return canonical_json.canonical_dumps(_floats_as_text(_wire(self.model_dump(mode="json"))))

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
            raise ValidationError(f"{where}.{loc}: {msg}" if loc else f"{where}: {msg}") from None

    def asset(self, key: str) -> AssetSpec:
        """The asset of ``key`` (NotFound as a ValidationError naming the key)."""
        for a in self.assets:
            if a.key == key:
                return a
        raise ValidationError(f"asset_key: {key!r} is not in the manifest")


def _check_automation(manifest: DefinitionsManifest) -> None:
    """Names unique and sorted; targets select assets of the manifest; tick partitions fit
    the targets (a ValueError naming the schedule or sensor and the field)."""
    from arco.orchestration.planner import select_assets

    seen: dict[str, str] = {}
    for kind, items in (("schedules", manifest.schedules), ("sensors", manifest.sensors)):
        for item in items:
            folded = name_key(item.name)
            if folded in seen:
                raise ValueError(
                    f"{kind}: name {item.name!r} is taken by {seen[folded]} "
                    "(schedule and sensor names are unique, ignoring case)"
                )
            seen[folded] = f"the {kind[:-1]} {item.name!r}"
    object.__setattr__(
        manifest, "schedules", tuple(sorted(manifest.schedules, key=lambda s: s.name))
    )
    object.__setattr__(manifest, "sensors", tuple(sorted(manifest.sensors, key=lambda s: s.name)))
    specs = {a.key: a for a in manifest.assets}
    for kind, items in (("schedules", manifest.schedules), ("sensors", manifest.sensors)):
        for item in items:
            where = f"{kind}.{item.name}"
            try:
                selected = select_assets(manifest, list(item.target))
            except ValidationError as exc:
                raise ValueError(
                    f"{where}.target: {exc.message.removeprefix('selection: ')}"
                ) from None
            if isinstance(item, ScheduleSpec):
                _check_tick_partitions(where, item, [specs[k] for k in selected])


def _check_tick_partitions(where: str, schedule: ScheduleSpec, targets: list[AssetSpec]) -> None:
    from arco.orchestration.partitions import parse_partition

    partitioned = [a for a in targets if a.partitions is not None]
    chosen = schedule.partitions
    if chosen is None:
        if partitioned and schedule.entry_point is None:
            raise ValueError(
                f"{where}.partitions: the target {partitioned[0].key} is partitioned; say "
                "which partitions a tick requests (e.g. 'last_window')"
            )
        return
    if not partitioned:
        raise ValueError(f"{where}.partitions: no asset of the target is partitioned")
    if isinstance(chosen, LastWindowSpec):
        spec = partitioned[0].partitions
        if not isinstance(spec, TimeWindowPartitionsSpec) or any(
            a.partitions != spec for a in partitioned
        ):
            raise ValueError(
                f"{where}.partitions: last_window needs every partitioned asset of the target "
                "to have one and the same daily, hourly or monthly partitions definition"
            )
        return
    for asset in partitioned:
        for key in chosen.keys:
            try:
                parse_partition(asset.partitions, key)
            except ValidationError as exc:
                raise ValueError(f"{where}.partitions: {asset.key}: {exc.message}") from None


def _condition_wire(value: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in value.items() if v is not None and v != []}
    if "conditions" in out:
        out["conditions"] = [_condition_wire(c) for c in out["conditions"]]
    return out


def _wire(data: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a dumped manifest: without ``schedules`` / ``sensors`` when empty,
    an asset's ``automation`` when None, and a condition's unset fields, so a manifest
    without automation has the bytes (and fingerprint) it had before automation existed.
    Reading fills them in again from the defaults."""
    out = dict(data)
    for name in ("schedules", "sensors"):
        if not out.get(name):
            out.pop(name, None)
    assets = []
    for dumped in out.get("assets", []):
        asset = dict(dumped)
        condition = asset.pop("automation", None)
        if condition is not None:
            asset["automation"] = _condition_wire(condition)
        assets.append(asset)
    out["assets"] = assets
    return out


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
