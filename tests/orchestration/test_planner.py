"""The planner: selection syntax, partition edges, order, stages, cycles, cap, fingerprint,
the JSON round trip, and Hypothesis properties over random DAGs."""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import random
import subprocess
import sys
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arco.core import canonical_json
from arco.core.partitions import PartitionKey
from arco.errors import ValidationError
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.planner import Plan, PlannedTask, plan, task_key

DAILY = {"kind": "daily", "start": "2026-01-01"}
MONTHLY = {"kind": "monthly", "start": "2026-01-01"}
REGIONS = {"kind": "static", "dimension": "region", "values": ["eu", "us"]}


def spec(key: str, *deps: str, **extra: object) -> AssetSpec:
    return AssetSpec.model_validate({"key": key, "deps": deps, "entry_point": "m:f", **extra})


def manifest(*assets: AssetSpec) -> DefinitionsManifest:
    return DefinitionsManifest(assets=assets)


def day(d: str) -> str:
    return PartitionKey({"date": dt.date.fromisoformat(d)}).canonical()


def region(r: str) -> str:
    return PartitionKey({"region": r}).canonical()


def diamond() -> DefinitionsManifest:
    """raw/a -> (mid/b, mid/c) -> out/d, plus an unrelated island and an external input."""
    return manifest(
        spec("raw/a", "ext/source", tags={"tier": "bronze"}, group="ingest"),
        spec("mid/b", "raw/a", tags={"tier": "silver"}, resources=("warehouse", "db")),
        spec("mid/c", "raw/a", tags={"tier": "silver"}),
        spec("out/d", "mid/b", "mid/c", group="marts"),
        spec("zz/island", group="marts"),
    )


def assets_of(p: Plan) -> list[str]:
    return [t.asset_key for t in p.tasks]


# --- selection -----------------------------------------------------------------------------------


def test_exact_key_selects_only_that_asset() -> None:
    p = plan(diamond(), ["mid/b"])
    assert p.keys == ("mid/b:materialize",)
    only = p.tasks[0]
    assert only == PlannedTask("mid/b:materialize", "mid/b", "", 0, (), (), ("db", "warehouse"))
    assert p.external_deps == ()  # raw/a is in the manifest: an unselected asset, not external


def test_upstream_downstream_and_both() -> None:
    m = diamond()
    assert sorted(assets_of(plan(m, ["+out/d"]))) == ["mid/b", "mid/c", "out/d", "raw/a"]
    assert sorted(assets_of(plan(m, ["mid/b+"]))) == ["mid/b", "out/d"]
    assert sorted(assets_of(plan(m, ["+mid/b+"]))) == ["mid/b", "out/d", "raw/a"]
    assert sorted(assets_of(plan(m, ["raw/a+"]))) == ["mid/b", "mid/c", "out/d", "raw/a"]
    assert assets_of(plan(m, ["+raw/a"])) == ["raw/a"]


def test_tags_groups_star_and_or() -> None:
    m = diamond()
    assert sorted(assets_of(plan(m, ["tag:tier=silver"]))) == ["mid/b", "mid/c"]
    assert sorted(assets_of(plan(m, ["group:marts"]))) == ["out/d", "zz/island"]
    assert len(plan(m, ["*"])) == 5
    assert sorted(assets_of(plan(m, ["group:ingest", "tag:tier=silver", "mid/b"]))) == [
        "mid/b",
        "mid/c",
        "raw/a",
    ]


def test_external_deps_are_recorded_not_planned() -> None:
    p = plan(diamond(), ["*"])
    assert p.external_deps == ("ext/source",)
    assert "ext/source" not in assets_of(p)
    assert p.tasks[0].key == "raw/a:materialize" and p.tasks[0].upstream == ()


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ValidationError, match=r"unknown asset keys .*: no/such, other/one$"):
        plan(diamond(), ["mid/b", "+no/such", "other/one+"])
    with pytest.raises(ValidationError, match="ext/source"):
        plan(diamond(), ["ext/source"])  # a dependency, but not an asset of the manifest
    many = [f"no/k{i:02d}" for i in range(25)]
    with pytest.raises(ValidationError, match=r": no/k00, .*, no/k09 and 15 more$"):
        plan(diamond(), many)


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ([], "selection: must name at least one asset"),
        ("mid/b", "selection: must be a list of strings"),
        (["tag:tier"], r"selection\[0\]: must be 'tag:key=value'"),
        (["group:"], r"selection\[0\]: must be 'group:name'"),
        (["mid/b", "nope"], r"selection\[1\]: must be '\*', 'tag:k=v'"),
        (["++"], r"selection\[0\]"),
        (["tag:tier=gold"], "selection: matches no asset"),
    ],
)
def test_malformed_selections(selection: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message) as info:
        plan(diamond(), selection)  # type: ignore[arg-type]
    assert "\n" not in info.value.message


# --- partitions ----------------------------------------------------------------------------------


def test_same_spec_edges_per_partition() -> None:
    m = manifest(spec("a/up", partitions=DAILY), spec("a/down", "a/up", partitions=DAILY))
    d1, d2 = day("2026-01-01"), day("2026-01-02")
    p = plan(m, ["*"], [d2, d1])
    # Kahn's algorithm with key tie-breaks: once a/up[d1] is done, "a/down[d1]" < "a/up[d2]"
    assert p.keys == (
        f"a/up[{d1}]:materialize",
        f"a/down[{d1}]:materialize",
        f"a/up[{d2}]:materialize",
        f"a/down[{d2}]:materialize",
    )
    by = {t.key: t for t in p.tasks}
    assert by[task_key("a/down", d1)].upstream == (task_key("a/up", d1),)
    assert by[task_key("a/up", d2)].downstream == (task_key("a/down", d2),)
    assert {t.partition for t in p.tasks} == {d1, d2}
    assert [t.stage for t in p.tasks] == [0, 1, 0, 1]


def test_unpartitioned_upstream_and_downstream() -> None:
    m = manifest(
        spec("a/dim"),
        spec("a/fact", "a/dim", partitions=DAILY),
        spec("a/report", "a/fact"),
    )
    d1, d2 = day("2026-01-01"), day("2026-01-02")
    p = plan(m, ["*"], [d1, d2])
    by = {t.key: t for t in p.tasks}
    assert by[task_key("a/fact", d1)].upstream == ("a/dim:materialize",)
    assert by[task_key("a/fact", d2)].upstream == ("a/dim:materialize",)
    assert by["a/dim:materialize"].partition == ""
    assert by["a/report:materialize"].upstream == (task_key("a/fact", d1), task_key("a/fact", d2))
    assert by["a/report:materialize"].stage == 2
    assert p.keys[0] == "a/dim:materialize" and p.keys[-1] == "a/report:materialize"


def test_fan_in_between_different_partition_definitions() -> None:
    m = manifest(
        spec("a/daily", partitions=DAILY), spec("a/monthly", "a/daily", partitions=MONTHLY)
    )
    d1, d2 = day("2026-01-01"), day("2026-02-01")
    p = plan(m, ["*"], [d1, d2])
    by = {t.key: t for t in p.tasks}
    both = (task_key("a/daily", d1), task_key("a/daily", d2))
    assert by[task_key("a/monthly", d1)].upstream == both
    assert by[task_key("a/monthly", d2)].upstream == both
    assert by[task_key("a/daily", d1)].downstream == (
        task_key("a/monthly", d1),
        task_key("a/monthly", d2),
    )


def test_partitions_rules() -> None:
    m = manifest(spec("a/plain"), spec("a/daily", "a/plain", partitions=DAILY))
    with pytest.raises(ValidationError, match=r"partitions: required .*\(a/daily\)"):
        plan(m, ["*"])
    with pytest.raises(ValidationError, match="partitions: required"):
        plan(m, ["*"], [])
    with pytest.raises(ValidationError, match="no selected asset is partitioned"):
        plan(m, ["a/plain"], [day("2026-01-01")])
    assert plan(m, ["a/plain"]).keys == ("a/plain:materialize",)
    with pytest.raises(ValidationError, match=r"partitions\[1\]: partition_key"):
        plan(m, ["*"], [day("2026-01-01"), "date=2026-01-02"])
    with pytest.raises(ValidationError, match=r"partitions\[0\]: must not be empty"):
        plan(m, ["*"], [""])
    with pytest.raises(ValidationError, match=r"partitions\[1\]: .* is repeated"):
        plan(m, ["*"], [day("2026-01-01")] * 2)
    with pytest.raises(ValidationError, match=r"has dimensions \['region'\] but a/daily"):
        plan(m, ["*"], [region("eu")])


def test_multi_dimensional_partitions() -> None:
    multi = {"kind": "multi", "dimensions": [DAILY, REGIONS]}
    m = manifest(spec("a/up", partitions=multi), spec("a/down", "a/up", partitions=multi))
    key = PartitionKey({"date": dt.date(2026, 1, 1), "region": "eu"}).canonical()
    p = plan(m, ["*"], [key])
    assert p.keys == (task_key("a/up", key), task_key("a/down", key))
    assert p.tasks[1].upstream == (task_key("a/up", key),)


# --- order, stages, cycles, cap ------------------------------------------------------------------


def test_order_is_topological_with_key_tie_breaks_and_stages() -> None:
    p = plan(diamond(), ["*"])
    assert p.keys == (
        "raw/a:materialize",
        "mid/b:materialize",
        "mid/c:materialize",
        "out/d:materialize",
        "zz/island:materialize",
    )
    assert [t.stage for t in p.tasks] == [0, 1, 1, 2, 0]
    by = {t.key: t for t in p.tasks}
    assert by["raw/a:materialize"].downstream == ("mid/b:materialize", "mid/c:materialize")
    assert by["out/d:materialize"].upstream == ("mid/b:materialize", "mid/c:materialize")


def test_tie_break_is_by_task_key_string_not_asset_key() -> None:
    # "a/x-y" < "a/x" as task keys ("-" < ":"), though "a/x" < "a/x-y" as asset keys
    p = plan(manifest(spec("a/x"), spec("a/x-y")), ["*"])
    assert p.keys == ("a/x-y:materialize", "a/x:materialize")


def test_stage_is_the_longest_path() -> None:
    m = manifest(spec("a/a"), spec("a/b", "a/a"), spec("a/c", "a/b"), spec("a/d", "a/a", "a/c"))
    assert {t.asset_key: t.stage for t in plan(m, ["*"]).tasks} == {
        "a/a": 0,
        "a/b": 1,
        "a/c": 2,
        "a/d": 3,
    }


def test_cycles_are_named_in_order() -> None:
    m = manifest(spec("a/x", "a/y"), spec("a/y", "a/x"), spec("a/z", "a/x"))
    with pytest.raises(ValidationError) as info:
        plan(m, ["*"])
    assert info.value.message == (
        "deps: cycle a/x -> a/y -> a/x (each asset depends on the one before it)"
    )
    longer = manifest(spec("b/p", "b/r"), spec("b/q", "b/p"), spec("b/r", "b/q"), spec("b/s"))
    with pytest.raises(ValidationError, match=r"deps: cycle b/p -> b/q -> b/r -> b/p "):
        plan(longer, ["*"])
    # the cycle outside the selection does not matter
    assert plan(m, ["a/z"]).keys == ("a/z:materialize",)


def test_cycle_through_partitioned_assets() -> None:
    m = manifest(spec("a/x", "a/y", partitions=DAILY), spec("a/y", "a/x", partitions=MONTHLY))
    with pytest.raises(ValidationError, match=r"cycle a/x -> a/y -> a/x"):
        plan(m, ["*"], [day("2026-01-01")])


def test_cap_names_count_and_cap() -> None:
    m = manifest(spec("a/plain"), spec("a/daily", "a/plain", partitions=DAILY))
    parts = [day(f"2026-01-{d:02d}") for d in range(1, 11)]
    with pytest.raises(ValidationError, match=r"^max_tasks: .* 11 tasks, more than the cap of 10$"):
        plan(m, ["*"], parts, max_tasks=10)
    assert len(plan(m, ["*"], parts, max_tasks=11)) == 11
    with pytest.raises(ValidationError, match="max_tasks: must be a positive integer"):
        plan(m, ["*"], parts, max_tasks=0)


# --- fingerprint and JSON ------------------------------------------------------------------------


def _fingerprint_in_process() -> str:
    return plan(diamond(), ["*"]).fingerprint


def test_fingerprint_is_the_same_in_another_process() -> None:
    code = (
        "import sys; sys.path.insert(0, 'tests/orchestration');"
        "from test_planner import _fingerprint_in_process as f; print(f())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == _fingerprint_in_process()
    assert len(_fingerprint_in_process()) == 64


def test_fingerprint_is_canonical_json_of_keys_upstream_and_resources() -> None:
    p = plan(diamond(), ["*"])
    rows = sorted(
        (
            {"key": t.key, "upstream": list(t.upstream), "resources": list(t.resources)}
            for t in p.tasks
        ),
        key=lambda r: str(r["key"]),
    )
    assert p.fingerprint == hashlib.sha256(canonical_json.canonical_dumps(rows)).hexdigest()


def test_fingerprint_follows_structure_only() -> None:
    base = plan(diamond(), ["*"]).fingerprint
    # a description, a retry policy or a tag does not change the structure
    described = manifest(*(a.model_copy(update={"description": "x"}) for a in diamond().assets))
    assert plan(described, ["*"]).fingerprint == base
    # an edge does
    assets = list(diamond().assets)
    i = next(j for j, a in enumerate(assets) if a.key == "mid/c")
    assets[i] = spec("mid/c", "raw/a", "mid/b")
    assert plan(manifest(*assets), ["*"]).fingerprint != base
    # so do resources
    assets = list(diamond().assets)
    assets[i] = spec("mid/c", "raw/a", resources=("gpu",))
    assert plan(manifest(*assets), ["*"]).fingerprint != base


def test_json_round_trip_is_canonical() -> None:
    m = manifest(
        spec("a/dim", "ext/x"),
        spec("a/fact", "a/dim", partitions=DAILY, resources=("db",)),
        spec("a/report", "a/fact"),
    )
    p = plan(m, ["*"], [day("2026-01-01"), day("2026-01-02")])
    data = p.to_json()
    assert canonical_json.canonical_dumps(canonical_json.loads(data)) == data
    again = Plan.from_json(data)
    assert again == p and again.to_json() == data
    assert Plan.from_json(data.decode()) == p


def _tamper(p: Plan, change: object) -> bytes:
    raw = json.loads(p.to_json())
    change(raw)  # type: ignore[operator]
    return canonical_json.canonical_dumps(raw)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(format=2), r"plan\.format: must be 1"),
        (lambda r: r.update(fingerprint="0" * 64), r"plan\.fingerprint: does not match"),
        (lambda r: r["tasks"].reverse(), r"plan\.tasks\[1\]\.upstream: .* is not a task before"),
        (lambda r: r["tasks"][1].update(stage=5), r"plan\.tasks\[1\]\.stage: must be 1"),
        (
            lambda r: r["tasks"][0].update(downstream=[]),
            r"plan\.tasks\[0\]\.downstream: must mirror",
        ),
        (lambda r: r["tasks"][0].update(key="x/y:materialize"), r"plan\.tasks\[0\]\.key: must be"),
        (lambda r: r["tasks"][0].pop("stage"), r"plan\.tasks\[0\]: must be an object with fields"),
        (lambda r: r.update(extra=1), "plan: fields must be"),
    ],
)
def test_from_json_refuses_what_the_planner_would_not_produce(change: object, message: str) -> None:
    p = plan(diamond(), ["*"])
    with pytest.raises(ValidationError, match=message):
        Plan.from_json(_tamper(p, change))


def test_from_json_refuses_a_wrong_tie_break() -> None:
    p = plan(diamond(), ["*"])
    raw = json.loads(p.to_json())
    raw["tasks"][1], raw["tasks"][2] = raw["tasks"][2], raw["tasks"][1]  # mid/b <-> mid/c
    with pytest.raises(ValidationError, match=r"tasks\[1\]: not in topological order"):
        Plan.from_json(canonical_json.canonical_dumps(raw))


# --- properties ----------------------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, int]]]:
    """Distinct keys and edges (lower index -> higher index only: acyclic)."""
    n = draw(st.integers(1, 25))
    names = draw(
        st.lists(
            st.from_regex(r"[a-c]/[a-z][a-z0-9_-]{0,4}", fullmatch=True),
            min_size=n,
            max_size=n,
            unique=True,
        )
    )
    edges = draw(
        st.lists(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] < e[1]),
            max_size=3 * n,
            unique=True,
        )
        if n > 1
        else st.just([])
    )
    return names, edges


def build(names: list[str], edges: list[tuple[int, int]], order: list[int]) -> DefinitionsManifest:
    deps: dict[int, list[str]] = {i: [] for i in range(len(names))}
    for lo, hi in edges:
        deps[hi].append(names[lo])  # hi depends on lo
    return manifest(*(spec(names[i], *deps[i]) for i in order))


@settings(max_examples=150, deadline=None)
@given(dags(), st.randoms(use_true_random=False))
def test_random_dags_order_respects_edges_and_input_order(
    dag: tuple[list[str], list[tuple[int, int]]], rnd: random.Random
) -> None:
    names, edges = dag
    order = list(range(len(names)))
    p = plan(build(names, edges, order), ["*"])
    position = {t.key: i for i, t in enumerate(p.tasks)}
    assert len(position) == len(names)
    for i, t in enumerate(p.tasks):
        assert all(position[u] < i for u in t.upstream)
        assert t.stage == max((p.tasks[position[u]].stage + 1 for u in t.upstream), default=0)
    for lo, hi in edges:
        assert position[task_key(names[lo])] < position[task_key(names[hi])]
    shuffled = order[:]
    rnd.shuffle(shuffled)
    again = plan(build(names, edges, shuffled), ["*"])
    assert again == p
    assert Plan.from_json(p.to_json()) == p


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_random_partitioned_dags_follow_the_edge_rules(
    dag: tuple[list[str], list[tuple[int, int]]], data: st.DataObject
) -> None:
    names, edges = dag
    kinds = data.draw(
        st.lists(
            st.sampled_from([None, "daily", "monthly"]), min_size=len(names), max_size=len(names)
        )
    )
    definitions = {None: None, "daily": DAILY, "monthly": MONTHLY}
    deps: dict[int, list[str]] = {i: [] for i in range(len(names))}
    for lo, hi in edges:
        deps[hi].append(names[lo])
    m = manifest(
        *(
            spec(names[i], *deps[i], **({"partitions": definitions[kinds[i]]} if kinds[i] else {}))
            for i in range(len(names))
        )
    )
    parts = [day("2026-01-01"), day("2026-02-01")]
    if not any(kinds):
        parts = []
    p = plan(m, ["*"], parts or None)
    kind_of = {names[i]: kinds[i] for i in range(len(names))}
    position = {t.key: i for i, t in enumerate(p.tasks)}
    by = {t.key: t for t in p.tasks}
    for i, t in enumerate(p.tasks):
        assert all(position[u] < i for u in t.upstream)
        for d in by[t.key].downstream:
            assert t.key in by[d].upstream
    for lo, hi in edges:
        up, down = names[lo], names[hi]
        for t in (x for x in p.tasks if x.asset_key == down):
            got = {by[u].partition for u in t.upstream if by[u].asset_key == up}
            if kind_of[up] is None:
                assert got == {""}
            elif kind_of[up] == kind_of[down]:
                assert got == {t.partition}
            else:
                assert got == set(parts)
    assert len(p) == sum(1 if k is None else len(parts) for k in kinds)
    assert Plan.from_json(p.to_json()) == p


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_a_back_edge_is_refused_naming_a_real_cycle(
    dag: tuple[list[str], list[tuple[int, int]]], data: st.DataObject
) -> None:
    names, edges = dag
    if len(names) < 2:
        return
    lo = data.draw(st.integers(0, len(names) - 2))
    hi = data.draw(st.integers(lo + 1, len(names) - 1))
    edges = sorted({*edges, (lo, hi)})
    m = build(names, edges, list(range(len(names))))
    # the back edge: lo now also depends on hi
    assets = [a if a.key != names[lo] else spec(a.key, *a.deps, names[hi]) for a in m.assets]
    with pytest.raises(ValidationError) as info:
        plan(manifest(*assets), ["*"])
    message = info.value.message
    assert message.startswith("deps: cycle ") and message.count("\n") == 0
    cycle = message.removeprefix("deps: cycle ").split(" (")[0].split(" -> ")
    assert cycle[0] == cycle[-1] and len(set(cycle[:-1])) == len(cycle) - 1 >= 2
    deps = {a.key: set(a.deps) for a in assets}
    for before, after in itertools.pairwise(cycle):
        assert before in deps[after]  # each depends on the one before it


# --- scale ---------------------------------------------------------------------------------------


def layered(layers: int, width: int) -> DefinitionsManifest:
    rnd = random.Random(7)
    return manifest(
        *(
            spec(
                f"l{layer:03d}/a{w:03d}",
                *(
                    f"l{layer - 1:03d}/a{x:03d}"
                    for x in (rnd.sample(range(width), 3) if layer else [])
                ),
            )
            for layer in range(layers)
            for w in range(width)
        )
    )


def test_ten_thousand_assets_plan_fast() -> None:
    m = layered(100, 100)
    best = min(_timed(m) for _ in range(3))
    p = plan(m, ["*"])
    assert len(p) == 10_000 and p.tasks[-1].stage == 99
    assert best < 1.0, f"planning 10,000 assets took {best:.3f} s"


def _timed(m: DefinitionsManifest) -> float:
    t0 = time.perf_counter()
    plan(m, ["*"])
    return time.perf_counter() - t0
