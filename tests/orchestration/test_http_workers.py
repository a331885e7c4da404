"""HTTP workers against real processes: ``arco serve --executor http`` and ``arco worker``
processes (issue 12, spec §3).

Deploy A -> B -> C through the API, run selections on two workers, ``run_key``
idempotency; kill -9 a worker in the middle of a task (the heartbeat timeout fails the
attempt, the other worker runs the next one, the run succeeds, the killed attempt's late
``completed`` is rejected); cancel a run whose task is running (the worker sees it on its
next heartbeat); task tokens that are forged, expired or another attempt's are refused;
a restarted server finishes the runs of the one before.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from arco.client import Client, RunDetail
from arco.core.scope import DEFAULT_SCOPE
from arco.errors import IdempotencyConflictError, NotFoundError
from arco.orchestration.discovery import build_manifest, load_definitions
from arco.orchestration.dispatch import TaskEnvelope
from arco.orchestration.runs import Attempt
from arco.server.task_tokens import TaskTokens, task_token_key
from serve_support import ServerProcess, serve_process

SIGNING_KEY = "http-workers-test-signing-key-0123456789"
#: short timers so that a lost worker is noticed within seconds
SERVE_OPTIONS = (
    "--executor",
    "http",
    "--heartbeat-interval",
    "0.3",
    "--heartbeat-timeout",
    "4",
    "--start-timeout",
    "20",
    "--cancel-grace",
    "20",
    "--signing-key",
    SIGNING_KEY,
)

PIPELINE = textwrap.dedent(
    '''
    """Assets of the HTTP worker tests: a -> b -> c, and two that wait for a file."""

    import os
    import time
    from pathlib import Path

    import pyarrow as pa

    from arco import RetryPolicy, asset

    ARCO_NAMESPACE = "demo"
    CONTROL = Path(__file__).parent / "control"


    def _mark(name, context):
        marker = f"{name}.{context.run_id}.{context.attempt}.{os.getpid()}"
        (CONTROL / marker).write_text(str(time.time()))


    @asset
    def a(context):
        _mark("a", context)
        print(f"a says hello from attempt {context.attempt}")
        return pa.table({"x": [1, 2, 3]})


    @asset
    def b(context, a):
        _mark("b", context)
        return a


    @asset
    def c(context, b):
        _mark("c", context)
        return b


    @asset(retry=RetryPolicy(max_attempts=3, backoff_s=0.1))
    def slow(context):
        """Its first attempt waits until the test releases it (or its worker dies)."""
        _mark("slow", context)
        if context.attempt == 1:
            while not (CONTROL / "release").exists():
                time.sleep(0.05)
        return pa.table({"y": [1]})


    @asset
    def forever(context):
        """Runs until it is stopped."""
        _mark("forever", context)
        while not (CONTROL / "release").exists():
            time.sleep(0.05)
        return pa.table({"z": [1]})
    '''
)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill9(self) -> None:
        """SIGKILL the worker and its attempt processes (a machine that died)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)


@dataclass
class Env:
    server: ServerProcess
    client: Client
    code: Path
    control: Path
    tmp: Path

    @contextmanager
    def workers(self, *names: str) -> Iterator[list[WorkerProcess]]:
        """``arco worker`` processes (each in a session of its own), stopped at the end."""
        started: list[WorkerProcess] = []
        try:
            for name in names:
                log = self.tmp / f"worker-{name}.log"
                with log.open("wb") as out:
                    process = subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "arco",
                            "worker",
                            "--url",
                            self.server.url,
                            "--code",
                            str(self.code),
                            "--id",
                            name,
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                        env={**os.environ, "ARCO_URL": ""},
                    )
                started.append(WorkerProcess(name, process, log))
            for w in started:

                def polling(w: WorkerProcess = w) -> bool:
                    text = w.log.read_text(errors="replace")
                    return "polling" in text or w.process.poll() is not None

                wait_for(polling, 90, f"worker {w.name} to start")
                assert w.process.poll() is None, w.log.read_text()
            yield started
        finally:
            for w in started:
                if w.process.poll() is None:
                    os.killpg(w.process.pid, signal.SIGKILL)
                    w.process.wait(timeout=30)

    def wait_run(self, run_id: str, timeout: float = 90) -> RunDetail:
        def done() -> RunDetail | None:
            run = self.client.get_run(run_id)
            return run if run.state in ("SUCCEEDED", "FAILED", "CANCELLED") else None

        result: RunDetail = wait_for(done, timeout, f"run {run_id} to end")
        return result

    def running_attempt(self, run_id: str) -> Attempt:
        def running() -> Attempt | None:
            found = [a for a in self.client.run_attempts(run_id) if a.state == "RUNNING"]
            return found[0] if found else None

        result: Attempt = wait_for(running, 90, f"an attempt of {run_id} to run")
        return result


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    tmp = tmp_path_factory.mktemp("http-workers")
    code = tmp / "code"
    control = code / "control"
    control.mkdir(parents=True)
    (code / "http_worker_pipeline.py").write_text(PIPELINE)
    store_url = f"file://{tmp / 'store'}"
    with serve_process(store_url, tmp / "server.log", *SERVE_OPTIONS) as server:
        with Client(server.url) as client:
            manifest = build_manifest(load_definitions(str(code / "http_worker_pipeline.py")))
            first = client.deploy(manifest)
            assert first.status == "created" and first.assets == 5
            again = client.deploy(manifest)
            assert again.status == "unchanged" and again.fingerprint == first.fingerprint
            yield Env(server, client, code / "http_worker_pipeline.py", control, tmp)


def started_markers(control: Path, asset: str, run_id: str) -> list[Path]:
    return sorted(control.glob(f"{asset}.{run_id}.*"))


def token(
    envelope_fields: dict[str, Any], *, key: str = SIGNING_KEY, now: float | None = None
) -> str:
    """A task token as the server would issue it (the test knows the server's key)."""
    envelope = TaskEnvelope(
        entry_point="x:y",
        asset_key="demo/x",
        attempt=1,
        start_deadline_ms=int(time.time() * 1000) if now is None else int(now * 1000),
        **envelope_fields,
    )
    return TaskTokens(task_token_key(key.encode()), default_ttl_s=60).issue(
        DEFAULT_SCOPE, envelope, now=now
    )


def callback(env: Env, attempt_id: str, what: str, body: Any, bearer: str | None) -> httpx.Response:
    headers = {} if bearer is None else {"Authorization": f"Bearer {bearer}"}
    return httpx.post(
        f"{env.server.url}/api/v1/attempts/{attempt_id}/{what}",
        json=body,
        headers=headers,
        timeout=30,
    )


def test_deploy_selection_and_run_key_on_two_workers(env: Env) -> None:
    assert [a.key for a in env.client.assets()] == [
        "demo/a",
        "demo/b",
        "demo/c",
        "demo/forever",
        "demo/slow",
    ]
    assert env.client.asset("demo/b").deps == ("demo/a",)
    with pytest.raises(NotFoundError):
        env.client.asset("demo/nope")
    with env.workers("w1", "w2"):
        only_a = env.client.trigger_run(["demo/a"])
        assert [t.asset_key for t in only_a.tasks] == ["demo/a"]
        run = env.wait_run(only_a.run_id)
        assert run.state == "SUCCEEDED", run
        assert [t.state for t in run.tasks] == ["SUCCEEDED"]
        assert len(started_markers(env.control, "a", run.run_id)) == 1
        assert not started_markers(env.control, "b", run.run_id)

        chain = env.client.trigger_run(["+demo/c"], run_key="chain-1")
        again = env.client.trigger_run(["+demo/c"], run_key="chain-1")
        assert again.run_id == chain.run_id
        with pytest.raises(IdempotencyConflictError):
            env.client.trigger_run(["demo/c"], run_key="chain-1")
        run = env.wait_run(chain.run_id)
        assert run.state == "SUCCEEDED", run
        assert sorted(t.asset_key for t in run.tasks) == ["demo/a", "demo/b", "demo/c"]
        attempts = {a.task_key.split(":")[0]: a for a in env.client.run_attempts(run.run_id)}
        assert len(attempts) == 3
        a, b, c = attempts["demo/a"], attempts["demo/b"], attempts["demo/c"]
        assert a.ended_at and b.started_at and b.ended_at and c.started_at
        assert a.ended_at <= b.started_at and b.ended_at <= c.started_at
        assert {x.worker for x in (a, b, c)} <= {"w1", "w2"}
        assert all(x.state == "SUCCEEDED" for x in (a, b, c))

        listed = env.client.list_runs(state="SUCCEEDED")
        assert {chain.run_id, only_a.run_id} <= {r.run_id for r in listed.items}
        # what the asset printed on the worker, stored by it, read through the server
        logs = env.client.run_logs(chain.run_id)
        assert "a says hello from attempt 1" in logs
        assert f"==> {a.task_key} attempt 1 ({a.attempt_id}) <==" in logs
        only_b = env.client.run_logs(chain.run_id, task=b.task_key)
        assert "hello" not in only_b
        with pytest.raises(NotFoundError):
            env.client.get_run("01JUNKNOWNRUN0000000000000")


def test_kill9_worker_mid_task_then_late_callback_is_rejected(env: Env) -> None:
    with env.workers("k1", "k2") as workers:
        run = env.client.trigger_run(["demo/slow"])
        first = env.running_attempt(run.run_id)
        victim = next(w for w in workers if w.name == first.worker)
        victim.kill9()
        done = env.wait_run(run.run_id)
        assert done.state == "SUCCEEDED", done
        attempts = env.client.run_attempts(run.run_id)
        assert [a.state for a in attempts] == ["TIMED_OUT", "SUCCEEDED"], attempts
        assert attempts[0].attempt_id == first.attempt_id
        assert attempts[0].error == "heartbeat"
        assert attempts[1].worker not in (None, victim.name)

        # the killed attempt's late report, with its own (valid) token: rejected
        fields = {
            "run_id": run.run_id,
            "task_key": first.task_key,
            "attempt_id": first.attempt_id,
        }
        late = callback(env, first.attempt_id, "completed", {"status": "succeeded"}, token(fields))
        assert late.status_code == 200, late.text
        assert late.json()["accepted"] is False
        beat = callback(env, first.attempt_id, "heartbeat", {"seq": 99}, token(fields))
        assert beat.status_code == 200 and beat.json()["cancel"] is True
        after = env.client.run_attempts(run.run_id)
        assert [a.state for a in after] == ["TIMED_OUT", "SUCCEEDED"]
        assert env.client.get_run(run.run_id).state == "SUCCEEDED"

        # the winning attempt's report again (a retry): accepted as the first one was
        second = {**fields, "attempt_id": attempts[1].attempt_id}
        replay = callback(
            env,
            attempts[1].attempt_id,
            "completed",
            {"status": "succeeded", "output": attempts[1].output},
            token(second),
        )
        assert replay.status_code == 200 and replay.json()["accepted"] is True


def test_task_tokens_are_scoped_to_their_attempt(env: Env) -> None:
    with env.workers("t1"):
        run = env.wait_run(env.client.trigger_run(["demo/a"]).run_id)
    (attempt,) = env.client.run_attempts(run.run_id)
    fields = {"run_id": run.run_id, "task_key": attempt.task_key, "attempt_id": attempt.attempt_id}
    body = {"status": "failed", "error": "forged", "error_category": "error"}

    def refused(response: httpx.Response, status: int) -> None:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["code"] == ("UNAUTHENTICATED" if status == 401 else "FORBIDDEN")
        assert "\n" not in error["message"]

    refused(callback(env, attempt.attempt_id, "completed", body, None), 401)
    forged = token(fields, key="another-key-of-at-least-32-characters!!")
    refused(callback(env, attempt.attempt_id, "completed", body, forged), 401)
    expired = token(fields, now=time.time() - 3 * 3600)
    refused(callback(env, attempt.attempt_id, "heartbeat", {"seq": 1}, expired), 401)
    other = token({**fields, "attempt_id": "01JOTHERATTEMPT00000000000"})
    refused(callback(env, attempt.attempt_id, "completed", body, other), 403)
    unknown = token({**fields, "attempt_id": "01JOTHERATTEMPT00000000000"})
    missing = callback(env, "01JOTHERATTEMPT00000000000", "started", {}, unknown)
    assert missing.status_code == 404, missing.text
    # a user's request is not a task token (development mode has no user tokens at all)
    refused(callback(env, attempt.attempt_id, "started", {}, "not.a.jwt"), 401)
    assert env.client.get_run(run.run_id).state == "SUCCEEDED"
    assert [a.state for a in env.client.run_attempts(run.run_id)] == ["SUCCEEDED"]


def test_cancel_reaches_the_running_task_on_its_next_heartbeat(env: Env) -> None:
    with env.workers("c1"):
        run = env.client.trigger_run(["demo/forever"])
        attempt = env.running_attempt(run.run_id)
        wait_for(lambda: started_markers(env.control, "forever", run.run_id), 90, "the task to run")
        asked = time.monotonic()
        env.client.cancel_run(run.run_id, reason="test")
        done = env.wait_run(run.run_id, timeout=30)
        took = time.monotonic() - asked
        assert done.state == "CANCELLED", done
        # told by a heartbeat (0.3 s apart), well before the cancel grace (20 s)
        assert took < 10, took
        attempts = env.client.run_attempts(run.run_id)
        assert [a.attempt_id for a in attempts] == [attempt.attempt_id]
        assert attempts[0].state == "CANCELLED" and attempts[0].error_category == "cancelled"
        assert all(t.state in ("CANCELLED", "FAILED") for t in done.tasks), done.tasks
        assert not [a for a in attempts if a.state in ("RUNNING", "DISPATCHED")]
        assert len(started_markers(env.control, "forever", run.run_id)) == 1


@pytest.mark.slow
def test_a_restarted_server_finishes_the_runs_of_the_one_before(tmp_path: Path, env: Env) -> None:
    """The first server dispatches and stops before any worker came; the second one, on the
    same store, starts the workspace's controller when the run is read, times the lost
    attempt out at its start deadline and hands the retry to a worker."""
    store_url = f"file://{tmp_path / 'store'}"
    options = [o if o != "20" else "2" for o in SERVE_OPTIONS]  # --start-timeout 2
    manifest = build_manifest(load_definitions(str(env.code)))
    with serve_process(store_url, tmp_path / "first.log", *options) as first:
        with Client(first.url) as client:
            client.deploy(manifest)
            run = client.trigger_run(["demo/slow"])
            wait_for(lambda: client.run_attempts(run.run_id), 30, "the first dispatch")
    with serve_process(store_url, tmp_path / "second.log", *options) as second:
        restarted = Env(second, Client(second.url), env.code, env.control, tmp_path)
        with restarted.client, restarted.workers("r1"):
            done = restarted.wait_run(run.run_id, timeout=60)
            assert done.state == "SUCCEEDED", done
            attempts = restarted.client.run_attempts(run.run_id)
            assert [a.state for a in attempts] == ["TIMED_OUT", "SUCCEEDED"]
            assert attempts[0].error == "start_deadline" and attempts[1].worker == "r1"
