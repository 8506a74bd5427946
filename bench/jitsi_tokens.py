"""Jitsi tokens per second: through /jitsi/auth for a logged-in user vs bare jwt.encode.

Run: python -m bench.jitsi_tokens [seconds]
Prints: bare jwt.encode rate of the same claims; the gateway's minting path in process
(session lookup, room type, consent, claims, signature); /jitsi/auth over HTTP with
100 concurrent requests (client in the same process, so it shares the CPU), with p50/p99.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from aiohttp.test_utils import TestServer, make_mocked_request

from gateway import jitsi_policy
from gateway.app import create_app
from gateway.sessions import current_session
from jitsi_hooks.auth import mint_for
from tests.jitsi.support import jitsi_settings, seed_session
from tests.support import free_port

CONCURRENCY = 100


def bare_rate(claims: dict[str, Any], secret: bytes, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
        count += 200
    return count / (time.perf_counter() - start)


async def in_process_rate(app: Any, cookie: str, seconds: float) -> float:
    request = make_mocked_request("GET", "/jitsi/auth?room=lesson-1", app=app,
                                  headers={"Cookie": cookie})
    session = await current_session(request)
    assert session is not None
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(100):
            await mint_for(request, session, "lesson-1")
        count += 100
    return count / (time.perf_counter() - start)


async def http_run(url: str, cookie: str, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with http.get(url, headers={"Cookie": cookie},
                                    allow_redirects=False) as resp:
                    assert resp.status == 302 and "jwt=" in resp.headers["Location"]
                latencies.append(time.perf_counter() - started)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = jitsi_settings(Path(tmp), {"dev_idp": {"enabled": False},
                                              "identity": {"providers": []}})
        app = create_app(settings)
        server = TestServer(app, host="127.0.0.1", port=free_port())
        await server.start_server()
        try:
            cookie = await seed_session(app, "teacher")
            claims = jitsi_policy.token_claims(
                settings.policy, jitsi_policy.Person("teacher", "p_x", "Tamara", None),
                jitsi_policy.TokenRequest("lesson-1", "lesson", False, time.time(), "abc"))
            bare = bare_rate(claims, settings.secrets.get("jitsi.app_secret"), seconds)
            inproc = await in_process_rate(app, cookie, seconds)
            url = f"http://127.0.0.1:{server.port}/jitsi/auth?room=lesson-1"
            rate, latencies = await http_run(url, cookie, seconds)
        finally:
            await server.close()
    ordered = sorted(latencies)
    p99 = ordered[max(0, round(len(ordered) * 0.99) - 1)] * 1000
    print(f"bare jwt.encode (HS256, same claims):   {bare:10.0f} tokens/s")
    print(f"gateway minting path, in process:       {inproc:10.0f} tokens/s  "
          f"ratio {inproc / bare:6.1%}")
    print(f"/jitsi/auth over HTTP, {CONCURRENCY} concurrent:   {rate:10.0f} tokens/s  "
          f"ratio {rate / bare:6.1%}")
    print(f"/jitsi/auth latency at {CONCURRENCY} concurrent: p50 "
          f"{statistics.median(ordered) * 1000:.1f} ms  p99 {p99:.1f} ms  "
          f"({len(ordered)} requests)")


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1]) if len(sys.argv) > 1 else 5.0))
