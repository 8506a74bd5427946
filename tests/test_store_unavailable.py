"""A store outage is the store's own StoreUnavailable (never a Redis exception), and
every caller is answered in its own format with "try again": a page (503) for
people, BBB XML for the BBB API, a retryable 503 for hooks. A real RedisStore
pointed at a port where no Redis listens."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.demo.bbb_server import BBBEmulator
from gateway.store.errors import StoreUnavailable
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from privacy_gateway import create_app
from tests.bbb.support import get_xml, new_secret, start_gateway
from tests.gateway_fixtures import browser
from tests.gateway_fixtures import start_gateway as start_web
from tests.jitsi.support import jitsi_settings, signed
from tests.support import demo_settings, free_port


def dead_store() -> RedisStore:
    return RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", "pgw")


async def test_the_store_raises_its_own_error() -> None:
    store = dead_store()
    try:
        with pytest.raises(StoreUnavailable) as raised:
            await store.get("x")
        assert isinstance(raised.value, ConnectionError)  # "try again" wherever caught
        assert await store.ping() is False
    finally:
        await store.close()


async def test_a_page_says_try_again_with_503(tmp_path: Path) -> None:
    port = free_port()
    async with start_web(demo_settings(tmp_path, port), port, store=dead_store(),
                         wait_ready=False), browser() as session:
        session.cookie_jar.update_cookies({"pgw_session": "x" * 43})
        async with session.get(f"http://127.0.0.1:{port}/?lang=en") as resp:
            assert resp.status == 503
            body = await resp.text()
            assert 'data-message="error.store_unavailable"' in body


async def test_the_bbb_api_answers_bbb_xml(tmp_path: Path) -> None:
    emulator = BBBEmulator(new_secret(), tmp_path / "var-bigbluebutton")
    await emulator.start()
    gateway = await start_gateway(tmp_path, [emulator], store=dead_store())
    try:
        async with aiohttp.ClientSession() as http:
            status, ctype, body = await get_xml(http, gateway.url(
                "create", [("meetingID", "m1"), ("name", "Les")]))
        assert (status, ctype) == (200, "text/xml")
        assert "<returncode>FAILED</returncode>" in body
        assert "<messageKey>storeUnavailable</messageKey>" in body
    finally:
        await gateway.close()
        await emulator.stop()


async def test_a_hook_is_told_to_retry(tmp_path: Path) -> None:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock(), store=dead_store())
    async with TestClient(TestServer(app)) as client:
        body, headers = signed(app[keys.SETTINGS], {
            "event": "occupant_joined", "room": "lesson-7a", "occupant": "o1"},
            app[keys.CLOCK].time())
        resp = await client.post("/hooks/jitsi/events", data=body, headers=headers)
        assert resp.status == 503
        assert await resp.json() == {"error": "store_unavailable"}
