"""Benchmark: the BBB recording guard under a synthetic bus load (real redis-server).

    python -m bench.guard_bus [--starts N] [--no-pin]

Processes: redis-server, the guard (pinned to CPU 1: "one core"), a load
generator and this measuring process (both with redis-server on CPU 0, so
the measuring loop never competes with the guard). The guard's gateway store
is a RedisStore on the same redis-server (db 1), as in production where
purpose reads and audit writes cost a round trip.

1. Throughput: 100 meetings x 40 users; 200,000 events, 85 % talking floods,
   the rest mute/unmute and camera traffic. The guard is stopped (SIGSTOP)
   while they are published, then continued, so it meets the whole load at
   once and reads at its own maximum rate. Figures: events / wall time from
   SIGCONT until the guard answered a sentinel published after the last
   event, and events / CPU seconds the guard process used (the figure a
   contended machine cannot spoil). Target >= 20,000 events/s on one core.
2. Reaction: a 300-participant lesson while the load generator publishes a
   paced 10,000 events/s in 2 ms ticks. Each round: 12 pupils start a camera,
   the teacher starts a recording, the guard must publish 15 commands (lock
   settings, lock users, mute all, 12 ejects). Clocks per round (CLOCK_MONOTONIC,
   comparable across processes):
     t0 just before the PUBLISH of RecordingStatusChangedEvtMsg left (publisher),
     seen  the guard's socket read that brought it in (guard process),
     done  the guard's pipeline of 15 PUBLISHes acknowledged (guard process),
     t1 the 15th command received here.
   The headline is "end-to-end" = t1 - t0, from the publisher's clock: every
   queue on the way counts (Redis output buffer, socket, the guard's backlog).
   Also printed: what privacy_gateway_guard_reaction_seconds observed for the
   same event (from the envelope timestamp, wall clock, ms resolution), and
   done - seen (the guard alone). Target: end-to-end p99 < 20 ms.
3. Burst: as 2, without the paced load, but the recording start is published in
   the middle of 20,000 UserTalkingVoiceEvtMsg sent in one write; t0 is taken
   just before that write. No target: the figures are printed as they are.
The guard talks to a BBB emulator for sendChatMessage (BBB 3.0) in its own
process, so announcements arrive as they must (G8); they go after the commands.
Also printed: the guard's run-queue wait (/proc/<pid>/schedstat: time it
was runnable but had no CPU), GC pauses in the guard, and the load average,
because on a shared machine those explain a tail better than any profile.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import multiprocessing
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.bus_link import pack
from bbb_hooks.guard_bbb import BusGuard
from bbb_hooks.guard_leader import Leadership
from bbb_hooks.guard_state import Runtime
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.policy.model import parse_policy
from gateway.pseudonym import Pseudonymiser
from gateway.store.redis_store import RedisStore
from tests.guard import bbb_bus as bus
from tests.guard.bbb_bus import GuardEmulator
from tests.support import example_policy, free_port

MEETINGS, USERS, EVENTS, BURST = 100, 40, 200_000, 20_000
BIG_USERS, CAMERAS, BACKGROUND_RATE, TICK = 300, 12, 10_000, 0.002
BIG = bus.internal_meeting_id("big")
TEACHER = "w_bigteacher"


class MeasuredGuard(BusGuard):
    """The real guard; it also reports (seen, done) of each recording start in BIG."""

    report: Connection
    entered = 0.0

    async def handle(self, raw: bytes, seen: float) -> None:
        self.entered, self.seen = time.thread_time(), seen
        await super().handle(raw, seen)

    def reacted(self, rt: Runtime, origin: float) -> None:
        super().reacted(rt, origin)
        if rt.internal_id == BIG and rt.state.recording:
            # seen and done on CLOCK_MONOTONIC; the metric's own figure (from the
            # envelope timestamp, wall clock) alongside.
            self.report.send((self.seen, time.perf_counter(), time.thread_time() - self.entered,
                              time.time() - origin))


def _pin(pid: int, cpu: int, enabled: bool) -> None:
    if enabled and (os.cpu_count() or 1) > cpu:
        os.sched_setaffinity(pid, {cpu})


def _guard_process(url: str, report: Connection, pin: bool, nice: int) -> None:
    _pin(0, 1, pin)
    os.setpriority(os.PRIO_PROCESS, 0, nice)
    pauses: list[tuple[int, float, float]] = []  # generation, wall, CPU
    started: dict[str, float] = {}

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started["t"], started["cpu"] = time.perf_counter(), time.thread_time()
        elif "t" in started:
            pauses.append((info["generation"], time.perf_counter() - started["t"],
                           time.thread_time() - started["cpu"]))

    gc.callbacks.append(on_gc)

    async def main() -> None:
        store = RedisStore.from_url(url.replace("/0", "/1"), "bench")
        # bbb-web for sendChatMessage (BBB 3.0): the announcements must arrive, or the
        # guard stops the recording (G8); it runs in the guard's process, after the commands.
        secret = "b" * 40
        emu = GuardEmulator(secret, Path(tempfile.mkdtemp()) / "bbb")
        await emu.start()
        for name in ("big", "sentinel", *(f"m{m}" for m in range(MEETINGS))):
            emu.add_meeting(name, [])
        async with aiohttp.ClientSession() as http:
            guard = MeasuredGuard(
                policy=parse_policy(example_policy()), store=store, metrics=Metrics(),
                audit=AuditLog(store, SystemClock(), 365), pseudonyms=Pseudonymiser(b"k" * 32),
                http=http, servers=[Server("bbb1", emu.url, secret.encode(), "sha256")],
                redis_url=url, record_ttl=86400.0,
                # One replica; a long lease survives the SIGSTOP of the throughput phase.
                leadership=Leadership(store, ttl=300.0, renew_every=10.0))
            guard.report = report
            task = asyncio.create_task(guard.run())
            while not report.poll():
                await asyncio.sleep(0.05)
            report.recv()  # "gc?": the measuring process wants the pauses
            report.send(("gc", pauses))
            task.cancel()

    asyncio.run(main())


def _load_messages(count: int, rng: random.Random) -> list[bytes]:
    out = []
    for _ in range(count):
        m = rng.randrange(MEETINGS)
        meeting, user = bus.internal_meeting_id(f"m{m}"), f"w_{m:04d}{rng.randrange(1, USERS):05d}"
        kind = rng.random()
        if kind < 0.85:
            out.append(bus.talking(meeting, user, rng.random() < 0.5))
        elif kind < 0.95:
            out.append(bus.muted(meeting, user, rng.random() < 0.5))
        else:
            out.append(bus.camera(meeting, user, rng.random() < 0.5))
    return out


def _load_process(url: str, pin: bool) -> None:
    """Publish BACKGROUND_RATE events/s in TICK-second slices until terminated."""
    _pin(0, 0, pin)
    per_tick = int(BACKGROUND_RATE * TICK)
    ticks = [_load_messages(per_tick, random.Random(seed)) for seed in range(200)]

    async def main() -> None:
        redis = Redis.from_url(url)
        start, i = time.perf_counter(), 0
        while True:
            await _publish(redis, ticks[i % len(ticks)])
            i += 1
            await asyncio.sleep(max(0.0, start + i * TICK - time.perf_counter()))

    asyncio.run(main())


async def _publish(redis: Redis, messages: list[bytes], batch: int = 2000) -> None:
    for i in range(0, len(messages), batch):
        pipe = redis.pipeline(transaction=False)
        for message in messages[i:i + batch]:
            pipe.publish(codec.FROM_AKKA, message)
        await pipe.execute()


async def _next_command(pubsub: Any, timeout: float = 5.0,
                        meeting: str | None = None) -> dict[str, Any]:
    """The next command the guard published (for `meeting`, when given)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        message = await pubsub.get_message(timeout=deadline - time.perf_counter())
        if message is not None and message["type"] == "message":
            command = dict(json.loads(message["data"]))
            if meeting is None or command["core"]["header"]["meetingId"] == meeting:
                return command
    raise RuntimeError("the guard did not answer")


def _cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _runqueue_wait(pid: int) -> float:
    return int(open(f"/proc/{pid}/schedstat").read().split()[1]) / 1e9


async def _throughput(redis: Redis, pubsub: Any, guard_pid: int) -> tuple[float, float]:
    """Events/s with the whole load already waiting: the guard is stopped (SIGSTOP) while
    this process publishes, so the figure is the guard's, not the publisher's."""
    sentinel = bus.internal_meeting_id("sentinel")
    await _publish(redis, [bus.created(sentinel, "sentinel"),
                           bus.joined(sentinel, "w_sentinel01", "MODERATOR")])
    messages = [*_load_messages(EVENTS, random.Random(1)),
                bus.recording(sentinel, "w_sentinel01", True)]
    await asyncio.sleep(0.3)
    os.kill(guard_pid, signal.SIGSTOP)
    try:
        await _publish(redis, messages)  # waits in the guard's socket and Redis's buffer
        cpu, start = _cpu_seconds(guard_pid), time.perf_counter()
    finally:
        os.kill(guard_pid, signal.SIGCONT)
    while (await _next_command(pubsub, 60))["core"]["header"]["meetingId"] != sentinel:
        pass  # the sentinel's first command: every earlier event was handled
    wall, used = time.perf_counter() - start, _cpu_seconds(guard_pid) - cpu
    return EVENTS / wall, EVENTS / max(used, 1e-9)


Sample = tuple[float, float, float, float, float, float]  # t0, seen, done, t1, cpu, metric


async def _big_lesson(redis: Redis) -> list[str]:
    pupils = [f"w_big{u:07d}" for u in range(1, BIG_USERS)]
    await _publish(redis, [
        bus.created(BIG, "big"), bus.joined(BIG, TEACHER, "MODERATOR", True),
        *(bus.joined(BIG, p, "VIEWER") for p in pupils),
        *(bus.voice_joined(BIG, p, muted=i % 10 != 0) for i, p in enumerate(pupils))])
    return pupils


class RawPublisher:
    """PUBLISHes packed beforehand and written at once, replies drained aside: t0 is the
    moment the bytes are handed to the socket, not the client library's packing."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> RawPublisher:
        host, port = self.url.split("//")[1].split("/")[0].split(":")
        self.reader, self.writer = await asyncio.open_connection(host, int(port))
        self.drain = asyncio.create_task(self._discard())
        return self

    async def _discard(self) -> None:
        while await self.reader.read(1 << 16):
            pass

    async def send(self, burst: list[bytes]) -> float:
        half = len(burst) // 2
        head = b"".join(pack("PUBLISH", codec.FROM_AKKA, m) for m in burst[:half])
        tail = b"".join(pack("PUBLISH", codec.FROM_AKKA, m) for m in burst[half:])
        start = bus.recording(BIG, TEACHER, True)  # its envelope timestamp: now
        data = head + pack("PUBLISH", codec.FROM_AKKA, start) + tail
        t0 = time.perf_counter()
        self.writer.write(data)
        await self.writer.drain()
        return t0

    async def __aexit__(self, *exc: object) -> None:
        self.drain.cancel()
        self.writer.close()


async def _one_start(redis: Redis, pubsub: Any, report: Connection, pupils: list[str],
                     rng: random.Random, burst: list[bytes] | None,
                     raw: RawPublisher) -> Sample:
    """One recording start: t0 on this process's clock, just before its PUBLISH left.
    With `burst`, the start goes in the middle of those events, all in one write."""
    cams = rng.sample(pupils, CAMERAS)
    await _publish(redis, [bus.camera(BIG, p, True) for p in cams])
    await asyncio.sleep(0.03)
    if burst is None:
        start = bus.recording(BIG, TEACHER, True)
        t0 = time.perf_counter()
        await redis.publish(codec.FROM_AKKA, start)
    else:
        t0 = await raw.send(burst)
    for _ in range(3 + CAMERAS):  # lock settings, lock users, mute all, one eject each
        await _next_command(pubsub, meeting=BIG)
    t1 = time.perf_counter()
    seen, done, cpu, metric = report.recv()
    await _publish(redis, [*(bus.camera(BIG, p, False) for p in cams),
                           bus.recording(BIG, TEACHER, False)])
    await _next_command(pubsub, meeting=BIG)  # the restore of the lock settings
    await asyncio.sleep(0.05)
    return t0, seen, done, t1, cpu, metric


async def _reaction(redis: Redis, pubsub: Any, report: Connection, pupils: list[str],
                    starts: int, burst: list[bytes] | None = None) -> list[Sample]:
    rng = random.Random(7)
    url = redis.connection_pool.connection_kwargs
    async with RawPublisher(f"redis://{url['host']}:{url['port']}/0") as raw:
        return [await _one_start(redis, pubsub, report, pupils, rng, burst, raw)
                for _ in range(starts)]


def _burst_events() -> list[bytes]:
    users = [f"w_big{u:07d}" for u in range(1, BIG_USERS)]
    return [bus.talking(BIG, users[i % len(users)], i % 2 == 0) for i in range(BURST)]


def _percentiles(values: list[float]) -> str:
    ordered = sorted(v * 1000 for v in values)
    p99 = ordered[max(0, round(len(ordered) * 0.99) - 1)]
    return (f"p50 {statistics.median(ordered):6.2f} ms  p99 {p99:6.2f} ms  "
            f"max {ordered[-1]:6.2f} ms")


def _print_samples(samples: list[Sample]) -> None:
    print(f"  end-to-end (publisher's clock: publish -> 15th command received): "
          f"{_percentiles([s[3] - s[0] for s in samples])}")
    print(f"  metric (envelope timestamp -> commands published):             "
          f"{_percentiles([s[5] for s in samples])}")
    print(f"  guard alone (socket read -> commands published):               "
          f"{_percentiles([s[2] - s[1] for s in samples])}")
    print(f"  publish -> guard's socket read (queues on the way):            "
          f"{_percentiles([s[1] - s[0] for s in samples])}")
    print(f"  guard CPU for that event:                                       "
          f"{_percentiles([s[4] for s in samples])}")


async def run(url: str, guard_pid: int, report: Connection, starts: int, pin: bool,
              nice: int) -> None:
    redis = Redis.from_url(url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(codec.TO_AKKA)
    setup = []
    for m in range(MEETINGS):
        meeting = bus.internal_meeting_id(f"m{m}")
        setup += [bus.created(meeting, f"m{m}"),
                  bus.joined(meeting, f"w_t{m:09d}", "MODERATOR", presenter=True),
                  *(bus.joined(meeting, f"w_{m:04d}{u:05d}", "VIEWER") for u in range(1, USERS))]
    await _publish(redis, setup)
    wall_rate, cpu_rate = await _throughput(redis, pubsub, guard_pid)
    print(f"throughput: {wall_rate:,.0f} events/s by wall time, {cpu_rate:,.0f} events per "
          f"guard CPU second ({EVENTS:,} events, {MEETINGS} meetings x {USERS} users, "
          f"85% talking floods; target >= 20,000)")
    pupils = await _big_lesson(redis)
    load = multiprocessing.get_context("spawn").Process(target=_load_process, args=(url, pin))
    load.start()
    await asyncio.sleep(1.0)
    waited, load_avg = _runqueue_wait(guard_pid), os.getloadavg()[0]
    began = time.perf_counter()
    samples = await _reaction(redis, pubsub, report, pupils, starts)
    span, waited = time.perf_counter() - began, _runqueue_wait(guard_pid) - waited
    load.terminate()
    load.join(10)
    print(f"reaction: recording start in a {BIG_USERS}-participant lesson under a paced "
          f"{BACKGROUND_RATE:,} events/s, {len(samples)} starts (target p99 < 20 ms)")
    _print_samples(samples)
    print(f"  guard waited for a CPU {waited / span * 100:.1f}% of the phase; "
          f"load average {load_avg:.2f} at the start; pinned: {pin}; guard nice {nice}")
    bursts = await _reaction(redis, pubsub, report, pupils, max(starts // 10, 5),
                             _burst_events())
    print(f"burst: {BURST:,} UserTalkingVoiceEvtMsg written at once with the recording "
          f"start in the middle, {len(bursts)} rounds, no paced load (no target)")
    _print_samples(bursts)
    report.send("gc?")
    _, pauses = report.recv()
    for generation in (0, 1, 2):
        mine = [p for p in pauses if p[0] == generation]
        print(f"  GC generation {generation} in the guard: {len(mine)} runs, longest "
              f"{max((p[1] for p in mine), default=0) * 1000:.1f} ms wall / "
              f"{max((p[2] for p in mine), default=0) * 1000:.1f} ms CPU")
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=200)
    parser.add_argument("--no-pin", action="store_true")
    parser.add_argument("--nice", type=int, default=0,
                        help="the guard's nice value (a negative one needs root), as a "
                             "deployment giving the gateway CPU priority would set")
    args = parser.parse_args()
    pin = not args.no_pin
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", workdir,
             # A burst at maximum rate outruns any subscriber for a moment; on BBB's
             # own Redis raise the limit for the guard only (config/bbb/redis-guard.md).
             "--client-output-buffer-limit", "pubsub 0 0 0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _pin(server.pid, 0, pin)
        _pin(0, 0, pin)
        url = f"redis://127.0.0.1:{port}/0"
        mine, theirs = multiprocessing.Pipe()
        guard = multiprocessing.get_context("spawn").Process(
            target=_guard_process, args=(url, theirs, pin, args.nice))
        try:
            time.sleep(0.3)
            guard.start()
            time.sleep(1.5)
            assert guard.pid is not None
            asyncio.run(run(url, guard.pid, mine, args.starts, pin, args.nice))
        finally:
            guard.terminate()
            guard.join(10)
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
