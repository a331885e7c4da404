"""A lineage worker process for the multi-process lineage race test.

Run as ``python lineage_worker.py CONFIG_JSON``. The worker opens the catalog with
``Catalog.open(url, options=..., **store_options)``, touches ``ready_file``, waits for
``go_file`` so that all workers start racing at once, and then, in a shuffled order:

* adds every *shared* edge (the same ``(source, target, edge_type)`` in every worker, spelt
  with a random case variant of the asset keys, with ``run_id = w{worker}``);
* adds its own *unique* edges;
* removes some of its unique edges (each removal comes after the add of that edge).

Every request carries an idempotency key; retryable errors (lock timeout, fenced, commit
conflict, unknown outcome, transient storage) are retried with the same key. The worker
prints one JSON line per final outcome:

* ``{"event": "ack", ...}`` for an acknowledged write, with the returned edge;
* ``{"event": "error", ...}`` for a request that failed with a non-retryable error;
* ``{"event": "seen", ...}`` the edges it can read back after its script (read-your-writes);
* ``{"event": "done"}`` when the script finished.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

# the tests directory, for process_support (this file runs as a script)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arco.catalog import Catalog
from process_support import case_variant, emit, open_and_wait, run_op


def race(cat: Catalog, cfg: dict[str, Any]) -> None:
    w = cfg["worker"]
    rng = random.Random(cfg["seed"])
    edge_type = cfg["edge_type"]
    plan: list[tuple[str, list[str]]] = [("add_shared", edge) for edge in cfg["shared_edges"]]
    unique = [[f"w{w}/src{j}", f"w{w}/dst{j}"] for j in range(cfg["unique_edges"])]
    plan += [("add_unique", edge) for edge in unique]
    rng.shuffle(plan)
    # each removal goes somewhere after the add of its edge
    for edge in rng.sample(unique, cfg["removals"]):
        after = plan.index(("add_unique", edge))
        plan.insert(rng.randint(after + 1, len(plan)), ("remove_unique", edge))
    for index, (kind, (plain_source, plain_target)) in enumerate(plan):
        key = f"w{w}-op{index}"
        source, target = plain_source, plain_target
        if kind == "add_shared":
            source, target = case_variant(rng, source), case_variant(rng, target)

        def request(
            s: str = source, t: str = target, k: str = key, remove: bool = kind == "remove_unique"
        ) -> Any:
            if remove:
                return cat.remove_lineage_edge(s, t, edge_type=edge_type, idempotency_key=k)
            return cat.add_lineage_edge(
                s, t, edge_type=edge_type, run_id=f"w{w}", idempotency_key=k
            )

        run_op(kind, key, request, source=source, target=target)
    # read back what this process can see now: every asset it touched, one hop
    seen: dict[str, Any] = {}
    for source, _ in [*cfg["shared_edges"], *unique]:
        for shown in cat.lineage(source, direction="downstream", depth=1).edges:
            seen[shown.edge_id] = shown.model_dump(mode="json")
    emit({"event": "seen", "edges": sorted(seen.values(), key=lambda e: e["edge_id"])})


def main() -> None:
    cfg = json.loads(sys.argv[1])
    cat = open_and_wait(cfg)
    race(cat, cfg)
    cat.close()
    emit({"event": "done"})


if __name__ == "__main__":
    main()
