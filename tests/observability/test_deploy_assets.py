"""The alert rules and the dashboard in deploy/ use only metrics the code emits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from arco.observability.metrics import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
ASSETS = [ROOT / "deploy/prometheus/arco-alerts.yml", ROOT / "deploy/grafana/arco-dashboard.json"]
_NAME = re.compile(r"\b(arco_[a-z0-9_]+)")
_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def emitted() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: p.name)
def test_every_metric_in_the_asset_is_emitted(path: Path) -> None:
    text = path.read_text()
    if path.suffix == ".json":
        text = " ".join(t["expr"] for p in json.loads(text)["panels"] for t in p["targets"])
    used = set(_NAME.findall(text))
    assert used, f"{path.name} names no metric"
    known = emitted()
    missing = sorted(
        name
        for name in used
        if name not in known and not any(name.removesuffix(s) in known for s in _SUFFIXES)
    )
    assert not missing, f"{path.name} uses metrics the code does not emit: {missing}"


def test_the_check_catches_an_unknown_metric() -> None:
    assert "arco_no_such_metric_total" not in emitted()
