"""The state store: one interface, an embedded in-memory store and Redis.

Keys are namespaced by the caller-independent prefix and every value that is
not a durable index carries a TTL. The in-memory store is for one node and
for trying the gateway out; it runs the same code paths as Redis.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import heapq
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from gateway.clock import Clock, SystemClock
from gateway.store.batch import Batch, matches
from gateway.store.errors import StoreUnavailable


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: `token` proves ownership, `fence` only ever grows.

    The fence is max(previous + 1, the acquisition time in ms): a store that lost
    its fence counter (Redis flushed or replaced) starts again above every fence
    handed out before, so an old holder can never pass for the newest.
    """

    name: str
    token: str
    fence: int


@dataclass(frozen=True, slots=True)
class LeaseInfo:
    """Who holds a lock and for how much longer (for operators; no personal data)."""

    holder: str
    expires_in: float


def lease_value(token: str, holder: str) -> str:
    """The lock's stored value: the token first, then the holder's name."""
    return f"{token} {holder}" if holder else token


def parse_lease_value(value: bytes) -> str:
    _, _, holder = value.decode(errors="replace").partition(" ")
    return holder or "unknown"


# One hset_and_set: (hash key, its fields, TTL in seconds, further keys and values).
HashWrite = tuple[str, Mapping[str, bytes], float, Mapping[str, bytes]]


class Store(Protocol):
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: float | None) -> None: ...
    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool: ...
    async def take(self, key: str) -> bytes | None: ...
    async def delete(self, *keys: str) -> None: ...
    async def hset(self, key: str, mapping: Mapping[str, bytes], ttl: float | None) -> None: ...
    async def hgetall(self, key: str) -> dict[str, bytes]: ...
    # hset(key, mapping, ttl) and set(k, v, ttl) for each of `keys`, in one round trip.
    async def hset_and_set(self, key: str, mapping: Mapping[str, bytes], ttl: float,
                           keys: Mapping[str, bytes]) -> None: ...
    # Several hset_and_set in one round trip; per write None (done) or the error it met.
    async def hset_and_set_many(
            self, writes: Sequence[HashWrite]) -> list[StoreUnavailable | None]: ...
    async def hdel(self, key: str, *fields: str) -> None: ...
    async def zadd(self, key: str, scores: Mapping[str, float]) -> None: ...
    async def zrem(self, key: str, *members: str) -> None: ...
    async def zscore(self, key: str, member: str) -> float | None: ...
    async def zcard(self, key: str) -> int: ...
    async def zrange_by_score(self, key: str, low: float, high: float,
                              limit: int) -> list[tuple[str, float]]: ...
    async def sadd(self, key: str, *members: str) -> None: ...
    async def srem(self, key: str, *members: str) -> None: ...
    async def smembers(self, key: str) -> builtins.set[str]: ...
    async def expire(self, key: str, ttl: float) -> None: ...
    async def xadd(self, key: str, fields: Mapping[str, str], min_id_ms: int | None) -> str: ...
    async def xrange(self, key: str, start: str,
                     count: int) -> list[tuple[str, dict[str, str]]]: ...
    async def hincrby(self, key: str, field: str, amount: int) -> int: ...
    # Compare-and-set (None: absent); True when written. See gateway/store/atomic.py.
    async def set_if(self, key: str, expected: bytes | None, value: bytes,
                     ttl: float | None) -> bool: ...
    async def hset_if(self, key: str, field: str, expected: bytes | None,
                      mapping: Mapping[str, bytes], ttl: float | None) -> bool: ...
    # Reads, checks and writes in one atomic step; True when the writes were applied
    # (gateway/store/batch.py).
    async def run_batch(self, batch: Batch) -> bool: ...
    async def acquire(self, name: str, ttl: float, holder: str = "") -> Lease | None: ...
    async def lease_info(self, name: str) -> LeaseInfo | None: ...
    async def renew(self, lease: Lease, ttl: float) -> bool: ...
    async def release(self, lease: Lease) -> None: ...


class MemoryStore:
    """The embedded store: a dict with expiry, same semantics as RedisStore.

    Expired keys are freed without being read: each write with a TTL pushes
    (deadline, key) on a heap and every write pops what has expired, so
    abandoned login states, sessions and nonces do not pile up (amortised
    O(log n) per write). Reads never create keys, and a hash, set or sorted set
    that becomes empty disappears, as in Redis.
    """

    def __init__(self, prefix: str = "pgw", clock: Clock | None = None) -> None:
        self._prefix = prefix
        self._clock = clock or SystemClock()
        self._data: dict[str, object] = {}
        self._expiry: dict[str, float] = {}
        self._deadlines: list[tuple[float, str]] = []  # a heap; stale entries are skipped
        self._seq = itertools.count(1)
        self._last_ms = 0
        self._lock = asyncio.Lock()

    def key_count(self) -> int:
        """Keys held now (expired ones included until the next write frees them).

        Deliberately not __len__: an empty store must still be truthy.
        """
        return len(self._data)

    def _k(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def _live(self, key: str) -> object | None:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock.time():
            self._drop(key)
        return self._data.get(key)

    def _drop(self, key: str) -> None:
        self._data.pop(key, None)
        self._expiry.pop(key, None)

    def _put(self, key: str, value: object, ttl: float | None) -> None:
        self._purge_expired()
        self._data[key] = value
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            deadline = self._clock.time() + ttl
            self._expiry[key] = deadline
            heapq.heappush(self._deadlines, (deadline, key))
            if len(self._deadlines) > 64 + 2 * len(self._expiry):  # many rewrites: compact
                self._deadlines = [(d, k) for k, d in self._expiry.items()]
                heapq.heapify(self._deadlines)

    def _purge_expired(self) -> None:
        now = self._clock.time()
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, key = heapq.heappop(self._deadlines)
            if self._expiry.get(key) == deadline:  # not re-set with another TTL since
                self._drop(key)

    def _container(self, key: str, kind: type[_C]) -> _C | None:
        value = self._live(self._k(key))
        return value if isinstance(value, kind) else None

    def _create(self, key: str, kind: type[_C]) -> _C:
        """The container to write into, created on the first write (keeping a TTL)."""
        value = self._container(key, kind)
        if value is None:
            self._purge_expired()
            value = kind()
            self._data[self._k(key)] = value
            self._expiry.pop(self._k(key), None)
        return value

    def _drop_if_empty(self, key: str, value: object) -> None:
        if not value:
            self._drop(self._k(key))

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        return None

    async def get(self, key: str) -> bytes | None:
        value = self._live(self._k(key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._put(self._k(key), value, ttl)

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        if self._live(self._k(key)) is not None:
            return False
        self._put(self._k(key), value, ttl)
        return True

    async def take(self, key: str) -> bytes | None:
        value = self._live(self._k(key))
        self._drop(self._k(key))
        return value if isinstance(value, bytes) else None

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._drop(self._k(key))

    async def hset(self, key: str, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        current = self._container(key, dict)
        if ttl is None and current is not None:
            current.update(mapping)  # keeps the key's TTL, as the Redis script does
            return
        updated = dict(current or {})
        updated.update(mapping)
        if ttl is None:
            self._put(self._k(key), updated, None)
        else:
            self._put(self._k(key), updated, ttl)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return dict(self._container(key, dict) or {})

    async def hset_and_set(self, key: str, mapping: Mapping[str, bytes], ttl: float,
                           keys: Mapping[str, bytes]) -> None:
        """hset(key, mapping, ttl) and set(k, v, ttl) for each of `keys`, together."""
        await self.hset(key, mapping, ttl)
        for name, value in keys.items():
            await self.set(name, value, ttl)

    async def hset_and_set_many(
            self, writes: Sequence[HashWrite]) -> list[StoreUnavailable | None]:
        for key, mapping, ttl, keys in writes:
            await self.hset_and_set(key, mapping, ttl, keys)
        return [None] * len(writes)

    async def hdel(self, key: str, *fields: str) -> None:
        current = self._container(key, dict)
        if current is not None:
            for field in fields:
                current.pop(field, None)
            self._drop_if_empty(key, current)

    async def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        if scores:
            zset = self._create(key, _SortedSet)
            for member, score in scores.items():
                zset.add(member, score)

    async def zrem(self, key: str, *members: str) -> None:
        zset = self._container(key, _SortedSet)
        if zset is not None:
            for member in members:
                zset.remove(member)
            self._drop_if_empty(key, zset.scores)

    async def zscore(self, key: str, member: str) -> float | None:
        zset = self._container(key, _SortedSet)
        return zset.scores.get(member) if zset is not None else None

    async def zcard(self, key: str) -> int:
        zset = self._container(key, _SortedSet)
        return len(zset.scores) if zset is not None else 0

    async def zrange_by_score(self, key: str, low: float, high: float,
                              limit: int) -> list[tuple[str, float]]:
        zset = self._container(key, _SortedSet)
        return zset.range(low, high, limit) if zset is not None else []

    async def sadd(self, key: str, *members: str) -> None:
        if members:
            self._create(key, builtins.set).update(members)

    async def srem(self, key: str, *members: str) -> None:
        current = self._container(key, builtins.set)
        if current is not None:
            current.difference_update(members)
            self._drop_if_empty(key, current)

    async def smembers(self, key: str) -> builtins.set[str]:
        return builtins.set(self._container(key, builtins.set) or ())

    async def expire(self, key: str, ttl: float) -> None:
        """(Re)set an existing key's TTL; a missing key stays missing."""
        value = self._live(self._k(key))
        if value is not None:
            self._put(self._k(key), value, ttl)

    async def xadd(self, key: str, fields: Mapping[str, str], min_id_ms: int | None) -> str:
        stream = self._create(key, _Stream)
        # Ids only grow, as in Redis, even if the clock steps back.
        self._last_ms = max(self._last_ms, int(self._clock.time() * 1000))
        entry_id = f"{self._last_ms}-{next(self._seq)}"
        stream.append(entry_id, dict(fields))
        if min_id_ms is not None:
            stream.trim_before((min_id_ms, 0))
        return entry_id

    async def xrange(self, key: str, start: str, count: int) -> list[tuple[str, dict[str, str]]]:
        stream = self._container(key, _Stream)
        if stream is None:
            return []
        exclusive = start.startswith("(")
        start_key = _id_key(start.lstrip("(")) if start not in ("-", "(-") else (-1, -1)
        return stream.read_from(start_key, exclusive, count)

    async def hincrby(self, key: str, field: str, amount: int) -> int:
        current = self._create(key, dict)
        value = int(current.get(field, b"0")) + amount
        current[field] = str(value).encode()
        return value

    async def set_if(self, key: str, expected: bytes | None, value: bytes,
                     ttl: float | None) -> bool:
        current = self._live(self._k(key))  # no await in between: atomic on the loop
        if current != expected:
            return False
        self._put(self._k(key), value, ttl)
        return True

    async def hset_if(self, key: str, field: str, expected: bytes | None,
                      mapping: Mapping[str, bytes], ttl: float | None) -> bool:
        current = self._container(key, dict)
        if (current or {}).get(field) != expected:
            return False
        await self.hset(key, mapping, ttl)
        return True

    async def run_batch(self, batch: Batch) -> bool:
        # The methods below never suspend: the whole batch is one step on the loop.
        applied = True
        for read in batch.reads:
            value: bytes | dict[str, bytes] | None
            if read.op == "get":
                value = await self.get(read.key)
            elif read.op == "hget":
                value = (await self.hgetall(read.key)).get(read.field or "")
            else:
                value = await self.hgetall(read.key)
            read.slot.value = value
            applied = applied and matches(read, value)
        if applied:
            for write in batch.writes:
                if write.op == "set":
                    await self.set(write.key, write.mapping[""], write.ttl)
                else:
                    await self.hset(write.key, write.mapping, write.ttl)
        return applied

    async def acquire(self, name: str, ttl: float, holder: str = "") -> Lease | None:
        async with self._lock:
            key = self._k(f"lock:{name}")
            if self._live(key) is not None:
                return None
            fence_key = self._k(f"fence:{name}")
            fence = max(int(self._data.get(fence_key, 0)) + 1,  # type: ignore[call-overload]
                        int(self._clock.time() * 1000))
            self._data[fence_key] = fence
            token = lease_value(secrets.token_hex(16), holder)
            self._put(key, token.encode(), ttl)
            return Lease(name=name, token=token, fence=fence)

    async def lease_info(self, name: str) -> LeaseInfo | None:
        key = self._k(f"lock:{name}")
        value = self._live(key)
        if not isinstance(value, bytes):
            return None
        deadline = self._expiry.get(key)
        left = deadline - self._clock.time() if deadline is not None else 0.0
        return LeaseInfo(parse_lease_value(value), max(0.0, left))

    async def renew(self, lease: Lease, ttl: float) -> bool:
        key = self._k(f"lock:{lease.name}")
        if self._live(key) != lease.token.encode():
            return False
        self._put(key, lease.token.encode(), ttl)
        return True

    async def release(self, lease: Lease) -> None:
        key = self._k(f"lock:{lease.name}")
        if self._live(key) == lease.token.encode():
            self._drop(key)


_C = TypeVar("_C", dict[str, bytes], builtins.set[str], "_SortedSet", "_Stream")


class _Stream:
    """Entries in id order; trimmed from the front in O(trimmed), read by bisection."""

    def __init__(self) -> None:
        self._ids: list[tuple[int, int]] = []
        self._entries: list[tuple[str, dict[str, str]]] = []
        self._head = 0  # entries before it are trimmed; compacted now and then

    def append(self, entry_id: str, fields: dict[str, str]) -> None:
        self._ids.append(_id_key(entry_id))
        self._entries.append((entry_id, fields))

    def trim_before(self, first_kept: tuple[int, int]) -> None:
        self._head = max(self._head, bisect.bisect_left(self._ids, first_kept, lo=self._head))
        if self._head > 1024 and self._head * 2 > len(self._ids):
            del self._ids[:self._head], self._entries[:self._head]
            self._head = 0

    def read_from(self, start: tuple[int, int], exclusive: bool,
                  count: int) -> list[tuple[str, dict[str, str]]]:
        find = bisect.bisect_right if exclusive else bisect.bisect_left
        first = find(self._ids, start, lo=self._head)
        return [(eid, dict(f)) for eid, f in self._entries[first:first + count]]


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _id_ms(entry_id: str) -> int:
    return _id_key(entry_id)[0]


class _SortedSet:
    """Members ordered by score: O(log n) updates, O(k) range reads."""

    def __init__(self) -> None:
        self.scores: dict[str, float] = {}
        self._order: list[tuple[float, str]] = []

    def add(self, member: str, score: float) -> None:
        self.remove(member)
        self.scores[member] = score
        bisect.insort(self._order, (score, member))

    def remove(self, member: str) -> None:
        score = self.scores.pop(member, None)
        if score is not None:
            index = bisect.bisect_left(self._order, (score, member))
            del self._order[index]

    def range(self, low: float, high: float, limit: int) -> list[tuple[str, float]]:
        start = bisect.bisect_left(self._order, (low, ""))
        out: list[tuple[str, float]] = []
        for score, member in self._order[start:]:
            if score > high or len(out) >= limit:
                break
            out.append((member, score))
        return out


def as_pairs(items: Sequence[tuple[bytes | str, float]]) -> list[tuple[str, float]]:
    return [(m.decode() if isinstance(m, bytes) else m, float(s)) for m, s in items]
