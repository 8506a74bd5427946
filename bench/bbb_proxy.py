"""Benchmark: BBB API calls through the gateway versus straight to BBB (the emulator).

    python -m bench.bbb_proxy [--seconds 5] [--concurrency 1,50,200] [--store redis|memory]

Method: the BBB emulator (gateway/demo/bbb_server.py), the gateway (production
app, JSON logs at INFO, Redis store unless `--store memory`) and redis-server
each run in their own process; the load comes from `wrk` (one thread, kept-alive
connections) cycling through pre-signed URLs, so the Python load generator is
out of the picture. Every create URL carries a fresh meetingID (a real create,
not a duplicateWarning). For create and getMeetings, at each `--concurrency`
(1, 50 and 200 unless told), "direct" and "proxy" rows run back to back in the
same run; the table gives p50/p99 latency, requests/s, the added latency, the
throughput share and each server's own CPU time per request (independent of
what it shares the cores with). All processes share the machine's cores.

Between them, a "bare" row measures the floor of any Python proxy here: an
aiohttp app in its own process (bench-only, `_serve_bare`) that forwards the
same request, already signed for the emulator, with the gateway's own upstream
client (bbb_hooks/upstream.py) and returns the body: no checksum, policy,
store, logs or middleware. The floor table shows, per call and concurrency,
how much of the gateway's CPU and throughput gap is that floor (aiohttp's
server, the client exchange, the interpreter) and how much the gateway's own
work.

The closing summary gives, per call and concurrency, the share of direct
throughput and the gateway's CPU per call against the emulator's, with issue
16's targets: gateway CPU per read call (getMeetings) at most 0.5 ms and at
most 2x the emulator's; throughput through the gateway at least 0.5 of direct
at 50 concurrent (getMeetings and create).

The bench emulator answers getMeetings from a cached body while the meeting
list is unchanged: the stock emulator rebuilds 20 meetings of XML with
ElementTree per call (~300 calls/s), which would make the emulator, not the
gateway, the bottleneck of both rows.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.wrk import Child, Load, cpu_seconds, run_wrk, start_redis

EMU_SECRET = "e" * 48
LMS_SECRET = "l" * 48
SEED_MEETINGS = 20  # a realistic getMeetings answer: 20 running meetings
BARE_LIMIT = 16 * 1024 * 1024  # the bare pass-through's bound on an answer


def signed_path(call: str, params: list[tuple[str, str]], secret: str) -> str:
    query = urlencode(params)
    checksum = hashlib.sha256((call + query + secret).encode()).hexdigest()
    sep = "&" if query else ""
    return f"/bigbluebutton/api/{call}?{query}{sep}checksum={checksum}"


def create_params(meeting_id: str) -> list[tuple[str, str]]:
    """What an LMS sends for a lesson (Moodle-like, without the optional texts)."""
    return [("meetingID", meeting_id), ("name", "Les 3B wiskunde"), ("record", "true"),
            ("attendeePW", "ap"), ("moderatorPW", "mp"),
            ("meta_bbb-origin", "Moodle")]


# -- child processes ------------------------------------------------------------------------

async def _serve_emulator(port: int, root: str) -> None:
    from aiohttp import web

    from gateway.demo.bbb_server import BBBEmulator

    class _NoLog(list[Any]):
        def append(self, item: Any) -> None:  # the bench keeps no request log
            pass

    class BenchEmulator(BBBEmulator):
        cached: tuple[int, bytes] = (-1, b"")

        async def _call_getMeetings(self, p: dict[str, str], body: bytes,
                                    request: web.Request) -> web.Response:
            if self.cached[0] != len(self.meetings):
                answer = await super()._call_getMeetings(p, body, request)
                assert isinstance(answer.body, bytes)
                self.cached = (len(self.meetings), answer.body)
            return web.Response(body=self.cached[1], content_type="text/xml", charset="utf-8")

    emulator = BenchEmulator(EMU_SECRET, Path(root))
    emulator.requests = _NoLog()
    await emulator.start(port)
    print("READY", flush=True)
    await asyncio.Event().wait()


async def _serve_gateway(port: int, emulator_url: str, tmp: str, redis_url: str) -> None:
    from aiohttp import web

    from gateway import logs
    from gateway.web import serving
    from privacy_gateway import create_app
    from tests.support import make_settings

    tmp_path = Path(tmp)
    (tmp_path / "bbb.secret").write_text(EMU_SECRET)
    (tmp_path / "lms.secret").write_text(LMS_SECRET)
    store: dict[str, Any] = {}
    if redis_url != "memory":
        (tmp_path / "redis.url").write_text(redis_url)
        store = {"redis_url_file": str(tmp_path / "redis.url")}
    settings = make_settings(tmp_path, {
        "gateway": {"public_url": f"http://127.0.0.1:{port}"}, "dev_idp": {"enabled": False},
        "identity": {"providers": []}, "store": store,
        "bbb": {"enabled": True,
                "servers": [{"name": "bbb1", "url": emulator_url,
                             "secret_file": str(tmp_path / "bbb.secret")}],
                "frontends": [{"name": "lms", "secret_file": str(tmp_path / "lms.secret")}]}})
    logs.configure("INFO")  # as `privacy-gateway serve` runs it
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    serving.freeze_gc()  # as `privacy-gateway serve` does
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


async def _serve_bare(port: int, emulator_origin: str) -> None:
    """The floor: the same request passed to the emulator with the gateway's upstream client."""
    from aiohttp import web

    from bbb_hooks.upstream import Upstream

    upstream = Upstream(connect_timeout=5, total_timeout=120, read_timeout=60, keepalive=30,
                        limit_per_host=512, user_agent="privacy-gateway")  # as bbb_hooks.app

    async def forward(request: web.Request) -> web.Response:
        status, content_type, body = await upstream.get(emulator_origin + request.raw_path,
                                                        BARE_LIMIT)
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get("/bigbluebutton/api/{call}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


# -- load -----------------------------------------------------------------------------------

Row = tuple[str, int, str, Load, float]  # call, concurrency, path, load, server CPU µs/req
CPU_TARGET_US = 500.0  # gateway CPU per proxied read call
CPU_TARGET_RATIO = 2.0  # ... and against the emulator's own
SHARE_TARGET = 0.5  # gateway throughput against direct, at SHARE_CONCURRENCY
SHARE_CONCURRENCY = 50


def _fmt(row: Row) -> str:
    call, conc, path, load, cpu_us = row
    flag = "" if load.unexpected == 0 and load.socket_errors == 0 else (
        f"  !! {load.unexpected} unexpected, {load.socket_errors} socket errors")
    return (f"{call:<12} {conc:>5} {path:<7} {load.rate:>8.0f} {load.p50_ms:>8.2f} "
            f"{load.p99_ms:>8.2f} {cpu_us:>9.0f}{flag}")


def _compare(direct: Row, proxy: Row) -> str:
    d, p = direct[3], proxy[3]
    return (f"{'':<12} {direct[1]:>5} added   p50 {p.p50_ms - d.p50_ms:+.2f} ms, "
            f"p99 {p.p99_ms - d.p99_ms:+.2f} ms, throughput {p.rate / d.rate:.0%} of direct")


def _measured(pids: list[int], base: str, urls: list[str], conc: int,
              secs: float) -> tuple[Load, list[float]]:
    """wrk's figures and the CPU time each process of `pids` spent per request."""
    before = [cpu_seconds(pid) for pid in pids]
    load = run_wrk(base, urls, connections=conc, seconds=secs, needle="SUCCESS")
    return load, [(cpu_seconds(pid) - b) / max(1, load.requests) * 1e6
                  for pid, b in zip(pids, before, strict=True)]


Trio = tuple[Row, Row, Row]  # direct, bare pass-through, gateway


def bench(emulator: Child, bare: Child, gateway: Child, emu_base: str, bare_base: str,
          gw_base: str, seconds: float, concurrencies: list[int],
          redis: Child | None = None) -> list[Trio]:
    trios: list[Trio] = []
    print(f"{'call':<12} {'conc':>5} {'path':<7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'CPU µs/req':>9}   (CPU: emulator for direct, bare server for bare, gateway "
          f"for proxy)")
    for call in ("getMeetings", "create"):
        def paths(prefix: str, secret: str, count: int, call: str = call) -> list[str]:
            if call == "getMeetings":
                return [signed_path("getMeetings", [], secret)]
            return [signed_path("create", create_params(f"{prefix}-{n}"), secret)
                    for n in range(count)]

        run_wrk(gw_base, paths("warm", LMS_SECRET, 2000), connections=50, seconds=1,
                needle="SUCCESS")
        run_wrk(bare_base, paths("warmbare", EMU_SECRET, 2000), connections=50, seconds=1,
                needle="SUCCESS")
        for conc in concurrencies:
            secs = min(seconds, 3.0) if conc == 1 else seconds
            count = int(12000 * secs) if conc > 1 else int(8000 * secs)
            rows: dict[str, Row] = {}
            # The bare row runs last: its creates grow the emulator's meeting list, which
            # the gateway's guard reads, and the proxy row must see what it saw without it.
            for path, base, secret, pid in (("direct", emu_base, EMU_SECRET, emulator.pid),
                                            ("proxy", gw_base, LMS_SECRET, gateway.pid),
                                            ("bare", bare_base, EMU_SECRET, bare.pid)):
                urls = paths(f"{path}{conc}", secret, count)
                others = [emulator.pid, *([redis.pid] if redis is not None and path == "proxy"
                                          else [])]
                load, cpu = _measured([pid, *others] if path != "direct" else [pid], base,
                                      urls, conc, secs)
                if call == "create" and load.requests > len(urls):
                    print(f"   note: {path} cycled its {len(urls)} create URLs (duplicates)")
                rows[path] = (call, conc, path, load, cpu[0])
                also = "" if path == "direct" else (
                    f"  (emulator {cpu[1]:.0f}" + (f", redis {cpu[2]:.0f}" if len(cpu) > 2
                                                   else "") + " µs/req)")
                print(_fmt(rows[path]) + also, flush=True)
                if path == "proxy":
                    print(_compare(rows["direct"], rows["proxy"]), flush=True)
            trios.append((rows["direct"], rows["bare"], rows["proxy"]))
    return trios


def summary(trios: list[Trio]) -> None:
    """Per call and concurrency: throughput share and CPU per call, against the targets."""
    print(f"\n{'call':<12} {'conc':>5} {'direct/s':>9} {'proxy/s':>9} {'share':>6} "
          f"{'gw µs':>7} {'emu µs':>7} {'gw/emu':>7}  targets")
    for direct, _, proxy in trios:
        call, conc = direct[0], direct[1]
        share = proxy[3].rate / direct[3].rate
        ratio = proxy[4] / direct[4] if direct[4] else float("inf")
        notes = []
        if conc == SHARE_CONCURRENCY:
            notes.append(f"share>={SHARE_TARGET:g} {'met' if share >= SHARE_TARGET else 'MISSED'}")
        if call == "getMeetings":
            notes.append(f"cpu<={CPU_TARGET_US:.0f}µs "
                         f"{'met' if proxy[4] <= CPU_TARGET_US else 'MISSED'}")
            notes.append(f"cpu<={CPU_TARGET_RATIO:g}x "
                         f"{'met' if ratio <= CPU_TARGET_RATIO else 'MISSED'}")
        print(f"{call:<12} {conc:>5} {direct[3].rate:>9.0f} {proxy[3].rate:>9.0f} "
              f"{share:>6.2f} {proxy[4]:>7.0f} {direct[4]:>7.0f} {ratio:>7.2f}  "
              f"{', '.join(notes)}", flush=True)
    floor(trios)


def floor(trios: list[Trio]) -> None:
    """The bare pass-through beside direct and the gateway: the floor and the gateway's own."""
    print(f"\nFloor: a bare aiohttp pass-through with the same upstream client (no checksum, "
          f"policy, store, logs)\n{'call':<12} {'conc':>5} {'row':<7} {'req/s':>8} "
          f"{'share':>6} {'CPU µs':>7} {'x emu':>6}")
    for trio in trios:
        direct = trio[0]
        for row in trio:
            share = row[3].rate / direct[3].rate
            ratio = row[4] / direct[4] if direct[4] else float("inf")
            print(f"{row[0]:<12} {row[1]:>5} {row[2]:<7} {row[3].rate:>8.0f} {share:>6.2f} "
                  f"{row[4]:>7.0f} {ratio:>6.2f}")
        _, bare, proxy = trio
        print(f"{'':<12} {direct[1]:>5} gateway's own work: {proxy[4] - bare[4]:+.0f} µs CPU "
              f"per call over the floor ({bare[4]:.0f} µs); throughput "
              f"{proxy[3].rate / bare[3].rate:.2f} of the floor's", flush=True)


def _seed(emu_base: str) -> None:
    for i in range(SEED_MEETINGS):
        urllib.request.urlopen(emu_base + signed_path(
            "create", create_params(f"seed-{i}"), EMU_SECRET)).read()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-emulator":
        asyncio.run(_serve_emulator(int(sys.argv[2]), sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-gateway":
        asyncio.run(_serve_gateway(int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        asyncio.run(_serve_bare(int(sys.argv[2]), sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per row at full load")
    parser.add_argument("--concurrency", default="1,50,200",
                        help="comma-separated connection counts (default 1,50,200)")
    parser.add_argument("--store", choices=("redis", "memory"), default="redis")
    args = parser.parse_args()
    concurrencies = [int(c) for c in str(args.concurrency).split(",") if c.strip()]
    from tests.support import free_port

    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        children: list[Child] = []
        try:
            redis_url = "memory"
            redis: Child | None = None
            if args.store == "redis":
                redis_port = free_port()
                redis = start_redis(redis_port, Path(tmp))
                children.append(redis)
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
            emu_port, bare_port, gw_port = free_port(), free_port(), free_port()
            emulator = Child.python("bench.bbb_proxy", "serve-emulator", str(emu_port),
                                    str(Path(tmp) / "var"))
            children.append(emulator)
            gateway = Child.python("bench.bbb_proxy", "serve-gateway", str(gw_port),
                                   f"http://127.0.0.1:{emu_port}/bigbluebutton", tmp, redis_url)
            children.append(gateway)
            emu_base, gw_base = f"http://127.0.0.1:{emu_port}", f"http://127.0.0.1:{gw_port}"
            bare = Child.python("bench.bbb_proxy", "serve-bare", str(bare_port), emu_base)
            children.append(bare)
            bare_base = f"http://127.0.0.1:{bare_port}"
            _seed(emu_base)
            print(f"BBB proxy benchmark — {os.cpu_count()} CPUs shared by wrk, emulator, bare "
                  f"pass-through, gateway{' and redis-server' if args.store == 'redis' else ''}; "
                  f"load: wrk -t1, pre-signed URLs; gateway store: {args.store}; "
                  f"getMeetings lists {SEED_MEETINGS} meetings; "
                  f"load average {os.getloadavg()[0]:.1f} at start")
            summary(bench(emulator, bare, gateway, emu_base, bare_base, gw_base, args.seconds,
                          concurrencies, redis))
            print(f"({time.monotonic() - started:.0f} s)")
        finally:
            for child in reversed(children):
                child.stop()


if __name__ == "__main__":
    main()
