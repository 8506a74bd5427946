"""Screenshots of the main pages in Dutch and English, made in real Chromium.

    PYTHONPATH=. python3 scripts/screenshots.py [--out docs/screenshots]

Runs the demo as `privacy-gateway demo` builds it (gateway/demo/app.py:
config/example.toml on a free port, the development login, BBB against the
demo's stand-in) in this process, walks it as a teacher, a pupil and the
privacy officer, and writes one PNG per page and language: among them the demo
LMS page and the stand-in's meeting page while it records (the pupil's and the
teacher's view). Jitsi itself is not attached: what its prosody module would
report (the teacher in the room, Jibri recording) is sent as its signed events,
as the demo walk-through test does.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from playwright.async_api import Browser, Page, expect

from gateway.login.devidp import SAMPLE_ACCOUNTS
from gateway.web import keys
from tests.browser import chromium
from tests.gateway_fixtures import serve_demo
from tests.test_demo_walkthrough import ROOM, _prosody

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


LESSONS = {"nl": "Biologie 2B", "en": "Biology 2B"}


async def bbb_walk(browser: Browser, base: str, out: Path, lang: str) -> None:
    """The demo LMS page, then the stand-in's meeting page while it records."""
    teacher = await login(browser, base, "teacher", lang)
    await teacher.goto(f"{base}/demo/lms?lang={lang}")
    await teacher.fill("input[name=name]", LESSONS[lang])
    await teacher.click("form.lms button[type=submit]")
    await teacher.wait_for_selector("#join-teacher")
    await shoot(teacher, out, "demo-lms", lang)
    meeting_id = await teacher.get_attribute("[data-meeting]", "data-meeting")
    teacher_link = await teacher.get_attribute("#join-teacher", "href")
    pupil_link = await teacher.get_attribute("#join-pupil", "href")
    assert meeting_id and teacher_link and pupil_link
    teacher_meeting = await teacher.context.new_page()
    await teacher_meeting.goto(teacher_link)  # logged in already: straight through
    pupil = await login(browser, base, "pupil", lang)
    pupil_meeting = await pupil.context.new_page()
    await pupil_meeting.goto(pupil_link)
    for page in (teacher_meeting, pupil_meeting):
        await page.wait_for_url("**/html5client/join?**")
        await expect(page.locator("#meeting")).to_have_attribute("data-ready", "yes")
    await teacher.goto(f"{base}/meetings/bbb/{meeting_id}/purpose")
    await teacher.check("input[name=purpose][value=lecture]")
    await teacher.click("main button[type=submit]")
    await pupil_meeting.click("#camera")
    await pupil_meeting.click("#mic")
    pupil_row = teacher_meeting.locator('#participants tr[data-role="VIEWER"]')
    await expect(pupil_row).to_have_attribute("data-camera", "on")
    await teacher_meeting.click("#record")
    await expect(pupil_meeting.locator('#participants tr[data-role="VIEWER"]')
                 ).to_have_attribute("data-locked", "yes")
    await expect(pupil_meeting.locator("#chat li:not(.empty)")).not_to_have_count(0)
    await expect(pupil_meeting.locator("#camera")).to_have_attribute("data-locked", "yes")
    await expect(pupil_row).to_have_attribute("data-mic", "muted")
    await pupil_meeting.click("#camera")  # refused, with the reason
    await expect(pupil_meeting.locator("#refusal")).to_be_visible()
    await expect(teacher_meeting.locator("#chat li:not(.empty)")).not_to_have_count(0)
    await shoot(pupil_meeting, out, "demo-meeting-recording-pupil", lang)
    await shoot(teacher_meeting, out, "demo-meeting-recording-teacher", lang)
    await teacher_meeting.click("#record")  # stopped again
    await expect(teacher_meeting.locator("#recording-state")).to_have_attribute(
        "data-recording", "no")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        async with serve_demo(Path(tmp)) as (base, app):
            async with chromium() as browser:
                for lang in LOCALES:
                    await walk(browser, base, app, out, lang)
                    await bbb_walk(browser, base, out, lang)
    print(f"screenshots written to {out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", help="folder for the PNG files")
    asyncio.run(main(Path(parser.parse_args().out)))
