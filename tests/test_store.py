"""The store: the embedded memory store and Redis behave the same (real redis-server)."""

from __future__ import annotations

from redis.asyncio import Redis

from gateway.clock import ManualClock
from gateway.store.base import MemoryStore, Store
from gateway.store.redis_store import RedisStore


async def test_values_and_single_use(store: Store) -> None:
    assert await store.ping()
    await store.set("a", b"1", 60)
    assert await store.get("a") == b"1"
    assert await store.set_nx("a", b"2", 60) is False
    assert await store.take("a") == b"1"
    assert await store.take("a") is None  # single use: a replay finds nothing
    assert await store.set_nx("a", b"3", 60) is True
    await store.delete("a")
    assert await store.get("a") is None


async def test_hashes_sets_and_sorted_sets(store: Store) -> None:
    await store.hset("h", {"x": b"1", "y": b"2"}, 60)
    await store.hdel("h", "y")
    assert await store.hgetall("h") == {"x": b"1"}
    await store.sadd("s", "a", "b")
    await store.srem("s", "a")
    assert await store.smembers("s") == {"b"}
    await store.zadd("z", {f"r{i}": float(i) for i in range(10)})
    await store.zadd("z", {"r3": 100.0})
    await store.zrem("z", "r4")
    assert await store.zrange_by_score("z", 0, 5, 3) == [("r0", 0.0), ("r1", 1.0), ("r2", 2.0)]
    assert await store.zrange_by_score("z", 2, 6, 10) == [("r2", 2.0), ("r5", 5.0), ("r6", 6.0)]
    assert await store.zscore("z", "r3") == 100.0
    assert await store.zscore("z", "gone") is None
    assert await store.zcard("z") == 9


async def test_streams_keep_order_and_page(store: Store) -> None:
    ids = [await store.xadd("log", {"n": str(i)}, None) for i in range(5)]
    first = await store.xrange("log", "-", 2)
    assert [f["n"] for _, f in first] == ["0", "1"]
    rest = await store.xrange("log", "(" + first[-1][0], 10)
    assert [f["n"] for _, f in rest] == ["2", "3", "4"]
    assert [i for i, _ in first + rest] == ids


async def test_locks_are_exclusive_and_fenced(store: Store) -> None:
    lease = await store.acquire("sweeper", 30)
    assert lease is not None
    assert await store.acquire("sweeper", 30) is None  # one holder at a time
    assert await store.renew(lease, 30)
    await store.release(lease)
    second = await store.acquire("sweeper", 30)
    assert second is not None and second.fence > lease.fence
    assert not await store.renew(lease, 30)  # a stale holder cannot renew


async def test_memory_store_expires_with_the_clock() -> None:
    clock = ManualClock()
    store = MemoryStore("t", clock)
    await store.set("k", b"v", 10)
    lease = await store.acquire("l", 5)
    clock.advance(11)
    assert await store.get("k") is None
    assert lease is not None and await store.acquire("l", 5) is not None


async def test_redis_keys_are_namespaced_with_ttl(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, "school1")
    await store.set("session:abc", b"x", 100)
    client = Redis.from_url(redis_url)
    assert await client.keys("*") == [b"school1:session:abc"]
    assert 0 < await client.ttl("school1:session:abc") <= 100
    await client.aclose()
    await store.close()


async def test_hash_writes_add_fields(store: Store) -> None:
    await store.hset("room", {"type": b"lesson"}, 60)
    await store.hset("room", {"purpose": b"lecture"}, None)  # adds a field, keeps the TTL
    assert await store.hgetall("room") == {"type": b"lesson", "purpose": b"lecture"}


async def test_redis_hash_writes_set_fields_and_ttl_atomically(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, "t")
    await store.hset("h", {"a": b"1", "b": b"\x00\xff"}, 100)
    await store.hset("h", {"c": b"3"}, None)
    client = Redis.from_url(redis_url)
    assert await client.hgetall("t:h") == {b"a": b"1", b"b": b"\x00\xff", b"c": b"3"}
    assert 0 < await client.ttl("t:h") <= 100  # None kept the TTL the first write set
    await client.aclose()
    await store.close()


async def test_emptied_containers_disappear_as_in_redis(store: Store) -> None:
    """A key whose last member was removed is gone: it can be claimed again."""
    await store.sadd("s", "a")
    await store.srem("s", "a")
    await store.zadd("z", {"a": 1.0})
    await store.zrem("z", "a")
    await store.hset("h", {"a": b"1"}, 60)
    await store.hdel("h", "a")
    for key in ("s", "z", "h"):
        assert await store.set_nx(key, b"claimed", 60), key


async def test_reads_of_missing_keys_create_nothing(store: Store) -> None:
    assert await store.smembers("nothing-s") == set()
    assert await store.zrange_by_score("nothing-z", 0, 10, 5) == []
    assert await store.zcard("nothing-z") == 0 and await store.zscore("nothing-z", "m") is None
    assert await store.hgetall("nothing-h") == {}
    assert await store.xrange("nothing-x", "-", 5) == []
    for key in ("nothing-s", "nothing-z", "nothing-h", "nothing-x"):
        assert await store.set_nx(key, b"free", 60), key


async def test_streams_are_trimmed_from_the_front(store: Store) -> None:
    ids = [await store.xadd("log", {"n": str(i)}, None) for i in range(6)]
    cut = int(ids[3].split("-")[0])
    kept = [i for i in ids if int(i.split("-")[0]) >= cut]
    last = await store.xadd("log", {"n": "6"}, cut)
    assert [i for i, _ in await store.xrange("log", "-", 100)] == [*kept, last]
    after = await store.xrange("log", "(" + kept[0], 100)
    assert [i for i, _ in after] == [*kept[1:], last]


async def test_memory_store_frees_expired_keys_nobody_reads_again() -> None:
    """Abandoned login states, sessions and nonces do not pile up in memory."""
    clock = ManualClock()
    store = MemoryStore("t", clock)
    for i in range(1000):
        await store.set(f"login:{i}", b"state", 600)
        await store.hset(f"session:{i}", {"s": b"1"}, 3600)
    await store.set("durable", b"kept", None)
    clock.advance(3601)
    await store.set("one-more-write", b"x", 10)
    assert store.key_count() == 2  # the durable key and the new one


async def test_memory_store_keeps_a_key_rewritten_with_a_longer_ttl() -> None:
    clock = ManualClock()
    store = MemoryStore("t", clock)
    await store.set("session", b"1", 10)
    await store.set("session", b"2", 100)  # renewed: the old deadline must not remove it
    clock.advance(11)
    await store.set("other", b"x", None)
    assert await store.get("session") == b"2"
