"""Benchmark: the BBB recording guard under a synthetic bus load (real redis-server).

    python -m bench.guard_bus

1. Throughput: 100 meetings x 40 users; a stream dominated by talking floods,
   with mute/unmute and camera traffic, replayed at maximum rate. The guard
   runs in its own process (one core); events/s handled = events / time until
   it answered a sentinel published after the last one. Target >= 20,000/s.
2. Reaction: a 300-participant lesson under background load; the time from
   publishing RecordingStatusChangedEvtMsg to the last guard command arriving
   on to-akka-apps-redis-channel (both Redis hops included). Target p99 < 20 ms.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import shutil
import statistics
import subprocess
import tempfile
import time

import aiohttp
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_bbb import BusGuard
from gateway.audit import AuditLog
from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.pseudonym import Pseudonymiser
from gateway.settings import parse_policy
from gateway.store import MemoryStore
from tests.guard import bbb_bus as bus
from tests.support import example_policy, free_port

MEETINGS, USERS, EVENTS = 100, 40, 200_000
BIG_USERS, STARTS, BACKGROUND_RATE = 300, 100, 10_000


def _guard_process(url: str) -> None:
    async def main() -> None:
        store = MemoryStore("bench", SystemClock())
        async with aiohttp.ClientSession() as http:
            guard = BusGuard(policy=parse_policy(example_policy()), store=store,
                             metrics=Metrics(), audit=AuditLog(store, SystemClock(), 365),
                             pseudonyms=Pseudonymiser(b"k" * 32), http=http, servers=[],
                             redis_url=url)
            await guard.run()

    asyncio.run(main())


def _setup_messages() -> list[bytes]:
    out = []
    for m in range(MEETINGS):
        meeting = bus.internal_meeting_id(f"m{m}")
        out.append(bus.created(meeting, f"m{m}"))
        out.append(bus.joined(meeting, f"w_t{m:09d}", "MODERATOR", presenter=True))
        out += [bus.joined(meeting, f"w_{m:04d}{u:05d}", "VIEWER") for u in range(1, USERS)]
    return out


def _load(count: int, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(count):
        meeting = bus.internal_meeting_id(f"m{rng.randrange(MEETINGS)}")
        user = f"w_{rng.randrange(MEETINGS):04d}{rng.randrange(1, USERS):05d}"
        kind = rng.random()
        if kind < 0.85:
            out.append(bus.talking(meeting, user, rng.random() < 0.5))
        elif kind < 0.95:
            out.append(bus.muted(meeting, user, rng.random() < 0.5))
        else:
            out.append(bus.camera(meeting, user, rng.random() < 0.5))
    return out


async def _publish(redis: Redis, messages: list[bytes], batch: int = 2000) -> None:
    for i in range(0, len(messages), batch):
        pipe = redis.pipeline(transaction=False)
        for message in messages[i:i + batch]:
            pipe.publish(codec.FROM_AKKA, message)
        await pipe.execute()


async def _next_command(pubsub: object, timeout: float = 5.0) -> dict[str, object] | None:
    import json

    message = await pubsub.get_message(timeout=timeout)  # type: ignore[attr-defined]
    return None if message is None else dict(json.loads(message["data"]))


async def _throughput(redis: Redis, pubsub: object) -> float:
    sentinel_meeting = bus.internal_meeting_id("sentinel")
    await _publish(redis, [bus.created(sentinel_meeting, "sentinel"),
                           bus.joined(sentinel_meeting, "w_sentinel01", "MODERATOR")])
    messages = _load(EVENTS, random.Random(1))
    start = time.perf_counter()
    await _publish(redis, [*messages, bus.recording(sentinel_meeting, "w_sentinel01", True)])
    while True:  # the sentinel's first command means every earlier event was handled
        command = await _next_command(pubsub, 60)
        if command is None or command["core"]["header"]["meetingId"] == sentinel_meeting:  # type: ignore[index]
            break
    return EVENTS / (time.perf_counter() - start)


async def _background(redis: Redis, stop: asyncio.Event) -> None:
    per_tick = BACKGROUND_RATE // 100
    ticks = [_load(per_tick, random.Random(seed)) for seed in range(50)]  # made up front
    i = 0
    while not stop.is_set():
        await _publish(redis, ticks[i % len(ticks)])
        i += 1
        await asyncio.sleep(0.01)


async def _reaction(redis: Redis, pubsub: object) -> list[float]:
    meeting = bus.internal_meeting_id("big")
    teacher = "w_bigteacher"
    setup = [bus.created(meeting, "big"), bus.joined(meeting, teacher, "MODERATOR", True)]
    pupils = [f"w_big{u:07d}" for u in range(1, BIG_USERS)]
    setup += [bus.joined(meeting, p, "VIEWER") for p in pupils]
    setup += [bus.voice_joined(meeting, p, muted=i % 10 != 0) for i, p in enumerate(pupils)]
    await _publish(redis, setup)
    stop = asyncio.Event()
    load = asyncio.create_task(_background(redis, stop))
    samples = []
    for _ in range(STARTS):
        cams = random.sample(pupils, 12)
        await _publish(redis, [bus.camera(meeting, p, True) for p in cams])
        await asyncio.sleep(0.02)
        started = time.perf_counter()
        await redis.publish(codec.FROM_AKKA, bus.recording(meeting, teacher, True))
        expected = 3 + len(cams)  # lock settings, lock users, mute all, one eject per camera
        for _ in range(expected):
            if await _next_command(pubsub) is None:
                raise RuntimeError("the guard did not answer")
        samples.append(time.perf_counter() - started)
        await _publish(redis, [bus.camera(meeting, p, False) for p in cams])
        await redis.publish(codec.FROM_AKKA, bus.recording(meeting, teacher, False))
        await _next_command(pubsub)  # the restore
        await asyncio.sleep(0.02)
    stop.set()
    await load
    return samples


async def run(url: str) -> None:
    redis = Redis.from_url(url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(codec.TO_AKKA)
    await _publish(redis, _setup_messages())
    await asyncio.sleep(0.5)
    rate = await _throughput(redis, pubsub)
    print(f"throughput: {rate:,.0f} events/s handled on one core "
          f"({EVENTS:,} events, {MEETINGS} meetings x {USERS} users, 85% talking floods; "
          f"target >= 20,000)")
    samples = await _reaction(redis, pubsub)
    samples.sort()
    p50 = statistics.median(samples) * 1000
    p99 = samples[int(len(samples) * 0.99) - 1] * 1000
    print(f"reaction: recording start in a {BIG_USERS}-participant meeting under "
          f"{BACKGROUND_RATE:,} events/s: p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"max {samples[-1] * 1000:.2f} ms over {len(samples)} starts (target p99 < 20 ms)")
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()


def main() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir,
             # A burst at maximum rate outruns any subscriber for a moment; BBB's own
             # Redis keeps the default limit (see the closing note of the bench).
             "--client-output-buffer-limit", "pubsub 0 0 0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{port}/0"
        guard = multiprocessing.get_context("spawn").Process(target=_guard_process, args=(url,))
        try:
            time.sleep(0.3)
            guard.start()
            time.sleep(1.5)
            asyncio.run(run(url))
        finally:
            guard.terminate()
            guard.join(10)
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
