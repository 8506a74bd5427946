"""The recording guard's two background services: the bus loop and the chat worker.

They run on the app's shared base (gateway.background: restarted with backoff,
`/readyz` red while one is down), declared through the adapter
(bbb_hooks.adapter, `Adapter.background`). Each is also reported in
`privacy_gateway_guard_task_down{task}` (1 while down) and
`privacy_gateway_guard_task_restarts{task}`: a guard task that died silently
would leave recordings unguarded (G8, G10) while every check stayed green.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from gateway.background import BackgroundTasks, Service
from gateway.metrics import Metrics

CHAT = "bbb-guard-chat"
BUS = "bbb-guard-bus"


def _reporter(metrics: Metrics, task: str) -> Callable[[bool], None]:
    down_gauge = metrics.guard_task_down.labels(task=task)
    restarts = metrics.guard_task_restarts.labels(task=task)

    def report(down: bool) -> None:
        down_gauge.set(1 if down else 0)
        if down:  # every failure is followed by a restart
            restarts.inc()
    return report


def guard_services(metrics: Metrics, *, chat: Callable[[], Awaitable[None]],
                   bus: Callable[[], Awaitable[None]]) -> tuple[Service, Service]:
    return (Service(CHAT, chat, report=_reporter(metrics, "chat")),
            Service(BUS, bus, report=_reporter(metrics, "bus")))


async def run_alone(services: Sequence[Service]) -> None:
    """The services on a base of their own until cancelled (tests, bench/guard_bus.py)."""
    async with BackgroundTasks().serving(services):
        await asyncio.Event().wait()
