"""The state store: one interface, an embedded in-memory store and Redis.

Keys are namespaced by the caller-independent prefix and every value that is
not a durable index carries a TTL. The in-memory store is for one node and
for trying the gateway out; it runs the same code paths as Redis.
"""

from __future__ import annotations

import asyncio
import bisect
import builtins
import itertools
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from gateway.clock import Clock, SystemClock


@dataclass(frozen=True, slots=True)
class Lease:
    """A held lock: `token` proves ownership, `fence` only ever grows."""

    name: str
    token: str
    fence: int


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
    async def xadd(self, key: str, fields: Mapping[str, str], min_id_ms: int | None) -> str: ...
    async def xrange(self, key: str, start: str,
                     count: int) -> list[tuple[str, dict[str, str]]]: ...
    async def acquire(self, name: str, ttl: float) -> Lease | None: ...
    async def renew(self, lease: Lease, ttl: float) -> bool: ...
    async def release(self, lease: Lease) -> None: ...


class MemoryStore:
    """The embedded store: a dict with expiry, same semantics as RedisStore."""

    def __init__(self, prefix: str = "pgw", clock: Clock | None = None) -> None:
        self._prefix = prefix
        self._clock = clock or SystemClock()
        self._data: dict[str, object] = {}
        self._expiry: dict[str, float] = {}
        self._seq = itertools.count(1)
        self._lock = asyncio.Lock()

    def _k(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    def _live(self, key: str) -> object | None:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock.time():
            self._data.pop(key, None)
            self._expiry.pop(key, None)
        return self._data.get(key)

    def _put(self, key: str, value: object, ttl: float | None) -> None:
        self._data[key] = value
        if ttl is None:
            self._expiry.pop(key, None)
        else:
            self._expiry[key] = self._clock.time() + ttl

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
        self._data.pop(self._k(key), None)
        self._expiry.pop(self._k(key), None)
        return value if isinstance(value, bytes) else None

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._data.pop(self._k(key), None)
            self._expiry.pop(self._k(key), None)

    def _hash(self, key: str) -> dict[str, bytes]:
        value = self._live(self._k(key))
        return value if isinstance(value, dict) else {}

    async def hset(self, key: str, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        current = dict(self._hash(key))
        current.update(mapping)
        self._put(self._k(key), current, ttl)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        return dict(self._hash(key))

    async def hdel(self, key: str, *fields: str) -> None:
        current = self._hash(key)
        for field in fields:
            current.pop(field, None)

    def _zset(self, key: str) -> _SortedSet:
        value = self._live(self._k(key))
        if not isinstance(value, _SortedSet):
            value = _SortedSet()
            self._data[self._k(key)] = value
        return value

    async def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        zset = self._zset(key)
        for member, score in scores.items():
            zset.add(member, score)

    async def zrem(self, key: str, *members: str) -> None:
        zset = self._zset(key)
        for member in members:
            zset.remove(member)

    async def zscore(self, key: str, member: str) -> float | None:
        return self._zset(key).scores.get(member)

    async def zcard(self, key: str) -> int:
        return len(self._zset(key).scores)

    async def zrange_by_score(self, key: str, low: float, high: float,
                              limit: int) -> list[tuple[str, float]]:
        return self._zset(key).range(low, high, limit)

    def _set(self, key: str) -> builtins.set[str]:
        value = self._live(self._k(key))
        if not isinstance(value, builtins.set):
            value = builtins.set()
            self._data[self._k(key)] = value
        return value

    async def sadd(self, key: str, *members: str) -> None:
        self._set(key).update(members)

    async def srem(self, key: str, *members: str) -> None:
        self._set(key).difference_update(members)

    async def smembers(self, key: str) -> builtins.set[str]:
        return builtins.set(self._set(key))

    def _stream(self, key: str) -> list[tuple[str, dict[str, str]]]:
        value = self._live(self._k(key))
        if not isinstance(value, list):
            value = []
            self._data[self._k(key)] = value
        return value

    async def xadd(self, key: str, fields: Mapping[str, str], min_id_ms: int | None) -> str:
        stream = self._stream(key)
        entry_id = f"{int(self._clock.time() * 1000)}-{next(self._seq)}"
        stream.append((entry_id, dict(fields)))
        if min_id_ms is not None:
            stream[:] = [e for e in stream if _id_ms(e[0]) >= min_id_ms]
        return entry_id

    async def xrange(self, key: str, start: str, count: int) -> list[tuple[str, dict[str, str]]]:
        stream = self._stream(key)
        exclusive = start.startswith("(")
        start_key = _id_key(start.lstrip("(")) if start not in ("-", "(-") else (-1, -1)
        out = [
            (eid, dict(f)) for eid, f in stream
            if (_id_key(eid) > start_key if exclusive else _id_key(eid) >= start_key)
        ]
        return out[:count]

    async def acquire(self, name: str, ttl: float) -> Lease | None:
        async with self._lock:
            key = self._k(f"lock:{name}")
            if self._live(key) is not None:
                return None
            fence_key = self._k(f"fence:{name}")
            fence = int(self._data.get(fence_key, 0)) + 1  # type: ignore[call-overload]
            self._data[fence_key] = fence
            token = secrets.token_hex(16)
            self._put(key, token.encode(), ttl)
            return Lease(name=name, token=token, fence=fence)

    async def renew(self, lease: Lease, ttl: float) -> bool:
        key = self._k(f"lock:{lease.name}")
        if self._live(key) != lease.token.encode():
            return False
        self._put(key, lease.token.encode(), ttl)
        return True

    async def release(self, lease: Lease) -> None:
        key = self._k(f"lock:{lease.name}")
        if self._live(key) == lease.token.encode():
            self._data.pop(key, None)
            self._expiry.pop(key, None)


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
