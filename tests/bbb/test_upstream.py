"""The kept-alive pool for plain GETs read whole (bbb_hooks.upstream): the proxy's hot path.

It must answer as the aiohttp session it stands in for does: the same bytes,
the same failure reasons (bbb_hooks.client.REASONS), chunked and gzip bodies,
no redirects followed; connections reused, and one closed by the server while
idle replaced without the LMS noticing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bbb_hooks import client
from bbb_hooks.backend import fetch_all
from bbb_hooks.client import BBBError
from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.servers import Server
from bbb_hooks.upstream import Upstream
from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml
from tests.support import free_port

SECRET = "s" * 40
ANSWER = b"<response><returncode>SUCCESS</returncode><meetings/></response>"


def server_at(url: str) -> Server:
    return Server(name="bbb1", url=url, secret=SECRET.encode(), algorithm="sha256")


@contextlib.asynccontextmanager
async def hand_server(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                       Awaitable[None]]) -> AsyncIterator[str]:
    """A raw HTTP server of the test's own on a free port, at the base URL it yields.
    At the end its connection handlers are awaited (they end when the pool's
    connections close), so no socket is left for the garbage collector after the
    test's loop is gone."""
    handlers: list[asyncio.Task[Any]] = []

    async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        current = asyncio.current_task()
        assert current is not None
        handlers.append(current)
        await handle(reader, writer)

    listener = await asyncio.start_server(tracked, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    finally:
        await asyncio.wait_for(asyncio.gather(*handlers, return_exceptions=True), 5)
        listener.close()
        await listener.wait_closed()


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[BBBEmulator]:
    emulator = BBBEmulator(SECRET, tmp_path)
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def pool() -> AsyncIterator[Upstream]:
    upstream = Upstream(total_timeout=10)
    yield upstream
    await upstream.close()


async def test_answers_are_byte_for_byte_those_of_the_session(
        emu: BBBEmulator, pool: Upstream) -> None:
    server = server_at(emu.url)
    async with aiohttp.ClientSession() as http:
        await client.succeeded(http, server, "create", (("meetingID", "m1"), ("name", "a & b")))
        async with client.opened(http, server, "getMeetings", ()) as response:
            expected = await client.read_answer("bbb1", response, client.MAX_ANSWER)
    assert await client.fetch(pool, server, "getMeetings", ()) == expected
    assert b"<meetingID>m1</meetingID>" in expected
    call = emu.calls("getMeetings")[-1]
    assert call.method == "GET" and call.checksum_ok  # signed exactly as sent


async def test_connections_are_kept_and_reused(emu: BBBEmulator, pool: Upstream) -> None:
    server = server_at(emu.url)
    for _ in range(5):
        await client.fetch(pool, server, "getMeetings", ())
    assert pool.idle_connections() == 1
    await asyncio.gather(*(client.fetch(pool, server, "getMeetings", ()) for _ in range(4)))
    assert pool.idle_connections() == 4


async def test_connections_idle_past_keepalive_are_closed(emu: BBBEmulator) -> None:
    upstream = Upstream(keepalive=0.05)
    server = server_at(emu.url)
    try:
        await asyncio.gather(*(client.fetch(upstream, server, "getMeetings", ())
                               for _ in range(3)))
        assert upstream.idle_connections() == 3
        await asyncio.sleep(0.1)
        await client.fetch(upstream, server, "getMeetings", ())  # takes one, closes the rest
        assert upstream.idle_connections() == 1
    finally:
        await upstream.close()


# fault -> the client's reason (as bbb_hooks.client names it for the session)
FAULTS = {"close": "unavailable", "http_500": "http_status", "slow_stream": "timeout"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_failures_have_the_sessions_reasons(emu: BBBEmulator, fault: str) -> None:
    emu.fault = fault
    upstream = Upstream(total_timeout=0.3 if fault == "slow_stream" else 10)
    try:
        with pytest.raises(BBBError) as failed:
            await client.fetch(upstream, server_at(emu.url), "getMeetings", ())
    finally:
        await upstream.close()
    assert failed.value.reason == FAULTS[fault]
    assert upstream.idle_connections() == 0  # a failed exchange is never reused


async def test_a_read_that_stalls_is_a_timeout() -> None:
    """Between two reads of the socket (the session's sock_read), not only in total."""
    done = asyncio.Event()

    async def stalls(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 1000"
                     b"\r\n\r\n<response>")
        await done.wait()
        writer.close()
        await writer.wait_closed()

    async with hand_server(stalls) as base:
        server = server_at(base + "/b")
        upstream = Upstream(total_timeout=30, read_timeout=0.1)
        try:
            with pytest.raises(BBBError) as failed:
                async with asyncio.timeout(3):
                    await client.fetch(upstream, server, "getMeetings", ())
        finally:
            await upstream.close()
            done.set()
    assert failed.value.reason == "timeout"


async def test_too_large_and_server_down(emu: BBBEmulator, pool: Upstream) -> None:
    with pytest.raises(BBBError) as large:
        await client.fetch(pool, server_at(emu.url), "getMeetings", (), limit=16)
    assert large.value.reason == "too_large"
    down = server_at(f"http://127.0.0.1:{free_port()}/bigbluebutton")
    with pytest.raises(BBBError) as refused:
        await client.fetch(pool, down, "getMeetings", ())
    assert refused.value.reason == "unavailable"


async def _serve(handler: web.Handler) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/bigbluebutton/api/{call}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/bigbluebutton"
    finally:
        await runner.cleanup()


async def test_chunked_gzip_and_redirects(pool: Upstream) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        kind = request.match_info["call"]
        if kind == "redirect":
            return web.Response(status=302, headers={"Location": "http://elsewhere.example/"})
        if kind == "gzip":
            return web.Response(body=gzip.compress(ANSWER), headers={
                "Content-Type": "text/xml", "Content-Encoding": "gzip"})
        response = web.StreamResponse(headers={"Content-Type": "text/xml; charset=utf-8"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(ANSWER), 7):
            await response.write(ANSWER[i:i + 7])
        await response.write_eof()
        return response

    async for url in _serve(handler):
        server = server_at(url)
        assert await client.fetch(pool, server, "chunked", ()) == ANSWER
        assert await client.fetch(pool, server, "gzip", ()) == ANSWER
        with pytest.raises(BBBError) as redirected:
            await client.fetch(pool, server, "redirect", ())
        assert redirected.value.reason == "http_status"  # never followed


async def test_a_connection_closed_while_idle_is_replaced(pool: Upstream) -> None:
    """A kept-alive connection the server drops when the next request arrives (as a
    server does that closed it while it sat idle): that call goes out once more, on a
    new connection, and the LMS never notices."""
    answered = 0

    async def one_answer_per_connection(reader: asyncio.StreamReader,
                                        writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        await reader.readuntil(b"\r\n\r\n")
        answered += 1
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                     + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)
        await writer.drain()
        await reader.readuntil(b"\r\n\r\n")  # the next request on this connection ...
        writer.transport.abort()  # ... is dropped unanswered

    async with hand_server(one_answer_per_connection) as base:
        try:
            server = server_at(base + "/bigbluebutton")
            for _ in range(3):
                assert await client.fetch(pool, server, "getMeetings", ()) == ANSWER
            assert answered == 3
        finally:
            await pool.close()


async def test_an_answer_without_length_is_read_to_the_end(pool: Upstream) -> None:
    """No Content-Length, not chunked: the body ends where the server closes (as an
    HTTP/1.0 server answers); the connection is not kept."""
    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close"
                     b"\r\n\r\n" + ANSWER)
        await writer.drain()
        writer.close()

    async with hand_server(until_close) as base:
        server = server_at(base + "/bigbluebutton")
        assert await client.fetch(pool, server, "getMeetings", ()) == ANSWER
        assert pool.idle_connections() == 0


async def test_calls_the_pool_does_not_take_go_through_the_session(
        emu: BBBEmulator, pool: Upstream) -> None:
    """Too long for BBB's request line (a form POST), or an XML body: aiohttp, as before."""
    server = server_at(emu.url)
    long = (("meetingID", "m2"), ("welcome", "w" * 9000))
    body = ApiRequest(call="create", params=(("meetingID", "m3"),), frontend="lms",
                      body=b"<modules/>", body_type="text/xml", form=False)
    async with aiohttp.ClientSession() as http:
        assert b"SUCCESS" in await fetch_all(http, pool, server, "create", long)
        assert b"SUCCESS" in await fetch_all(http, pool, server, "create", body.params, body)
        emu.fault = "close"
        with pytest.raises(ApiError) as lost:
            await fetch_all(http, pool, server, "getMeetings", ())
    assert (lost.value.message_key, lost.value.reason) == ("backendUnavailable", "unavailable")
    assert [c.method for c in emu.calls("create")] == ["POST", "POST"]
    assert pool.idle_connections() == 0  # neither went through the pool


async def test_through_the_gateway_create_then_list_and_failures_in_bbb_xml(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    _, _, created = await get_xml(http, gateway.url("create", [("meetingID", "lesson-1")]))
    assert "<returncode>SUCCESS</returncode>" in created
    _, _, listed = await get_xml(http, gateway.url("getMeetings"))
    assert "<meetingID>lesson-1</meetingID>" in listed
    emulator.fault = "close"
    status, content_type, failed = await get_xml(http, gateway.url("getMeetings"))
    assert (status, content_type) == (200, "text/xml")
    assert "<messageKey>backendUnavailable</messageKey>" in failed
    emulator.fault = None
    _, _, again = await get_xml(http, gateway.url("getMeetings"))
    assert "<meetingID>lesson-1</meetingID>" in again  # the pool recovered


async def test_a_call_waiting_for_a_slot_times_out_and_the_slots_come_back() -> None:
    """With every connection to a host busy, a call waits within its total timeout;
    the slot of a call that timed out waiting is never lost (limit_per_host 1 here)."""
    release = asyncio.Event()
    body = b"<response><returncode>SUCCESS</returncode></response>"

    async def answers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            await release.wait()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\n\r\n" + body)
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with hand_server(answers) as base:
        server = server_at(base + "/b")
        upstream = Upstream(total_timeout=0.3, limit_per_host=1)
        try:
            first = asyncio.create_task(client.fetch(upstream, server, "getMeetings", ()))
            await asyncio.sleep(0.05)
            with pytest.raises(BBBError) as waited:
                await client.fetch(upstream, server, "getMeetings", ())
            assert waited.value.reason == "timeout"
            release.set()
            with contextlib.suppress(BBBError):
                await first  # may itself have run past its total timeout
            for _ in range(3):  # the one slot is free again, every time
                await client.fetch(upstream, server, "getMeetings", ())
        finally:
            await upstream.close()
            release.set()


async def test_idle_connections_are_closed_with_no_further_call(emu: BBBEmulator) -> None:
    """A quiet origin keeps no socket open past `keepalive`: the pool's own timer closes
    its idle connections, with no other call needed to take or return one."""
    upstream = Upstream(keepalive=0.05)
    server = server_at(emu.url)
    try:
        await asyncio.gather(*(client.fetch(upstream, server, "getMeetings", ())
                               for _ in range(3)))
        assert upstream.idle_connections() == 3
        async with asyncio.timeout(5):
            while upstream.idle_connections():
                await asyncio.sleep(0.02)
    finally:
        await upstream.close()


async def test_close_stops_calls_in_flight_and_waiting_from_sending_again() -> None:
    """Closing the pool while a call waits on a reused connection fails that call; it
    is not sent once more on a new connection (a create or end would reach BBB after
    shutdown), and a call waiting for a connection sends nothing either."""
    requests = 0
    body = b"<response><returncode>SUCCESS</returncode></response>"

    async def answers_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        answered = False
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            requests += 1
            if not answered:  # the first request on each connection only
                answered = True
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)
                await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async with hand_server(answers_once) as base:
        url = base + "/b/api/getMeetings"
        upstream = Upstream(total_timeout=10, limit_per_host=1)
        try:
            assert (await upstream.get(url, 1000))[0] == 200
            assert upstream.idle_connections() == 1
            in_flight = asyncio.create_task(upstream.get(url, 1000))  # on the kept connection
            waiting = asyncio.create_task(upstream.get(url, 1000))  # for the one slot
            async with asyncio.timeout(5):
                while requests < 2:
                    await asyncio.sleep(0.01)
            await upstream.close()
            for call in (in_flight, waiting):
                with pytest.raises(aiohttp.ClientConnectionError, match="closed"):
                    await call
            await asyncio.sleep(0.05)  # a request sent after close would have arrived
            assert requests == 2
        finally:
            await upstream.close()


async def test_interim_1xx_answers_are_skipped() -> None:
    """100 Continue and 103 Early Hints come before the final answer: the status and
    body are the final answer's (as ClientResponse reads them), and the connection is
    kept for the next call."""

    async def interim_first(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n"
                         b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: "
                         + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async with hand_server(interim_first) as base:
        url = base + "/b/api/getMeetings"
        upstream = Upstream(total_timeout=10)
        try:
            for _ in range(2):
                assert await upstream.get(url, 1000) == (200, "text/xml", ANSWER)
            assert upstream.idle_connections() == 1
        finally:
            await upstream.close()
