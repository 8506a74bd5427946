"""Read-modify-write through the store without lost updates.

Two replicas (or two tasks) that read a value, change it and write it back
can each overwrite the other's change. `update` writes only if the value is
still what was read (the store's compare-and-set: one Lua script on Redis, a
step without await in memory) and otherwise reads again and retries.

A compare-and-set whose reply is lost after Redis applied it (a restart, a cut
connection) is sent again by the client; it then answers "written" from its own
record instead of "changed meanwhile", so the change is not applied a second
time (gateway/store/redis_store.py, tests/test_store_lost_reply.py).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from gateway.store.base import Store
from gateway.store.errors import StoreUnavailable

MAX_ATTEMPTS = 64  # each lost round means another writer succeeded: progress is made
BACKOFF_SECONDS = 0.002  # after a lost round, a random pause of up to this, doubling


class Contended(StoreUnavailable):
    """Too many writers changed the key in between, every time: try again later."""

    reason = "store_contended"


async def update(store: Store, key: str, change: Callable[[bytes | None], bytes],
                 ttl: float | None) -> bytes:
    """Write `change(current)` over the current value atomically; the value written."""
    for attempt in range(MAX_ATTEMPTS):
        current = await store.get(key)
        value = change(current)
        if await store.set_if(key, current, value, ttl):  # the TTL renewed, as set() would
            return value
        # Many writers at once: spread the retries out instead of colliding again.
        await asyncio.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** min(attempt, 6)))  # noqa: S311
    raise Contended("contended")
