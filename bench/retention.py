"""Retention benchmarks (G16). Run: `python -m bench.retention [--quick] [--deletions]`.

1. Selecting one sweep's work from a registry of 1,000,000 recordings of which
   1% are due: time and peak Python memory, with the real Redis store (a
   redis-server the bench starts) and with the embedded memory store.
   Targets: under 1 s and under 200 MB.
2. Reconciling 10k / 50k / 100k BBB recordings through paginated getRecordings
   (a synthetic bbb-web in another process; each count in a fresh process so
   its peak RSS is the gateway's alone): the peak must stay flat as the count
   grows. Plus the first sweep over an empty registry (every row written).
3. Deleting 1,000 due BBB recordings against the BBB stand-in (gateway/demo/bbb_server.py,
   a real /var/bigbluebutton-shaped tree) with the real purge agent, each
   deletion verified (target: under 60 s): batched deleteRecordings, purge
   agent and getRecordings check, bounded concurrency per server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import redis as redis_sync
from aiohttp import web

from bbb_hooks.recordings import BBBSource
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.policy.model import Policy
from gateway.policy.retention import (
    DeclaredRecording,
    RegistryRow,
    decide_retention,
    merge_into_row,
)
from gateway.retention.sweeper import Sweeper, SweepResult
from gateway.store.base import MemoryStore, Store
from gateway.store.redis_store import RedisStore
from gateway.store.registry import DUE, Registry, encode_row
from tests.support import free_port, make_settings

NOW = 1_800_000_000.0
DAY = 86400.0
SECRET = b"x" * 32


def _row(i: int, due: bool) -> RegistryRow:
    retain = NOW - 3600 - i if due else NOW + DAY + i
    return RegistryRow(platform="bbb", recording_id=f"{i:040x}-1700000000000", server="bbb1",
                       meeting_ref=f"m{i}", meeting_type="lesson", purpose="lecture",
                       created=retain - 30 * DAY, retain_until=retain)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (scripts/test.sh installs it)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis_sync.Redis(port=port)
    for _ in range(200):
        with contextlib.suppress(redis_sync.ConnectionError):
            client.ping()
            break
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


_FILL_LUA = """
local due_every = tonumber(ARGV[3])
for i = tonumber(ARGV[1]), tonumber(ARGV[2]) do
  local until_ = (i % due_every == 0) and (ARGV[4] - 3600 - i) or (ARGV[4] + 86400 + i)
  local member = 'bbb:' .. string.format('%040x', i) .. '-1700000000000'
  redis.call('HSET', 'pgw:rec:row:' .. member, 'platform', 'bbb',
    'recording_id', string.sub(member, 5), 'server', 'bbb1', 'meeting_ref', 'm' .. i,
    'meeting_type', 'lesson', 'purpose', 'lecture', 'created', until_ - 2592000,
    'retain_until', until_, 'holds', '', 'forced', '0', 'attempts', '0',
    'first_failure', '', 'next_attempt', '')
  redis.call('ZADD', KEYS[1], until_, member)
end
return 1
"""


def fill_redis(url: str, total: int, due_every: int) -> None:
    """Write `total` registry rows (same shape as Registry.put) inside Redis, in batches."""
    client = redis_sync.Redis.from_url(url)
    script = client.register_script(_FILL_LUA)
    for start in range(0, total, 50_000):
        script(keys=[f"pgw:{DUE}"],
               args=[start, min(total, start + 50_000) - 1, due_every, int(NOW)])
    client.close()


async def fill_memory(store: MemoryStore, total: int, due_every: int) -> None:
    """Only the due index (rows of 1M recordings would not fit a laptop's memory store)."""
    rows = sorted((_row(i, i % due_every == 0) for i in range(total)),
                  key=lambda r: r.retain_until)
    for row in rows:
        await store.zadd(DUE, {row.key: row.retain_until})
    for row in rows[: total // due_every]:
        await store.hset(f"rec:row:{row.key}", encode_row(row), None)


async def measure(label: str, work: Callable[[], Awaitable[Any]]) -> Any:
    tracemalloc.start()
    started = time.perf_counter()
    result = await work()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"  {label:<44} {elapsed:8.3f} s   peak {peak / 1e6:8.1f} MB")
    return result


async def select_work(store: Store, expected: int) -> None:
    registry = Registry(store)

    async def keys_only() -> list[str]:
        return await registry.due_keys(NOW, 1_000_000)

    async def with_rows() -> int:
        keys = await registry.due_keys(NOW, 1_000_000)
        return sum([await registry.get(k) is not None for k in keys])

    keys = await measure(f"select due keys ({expected} of the registry)", keys_only)
    assert len(keys) == expected, len(keys)
    await measure("select due keys + read each row", with_rows)


async def bench_selection(total: int) -> None:
    due_every = 100
    print(f"\n1. One sweep's work from {total:,} recordings, 1% due (targets: < 1 s, < 200 MB)")
    with redis_server() as url:
        started = time.perf_counter()
        fill_redis(url, total, due_every)
        print(f"  (filled Redis in {time.perf_counter() - started:.1f} s)")
        store = RedisStore.from_url(url)
        print(" Redis store:")
        await select_work(store, total // due_every)
        await store.close()
    memory = MemoryStore("pgw", ManualClock(NOW))
    started = time.perf_counter()
    await fill_memory(memory, total, due_every)
    print(f"  (filled the memory store in {time.perf_counter() - started:.1f} s)")
    print(" Memory store:")
    await select_work(memory, total // due_every)


# --- 2. reconciliation through paginated getRecordings --------------------------

def _recordings_page(offset: int, limit: int, total: int) -> bytes:
    parts = ["<response><returncode>SUCCESS</returncode><recordings>"]
    for i in range(offset, min(total, offset + limit)):
        rid = f"{i:040x}-{1_700_000_000_000 + i}"
        parts.append(
            f"<recording><recordID>{rid}</recordID><meetingID>m{i}</meetingID>"
            f"<internalMeetingID>{rid}</internalMeetingID><name>Les {i}</name>"
            f"<published>true</published><state>published</state>"
            f"<startTime>{1_700_000_000_000 + i}</startTime><endTime>0</endTime>"
            f"<participants>3</participants><metadata><privacy-purpose>lecture"
            f"</privacy-purpose><privacy-meeting-type>lesson</privacy-meeting-type>"
            f"</metadata><playback><format><type>presentation</type><url>u</url>"
            f"</format></playback></recording>")
    parts.append("</recordings></response>")
    return "".join(parts).encode()


def serve_bbb(port: int, total: int) -> None:
    """A synthetic bbb-web: pages generated on the fly, nothing stored."""

    async def handler(request: web.Request) -> web.Response:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query.get("limit", "100"))
        return web.Response(body=_recordings_page(offset, limit, total),
                            content_type="text/xml")

    app = web.Application()
    app.router.add_get("/bigbluebutton/api/getRecordings", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, handle_signals=True)


@contextlib.contextmanager
def bbb_process(total: int) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.retention", "--serve-bbb",
                             str(port), str(total)])
    for _ in range(200):
        with contextlib.suppress(OSError):
            import socket

            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/bigbluebutton"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _declared(i: int) -> DeclaredRecording:
    rid = f"{i:040x}-{1_700_000_000_000 + i}"
    return DeclaredRecording(platform="bbb", recording_id=rid, server="bbb1", meeting_ref=rid,
                             meeting_type="lesson", purpose="lecture",
                             created=(1_700_000_000_000 + i) / 1000.0)


def prefill_registry(url: str, policy: Policy, total: int) -> None:
    """The registry as the previous sweep left it (what a routine sweep finds)."""
    client = redis_sync.Redis.from_url(url)
    pipe = client.pipeline(transaction=False)
    for i in range(total):
        declared = _declared(i)
        row = merge_into_row(None, declared, decide_retention(policy, declared, NOW))
        pipe.hset(f"pgw:rec:row:{row.key}", mapping=encode_row(row))  # type: ignore[arg-type]
        pipe.zadd(f"pgw:{DUE}", {row.key: row.retain_until})
        pipe.sadd(f"pgw:rec:meeting:bbb:{row.meeting_ref}", row.key)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    client.close()


async def reconcile_once(redis_url: str, bbb_url: str) -> tuple[int, float]:
    tmp = tempfile.mkdtemp(prefix="bench-policy-")
    policy = make_settings(Path(tmp)).policy
    store = RedisStore.from_url(redis_url)
    async with aiohttp.ClientSession() as http:
        source = BBBSource(Server("bbb1", bbb_url, SECRET, "sha256"), http, ["true"],
                           page_size=200)
        sweeper = Sweeper(policy=policy, store=store, sources=[source], clock=ManualClock(NOW),
                          metrics=Metrics(), audit=AuditLog(store, ManualClock(NOW), 365))
        result = SweepResult()
        started = time.perf_counter()
        await sweeper.reconcile(result)
        elapsed = time.perf_counter() - started
    await store.close()
    shutil.rmtree(tmp, ignore_errors=True)
    assert not result.source_errors
    return result.reconciled, elapsed


def _peak_rss_mb() -> float:
    """VmHWM: this process image's own peak (ru_maxrss would carry the parent's over exec)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reconcile_child(redis_url: str, bbb_url: str) -> None:
    """One reconciliation in a fresh process; prints count, seconds and peak RSS."""
    count, elapsed = asyncio.run(reconcile_once(redis_url, bbb_url))
    peak_mb = _peak_rss_mb()
    print(json.dumps({"count": count, "seconds": elapsed, "peak_rss_mb": peak_mb}))


def bench_reconcile(counts: list[int], fresh: int) -> None:
    print("\n2. Reconciling BBB recordings through paginated getRecordings, 200 per page "
          "(peak memory must stay flat; each count in a fresh process)")
    tmp = tempfile.mkdtemp(prefix="bench-policy-")
    policy = make_settings(Path(tmp)).policy
    with redis_server() as url:
        runs = [(n, True) for n in counts] + [(fresh, False)]
        for total, prefilled in runs:
            redis_sync.Redis.from_url(url).flushall()
            if prefilled:
                prefill_registry(url, policy, total)
            with bbb_process(total) as bbb_url:
                done = subprocess.run(
                    [sys.executable, "-m", "bench.retention", "--reconcile-child", url,
                     bbb_url], capture_output=True, text=True, check=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            assert figures["count"] == total
            kind = "routine sweep (registry up to date)" if prefilled else \
                "first sweep (empty registry: every row written, audited)"
            print(f"  {total:>7,} recordings, {kind:<58} {figures['seconds']:7.1f} s "
                  f"({figures['seconds'] / total * 1e6:5.0f} us each)   "
                  f"peak RSS {figures['peak_rss_mb']:6.1f} MB")
    shutil.rmtree(tmp, ignore_errors=True)


# --- 3. deleting due BBB recordings against the stand-in ----------------------------

async def delete_due_run(tmp: Path, redis_url: str, count: int) -> tuple[float, int]:
    """`count` due recordings on the BBB stand-in, one sweep: (seconds, deleted)."""
    import secrets

    from bbb_hooks.recordings import BBBSource
    from gateway.audit.journal import AuditJournal
    from gateway.demo.bbb_server import BBBEmulator

    policy = make_settings(tmp).policy
    emulator = BBBEmulator(secret=secrets.token_hex(24), root=tmp / "var-bigbluebutton")
    await emulator.start()
    start_ms = int((time.time() - 60 * DAY) * 1000)
    rids = [emulator.add_recording(f"m{i}", meta={"privacy-meeting-type": "lesson",
                                                  "privacy-purpose": "feedback"},
                                   start_ms=start_ms + i) for i in range(count)]
    store = RedisStore.from_url(redis_url)
    clock = ManualClock(time.time())
    try:
        async with aiohttp.ClientSession() as http:
            source = BBBSource(Server("bbb1", emulator.url, emulator.secret.encode(),
                                      "sha256"), http,
                               [sys.executable, "-m", "bbb_hooks.purge", "--root",
                                str(emulator.root)])
            sweeper = Sweeper(policy=policy, store=store, sources=[source], clock=clock,
                              metrics=Metrics(), audit=AuditLog(
                                  store, clock, 365, AuditJournal(tmp / "audit-log", 365)))
            started = time.perf_counter()
            result = await sweeper.sweep_if_leader()
            elapsed = time.perf_counter() - started
    finally:
        await store.close()
        await emulator.stop()
    assert result is not None and not result.failures, result
    left = [rid for rid in rids if emulator.recording_state(rid) is not None
            or (emulator.root / "recording" / "raw" / rid).exists()]
    assert not left, f"{len(left)} recordings left"
    return elapsed, result.deleted


def bench_deletions(count: int) -> None:
    print(f"\n3. Deleting {count:,} due BBB recordings against the BBB stand-in, "
          "purge agent and verification included (target: < 60 s)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-delete-"))
    try:
        with redis_server() as url:
            elapsed, deleted = asyncio.run(delete_due_run(tmp, url, count))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"  {deleted:,} deleted and verified gone in {elapsed:.1f} s "
          f"({deleted / elapsed:.0f} recordings/s)")


async def amain(quick: bool) -> None:
    await bench_selection(100_000 if quick else 1_000_000)
    bench_reconcile([1_000, 5_000, 10_000] if quick else [10_000, 50_000, 100_000],
                    fresh=1_000 if quick else 10_000)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retention")
    parser.add_argument("--quick", action="store_true", help="10x smaller, for a smoke run")
    parser.add_argument("--deletions", action="store_true",
                        help="only part 3: 1,000 due BBB recordings deleted and verified")
    parser.add_argument("--serve-bbb", nargs=2, type=int, metavar=("PORT", "COUNT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--reconcile-child", nargs=2, metavar=("REDIS", "BBB"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bbb:
        serve_bbb(*args.serve_bbb)
        return
    if args.reconcile_child:
        reconcile_child(*args.reconcile_child)
        return
    assert math.isfinite(NOW)
    if not args.deletions:
        asyncio.run(amain(args.quick))
    bench_deletions(1_000)


if __name__ == "__main__":
    main()
