"""The Redis implementation of the store (redis.asyncio), namespaced keys."""

from __future__ import annotations

import asyncio
import builtins
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError

from gateway.store.base import (
    HashWrite,
    Lease,
    LeaseInfo,
    as_pairs,
    lease_value,
    parse_lease_value,
)
from gateway.store.batch import Batch
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

# Commands that are not idempotent, made so. redis-py sends a command again after a
# connection error (gateway/store/redis_urls.py), and a connection can break AFTER Redis ran
# the command but before its reply arrived (a Redis restart, a failover, a network cut).
# Sent again, GETDEL found nothing (a single-use ticket was lost: the soak's lost ticket),
# SET NX found the value it had just set (a race "lost" to itself), and compare-and-set
# found its own new value and failed, so the update loop applied the change twice. Each
# such call now carries a random key of its own (KEYS[2], `once:<nonce>`, kept for
# ONCE_TTL_MS, long enough for every retry); the first run records its outcome there, a
# repeated run answers it again and changes nothing.

# Take (GET and DEL): ARGV[1] the record's TTL in ms.
_TAKE = (
    "local done = redis.call('get', KEYS[2]) if done then return done end "
    "local v = redis.call('get', KEYS[1]) "
    "if v then redis.call('del', KEYS[1]) redis.call('set', KEYS[2], v, 'PX', ARGV[1]) end "
    "return v"
)
# SET NX PX: ARGV[1] value, ARGV[2] TTL in ms, ARGV[3] the record's TTL in ms.
_SET_NX = (
    "if redis.call('exists', KEYS[2]) == 1 then return 1 end "
    "if redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then "
    "redis.call('set', KEYS[2], '1', 'PX', ARGV[3]) return 1 end return 0"
)

# Take the lock, then the next fence: max(counter + 1, now in ms), atomically. The
# floor keeps fences growing when the counter was lost with the rest of Redis. Sent
# again after a lost reply, the lock already holds this call's own token: its fence.
_ACQUIRE = (
    "if not redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then "
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return tonumber(redis.call('get', KEYS[2])) end return false end "
    "local fence = redis.call('incr', KEYS[2]) "
    "local floor = tonumber(ARGV[3]) "
    "if fence < floor then redis.call('set', KEYS[2], ARGV[3]) fence = floor end "
    "return fence"
)

# Compare-and-set: ARGV[1] "1" when a current value is expected (ARGV[2]), "0" when
# the key must be absent; ARGV[4] a TTL in ms or "" for none; ARGV[5] the record's TTL
# (KEYS[2], as above).
_SET_IF = (
    "if redis.call('exists', KEYS[2]) == 1 then return 1 end "
    "local cur = redis.call('get', KEYS[1]) "
    "if ARGV[1] == '0' then if cur then return 0 end elseif cur ~= ARGV[2] then return 0 end "
    "if ARGV[4] == '' then redis.call('set', KEYS[1], ARGV[3]) "
    "else redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4]) end "
    "redis.call('set', KEYS[2], '1', 'PX', ARGV[5]) return 1"
)
# The same on one hash field (ARGV[1] the field, then as above, ARGV[5] the record's TTL),
# then HSET as _HSET with the pairs from ARGV[6].
_HSET_IF = (
    "if redis.call('exists', KEYS[2]) == 1 then return 1 end "
    "local cur = redis.call('hget', KEYS[1], ARGV[1]) "
    "if ARGV[2] == '0' then if cur then return 0 end elseif cur ~= ARGV[3] then return 0 end "
    "if #ARGV > 5 then redis.call('hset', KEYS[1], unpack(ARGV, 6)) end "
    "if ARGV[4] ~= '' then redis.call('pexpire', KEYS[1], ARGV[4]) end "
    "redis.call('set', KEYS[2], '1', 'PX', ARGV[5]) return 1"
)
ONCE_TTL_MS = "60000"

# A Batch (gateway/store/batch.py) in one step. KEYS: one per read, then one per write.
# ARGV[1] packs the rest as `<length>:<bytes>` items (one argument instead of thirty: the
# client's per-argument work was a fifth of a token's cost): the number of reads, then per
# read: op ("g" get, "f" hget, "a" hgetall), check ("-" none, "0" must be absent/empty,
# "1" must equal), [field for "f"], [expected: a value, or for "a" a count and that many
# field/value pairs]; then per write: op ("s" set, "h" hset), TTL in ms or "", and the
# value, or a count and that many field/value pairs. The writes run only if every check
# held. Reply: {1 or 0, {read results}}.
_BATCH = """
local s, pos = ARGV[1], 1
local function take()
  local colon = string.find(s, ':', pos, true)
  local n = tonumber(string.sub(s, pos, colon - 1))
  pos = colon + n + 1
  return string.sub(s, colon + 1, colon + n)
end
local out, ok, k = {}, 1, 0
local reads = tonumber(take())
for _ = 1, reads do
  local op, flag = take(), take()
  k = k + 1
  if op == 'a' then
    local flat = redis.call('hgetall', KEYS[k])
    out[k] = flat
    if flag == '1' then
      local count = tonumber(take())
      if #flat ~= 2 * count then ok = 0 end
      local have = {}
      for j = 1, #flat, 2 do have[flat[j]] = flat[j + 1] end
      for j = 1, count do
        local field, value = take(), take()
        if have[field] ~= value then ok = 0 end
      end
    elseif flag == '0' and #flat > 0 then ok = 0 end
  else
    local v
    if op == 'g' then v = redis.call('get', KEYS[k])
    else v = redis.call('hget', KEYS[k], take()) end
    out[k] = v
    if flag == '1' then
      if v ~= take() then ok = 0 end
    elseif flag == '0' and v then ok = 0 end
  end
end
if ok == 1 then
  while pos <= #s do
    local op, ttl = take(), take()
    k = k + 1
    if op == 's' then
      local value = take()
      if ttl == '' then redis.call('set', KEYS[k], value)
      else redis.call('set', KEYS[k], value, 'PX', ttl) end
    else
      local count = tonumber(take())
      local pairs = {}
      for j = 1, 2 * count do pairs[j] = take() end
      if count > 0 then redis.call('hset', KEYS[k], unpack(pairs)) end
      if ttl ~= '' then redis.call('pexpire', KEYS[k], ttl) end
    end
  end
end
return {ok, out}
"""


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
        self._take_script: Any = client.register_script(_TAKE)
        self._set_nx_script: Any = client.register_script(_SET_NX)
        self._batch_script: Any = client.register_script(_BATCH)
        self._pending: list[tuple[list[str], list[bytes], asyncio.Future[Any]]] = []
        self._flushing: set[asyncio.Task[None]] = set()
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
        flushing = list(self._flushing)
        for task in flushing:  # their requests get a connection error, not a hang
            task.cancel()
        await asyncio.gather(*flushing, return_exceptions=True)
        await self._r.aclose()

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._r.get(self._k(key))
        return value

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        if ttl is None:
            await self._r.set(self._k(key), value)
        else:
            await self._r.set(self._k(key), value, px=max(1, int(ttl * 1000)))

    def _once(self) -> str:
        """A key of this call's own: its outcome, if the call has to be sent again."""
        return self._k("once:" + secrets.token_hex(12))

    async def set_nx(self, key: str, value: bytes, ttl: float) -> bool:
        return bool(await self._set_nx_script(keys=[self._k(key), self._once()], args=[
            value, str(max(1, int(ttl * 1000))), ONCE_TTL_MS]))

    async def take(self, key: str) -> bytes | None:
        value: bytes | None = await self._take_script(keys=[self._k(key), self._once()],
                                                      args=[ONCE_TTL_MS])
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

    async def expire(self, key: str, ttl: float) -> None:
        await self._r.pexpire(self._k(key), max(1, int(ttl * 1000)))

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
        args = ["0" if expected is None else "1", expected or b"", value, _ms(ttl), ONCE_TTL_MS]
        return bool(await self._set_if_script(keys=[self._k(key), self._once()], args=args))

    async def hset_if(self, key: str, field: str, expected: bytes | None,
                      mapping: Mapping[str, bytes], ttl: float | None) -> bool:
        args: list[str | bytes] = [field, "0" if expected is None else "1", expected or b"",
                                   _ms(ttl), ONCE_TTL_MS]
        for name, value in mapping.items():
            args += (name, value)
        return bool(await self._hset_if_script(keys=[self._k(key), self._once()], args=args))

    async def run_batch(self, batch: Batch) -> bool:
        keys: list[str] = []
        items: list[bytes] = [b"%d" % len(batch.reads)]
        for read in batch.reads:
            keys.append(self._k(read.key))
            items += (_READ_OPS[read.op], b"-" if not read.checked else
                      b"0" if read.expected is None or read.expected == {} else b"1")
            if read.field is not None:
                items.append(read.field.encode())
            if isinstance(read.expected, dict):
                if read.expected:
                    items.append(b"%d" % len(read.expected))
                    for field, value in read.expected.items():
                        items += (field.encode(), value)
            elif read.expected is not None:
                items.append(read.expected)
        for write in batch.writes:
            keys.append(self._k(write.key))
            ttl = _ms(write.ttl).encode()
            if write.op == "set":
                items += (b"s", ttl, write.mapping[""])
            else:
                items += (b"h", ttl, b"%d" % len(write.mapping))
                for field, value in write.mapping.items():
                    items += (field.encode(), value)
        args = [b"".join([b"%d:%s" % (len(item), item) for item in items])]
        ok, values = await self._coalesced(keys, args)
        for read, value in zip(batch.reads, values, strict=False):
            if read.op == "hgetall":
                read.slot.value = {value[j].decode(): value[j + 1]
                                   for j in range(0, len(value), 2)}
            else:
                read.slot.value = value
        return bool(ok)

    async def _coalesced(self, keys: list[str], args: list[bytes]) -> Any:
        """The batch script, sent together with the other batches of this moment.

        Requests that arrive together (a burst at the token endpoint) would each pay a
        send, a receive and redis-py's per-command work; their batches go in ONE
        pipeline instead (independent scripts, each still atomic), flushed at the next
        turn of the event loop, so a lone request waits for nothing."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((keys, args, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        task = asyncio.ensure_future(self._send(pending))
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _send(self, pending: list[tuple[list[str], list[bytes],
                                              asyncio.Future[Any]]]) -> None:
        try:
            await self._send_all(pending)
        finally:  # cancelled or failed midway: no waiting request is left unanswered
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(RedisConnectionError("batch not sent"))

    async def _send_all(self, pending: list[tuple[list[str], list[bytes],
                                                  asyncio.Future[Any]]]) -> None:
        results: list[Any]
        try:
            if len(pending) == 1:
                keys, args, _ = pending[0]
                results = [await self._batch_script(keys=keys, args=args)]
            else:
                async with self._r.pipeline(transaction=False) as pipe:
                    for keys, args, _ in pending:
                        pipe.execute_command("EVALSHA", self._batch_script.sha, len(keys),
                                             *keys, *args)
                    results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed: every batch in it failed
            for _, _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        for (keys, args, future), result in zip(pending, results, strict=True):
            if isinstance(result, NoScriptError):  # Redis restarted: the script loads again
                try:
                    result = await self._batch_script(keys=keys, args=args)
                except Exception as exc:  # handed to the waiting request
                    result = exc
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def acquire(self, name: str, ttl: float, holder: str = "") -> Lease | None:
        token = lease_value(secrets.token_hex(16), holder)
        # EVAL, not the registered script: the first EVALSHA's NOSCRIPT round trip moved a
        # shutdown's cancellation into the sweeper's acquire, where it was lost
        # (tests/bbb/test_proxy.py::test_meetings_and_tickets_live_in_redis hung).
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


_READ_OPS = {"get": b"g", "hget": b"f", "hgetall": b"a"}


def _ms(ttl: float | None) -> str:
    return "" if ttl is None else str(max(1, int(ttl * 1000)))
