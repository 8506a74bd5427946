"""Every getRecordings path of the proxy hands out gateway links only (G14, G17):
one server, several servers (merged lists), and answers too big to check at once."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import get_xml, new_secret, start_gateway


@pytest.mark.parametrize("servers, recordings", [(1, 1), (2, 2), (1, 400)])
async def test_no_bbb_url_ever_reaches_the_lms(tmp_path: Path, servers: int,
                                               recordings: int) -> None:
    emus = [BBBEmulator(new_secret(), tmp_path / f"var{i}") for i in range(servers)]
    for emu in emus:
        await emu.start()
    gw = await start_gateway(tmp_path, emus)
    try:
        for n in range(recordings):
            emus[n % servers].add_recording(f"meeting-{n}", formats=("presentation", "video"),
                                            name="x" * 2000)  # 400 of them: > 1 MiB
        async with aiohttp.ClientSession() as http:
            status, _, body = await get_xml(http, gw.url("getRecordings"))
        assert status == 200
        if recordings == 400:
            assert len(body.encode()) > 1024 * 1024  # past the proxy's streaming threshold
        urls = [f.findtext("url", "") for f in ET.fromstring(body).iter("format")]
        assert len(urls) == 2 * recordings
        assert all(u.startswith(gw.base + "/recordings/bbb/") for u in urls)
        for emu in emus:
            assert emu.base not in body
    finally:
        await gw.close()
        for emu in emus:
            await emu.stop()
