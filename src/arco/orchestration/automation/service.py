"""Automation of one workspace, running: the :class:`AutomationController` on a thread beside
an :class:`~arco.orchestration.engine.Orchestrator` that executes the runs it triggers.

What ``arco automation run`` starts, and what ``arco serve`` starts per workspace. Several
may run on one workspace: one acts (the ``automation`` lease), the others stand by.
"""

from __future__ import annotations

import dataclasses
import threading

from arco.core.clock import SYSTEM_CLOCK, Clock
from arco.executions import Executions
from arco.orchestration.automation.controller import (
    AutomationController,
    AutomationOptions,
    AutomationPass,
)
from arco.orchestration.automation.domain.facade import Automation
from arco.orchestration.engine import PUBLISH_LINGER_S, Orchestrator
from arco.orchestration.trigger import RunRequest

__all__ = ["AutomationService"]


class AutomationService:
    """The automation controller of ``orchestrator``'s workspace (see the module)."""

    def __init__(
        self,
        orchestrator: Orchestrator,
        *,
        options: AutomationOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.orchestrator = orchestrator
        root = orchestrator.runs.root_store
        scope = orchestrator.scope
        self.automation = Automation(root, scope, fold="background", linger_s=PUBLISH_LINGER_S)
        self._executions = Executions(root, scope, fold="inline")
        self.controller = AutomationController(
            self.automation,
            orchestrator.runs,
            self._executions.state,
            orchestrator.store,
            self._trigger,
            orchestrator.cancel,
            clock=clock,
            options=options,
            code_location=orchestrator.runner.code_location,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _trigger(self, request: RunRequest) -> str:
        # on the executor of the orchestrator that runs it
        return self.orchestrator.trigger(
            dataclasses.replace(request, executor=self.orchestrator.executor.name)
        )

    def step(self) -> AutomationPass:
        """One pass in this thread (tests, or a caller driving its own loop)."""
        return self.controller.step()

    def start(self) -> AutomationService:
        """Run the controller on a background thread until :meth:`close`."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.controller.run, args=(self._stop,), name="arco-automation", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        """Stop the loop, give the lease back, fold what was appended."""
        self._stop.set()
        self.controller.wake()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.controller.close()
        self.automation.close()
        self._executions.close()

    def __enter__(self) -> AutomationService:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
