"""A DDL worker process for the multi-process and kill -9 tests.

Run as ``python ddl_worker.py CONFIG_JSON``. The worker opens the catalog with
``Catalog.open(url, options=..., **store_options)``, touches ``ready_file``, waits for
``go_file`` (if given) so that all workers start racing at once, and then runs its script.
It prints one JSON line per *final* outcome of a request:

* ``{"event": "ack", ...}`` for an acknowledged write, with the full result;
* ``{"event": "error", ...}`` for a request that failed with a non-retryable error;
* ``{"event": "done"}`` when the script finished.

Retryable errors (lock timeout, fenced, commit conflict, unknown outcome, transient storage)
are retried with the *same* idempotency key, so a retry of a write that was in fact applied
returns the original result.

Modes:

``race``
    namespaces with colliding names (random case variants) and unique names, tables with
    colliding and unique names in one shared namespace, and read-modify-write increments of
    a counter property of a shared table (``if_match`` + retry on PreconditionFailedError).
``stream``
    units ``start, start+1, ...``; unit ``j`` creates namespace ``k{j}``, registers table
    ``k{j}.t`` with columns ``id``/``c{j}`` and then adds column ``extra``. Every request has
    a deterministic idempotency key, so a restarted worker replays a unit that a killed one
    left half-done.
"""

from __future__ import annotations

import json
import random
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

# the tests directory, for process_support (this file runs as a script)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from arco.catalog import Catalog
from arco.errors import PreconditionFailedError
from process_support import call, case_variant, emit, open_and_wait, run_op


def race(cat: Catalog, cfg: dict[str, Any]) -> None:
    w = cfg["worker"]
    rng = random.Random(cfg["seed"])
    shared = cfg["shared_namespace"]
    counter = cfg["counter_table"]
    plan: list[tuple[str, Any]] = []
    plan += [("ns_collide", name) for name in cfg["colliding_namespaces"]]
    plan += [("ns_unique", f"w{w}-ns{j}") for j in range(cfg["unique_namespaces"])]
    plan += [("table_collide", name) for name in cfg["colliding_tables"]]
    plan += [("table_unique", f"w{w}-t{j}") for j in range(cfg["unique_tables"])]
    plan += [("increment", j) for j in range(cfg["increments"])]
    rng.shuffle(plan)
    columns: list[dict[str, Any]] = [
        {"name": "id", "type": "int64", "nullable": False},
        {"name": f"by_w{w}", "type": "string"},
    ]
    for index, (kind, arg) in enumerate(plan):
        key = f"w{w}-op{index}"
        if kind in ("ns_collide", "ns_unique"):
            name = case_variant(rng, arg) if kind == "ns_collide" else arg
            run_op(
                kind,
                key,
                partial(cat.create_namespace, name, description=f"by w{w}", idempotency_key=key),
                name=name,
            )
        elif kind in ("table_collide", "table_unique"):
            run_op(
                kind,
                key,
                partial(cat.register_table, shared, arg, columns, idempotency_key=key),
                name=arg,
            )
        else:
            increment(cat, shared, counter, key)


def increment(cat: Catalog, namespace: str, table: str, key: str) -> None:
    """Read-modify-write of the ``counter`` property, retried on a lost race."""
    for attempt in range(1, 1000):
        current = cat.get_table(namespace, table)
        value = int(current.properties.get("counter", "0")) + 1
        attempt_key = f"{key}-a{attempt}"
        try:
            result, _ = call(
                partial(
                    cat.update_table,
                    namespace,
                    table,
                    set_properties={"counter": str(value)},
                    if_match=current.version,
                    idempotency_key=attempt_key,
                )
            )
        except PreconditionFailedError:
            continue
        emit(
            {
                "event": "ack",
                "op": "increment",
                "key": attempt_key,
                "attempts": attempt,
                "value": value,
                "read_version": current.version,
                "result": result.model_dump(mode="json"),
            }
        )
        return
    raise AssertionError("increment did not succeed in 1000 attempts")


def stream(cat: Catalog, cfg: dict[str, Any]) -> None:
    start, stop = cfg["start"], cfg.get("stop")
    j = start
    while stop is None or j < stop:
        ns = f"k{j}"
        # each step is called with its idempotency key
        steps: list[tuple[str, str, Callable[..., Any]]] = [
            (
                "create_namespace",
                f"ns-{j}",
                partial(cat.create_namespace, ns, properties={"unit": str(j)}),
            ),
            (
                "register_table",
                f"t-{j}",
                partial(
                    cat.register_table,
                    ns,
                    "t",
                    [{"name": "id", "type": "int64"}, {"name": f"c{j}", "type": "string"}],
                ),
            ),
            (
                "add_column",
                f"u-{j}",
                partial(cat.update_table, ns, "t", add_columns=[{"name": "extra", "type": "bool"}]),
            ),
        ]
        for step, (op, key, fn) in enumerate(steps):
            if run_op(op, key, partial(fn, idempotency_key=key), unit=j, step=step) is None:
                sys.exit(3)  # a non-retryable error: the parent reports it
        j += 1


def main() -> None:
    cfg = json.loads(sys.argv[1])
    cat = open_and_wait(cfg)
    if cfg["mode"] == "race":
        race(cat, cfg)
    else:
        stream(cat, cfg)
    cat.close()
    emit({"event": "done"})


if __name__ == "__main__":
    main()
