"""Partition status: what each partition of each deployed asset is now (ADR 017).

Derived, never stored: from the deployment (assets, partitions, code versions, upstreams,
freshness checks), the ``executions`` materializations and the ``runs`` tasks. One
:class:`PartitionStatus` per asset partition (``""`` for an unpartitioned asset), whose
``status`` is, first rule that holds:

* ``failed`` — a task of that partition FAILED after its newest materialization (or when
  there is none); ``reason`` is the task's error;
* ``missing`` — never materialized;
* ``stale`` — materialized, but ``reason`` says why it is out of date, every cause that
  holds, ``; ``-joined: the deployed code version differs from the one that materialized it;
  an upstream partition it reads was materialized later (the planner's mapping: the same
  partition of an upstream with the same partitions, the one partition of an unpartitioned
  upstream, any partition of an upstream partitioned otherwise); its ``freshness`` check's
  ``max_lag_s`` has passed since it was materialized;
* ``materialized`` — otherwise.

Only successful materializations count (``status == "succeeded"``); the newest is the one
with the greatest ``completed_at``, then ``event_order``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from arco.core.clock import rfc3339_ms
from arco.errors import NotFoundError
from arco.executions.schema import MaterializationRow
from arco.executions.state import ExecutionsState
from arco.orchestration.deploy import current
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.partitions import partition_keys
from arco.orchestration.runs.schema import TaskRow
from arco.orchestration.runs.state import RunsState
from arco.storage.port import ObjectStore

__all__ = ["STATUSES", "PartitionStatus", "Status", "partition_statuses", "workspace_statuses"]

Status = Literal["missing", "materialized", "stale", "failed"]
STATUSES: tuple[Status, ...] = ("missing", "materialized", "stale", "failed")

_FAILED = "FAILED"


class PartitionStatus(BaseModel):
    """The status of one asset partition (see the module); times in ms since the epoch."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    asset_key: str
    #: ``""`` for an unpartitioned asset
    partition_key: str
    status: Status
    reason: str | None
    #: the newest successful materialization, if any
    materialization_id: str | None
    materialized_at: int | None
    code_version: str | None
    #: the run of the newest materialization, or of the failure when ``failed``
    run_id: str | None


def _newest(rows: Iterable[MaterializationRow]) -> dict[tuple[str, str], MaterializationRow]:
    best: dict[tuple[str, str], MaterializationRow] = {}
    for row in rows:
        if row.status != "succeeded":
            continue
        key = (row.asset_key, row.partition_key or "")
        old = best.get(key)
        if old is None or _order(row) > _order(old):
            best[key] = row
    return best


def _order(row: MaterializationRow) -> tuple[int, str]:
    return (row.completed_at or row.occurred_at, row.event_order)


def _last_failures(tasks: Iterable[TaskRow]) -> dict[tuple[str, str], TaskRow]:
    last: dict[tuple[str, str], TaskRow] = {}
    for task in tasks:
        if task.state != _FAILED:
            continue
        key = (task.asset_key, task.partition_key)
        old = last.get(key)
        if old is None or task.updated_at > old.updated_at:
            last[key] = task
    return last


def _upstream_partitions(
    spec: AssetSpec, upstream: AssetSpec, partition: str, known: Sequence[str]
) -> Sequence[str]:
    """The partitions of ``upstream`` that ``spec``'s ``partition`` reads (the planner's
    mapping); ``known``: the upstream partitions materialized so far."""
    if upstream.partitions is None:
        return ("",)
    if spec.partitions is not None and upstream.partitions == spec.partitions:
        return (partition,)
    return known


def _freshness_lag_s(spec: AssetSpec) -> int | None:
    lags = [
        int(str(c.params["max_lag_s"]))
        for c in spec.checks
        if c.kind == "freshness" and "max_lag_s" in c.params
    ]
    return min(lags) if lags else None


def partition_statuses(
    manifest: DefinitionsManifest,
    materializations: Iterable[MaterializationRow],
    tasks: Iterable[TaskRow],
    *,
    now_ms: int,
    assets: Sequence[str] | None = None,
) -> list[PartitionStatus]:
    """The status of every partition of the deployed assets (of ``assets`` only, if given:
    NotFoundError naming an unknown one), by asset key then partition key: the partitions
    its definition lists at ``now_ms`` (:func:`partition_keys`) and any other that was
    materialized."""
    specs = {a.key: a for a in manifest.assets}
    wanted = sorted(specs) if assets is None else list(dict.fromkeys(assets))
    for key in wanted:
        if key not in specs:
            raise NotFoundError(f"asset: {key!r} is not deployed")
    newest = _newest(materializations)
    failures = _last_failures(tasks)
    by_asset: dict[str, list[str]] = {}
    for asset, partition in newest:
        by_asset.setdefault(asset, []).append(partition)
    now = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
    out: list[PartitionStatus] = []
    for key in wanted:
        spec = specs[key]
        parts = partition_keys(spec.partitions, now) if spec.partitions is not None else [""]
        for partition in sorted(set(parts) | set(by_asset.get(key, ()))):
            out.append(_status(spec, partition, specs, newest, failures, by_asset, now_ms=now_ms))
    return out


def _status(
    spec: AssetSpec,
    partition: str,
    specs: Mapping[str, AssetSpec],
    newest: Mapping[tuple[str, str], MaterializationRow],
    failures: Mapping[tuple[str, str], TaskRow],
    by_asset: Mapping[str, list[str]],
    *,
    now_ms: int,
) -> PartitionStatus:
    mat = newest.get((spec.key, partition))
    failure = failures.get((spec.key, partition))

    def status(state: Status, reason: str | None, run_id: str | None) -> PartitionStatus:
        return PartitionStatus(
            asset_key=spec.key,
            partition_key=partition,
            status=state,
            reason=reason,
            materialization_id=None if mat is None else mat.materialization_id,
            materialized_at=None if mat is None else _order(mat)[0],
            code_version=None if mat is None else mat.code_version,
            run_id=run_id,
        )

    if failure is not None and (mat is None or failure.updated_at > _order(mat)[0]):
        return status("failed", failure.error or "failed", failure.run_id)
    if mat is None:
        return status("missing", None, None)
    at = _order(mat)[0]
    reasons: list[str] = []
    if spec.code_version is not None and mat.code_version != spec.code_version:
        reasons.append(
            f"code version changed ({mat.code_version or 'none'} -> {spec.code_version})"
        )
    for dep in spec.deps:
        upstream = specs.get(dep)
        if upstream is None:
            continue  # not an asset of this deployment (an external table)
        for up in _upstream_partitions(spec, upstream, partition, by_asset.get(dep, ())):
            newer = newest.get((dep, up))
            if newer is not None and _order(newer)[0] > at:
                where = f"[{up}]" if up else ""
                reasons.append(
                    f"upstream {dep}{where} materialized later ({rfc3339_ms(_order(newer)[0])})"
                )
                break
    lag = _freshness_lag_s(spec)
    if lag is not None and now_ms - at > lag * 1000:
        reasons.append(f"freshness: materialized {(now_ms - at) // 1000} s ago, more than {lag} s")
    if reasons:
        return status("stale", "; ".join(reasons), mat.run_id)
    return status("materialized", None, mat.run_id)


def workspace_statuses(
    store: ObjectStore,
    executions: ExecutionsState,
    runs: RunsState,
    *,
    now_ms: int,
    assets: Sequence[str] | None = None,
    status: Status | None = None,
) -> list[PartitionStatus]:
    """:func:`partition_statuses` of the current deployment of a workspace (``store``:
    scoped to it), from its executions and runs states; only those in ``status`` if given.
    Empty when nothing is deployed (NotFoundError if ``assets`` are named then)."""
    found = current(store)
    if found is None:
        if assets:
            raise NotFoundError(f"asset: {assets[0]!r} is not deployed (nothing is)")
        return []
    out = partition_statuses(
        found[1],
        executions.materializations.values(),
        runs.tasks.values(),
        now_ms=now_ms,
        assets=assets,
    )
    return out if status is None else [s for s in out if s.status == status]
