"""Automation definitions of the SDK: schedules, sensors and declarative conditions (ADR 017).

Declared next to the assets and collected by discovery into the manifest
(:class:`~arco.orchestration.manifest.ScheduleSpec`, :class:`~arco.orchestration.manifest.
SensorSpec`, ``AssetSpec.automation``), like ``@asset`` functions:

* ``@schedule(cron=..., timezone=..., target=...)`` on a function, or a plain
  :class:`ScheduleDef`: each tick requests a run of ``target`` with the tick's
  ``partitions`` (``"last_window"``: the time window that closed last at the tick; or a list
  of keys), unless the function decides otherwise (it returns or yields
  :class:`RequestedRun` objects or a :class:`SkipReason`);
* ``@sensor(minimum_interval_s=..., target=...)``: a poll sensor, called with a
  :class:`SensorContext` holding the cursor, returning a :class:`SensorResult` (requests, new
  cursor, skip reason), requests or a skip reason; :func:`push_sensor` declares a sensor fed
  by posted messages and :func:`asset_sensor` one that fires when watched assets
  materialize;
* :class:`AutomationCondition` (:func:`eager`, :func:`on_cron`, :func:`missing`, combined
  with ``|``) attached with ``@asset(automation=...)``.

What a function returns is normalised by :func:`evaluate_schedule` and
:func:`evaluate_sensor` (what the automation controller calls); the partitions a tick
requests come from :func:`tick_partitions`. Every invalid option is a one-line
:class:`~arco.errors.ValidationError` naming the definition and the field, raised when the
decorator runs.
"""

from __future__ import annotations

import datetime as dt
import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias
from zoneinfo import ZoneInfo

import pydantic

from arco.core import canonical_json
from arco.core.assets import AssetKey
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError
from arco.orchestration.automation.cron import CronSchedule
from arco.orchestration.manifest import (
    DEFAULT_CATCHUP_WINDOW_S,
    DEFAULT_MINIMUM_INTERVAL_S,
    AssetSpec,
    AutomationConditionSpec,
    DefinitionsManifest,
    LastWindowSpec,
    PartitionKeysSpec,
    ScheduleSpec,
    SensorSpec,
    TimeWindowPartitionsSpec,
)
from arco.orchestration.partitions import parse_partition
from arco.orchestration.planner import select_assets

__all__ = [
    "AutomationCondition",
    "RequestedRun",
    "ScheduleContext",
    "ScheduleDef",
    "ScheduleEvaluation",
    "SensorContext",
    "SensorDef",
    "SensorResult",
    "SkipReason",
    "asset_sensor",
    "canonical_partitions",
    "eager",
    "evaluate_schedule",
    "evaluate_sensor",
    "load_automation",
    "missing",
    "on_cron",
    "push_sensor",
    "schedule",
    "sensor",
    "tick_partitions",
]

#: what ``target=`` accepts: selection items (``ns/name``, ``+ns/name``, ``tag:k=v``, ...),
#: asset definitions or keys, one or a list of them
Target: TypeAlias = object
Status = Literal["running", "paused"]
_LOG = logging.getLogger("arco.automation")


def _model_error(where: str, exc: pydantic.ValidationError) -> ValidationError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    return ValidationError(f"{where}.{loc}: {msg}" if loc else f"{where}: {msg}")


def _entry_point(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


def _target_item(where: str, item: object) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, AssetKey):
        return str(item)
    spec = getattr(item, "spec", None)  # an AssetDef (not imported: assets imports us)
    if isinstance(spec, AssetSpec):
        return spec.key
    raise ValidationError(
        f"{where}.target: each must be a selection string, an asset key or an asset "
        f"(got {type(item).__name__})"
    )


def _target(where: str, target: object) -> tuple[str, ...]:
    if target is None:
        raise ValidationError(f"{where}.target: name the assets to run ('*' for all)")
    if isinstance(target, str | AssetKey) or not isinstance(target, Iterable):
        items = [_target_item(where, target)]
    else:
        items = [_target_item(where, t) for t in target]
    return tuple(dict.fromkeys(items))


def _tags(where: str, tags: object) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise ValidationError(f"{where}.tags: must map strings to strings (got {tags!r})")
    return dict(tags)


def _tick_partitions_spec(where: str, value: object) -> LastWindowSpec | PartitionKeysSpec | None:
    if value is None or isinstance(value, LastWindowSpec | PartitionKeysSpec):
        return value
    if value == "last_window":
        return LastWindowSpec()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{where}.partitions: must be 'last_window' or a list of partition keys (got {value!r})"
        )
    try:
        return PartitionKeysSpec(keys=tuple(value))
    except pydantic.ValidationError as exc:
        raise _model_error(f"{where}.partitions", exc) from None


def _function(where: str, fn: object, *, params: int) -> Callable[..., Any]:
    if not callable(fn) or isinstance(fn, ScheduleDef | SensorDef):
        raise ValidationError(f"{where}: must decorate a function (got {fn!r})")
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return fn
    required = [
        p
        for p in signature.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]
    if len(required) > params:
        raise ValidationError(f"{where}: the function takes at most the context as parameter")
    return fn


# --- run requests and results ------------------------------------------------------------------


@dataclass(frozen=True)
class SkipReason:
    """Nothing to run this time, and why (recorded with the tick)."""

    reason: str = ""


@dataclass(frozen=True, init=False)
class RequestedRun:
    """A run a schedule tick or a sensor evaluation asks for.

    ``run_key`` tells requests of one evaluation apart (the controller keys the run
    ``sched:{id}:{instant}:{run_key}`` or ``sensor:{id}:{seq}:{run_key}``; when omitted, the
    request's position). ``selection`` defaults to the definition's target, ``partitions``
    to the tick's (schedules) or none; ``tags`` are added to the run's.
    """

    run_key: str | None
    selection: tuple[str, ...] | None
    partitions: tuple[str, ...] | None
    tags: Mapping[str, str]

    def __init__(
        self,
        run_key: str | None = None,
        selection: Iterable[str] | None = None,
        partitions: Iterable[str] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        if run_key is not None and (
            not isinstance(run_key, str) or not run_key or len(run_key) > 128
        ):
            raise ValidationError(
                f"run_key: must be a non-empty string of at most 128 characters (got {run_key!r})"
            )
        keys: tuple[str, ...] | None = None
        if partitions is not None:
            if isinstance(partitions, str) or not isinstance(partitions, Iterable):
                raise ValidationError(
                    f"partitions: must be a list of partition keys (got {partitions!r})"
                )
            keys = tuple(partitions)
            if not all(isinstance(k, str) for k in keys):
                raise ValidationError(f"partitions: must be strings (got {keys!r})")
        object.__setattr__(self, "run_key", run_key)
        object.__setattr__(
            self, "selection", None if selection is None else _target("request", selection)
        )
        object.__setattr__(self, "partitions", keys)
        object.__setattr__(self, "tags", _tags("request", tags))

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object (what evaluation events carry)."""
        return {
            "run_key": self.run_key,
            "selection": None if self.selection is None else list(self.selection),
            "partitions": None if self.partitions is None else list(self.partitions),
            "tags": dict(sorted(self.tags.items())),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RequestedRun:
        """Read :meth:`to_json`'s object back (ValidationError on a wrong shape)."""
        if not isinstance(data, Mapping) or not set(data) <= {
            "run_key",
            "selection",
            "partitions",
            "tags",
        }:
            raise ValidationError(
                f"run request: must be an object of run_key, selection, partitions, tags "
                f"(got {data!r})"
            )
        selection, partitions = data.get("selection"), data.get("partitions")
        return cls(
            run_key=data.get("run_key"),
            selection=None if selection is None else tuple(selection),
            partitions=None if partitions is None else tuple(partitions),
            tags=data.get("tags") or {},
        )

    def to_payload(self) -> dict[str, Any]:
        """The fields of the automation domain's run request (``RunRequestV1``): ``key``
        (the run key, ``"0"`` when unset), ``selection`` and ``partitions`` (empty when
        unset) and ``tags``."""
        return {
            "key": self.run_key if self.run_key is not None else "0",
            "selection": list(self.selection or ()),
            "partitions": list(self.partitions or ()),
            "tags": dict(sorted(self.tags.items())),
        }

    def canonical_bytes(self) -> bytes:
        """Canonical JSON of :meth:`to_json` (to compare or hash requests)."""
        return canonical_json.canonical_dumps(self.to_json())


@dataclass(frozen=True, init=False)
class SensorResult:
    """What a poll sensor's evaluation produced: run requests, the new cursor (None: keep
    the one it read) and, when nothing is requested, why."""

    run_requests: tuple[RequestedRun, ...]
    cursor: str | None
    skip_reason: str | None

    def __init__(
        self,
        run_requests: Iterable[RequestedRun] | RequestedRun = (),
        cursor: str | None = None,
        skip_reason: str | SkipReason | None = None,
    ) -> None:
        requests = (run_requests,) if isinstance(run_requests, RequestedRun) else run_requests
        if not isinstance(requests, Iterable):
            raise ValidationError(
                f"run_requests: must be a list of RequestedRun (got {run_requests!r})"
            )
        listed = tuple(requests)
        if not all(isinstance(r, RequestedRun) for r in listed):
            raise ValidationError(f"run_requests: must be a list of RequestedRun (got {listed!r})")
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(f"cursor: must be a string or None (got {type(cursor).__name__})")
        if isinstance(skip_reason, SkipReason):
            skip_reason = skip_reason.reason
        elif skip_reason is not None and not isinstance(skip_reason, str):
            raise ValidationError(f"skip_reason: must be a string (got {skip_reason!r})")
        object.__setattr__(self, "run_requests", listed)
        object.__setattr__(self, "cursor", cursor)
        object.__setattr__(self, "skip_reason", skip_reason)


@dataclass(frozen=True)
class ScheduleEvaluation:
    """One tick's decision: the run requests (each with its selection, partitions and a
    unique ``run_key``) or, when there are none, the reason."""

    run_requests: tuple[RequestedRun, ...]
    skip_reason: str | None = None


@dataclass
class ScheduleContext:
    """What a schedule function receives: the tick instant (``scheduled_ms``, UTC), its
    time zone, the partitions the tick requests by default and a logger."""

    schedule_name: str
    scheduled_ms: int
    timezone: str = "UTC"
    partitions: tuple[str, ...] | None = None
    log: logging.Logger = field(default_factory=lambda: _LOG)

    @property
    def scheduled_time(self) -> dt.datetime:
        """The tick instant in the schedule's time zone."""
        return dt.datetime.fromtimestamp(self.scheduled_ms / 1000, ZoneInfo(self.timezone))


@dataclass
class SensorContext:
    """What a poll sensor function receives: the cursor of its last applied evaluation
    (None at first), when it was (``last_evaluation_ms``), now, and a logger.
    :meth:`update_cursor` is the other way to set the next cursor."""

    sensor_name: str
    cursor: str | None = None
    now_ms: int = 0
    last_evaluation_ms: int | None = None
    log: logging.Logger = field(default_factory=lambda: _LOG)
    _new_cursor: str | None = field(default=None, repr=False)

    def update_cursor(self, cursor: str | None) -> None:
        """Set the cursor this evaluation leaves (a :class:`SensorResult`'s wins)."""
        if cursor is not None and not isinstance(cursor, str):
            raise ValidationError(f"cursor: must be a string (got {type(cursor).__name__})")
        self._new_cursor = cursor


# --- schedules -------------------------------------------------------------------------------


class ScheduleDef:
    """A schedule: ``ScheduleDef(name=..., cron=..., target=...)`` or ``@schedule`` on a
    function (calling the definition calls the function). ``spec`` is what the manifest
    records, ``cron_schedule`` its :class:`~arco.orchestration.automation.cron.CronSchedule`.
    """

    def __init__(
        self,
        *,
        name: str,
        cron: str,
        target: Target,
        timezone: str = "UTC",
        partitions: str | Iterable[str] | LastWindowSpec | PartitionKeysSpec | None = None,
        catchup_window_s: int = DEFAULT_CATCHUP_WINDOW_S,
        default_status: Status = "running",
        tags: Mapping[str, str] | None = None,
        description: str | None = None,
        fn: Callable[..., Any] | None = None,
    ) -> None:
        where = f"schedule {name!r}"
        if fn is not None:
            fn = _function(where, fn, params=1)
        data: dict[str, Any] = {
            "name": name,
            "cron": cron,
            "timezone": timezone,
            "target": _target(where, target),
            "partitions": _tick_partitions_spec(where, partitions),
            "catchup_window_s": catchup_window_s,
            "default_status": default_status,
            "tags": _tags(where, tags),
            "description": description,
            "entry_point": None if fn is None else _entry_point(fn),
        }
        if isinstance(catchup_window_s, bool) or not isinstance(catchup_window_s, int):
            raise ValidationError(
                f"{where}.catchup_window_s: must be an integer number of seconds "
                f"(got {catchup_window_s!r})"
            )
        try:
            self.spec = ScheduleSpec.model_validate(data)
        except pydantic.ValidationError as exc:
            raise _model_error(where, exc) from None
        self.fn = fn
        self.cron_schedule = CronSchedule(self.spec.cron, self.spec.timezone)
        if fn is not None:
            functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.spec.name

    def to_spec(self) -> ScheduleSpec:
        """The schedule as the manifest records it."""
        return self.spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            raise ValidationError(f"schedule {self.name!r}: has no function to call")
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return (
            f"ScheduleDef({self.name!r}, cron={self.spec.cron!r}, timezone={self.spec.timezone!r})"
        )


def schedule(
    *,
    cron: str,
    target: Target,
    timezone: str = "UTC",
    partitions: str | Iterable[str] | LastWindowSpec | PartitionKeysSpec | None = None,
    catchup_window_s: int = DEFAULT_CATCHUP_WINDOW_S,
    default_status: Status = "running",
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], ScheduleDef]:
    """Declare a schedule on a function: ``@schedule(cron="0 6 * * *", timezone=
    "Europe/Berlin", target=[orders], partitions="last_window")``.

    The function, called with a :class:`ScheduleContext` at each tick, may return (or yield)
    :class:`RequestedRun` objects or a :class:`SkipReason`; None is the default request
    (``target`` with the tick's partitions). ``name`` defaults to the function's name and
    ``description`` to its docstring's first line.
    """

    def wrap(fn: Callable[..., Any]) -> ScheduleDef:
        label = name if name is not None else getattr(fn, "__name__", repr(fn))
        return ScheduleDef(
            name=label,
            cron=cron,
            target=target,
            timezone=timezone,
            partitions=partitions,
            catchup_window_s=catchup_window_s,
            default_status=default_status,
            tags=tags,
            description=description if description is not None else _summary(fn),
            fn=fn,
        )

    return wrap


def _summary(fn: object) -> str | None:
    doc = inspect.getdoc(fn) if callable(fn) else None
    if not doc:
        return None
    return " ".join(doc.split("\n\n", 1)[0].split()) or None


# --- sensors ---------------------------------------------------------------------------------


class SensorDef:
    """A sensor (``kind`` poll, push or asset); built by :func:`sensor`, :func:`push_sensor`
    and :func:`asset_sensor`. ``spec`` is what the manifest records."""

    def __init__(self, spec: SensorSpec, fn: Callable[..., Any] | None = None) -> None:
        self.spec = spec
        self.fn = fn
        if fn is not None:
            functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    def to_spec(self) -> SensorSpec:
        """The sensor as the manifest records it."""
        return self.spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.fn is None:
            raise ValidationError(f"sensor {self.name!r}: a {self.kind} sensor has no function")
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"SensorDef({self.name!r}, kind={self.kind!r})"


def _sensor_spec(where: str, data: dict[str, Any]) -> SensorSpec:
    try:
        return SensorSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _model_error(where, exc) from None


def sensor(
    *,
    target: Target,
    minimum_interval_s: int = DEFAULT_MINIMUM_INTERVAL_S,
    default_status: Status = "running",
    name: str | None = None,
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], SensorDef]:
    """Declare a poll sensor on a function: ``@sensor(minimum_interval_s=30, target=...)``.

    The function receives a :class:`SensorContext` (its ``cursor``) and returns a
    :class:`SensorResult`, :class:`RequestedRun` objects (or yields them), a
    :class:`SkipReason` or None (nothing to do). An evaluation whose cursor was
    superseded by another is discarded with its requests.
    """

    def wrap(fn: Callable[..., Any]) -> SensorDef:
        label = name if name is not None else getattr(fn, "__name__", repr(fn))
        where = f"sensor {label!r}"
        checked = _function(where, fn, params=1)
        if isinstance(minimum_interval_s, bool) or not isinstance(minimum_interval_s, int):
            raise ValidationError(
                f"{where}.minimum_interval_s: must be an integer number of seconds "
                f"(got {minimum_interval_s!r})"
            )
        spec = _sensor_spec(
            where,
            {
                "name": label,
                "kind": "poll",
                "target": _target(where, target),
                "minimum_interval_s": minimum_interval_s,
                "default_status": default_status,
                "tags": _tags(where, tags),
                "description": description if description is not None else _summary(fn),
                "entry_point": _entry_point(checked),
            },
        )
        return SensorDef(spec, checked)

    return wrap


def push_sensor(
    name: str,
    target: Target,
    *,
    default_status: Status = "running",
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> SensorDef:
    """Declare a push sensor: each message posted to it (keyed by its message id, a
    duplicate is ignored) requests a run of ``target``."""
    where = f"sensor {name!r}"
    return SensorDef(
        _sensor_spec(
            where,
            {
                "name": name,
                "kind": "push",
                "target": _target(where, target),
                "default_status": default_status,
                "tags": _tags(where, tags),
                "description": description,
            },
        )
    )


def asset_sensor(
    *,
    asset: Target,
    target: Target,
    name: str | None = None,
    default_status: Status = "running",
    tags: Mapping[str, str] | None = None,
    description: str | None = None,
) -> SensorDef:
    """Declare an asset sensor: a run of ``target`` when ``asset`` (one or several asset
    keys or definitions; they may belong to another code location) materializes. ``name``
    defaults to ``on_{namespace}_{name}`` of the first watched asset."""
    watched = _target("asset_sensor", asset)
    keys: list[str] = []
    for item in watched:
        try:
            keys.append(str(AssetKey.parse(item)))
        except ValidationError as exc:
            raise ValidationError(f"asset_sensor.asset: {exc.message}") from None
    label = name
    if label is None:
        first = AssetKey.parse(keys[0])
        label = f"on_{first.namespace}_{first.name}"
    where = f"sensor {label!r}"
    return SensorDef(
        _sensor_spec(
            where,
            {
                "name": label,
                "kind": "asset",
                "target": _target(where, target),
                "assets": tuple(keys),
                "default_status": default_status,
                "tags": _tags(where, tags),
                "description": description,
            },
        )
    )


# --- declarative conditions ------------------------------------------------------------------


class AutomationCondition:
    """When the automation controller requests an asset by itself, declared with
    ``@asset(automation=...)``: :meth:`eager`, :meth:`on_cron`, :meth:`missing`, and ``a | b``
    (either holds). Each evaluation is recorded with its reason."""

    __slots__ = ("spec",)

    def __init__(self, spec: AutomationConditionSpec) -> None:
        if not isinstance(spec, AutomationConditionSpec):
            raise ValidationError(
                f"automation: must be an automation condition (got {type(spec).__name__})"
            )
        self.spec = spec

    @staticmethod
    def _of(data: dict[str, Any]) -> AutomationCondition:
        try:
            return AutomationCondition(AutomationConditionSpec.model_validate(data))
        except pydantic.ValidationError as exc:
            raise _model_error(f"automation.{data['kind']}", exc) from None

    @classmethod
    def eager(cls) -> AutomationCondition:
        """Whenever an upstream asset (partition) materialized after this one last did."""
        return cls._of({"kind": "eager"})

    @classmethod
    def on_cron(cls, cron: str, timezone: str = "UTC") -> AutomationCondition:
        """Once per ``cron`` tick (in ``timezone``), as soon as every upstream asset has
        materialized since that tick."""
        return cls._of({"kind": "on_cron", "cron": cron, "timezone": timezone})

    @classmethod
    def missing(cls) -> AutomationCondition:
        """For each partition (or the asset) never materialized."""
        return cls._of({"kind": "missing"})

    def __or__(self, other: object) -> AutomationCondition:
        if not isinstance(other, AutomationCondition):
            return NotImplemented
        parts = [*self.spec.leaves(), *other.spec.leaves()]
        unique = list(dict.fromkeys(parts))
        if len(unique) == 1:
            return self
        return AutomationCondition._of(
            {"kind": "any", "conditions": [p.model_dump() for p in unique]}
        )

    def to_spec(self) -> AutomationConditionSpec:
        """The condition as the manifest records it."""
        return self.spec

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AutomationCondition):
            return NotImplemented
        return bool(self.spec == other.spec)

    def __hash__(self) -> int:
        return hash(self.spec.model_dump_json())

    def __repr__(self) -> str:
        return f"AutomationCondition({self.spec.model_dump(mode='json')!r})"


def eager() -> AutomationCondition:
    """:meth:`AutomationCondition.eager`."""
    return AutomationCondition.eager()


def on_cron(cron: str, timezone: str = "UTC") -> AutomationCondition:
    """:meth:`AutomationCondition.on_cron`."""
    return AutomationCondition.on_cron(cron, timezone)


def missing() -> AutomationCondition:
    """:meth:`AutomationCondition.missing`."""
    return AutomationCondition.missing()


# --- evaluation (what the controller calls) --------------------------------------------------


def load_automation(entry_point: str) -> ScheduleDef | SensorDef:
    """The schedule or sensor an entry point ``module:qualname`` names (the module is
    imported if needed; its code location must be importable)."""
    if not isinstance(entry_point, str):
        raise ValidationError(f"entry_point: must be a string (got {type(entry_point).__name__})")
    module_name, sep, qualname = entry_point.partition(":")
    if not sep or not module_name or not qualname:
        raise ValidationError(f"entry_point: must be 'module:qualname' (got {entry_point!r})")
    try:
        value: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            value = getattr(value, part)
    except (ImportError, AttributeError) as exc:
        raise ValidationError(f"entry_point: cannot load {entry_point!r} ({exc})") from None
    if not isinstance(value, ScheduleDef | SensorDef):
        raise ValidationError(
            f"entry_point: {entry_point!r} is not a schedule or sensor (got {type(value).__name__})"
        )
    return value


def _window_before(spec: TimeWindowPartitionsSpec, tick_ms: int, back: int) -> str | None:
    """The canonical key of the window ``back`` windows before the last one complete at
    ``tick_ms`` (None when it is outside the definition's range)."""
    zone = ZoneInfo(spec.timezone)
    tick = dt.datetime.fromtimestamp(tick_ms / 1000, dt.UTC)
    local = tick.astimezone(zone)
    value: dt.date | dt.datetime
    if spec.kind == "hourly":
        start = local.replace(minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        for _ in range(back + 1):  # the previous local hour start, whatever the offsets
            probe = start - dt.timedelta(minutes=15)
            while probe.astimezone(zone).minute != 0:
                probe -= dt.timedelta(minutes=15)
            start = probe
        value = start
    else:

        def begins(day: dt.date) -> dt.datetime:
            return dt.datetime.combine(day, dt.time()).replace(tzinfo=zone).astimezone(dt.UTC)

        def previous(day: dt.date) -> dt.date:
            if spec.kind == "daily":
                return day - dt.timedelta(days=1)
            return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

        current = local.date() if spec.kind == "daily" else local.date().replace(day=1)
        if begins(current) > tick:  # its start fell in a gap, after the tick
            current = previous(current)
        value = current
        for _ in range(back + 1):
            value = previous(value)
    key = PartitionKey({spec.dimension: value}).canonical()
    try:
        return parse_partition(spec, key)
    except ValidationError:
        return None


def tick_partitions(
    manifest: DefinitionsManifest, spec: ScheduleSpec, tick_ms: int
) -> tuple[str, ...] | None:
    """The partitions a tick of ``spec`` at ``tick_ms`` requests by default: None (the
    schedule names none), its keys, or the last complete window of its targets (``()``
    when that window is before the partitions' start or after their end)."""
    chosen = spec.partitions
    if chosen is None:
        return None
    if isinstance(chosen, PartitionKeysSpec):
        return chosen.keys
    specs = {a.key: a for a in manifest.assets}
    windows = [
        specs[k].partitions
        for k in select_assets(manifest, list(spec.target))
        if isinstance(specs[k].partitions, TimeWindowPartitionsSpec)
    ]
    if not windows:
        raise ValidationError(
            f"schedules.{spec.name}.partitions: last_window needs a time-partitioned target"
        )
    window = windows[0]
    assert isinstance(window, TimeWindowPartitionsSpec)
    key = _window_before(window, tick_ms, chosen.offset)
    return () if key is None else (key,)


def _requests(where: str, value: object) -> tuple[list[RequestedRun], str | None, object]:
    """Requests, a skip reason and a SensorResult (or None) out of what a function gave."""
    if value is None:
        return [], None, None
    if isinstance(value, SkipReason):
        return [], value.reason, None
    if isinstance(value, RequestedRun):
        return [value], None, None
    if isinstance(value, SensorResult):
        return list(value.run_requests), value.skip_reason, value
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ValidationError(
            f"{where}: returned {type(value).__name__}; return RequestedRun objects, a "
            "SkipReason or None"
        )
    requests: list[RequestedRun] = []
    skip: str | None = None
    for item in value:
        if isinstance(item, RequestedRun):
            requests.append(item)
        elif isinstance(item, SkipReason):
            skip = item.reason
        else:
            raise ValidationError(
                f"{where}: yielded {type(item).__name__}; yield RequestedRun objects or a "
                "SkipReason"
            )
    return requests, skip, None


def canonical_partitions(
    manifest: DefinitionsManifest, selection: Iterable[str], partitions: Iterable[str]
) -> tuple[str, ...]:
    """``partitions`` of a request for ``selection`` as canonical keys: each is parsed as
    ``arco run --partition`` takes it (a canonical key, or ``2026-01-05`` / ``2026-01`` /
    ``2026-01-05T03:00`` for a time-window dimension) against the partitions of every
    selected partitioned asset, which must agree (ValidationError naming the problem)."""
    keys = tuple(partitions)
    specs = {a.key: a for a in manifest.assets}
    chosen = [specs[k] for k in select_assets(manifest, list(selection))]
    partitioned = [a for a in chosen if a.partitions is not None]
    if keys and not partitioned:
        raise ValidationError("partitions: no selected asset is partitioned")
    out: list[str] = []
    for key in keys:
        canonical = {parse_partition(a.partitions, key) for a in partitioned}
        if len(canonical) != 1:
            raise ValidationError(
                f"partitions: {key!r} means different partitions of the selected assets "
                f"({', '.join(sorted(canonical))}); give a canonical key"
            )
        out.append(canonical.pop())
    if len(set(out)) != len(out):
        raise ValidationError(f"partitions: a partition is requested twice (got {list(keys)})")
    return tuple(out)


def _complete(
    where: str,
    requests: list[RequestedRun],
    target: tuple[str, ...],
    partitions: tuple[str, ...] | None,
    manifest: DefinitionsManifest | None = None,
) -> tuple[RequestedRun, ...]:
    out = []
    for i, r in enumerate(requests):
        selection = r.selection if r.selection is not None else target
        keys = r.partitions if r.partitions is not None else partitions
        if manifest is not None and keys is not None:
            try:
                keys = canonical_partitions(manifest, selection, keys)
            except ValidationError as exc:
                raise ValidationError(f"{where}: request {i}: {exc.message}") from None
        out.append(
            RequestedRun(
                run_key=r.run_key if r.run_key is not None else str(i),
                selection=selection,
                partitions=keys,
                tags=r.tags,
            )
        )
    run_keys = [r.run_key for r in out]
    if len(set(run_keys)) != len(run_keys):
        dupes = sorted({k for k in run_keys if k is not None and run_keys.count(k) > 1})
        raise ValidationError(f"{where}: run_key {dupes[0]!r} is requested twice")
    return tuple(out)


def evaluate_schedule(
    definition: ScheduleDef | ScheduleSpec,
    manifest: DefinitionsManifest,
    tick_ms: int,
    *,
    log: logging.Logger | None = None,
) -> ScheduleEvaluation:
    """Decide the tick of ``definition`` at ``tick_ms``: a plain schedule (or a spec
    without a function) requests its target with :func:`tick_partitions`; otherwise the
    function decides (None: that default request). Partitions come out as canonical keys
    (:func:`canonical_partitions`). Exceptions of the function propagate (the tick fails);
    a wrong return value is a ValidationError naming the schedule."""
    spec = definition.spec if isinstance(definition, ScheduleDef) else definition
    fn = definition.fn if isinstance(definition, ScheduleDef) else None
    if fn is None and spec.entry_point is not None:
        loaded = load_automation(spec.entry_point)
        fn = loaded.fn if isinstance(loaded, ScheduleDef) else None
    where = f"schedule {spec.name!r}"
    partitions = tick_partitions(manifest, spec, tick_ms)
    if partitions == ():
        return ScheduleEvaluation((), "no complete partition window at this tick")
    default = [RequestedRun()]
    if fn is None:
        requests, skip = default, None
    else:
        context = ScheduleContext(spec.name, tick_ms, spec.timezone, partitions, log or _LOG)
        value = fn(context) if inspect.signature(fn).parameters else fn()
        if value is None:
            requests, skip = default, None
        else:
            requests, skip, _ = _requests(where, value)
    done = _complete(where, requests, spec.target, partitions, manifest)
    if not done:
        return ScheduleEvaluation((), skip or "the schedule requested no run")
    return ScheduleEvaluation(done, None)


def evaluate_sensor(
    definition: SensorDef | SensorSpec,
    context: SensorContext,
    manifest: DefinitionsManifest | None = None,
) -> SensorResult:
    """Evaluate a poll sensor (its definition, or its manifest spec: the function is then
    loaded by entry point): its function's result as a :class:`SensorResult` whose
    requests have their selection (default: the target), a unique ``run_key`` (default:
    the position) and, given the ``manifest``, canonical partition keys
    (:func:`canonical_partitions`); whose cursor is the one set (result, else
    ``context.update_cursor``, else unchanged: None), and whose ``skip_reason`` is set when
    nothing is requested. Exceptions of the function propagate (the evaluation failed); a
    wrong result is a ValidationError naming the sensor."""
    if isinstance(definition, SensorSpec):
        spec = definition
        loaded = None if spec.entry_point is None else load_automation(spec.entry_point)
        fn = loaded.fn if isinstance(loaded, SensorDef) else None
    else:
        spec, fn = definition.spec, definition.fn
    where = f"sensor {spec.name!r}"
    if spec.kind != "poll" or fn is None:
        raise ValidationError(f"{where}: only poll sensors are evaluated (this one is {spec.kind})")
    value = fn(context) if inspect.signature(fn).parameters else fn()
    requests, skip, result = _requests(where, value)
    cursor = result.cursor if isinstance(result, SensorResult) else None
    if cursor is None:
        cursor = context._new_cursor
    done = _complete(where, requests, spec.target, None, manifest)
    if not done and skip is None:
        skip = "the sensor requested no run"
    return SensorResult(done, cursor, None if done else skip)
