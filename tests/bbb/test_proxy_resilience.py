"""The proxy when things go wrong midway: broken streams, servers down, big bodies.

What the LMS notices: one well-formed HTTP answer or a cut connection, never a
second answer spliced into the first; the other servers' meetings when one
server is down; BBB's specific error texts; uploads between the app-wide body
limit and the BBB limit still reaching BBB.
"""

from __future__ import annotations

import asyncio
import io
import logging
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml, start_gateway
from tests.support import metric_value


async def _raw_get(gw: Gateway, url: URL, read_all: bool = True) -> bytes:
    """The raw bytes of one HTTP/1.1 exchange, as an LMS's socket receives them."""
    reader, writer = await asyncio.open_connection(url.host, url.port)
    writer.write(f"GET {url.raw_path_qs} HTTP/1.1\r\nHost: {url.host}:{url.port}\r\n"
                 "Connection: close\r\n\r\n".encode())
    data = b""
    try:
        async with asyncio.timeout(15):
            while chunk := await reader.read(65536):
                data += chunk
                if not read_all and len(data) > 256 * 1024:
                    break
    finally:
        writer.close()
    return data


async def test_a_backend_lost_mid_stream_cuts_the_connection_without_a_second_answer(
        gateway: Gateway, emulator: BBBEmulator, caplog: pytest.LogCaptureFixture) -> None:
    """Headers are out: the LMS sees a truncated answer, not an XML error spliced in."""
    caplog.set_level(logging.INFO, logger="bbb_hooks.proxy")
    emulator.fault = "cut_stream"
    # A streamed call (getRecordings is read whole: its playback links are replaced).
    data = await _raw_get(gateway, gateway.url("getRecordingTextTracks", [("recordID", "r")]))
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert data.count(b"HTTP/1.1 ") == 1, "a second HTTP answer inside the first"
    assert b"<returncode>FAILED" not in data
    assert not data.endswith(b"0\r\n\r\n"), "a cut answer must not look complete"
    cut = [r for r in caplog.records if getattr(r, "event", "") == "bbb_stream_cut"]
    assert [getattr(r, "reason", "") for r in cut] == ["backend_lost"]
    calls = gateway.metrics.bbb_calls
    assert metric_value(calls.labels(call="getRecordingTextTracks", result="error")) == 1
    assert metric_value(calls.labels(call="getRecordingTextTracks", result="refused")) == 0


async def test_an_lms_hanging_up_mid_stream_is_not_called_backend_unavailable(
        tmp_path: Path, emulator: BBBEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bbb_hooks.proxy")
    gateway = await start_gateway(tmp_path, [emulator], as_deployed=True)
    try:
        emulator.fault = "slow_stream"
        data = await _raw_get(gateway, gateway.url("getRecordingTextTracks",
                                                   [("recordID", "r")]), read_all=False)
        assert data.startswith(b"HTTP/1.1 200 OK")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not any(getattr(r, "event", "") in ("bbb_stream_cut", "bbb_refused")
                      for r in caplog.records):
            assert loop.time() < deadline, "the proxy never noticed the LMS had gone"
            await asyncio.sleep(0.05)
    finally:
        await gateway.close()
    reasons = {getattr(r, "reason", "") for r in caplog.records
               if getattr(r, "event", "") in ("bbb_stream_cut", "bbb_refused")}
    assert reasons == {"client_gone"}


# -- several servers ------------------------------------------------------------------

async def _create(http: aiohttp.ClientSession, gw: Gateway, meeting_id: str) -> None:
    _, _, body = await get_xml(http, gw.url("create", [("meetingID", meeting_id)]))
    assert "SUCCESS" in body, body


async def test_every_server_down_is_backend_unavailable(
        two_servers: tuple[Gateway, list[BBBEmulator]], http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    for emu in emus:
        await emu.stop()
    _, _, body = await get_xml(http, gw.url("getMeetings"))
    assert "<messageKey>backendUnavailable</messageKey>" in body


async def test_servers_are_asked_at_once_not_one_after_another(
        two_servers: tuple[Gateway, list[BBBEmulator]], http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    in_flight: list[int] = []
    current = 0
    for emu in emus:
        original = emu._call_getMeetings

        async def slow(p: dict[str, str], body: bytes, request: object,
                       original: object = original) -> object:
            nonlocal current
            current += 1
            in_flight.append(current)
            await asyncio.sleep(0.2)
            current -= 1
            return await original(p, body, request)  # type: ignore[operator]

        emu._call_getMeetings = slow  # type: ignore[method-assign,assignment]
    _, _, body = await get_xml(http, gw.url("getMeetings"))
    assert "SUCCESS" in body and max(in_flight) == 2


async def test_read_calls_pin_nothing_for_meetings_never_created(
        two_servers: tuple[Gateway, list[BBBEmulator]], http: aiohttp.ClientSession) -> None:
    """Only create pins a meeting; probing meetingIDs leaves nothing behind in the store."""
    gw, emus = two_servers
    for i in range(10):
        for call in ("isMeetingRunning", "getMeetingInfo"):
            await get_xml(http, gw.url(call, [("meetingID", f"probe-{i}")]))
    assert sum(len(e.calls("isMeetingRunning")) for e in emus) == 10
    for i in range(10):
        assert await gw.store.get(_pin_key(f"probe-{i}")) is None
    await _create(http, gw, "real-1")
    assert await gw.store.get(_pin_key("real-1")) is not None


def _pin_key(meeting_id: str) -> str:
    import hashlib

    return "bbb:pin:" + hashlib.sha256(meeting_id.encode()).hexdigest()


# -- what the LMS is told ---------------------------------------------------------------

@pytest.mark.parametrize(("rule", "query", "message"), [
    ("duplicate_parameter_named", "meetingID=a&record=false&record=true",
     "The parameter record appears more than once."),
    ("bad_escape_explained", "meetingID=%zz", "The query string has a malformed %-escape."),
])
async def test_specific_error_texts_reach_the_lms(rule: str, query: str, message: str,
                                                  gateway: Gateway,
                                                  http: aiohttp.ClientSession) -> None:
    import hashlib

    checksum = hashlib.sha256(("create" + query + gateway.lms_secret).encode()).hexdigest()
    url = URL(f"{gateway.base}/bigbluebutton/api/create?{query}&checksum={checksum}",
              encoded=True)
    _, _, body = await get_xml(http, url)
    assert ET.fromstring(body).findtext("message") == message


async def test_a_redirecting_join_counts_as_answered(
        gateway: Gateway, http: aiohttp.ClientSession) -> None:
    await _create_one(http, gateway)
    status, _, _ = await get_xml(http, gateway.url("join", [
        ("meetingID", "m-join"), ("fullName", "Sam"), ("role", "VIEWER")]))
    assert status == 302
    calls = gateway.metrics.bbb_calls
    assert metric_value(calls.labels(call="join", result="ok")) == 1


async def _create_one(http: aiohttp.ClientSession, gw: Gateway) -> None:
    _, _, body = await get_xml(http, gw.url("create", [("meetingID", "m-join")]))
    assert "SUCCESS" in body


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_upload_above_the_app_body_limit_reaches_bbb(
        chunked: bool, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    """Presentation modules of 3 MiB: above the 1 MiB app-wide limit, within bbb.max_body_bytes."""
    body = b"<modules>" + b"x" * (3 * 1024 * 1024) + b"</modules>"

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    url = gateway.url("create", [("meetingID", "with-slides")])
    async with http.post(url, data=chunks() if chunked else io.BytesIO(body),
                         headers={"Content-Type": "text/xml"}) as r:
        assert "SUCCESS" in await r.text()
    (received,) = emulator.calls("create")
    assert received.body == body
