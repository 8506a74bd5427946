"""A Batch: reads, checks and writes in one atomic store step (memory and a real
redis-server behave the same)."""

from __future__ import annotations

from gateway.store.base import Store
from gateway.store.batch import Batch


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
