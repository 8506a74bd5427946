"""The app's long-running background work, started, stopped and watched one way.

OIDC discovery, the retention sweeper and the BBB recording guard each run as
one task for the life of the app. They are started in a `cleanup_ctx` with
`running(...)`, cancelled and awaited on shutdown, and a task that ends while
the app still runs (a crash, or a loop that returned) turns `/readyz` red
(`background_tasks`) and is logged once: a background job that died silently
would leave recordings undeleted or unguarded while every check stayed green.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any

log = logging.getLogger(__name__)


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._forever: set[str] = set()

    def names(self) -> list[str]:
        """The tasks started and not stopped."""
        return sorted(self._tasks)

    def crashed(self) -> list[str]:
        """The names of tasks that ended while they should still run."""
        return sorted(name for name, task in self._tasks.items() if task.done() and (
            name in self._forever or task.cancelled() or task.exception() is not None))

    def healthy(self) -> bool:
        return not self.crashed()

    @contextlib.asynccontextmanager
    async def running(self, name: str, work: Coroutine[Any, Any, Any], *,
                      forever: bool = True) -> AsyncIterator[asyncio.Task[Any]]:
        """Run `work` as the task `name` until the block ends; then cancel and await it.

        `forever=False`: work that may finish (discovery); only an error is a crash."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._ended)
        self._tasks[name] = task
        if forever:
            self._forever.add(name)
        try:
            yield task
        finally:
            del self._tasks[name]
            self._forever.discard(name)
            task.cancel()
            # A crash was logged when it happened (_ended): shutdown goes on.
            await asyncio.gather(task, return_exceptions=True)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self._tasks.get(task.get_name()) is not task:
            return  # stopped on purpose
        exc = task.exception()
        if exc is None and task.get_name() not in self._forever:
            return  # finished its work
        log.error("background task ended", extra={
            "event": "background_task_ended", "task": task.get_name(),
            "reason": type(exc).__name__ if exc else "returned"})
