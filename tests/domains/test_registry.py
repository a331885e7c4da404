"""The domain registry is the one list of domains every layer uses."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from arco.domains import DOMAINS, NAMES, QUERIED, TIER1, TIER2, VIEWS, Domain, View, domain
from arco.errors import ValidationError
from arco.executions import EXECUTIONS
from arco.maintenance import gc, verify
from arco.metadata import layout
from arco.orchestration.runs import RUNS
from arco.storage import open_store

ROOT = Path(__file__).resolve().parents[2]


def test_every_domain_once_tier1_first() -> None:
    assert NAMES == ("catalog", "lineage", "executions", "runs", "automation")
    assert len(set(NAMES)) == len(NAMES)
    assert list(TIER1) == ["catalog", "lineage"] and list(TIER2) == [
        "executions",
        "runs",
        "automation",
    ]
    assert [d.tier for d in DOMAINS] == sorted(d.tier for d in DOMAINS)
    assert EXECUTIONS.spec is TIER2["executions"]  # the compactor's domain is the registered one
    assert RUNS.spec is TIER2["runs"]
    assert "search" not in NAMES  # search postings are tables of the catalog domain
    assert not hasattr(layout, "DOMAINS") and not hasattr(layout, "TIER2_DOMAINS")


def test_views_name_real_tables_and_each_domain_is_queried() -> None:
    for (schema, view), (spec, table) in VIEWS.items():
        assert table in spec.specs, (schema, view)
    assert set(QUERIED) == set(NAMES)
    assert ("search", "postings") in VIEWS
    with pytest.raises(TypeError, match="no table"):
        Domain(TIER1["catalog"], (View("catalog", "nope", "no_such_table"),))


def test_lookup_names_the_field_and_the_choices() -> None:
    assert domain("lineage").tier == 1
    with pytest.raises(
        ValidationError,
        match=r"^domain: must be one of catalog, lineage, executions, runs, automation",
    ):
        domain("search")


def test_tier_decides_where_parquet_lives() -> None:
    assert layout.snapshots_prefix("catalog", tier=1) == "snapshots/catalog/"
    assert layout.snapshots_prefix("executions", tier=2) == "state/executions/"


def test_gc_and_verify_cover_every_registered_domain() -> None:
    store = open_store("memory://")
    gc_defaults = inspect.signature(gc.collect_garbage).parameters
    assert gc_defaults["domains"].default == tuple(TIER1)
    assert gc_defaults["tier2_domains"].default == tuple(TIER2)
    assert inspect.signature(verify.verify_scope).parameters["domains"].default == NAMES
    assert verify.verify_scope(store).ok


def test_the_api_contract_lists_the_registered_domains() -> None:
    spec = json.loads((ROOT / "openapi.json").read_text())
    params = spec["paths"]["/api/v1/manifests/{domain}"]["get"]["parameters"]
    (path_param,) = [p for p in params if p["in"] == "path"]
    assert tuple(path_param["schema"]["enum"]) == NAMES
