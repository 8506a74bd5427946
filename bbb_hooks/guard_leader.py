"""Leader election for the recording guard: exactly one gateway replica acts on BBB's bus.

Every replica runs `Leadership.run(work)`. The one holding the store lock
(`Store.acquire`, gateway/store.py; key `lock:guard:bbb:leader`) runs `work`:
subscribe, reconcile, listen, act. The others stand by and try again every
`retry_every` seconds. The holder renews every `renew_every` seconds; when it
dies without releasing, its lease runs out after `ttl` seconds and a standby
takes over within `ttl + retry_every`. A clean shutdown releases the lock, so
the takeover then comes within `retry_every`. The new leader's `work` starts
with the reconnect path (reconcile from the API), so a recording that started
while nobody led is still guarded (G10).

Two replicas must never command at once: two different lock restores would
race. akka cannot check a fence, so the guard checks its own deadline before
every publish: `leading()` holds only until `ttl - safety` after the last
successful acquire or renew was *sent*, which is before the store can let
the lease expire. A leader that cannot renew (store gone, process paused)
therefore stops acting before anybody else may start. The lease's fence
number only grows; it is logged on every change of leader.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from gateway.background import failing_step
from gateway.store.base import Lease, Store

log = logging.getLogger(__name__)

LOCK_NAME = "guard:bbb:leader"
OWN_CODE = ("bbb_hooks", "gateway")  # where a failing step is looked for


class Leadership:
    # A 4 s lease renewed every second: a killed leader's recording starts wait for
    # the lease to run out, plus a standby's retry (half a second), plus its reconcile
    # (bench/soak.py measured 6.6-8.5 s with the former 6 s lease, 1 s retry). The leader
    # still has 3 s (ttl - safety) of store trouble before it must stop acting.
    def __init__(self, store: Store, name: str = LOCK_NAME, *, ttl: float = 4.0,
                 renew_every: float = 1.0, retry_every: float = 0.5,
                 safety: float = 1.0) -> None:
        if not 0 < renew_every < ttl - safety:
            raise ValueError("renew_every must be shorter than ttl - safety")
        self.store, self.name, self.ttl = store, name, ttl
        self.renew_every, self.retry_every, self.safety = renew_every, retry_every, safety
        self.lease: Lease | None = None
        self._valid_until = 0.0

    def leading(self) -> bool:
        """True while this replica may act: it holds an unexpired lease."""
        return time.monotonic() < self._valid_until

    async def run(self, work: Callable[[], Awaitable[None]]) -> None:
        """Forever: wait for the lock, run `work` while holding it, stand by when lost."""
        while True:
            lease = await self._acquire()
            log.info("bbb guard leads", extra={"lock": self.name, "fence": lease.fence})
            task = asyncio.create_task(self._work(work), name="bbb-guard-leader")
            try:
                await self._hold(lease, task)
            finally:
                self._valid_until = 0.0
                self.lease = None
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                with contextlib.suppress(RedisError, OSError):
                    await self.store.release(lease)
            log.warning("bbb guard stands by", extra={"lock": self.name, "fence": lease.fence})
            await asyncio.sleep(self.retry_every)

    @staticmethod
    async def _work(work: Callable[[], Awaitable[None]]) -> None:
        await work()

    async def _acquire(self) -> Lease:
        while True:
            sent = time.monotonic()
            lease: Lease | None = None
            with contextlib.suppress(RedisError, OSError):
                lease = await self.store.acquire(self.name, self.ttl)
            if lease is not None:
                self._valid_until = sent + self.ttl - self.safety
                self.lease = lease
                return lease
            await asyncio.sleep(self.retry_every)

    async def _hold(self, lease: Lease, task: asyncio.Task[None]) -> None:
        """Renew until the lease is lost, runs out, or the work ends."""
        while True:
            done, _ = await asyncio.wait({task}, timeout=self.renew_every)
            if done:
                failure = None if task.cancelled() else task.exception()
                if failure is not None:
                    log.error("bbb guard failed while leading", exc_info=failure, extra={
                        "reason": type(failure).__name__, "exception_class": _class_name(failure),
                        "step": failing_step(failure, OWN_CODE)})
                return
            sent = time.monotonic()
            renewed: bool | None = None
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                async with asyncio.timeout(self.renew_every):
                    renewed = await self.store.renew(lease, self.ttl)
            if renewed:
                self._valid_until = sent + self.ttl - self.safety
            elif renewed is False or not self.leading():
                reason = "lease_lost" if renewed is False else "store_unreachable"
                log.warning("bbb guard lost the lead", extra={"reason": reason,
                                                              "fence": lease.fence})
                return


def _class_name(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"
