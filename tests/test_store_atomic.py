"""Read-modify-write without lost updates: the store's compare-and-set (memory and a
real redis-server behave the same) and the update loop built on it."""

from __future__ import annotations

import asyncio
import json

from gateway.store.atomic import update
from gateway.store.base import Store
from gateway.store.redis_store import RedisStore


async def test_set_if_writes_only_over_the_value_read(store: Store) -> None:
    assert await store.set_if("k", None, b"1", 60)  # absent, as expected
    assert not await store.set_if("k", None, b"2", 60)  # no longer absent
    assert not await store.set_if("k", b"0", b"2", 60)
    assert await store.set_if("k", b"1", b"2", None)
    assert await store.get("k") == b"2"


async def test_hset_if_compares_one_field(store: Store) -> None:
    assert not await store.hset_if("h", "status", b"open", {"status": b"done"}, None)
    assert await store.hgetall("h") == {}  # nothing written on a mismatch
    await store.hset("h", {"status": b"open", "other": b"x"}, None)
    assert await store.hset_if("h", "status", b"open", {"status": b"done", "at": b"1"}, 60)
    assert not await store.hset_if("h", "status", b"open", {"status": b"again"}, 60)
    assert await store.hgetall("h") == {"status": b"done", "other": b"x", "at": b"1"}
    assert await store.hset_if("fresh", "status", None, {"status": b"new"}, None)


async def test_concurrent_updates_from_two_replicas_lose_nothing(redis_url: str) -> None:
    """Two gateway replicas (two clients) append to one list at the same time: a plain
    get-then-set loses appends; the compare-and-set loop keeps every one."""
    replicas = [RedisStore.from_url(redis_url, "t"), RedisStore.from_url(redis_url, "t")]

    async def append(store: Store, item: int) -> None:
        def added(raw: bytes | None) -> bytes:
            return json.dumps([*(json.loads(raw) if raw else []), item]).encode()
        await update(store, "list", added, 60)

    try:
        await asyncio.gather(*(append(replicas[i % 2], i) for i in range(40)))
        raw = await replicas[0].get("list")
    finally:
        for replica in replicas:
            await replica.close()
    assert raw is not None and sorted(json.loads(raw)) == list(range(40))
