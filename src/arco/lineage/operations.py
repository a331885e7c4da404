"""Lineage requests: add and remove edges between assets."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from arco.core.assets import AssetKey
from arco.core.clock import ms_to_datetime
from arco.core.ids import new_entity_id
from arco.errors import NotFoundError, ValidationError, preview
from arco.lineage.schema import EdgeRow
from arco.lineage.state import LineageState
from arco.metadata.domain import ApplyContext, Changes, RequestModel, check_if_match

_EDGE_TYPE = re.compile(r"[a-z][a-z0-9_]{0,31}")
MAX_RUN_ID = 128


class Edge(BaseModel):
    """A lineage edge as the library, CLI and API return it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    edge_id: str
    source: str
    target: str
    edge_type: str
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    #: snapshot version of the lineage domain that last changed this edge
    version: int

    @classmethod
    def from_row(cls, row: EdgeRow) -> Edge:
        return cls(
            edge_id=row.edge_id,
            source=row.source,
            target=row.target,
            edge_type=row.edge_type,
            run_id=row.run_id,
            created_at=ms_to_datetime(row.created_at),
            updated_at=ms_to_datetime(row.updated_at),
            version=row.version,
        )


def _asset(field: str, value: str) -> str:
    try:
        return str(AssetKey.parse(value))
    except ValidationError as exc:
        raise ValidationError(f"{field}: {exc.message}") from None


def _edge_type(value: str) -> str:
    if not _EDGE_TYPE.fullmatch(value):
        raise ValidationError(
            f"edge_type: must be 1-32 characters of [a-z0-9_] starting with a letter "
            f"(got {preview(value)})"
        )
    return value


def _endpoints(source: str, target: str) -> tuple[str, str]:
    src, tgt = _asset("source", source), _asset("target", target)
    if AssetKey.parse(src) == AssetKey.parse(tgt) or src.casefold() == tgt.casefold():
        raise ValidationError("target: an edge cannot connect an asset to itself")
    return src, tgt


class AddEdge(RequestModel):
    """Record that ``source`` feeds ``target``; adding an existing edge updates its run."""

    op: Literal["add_edge"] = "add_edge"
    source: str
    target: str
    edge_type: str = "derives"
    run_id: str | None = None

    def validated(self) -> AddEdge:
        src, tgt = _endpoints(self.source, self.target)
        run_id = self.run_id
        if run_id is not None and not (0 < len(run_id) <= MAX_RUN_ID and run_id.isprintable()):
            raise ValidationError(f"run_id: must be 1-{MAX_RUN_ID} printable characters")
        return self.model_copy(
            update={"source": src, "target": tgt, "edge_type": _edge_type(self.edge_type)}
        )

    def apply(self, changes: Changes[LineageState], ctx: ApplyContext) -> Edge:
        existing = changes.state.edge(self.source, self.target, self.edge_type)
        if existing is None:
            check_if_match("lineage", self.if_match, changes.domain_version(ctx))
            row = EdgeRow(
                edge_id=new_entity_id(),
                source=self.source,
                target=self.target,
                edge_type=self.edge_type,
                run_id=self.run_id,
                created_at=ctx.now_ms,
                updated_at=ctx.now_ms,
                version=ctx.version,
            )
        else:
            check_if_match(f"edge {self.source} -> {self.target}", self.if_match, existing.version)
            if existing.run_id == self.run_id:
                return Edge.from_row(existing)  # nothing to change
            row = replace(existing, run_id=self.run_id, updated_at=ctx.now_ms, version=ctx.version)
        changes.upsert("lineage_edges", row.edge_id, row)
        return Edge.from_row(row)


class RemoveEdge(RequestModel):
    """Remove the edge ``source`` → ``target`` of a type."""

    op: Literal["remove_edge"] = "remove_edge"
    source: str
    target: str
    edge_type: str = "derives"

    def validated(self) -> RemoveEdge:
        src, tgt = _endpoints(self.source, self.target)
        return self.model_copy(
            update={"source": src, "target": tgt, "edge_type": _edge_type(self.edge_type)}
        )

    def apply(self, changes: Changes[LineageState], ctx: ApplyContext) -> Edge:
        existing = changes.state.edge(self.source, self.target, self.edge_type)
        if existing is None:
            raise NotFoundError(
                f"edge {self.source} -> {self.target} ({self.edge_type}) does not exist"
            )
        check_if_match(f"edge {self.source} -> {self.target}", self.if_match, existing.version)
        changes.remove("lineage_edges", existing.edge_id, replace(existing, version=ctx.version))
        return Edge.from_row(existing)


def encode_result(result: Edge) -> dict[str, Any]:
    return {"kind": "edge", "value": result.model_dump(mode="json")}


def decode_result(data: dict[str, Any]) -> Edge:
    return Edge.model_validate(data["value"])


def describe_result(result: Edge) -> str:
    return f"{result.source} -> {result.target}"
