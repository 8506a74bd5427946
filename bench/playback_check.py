"""Playback checks per second: nginx's auth_request to the gateway (target: >= 5,000/s).

    python -m bench.playback_check [--seconds 5] [--workers 1]

Method: in this process, the pure cookie check (`check_cookie`: one HMAC-SHA256
and a constant-time compare) and the path parser (`recording_of`). Over HTTP,
the gateway (production app, JSON logs at INFO, embedded store: the check
reads no store at all) runs in its own process, `--workers` processes sharing
the port (SO_REUSEPORT); `wrk` (one thread, 100 kept-alive connections) sends
`GET /privacy-gateway/check` with the headers nginx sends (`X-Original-URI`, the
recording's cookie) and every answer is checked (200 for a live cookie, 401
without one). The last row is end to end: a real nginx with the shipped
snippet in front of a recordings tree, each request for a media file making
its auth_request subrequest to the gateway. All processes share the machine's
cores, wrk and nginx included.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.wrk import Child, Load, cpu_seconds, run_wrk

CONCURRENCY = 100
RECORD_ID = "0123456789abcdef0123456789abcdef01234567-1796400000000"
MEDIA = f"/presentation/{RECORD_ID}/video/webcams.webm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _write_policy(tmp: Path) -> Path:
    """A BBB-enabled example policy (the check is part of the BBB adapter)."""
    from tests.bbb.support import bbb_changes
    from tests.support import deep_merge, make_settings

    class _Server:  # bbb_changes needs only these two of an emulator
        url, secret = "http://127.0.0.1:9/bigbluebutton", "bench-bbb-secret-0123456789abcdef"

    changes = bbb_changes(tmp, [_Server()], ["bench-lms-secret-0123456789abcdef"])  # type: ignore[list-item]
    make_settings(tmp, deep_merge(changes, {"dev_idp": {"enabled": False},
                                            "identity": {"providers": []}}))
    return tmp / "policy.toml"


def _settings(tmp: Path) -> Any:
    from gateway.config.loading import load_settings

    return load_settings(tmp / "policy.toml", env={})


def _cookie(tmp: Path) -> str:
    from gateway.playback.tokens import cookie_name, cookie_value, derive_key

    settings = _settings(tmp)
    key = derive_key(settings.secrets.get("gateway.pseudonym_key"))
    secure = not settings.policy.gateway.development
    value = cookie_value(key, RECORD_ID, int(time.time()) + 3600)
    return f"{cookie_name(RECORD_ID, secure)}={value}"


async def _serve_gateway(port: int, tmp: str) -> None:
    from aiohttp import web

    from gateway import logs
    from privacy_gateway import create_app

    logs.configure("INFO")  # as `privacy-gateway serve` runs it
    app = create_app(_settings(Path(tmp)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, reuse_port=True).start()
    print("READY", flush=True)
    await asyncio.Event().wait()


def in_process(tmp: Path, seconds: float) -> tuple[float, float]:
    """(cookie checks/s, path parses/s) without HTTP."""
    from bbb_hooks.playback_paths import recording_of
    from gateway.playback.tokens import check_cookie, derive_key

    settings = _settings(tmp)
    key = derive_key(settings.secrets.get("gateway.pseudonym_key"))
    value = _cookie(tmp).split("=", 1)[1]
    rates = []
    for step in (lambda: check_cookie(key, RECORD_ID, value, time.time()),
                 lambda: recording_of(MEDIA)):
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for _ in range(1000):
                step()
            count += 1000
        rates.append(count / (time.perf_counter() - start))
    return rates[0], rates[1]


def _row(name: str, load: Load, cpu_us: float | None) -> str:
    cpu = f"{cpu_us:9.0f}" if cpu_us is not None else f"{'':>9}"
    flag = "" if load.unexpected == 0 and load.socket_errors == 0 else (
        f"  !! {load.unexpected} unexpected, {load.socket_errors} socket errors")
    return f"{name:<46} {load.rate:>9.0f} {load.p50_ms:>8.2f} {load.p99_ms:>8.2f} {cpu}{flag}"


def _load(base: str, path: str, pids: list[int], seconds: float, status: int,
          headers: list[str]) -> tuple[Load, float]:
    before = sum(cpu_seconds(p) for p in pids)
    load = run_wrk(base, [path], connections=CONCURRENCY, seconds=seconds, status=status,
                   headers=headers)
    used = sum(cpu_seconds(p) for p in pids) - before
    return load, used / max(1, load.requests) * 1e6


def run(seconds: float, workers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _write_policy(tmp)
        children: list[Child] = []
        try:
            port = _free_port()
            for _ in range(workers):
                children.append(Child.python("bench.playback_check", "serve-gateway",
                                             str(port), tmp_name))
            pids = [c.pid for c in children]
            cookie_rate, parse_rate = in_process(tmp, min(seconds, 2.0))
            base, cookie = f"http://127.0.0.1:{port}", _cookie(tmp)
            uri = f"X-Original-URI: {MEDIA}"
            print(f"in process: check_cookie {cookie_rate:,.0f}/s, recording_of "
                  f"{parse_rate:,.0f}/s")
            print(f"{'over HTTP (wrk, 100 connections)':<46} {'req/s':>9} {'p50 ms':>8} "
                  f"{'p99 ms':>8} {'cpu us/req':>9}")
            for name, status, headers in (
                    (f"check, live cookie ({workers} worker(s))", 200,
                     [uri, f"Cookie: {cookie}"]),
                    (f"check, no cookie -> 401 ({workers} worker(s))", 401, [uri])):
                load, cpu = _load(base, "/privacy-gateway/check", pids, seconds, status,
                                  headers)
                print(_row(name, load, cpu))
            _through_nginx(tmp, base, cookie, pids, seconds)
        finally:
            for child in children:
                child.stop()


def _through_nginx(tmp: Path, gateway: str, cookie: str, pids: list[int],
                   seconds: float) -> None:
    from tests.playback.harness import nginx_in_front

    tree = tmp / "tree"
    media = tree / "published" / MEDIA.lstrip("/")
    media.parent.mkdir(parents=True)
    media.write_bytes(b"\x1aE\xdf\xa3" * 256)
    with nginx_in_front(tmp, tree, gateway) as nginx_port:
        load, cpu = _load(f"http://127.0.0.1:{nginx_port}", MEDIA, pids, seconds, 200,
                          [f"Cookie: {cookie}"])
        print(_row("media file through nginx + auth_request", load, cpu)
              + "  (cpu: gateway only)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "serve-gateway":
        asyncio.run(_serve_gateway(int(args[1]), args[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench.playback_check")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1)
    opts = parser.parse_args(args)
    run(opts.seconds, opts.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
