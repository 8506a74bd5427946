"""Screenshots of the main pages in Dutch and English, made in real Chromium.

    PYTHONPATH=. python3 scripts/screenshots.py [--out docs/screenshots]

Runs the demo (gateway/demo/policy.py: config/example.toml on a free port, the
development login) in this process, walks it as a teacher, a pupil and the
privacy officer, and writes one PNG per page and language. Jitsi itself is not
attached: what its prosody module would report (the teacher in the room, Jibri
recording) is sent as its signed events, as the demo walk-through test does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page

from gateway.login.devidp import SAMPLE_ACCOUNTS
from gateway.web import keys
from tests.browser import chromium
from tests.test_demo_walkthrough import ROOM, _prosody, serve_demo

LOCALES = {"nl": "nl-NL", "en": "en-GB"}


async def login(browser: Browser, base: str, account: str, lang: str) -> Page:
    context = await browser.new_context(locale=LOCALES[lang], viewport={"width": 1100,
                                                                        "height": 760})
    page = await context.new_page()
    await page.goto(f"{base}/?lang={lang}")
    await page.click("main a.button[href='/login']")
    await page.click(f"button[value={account}]")
    await page.wait_for_url(base + "/")
    return page


async def shoot(page: Page, out: Path, name: str, lang: str, path: str | None = None) -> None:
    if path is not None:
        await page.goto(page.url.split("/", 3)[0] + "//" + page.url.split("/")[2] + path)
    await page.screenshot(path=str(out / f"{name}-{lang}.png"), full_page=True)


async def walk(browser: Browser, base: str, app: object, out: Path, lang: str) -> None:
    room = f"{ROOM}-{lang}"
    anonymous = await (await browser.new_context(locale=LOCALES[lang])).new_page()
    await anonymous.goto(f"{base}/privacy?lang={lang}")
    await shoot(anonymous, out, "privacy-notice", lang)
    teacher = await login(browser, base, "teacher", lang)
    await teacher.goto(base + "/jitsi/new")
    await teacher.fill("input[name=room]", room)
    await teacher.click("main button[type=submit]")
    await shoot(teacher, out, "jitsi-meeting-page", lang, f"/jitsi/{room}")
    person = app[keys.PSEUDONYMS].person(  # type: ignore[index]
        base + "/dev-idp", SAMPLE_ACCOUNTS["teacher"]["sub"])
    await _prosody(base, app, teacher, [
        {"event": "occupant_joined", "room": room, "occupant": f"{room}@conference/t1",
         "person": person, "service": False},
        {"event": "recording_status", "room": room, "status": "on", "mode": "file",
         "initiator": f"{room}@conference/t1",
         "av_moderation": {"audio": False, "video": False}}], room=room)
    await shoot(teacher, out, "teacher-home", lang, "/")
    await shoot(teacher, out, "refused-officer-page", lang, "/admin/retention")
    pupil = await login(browser, base, "pupil", lang)
    await shoot(pupil, out, "pupil-home", lang)
    await shoot(pupil, out, "objection-form", lang, "/objections/new")
    officer = await login(browser, base, "officer", lang)
    await shoot(officer, out, "officer-home", lang)
    await shoot(officer, out, "retention-queue", lang, "/admin/retention")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with serve_demo(Path(tmp)) as (base, app):
            async with chromium() as browser:
                for lang in LOCALES:
                    await walk(browser, base, app, out, lang)
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", help="folder for the PNG files")
    asyncio.run(main(Path(parser.parse_args().out)))
