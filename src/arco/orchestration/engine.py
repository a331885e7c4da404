"""Orchestration of one workspace from one process: trigger runs, drive them with a
controller and an executor, wait for them. What ``arco dev``, ``arco run`` and
``arco serve`` use; tests drive it directly.

:class:`AssetRunner` is the picklable recipe that builds, in whichever process hosts an
attempt (this one, a pool worker, a Dask worker), the function that runs an asset: load
the code location, read the inputs, call the asset, write its table, run its checks and
record the success in lineage and executions.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arco.catalog import Catalog
from arco.core.canonical_json import loads as json_loads
from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.core.scope import DEFAULT_SCOPE, Scope
from arco.errors import NotFoundError, ValidationError
from arco.executions import Executions
from arco.orchestration.assets import load_entry_point
from arco.orchestration.attempt import Cancellation, RunAsset
from arco.orchestration.capacity import SharedCapacity
from arco.orchestration.controller import Controller, ControllerOptions, lease_name
from arco.orchestration.deploy import current, load_deployment
from arco.orchestration.discovery import load_definitions
from arco.orchestration.dispatch import TaskEnvelope, TaskFailure
from arco.orchestration.executors import Executor
from arco.orchestration.io import AssetIO, blocking_failures, execute_asset, input_keys
from arco.orchestration.ledger_reporter import LedgerReporter
from arco.orchestration.logs import AttemptLog
from arco.orchestration.manifest import AssetSpec, DefinitionsManifest
from arco.orchestration.planner import select_assets
from arco.orchestration.runs import (
    RUN_TERMINAL,
    SUCCEEDED,
    Run,
    Runs,
    TaskRow,
    run_cancel_requested,
)
from arco.orchestration.trigger import RunRequest, run_triggered
from arco.storage import ScopedStore, open_store
from arco.storage.port import ObjectStore
from arco.tier1.lock import LeaseLock

__all__ = ["AssetRunner", "Orchestrator", "make_executor"]

_asset_log = logging.getLogger("arco.assets")

#: how long a background round collects run (and materialization) events before it
#: publishes them: this process reads its own events at once (``Runs.state``), so the
#: projection other processes read lags by this much, and a chain of tasks costs one
#: round per interval rather than one per event
PUBLISH_LINGER_S = 0.2


def _definitions_loader(store: ObjectStore) -> Callable[[str | None], DefinitionsManifest]:
    cache: dict[str | None, DefinitionsManifest] = {}
    lock = threading.Lock()

    def definitions(fingerprint: str | None) -> DefinitionsManifest:
        with lock:
            found = cache.get(fingerprint)
        if found is not None:
            return found
        if fingerprint is None:
            deployed = current(store)
            if deployed is None:
                raise NotFoundError("deployment: nothing is deployed to this workspace")
            manifest = deployed[1]
        else:
            manifest = load_deployment(store, fingerprint)
            with lock:
                cache[fingerprint] = manifest
        return manifest

    return definitions


@dataclass(frozen=True)
class AssetRunner:
    """Builds the function that runs assets of one workspace (picklable: it is sent to
    worker processes, which call it once)."""

    store_url: str
    tenant: str = DEFAULT_SCOPE.tenant
    workspace: str = DEFAULT_SCOPE.workspace
    code_location: str | None = None

    def __call__(self) -> RunAsset:
        scope = Scope(self.tenant, self.workspace)
        root = open_store(self.store_url)
        store = ScopedStore(root, scope.prefix)
        catalog = Catalog(root, scope)
        executions = Executions(root, scope, fold="background", linger_s=PUBLISH_LINGER_S)
        asset_io = AssetIO(store, catalog, executions)
        if self.code_location is not None:
            load_definitions(self.code_location)
        definitions = _definitions_loader(store)
        specs: dict[str | None, dict[str, AssetSpec]] = {}

        def execute(envelope: TaskEnvelope, cancellation: Cancellation) -> dict[str, Any] | None:
            started = SYSTEM_CLOCK.now_ms()
            asset = load_entry_point(envelope.entry_point)
            by_key = specs.get(envelope.deployment)
            if by_key is None:
                manifest = definitions(envelope.deployment)
                by_key = specs[envelope.deployment] = {a.key: a for a in manifest.assets}
            cancellation.check_cancelled()
            output, checks = execute_asset(
                asset_io,
                asset,
                run_id=envelope.run_id,
                attempt_id=envelope.attempt_id,
                attempt=envelope.attempt,
                partition_key=envelope.partition_key,
                inputs={k: v for k, v in envelope.inputs.items() if v is not None},
                upstream_specs=by_key,
                check_cancelled=cancellation.check_cancelled,
            )
            failed = blocking_failures(checks)
            if failed:
                first = failed[0]
                raise TaskFailure(
                    f"check {first.name} failed: {first.message}",
                    retryable=False,
                    category="check",
                )
            cancellation.check_cancelled()
            asset_io.record_success(
                asset.spec,
                envelope.partition_key,
                output,
                run_id=envelope.run_id,
                attempt_id=envelope.attempt_id,
                inputs=input_keys(asset),
                started_ms=started,
                completed_ms=SYSTEM_CLOCK.now_ms(),
            )
            return {
                "table": None if output is None else output.to_json(),
                "checks": [
                    {
                        "name": c.name,
                        "passed": c.passed,
                        "blocking": c.blocking,
                        "message": c.message,
                        "kind": c.kind,
                    }
                    for c in checks
                ],
            }

        def run_asset(envelope: TaskEnvelope, cancellation: Cancellation) -> dict[str, Any] | None:
            with AttemptLog(store, envelope.run_id, envelope.attempt_id):
                try:
                    return execute(envelope, cancellation)
                except Exception:
                    _asset_log.exception(
                        "attempt %s of %s failed", envelope.attempt, envelope.task_key
                    )
                    raise

        return _Closing(run_asset, executions.close)


class _Closing:
    """A run-asset function that also says when its process is done with it: ``close``
    publishes the materializations recorded in the background, so a query right after a
    run sees them."""

    def __init__(self, run: RunAsset, close: Callable[[], None]) -> None:
        self._run = run
        self.close = close

    def __call__(self, envelope: TaskEnvelope, cancellation: Cancellation) -> dict[str, Any] | None:
        return self._run(envelope, cancellation)


def make_executor(
    name: str, reporter: LedgerReporter, runner: AssetRunner, *, capacity: int | None = None
) -> Executor:
    """The executor called ``name``: ``inprocess``, ``pool`` or ``dask://HOST:PORT``."""
    if name == "inprocess":
        from arco.orchestration.executors.inprocess import InProcessExecutor

        return InProcessExecutor(reporter, runner(), capacity=capacity or 4)
    if name == "pool":
        from arco.orchestration.executors.pool import ProcessPoolExecutor

        return ProcessPoolExecutor(reporter, runner, capacity=capacity)
    if name.startswith("dask://"):
        from distributed import Client

        from arco.orchestration.executors.dask import DaskExecutor, parse_dask_url

        connect: Any = Client  # untyped
        client = connect(parse_dask_url(name), set_as_default=False)
        return DaskExecutor(reporter, runner, client, name=name, capacity=capacity)
    raise ValidationError(f"executor: must be inprocess, pool or dask://HOST:PORT (got {name!r})")


class Orchestrator:
    """Trigger and drive the runs of one workspace that use one executor."""

    def __init__(
        self,
        store_url: str,
        scope: Scope = DEFAULT_SCOPE,
        *,
        executor: str = "inprocess",
        code_location: str | None = None,
        capacity: int | None = None,
        options: ControllerOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
        executor_factory: Callable[[LedgerReporter, AssetRunner], Executor] | None = None,
        shared_capacity: SharedCapacity | None = None,
    ) -> None:
        """``shared_capacity`` bounds (and divides fairly) the attempts in flight of the
        orchestrators of several workspaces that share it (a server's)."""
        root = open_store(store_url)
        self.scope = scope
        self.store: ObjectStore = ScopedStore(root, scope.prefix)
        self.runs = Runs(root, scope, fold="background", linger_s=PUBLISH_LINGER_S)
        self.definitions = _definitions_loader(self.store)
        self.runner = AssetRunner(store_url, scope.tenant, scope.workspace, code_location)
        self.reporter = LedgerReporter(self.runs, on_event=self._wake)
        if executor_factory is not None:
            self.executor = executor_factory(self.reporter, self.runner)
        else:
            self.executor = make_executor(executor, self.reporter, self.runner, capacity=capacity)
        self.controller = Controller(
            self.runs,
            self.executor,
            self.definitions,
            lease=LeaseLock(
                self.store,
                lease_name(self.executor.name),
                clock=clock,
                lease_ms=(options or ControllerOptions()).lease_ms,
            ),
            options=options,
            code_location=code_location,
            clock=clock,
            shared=shared_capacity,
            member=f"{scope.tenant}/{scope.workspace}/{self.executor.name}",
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _wake(self) -> None:
        self.controller.wake()

    # --- runs ---------------------------------------------------------------------------

    def trigger(self, request: RunRequest, *, deployment: str | None = None) -> str:
        """Plan and trigger ``request`` against a deployment (default: the current one);
        the run id (the recorded one when ``run_key`` was used before with this request)."""
        if deployment is None:
            deployed = current(self.store)
            if deployed is None:
                raise ValidationError(
                    "deployment: nothing is deployed to this workspace (arco deploy PATH)"
                )
            deployment, manifest = deployed[0].fingerprint, deployed[1]
        else:
            manifest = self.definitions(deployment)
        payload = run_triggered(manifest, deployment, request)
        run_id = self.runs.trigger(payload, run_key=request.run_key)
        self.controller.wake()
        return run_id

    def reexecute(
        self,
        run_id: str,
        *,
        from_failure: bool = True,
        select: Sequence[str] | None = None,
        run_key: str | None = None,
    ) -> str:
        """A new run repeating ``run_id`` on the same deployment and partitions.

        Without ``select``: its whole selection, where ``from_failure`` keeps its SUCCEEDED
        tasks (their outputs are reused) and runs only the others (failed, skipped,
        cancelled); otherwise everything runs again.

        With ``select`` (selection items, e.g. ``demo/b`` or ``demo/b+``): only the run's
        tasks of the assets it names run again; the tasks upstream of them in the run are
        reused as done (with their outputs) and must have succeeded there (ValidationError
        otherwise, naming them); the rest of the run is left out."""
        parent = self.runs.get_run(run_id)
        if parent.state not in RUN_TERMINAL:
            raise ValidationError(f"run_id: run {run_id} is still {parent.state}")
        state = self.runs.state()
        tasks = list(state.tasks_of(run_id))
        selection = tuple(parent.selection)
        if select:
            selection, done = self._subset(run_id, parent.deployment, tasks, select)
        else:
            done = [t.task_key for t in tasks if from_failure and t.state == SUCCEEDED]
        outputs = {
            t.task_key: json_loads(t.output)
            for t in tasks
            if t.task_key in set(done) and t.output is not None
        }
        partitions = sorted({t.partition_key for t in tasks if t.partition_key})
        request = RunRequest(
            selection=selection,
            partitions=tuple(partitions) or None,
            executor=parent.executor,
            priority=parent.priority,
            tags=parent.tags,
            run_key=run_key,
            parent_run_id=run_id,
            done=tuple(done),
            outputs=outputs,
        )
        return self.trigger(request, deployment=parent.deployment)

    def _subset(
        self, run_id: str, deployment: str | None, tasks: list[TaskRow], select: Sequence[str]
    ) -> tuple[tuple[str, ...], list[str]]:
        """The selection (asset keys) and done tasks of a re-execution of ``select``."""
        named = set(select_assets(self.definitions(deployment), list(select)))
        by_key = {t.task_key: t for t in tasks}
        chosen = {k for k, t in by_key.items() if t.asset_key in named}
        if not chosen:
            raise ValidationError(
                f"select: names none of the assets of run {run_id} ({', '.join(select)})"
            )
        needed = set(chosen)
        todo = list(chosen)
        while todo:
            upstream = json_loads(by_key[todo.pop()].upstream)
            for key in upstream if isinstance(upstream, list) else []:
                if key in by_key and key not in needed:
                    needed.add(key)
                    todo.append(key)
        unfinished = sorted(k for k in needed - chosen if by_key[k].state != SUCCEEDED)
        if unfinished:
            more = f" and {len(unfinished) - 5} more" if len(unfinished) > 5 else ""
            raise ValidationError(
                f"select: tasks upstream of the selection did not succeed in run {run_id}: "
                f"{', '.join(unfinished[:5])}{more} (select them too, or re-execute from "
                "failure)"
            )
        assets = sorted({by_key[k].asset_key for k in needed})
        done = sorted(k for k, t in by_key.items() if k not in chosen and t.state == SUCCEEDED)
        return tuple(assets), done

    def cancel(self, run_id: str, reason: str | None = None) -> Run:
        """Ask a run to stop: its waiting tasks are cancelled, its running attempts are told."""
        run = self.runs.get_run(run_id)
        if run.state not in RUN_TERMINAL:
            self.runs.append([run_cancel_requested(run_id, reason)])
            self.controller.wake()
        return self.runs.get_run(run_id)

    def wait(
        self,
        run_id: str,
        *,
        timeout: float | None = None,
        on_pass: Callable[[Run], None] | None = None,
    ) -> Run:
        """Drive the controller in this thread (unless :meth:`start` did) until the run is
        terminal; ``on_pass`` sees the run after every pass. TimeoutError after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            passes = self.controller.passes
            run = self.runs.get_run(run_id)
            if on_pass is not None:
                on_pass(run)
            if run.state in RUN_TERMINAL:
                return run
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} is still {run.state} after {timeout} s")
            if self._thread is None:
                step = self.controller.step()
                if not step.acting:  # another controller acts: follow what it appends
                    self.controller.refresh()
                if self.runs.get_run(run_id).state in RUN_TERMINAL:
                    continue  # the pass folded the run's last report
                wait = self.controller.options.idle_wait_s
                if step.next_due_ms is not None:
                    wait = min(wait, max(0.0, (step.next_due_ms - SYSTEM_CLOCK.now_ms()) / 1000))
                self.controller.wait(wait)
            else:  # the background loop's next pass may change the run
                self.controller.wait_for_pass(passes, self.controller.options.idle_wait_s)

    # --- background ---------------------------------------------------------------------

    def start(self) -> None:
        """Run the controller on a background thread until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.controller.run, args=(self._stop,), name="arco-controller", daemon=True
            )
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self.controller.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.executor.close()
        self.reporter.close()
        self.controller.close()
        self.runs.close()

    def __enter__(self) -> Orchestrator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
