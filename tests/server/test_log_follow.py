"""Following a run's logs against a real ``arco serve``: ``GET /runs/{id}/logs?after=CURSOR``
answers only what was stored since, so a follower — the client, ``arco --url ... runs logs
--follow``, or ``arco runs logs --follow`` on the store — prints every line exactly once
and in order while two tasks print at once; a cursor of another form is a 400."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from typer.testing import CliRunner

from arco.cli import app
from arco.client import Client
from arco.errors import ValidationError
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.logs import LOG_CURSOR_HEADER
from arco.orchestration.runs import RUN_TERMINAL
from orchestration_support import write_code
from serve_support import serve_process

CODE = """
import time

import pyarrow as pa
from arco import asset


def say(name, lines, pause):
    for i in range(lines):
        print(f"{name} line {i}")
        time.sleep(pause)
    return pa.table({"x": [1]})


@asset(namespace="follow")
def slow(context):
    return say("slow", 12, 0.2)


@asset(namespace="follow")
def other(context):
    return say("other", 8, 0.3)
"""

EXPECTED = {
    "slow": [f"slow line {i}" for i in range(12)],
    "other": [f"other line {i}" for i in range(8)],
}


@dataclass(frozen=True)
class Served:
    url: str
    store_url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("log-follow")
    code = write_code(tmp / "code", CODE, name="log_follow_pipeline.py")
    store = f"file://{tmp / 'store'}"
    options = ("--executor", "inprocess", "--code", str(code))
    with serve_process(store, tmp / "server.log", *options) as served:
        with _client(served.url) as client:
            client.deploy(build_manifest(load_definitions(str(code))))
        yield Served(served.url, store)


def _client(url: str) -> Client:
    return Client(url, tenant="default", workspace="default")


def _assert_each_line_once_in_order(text: str) -> None:
    lines = [line for line in text.splitlines() if line and not line.startswith("==> ")]
    for name, expected in EXPECTED.items():
        assert [line for line in lines if line.startswith(f"{name} ")] == expected, text
    assert len(lines) == sum(len(v) for v in EXPECTED.values()), text
    # a header only where the attempt changes
    owners = [line.split(" ", 1)[0] for line in lines]
    changes = 1 + sum(1 for x, y in itertools.pairwise(owners) if x != y)
    assert text.count("==> ") == changes, text


def _trigger(server: Served) -> str:
    with _client(server.url) as client:
        return client.trigger_run(["follow/slow", "follow/other"]).run_id


def test_the_client_follows_with_the_cursor(server: Served) -> None:
    run_id = _trigger(server)
    pieces: list[str] = []
    cursor: str | None = None
    with _client(server.url) as client:
        deadline = time.monotonic() + 90
        while True:
            ended = client.get_run(run_id).state in RUN_TERMINAL
            page = client.run_logs(run_id, after=cursor)
            assert page.cursor.startswith(f"logs/{run_id}/")
            pieces.append(str(page))
            cursor = page.cursor
            if ended:
                break
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(0.2)
        assert client.get_run(run_id).state == "SUCCEEDED"
        assert client.run_logs(run_id, after=cursor) == ""  # nothing more
        whole = client.run_logs(run_id)
    followed = "".join(pieces)
    _assert_each_line_once_in_order(followed)
    assert sum(1 for p in pieces if p) >= 3, pieces  # it came in pieces, as it was written
    # the whole text at the end: each attempt's output under one header
    assert whole.count("==> ") == 2
    _assert_each_line_once_in_order(whole)


def test_arco_runs_logs_follow_through_the_server_and_on_the_store(
    server: Served,
) -> None:
    runner = CliRunner()
    remote = ["--url", server.url, "runs", "logs"]
    local = ["--store", server.store_url, "runs", "logs"]
    run_id = _trigger(server)
    # on the store, in another process, while the server's executor runs the tasks
    on_the_store = subprocess.Popen(
        [sys.executable, "-m", "arco", *local, run_id, "--follow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "ARCO_URL": ""},
    )
    got = runner.invoke(app, [*remote, run_id, "--follow"])
    out, err = on_the_store.communicate(timeout=120)
    assert got.exit_code == 0, got.output
    assert on_the_store.returncode == 0, err
    _assert_each_line_once_in_order(got.output)
    _assert_each_line_once_in_order(out)
    # once the run has ended, both print the same text, followed or not
    ended = {
        runner.invoke(app, [*where, run_id, *follow]).output
        for where in (remote, local)
        for follow in ([], ["--follow"])
    }
    assert len(ended) == 1, ended
    _assert_each_line_once_in_order(ended.pop())


def test_a_cursor_of_another_form_is_a_400_naming_the_field_and_the_rule(
    server: Served,
) -> None:
    run_id = _trigger(server)
    other_run = _trigger(server)
    with _client(server.url) as client:
        cursor = client.run_logs(run_id).cursor
        for bad in ("nope", cursor.replace(run_id, other_run), f"logs/{run_id}/../x"):
            with pytest.raises(ValidationError) as caught:
                client.run_logs(run_id, after=bad)
            assert "after: must be a log cursor of run" in str(caught.value)
    answer = httpx.get(
        f"{server.url}/api/v1/runs/{run_id}/logs",
        params={"after": "logs/elsewhere/x"},
        headers={"X-Tenant-Id": "default", "X-Workspace-Id": "default"},
    )
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "VALIDATION_FAILED"
    assert error["message"].startswith(f"after: must be a log cursor of run '{run_id}'")
    assert "\n" not in error["message"]
    assert LOG_CURSOR_HEADER not in answer.headers
