"""The Redis implementation of the store (redis.asyncio), namespaced keys."""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.store.base import (
    HashWrite,
    Lease,
    LeaseInfo,
    as_pairs,
    lease_value,
    parse_lease_value,
)
from gateway.store.errors import StoreUnavailable, translate_errors
from gateway.store.redis_urls import redis_client

# Release and renew only when the caller still owns the lock (token check).
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('del', KEYS[1]) end return 0"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)

# HSET then PEXPIRE (ARGV[1] = ttl in ms, or "" to keep the key's TTL), atomically.
_HSET = (
    "if #ARGV > 1 then redis.call('hset', KEYS[1], unpack(ARGV, 2)) end "
    "if ARGV[1] ~= '' then redis.call('pexpire', KEYS[1], ARGV[1]) end return 1"
)

# Take the lock, then the next fence: max(counter + 1, now in ms), atomically. The
# floor keeps fences growing when the counter was lost with the rest of Redis.
_ACQUIRE = (
    "if not redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return false end "
    "local fence = redis.call('incr', KEYS[2]) "
    "local floor = tonumber(ARGV[3]) "
    "if fence < floor then redis.call('set', KEYS[2], ARGV[3]) fence = floor end "
    "return fence"
)

# Compare-and-set: ARGV[1] "1" when a current value is expected (ARGV[2]), "0" when
# the key must be absent; ARGV[4] a TTL in ms or "" for none.
_SET_IF = (
    "local cur = redis.call('get', KEYS[1]) "
    "if ARGV[1] == '0' then if cur then return 0 end elseif cur ~= ARGV[2] then return 0 end "
    "if ARGV[4] == '' then redis.call('set', KEYS[1], ARGV[3]) "
    "else redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4]) end return 1"
)
# The same on one hash field (ARGV[1] the field, then as above), then HSET as _HSET.
_HSET_IF = (
    "local cur = redis.call('hget', KEYS[1], ARGV[1]) "
    "if ARGV[2] == '0' then if cur then return 0 end elseif cur ~= ARGV[3] then return 0 end "
    "if #ARGV > 4 then redis.call('hset', KEYS[1], unpack(ARGV, 5)) end "
    "if ARGV[4] ~= '' then redis.call('pexpire', KEYS[1], ARGV[4]) end return 1"
)

# _HSET with a TTL, then SET ... PX of each further key (KEYS[2..], ARGV[2..#KEYS]) with
# the same TTL; the hash's fields follow (ARGV[#KEYS+1..]). One round trip (a BBB create).
_HSET_AND_SET = (
    "local n = #KEYS "
    "if #ARGV > n then redis.call('hset', KEYS[1], unpack(ARGV, n + 1)) end "
    "redis.call('pexpire', KEYS[1], ARGV[1]) "
    "for i = 2, n do redis.call('set', KEYS[i], ARGV[i], 'PX', ARGV[1]) end return 1"
)

MAX_CONNECTIONS = 1024  # per gateway process; redis-server allows 10,000 clients


@translate_errors  # callers see StoreUnavailable, never Redis's exceptions
class RedisStore:
    def __init__(self, client: Redis, prefix: str = "pgw") -> None:
        # redis-py's command signatures are loosely typed; the wrapper is the typed boundary.
        self._r: Any = client
        self._prefix = prefix
        self._hset_script: Any = client.register_script(_HSET)
        self._set_if_script: Any = client.register_script(_SET_IF)
        self._hset_if_script: Any = client.register_script(_HSET_IF)
        self._hset_and_set_script: Any = client.register_script(_HSET_AND_SET)

    @classmethod
    def from_url(cls, url: str, prefix: str = "pgw") -> RedisStore:
        # redis-py's pool fails a command with MaxConnectionsError once this many
        # are in use (its default, 100, failed 200 concurrent BBB creates). Its
        # BlockingConnectionPool would queue instead but costs ~100 µs per command.
        # redis://, rediss:// (TLS), ACL users, redis+sentinel:// (gateway.store.redis_urls).
        client = redis_client(url, max_connections=MAX_CONNECTIONS, socket_timeout=5,
                              socket_connect_timeout=5, health_check_interval=30)
        return cls(client, prefix)

    def _k(self, key: str) -> str:
        return f"{self._prefix}:{key}"

    async def ping(self) -> bool:
        try:
            return bool(await self._r.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._r.aclose()

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._r.get(self._k(key))
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is None:
            await self._r.set(self._k(key), value)
        else:
            await self._r.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._r.set(self._k(key), value, px=max(1, int(ttl * 1000)), nx=True))

    async def take(self, key: str) -> bytes | None:
        value: bytes | None = await self._r.getdel(self._k(key))
        return value

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._r.delete(*(self._k(k) for k in keys))

    async def hset(self, key: str, mapping: Mapping[str, bytes], ttl: float | None) -> None:
        # One EVALSHA: fields and TTL set atomically at half the client CPU of a
        # MULTI/HSET/PEXPIRE/EXEC pipeline (redis-py's pipeline is heavy).
        args: list[str | bytes] = ["" if ttl is None else str(max(1, int(ttl * 1000)))]
        for field, value in mapping.items():
            args += (field, value)
        await self._hset_script(keys=[self._k(key)], args=args)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        raw: dict[bytes, bytes] = await self._r.hgetall(self._k(key))
        return {k.decode(): v for k, v in raw.items()}

    async def hset_and_set(self, key: str, mapping: Mapping[str, bytes], ttl: float,
                           keys: Mapping[str, bytes]) -> None:
        """hset(key, mapping, ttl) and set(k, v, ttl) for each of `keys`: one EVALSHA."""
        names = [self._k(key), *(self._k(k) for k in keys)]
        args: list[str | bytes] = [str(max(1, int(ttl * 1000))), *keys.values()]
        for field, value in mapping.items():
            args += (field, value)
        await self._hset_and_set_script(keys=names, args=args)

    async def hset_and_set_many(
            self, writes: Sequence[HashWrite]) -> list[StoreUnavailable | None]:
        """Several hset_and_set in one pipelined round trip (no transaction: each write is
        atomic by itself). A write Redis refused is StoreUnavailable in its place."""
        pipe = self._r.pipeline(transaction=False)
        for key, mapping, ttl, keys in writes:
            args: list[str | bytes] = [str(max(1, int(ttl * 1000))), *keys.values()]
            for field, value in mapping.items():
                args += (field, value)
            # EVAL, not EVALSHA: a pipeline cannot load a script Redis lost (restart,
            # failover) in between, and Redis caches the compiled body by its hash anyway.
            pipe.eval(_HSET_AND_SET, 1 + len(keys), self._k(key),
                      *(self._k(k) for k in keys), *args)
        results = await pipe.execute(raise_on_error=False)
        return [StoreUnavailable(type(r).__name__) if isinstance(r, BaseException) else None
                for r in results]

    async def hdel(self, key: str, *fields: str) -> None:
        if fields:
            await self._r.hdel(self._k(key), *fields)

    async def zadd(self, key: str, scores: Mapping[str, float]) -> None:
        if scores:
            await self._r.zadd(self._k(key), dict(scores))

    async def zrem(self, key: str, *members: str) -> None:
        if members:
            await self._r.zrem(self._k(key), *members)

    async def zscore(self, key: str, member: str) -> float | None:
        value: Any = await self._r.zscore(self._k(key), member)
        return None if value is None else float(value)

    async def zcard(self, key: str) -> int:
        return int(await self._r.zcard(self._k(key)))

    async def zrange_by_score(self, key: str, low: float, high: float,
                              limit: int) -> list[tuple[str, float]]:
        items = await self._r.zrangebyscore(self._k(key), low, high, start=0, num=limit,
                                            withscores=True)
        return as_pairs(items)

    async def sadd(self, key: str, *members: str) -> None:
        if members:
            await self._r.sadd(self._k(key), *members)

    async def srem(self, key: str, *members: str) -> None:
        if members:
            await self._r.srem(self._k(key), *members)

    async def smembers(self, key: str) -> builtins.set[str]:
        raw: builtins.set[bytes] = await self._r.smembers(self._k(key))
        return {m.decode() for m in raw}

    async def xadd(self, key: str, fields: Mapping[str, str], min_id_ms: int | None) -> str:
        kwargs: dict[str, Any] = {}
        if min_id_ms is not None:
            kwargs = {"minid": str(min_id_ms), "approximate": False}
        entry_id = await self._r.xadd(self._k(key), dict(fields), **kwargs)
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    async def xrange(self, key: str, start: str, count: int) -> list[tuple[str, dict[str, str]]]:
        rows = await self._r.xrange(self._k(key), min=start, max="+", count=count)
        return [
            (eid.decode(), {k.decode(): v.decode() for k, v in fields.items()})
            for eid, fields in rows
        ]

    async def hincrby(self, key: str, field: str, amount: int) -> int:
        return int(await self._r.hincrby(self._k(key), field, amount))

    async def set_if(self, key: str, expected: bytes | None, value: bytes,
                     ttl: float | None) -> bool:
        args = ["0" if expected is None else "1", expected or b"", value, _ms(ttl)]
        return bool(await self._set_if_script(keys=[self._k(key)], args=args))

    async def hset_if(self, key: str, field: str, expected: bytes | None,
                      mapping: Mapping[str, bytes], ttl: float | None) -> bool:
        args: list[str | bytes] = [field, "0" if expected is None else "1", expected or b"",
                                   _ms(ttl)]
        for name, value in mapping.items():
            args += (name, value)
        return bool(await self._hset_if_script(keys=[self._k(key)], args=args))

    async def acquire(self, name: str, ttl: float, holder: str = "") -> Lease | None:
        token = lease_value(secrets.token_hex(16), holder)
        fence = await self._r.eval(_ACQUIRE, 2, self._k(f"lock:{name}"),
                                   self._k(f"fence:{name}"), token,
                                   str(max(1, int(ttl * 1000))), str(int(time.time() * 1000)))
        if fence is None:
            return None
        return Lease(name=name, token=token, fence=int(fence))

    async def lease_info(self, name: str) -> LeaseInfo | None:
        key = self._k(f"lock:{name}")
        value, left_ms = await self._r.get(key), await self._r.pttl(key)
        if value is None:
            return None
        return LeaseInfo(parse_lease_value(value), max(0.0, int(left_ms) / 1000.0))

    async def renew(self, lease: Lease, ttl: float) -> bool:
        result = await self._r.eval(_RENEW, 1, self._k(f"lock:{lease.name}"), lease.token,
                                    str(max(1, int(ttl * 1000))))
        return bool(result)

    async def release(self, lease: Lease) -> None:
        await self._r.eval(_RELEASE, 1, self._k(f"lock:{lease.name}"), lease.token)


def _ms(ttl: float | None) -> str:
    return "" if ttl is None else str(max(1, int(ttl * 1000)))
