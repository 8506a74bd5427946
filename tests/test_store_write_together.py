"""`hset_and_set`: a hash and further keys written together, one round trip in Redis.

A BBB create writes its meeting record and the internal-id index this way
(bbb_hooks.meetings.save_meeting); both stores must leave the same keys, values
and TTLs as `hset` and `set` one after the other.
"""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.clock import ManualClock
from gateway.store.base import MemoryStore, Store
from gateway.store.errors import StoreUnavailable
from gateway.store.redis_store import RedisStore


async def test_the_hash_and_the_keys_are_all_written(store: Store) -> None:
    await store.hset_and_set("h", {"a": b"1", "b": b"\x00\xff"}, 60,
                             {"k1": b"v1", "k2": b""})
    assert await store.hgetall("h") == {"a": b"1", "b": b"\x00\xff"}
    assert await store.get("k1") == b"v1" and await store.get("k2") == b""
    await store.hset_and_set("h", {"c": b"3"}, 60, {})  # no further keys: the hash only
    assert await store.hgetall("h") == {"a": b"1", "b": b"\x00\xff", "c": b"3"}


async def test_redis_sets_the_ttl_on_every_key(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, "t")
    await store.set("k1", b"old", None)  # no TTL before: the write gives it one
    await store.hset_and_set("h", {"a": b"1"}, 100, {"k1": b"v1"})
    client = Redis.from_url(redis_url)
    assert 0 < await client.pttl("t:h") <= 100_000
    assert 0 < await client.pttl("t:k1") <= 100_000
    assert await client.get("t:k1") == b"v1"
    await client.aclose()
    await store.close()


async def test_memory_store_expires_them_together() -> None:
    clock = ManualClock()
    store = MemoryStore("t", clock)
    await store.hset_and_set("h", {"a": b"1"}, 10, {"k": b"v"})
    clock.advance(9)
    assert await store.hgetall("h") and await store.get("k") == b"v"
    clock.advance(2)
    assert await store.hgetall("h") == {} and await store.get("k") is None


async def test_many_writes_in_one_round_trip(store: Store) -> None:
    writes = [(f"h{i}", {"n": str(i).encode()}, 60.0, {f"k{i}": b"v"}) for i in range(5)]
    assert await store.hset_and_set_many(writes) == [None] * 5
    for i in range(5):
        assert await store.hgetall(f"h{i}") == {"n": str(i).encode()}
        assert await store.get(f"k{i}") == b"v"


async def test_a_write_redis_refuses_fails_alone(redis_url: str) -> None:
    """Each write is atomic by itself: one that Redis refuses (here a key of the wrong
    type) is StoreUnavailable in its place, the others are done."""
    store = RedisStore.from_url(redis_url, "t")
    await store.sadd("h1", "a set, not a hash")
    results = await store.hset_and_set_many([
        ("h0", {"a": b"0"}, 60.0, {"k0": b"v"}),
        ("h1", {"a": b"1"}, 60.0, {}),
        ("h2", {"a": b"2"}, 60.0, {"k2": b"v"})])
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StoreUnavailable)
    assert await store.hgetall("h2") == {"a": b"2"} and await store.get("k2") == b"v"
    await store.close()
