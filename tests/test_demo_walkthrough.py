"""The demo walked through in real Chromium: teacher, pupil and privacy officer.

The demo's own policy (gateway/demo/policy.py: the example at the test's port,
Jitsi's pages on) and its development login with the sample accounts. The one
thing no browser can do here is Jitsi itself: what the prosody module would
report (the teacher in the room, Jibri recording) is sent as its signed events.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page

from gateway.demo import mark_demo
from gateway.demo.policy import demo_settings
from gateway.login.devidp import SAMPLE_ACCOUNTS
from gateway.login.sessions import COOKIE_DEV
from gateway.web import keys
from privacy_gateway import create_app
from tests.browser import chromium
from tests.gateway_fixtures import wait_for_idp
from tests.jitsi.support import enter_room, signed
from tests.support import EXAMPLE, ROOT, free_port

ROOM = "biologie-1a"


@contextlib.asynccontextmanager
async def serve_demo(folder: Path) -> AsyncIterator[tuple[str, Any]]:
    """The demo as `privacy-gateway demo` builds it, on a free port."""
    shutil.copy(EXAMPLE, folder / "example.toml")
    shutil.copytree(ROOT / "config" / "dev-secrets", folder / "dev-secrets")
    port = free_port()
    app = create_app(demo_settings(folder / "example.toml", "127.0.0.1", port))
    mark_demo(app)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await wait_for_idp(app)
        yield f"http://localhost:{port}", app
    finally:
        await server.close()


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    async with serve_demo(tmp_path) as served:
        yield served


async def _login(browser: Browser, base: str, account: str, locale: str = "en-GB") -> Page:
    page = await (await browser.new_context(locale=locale)).new_page()
    await page.goto(base + "/")
    await page.click("main a.button[href='/login']")
    await page.click(f"button[value={account}]")
    await page.wait_for_url(base + "/")
    return page


async def _prosody(base: str, app: Any, page: Page, events: list[dict[str, Any]],
                   room: str = ROOM) -> None:
    """The teacher enters the room through tokenAuthUrl, then prosody reports."""
    cookie = next(c for c in await page.context.cookies() if c["name"] == COOKIE_DEV)
    async with aiohttp.ClientSession(base_url=base) as http:
        entered = await enter_room(http, f"room={room}", f"{COOKIE_DEV}={cookie['value']}")
        assert entered.status in (302, 303)
        for event in events:
            body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
            async with http.post("/hooks/jitsi/events", data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()


async def test_teacher_pupil_officer_walkthrough(demo: tuple[str, Any]) -> None:
    base, app = demo
    teacher_person = app[keys.PSEUDONYMS].person(base + "/dev-idp",
                                                 SAMPLE_ACCOUNTS["teacher"]["sub"])
    async with chromium() as browser:
        teacher = await _login(browser, base, "teacher")
        assert "No Jitsi or BigBlueButton server is attached" in await teacher.inner_text("main")
        assert "No meetings yet" in await teacher.inner_text("main")
        await teacher.click("text=New Jitsi room")
        await teacher.fill("input[name=room]", ROOM)
        await teacher.click("main button[type=submit]")
        await teacher.goto(base + "/")
        row = teacher.locator(f'tr[data-meeting="{ROOM}"]')
        assert await row.get_attribute("data-recording") == "no"
        await _prosody(base, app, teacher, [
            {"event": "occupant_joined", "room": ROOM, "occupant": f"{ROOM}@conference/t1",
             "person": teacher_person, "service": False},
            {"event": "recording_status", "room": ROOM, "status": "on", "mode": "file",
             "initiator": f"{ROOM}@conference/t1",
             "av_moderation": {"audio": False, "video": False}}])
        await teacher.reload()
        assert await row.get_attribute("data-recording") == "yes"
        assert "Lesson to watch later" in await row.inner_text()
        await row.locator("text=Stop recording now").click()
        await teacher.wait_for_url(base + "/?stopped=sent")
        assert "The stop was sent to the meeting." in await teacher.inner_text("main")

        pupil = await _login(browser, base, "pupil")
        assert "You have not filed any objections." in await pupil.inner_text("main")
        await pupil.click("text=Object to a recording")
        await pupil.select_option("select[name=platform]", "jitsi")
        await pupil.fill("input[name=meeting]", ROOM)
        await pupil.fill("textarea[name=reason]", "My room was on screen")
        await pupil.click("main button[type=submit]")
        await pupil.wait_for_url(base + "/objections")
        assert await pupil.locator('tr[data-status="open"]').count() == 1

        officer = await _login(browser, base, "officer")
        await officer.click("text=Retention queue, objections and holds")
        await officer.wait_for_url(base + "/admin/retention")
        assert "My room was on screen" in await officer.inner_text("main")
        await officer.click("button[value=uphold]")
        await officer.wait_for_url("**/admin/retention?decided=uphold")

        await pupil.goto(base + "/")
        assert await pupil.locator('li[data-status="upheld"]').count() == 1

        # The teacher may not open the officer's page, and is told who may (nl).
        await teacher.goto(base + "/admin/retention?lang=nl")
        text = await teacher.inner_text("main")
        assert "Geen toegang" in text and "Alleen de privacy-officer" in text
