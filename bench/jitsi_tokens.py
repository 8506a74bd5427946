"""Jitsi tokens per second: /jitsi/auth for a logged-in user vs bare jwt.encode.

    python -m bench.jitsi_tokens [--seconds 5] [--store redis|memory] [--workers 2]

Method: bare `jwt.encode` (HS256) of the same claims and the gateway's minting
path without HTTP (`mint_for`: session, room type, consent, claims, signature)
run in this process. Over HTTP, the gateway (production app, JSON logs at
INFO, Redis store unless `--store memory`) runs in its own process and `wrk`
(one thread, 100 kept-alive connections, a fixed session cookie created through
the store) drives it; every answer is checked to be a 302 to the room with
`jwt=`. The HTTP ceiling is measured the same way in the same run: a bare
aiohttp hello-world process, the gateway's own /healthz and, as the floor of
a redirect, a bench-only route in the same gateway process answering a fixed
302 to the room with a token minted once (the same Location as /jitsi/auth,
through the same middlewares; `/bench/redirect`). The last row runs
the gateway as `--workers` processes sharing the port (SO_REUSEPORT), a
deployment choice, not a code change. All processes share the machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from bench.wrk import Child, Load, cpu_seconds, run_wrk, start_redis

CONCURRENCY = 100
AUTH_TARGET = 0.5  # /jitsi/auth against the same process's /healthz (issue 16)
ROOM = "lesson-1"


# -- child processes ------------------------------------------------------------------------

def _write_policy(tmp: Path, redis_url: str) -> Path:
    """The Jitsi example policy and its secrets, written once for every process to load."""
    from tests.jitsi.support import jitsi_settings

    store: dict[str, Any] = {}
    if redis_url != "memory":
        (tmp / "redis.url").write_text(redis_url)
        store = {"redis_url_file": str(tmp / "redis.url")}
    jitsi_settings(tmp, {"dev_idp": {"enabled": False}, "identity": {"providers": []},
                         "store": store})
    return tmp / "policy.toml"


def _settings(tmp: Path) -> Any:
    from gateway.config.loading import load_settings

    return load_settings(tmp / "policy.toml", env={})


async def _serve_hello(port: int) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


REDIRECT = "/bench/redirect"  # the bench-only fixed redirect, added to the gateway's app


async def _serve_gateway(port: int, tmp: str, redis_url: str, seed: bool) -> None:
    from aiohttp import web

    from gateway import logs
    from gateway.web import serving
    from privacy_gateway import create_app
    from tests.jitsi.support import seed_session

    logs.configure("INFO")  # as `privacy-gateway serve` runs it
    app = create_app(_settings(Path(tmp)))
    location = ["/"]  # set below to a real /jitsi/auth answer's Location (room and token)

    async def fixed_redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": location[0]})

    app.router.add_get(REDIRECT, fixed_redirect)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    serving.freeze_gc()  # as `privacy-gateway serve` does
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    cookie = await seed_session(app, "teacher") if seed else ""
    if seed:  # the room's notice is shown once per person (G18): continue from it, as a user
        import aiohttp

        from tests.jitsi.support import enter_room

        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await enter_room(client, f"room={ROOM}", cookie)
            assert answer.status in (302, 303), f"the notice led nowhere ({answer.status})"
            minted = await client.get(f"/jitsi/auth?room={ROOM}", headers={"Cookie": cookie},
                                      allow_redirects=False)
            assert minted.status == 302 and "jwt=" in minted.headers["Location"]
            location[0] = minted.headers["Location"]
    print(f"READY {cookie}", flush=True)
    await asyncio.Event().wait()


# -- in this process --------------------------------------------------------------------------

def bare_rate(claims: dict[str, Any], secret: bytes, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})
        count += 200
    return count / (time.perf_counter() - start)


async def in_process(tmp: Path, redis_url: str, cookie: str,
                     seconds: float) -> tuple[float, float]:
    """(bare jwt.encode/s, gateway minting path/s without HTTP) on the gateway's store."""
    from aiohttp.test_utils import make_mocked_request

    from gateway.login.sessions import current_session
    from gateway.policy import jitsi as jitsi_policy
    from jitsi_hooks.auth import mint_for
    from privacy_gateway import create_app

    settings = _settings(tmp)
    app = create_app(settings)
    claims = jitsi_policy.token_claims(
        settings.policy, jitsi_policy.Person("teacher", "p_x", "Tamara", None),
        jitsi_policy.TokenRequest(ROOM, "lesson", time.time(), "abc"))
    bare = bare_rate(claims, settings.secrets.get("jitsi.app_secret"), seconds)
    runner = None
    if redis_url == "memory":  # the session lives in the gateway child: seed one here
        from tests.jitsi.support import seed_session

        cookie = await seed_session(app, "teacher")
    from aiohttp import web

    runner = web.AppRunner(app)
    await runner.setup()  # starts the adapters' contexts (the Jitsi minter)
    try:
        request = make_mocked_request("GET", f"/jitsi/auth?room={ROOM}", app=app,
                                      headers={"Cookie": cookie})
        session = await current_session(request)
        assert session is not None, "the seeded session was not found"
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(100):
                await mint_for(request, session, ROOM)
            count += 100
        return bare, count / (time.perf_counter() - start)
    finally:
        await runner.cleanup()


# -- over HTTP ----------------------------------------------------------------------------------

def _row(name: str, load: Load, cpu_us: float | None, bare: float | None) -> str:
    ratio = f"{load.rate / bare:7.1%}" if bare else f"{'':>7}"
    cpu = f"{cpu_us:9.0f}" if cpu_us is not None else f"{'':>9}"
    flag = "" if load.unexpected == 0 and load.socket_errors == 0 else (
        f"  !! {load.unexpected} unexpected, {load.socket_errors} socket errors")
    return (f"{name:<40} {load.rate:>9.0f} {ratio} {load.p50_ms:>8.2f} {load.p99_ms:>8.2f} "
            f"{cpu}{flag}")


@dataclass(frozen=True)
class Expect:
    """What every answer must be (checked by wrk's Lua), and the session cookie to send."""

    status: int = 200
    needle: str = ""
    header: str = ""  # look for the needle in this header instead of the body
    cookie: str = ""


def _load(base: str, path: str, pids: list[int], seconds: float,
          expect: Expect) -> tuple[Load, float]:
    before = sum(cpu_seconds(p) for p in pids)
    load = run_wrk(base, [path], connections=CONCURRENCY, seconds=seconds,
                   status=expect.status, needle=expect.needle, header=expect.header,
                   headers=[f"Cookie: {expect.cookie}"] if expect.cookie else [])
    used = sum(cpu_seconds(p) for p in pids) - before
    return load, used / max(1, load.requests) * 1e6


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def run(seconds: float, store: str, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        children: list[Child] = []
        try:
            redis_url = "memory"
            if store == "redis":
                redis_port = _free_port()
                children.append(start_redis(redis_port, tmp))
                redis_url = f"redis://127.0.0.1:{redis_port}/0"
            _write_policy(tmp, redis_url)
            hello_port, gw_port = _free_port(), _free_port()
            hello = Child.python("bench.jitsi_tokens", "serve-hello", str(hello_port))
            children.append(hello)
            gateway = Child.python("bench.jitsi_tokens", "serve-gateway", str(gw_port), tmp_name,
                                   redis_url, "seed")
            children.append(gateway)
            cookie = gateway.announced
            bare, minting = asyncio.run(in_process(tmp, redis_url, cookie, min(seconds, 3.0)))
            gw, auth = f"http://127.0.0.1:{gw_port}", f"/jitsi/auth?room={ROOM}"
            token = Expect(status=302, needle="jwt=", header="Location", cookie=cookie)
            run_wrk(gw, [auth], connections=CONCURRENCY, seconds=1, status=302)  # warm-up
            print(f"Jitsi token benchmark — {os.cpu_count()} CPUs shared by wrk and the "
                  f"servers; load: wrk -t1 -c{CONCURRENCY}; gateway store: {store}; "
                  f"load average {os.getloadavg()[0]:.1f} at start")
            print(f"{'path':<40} {'per s':>9} {'vs bare':>7} {'p50 ms':>8} {'p99 ms':>8} "
                  f"{'CPU µs/req':>9}")
            print(f"{'bare jwt.encode (HS256, same claims)':<40} {bare:>9.0f} {1:7.1%}")
            print(f"{'minting path, no HTTP (mint_for)':<40} {minting:>9.0f} "
                  f"{minting / bare:7.1%}")
            rows = [
                ("HTTP ceiling: bare aiohttp hello-world", hello_port, "/", Expect()),
                ("HTTP ceiling: gateway /healthz", gw_port, "/healthz", Expect()),
                ("redirect floor: fixed 302, same process", gw_port, REDIRECT,
                 Expect(status=302, needle="jwt=", header="Location", cookie=cookie)),
                ("/jitsi/auth, 1 gateway process", gw_port, auth, token),
            ]
            rates: dict[str, tuple[float, float]] = {}
            for name, port, path, checks in rows:
                pid = hello.pid if port == hello_port else gateway.pid
                load, cpu_us = _load(f"http://127.0.0.1:{port}", path, [pid], seconds, checks)
                rates[path] = (load.rate, cpu_us)
                print(_row(name, load, cpu_us, bare if path == auth else None), flush=True)
            (health, health_us), (floor, floor_us), (minted, minted_us) = (
                rates["/healthz"], rates[REDIRECT], rates[auth])
            print(f"/jitsi/auth: {minted / health:.2f} of /healthz's rate (target >="
                  f"{AUTH_TARGET:g} {'met' if minted / health >= AUTH_TARGET else 'MISSED'}), "
                  f"{minted / floor:.2f} of the fixed redirect's; CPU {minted_us:.0f} µs "
                  f"against {floor_us:.0f} (redirect) and {health_us:.0f} (/healthz)")
            if workers > 1:
                extra = [Child.python("bench.jitsi_tokens", "serve-gateway", str(gw_port),
                                      tmp_name, redis_url, "") for _ in range(workers - 1)]
                children += extra
                if store == "memory":
                    print(f"(--workers {workers} needs --store redis: sessions are per process)")
                else:
                    load, cpu_us = _load(gw, auth, [gateway.pid] + [c.pid for c in extra],
                                         seconds, token)
                    print(_row(f"/jitsi/auth, {workers} processes (SO_REUSEPORT)", load,
                               cpu_us, bare), flush=True)
        finally:
            for child in reversed(children):
                child.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-hello":
        asyncio.run(_serve_hello(int(sys.argv[2])))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-gateway":
        asyncio.run(_serve_gateway(int(sys.argv[2]), sys.argv[3], sys.argv[4],
                                   sys.argv[5] == "seed"))
        return
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="per HTTP row")
    parser.add_argument("--store", choices=("redis", "memory"), default="redis")
    parser.add_argument("--workers", type=int, default=2,
                        help="gateway processes for the last row (1: skip it)")
    args = parser.parse_args()
    started = time.monotonic()
    run(args.seconds, args.store, args.workers)
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
