"""The soak benchmark: a short run is clean and complete; the judgement fails on what it must.

The fast run (8 s, 2 clients) checks the JSON's shape and that everything passed; the
unit tests feed :func:`aggregate_requests`, :func:`evaluate` and :func:`check_acknowledged`
made-up records and stores, so a 5xx, a bad request accepted or a lost write do fail a run.
The slow test is the 60 s run CI makes, through the CLI.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from arco.bench.soak import (
    BAD_OPS,
    FLATNESS_JUDGED_FROM_S,
    OPS,
    SEED_TABLES,
    TENANT,
    WORKSPACE,
    Record,
    Usage,
    _Acked,
    _LagProbe,
    aggregate_requests,
    aggregate_resources,
    check_acknowledged,
    evaluate,
    flatness,
    run_soak_bench,
    windows,
)
from arco.catalog import Catalog
from arco.core.scope import Scope
from arco.storage import open_store

SOAK_S = 8


@pytest.fixture(scope="module")
def soak(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("soak") / "nested" / "soak.json"
    console = Console(file=io.StringIO(), width=120)
    # 8 s: on a loaded machine the first window of a 5 s run (0.25 s to 1.8 s) could end
    # before the clients' first answers
    return out, run_soak_bench(
        out, duration_s=SOAK_S, clients=2, rate_per_client=20, console=console
    )


def test_short_run_passes_and_writes_its_json(soak: tuple[Path, dict[str, Any]]) -> None:
    path, result = soak
    assert json.loads(path.read_text()) == json.loads(json.dumps(result))
    assert result["failures"] == []
    assert result["ok"] is True
    assert list(result)[:2] == ["ok", "failures"]
    assert result["benchmark"] == "soak"
    assert result["config"]["clients"] == 2
    assert result["config"]["duration_s"] == float(SOAK_S)
    assert result["requests"]["target_per_s"] == 40


def test_requests_are_counted_by_status_class(soak: tuple[Path, dict[str, Any]]) -> None:
    requests = soak[1]["requests"]
    classes = requests["by_status_class"]
    assert set(classes) <= {"2xx", "4xx"}
    assert classes["2xx"] > 50
    assert sum(classes.values()) == requests["total"]
    per_op = requests["per_op"]
    assert set(per_op) <= set(OPS) | set(BAD_OPS)
    # the heavy ops of the mix all ran (2 clients x 20 requests/s x 8 s)
    for op in ("get_table", "query", "append_events", "register_table", "search"):
        assert per_op[op]["by_status_class"].get("2xx", 0) > 0, op
    assert sum(v["requests"] for v in per_op.values()) == requests["total"]


def test_bad_requests_were_made_and_refused_with_4xx(soak: tuple[Path, dict[str, Any]]) -> None:
    result = soak[1]
    bad = result["bad_requests"]
    assert bad["made"] > 0
    assert bad["answered_4xx"] == bad["made"]
    made = {op: v for op, v in result["requests"]["per_op"].items() if op.startswith("bad_")}
    assert sum(v["requests"] for v in made.values()) == bad["made"]
    assert all(set(v["by_status_class"]) == {"4xx"} for v in made.values())
    assert result["anomaly_counts"] == {}


def test_latency_windows_resources_and_lag(soak: tuple[Path, dict[str, Any]]) -> None:
    result = soak[1]
    lat = result["latency"]
    warmup, window = windows(SOAK_S)
    assert (lat["warmup_s"], lat["window_s"]) == (warmup, window)
    assert lat["first_window_s"] == [warmup, round(warmup + window, 4)]
    assert lat["last_window_s"] == [round(SOAK_S - window, 4), float(SOAK_S)]
    everything = lat["per_op"]["all"]
    assert everything["first"]["requests"] > 0 and everything["last"]["requests"] > 0
    assert everything["first"]["p50_ms"] <= everything["first"]["p99_ms"]
    assert everything["p50_ratio"] > 0
    assert result["latency_series"]["points"]
    server = result["server"]
    assert server["rss_mb"]["start"] > 10
    assert server["rss_mb"]["max"] >= server["rss_mb"]["end"] > 0
    assert server["open_fds"]["start"] > 0
    # the server with the processes it started (query workers, if any)
    assert server["tree_rss_mb"]["start"] >= server["rss_mb"]["start"]
    assert server["tree_open_fds"]["max"] >= server["open_fds"]["max"]
    assert server["children"]["max"] >= 0
    # each process of the tree, the server's own figures first
    assert server["processes"][0]["role"] == "server"
    assert server["processes"][0]["pid"] == server["pid"]
    assert len(server["series"]) >= 4
    assert server["log"]["lines_5xx"] == 0
    compaction = result["compaction"]
    assert compaction["samples"] >= 1
    assert compaction["catch_up_s"] is not None
    assert compaction["probe_errors"] == []
    assert result["flatness"]["judged"] is False


def test_verify_is_clean_and_every_acknowledged_write_is_there(
    soak: tuple[Path, dict[str, Any]],
) -> None:
    result = soak[1]
    assert result["verify"]["ok"] is True
    assert result["verify"]["checked"]["manifests"] >= 2  # catalog and executions
    acked = result["acknowledged_writes"]
    assert acked["namespaces"]["missing"] == 0
    assert acked["namespaces"]["acknowledged_live"] >= 2  # the seed namespace and one more
    assert acked["tables"]["missing"] == 0
    assert acked["tables"]["acknowledged_live"] > SEED_TABLES
    assert acked["tables"]["columns_checked"] > 4 * SEED_TABLES
    assert acked["tables"].get("wrong_columns_or_description", 0) == 0
    events = acked["events"]
    assert events["acknowledged"] > 0
    assert events["missing"] == 0
    assert events["visible_through_query"] is True
    assert events["materializations_by_query"] >= events["acknowledged"]
    assert acked["examples"] == []


def test_a_pooled_run_reuses_materialization_ids_and_checks_each_row(tmp_path: Path) -> None:
    """With --materialization-pool the events upsert a bounded set of materializations: the
    data stops growing, every acknowledged event is still folded, and each row holds one of
    its own acknowledged events."""
    console = Console(file=io.StringIO(), width=120)
    result = run_soak_bench(
        None,
        duration_s=5,
        clients=2,
        rate_per_client=20,
        materialization_pool=3,
        console=console,
        work_dir=tmp_path,
    )
    assert result["ok"] is True, result["failures"]
    assert result["config"]["materialization_pool"] == 3
    events = result["acknowledged_writes"]["events"]
    assert events["acknowledged"] > events["materializations"]  # ids were reused
    assert events["pooled_materializations"] == 2 * 3  # the prefill wrote every pooled id
    assert events["materializations"] == events["pooled_materializations"]
    assert events["missing"] == 0 and events["wrong_rows"] == 0
    assert events["visible_through_query"] is True


# --- the judgement, on made-up records ------------------------------------------------------


def _records(extra: list[Record]) -> list[Record]:
    ok: list[Record] = [("get_table", 200, 5.0, 100.0 + i / 10, False) for i in range(600)]
    bad: list[Record] = [("bad_sql", 400, 2.0, 110.0, True)]
    return ok + bad + extra


def _judged(records: list[Record], duration_s: float = 60.0) -> tuple[dict[str, Any], list[str]]:
    warmup, window = windows(duration_s)
    result = aggregate_requests(
        records, t0=100.0, duration_s=duration_s, warmup_s=warmup, window_s=window
    )
    result["server"] = {"rss_mb": {"ratio": 1.0}}
    result["flatness"] = flatness(result, duration_s)
    return result, evaluate(result)


def test_a_clean_record_set_passes() -> None:
    result, failures = _judged(_records([]))
    assert failures == []
    assert result["requests"]["by_status_class"] == {"2xx": 600, "4xx": 1}
    assert result["bad_requests"] == {"made": 1, "fraction": round(1 / 601, 4), "answered_4xx": 1}
    assert result["latency"]["per_op"]["get_table"]["p50_ratio"] == 1.0


def test_a_5xx_fails_the_run() -> None:
    result, failures = _judged(_records([("query", 500, 3.0, 120.0, False)]))
    assert result["requests"]["by_status_class"]["5xx"] == 1
    assert result["requests"]["per_op"]["query"]["statuses"] == {"500": 1}
    assert failures == ["1 responses with a 5xx status"]


def test_an_unanswered_or_accepted_bad_request_fails_the_run() -> None:
    _, failures = _judged(
        _records([("bad_ttl", 200, 3.0, 120.0, True), ("get_table", -1, 60000.0, 130.0, False)])
    )
    assert "1 requests got no answer" in failures
    assert "1 of 2 bad requests not answered 4xx" in failures


def test_flatness_fails_only_long_runs() -> None:
    def slower_at_the_end(duration_s: float) -> list[Record]:
        # p50 5 ms in the first window, 10 ms in the last
        return [
            ("get_table", 200, 10.0 if i > 300 else 5.0, 100.0 + i * duration_s / 600, False)
            for i in range(600)
        ]

    short, failures = _judged(slower_at_the_end(60.0), 60.0)
    assert short["flatness"]["latency_flat"] is False
    assert failures == []
    duration = FLATNESS_JUDGED_FROM_S
    long_run, failures = _judged(slower_at_the_end(duration), duration)
    assert long_run["flatness"]["judged"] is True
    assert long_run["flatness"]["latency_p50_ratio_all"] == 2.0
    assert failures == ["latency not flat (last window over 1.2x the first)"]


def test_windows() -> None:
    assert windows(5) == (0.25, round((5 - 0.25) / 3, 4))
    assert windows(60) == (3.0, 19.0)
    assert windows(120) == (6.0, 60.0)
    assert windows(1800) == (10.0, 60.0)


def test_lost_and_wrong_writes_are_found(tmp_path: Path) -> None:
    url = f"file://{tmp_path}"
    catalog = Catalog(open_store(url), Scope(TENANT, WORKSPACE))
    catalog.create_namespace("ns")
    catalog.register_table("ns", "kept", [{"name": "id", "type": "int64"}], description="d")
    catalog.register_table("ns", "dropped", [{"name": "id", "type": "int64"}])
    catalog.close()
    acked = _Acked()
    acked.add({"kind": "namespace", "name": "ns", "state": "live"})
    acked.add({"kind": "namespace", "name": "lost_ns", "state": "live"})
    table = {"kind": "table", "namespace": "ns", "state": "live", "description": "d"}
    acked.add({**table, "name": "kept", "columns": [["id", "int64"]]})
    acked.add({**table, "name": "lost", "columns": [["id", "int64"]]})
    acked.add({**table, "name": "kept", "columns": [["id", "int64"], ["c1", "string"]]})
    acked.add({"kind": "table", "namespace": "ns", "name": "dropped", "state": "dropped"})
    acked.add({"kind": "events", "ids": ["01M98JBD6RGV2W3P9Z3PWVH4Q5"]})
    out = check_acknowledged(url, acked, _LagProbe(url))
    assert out["namespaces"]["missing"] == 1
    assert out["tables"]["missing"] == 1
    assert out["tables"]["wrong_columns_or_description"] == 1  # "kept" lacks c1
    assert out["tables"]["present_after_drop"] == 1
    assert out["events"]["missing"] == 1
    failures = evaluate({**_judged(_records([]))[0], "acknowledged_writes": out})
    assert "1 acknowledged namespaces writes not found on the store" in failures
    assert "1 acknowledged tables writes not found on the store" in failures
    assert "1 acknowledged events writes not found on the store" in failures
    assert "1 tables differ from their acknowledged columns/description" in failures
    assert "1 objects still exist after their drop was acknowledged" in failures


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_soak_60s_through_the_cli(tmp_path: Path) -> None:
    """What CI runs: ``arco bench soak --duration 60``; exit 0, no 5xx, verify clean."""
    out = tmp_path / "soak.json"
    proc = subprocess.run(
        [sys.executable, "-m", "arco", "bench", "soak", "--duration", "60", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=800,
        check=False,
    )
    result = json.loads(out.read_text())
    assert proc.returncode == 0, (result["failures"], proc.stderr[-2000:])
    assert result["ok"] is True
    assert "5xx" not in result["requests"]["by_status_class"]
    # 4 clients at 5 requests/s each: most of it even on a busy 2-CPU machine
    assert result["requests"]["target_per_s"] == 20
    assert result["requests"]["total"] > 60 * 20 * 0.5
    assert result["bad_requests"]["answered_4xx"] == result["bad_requests"]["made"] > 0
    assert result["verify"]["ok"] is True
    acked = result["acknowledged_writes"]
    for what in ("namespaces", "tables", "events"):
        assert acked[what]["missing"] == 0, what
    assert result["compaction"]["catch_up_s"] is not None


def test_per_process_rss_growth() -> None:
    """Every process of the tree gets its own figures: a worker that grows 2 MB a minute
    shows it, whatever the sum does; a process seen only late has no first window."""
    mb = 1 << 20

    def usage(t: float) -> Usage:
        procs = [(10, "server", 300 * mb), (11, "query_worker", int((200 + 2 * t / 60) * mb))]
        if t >= 300:
            procs.append((12, "query_worker", 150 * mb))
        total = sum(p[2] for p in procs)
        return Usage(300 * mb, 10, 0.0, total, 20, 0.0, len(procs) - 1, tuple(procs))

    samples = [(float(t), usage(t)) for t in range(0, 601, 10)]
    got = aggregate_resources(samples, duration_s=600, warmup_s=10, window_s=60)
    by_pid = {p["pid"]: p for p in got["processes"]}
    assert by_pid[10]["role"] == "server" and by_pid[10]["growth_mb_per_min"] == 0
    assert by_pid[11]["growth_mb_per_min"] == pytest.approx(2.0, abs=1e-3)
    assert by_pid[11]["rss_mb_first"] == 200 and by_pid[11]["rss_mb_last"] == 220
    assert by_pid[12]["first_window_mean"] is None and by_pid[12]["ratio"] is None
    assert by_pid[12]["seen_s"] == [300, 600]
