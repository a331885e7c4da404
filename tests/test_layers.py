"""The package layout of ADR 012 holds: imports flow down the layers, and no package cycle.

Every ``import arco.x`` / ``from arco.x import ...`` in ``src/arco`` is read with ``ast``
(imports under ``TYPE_CHECKING`` count too). A package may import packages of its own layer
or of a lower one, and the package graph has no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "arco"

#: lowest first; packages on one line form one layer
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors",),
    ("core", "search"),
    ("observability",),
    ("storage",),
    ("metadata",),
    ("tier1", "tier2"),
    ("catalog", "lineage", "executions", "orchestration.runs", "orchestration.automation.domain"),
    ("domains",),
    ("iceberg", "orchestration"),
    ("query", "maintenance"),
    ("client",),
    ("server",),
    ("cli", "bench"),
    ("__init__", "__main__"),
)
LAYER = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}
#: sub-packages layered on their own: the ``runs`` and ``automation`` tier-2 domains live in
#: ``orchestration`` (ADR 015, 017) but sit with the other domains, below the registry that
#: lists them
SUBPACKAGES = ("orchestration.runs", "orchestration.automation.domain")


def _layered(dotted: str) -> str:
    """The layered package of a dotted module path below ``arco``."""
    for sub in SUBPACKAGES:
        if dotted == sub or dotted.startswith(sub + "."):
            return sub
    return dotted.split(".", maxsplit=1)[0]


def package_of(path: Path) -> str:
    rel = path.relative_to(SRC)
    if len(rel.parts) == 1:
        return rel.stem
    return _layered(".".join(rel.parts[:-1]))


def imported_packages(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
            if node.module == "arco" or node.module.startswith("arco."):
                names = [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out.update(_layered(n.removeprefix("arco.")) for n in names if n.startswith("arco."))
    return out


def package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        pkg = package_of(path)
        graph.setdefault(pkg, set()).update(imported_packages(path) - {pkg})
    return graph


def test_every_package_has_a_layer() -> None:
    assert set(package_graph()) <= set(LAYER), set(package_graph()) - set(LAYER)
    loose = {p.stem for p in SRC.glob("*.py")}
    assert loose == {"__init__", "__main__", "errors"}, "ADR 012: no loose modules"


def test_imports_flow_down_the_layers() -> None:
    upward = [
        f"{pkg} -> {dep}"
        for pkg, deps in package_graph().items()
        for dep in deps
        if LAYER[dep] > LAYER[pkg]
    ]
    assert upward == []


def test_no_package_cycle() -> None:
    graph = package_graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(pkg: str, path: list[str]) -> None:
        state[pkg] = 1
        for dep in sorted(graph.get(pkg, ())):
            if state.get(dep) == 1:
                raise AssertionError("package cycle: " + " -> ".join([*path, pkg, dep]))
            if dep not in state:
                visit(dep, [*path, pkg])
        state[pkg] = 2

    for pkg in sorted(graph):
        if pkg not in state:
            visit(pkg, [])


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from arco.server.app import create_app\nimport arco.core.ids\n")
    assert imported_packages(module) == {"server", "core"}
    assert LAYER["server"] > LAYER["metadata"]


def test_the_runs_domain_is_layered_below_the_registry(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from arco.orchestration.runs.domain import RUNS_SPEC\n"
        "from arco.orchestration import planner\n"
    )
    assert imported_packages(module) == {"orchestration.runs", "orchestration"}
    assert package_of(SRC / "orchestration" / "runs" / "folds.py") == "orchestration.runs"
    assert package_of(SRC / "orchestration" / "planner.py") == "orchestration"
    assert LAYER["orchestration.runs"] < LAYER["domains"] < LAYER["orchestration"]
