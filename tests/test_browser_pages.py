"""The gateway's own pages in real headless Chromium, as a pupil and a teacher see them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import jinja2
import pytest
from aiohttp import web

from gateway.web import i18n, keys
from privacy_gateway import create_app
from tests.browser import chromium
from tests.gateway_fixtures import start_gateway, wait_for_idp
from tests.jitsi.support import (
    csrf_of,
    enter_room,
    jitsi_settings,
    person_of,
    seed_session,
    signed,
)
from tests.support import ROOT, demo_settings, free_port, make_settings


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[str]:
    port = free_port()
    async with start_gateway(demo_settings(tmp_path, port), port, wait_ready=False) as app:
        await wait_for_idp(app)
        yield f"http://127.0.0.1:{port}"


async def test_login_and_notice_in_chromium(demo: str, tmp_path: Path) -> None:
    """A teacher clicks through the demo login; nothing loads from elsewhere (G21)."""
    async with chromium() as browser:
        page = await browser.new_page(locale="en-GB")
        origins: set[str] = set()
        problems: list[str] = []
        page.on("request", lambda r: origins.add(urlsplit(r.url).netloc))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        await page.goto(demo + "/privacy")
        assert await page.locator("h1").inner_text() == "Privacy: what happens to your data?"
        assert await page.locator('tr[data-purpose="lecture"]').count() == 1
        await page.click("text=Nederlands")
        assert "Welke gegevens?" in await page.content()
        await page.click("text=Inloggen")
        await page.click("button[value=teacher]")
        await page.wait_for_url(demo + "/privacy")
        await page.goto(demo + "/")
        assert "Je bent ingelogd als leraar." in await page.inner_text("main")
        await page.screenshot(path=str(tmp_path / "home.png"))
        await page.click("text=Uitloggen")
        await page.wait_for_url(demo + "/logged-out")
        assert "Je bent uitgelogd." in await page.inner_text("main")
        assert origins == {urlsplit(demo).netloc}
        assert problems == []  # no CSP violations or script errors


async def test_private_account_sees_a_plain_refusal(demo: str) -> None:
    async with chromium() as browser:
        page = await browser.new_page(locale="nl-NL")
        await page.goto(demo + "/login")
        await page.click("button[value=private]")
        text = await page.inner_text("main")
        assert "Dit is een privé-account" in text
        assert "Log in met het account dat je van school hebt gekregen" in text


LONG_ROOM = "ccbb1f0e9a4d7c2b8e5f3a1d6c9b0e7f2a4d8c1b5e9f3a7d0c2b6e8f1a3d5c7b"  # 64 characters


async def _teacher_with_a_long_recording_room(app: web.Application, base: str) -> str:
    """A teacher whose Jitsi room (a 64-character name) is recording: the widest row."""
    teacher = await seed_session(app, "teacher")
    async with aiohttp.ClientSession(base_url=base) as http:
        resp = await http.post("/jitsi/new", allow_redirects=False, headers={"Cookie": teacher},
                               data={"csrf": await csrf_of(app, teacher), "room": LONG_ROOM,
                                     "meeting_type": "lesson"})
        assert resp.status == 303, await resp.text()
        assert (await enter_room(http, f"room={LONG_ROOM}", teacher)).status in (302, 303)
        for event in ({"event": "occupant_joined", "room": LONG_ROOM, "occupant": "o/t1",
                       "person": person_of(app, "teacher"), "service": False},
                      {"event": "recording_status", "room": LONG_ROOM, "status": "on",
                       "mode": "file", "initiator": "o/t1",
                       "av_moderation": {"audio": False, "video": False}}):
            body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
            async with http.post("/hooks/jitsi/events", data=body, headers=headers) as resp:
                assert resp.status == 200
    return teacher


@pytest.mark.parametrize(("width", "lang"), [(1100, "nl"), (1100, "en"), (390, "nl"),
                                             (390, "en")])
async def test_teacher_home_table_fits_the_screen(tmp_path: Path, width: int,
                                                  lang: str) -> None:
    """The "stop recording now" button stays inside its cell and the table inside the page,
    on a laptop and on a phone (the table was 673 px wide on a 390 px screen)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with start_gateway(jitsi_settings(tmp_path, port=port), port,
                             wait_ready=False) as app:
        cookie = (await _teacher_with_a_long_recording_room(app, base)).split("=", 1)
        async with chromium() as browser:
            context = await browser.new_context(viewport={"width": width, "height": 900})
            await context.add_cookies([{"name": cookie[0], "value": cookie[1], "url": base}])
            page = await context.new_page()
            await page.goto(f"{base}/?lang={lang}")
            assert await page.locator("button.danger").count() == 1
            sizes = await page.evaluate("""() => {
                const box = e => e.getBoundingClientRect();
                const button = document.querySelector('button.danger');
                const cell = button.closest('td');
                return {table: box(document.querySelector('table.meetings')),
                        main: box(document.querySelector('main')),
                        button: box(button), cell: box(cell),
                        page: document.documentElement.scrollWidth};
            }""")
            assert sizes["page"] <= width, sizes  # nothing scrolls sideways
            assert sizes["table"]["right"] <= sizes["main"]["right"] + 0.5, sizes
            assert sizes["button"]["left"] >= sizes["cell"]["left"] - 0.5, sizes
            assert sizes["button"]["right"] <= sizes["cell"]["right"] + 0.5, sizes
            await page.screenshot(path=str(tmp_path / f"home-{width}-{lang}.png"), full_page=True)
            await context.close()


@pytest.mark.parametrize("width", [1100, 390])
async def test_officer_decision_buttons_stay_in_their_cells(tmp_path: Path, width: int) -> None:
    """The retention page's "Uphold and delete" and "Reject" buttons stay inside the
    table cell, on a laptop and on a phone (the real template, the real stylesheet)."""
    messages = create_app(make_settings(tmp_path))[i18n.MESSAGES_KEY]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "gateway" / "web" / "templates"),
                             autoescape=True)
    objection = {"id": "obj-" + "7" * 40, "filed": "2026-12-04 10:15", "platform": "bbb",
                 "recordings": 2, "reason": "I was on screen while I talked about my family"}
    page_html = env.get_template("admin_retention.html").render(
        t=lambda key, **values: messages.t("en", key, **values), lang="en",
        objections=[objection], counts=[], csrf="x", lang_href="/", school_name="School")
    css = (ROOT / "gateway" / "web" / "static" / "gateway.css").read_text()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": width, "height": 900})
        await page.set_content(page_html)
        await page.add_style_tag(content=css)
        boxes = await page.evaluate("""() => [...document.querySelectorAll('td button')].map(b => {
            const cell = b.closest('td').getBoundingClientRect(), box = b.getBoundingClientRect();
            return {left: box.left - cell.left, right: cell.right - box.right};
        })""")
        assert len(boxes) == 2
        assert all(b["left"] >= -0.5 and b["right"] >= -0.5 for b in boxes), boxes
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
