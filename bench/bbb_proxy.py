"""Benchmark: BBB API calls through the gateway versus straight to BBB (the emulator).

    python -m bench.bbb_proxy [--concurrency 200] [--requests 4000]

The emulator and the gateway each run in their own process; this process is
the load generator (one aiohttp session, `concurrency` workers). For create
and getMeetings it prints p50/p99 latency direct and through the proxy, the
added latency, and the throughput ratio (targets: <= 2 ms added at p50,
>= 50 % of direct throughput). Figures depend on the machine: all three
processes share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
from yarl import URL

EMU_SECRET = "e" * 48
LMS_SECRET = "l" * 48


def signed(base: str, call: str, params: list[tuple[str, str]], secret: str) -> URL:
    query = urlencode(params)
    checksum = hashlib.sha256((call + query + secret).encode()).hexdigest()
    sep = "&" if query else ""
    return URL(f"{base}/bigbluebutton/api/{call}?{query}{sep}checksum={checksum}", encoded=True)


# -- child processes ------------------------------------------------------------------------

async def _serve_emulator(port: int, root: str) -> None:
    from tests.emulators.bbb import BBBEmulator

    emulator = BBBEmulator(EMU_SECRET, Path(root))
    await emulator.start(port)
    print("READY", flush=True)
    await asyncio.Event().wait()


async def _serve_gateway(port: int, emulator_url: str, tmp: str) -> None:
    from aiohttp import web

    from gateway.app import create_app
    from tests.support import make_settings

    tmp_path = Path(tmp)
    (tmp_path / "bbb.secret").write_text(EMU_SECRET)
    (tmp_path / "lms.secret").write_text(LMS_SECRET)
    settings = make_settings(tmp_path, {
        "gateway": {"public_url": f"http://127.0.0.1:{port}"}, "dev_idp": {"enabled": False},
        "bbb": {"enabled": True,
                "servers": [{"name": "bbb1", "url": emulator_url,
                             "secret_file": str(tmp_path / "bbb.secret")}],
                "frontends": [{"name": "lms", "secret_file": str(tmp_path / "lms.secret")}]}})
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.Popen([sys.executable, "-m", "bench.bbb_proxy", *args],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "READY":
        proc.kill()
        raise SystemExit(f"child {args[0]} did not start")
    return proc


# -- load ---------------------------------------------------------------------------------

async def _run(session: aiohttp.ClientSession, make_url: Callable[[int], URL], total: int,
               concurrency: int) -> tuple[list[float], float]:
    counter = itertools.count()
    latencies: list[float] = []

    async def worker() -> None:
        while (n := next(counter)) < total:
            url = make_url(n)
            start = time.perf_counter()
            async with session.get(url) as response:
                body = await response.read()
            latencies.append(time.perf_counter() - start)
            if b"SUCCESS" not in body:
                raise SystemExit(f"unexpected answer: {body[:200]!r}")

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, total / (time.perf_counter() - began)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


async def _load(emulator: str, gateway: str, total: int, concurrency: int) -> None:
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        for i in range(20):  # a realistic getMeetings answer: 20 running meetings
            await session.get(signed(gateway, "create", [("meetingID", f"seed-{i}")],
                                     LMS_SECRET))
        scenarios = {
            "getMeetings": lambda base, secret: (lambda n: signed(base, "getMeetings", [],
                                                                  secret)),
            "create": lambda base, secret: (lambda n: signed(
                base, "create", [("meetingID", f"{secret[0]}-{n}"), ("name", "Les"),
                                 ("record", "true")], secret)),
        }
        print(f"BBB proxy benchmark: {total} requests per row, {os.cpu_count()} CPUs "
              "(emulator, gateway and load generator share them)")
        print(f"{'call':<12} {'conc':>4} {'path':<7} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
        for call, factory in scenarios.items():
            await _run(session, factory(gateway, LMS_SECRET), 200, 50)  # warm-up
            for conc, count in ((1, min(total, 500)), (concurrency, total)):
                direct, direct_rps = await _run(session, factory(emulator, EMU_SECRET), count,
                                                conc)
                proxy, proxy_rps = await _run(session, factory(gateway, LMS_SECRET), count,
                                              conc)
                for path, lat, rps in (("direct", direct, direct_rps),
                                       ("proxy", proxy, proxy_rps)):
                    print(f"{call:<12} {conc:>4} {path:<7} {_pct(lat, 50):8.2f} "
                          f"{_pct(lat, 99):8.2f} {rps:8.0f}")
                added = _pct(proxy, 50) - _pct(direct, 50)
                print(f"{call:<12} {conc:>4} added p50 {added:+.2f} ms,"
                      f" p99 {_pct(proxy, 99) - _pct(direct, 99):+.2f} ms, "
                      f"throughput {proxy_rps / direct_rps:.0%} of direct")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-emulator":
        asyncio.run(_serve_emulator(int(sys.argv[2]), sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-gateway":
        asyncio.run(_serve_gateway(int(sys.argv[2]), sys.argv[3], sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    from tests.support import free_port

    with tempfile.TemporaryDirectory() as tmp:
        emu_port, gw_port = free_port(), free_port()
        emulator = _start("serve-emulator", str(emu_port), str(Path(tmp) / "var"))
        gateway = _start("serve-gateway", str(gw_port),
                         f"http://127.0.0.1:{emu_port}/bigbluebutton", tmp)
        try:
            asyncio.run(_load(f"http://127.0.0.1:{emu_port}", f"http://127.0.0.1:{gw_port}",
                              args.requests, args.concurrency))
        finally:
            for child in (gateway, emulator):
                child.terminate()
                child.wait(timeout=10)


if __name__ == "__main__":
    main()
