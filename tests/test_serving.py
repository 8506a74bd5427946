"""`privacy-gateway serve` at the HTTP layer: a request aiohttp's parser cannot
read is answered in BBB XML with nothing of it echoed or logged, and SIGTERM
stops the server gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest

from tests.support import ROOT, free_port

SECRET = b"SECRETPW-6d1f"
HEALTH = b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"


@pytest.fixture
async def served() -> AsyncIterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--config", "config/example.toml",
         "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            try:
                status, _ = await _raw(port, HEALTH)
                if status == 200:
                    break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            pytest.fail("the gateway did not start")
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


async def _raw(port: int, request: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


UNREADABLE = {
    "request line past the limit": (
        b"GET /bigbluebutton/api/create?meetingID=m&attendeePW=" + SECRET + b"&welcome="
        + b"A" * 300_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
    "raw byte in the query": (
        b"GET /bigbluebutton/api/join?meetingID=m&fullName=Jan&password=" + SECRET
        + b"&welcome=\xff HTTP/1.1\r\nHost: t\r\n\r\n"),
    "raw byte in the path": (
        b"GET /bigbluebutton/api/get\xc3\xa9Meetings?checksum=" + SECRET
        + b" HTTP/1.1\r\nHost: t\r\n\r\n"),
    "header without a colon": (
        b"GET /bigbluebutton/api/getMeetings?checksum=" + SECRET
        + b" HTTP/1.1\r\nHost: t\r\nbroken header\r\n\r\n"),
}


@pytest.mark.parametrize("request_bytes", UNREADABLE.values(), ids=UNREADABLE.keys())
async def test_an_unreadable_request_gets_bbb_xml_without_an_echo(
        served: tuple[int, subprocess.Popen[bytes]], request_bytes: bytes) -> None:
    port, proc = served
    status, body = await _raw(port, request_bytes)
    assert status == 400
    assert body.startswith(b"<?xml") and b"<returncode>FAILED</returncode>" in body
    assert b"<messageKey>badRequest</messageKey>" in body
    assert SECRET not in body and b"Jan" not in body
    # The server goes on serving, and its log holds nothing of the request (G20).
    assert (await _raw(port, HEALTH))[0] == 200
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert SECRET not in stderr and b"unreadable_request" in stderr


async def test_sigterm_stops_the_server_gracefully(
        served: tuple[int, subprocess.Popen[bytes]]) -> None:
    _, proc = served
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


async def test_serving_freezes_what_is_alive_once_the_app_is_built() -> None:
    """Objects built before serving (app, routes, policy) are out of the cyclic GC's
    reach (gc.freeze): its full collections cost less per request."""
    import gc

    from aiohttp import web

    from gateway.web import serving

    gc.unfreeze()
    started = asyncio.Event()
    socks = serving.listen("127.0.0.1", free_port())
    task = asyncio.create_task(serving._serve(web.Application(), "127.0.0.1", 0, socks,
                                              lambda _line: started.set()))
    try:
        await asyncio.wait_for(started.wait(), 10)
        assert gc.get_freeze_count() > 0
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        gc.unfreeze()
