"""Sizes and shapes an LMS sends that BBB takes (issue 10): long creates, long
request lines, XML bodies without a Content-Type, and the API root."""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gateway.clock import ManualClock
from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml, new_secret, start_gateway
from tests.bbb.test_proxy import failed_key

Servers = tuple[Gateway, list[BBBEmulator]]
# Moodle's welcome text, long: with the gateway's ~400 bytes of policy parameters the
# create no longer fits BBB's 8 KiB request line, though the LMS's own URL does.
WELCOME = ("Welkom bij de les wiskunde, klas 7B. Vandaag: breuken & procenten (h3). "
           "Camera's mogen uit; stel vragen in de chat. ") * 62


@pytest.mark.parametrize("welcome_chars", [6_950, 12_000])
async def test_a_long_create_reaches_bbb_as_a_form_with_an_exact_checksum(
        welcome_chars: int, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    welcome = (WELCOME * 2)[:welcome_chars]
    url = gateway.url("create", [("meetingID", "long-1"), ("name", "Wiskunde 7B"),
                                 ("welcome", welcome), ("record", "true")])
    if welcome_chars < 10_000:  # straight against BBB this create works
        assert 7_800 < len(url.raw_path_qs) < 8_100
    else:  # past aiohttp's default 8,190-byte line: the gateway still reads it
        assert len(url.raw_path_qs) > 8_190
    status, _, body = await get_xml(http, url)
    assert status == 200 and "<returncode>SUCCESS</returncode>" in body, body[:300]
    (sent,) = emulator.calls("create")
    assert sent.method == "POST" and sent.raw_query == "" and sent.checksum_ok
    assert sent.param("welcome") == welcome and sent.param("autoStartRecording") == "false"
    assert emulator.meetings["long-1"].params["welcome"] == welcome


async def test_a_short_create_stays_a_get(gateway: Gateway, emulator: BBBEmulator,
                                          http: aiohttp.ClientSession) -> None:
    _, _, body = await get_xml(http, gateway.url("create", [("meetingID", "short")]))
    assert "SUCCESS" in body and emulator.calls("create")[0].method == "GET"


async def test_a_long_create_with_presentation_modules_is_refused_in_bbb_xml(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    url = gateway.url("create", [("meetingID", "long-2"), ("welcome", WELCOME * 2)])
    async with http.post(url, data=b"<modules/>", headers={"Content-Type": "text/xml"}) as r:
        key = failed_key(r.status, r.content_type, await r.text())
    assert key == "requestTooLarge" and emulator.calls("create") == []


async def _raw_line(gateway: Gateway, target: str) -> bytes:
    host = URL(gateway.base)
    reader, writer = await asyncio.open_connection(host.host, host.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    try:
        async with asyncio.timeout(15):
            return await reader.read()
    finally:
        writer.close()


async def test_a_request_line_past_the_limit_gets_bbb_xml_without_an_echo(
        gateway: Gateway, emulator: BBBEmulator) -> None:
    target = ("/bigbluebutton/api/create?meetingID=secret-room-name&welcome="
              + "x" * 100_000 + "&checksum=" + "a" * 64)
    data = await _raw_line(gateway, target)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"text/xml" in head
    assert b"<messageKey>requestTooLarge</messageKey>" in body
    assert b"secret-room-name" not in data  # never an echo of the request
    assert emulator.calls("create") == []


@pytest.mark.parametrize("content_type", [None, "application/octet-stream", "text/plain"])
async def test_an_xml_body_is_read_whatever_its_content_type(
        content_type: str | None, gateway: Gateway, emulator: BBBEmulator,
        http: aiohttp.ClientSession) -> None:
    """bbb-web reads a create body as the presentation modules, labelled or not."""
    body = b'<modules><module name="presentation"><document url="x"/></module></modules>'
    url = gateway.url("create", [("meetingID", "with-body")])
    headers = {} if content_type is None else {"Content-Type": content_type}
    async with http.post(url, data=body, headers=headers,
                         skip_auto_headers=["Content-Type"]) as r:
        assert "<returncode>SUCCESS</returncode>" in await r.text()
    (sent,) = emulator.calls("create")
    assert sent.body == body and sent.checksum_ok


async def test_the_api_root_names_the_oldest_backend_version(
        two_servers: Servers, http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    emus[0].bbb_version, emus[1].bbb_version = "3.0.4", "2.7.12"
    status, ctype, body = await get_xml(http, gw.base + "/bigbluebutton/api")
    root = ET.fromstring(body)
    assert (status, ctype) == (200, "text/xml")
    assert root.findtext("returncode") == "SUCCESS" and root.findtext("version") == "2.0"
    assert root.findtext("bbbVersion") == "2.7.12"


async def test_the_api_root_with_servers_down(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    emus = [BBBEmulator(new_secret(), tmp_path / f"v{i}") for i in range(2)]
    for emu in emus:
        await emu.start()
    clock = ManualClock(time.time())
    gw = await start_gateway(tmp_path, emus, clock=clock)
    try:
        emus[1].bbb_version = "3.0.9"
        await emus[0].stop()
        _, _, body = await get_xml(http, gw.base + "/bigbluebutton/api/")
        assert ET.fromstring(body).findtext("bbbVersion") == "3.0.9"  # the one that answered
        await emus[1].stop()
        clock.advance(61)  # past the one-minute cache
        key = failed_key(*await get_xml(http, gw.base + "/bigbluebutton/api"))
        assert key == "backendUnavailable"
    finally:
        await gw.close()
