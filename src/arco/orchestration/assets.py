"""The ``@asset`` decorator, asset definitions, retry policies and check declarations.

An asset is a Python function whose first parameter is the run-time
:class:`AssetContext` and whose other parameters are its inputs, named after upstream
assets. ``@asset`` turns it into an :class:`AssetDef`, which carries the function (calling
the definition calls it, so it stays unit-testable) and its manifest
:class:`~arco.orchestration.manifest.AssetSpec`.

Invariants:

* the asset key is ``{namespace}/{name}`` (an :class:`~arco.core.assets.AssetKey`); the
  namespace is the ``namespace=`` option, else the defining module's ``ARCO_NAMESPACE``
  global, else ``default``; the name is ``name=`` or the function's name;
* a parameter ``orders`` is the input ``{namespace}/orders``, unless an explicit ``deps=``
  entry has the name ``orders`` (then it is that asset: the way to read another
  namespace); the dependencies are the inputs plus every ``deps=`` entry;
* the entry point is ``{module}:{qualname}`` of the function;
* a check is declared, never run here, except for the pure built-in evaluation of
  ``row_count`` / ``not_null`` / ``unique`` over an Arrow table in :func:`run_builtin_check`;
  check parameters are integers, strings and lists of strings only;
* every invalid option is a one-line :class:`~arco.errors.ValidationError` naming the asset
  and the field, raised when the decorator runs.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import pydantic

from arco.core.assets import AssetKey
from arco.core.names import validate_name
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError
from arco.orchestration.manifest import (
    AssetSpec,
    AutomationConditionSpec,
    CheckSpec,
    MultiPartitionsSpec,
    PartitionsSpec,
    RetrySpec,
    StaticPartitionsSpec,
    TimeWindowPartitionsSpec,
)
from arco.orchestration.partitions import PartitionsDefinition, from_spec

if TYPE_CHECKING:
    import pyarrow as pa

    from arco.orchestration.automation.definitions import AutomationCondition

__all__ = [
    "DEFAULT_NAMESPACE",
    "AssetContext",
    "AssetDecorator",
    "AssetDef",
    "CheckResult",
    "PythonCheck",
    "RetryPolicy",
    "asset",
    "check",
    "freshness",
    "load_entry_point",
    "not_null",
    "row_count",
    "run_builtin_check",
    "sql_check",
    "unique",
]

#: the namespace of an asset that names none (and whose module sets no ``ARCO_NAMESPACE``)
DEFAULT_NAMESPACE = "default"
#: the module global that sets the default namespace of the assets defined in a module
MODULE_NAMESPACE_GLOBAL = "ARCO_NAMESPACE"

AssetFunction = Callable[..., Any]


# --- run time ------------------------------------------------------------------------------


@dataclass
class AssetContext:
    """What an asset function receives first: which run, asset, partition and attempt it
    computes, a logger and the resources it asked for."""

    run_id: str
    asset_key: str
    partition_key: str = ""
    attempt: int = 1
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("arco.assets"))
    resources: dict[str, Any] = field(default_factory=dict)
    #: raises when the run asked this attempt to stop (set by the executor)
    cancellation: Callable[[], None] | None = field(default=None, repr=False)

    def check_cancelled(self) -> None:
        """Raise (ending the attempt as ``cancelled``) if the run was cancelled: call it
        between steps of long work; an attempt that never does is stopped by its executor
        where it can be (a worker process is terminated) or times out."""
        if self.cancellation is not None:
            self.cancellation()

    @property
    def partition(self) -> PartitionKey:
        """The typed partition key (empty when the asset is not partitioned)."""
        return PartitionKey.parse(self.partition_key)


def _model_error(where: str, exc: pydantic.ValidationError) -> ValidationError:
    first = exc.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = str(first["msg"]).removeprefix("Value error, ")
    return ValidationError(f"{where}.{loc}: {msg}" if loc else f"{where}: {msg}")


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed attempt is retried: attempt ``n`` (from 2) waits
    ``min(max_backoff_s, backoff_s * factor**(n-2))``, spread by up to ``jitter``."""

    max_attempts: int = 1
    backoff_s: float = 1.0
    factor: float = 2.0
    max_backoff_s: float = 300.0
    jitter: float = 0.1

    def to_spec(self) -> RetrySpec:
        """The manifest model (ValidationError naming the field that breaks a bound)."""
        try:
            return RetrySpec(
                max_attempts=self.max_attempts,
                backoff_s=self.backoff_s,
                factor=self.factor,
                max_backoff_s=self.max_backoff_s,
                jitter=self.jitter,
            )
        except pydantic.ValidationError as exc:
            raise _model_error("retry", exc) from None


# --- checks --------------------------------------------------------------------------------


def _columns(kind: str, columns: Sequence[str]) -> list[str]:
    if not columns:
        raise ValidationError(f"checks.{kind}: name at least one column")
    if not all(isinstance(c, str) and c for c in columns):
        raise ValidationError(f"checks.{kind}: columns must be non-empty strings")
    if len(set(columns)) != len(columns):
        raise ValidationError(f"checks.{kind}: columns must not repeat")
    return list(columns)


def _count(where: str, value: object, *, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValidationError(f"{where}: must be an integer >= {minimum} (got {value!r})")
    return value


def _check_spec(kind: str, name: str, params: dict[str, object], blocking: bool) -> CheckSpec:
    if not isinstance(blocking, bool):
        raise ValidationError(f"checks.{name}.blocking: must be a boolean")
    try:
        return CheckSpec.model_validate(
            {"name": name, "kind": kind, "params": params, "blocking": blocking}
        )
    except pydantic.ValidationError as exc:
        raise _model_error(f"checks.{kind}", exc) from None


def row_count(
    min: int | None = None,
    max: int | None = None,
    *,
    name: str | None = None,
    blocking: bool = True,
) -> CheckSpec:
    """The table has at least ``min`` and at most ``max`` rows (either may be omitted)."""
    params: dict[str, object] = {}
    if min is not None:
        params["min"] = _count("checks.row_count.min", min)
    if max is not None:
        params["max"] = _count("checks.row_count.max", max)
    if min is not None and max is not None and min > max:
        raise ValidationError(f"checks.row_count: min {min} is above max {max}")
    return _check_spec("row_count", name or "row_count", params, blocking)


def not_null(*columns: str, name: str | None = None, blocking: bool = True) -> CheckSpec:
    """No value of ``columns`` is null."""
    cols = _columns("not_null", columns)
    return _check_spec(
        "not_null", name or "_".join(["not_null", *cols]), {"columns": cols}, blocking
    )


def unique(*columns: str, name: str | None = None, blocking: bool = True) -> CheckSpec:
    """No two rows have the same values in ``columns`` (nulls compare equal)."""
    cols = _columns("unique", columns)
    return _check_spec("unique", name or "_".join(["unique", *cols]), {"columns": cols}, blocking)


def freshness(max_lag_s: int, *, name: str | None = None, blocking: bool = True) -> CheckSpec:
    """The asset was materialized at most ``max_lag_s`` seconds ago."""
    lag = _count("checks.freshness.max_lag_s", max_lag_s, minimum=1)
    return _check_spec("freshness", name or "freshness", {"max_lag_s": lag}, blocking)


def sql_check(name: str, sql: str, *, blocking: bool = True) -> CheckSpec:
    """A query over the materialized table (named ``output``, and by the asset's own name)
    that must return zero rows (or one row holding true)."""
    if not isinstance(sql, str) or not sql.strip():
        raise ValidationError("checks.sql.sql: must be a non-empty query")
    if not isinstance(name, str):
        raise ValidationError("checks.sql.name: must be a string")
    return _check_spec("sql", name, {"sql": sql}, blocking)


@dataclass(frozen=True)
class PythonCheck:
    """A custom check: ``fn(table) -> bool | CheckResult``, declared with :func:`check`."""

    fn: Callable[..., Any]
    spec: CheckSpec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _entry_point(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}:{fn.__qualname__}"


@overload
def check(fn: Callable[..., Any], /) -> PythonCheck: ...
@overload
def check(
    *, name: str | None = None, blocking: bool = True
) -> Callable[[Callable[..., Any]], PythonCheck]: ...
def check(
    fn: Callable[..., Any] | None = None, /, *, name: str | None = None, blocking: bool = True
) -> PythonCheck | Callable[[Callable[..., Any]], PythonCheck]:
    """Declare a custom Python check (bare ``@check`` or ``@check(name=, blocking=)``);
    its name defaults to the function's name, its parameter is its entry point."""

    def wrap(f: Callable[..., Any]) -> PythonCheck:
        if not callable(f):
            raise ValidationError(f"checks.python: must decorate a function (got {f!r})")
        spec = _check_spec("python", name or f.__name__, {"entry_point": _entry_point(f)}, blocking)
        return PythonCheck(f, spec)

    return wrap if fn is None else wrap(fn)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check: ``passed`` is None when it was not evaluated; ``message``
    says why (one line); ``kind`` is the check's kind (``row_count``, ``sql``, ...) when
    known."""

    name: str
    passed: bool | None
    message: str
    blocking: bool = True
    kind: str = ""

    @property
    def blocks(self) -> bool:
        """Whether this result fails its task: a blocking check that did not pass."""
        return self.blocking and self.passed is not True

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object (what travels in run events)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "passed": self.passed,
            "blocking": self.blocking,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CheckResult:
        """Read :meth:`to_json`'s object back (ValidationError on a wrong shape)."""
        try:
            name, kind, message = data["name"], data.get("kind", ""), data["message"]
            passed, blocking = data["passed"], data.get("blocking", True)
        except (KeyError, TypeError):
            raise ValidationError(
                "check result: must be an object with name, passed and message"
            ) from None
        texts = all(isinstance(v, str) for v in (name, kind, message))
        flags = (passed is None or isinstance(passed, bool)) and isinstance(blocking, bool)
        if not texts or not flags:
            raise ValidationError(f"check result: wrong field types in {dict(data)!r}")
        return cls(name, passed, message, blocking, kind)


def run_builtin_check(spec: CheckSpec, table: pa.Table) -> CheckResult:
    """Evaluate a ``row_count`` / ``not_null`` / ``unique`` check over ``table`` (pure);
    the other kinds need the catalog or the code and come back not evaluated."""
    import pyarrow.compute as pc

    def result(passed: bool | None, message: str) -> CheckResult:
        return CheckResult(spec.name, passed, message, spec.blocking)

    params = spec.params
    if spec.kind == "row_count":
        rows = table.num_rows
        low, high = params.get("min"), params.get("max")
        if isinstance(low, int) and rows < low:
            return result(False, f"{rows} rows, fewer than {low}")
        if isinstance(high, int) and rows > high:
            return result(False, f"{rows} rows, more than {high}")
        return result(True, f"{rows} rows")
    if spec.kind not in ("not_null", "unique"):
        return result(None, f"{spec.kind} checks are not evaluated here")
    listed = params.get("columns")
    columns = [str(c) for c in listed] if isinstance(listed, list | tuple) else []
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        return result(False, f"no column {missing[0]!r} in the table")
    if spec.kind == "not_null":
        nulls = {c: int(pc.sum(pc.is_null(table.column(c))).as_py() or 0) for c in columns}
        bad = {c: n for c, n in nulls.items() if n}
        if bad:
            return result(False, ", ".join(f"{c}: {n} null(s)" for c, n in bad.items()))
        return result(True, "no nulls")
    distinct = table.select(columns).group_by(columns).aggregate([]).num_rows
    duplicates = table.num_rows - distinct
    if duplicates:
        return result(False, f"{duplicates} duplicate row(s) over {', '.join(columns)}")
    return result(True, "all unique")


# --- definitions ---------------------------------------------------------------------------


def _first_paragraph(doc: str | None) -> str | None:
    if not doc or not doc.strip():
        return None
    paragraph = inspect.cleandoc(doc).split("\n\n", 1)[0]
    return " ".join(line.strip() for line in paragraph.splitlines()).strip() or None


def _partitions_spec(where: str, value: object) -> PartitionsSpec | None:
    if value is None:
        return None
    if isinstance(value, PartitionsDefinition):
        return value.to_spec()
    if isinstance(value, TimeWindowPartitionsSpec | StaticPartitionsSpec | MultiPartitionsSpec):
        return value
    raise ValidationError(
        f"{where}.partitions: must be a partitions definition such as DailyPartitions "
        f"(got {type(value).__name__})"
    )


def _strings(where: str, values: object) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, Iterable):
        raise ValidationError(f"{where}: must be a list of strings (got {values!r})")
    out = tuple(values)
    if not all(isinstance(v, str) and v for v in out):
        raise ValidationError(f"{where}: must be a list of non-empty strings (got {out!r})")
    return out


def _automation_spec(where: str, value: object) -> AutomationConditionSpec | None:
    """The manifest model of an ``automation=`` condition (an
    :class:`~arco.orchestration.automation.definitions.AutomationCondition` or its spec)."""
    if value is None or isinstance(value, AutomationConditionSpec):
        return value
    to_spec = getattr(value, "to_spec", None)
    spec = to_spec() if callable(to_spec) else None
    if isinstance(spec, AutomationConditionSpec):
        return spec
    raise ValidationError(
        f"{where}.automation: must be an automation condition such as eager() "
        f"(got {type(value).__name__})"
    )


def _dep_key(where: str, dep: object) -> AssetKey:
    if isinstance(dep, AssetDef):
        return dep.key
    if isinstance(dep, AssetKey):
        return dep
    if isinstance(dep, str):
        try:
            return AssetKey.parse(dep)
        except ValidationError as exc:
            raise ValidationError(f"{where}.deps: {exc.message}") from None
    raise ValidationError(
        f"{where}.deps: each must be 'namespace/name' or an asset (got {type(dep).__name__})"
    )


class AssetDef:
    """An asset definition: the function, its key, inputs and manifest spec.

    Calling it calls the function (``orders(ctx, raw)``), so assets are testable as plain
    functions. ``inputs`` maps each input parameter to the asset key it reads.
    """

    def __init__(
        self,
        fn: AssetFunction,
        spec: AssetSpec,
        inputs: Mapping[str, str],
        python_checks: Mapping[str, PythonCheck],
        partitions: PartitionsDefinition | None,
    ) -> None:
        self.fn = fn
        self.spec = spec
        self.inputs = dict(inputs)
        self.python_checks = dict(python_checks)
        self.partitions = partitions
        functools.update_wrapper(self, fn)

    @property
    def key(self) -> AssetKey:
        """The asset key (``namespace/name``)."""
        return self.spec.asset_key

    @property
    def entry_point(self) -> str:
        """``module:qualname`` of the function."""
        return self.spec.entry_point

    def to_spec(self) -> AssetSpec:
        """The asset as the manifest records it."""
        return self.spec

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # pickled by reference, like a function: the receiver imports the entry point
        return load_entry_point, (self.spec.entry_point,)

    def __repr__(self) -> str:
        return f"AssetDef({self.spec.key!r}, entry_point={self.spec.entry_point!r})"


def load_entry_point(entry_point: str) -> AssetDef:
    """The :class:`AssetDef` an entry point ``module:qualname`` names (the module is
    imported if needed; it must be importable, e.g. its code location on ``sys.path``)."""
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
    if not isinstance(value, AssetDef):
        raise ValidationError(
            f"entry_point: {entry_point!r} is not an asset (got {type(value).__name__})"
        )
    return value


def _build(
    fn: AssetFunction,
    *,
    name: str | None,
    namespace: str | None,
    description: str | None,
    deps: Iterable[object],
    partitions: object,
    owners: Iterable[str],
    tags: Mapping[str, str] | None,
    group: str | None,
    code_version: str | None,
    retry: RetryPolicy | None,
    timeout_s: float | None,
    resources: Iterable[str],
    checks: Iterable[CheckSpec | PythonCheck],
    automation: object = None,
) -> AssetDef:
    if isinstance(fn, AssetDef) or not callable(fn):
        raise ValidationError(f"asset: must decorate a function (got {fn!r})")
    where = f"asset {getattr(fn, '__qualname__', fn)!r}"
    module_default = getattr(fn, "__globals__", {}).get(MODULE_NAMESPACE_GLOBAL)
    ns = namespace if namespace is not None else module_default or DEFAULT_NAMESPACE
    try:
        key = AssetKey(ns, name if name is not None else fn.__name__)
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    where = f"asset {str(key)!r}"

    if isinstance(deps, str | AssetDef | AssetKey) or not isinstance(deps, Iterable):
        raise ValidationError(f"{where}.deps: must be a list of assets or keys (got {deps!r})")
    explicit = [_dep_key(where, d) for d in deps]
    by_name: dict[str, list[AssetKey]] = {}
    for dep in explicit:
        by_name.setdefault(dep.name, []).append(dep)

    params = list(inspect.signature(fn).parameters.values())
    if not params or params[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise ValidationError(f"{where}: the first parameter must be the context")
    inputs: dict[str, str] = {}
    for param in params[1:]:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ValidationError(
                f"{where}.{param.name}: *args and **kwargs cannot name upstream assets"
            )
        matches = by_name.get(param.name, [])
        if len(matches) > 1:
            raise ValidationError(
                f"{where}.{param.name}: ambiguous input, deps has "
                f"{', '.join(str(m) for m in matches)}"
            )
        try:
            upstream = matches[0] if matches else AssetKey(key.namespace, param.name)
        except ValidationError as exc:
            raise ValidationError(f"{where}.{param.name}: {exc.message}") from None
        inputs[param.name] = str(upstream)
    all_deps = sorted({*inputs.values(), *(str(d) for d in explicit)})

    check_specs: list[CheckSpec] = []
    python_checks: dict[str, PythonCheck] = {}
    for c in checks or ():
        if isinstance(c, PythonCheck):
            python_checks[c.spec.name] = c
            check_specs.append(c.spec)
        elif isinstance(c, CheckSpec):
            check_specs.append(c)
        else:
            raise ValidationError(
                f"{where}.checks: each must be a declared check such as row_count() "
                f"(got {type(c).__name__})"
            )
    if tags is not None and not (
        isinstance(tags, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items())
    ):
        raise ValidationError(f"{where}.tags: must map strings to strings (got {tags!r})")
    if group is not None:
        group = validate_name(f"{where}.group", group)
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise ValidationError(f"{where}.retry: must be a RetryPolicy (got {type(retry).__name__})")
    partitions_spec = _partitions_spec(where, partitions)
    data: dict[str, Any] = {
        "key": str(key),
        "description": description if description is not None else _first_paragraph(fn.__doc__),
        "deps": tuple(all_deps),
        "partitions": partitions_spec,
        "owners": _strings(f"{where}.owners", owners or ()),
        "tags": dict(tags or {}),
        "group": group,
        "code_version": code_version,
        "retry": (retry or RetryPolicy()).to_spec(),
        "timeout_s": timeout_s,
        "resources": _strings(f"{where}.resources", resources or ()),
        "checks": tuple(check_specs),
        "entry_point": _entry_point(fn),
        "automation": _automation_spec(where, automation),
    }
    try:
        spec = AssetSpec.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _model_error(where, exc) from None
    definition = None if partitions_spec is None else from_spec(partitions_spec)
    return AssetDef(fn, spec, inputs, python_checks, definition)


_OPTIONS: dict[str, Any] = {
    "name": None,
    "namespace": None,
    "description": None,
    "deps": (),
    "partitions": None,
    "owners": (),
    "tags": None,
    "group": None,
    "code_version": None,
    "retry": None,
    "timeout_s": None,
    "resources": (),
    "checks": (),
    "automation": None,
}


class AssetDecorator:
    """What ``asset(...)`` returns: applied to a function it makes an :class:`AssetDef`;
    called with options it makes a decorator with those options added (later ones win), so
    ``shop = asset(namespace="shop")`` sets a default for every ``@shop`` or ``@shop(...)``."""

    def __init__(self, options: Mapping[str, Any]) -> None:
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ValidationError(
                f"asset: unknown option {unknown[0]!r} (expected one of {', '.join(_OPTIONS)})"
            )
        self.options = dict(options)

    @overload
    def __call__(self, fn: AssetFunction, /) -> AssetDef: ...
    @overload
    def __call__(self, **options: Any) -> AssetDecorator: ...
    def __call__(self, *fn: AssetFunction, **options: Any) -> AssetDef | AssetDecorator:
        if not fn:
            return AssetDecorator({**self.options, **options})
        if options or len(fn) > 1:
            raise ValidationError("asset: give options or one function, not both")
        return _build(fn[0], **{**_OPTIONS, **self.options})


@overload
def asset(fn: AssetFunction, /) -> AssetDef: ...
@overload
def asset(
    *,
    name: str | None = None,
    namespace: str | None = None,
    description: str | None = None,
    deps: Iterable[str | AssetDef | AssetKey] = (),
    partitions: PartitionsDefinition | PartitionsSpec | None = None,
    owners: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    group: str | None = None,
    code_version: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float | None = None,
    resources: Iterable[str] = (),
    checks: Iterable[CheckSpec | PythonCheck] = (),
    automation: AutomationCondition | AutomationConditionSpec | None = None,
) -> AssetDecorator: ...
def asset(
    fn: AssetFunction | None = None,
    /,
    *,
    name: str | None = None,
    namespace: str | None = None,
    description: str | None = None,
    deps: Iterable[str | AssetDef | AssetKey] = (),
    partitions: PartitionsDefinition | PartitionsSpec | None = None,
    owners: Iterable[str] = (),
    tags: Mapping[str, str] | None = None,
    group: str | None = None,
    code_version: str | None = None,
    retry: RetryPolicy | None = None,
    timeout_s: float | None = None,
    resources: Iterable[str] = (),
    checks: Iterable[CheckSpec | PythonCheck] = (),
    automation: AutomationCondition | AutomationConditionSpec | None = None,
) -> AssetDef | AssetDecorator:
    """Declare an asset: bare ``@asset`` or ``@asset(name=..., partitions=..., ...)``.

    Options: ``name``, ``namespace``, ``description`` (default: the docstring's first
    paragraph), ``deps``, ``partitions``, ``owners``, ``tags``, ``group``, ``code_version``,
    ``retry`` (a :class:`RetryPolicy`), ``timeout_s``, ``resources``, ``checks`` and
    ``automation`` (when the automation controller requests it by itself:
    ``eager()``, ``on_cron(...)``, ``missing()`` of
    :mod:`arco.orchestration.automation.definitions`, combined with ``|``). The
    decorator ``asset(...)`` returns can be reused and extended (:class:`AssetDecorator`).
    See the module for keys and inputs.
    """
    given = {
        "name": name,
        "namespace": namespace,
        "description": description,
        "deps": deps,
        "partitions": partitions,
        "owners": owners,
        "tags": tags,
        "group": group,
        "code_version": code_version,
        "retry": retry,
        "timeout_s": timeout_s,
        "resources": resources,
        "checks": checks,
        "automation": automation,
    }
    # only what differs from the defaults, so that a reused decorator's later options win
    decorator = AssetDecorator({k: v for k, v in given.items() if v is not _OPTIONS[k]})
    return decorator if fn is None else decorator(fn)
