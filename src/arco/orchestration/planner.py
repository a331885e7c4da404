"""The planner: from a definitions manifest and a selection to an ordered plan of tasks.

Pure Python over a :class:`~arco.orchestration.manifest.DefinitionsManifest`; no storage.
Invariants of every :class:`Plan` it returns (and every plan :meth:`Plan.from_json` accepts):

* one task per selected unpartitioned asset (partition ``""``) and one per requested
  partition key of each selected partitioned asset; task keys are
  ``namespace/name[partition]:materialize`` (``namespace/name:materialize`` unpartitioned)
  and unique;
* edges: a task depends on the task of the same partition of an upstream asset with the
  same partitions definition, on the one task of an unpartitioned upstream asset, and on
  every planned task of an upstream asset partitioned otherwise (or of a partitioned
  upstream of an unpartitioned asset); dependencies on keys that are not assets of the
  manifest are external inputs (``external_deps``), never tasks;
* ``tasks`` are in topological order, ties broken by the task key string (Kahn's algorithm
  with a heap), so the same manifest and request give the same order in any process;
  ``upstream`` and ``downstream`` are sorted task keys, each the mirror of the other;
* ``stage`` is the length of the longest path from a root (roots are stage 0);
* ``fingerprint`` is the sha256 of the canonical JSON of the list, sorted by task key, of
  ``{"key", "upstream", "resources"}`` (sorted upstream task keys and resources): it
  depends on the plan's structure only, not on descriptions, retries or code versions;
* a cycle among the selected assets, an unknown selected key, a partitioned asset without
  partitions and more than ``max_tasks`` tasks are refused with a one-line
  :class:`~arco.errors.ValidationError`; nothing is repaired.
"""

from __future__ import annotations

import hashlib
import heapq
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arco.core import canonical_json
from arco.core.assets import AssetKey
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError, preview
from arco.orchestration.manifest import (
    AssetSpec,
    DefinitionsManifest,
    MultiPartitionsSpec,
)

__all__ = [
    "DEFAULT_MAX_TASKS",
    "OPERATION",
    "PLAN_FORMAT",
    "Plan",
    "PlannedTask",
    "plan",
    "select_assets",
    "task_key",
]

#: the one operation a planned task performs (the ``:operation`` suffix of task keys)
OPERATION = "materialize"
PLAN_FORMAT = 1
DEFAULT_MAX_TASKS = 100_000


def task_key(asset_key: str, partition: str = "", operation: str = OPERATION) -> str:
    """The task key ``namespace/name[partition]:operation`` (no brackets when unpartitioned)."""
    if partition:
        return f"{asset_key}[{partition}]:{operation}"
    return f"{asset_key}:{operation}"


@dataclass(frozen=True, slots=True)
class PlannedTask:
    """One task of a plan: materialize ``asset_key`` for ``partition`` (``""``: unpartitioned)."""

    key: str
    asset_key: str
    partition: str
    stage: int
    upstream: tuple[str, ...]
    downstream: tuple[str, ...]
    #: the asset's resources, sorted (part of the fingerprint)
    resources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Plan:
    """Tasks in topological order, the structural fingerprint and the external inputs."""

    tasks: tuple[PlannedTask, ...]
    fingerprint: str
    external_deps: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.tasks)

    @property
    def keys(self) -> tuple[str, ...]:
        """The task keys, in plan order."""
        return tuple(t.key for t in self.tasks)

    def to_json(self) -> bytes:
        """The plan as canonical JSON bytes (what a run embeds; :meth:`from_json` inverts it)."""
        return canonical_json.canonical_dumps(
            {
                "format": PLAN_FORMAT,
                "fingerprint": self.fingerprint,
                "external_deps": list(self.external_deps),
                "tasks": [
                    {
                        "key": t.key,
                        "asset_key": t.asset_key,
                        "partition": t.partition,
                        "stage": t.stage,
                        "upstream": list(t.upstream),
                        "downstream": list(t.downstream),
                        "resources": list(t.resources),
                    }
                    for t in self.tasks
                ],
            }
        )

    @classmethod
    def from_json(cls, data: bytes | str, where: str = "plan") -> Plan:
        """Parse :meth:`to_json` output, checking every invariant of the module (keys,
        order, mirrored edges, stages, fingerprint); ValidationError naming the field."""
        raw = canonical_json.loads(data)
        if not isinstance(raw, dict):
            raise ValidationError(f"{where}: must be a JSON object")
        expected = {"format", "fingerprint", "external_deps", "tasks"}
        if set(raw) != expected:
            raise ValidationError(f"{where}: fields must be {sorted(expected)} (got {sorted(raw)})")
        if raw["format"] != PLAN_FORMAT:
            raise ValidationError(f"{where}.format: must be {PLAN_FORMAT} (got {raw['format']!r})")
        external = _str_list(raw["external_deps"], f"{where}.external_deps")
        if list(external) != sorted(set(external)):
            raise ValidationError(f"{where}.external_deps: must be sorted and unique")
        if not isinstance(raw["tasks"], list):
            raise ValidationError(f"{where}.tasks: must be a list")
        tasks = tuple(_task_from_json(t, f"{where}.tasks[{i}]") for i, t in enumerate(raw["tasks"]))
        _check_structure(tasks, where)
        fingerprint = raw["fingerprint"]
        if fingerprint != _fingerprint(tasks):
            raise ValidationError(
                f"{where}.fingerprint: does not match the tasks (got {preview(fingerprint)})"
            )
        return cls(tasks=tasks, fingerprint=fingerprint, external_deps=external)


# --- selection ---------------------------------------------------------------------------------


def _resolve_selection(
    manifest: DefinitionsManifest,
    selection: Sequence[str],
    index: dict[str, int],
    ups: list[list[int]],
) -> list[int]:
    """The indices (manifest order) of the selected assets."""
    if isinstance(selection, str) or not isinstance(selection, Sequence):
        raise ValidationError(
            f"selection: must be a list of strings (got {type(selection).__name__})"
        )
    if not selection:
        raise ValidationError("selection: must name at least one asset ('*' for all)")
    assets = manifest.assets
    n = len(assets)
    chosen = bytearray(n)
    unknown: list[str] = []
    up_roots: list[int] = []
    down_roots: list[int] = []
    for i, item in enumerate(selection):
        where = f"selection[{i}]"
        if not isinstance(item, str):
            raise ValidationError(f"{where}: must be a string (got {type(item).__name__})")
        if item == "*":
            return list(range(n))
        if item.startswith("tag:"):
            name, sep, value = item[4:].partition("=")
            if not sep or not name:
                raise ValidationError(f"{where}: must be 'tag:key=value' (got {preview(item)})")
            for j, a in enumerate(assets):
                if a.tags.get(name) == value:
                    chosen[j] = 1
            continue
        if item.startswith("group:"):
            group = item[6:]
            if not group:
                raise ValidationError(f"{where}: must be 'group:name' (got {preview(item)})")
            for j, a in enumerate(assets):
                if a.group == group:
                    chosen[j] = 1
            continue
        upward = item.startswith("+")
        downward = item.endswith("+") and len(item) > 1
        core = item[1 if upward else 0 : len(item) - 1 if downward else len(item)]
        try:
            key = str(AssetKey.parse(core))
        except ValidationError as exc:
            raise ValidationError(
                f"{where}: must be '*', 'tag:k=v', 'group:g' or '[+]namespace/name[+]' "
                f"({exc.message})"
            ) from None
        at = index.get(key)
        if at is None:
            unknown.append(key)
            continue
        chosen[at] = 1
        if upward:
            up_roots.append(at)
        if downward:
            down_roots.append(at)
    if unknown:
        missing = sorted(set(unknown))
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise ValidationError(
            f"selection: unknown asset keys (not in the manifest): {', '.join(missing[:10])}{more}"
        )
    if up_roots:
        _reach(up_roots, ups, chosen)
    if down_roots:
        downs: list[list[int]] = [[] for _ in range(n)]
        for j, js_ups in enumerate(ups):
            for u in js_ups:
                downs[u].append(j)
        _reach(down_roots, downs, chosen)
    out = [j for j in range(n) if chosen[j]]
    if not out:
        raise ValidationError(f"selection: matches no asset (got {preview(list(selection))})")
    return out


def select_assets(manifest: DefinitionsManifest, selection: Sequence[str]) -> list[str]:
    """The keys of the assets ``selection`` names (the items :func:`plan` takes), in
    manifest order; ValidationError for an unknown key or a malformed item."""
    assets = manifest.assets
    index = {a.key: i for i, a in enumerate(assets)}
    ups = [[index[d] for d in a.deps if d in index] for a in assets]
    return [assets[i].key for i in _resolve_selection(manifest, selection, index, ups)]


def _reach(roots: list[int], adjacency: list[list[int]], chosen: bytearray) -> None:
    """Mark everything reachable from ``roots`` along ``adjacency`` in ``chosen``."""
    seen = bytearray(len(adjacency))
    todo = list(roots)
    for r in roots:
        seen[r] = 1
    while todo:
        j = todo.pop()
        chosen[j] = 1
        for k in adjacency[j]:
            if not seen[k]:
                seen[k] = 1
                todo.append(k)


# --- partitions --------------------------------------------------------------------------------


def _dimensions(spec: Any) -> tuple[str, ...]:
    if isinstance(spec, MultiPartitionsSpec):
        return tuple(sorted(d.dimension for d in spec.dimensions))
    return (str(spec.dimension),)


def _check_partitions(
    partitions: Sequence[str] | None, partitioned: list[AssetSpec]
) -> tuple[str, ...]:
    """The requested partition keys, validated against the selected partitioned assets."""
    if not partitioned:
        if partitions:
            raise ValidationError(
                "partitions: given, but no selected asset is partitioned (omit them)"
            )
        return ()
    if not partitions:
        names = ", ".join(a.key for a in partitioned[:3])
        more = f" and {len(partitioned) - 3} more" if len(partitioned) > 3 else ""
        raise ValidationError(
            f"partitions: required because the selection includes partitioned assets "
            f"({names}{more})"
        )
    if isinstance(partitions, str):
        raise ValidationError("partitions: must be a list of partition keys (got a str)")
    seen: set[str] = set()
    dims: dict[tuple[str, ...], str] = {}  # the dimensions of each key, by dimensions
    for i, p in enumerate(partitions):
        where = f"partitions[{i}]"
        try:
            parsed = PartitionKey.parse(p)
        except ValidationError as exc:
            raise ValidationError(f"{where}: {exc.message}") from None
        if p == "":
            raise ValidationError(f"{where}: must not be empty (that is the unpartitioned key)")
        if p in seen:
            raise ValidationError(f"{where}: {preview(p)} is repeated")
        seen.add(p)
        dims.setdefault(tuple(sorted(parsed.values)), p)
    for a in partitioned:
        want = _dimensions(a.partitions)
        for got, example in dims.items():
            if got != want:
                raise ValidationError(
                    f"partitions: {preview(example)} has dimensions {list(got)} but {a.key} is "
                    f"partitioned by {list(want)}"
                )
    return tuple(partitions)


# --- the plan ----------------------------------------------------------------------------------


def plan(
    manifest: DefinitionsManifest,
    selection: Sequence[str],
    partitions: Sequence[str] | None = None,
    *,
    max_tasks: int = DEFAULT_MAX_TASKS,
) -> Plan:
    """Plan the ``selection`` of ``manifest`` for ``partitions`` (canonical partition keys,
    already expanded; required iff a selected asset is partitioned).

    ``selection`` items are OR-ed: ``ns/name``, ``+ns/name`` (with all its upstream assets),
    ``ns/name+`` (with all its downstream assets), ``+ns/name+``, ``tag:k=v``, ``group:g``
    and ``*``. Raises ValidationError for an unknown key, a malformed item or partition key,
    missing partitions, a cycle (named in order) or more than ``max_tasks`` tasks.
    """
    if isinstance(max_tasks, bool) or not isinstance(max_tasks, int) or max_tasks < 1:
        raise ValidationError(f"max_tasks: must be a positive integer (got {max_tasks!r})")
    assets = manifest.assets
    index = {a.key: i for i, a in enumerate(assets)}
    ups: list[list[int]] = []
    for a in assets:
        ups.append([index[d] for d in a.deps if d in index])
    selected = _resolve_selection(manifest, selection, index, ups)

    partitioned = [assets[i] for i in selected if assets[i].partitions is not None]
    parts = _check_partitions(partitions, partitioned)
    count = len(selected) + len(partitioned) * (len(parts) - 1)
    if count > max_tasks:
        raise ValidationError(
            f"max_tasks: the plan would have {count} tasks, more than the cap of {max_tasks}"
        )

    # the tasks, numbered in task key order: ids sort like keys from here on
    entries: list[tuple[str, int, int]] = []
    for i in selected:
        a = assets[i]
        if a.partitions is None:
            entries.append((f"{a.key}:{OPERATION}", i, 0))
        else:
            prefix = a.key
            entries.extend((f"{prefix}[{p}]:{OPERATION}", i, k) for k, p in enumerate(parts))
    entries.sort()
    keys = [e[0] for e in entries]
    task_asset = [e[1] for e in entries]
    task_part = [e[2] for e in entries]
    asset_tasks: dict[int, list[int]] = {}
    for t, (_, i, k) in enumerate(entries):
        slots = asset_tasks.get(i)
        if slots is None:
            slots = asset_tasks[i] = [0] * (1 if assets[i].partitions is None else len(parts))
        slots[k] = t

    # which selected assets share a partitions definition
    spec_ids: dict[Any, int] = {}
    spec_of: dict[int, int] = {}
    for a_spec in partitioned:
        spec_of[index[a_spec.key]] = spec_ids.setdefault(a_spec.partitions, len(spec_ids))

    n_tasks = len(entries)
    up: list[list[int]] = [[] for _ in range(n_tasks)]
    down: list[list[int]] = [[] for _ in range(n_tasks)]
    external: set[str] = set()
    for i in selected:
        a = assets[i]
        mine = asset_tasks[i]
        if len(a.deps) != len(ups[i]):
            external.update(d for d in a.deps if d not in index)
        for u in ups[i]:
            theirs = asset_tasks.get(u)
            if theirs is None:
                continue  # not selected: its last materialization is an input, not a task
            if len(theirs) == 1 and assets[u].partitions is None:
                ut = theirs[0]
                for t in mine:
                    up[t].append(ut)
                    down[ut].append(t)
            elif a.partitions is not None and spec_of[i] == spec_of[u]:
                for t, ut in zip(mine, theirs, strict=True):
                    up[t].append(ut)
                    down[ut].append(t)
            else:  # fan-in: every planned partition of the upstream asset
                for t in mine:
                    up[t].extend(theirs)
                for ut in theirs:
                    down[ut].extend(mine)

    # Kahn's algorithm; the heap holds ids, which order like the task keys
    indegree = [len(u) for u in up]
    heap = [t for t in range(n_tasks) if not indegree[t]]
    heapq.heapify(heap)
    order: list[int] = []
    stage = [0] * n_tasks
    pop, push, emit = heapq.heappop, heapq.heappush, order.append
    while heap:
        t = pop(heap)
        emit(t)
        next_stage = stage[t] + 1
        for d in down[t]:
            if stage[d] < next_stage:  # noqa: PLR1730 (max() is slower in this loop)
                stage[d] = next_stage
            indegree[d] -= 1
            if not indegree[d]:
                push(heap, d)
    if len(order) < n_tasks:
        raise ValidationError(_cycle_message(assets, ups, task_asset, indegree))

    resources: dict[int, tuple[str, ...]] = {
        i: tuple(sorted(assets[i].resources)) for i in selected
    }
    up_keys: list[tuple[str, ...]] = []
    fingerprint_rows: list[dict[str, object]] = []
    for t in range(n_tasks):
        upstream_ids = up[t]
        upstream_ids.sort()
        names = tuple([keys[x] for x in upstream_ids])
        up_keys.append(names)
        fingerprint_rows.append(
            {"key": keys[t], "upstream": names, "resources": resources[task_asset[t]]}
        )
    tasks = tuple(
        PlannedTask(
            keys[t],
            assets[task_asset[t]].key,
            parts[task_part[t]] if assets[task_asset[t]].partitions is not None else "",
            stage[t],
            up_keys[t],
            tuple([keys[x] for x in sorted(down[t])]),
            resources[task_asset[t]],
        )
        for t in order
    )
    return Plan(
        tasks=tasks,
        fingerprint=_digest(fingerprint_rows),
        external_deps=tuple(sorted(external)),
    )


def _cycle_message(
    assets: Sequence[AssetSpec],
    ups: list[list[int]],
    task_asset: list[int],
    indegree: list[int],
) -> str:
    """Name one cycle among the assets of the tasks Kahn's algorithm could not order.

    Each such asset has an upstream asset among them (a task left over waits on another
    left-over task), so walking to the smallest such upstream must come back to an asset
    already visited: that loop is a cycle. It is written in data-flow order (each asset
    depends on the one before it), starting at its smallest key.
    """
    stuck = {task_asset[t] for t, deg in enumerate(indegree) if deg}
    at = min(stuck)
    path: list[int] = []
    position: dict[int, int] = {}
    while at not in position:
        position[at] = len(path)
        path.append(at)
        at = min(u for u in ups[at] if u in stuck)
    loop = path[position[at] :]
    loop.reverse()  # walked upstream; data flows the other way
    first = loop.index(min(loop))
    loop = loop[first:] + loop[:first]
    names = " -> ".join(assets[i].key for i in [*loop, loop[0]])
    return f"deps: cycle {names} (each asset depends on the one before it)"


# The fingerprint rows hold only exact str, tuple and str-keyed dict values (keys, validated
# names and partition keys), for which the standard library's C encoder with these settings
# writes canonical JSON (the fast path of :func:`arco.core.canonical_json.canonical_dumps`,
# without its walk over every value to check the types, which would double the planning
# time of 10,000 assets); anything it cannot encode takes the checking path.
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=False
)


def _digest(rows: list[dict[str, object]]) -> str:
    """sha256 of the canonical JSON of the fingerprint rows (sorted by task key)."""
    try:
        data = _ENCODER.encode(rows).encode("utf-8")
    except (UnicodeEncodeError, ValueError):
        data = canonical_json.canonical_dumps(rows)
    return hashlib.sha256(data).hexdigest()


def _fingerprint(tasks: Sequence[PlannedTask]) -> str:
    """The fingerprint of ``tasks`` (in any order), as :func:`plan` computes it."""
    rows: list[dict[str, object]] = [
        {"key": t.key, "upstream": t.upstream, "resources": t.resources}
        for t in sorted(tasks, key=lambda t: t.key)
    ]
    return _digest(rows)


# --- reading a stored plan ---------------------------------------------------------------------


def _str_list(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(f"{where}: must be a list of strings")
    return tuple(value)


def _task_from_json(raw: object, where: str) -> PlannedTask:
    fields = ("key", "asset_key", "partition", "stage", "upstream", "downstream", "resources")
    if not isinstance(raw, dict) or set(raw) != set(fields):
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise ValidationError(
            f"{where}: must be an object with fields {sorted(fields)} (got {got})"
        )
    for name in ("key", "asset_key", "partition"):
        if not isinstance(raw[name], str):
            raise ValidationError(f"{where}.{name}: must be a string")
    stage = raw["stage"]
    if isinstance(stage, bool) or not isinstance(stage, int) or stage < 0:
        raise ValidationError(f"{where}.stage: must be a non-negative integer (got {stage!r})")
    try:
        asset = str(AssetKey.parse(raw["asset_key"]))
        PartitionKey.parse(raw["partition"])
    except ValidationError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None
    if asset != raw["asset_key"]:
        raise ValidationError(f"{where}.asset_key: not in normal form (got {preview(asset)})")
    expected = task_key(asset, raw["partition"])
    if raw["key"] != expected:
        raise ValidationError(f"{where}.key: must be {preview(expected, 200)}")
    upstream = _str_list(raw["upstream"], f"{where}.upstream")
    downstream = _str_list(raw["downstream"], f"{where}.downstream")
    resources = _str_list(raw["resources"], f"{where}.resources")
    for name, values in (("upstream", upstream), ("downstream", downstream)):
        if list(values) != sorted(set(values)):
            raise ValidationError(f"{where}.{name}: must be sorted and unique")
    if list(resources) != sorted(resources):
        raise ValidationError(f"{where}.resources: must be sorted")
    return PlannedTask(raw["key"], asset, raw["partition"], stage, upstream, downstream, resources)


def _check_structure(tasks: Sequence[PlannedTask], where: str) -> None:
    """Unique keys, topological order with key tie-breaks, mirrored edges, stages."""
    position: dict[str, int] = {}
    for i, t in enumerate(tasks):
        if t.key in position:
            raise ValidationError(f"{where}.tasks[{i}].key: {preview(t.key)} is repeated")
        position[t.key] = i
    downstream_of: dict[str, list[str]] = {t.key: [] for t in tasks}
    for i, t in enumerate(tasks):
        stage = 0
        for u in t.upstream:
            at = position.get(u)
            if at is None or at >= i:
                raise ValidationError(
                    f"{where}.tasks[{i}].upstream: {preview(u)} is not a task before it"
                )
            stage = max(stage, tasks[at].stage + 1)
            downstream_of[u].append(t.key)
        if t.stage != stage:
            raise ValidationError(
                f"{where}.tasks[{i}].stage: must be {stage} (the longest path from a root)"
            )
    for i, t in enumerate(tasks):
        if list(t.downstream) != sorted(downstream_of[t.key]):
            raise ValidationError(
                f"{where}.tasks[{i}].downstream: must mirror the upstream of the other tasks"
            )
    # the order is the one the planner produces: Kahn's algorithm with key tie-breaks
    indegree = {t.key: len(t.upstream) for t in tasks}
    heap = [k for k, d in indegree.items() if not d]
    heapq.heapify(heap)
    for i, t in enumerate(tasks):
        if not heap or heapq.heappop(heap) != t.key:
            raise ValidationError(
                f"{where}.tasks[{i}]: not in topological order with ties broken by task key"
            )
        for d in t.downstream:
            indegree[d] -= 1
            if not indegree[d]:
                heapq.heappush(heap, d)
