"""Supervision of the guard's background tasks (the bus loop, the chat worker).

A task that ends with an error is logged once, reported down
(`privacy_gateway_guard_task_down{task}` = 1, and `/readyz` through
`Supervisor.healthy`), and started again after a backoff that doubles up to
`MAX_BACKOFF`; it is reported up again as soon as it runs. A guard task that
died silently would leave recordings unguarded (G8, G10) while every health
check stayed green.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from bbb_hooks.guard_leader import failing_step
from gateway.metrics import Metrics

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.2
MAX_BACKOFF = 30.0
STEADY_AFTER = 60.0  # a task that ran this long starts its backoff again


class Supervisor:
    def __init__(self, metrics: Metrics, *, first_backoff: float = FIRST_BACKOFF) -> None:
        self.metrics, self.first_backoff = metrics, first_backoff
        self.down: set[str] = set()

    def healthy(self) -> bool:
        return not self.down

    def _report(self, task: str, down: bool) -> None:
        (self.down.add if down else self.down.discard)(task)
        self.metrics.guard_task_down.labels(task=task).set(1 if down else 0)

    async def keep(self, task: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` forever: restarted with backoff whenever it ends."""
        failures = 0
        while True:
            started = time.monotonic()
            self._report(task, False)
            try:
                await work()
                log.error("bbb guard task ended", extra={"task": task})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("bbb guard task failed", extra={
                    "task": task, "reason": type(exc).__name__, "step": failing_step(exc)})
            self._report(task, True)
            self.metrics.guard_task_restarts.labels(task=task).inc()
            failures = 0 if time.monotonic() - started > STEADY_AFTER else failures
            await asyncio.sleep(min(self.first_backoff * 2 ** failures, MAX_BACKOFF))
            failures += 1
