"""A Batch: reads, checks and writes in one atomic store step (memory and a real
redis-server behave the same)."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import Redis

from gateway.store.base import Store
from gateway.store.batch import Batch
from gateway.store.errors import StoreUnavailable
from gateway.store.redis_store import RedisStore


async def test_a_batch_reads_everything_and_applies_its_writes(store: Store) -> None:
    await store.set("s", b"raw", 60)
    await store.hset("h", {"a": b"1", "b": b"2"}, 60)
    batch = Batch()
    got, missing = batch.get("s"), batch.get("nothing")
    field, no_field = batch.hget("h", "a"), batch.hget("h", "zz")
    whole, empty = batch.hgetall("h"), batch.hgetall("no-hash")
    batch.hset("w", {"x": b"1", "y": b""}, 60)
    batch.set("v", b"value", None)
    assert await store.run_batch(batch)
    assert (got.value, missing.value, field.value, no_field.value) == (b"raw", None, b"1", None)
    assert whole.value == {"a": b"1", "b": b"2"} and empty.value == {}
    assert await store.hgetall("w") == {"x": b"1", "y": b""}
    assert await store.get("v") == b"value"


async def test_writes_only_when_every_checked_read_holds(store: Store) -> None:
    await store.set("session", b"v1", 60)
    await store.hset("room", {"type": b"lesson"}, 60)

    async def attempt(session: bytes | None, room: dict[str, bytes], ack: bytes | None) -> bool:
        batch = Batch()
        batch.get("session", expect=session)
        batch.hgetall("room", expect=room)
        batch.hget("ack", "p", expect=ack)
        batch.hset("out", {"n": b"1"}, 60)
        return await store.run_batch(batch)

    assert not await attempt(b"v0", {"type": b"lesson"}, None)  # the session changed
    assert not await attempt(None, {"type": b"lesson"}, None)  # it exists after all
    assert not await attempt(b"v1", {"type": b"exam"}, None)
    assert not await attempt(b"v1", {"type": b"lesson", "creator": b"x"}, None)
    assert not await attempt(b"v1", {}, None)
    assert not await attempt(b"v1", {"type": b"lesson"}, b"told")
    assert await store.hgetall("out") == {}  # nothing written on any mismatch
    assert await attempt(b"v1", {"type": b"lesson"}, None)
    assert await store.hgetall("out") == {"n": b"1"}

    await store.delete("session")  # ended, e.g. a logout on another replica
    await store.delete("out")
    batch = Batch()
    fresh = batch.get("session", expect=b"v1")
    batch.hset("out", {"n": b"2"}, 60)
    assert not await store.run_batch(batch)
    assert fresh.value is None and await store.hgetall("out") == {}


class _StuckReload:
    """The batch script, whose reload after NOSCRIPT never returns (a Redis that stalls)."""

    def __init__(self, script: Any) -> None:
        self.sha, self.entered = script.sha, asyncio.Event()

    async def __call__(self, keys: Any = None, args: Any = None) -> Any:
        self.entered.set()
        await asyncio.Event().wait()


async def test_a_pipelined_flush_cut_short_fails_its_batches_and_close_ends_it(
        redis_url: str) -> None:
    """Redis lost its scripts; the reload stalls and the flush is cancelled (the store
    closes): every batch waiting in that flush gets a connection error, none hangs."""
    store = RedisStore.from_url(redis_url, "pgw")
    raw = Redis.from_url(redis_url)
    try:
        await store.set("s", b"x", 60)  # connected, the script loaded
        await raw.script_flush()
        stuck = store._batch_script = _StuckReload(store._batch_script)
        batches = [Batch(), Batch()]
        for batch in batches:
            batch.get("s")
        runs = [asyncio.ensure_future(store.run_batch(b)) for b in batches]  # one pipeline
        await stuck.entered.wait()
        await store.close()
        async with asyncio.timeout(5):  # only so a regression fails instead of hanging
            results = await asyncio.gather(*runs, return_exceptions=True)
        assert all(isinstance(r, StoreUnavailable) for r in results), results
        assert not store._flushing
    finally:
        await raw.aclose()
