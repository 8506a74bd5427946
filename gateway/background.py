"""The app's long-running background work, started, stopped and watched one way.

OIDC discovery, the retention sweeper and the BBB recording guard's bus loop and
chat worker each run as one task for the life of the app. They are started in a
`cleanup_ctx` with `running(...)` (or `serving(...)` for an adapter's declared
`Service`s, gateway.adapter.Adapter.background), cancelled and awaited on
shutdown, and a task that ends while the app still runs (a crash, or a loop that
returned) turns `/readyz` red (`background_tasks`) and is logged once: a
background job that died silently would leave recordings undeleted or unguarded
while every check stayed green.

A `Service` is also restarted: after a backoff that doubles up to MAX_BACKOFF
(from the first again once it ran STEADY_AFTER seconds), reported down
meanwhile (`/readyz`, and its own `report`, e.g. a metric).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.2
MAX_BACKOFF = 30.0
STEADY_AFTER = 60.0  # a service that ran this long starts its backoff again


def _no_report(down: bool) -> None:
    return None


@dataclass
class Service:
    """A job that runs for the life of the app and is restarted whenever it ends."""

    name: str
    work: Callable[[], Awaitable[None]]
    # Told False each time it (re)starts, True when it went down (a metric, say).
    report: Callable[[bool], None] = _no_report
    first_backoff: float = FIRST_BACKOFF


def failing_step(exc: BaseException, packages: Sequence[str] = ("gateway",)) -> str:
    """The innermost function of the gateway's own code (`packages`) the exception passed
    through. Log lines carry no traceback (gateway/logs.py), so this names where the
    work died: `bbb_hooks.guard_bbb._created`, not just `AttributeError`."""
    step = "unknown"
    for frame, _ in traceback.walk_tb(exc.__traceback__):
        module = str(frame.f_globals.get("__name__", ""))
        if module.split(".")[0] in packages:
            step = f"{module}.{frame.f_code.co_name}"
    return step


class BackgroundTasks:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}
        self._forever: set[str] = set()
        self._down: set[str] = set()  # services between a failure and their restart

    def names(self) -> list[str]:
        """The tasks started and not stopped."""
        return sorted(self._tasks)

    def crashed(self) -> list[str]:
        """The names of tasks that ended while they should still run, and of services
        waiting to be restarted."""
        ended = {name for name, task in self._tasks.items() if task.done() and (
            name in self._forever or task.cancelled() or task.exception() is not None)}
        return sorted(self._down | ended)

    def healthy(self, *names: str) -> bool:
        """Nothing crashed (or, given names, none of these)."""
        crashed = self.crashed()
        return not (set(crashed) & set(names) if names else crashed)

    @contextlib.asynccontextmanager
    async def serving(self, services: Sequence[Service]) -> AsyncIterator[None]:
        """Run every service, restarted when it ends, until the block ends."""
        async with contextlib.AsyncExitStack() as stack:
            for service in services:
                await stack.enter_async_context(self.running(service.name, self._keep(service)))
            yield

    async def _keep(self, service: Service) -> None:
        packages = ("gateway", service.work.__module__.split(".")[0])
        failures = 0
        while True:
            started = time.monotonic()
            self._report(service, False)
            try:
                await service.work()
                log.error("background service ended", extra={"task": service.name})
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error("background service failed", extra={
                    "task": service.name, "reason": type(exc).__name__,
                    "step": failing_step(exc, packages)})
            self._report(service, True)
            failures = 0 if time.monotonic() - started > STEADY_AFTER else failures
            await asyncio.sleep(min(service.first_backoff * 2 ** failures, MAX_BACKOFF))
            failures += 1

    def _report(self, service: Service, down: bool) -> None:
        (self._down.add if down else self._down.discard)(service.name)
        service.report(down)

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
            self._down.discard(name)
            await stop_task(task)

    def _ended(self, task: asyncio.Task[Any]) -> None:
        if task.cancelled() or self._tasks.get(task.get_name()) is not task:
            return  # stopped on purpose
        exc = task.exception()
        if exc is None and task.get_name() not in self._forever:
            return  # finished its work
        log.error("background task ended", extra={
            "event": "background_task_ended", "task": task.get_name(),
            "reason": type(exc).__name__ if exc else "returned"})


RECANCEL_SECONDS = 1.0


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait until it has ended, cancelling again while it has not.

    One cancel() is not always enough: on Python 3.11 an `asyncio.timeout` block
    (redis-py reads sockets inside one) that expires at the moment the cancellation
    arrives turns it into a TimeoutError, which the task's own error handling then
    treats as a failed call and goes back to sleep; shutdown would wait a whole
    interval. A crash was logged when it happened (`_ended`): shutdown goes on.
    """
    task.cancel()
    while not task.done():
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
        if not task.done():
            log.warning("background task ignored a cancellation; cancelling again",
                        extra={"event": "background_task_recancelled", "task": task.get_name()})
            task.cancel()
    await asyncio.gather(task, return_exceptions=True)
