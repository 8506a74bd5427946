"""The meeting page in real headless Chromium, with Jitsi's external_api.js replaced by a
recorder served from a local "Jitsi" origin (no Jitsi server runs here)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from aiohttp import web

from gateway.web import keys
from tests.browser import chromium
from tests.gateway_fixtures import start_gateway
from tests.jitsi.support import jitsi_host, jitsi_settings, person_of, seed_session, signed
from tests.support import free_port

ROOM = "lesson-7a"

RECORDER = """
window.__jitsi = { created: [], commands: [], listeners: {} };
window.JitsiMeetExternalAPI = function (domain, options) {
  var copy = {};
  Object.keys(options).forEach(function (k) { if (k !== "parentNode") { copy[k] = options[k]; } });
  window.__jitsi.created.push({ domain: domain, options: JSON.parse(JSON.stringify(copy)),
                                parentId: options.parentNode && options.parentNode.id });
  this.executeCommand = function (name, arg) { window.__jitsi.commands.push([name, arg]); };
  this.addListener = function (name, fn) { window.__jitsi.listeners[name] = fn; };
};
"""


@pytest.fixture
async def fake_jitsi() -> AsyncIterator[str]:
    async with jitsi_host(RECORDER) as base_url:
        yield base_url


@pytest.fixture
async def gateway(tmp_path: Path, fake_jitsi: str) -> AsyncIterator[tuple[web.Application, str]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = jitsi_settings(tmp_path, {"jitsi": {"base_url": fake_jitsi}}, port=port)
    async with start_gateway(settings, port, wait_ready=False) as app:
        yield app, base


async def hook(app: web.Application, base: str, event: dict) -> None:
    body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
    async with aiohttp.ClientSession() as http, http.post(
            base + "/hooks/jitsi/events", data=body, headers=headers) as resp:
        assert resp.status == 200


async def test_meeting_page_passes_privacy_defaults_to_jitsi(
        gateway: tuple[web.Application, str], fake_jitsi: str, tmp_path: Path) -> None:
    app, base = gateway
    cookie = (await seed_session(app, "pupil")).split("=", 1)
    await hook(app, base, {"event": "occupant_joined", "room": ROOM, "occupant": "o/p1",
                           "person": person_of(app, "pupil"), "service": False})
    async with chromium() as browser:
        context = await browser.new_context(locale="en-GB")
        await context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base}])
        page = await context.new_page()
        origins: set[str] = set()
        problems: list[str] = []
        page.on("request", lambda r: origins.add(urlsplit(r.url).netloc))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        await page.goto(f"{base}/jitsi/{ROOM}?lang=en")

        # G18: the notice comes first; nothing connects to Jitsi before "join".
        notice = await page.inner_text("#prejoin")
        assert "Your camera is off when you come in" in notice
        assert "Your microphone is off" in notice
        assert "deleted after 30 days" in notice
        assert await page.evaluate("window.__jitsi.created.length") == 0
        await page.wait_for_selector('#recording-state[data-recording="off"]')
        objection = f"/objections/new?platform=jitsi&meeting={ROOM}"  # G12
        assert await page.get_attribute("#objection a", "href") == objection
        assert await page.is_visible("#objection a")

        await page.click("#join")
        await _until(page, "window.__jitsi.created.length === 1")
        created = await page.evaluate("window.__jitsi.created[0]")
        assert created["domain"] == urlsplit(fake_jitsi).netloc
        assert created["parentId"] == "jitsi"
        options = created["options"]
        assert options["roomName"] == ROOM and options["jwt"].count(".") == 2
        config = options["configOverwrite"]
        assert config["startWithVideoMuted"] is True  # G4, G6: no image where none is needed
        assert config["startWithAudioMuted"] is True  # microphone per policy (off)
        assert config["disableThirdPartyRequests"] is True  # G21
        assert config["gravatar"] == {"disabled": True}
        assert config["analytics"]["disabled"] is True
        assert config["transcription"] == {"autoTranscribeOnRecord": False}  # G15
        assert await page.is_hidden("#prejoin")
        assert await page.is_visible("#objection a")  # G12: during the meeting too

        # G5: armed while the camera is off (tests/jitsi/test_blur_order_browser.py has the
        # order on a real fake camera); the camera goes on -> blur; switched off by the
        # person -> stays off.
        armed = await page.evaluate("window.__jitsi.commands")
        assert armed[0][0] == "setVirtualBackground" and armed[0][1] is True
        await page.evaluate("window.__jitsi.commands.length = 0")
        await page.evaluate("window.__jitsi.listeners.videoMuteStatusChanged({muted: false})")
        assert await page.evaluate("window.__jitsi.commands") == [["setBlurredBackground",
                                                                   "blur"]]
        await page.uncheck("#blur")
        await page.evaluate("window.__jitsi.listeners.videoMuteStatusChanged({muted: true})")
        await page.evaluate("window.__jitsi.listeners.videoMuteStatusChanged({muted: false})")
        assert await page.evaluate("window.__jitsi.commands") == [
            ["setBlurredBackground", "blur"], ["setBlurredBackground", "none"],
            ["setVirtualBackground", False], ["setBlurredBackground", "none"]]

        # G15: opting in on the page; the only person present -> transcription allowed.
        await page.wait_for_selector('#transcription-state[data-allowed="no"]')
        await page.check("#consent")
        await page.wait_for_selector('#transcription-state[data-allowed="yes"]')
        assert "1 of 1 present agreed" in await page.inner_text("#transcription-state")
        await page.uncheck("#consent")
        await page.wait_for_selector('#transcription-state[data-allowed="no"]')

        # Recording state visible: the module reports it, the page shows it.
        await hook(app, base, {"event": "recording_status", "room": ROOM, "status": "on",
                               "mode": "file", "av_moderation": {}})
        await page.evaluate("window.__jitsi.listeners.recordingStatusChanged({on: true})")
        await page.wait_for_selector('#recording-state[data-recording="on"]')
        assert "being recorded" in await page.inner_text("#recording-state")
        await page.screenshot(path=str(tmp_path / "meeting.png"))

        assert origins == {urlsplit(base).netloc, urlsplit(fake_jitsi).netloc}  # G21
        assert problems == []  # no CSP violation, no script error
        await context.close()


async def test_teacher_page_offers_purpose_and_room_creation(
        gateway: tuple[web.Application, str]) -> None:
    app, base = gateway
    cookie = await seed_session(app, "teacher")
    await hook(app, base, {"event": "occupant_joined", "room": ROOM, "occupant": "o/t1",
                           "person": person_of(app, "teacher"), "service": False})
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/jitsi/{ROOM}?lang=en", headers={"Cookie": cookie}) as resp:
            text = await resp.text()
            assert 'name="purpose"' in text  # G19: the teacher in the room (no creator)
            assert "script-src 'self' http://127.0.0.1:" in resp.headers[
                "Content-Security-Policy"]
        async with http.get(f"{base}/jitsi/new?lang=en", headers={"Cookie": cookie}) as resp:
            assert "Confidential talk (never recorded)" in await resp.text()
    pupil = await seed_session(app, "pupil", "pupil-x")
    async with aiohttp.ClientSession() as http, http.get(
            f"{base}/jitsi/{ROOM}", headers={"Cookie": pupil}) as resp:
        assert 'name="purpose"' not in await resp.text()  # pupils never pick a purpose
    elsewhere = await seed_session(app, "teacher", "teacher-elsewhere")
    async with aiohttp.ClientSession() as http, http.get(
            f"{base}/jitsi/{ROOM}", headers={"Cookie": elsewhere}) as resp:
        assert 'name="purpose"' not in await resp.text()  # G19: not any teacher, any room


async def test_dutch_page_says_transcription_and_fits_a_phone(
        gateway: tuple[web.Application, str]) -> None:
    """G18: "uitschrijven" reads as "unsubscribe" in Dutch; a pupil must see what they agree
    to. The count says what it counts. The teacher's page (purpose form) fits 390 px."""
    app, base = gateway
    cookie = (await seed_session(app, "teacher")).split("=", 1)
    await hook(app, base, {"event": "occupant_joined", "room": ROOM, "occupant": "o/t1",
                           "person": person_of(app, "teacher"), "service": False})
    async with chromium() as browser:
        context = await browser.new_context(viewport={"width": 390, "height": 800})
        await context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base}])
        page = await context.new_page()
        await page.goto(f"{base}/jitsi/{ROOM}?lang=nl")
        await page.wait_for_selector('#transcription-state[data-allowed="no"]')
        await page.check("#consent")
        await page.wait_for_selector('#transcription-state[data-allowed="yes"]')
        text = await page.inner_text("body")
        assert "uitschrijven" not in text.lower()
        assert "Uitgeschreven tekst (transcriptie)" in text
        assert "Ja, een transcriptie vind ik goed" in text
        state = await page.inner_text("#transcription-state")
        assert state == "Transcriptie mag nu: iedereen zei ja. 1 van de 1 aanwezigen zeiden ja."
        assert await page.is_visible('#purpose select[name="purpose"]')
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await context.close()


async def _until(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Poll from the test side: Playwright's wait_for_function evaluates its predicate
    with eval inside the page, which the page's CSP (no unsafe-eval) rightly refuses."""
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await page.evaluate(expression):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.05)


async def test_page_says_so_when_jitsi_cannot_be_reached(tmp_path: Path) -> None:
    """No Jitsi server answers for external_api.js: "join" must not silently do nothing."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings = jitsi_settings(tmp_path, {"jitsi": {"base_url": nowhere}}, port=port)
    async with start_gateway(settings, port, wait_ready=False) as app, chromium() as browser:
        cookie = (await seed_session(app, "pupil")).split("=", 1)
        await hook(app, base, {"event": "occupant_joined", "room": ROOM, "occupant": "o/p1",
                               "person": person_of(app, "pupil"), "service": False})
        for lang, words in (("en", "cannot be reached right now"),
                            ("nl", "nu niet bereikbaar")):
            context = await browser.new_context()
            await context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base}])
            page = await context.new_page()
            await page.goto(f"{base}/jitsi/{ROOM}?lang={lang}")
            await page.click("#join")
            problem = page.locator('#join-problem[data-problem="unavailable"]')
            await problem.wait_for(state="visible")
            assert words in await problem.inner_text()
            assert await page.is_visible("#prejoin")  # the notice stays; nothing half-joined
            await context.close()
