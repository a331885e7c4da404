"""Discovery of a code location: import a module, a file or a folder and collect its assets,
schedules and sensors.

Invariants:

* a folder's modules are named by their path relative to the folder (``clean.py`` is
  ``clean``, ``sub/report.py`` is ``sub.report``; a ``.py`` file is its stem under its
  folder), so an entry point ``clean:clean`` means the same thing on every machine and the
  manifest's fingerprint does not depend on where the code is checked out; the folder is on
  ``sys.path`` only while it is imported;
* files are imported in path order; a module loaded from an earlier location under the same
  name is replaced, a module of another origin (an installed package) is never shadowed;
* definitions are collected in import order, each object once (a re-export is the same
  definition); duplicate keys are refused by :func:`build_manifest`, naming both entry
  points, and so are two schedules or sensors of one name;
* :func:`load_definitions` returns the assets as a list (as it always did) that also
  carries the schedules and sensors found next to them (:class:`Definitions`), so
  ``build_manifest(load_definitions(path))`` deploys them too;
* every failure is one :class:`~arco.errors.ValidationError` line naming the file (or module)
  and the problem.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pydantic

from arco.errors import ValidationError
from arco.orchestration.assets import AssetDef
from arco.orchestration.manifest import DefinitionsManifest

if TYPE_CHECKING:
    from arco.orchestration.automation.definitions import ScheduleDef, SensorDef

__all__ = ["Definitions", "build_manifest", "collect", "collect_automation", "load_definitions"]


class Definitions(list[AssetDef]):
    """The assets of a code location in import order (a plain list of them), with its
    ``schedules`` and ``sensors`` (also in import order)."""

    def __init__(
        self,
        assets: Iterable[AssetDef] = (),
        schedules: Iterable[ScheduleDef] = (),
        sensors: Iterable[SensorDef] = (),
    ) -> None:
        super().__init__(assets)
        self.schedules: list[ScheduleDef] = list(schedules)
        self.sensors: list[SensorDef] = list(sensors)


#: set on every module this loader imported from a folder (the folder's path)
LOCATION_ATTR = "__arco_code_location__"


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _problem(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        return f"syntax error at line {exc.lineno}: {exc.msg}"
    if isinstance(exc, ValidationError):
        return exc.message
    return _one_line(f"{type(exc).__name__}: {exc}") or type(exc).__name__


@contextmanager
def _on_sys_path(folder: str) -> Iterator[None]:
    sys.path.insert(0, folder)
    try:
        yield
    finally:
        with contextlib.suppress(ValueError):  # the imported code may have removed it
            sys.path.remove(folder)


def _module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    for part in parts:
        if not part.isidentifier():
            raise ValidationError(
                f"{path}: {part!r} is not a valid Python module name (use letters, digits "
                "and underscores)"
            )
    return ".".join(parts)


def _python_files(root: Path) -> list[Path]:
    out = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
            continue
        if rel == Path("__init__.py"):
            continue
        out.append(path)
    return sorted(out)


def _forget_earlier_locations(names: Iterable[str]) -> None:
    """Drop modules an earlier load imported under these top-level names."""
    tops = {n.split(".", 1)[0] for n in names}
    for loaded in list(sys.modules):
        if loaded.split(".", 1)[0] in tops and getattr(sys.modules[loaded], LOCATION_ATTR, None):
            del sys.modules[loaded]


def _import_file(root: Path, path: Path, name: str) -> ModuleType:
    existing = sys.modules.get(name)
    if existing is not None and getattr(existing, LOCATION_ATTR, None) is None:
        origin = getattr(existing, "__file__", None)
        if origin is None or Path(origin).resolve() != path.resolve():
            raise ValidationError(
                f"{path}: module name {name!r} is already taken by {origin or 'a built-in'} "
                "(rename the file)"
            )
        return existing
    top = name.split(".", 1)[0]
    if existing is None and top not in sys.modules:
        found = importlib.util.find_spec(top)
        if found is not None and found.origin is not None:
            origin_path = Path(found.origin).resolve()
            if root.resolve() not in origin_path.parents:
                raise ValidationError(
                    f"{path}: module name {top!r} would shadow {found.origin} (rename the file)"
                )
    with _on_sys_path(str(root)):
        try:
            module = importlib.import_module(name)
        except ValidationError as exc:
            raise ValidationError(f"{path}: {exc.message}") from None
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ValidationError(f"{path}: {_problem(exc)}") from None
    origin = getattr(module, "__file__", None)
    if origin is None or Path(origin).resolve() != path.resolve():
        raise ValidationError(
            f"{path}: module name {name!r} resolved to {origin or 'a built-in'} (rename the file)"
        )
    return module


def _mark_location(root: Path, before: set[str]) -> None:
    """Mark the modules imported since ``before`` from files under ``root`` (the ones the
    folder's own imports pulled in too), so a later load may replace them."""
    resolved = root.resolve()
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules[name], "__file__", None)
        if origin is not None and resolved in Path(origin).resolve().parents:
            setattr(sys.modules[name], LOCATION_ATTR, str(root))


def _load_folder(root: Path, files: list[Path]) -> list[ModuleType]:
    named = [(path, _module_name(root, path)) for path in files]
    importlib.invalidate_caches()  # files written since the last import must be seen
    _forget_earlier_locations(name for _, name in named)
    modules = []
    for path, name in named:
        before = set(sys.modules)
        try:
            modules.append(_import_file(root, path, name))
        finally:
            _mark_location(root, before)
    return modules


def _load_module(name: str) -> list[ModuleType]:
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        try:
            module = importlib.import_module(name)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise ValidationError(f"{name}: {_problem(exc)}") from None
        modules = [module]
        if hasattr(module, "__path__"):
            prefix = f"{module.__name__}."
            found = sorted(i.name for i in pkgutil.walk_packages(module.__path__, prefix))
            for sub in found:
                try:
                    modules.append(importlib.import_module(sub))
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    raise ValidationError(f"{sub}: {_problem(exc)}") from None
        return modules
    finally:
        if added:
            sys.path.remove(cwd)


def collect(modules: Iterable[ModuleType]) -> list[AssetDef]:
    """Every :class:`AssetDef` bound at the top level of ``modules``, each object once: the
    ones each module defines, in module order, then those only imported into them."""
    listed = list(modules)
    seen: set[int] = set()
    out: list[AssetDef] = []
    for own in (True, False):
        for module in listed:
            for value in list(vars(module).values()):
                if not isinstance(value, AssetDef) or id(value) in seen:
                    continue
                if own and value.fn.__module__ != module.__name__:
                    continue
                seen.add(id(value))
                out.append(value)
    return out


def collect_automation(modules: Iterable[ModuleType]) -> tuple[list[ScheduleDef], list[SensorDef]]:
    """Every schedule and sensor bound at the top level of ``modules``, each object once: a
    decorated one under the module of its function first, then the rest in module order."""
    from arco.orchestration.automation.definitions import ScheduleDef, SensorDef

    listed = list(modules)
    seen: set[int] = set()
    schedules: list[ScheduleDef] = []
    sensors: list[SensorDef] = []
    for own in (True, False):
        for module in listed:
            for value in list(vars(module).values()):
                if not isinstance(value, ScheduleDef | SensorDef) or id(value) in seen:
                    continue
                if own and value.fn is not None and value.fn.__module__ != module.__name__:
                    continue
                seen.add(id(value))
                if isinstance(value, ScheduleDef):
                    schedules.append(value)
                else:
                    sensors.append(value)
    return schedules, sensors


def _is_path(text: str) -> bool:
    """A path if it looks like one or exists (``pipeline`` in the current folder is the
    folder, not the namespace package)."""
    return text.endswith(".py") or "/" in text or os.sep in text or Path(text).exists()


def load_definitions(path_or_module: str) -> Definitions:
    """Import a code location and return its asset definitions in import order, carrying
    its schedules and sensors (:class:`Definitions`).

    ``path_or_module`` is a ``.py`` file, a folder (every ``.py`` below it except hidden
    ones and the folder's own ``__init__.py``) or a dotted module name (with its submodules
    if it is a package; the current directory is importable). A location without any
    ``@asset`` is a ValidationError.
    """
    if not isinstance(path_or_module, str) or not path_or_module.strip():
        raise ValidationError("path: must name a module, a .py file or a folder")
    if _is_path(path_or_module):
        path = Path(path_or_module).absolute()
        if path.is_dir():
            files = _python_files(path)
            if not files:
                raise ValidationError(f"{path_or_module}: no .py files in the folder")
            modules = _load_folder(path, files)
        elif path.is_file() and path.suffix == ".py":
            modules = _load_folder(path.parent, [path])
        elif path.exists():
            raise ValidationError(f"{path_or_module}: not a .py file or a folder")
        else:
            raise ValidationError(f"{path_or_module}: no such file or folder")
    else:
        modules = _load_module(path_or_module)
    assets = collect(modules)
    if not assets:
        raise ValidationError(f"{path_or_module}: no @asset definitions found")
    schedules, sensors = collect_automation(modules)
    return Definitions(assets, schedules, sensors)


def _origin(d: ScheduleDef | SensorDef) -> str:
    return "a plain definition" if d.spec.entry_point is None else d.spec.entry_point


def build_manifest(defs: Iterable[AssetDef | ScheduleDef | SensorDef]) -> DefinitionsManifest:
    """The manifest of ``defs`` (assets sorted by key; schedules and sensors, given among
    them or carried by a :class:`Definitions`, sorted by name); a key or name defined twice
    is a ValidationError naming both, and so is a manifest the validation refuses (a target
    that selects no asset, a bad cron, ...)."""
    from arco.orchestration.automation.definitions import ScheduleDef, SensorDef

    by_key: dict[str, AssetDef] = {}
    automation: dict[str, ScheduleDef | SensorDef] = {}
    items: list[object] = list(defs)
    if isinstance(defs, Definitions):
        items += [*defs.schedules, *defs.sensors]
    for d in items:
        if isinstance(d, ScheduleDef | SensorDef):
            taken = automation.get(d.name.casefold())
            if taken is not None and taken is not d:
                raise ValidationError(
                    f"automation: name {d.name!r} is defined twice ({_origin(taken)} and "
                    f"{_origin(d)})"
                )
            automation[d.name.casefold()] = d
            continue
        if not isinstance(d, AssetDef):
            raise ValidationError(
                f"definitions: expected asset, schedule or sensor definitions (got {d!r})"
            )
        earlier = by_key.get(d.spec.key)
        if earlier is not None and earlier is not d:
            raise ValidationError(
                f"assets: key {d.spec.key} is defined twice ({earlier.entry_point} and "
                f"{d.entry_point})"
            )
        by_key[d.spec.key] = d
    schedules = tuple(d.to_spec() for d in automation.values() if isinstance(d, ScheduleDef))
    sensors = tuple(d.to_spec() for d in automation.values() if isinstance(d, SensorDef))
    try:
        return DefinitionsManifest(
            assets=tuple(by_key[k].to_spec() for k in sorted(by_key)),
            schedules=schedules,
            sensors=sensors,
        )
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ValidationError(
            f"definitions.{loc}: {msg}" if loc else f"definitions: {msg}"
        ) from None
