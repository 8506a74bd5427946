"""The gateway's own pages in real headless Chromium, as a pupil and a teacher see them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser import chromium
from tests.gateway_fixtures import start_gateway, wait_for_idp
from tests.support import demo_settings, free_port


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
