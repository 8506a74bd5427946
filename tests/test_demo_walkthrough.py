"""The demo walked through in real Chromium: teacher, pupil and privacy officer.

The demo exactly as `privacy-gateway demo` builds it (gateway.demo.app.build_demo:
the example at the test's port, the development login with its sample accounts,
BBB against the demo's stand-in and its bus, Jitsi's pages on). BigBlueButton
is walked end to end in the browser: the demo LMS page, the ticket and school
login, the stand-in's meeting page, the recording guard on the bus, the
objection and the retention queue. The one thing no browser can do here is
Jitsi itself: what the prosody module would report (the teacher in the room,
Jibri recording) is sent as its signed events.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from gateway.demo.app import DEMO_PARTS
from gateway.login.devidp import SAMPLE_ACCOUNTS
from gateway.login.sessions import COOKIE_DEV
from gateway.web import keys
from tests.browser import chromium
from tests.gateway_fixtures import serve_demo
from tests.jitsi.support import enter_room, signed

ROOM = "biologie-1a"


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
        assert "no Jitsi server is attached" in await teacher.inner_text("main")
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
        await pupil.wait_for_url(base + "/objections?filed=*")
        assert "Your objection was sent." in await pupil.inner_text("main")
        assert await pupil.locator('tr[data-status="open"]').count() == 1

        officer = await _login(browser, base, "officer")
        await officer.click("text=Retention queue, objections and holds")
        await officer.wait_for_url(base + "/admin/retention")
        assert "My room was on screen" in await officer.inner_text("main")
        await officer.click("button[value=uphold]")
        await officer.wait_for_url("**/admin/retention?decided=uphold&objection=*")

        # No Jitsi recording of the room exists: upheld, and not told "deleted" (G12).
        await pupil.goto(base + "/")
        assert await pupil.locator('li[data-status="upheld_none"]').count() == 1

        # The teacher may not open the officer's page, and is told who may (nl).
        await teacher.goto(base + "/admin/retention?lang=nl")
        text = await teacher.inner_text("main")
        assert "Geen toegang" in text and "Alleen de privacy-officer" in text


LESSON = "Biologie 2B"
MEETING_PAGE = "**/html5client/join?sessionToken=*"


async def _join(context: BrowserContext, link: str, account: str) -> Page:
    """Follow an LMS join link: the gateway's ticket, the school login, the meeting page."""
    page = await context.new_page()
    await page.goto(link)
    await page.click(f"button[value={account}]")  # the development IdP's sample accounts
    await page.wait_for_url(MEETING_PAGE)
    await expect(page.locator("#meeting")).to_have_attribute("data-ready", "yes")
    return page


def _row(page: Page, role: str) -> Any:
    return page.locator(f'#participants tr[data-role="{role}"]')


async def test_bbb_lesson_walkthrough(demo: tuple[str, Any]) -> None:
    """LMS page → joins through ticket and login → purpose → recording with the pupil
    muted, camera off and locked, the announcement in the chat → stop → recording →
    objection → the officer's decision and retention queue (G1, G8, G10, G11, G12, G16)."""
    base, app = demo
    parts = app[DEMO_PARTS]
    expect.set_options(timeout=15_000)  # a busy 2-core CI: room for the guard's round trips
    try:
        await _bbb_walk(base, parts, app)
    finally:
        expect.set_options(timeout=5_000)  # Playwright's default again


async def _bbb_walk(base: str, parts: Any, app: Any) -> None:
    async with chromium() as browser:
        teacher_ctx = await browser.new_context(locale="en-GB")
        lms = await teacher_ctx.new_page()
        await lms.goto(base + "/")
        await lms.click("a.demo-lms")
        await lms.fill("input[name=name]", LESSON)
        await lms.select_option("select[name=type]", "lesson")
        await lms.click("form.lms button[type=submit]")
        await expect(lms.locator("[data-meeting]")).to_contain_text(
            "The lesson was created: Biologie 2B.")
        lesson_id = await lms.get_attribute("[data-meeting]", "data-meeting")
        assert lesson_id and lesson_id.startswith("biologie-2b-")  # its own, never reused
        teacher_link = await lms.get_attribute("#join-teacher", "href")
        pupil_link = await lms.get_attribute("#join-pupil", "href")
        assert teacher_link and pupil_link and teacher_link.startswith(base + "/bigbluebutton/")

        teacher = await _join(teacher_ctx, teacher_link, "teacher")
        assert teacher.url.startswith(parts.bbb_url + "/html5client/join")
        await expect(teacher.locator("h1")).to_have_text(LESSON)
        await expect(_row(teacher, "MODERATOR")).to_have_attribute("data-locked", "no")
        pupil_ctx = await browser.new_context(locale="en-GB")
        pupil = await _join(pupil_ctx, pupil_link, "pupil")
        await expect(pupil.locator("#record")).to_have_count(0)  # G9: no record button
        await expect(_row(teacher, "VIEWER")).to_have_count(1)

        # A second meeting joined in the same browser leaves the first tab's session alone.
        await lms.fill("input[name=name]", "Mentoruur")
        await lms.select_option("select[name=type]", "meeting")
        await lms.click("form.lms button[type=submit]")
        await expect(lms.locator("[data-meeting]")).to_contain_text("Mentoruur")
        other_link = await lms.get_attribute("#join-teacher", "href")
        assert other_link
        other = await teacher_ctx.new_page()
        await other.goto(other_link)
        await other.wait_for_url(MEETING_PAGE)  # logged in already: straight in
        await expect(other.locator("h1")).to_have_text("Mentoruur")
        await other.close()
        # The first tab is still in its meeting: the recording below is started from it.
        await teacher.bring_to_front()

        # The teacher declares the purpose on the gateway's purpose page (G11).
        purpose = await teacher_ctx.new_page()
        await purpose.goto(f"{base}/meetings/bbb/{lesson_id}/purpose")
        await purpose.check("input[name=purpose][value=lecture]")
        await purpose.click("main button[type=submit]")
        await expect(purpose.locator('[data-message="guard.purpose.saved"]')).to_be_visible()

        # The pupil's camera and microphone on, as the teacher sees them.
        await pupil.click("#camera")
        await pupil.click("#mic")
        pupil_row = _row(teacher, "VIEWER")
        await expect(pupil_row).to_have_attribute("data-camera", "on")
        await expect(pupil_row).to_have_attribute("data-mic", "on")
        await expect(pupil.locator('#locks li[data-lock="disableCam"]')).to_have_attribute(
            "data-on", "no")

        # The teacher records: the guard silences, locks and announces (G8, G10).
        await teacher.click("#record")
        for page in (pupil, teacher):
            await expect(page.locator("#recording-state")).to_have_attribute(
                "data-recording", "yes")
            row = _row(page, "VIEWER")
            await expect(row).to_have_attribute("data-camera", "off")
            await expect(row).to_have_attribute("data-mic", "muted")
            await expect(row).to_have_attribute("data-locked", "yes")
            for lock in ("disableCam", "disableMic"):
                await expect(page.locator(f'#locks li[data-lock="{lock}"]')).to_have_attribute(
                    "data-on", "yes")
            await expect(page.locator("#chat")).to_contain_text(
                "This lesson is being recorded to watch later.")
        await expect(pupil.locator("#locks")).to_contain_text("Share webcam: locked")
        await expect(_row(teacher, "MODERATOR")).to_have_attribute("data-locked", "no")
        # The pupil's camera is refused, because of the recording; so is the microphone.
        await expect(pupil.locator("#camera")).to_have_attribute("data-locked", "yes")
        await pupil.click("#camera")
        await expect(pupil.locator("#refusal")).to_have_text(
            "Refused: viewers' webcams are locked because this lesson is being recorded.")
        await pupil.click("#mic")
        await expect(pupil.locator("#refusal")).to_have_text(
            "Refused: your microphone is locked because this lesson is being recorded.")
        await expect(_row(teacher, "VIEWER")).to_have_attribute("data-camera", "off")

        # The teacher's home page shows the recording and its purpose.
        home = await teacher_ctx.new_page()
        await home.goto(base + "/")
        meeting_row = home.locator(f'tr[data-platform="bbb"][data-meeting="{lesson_id}"]')
        await expect(meeting_row).to_have_attribute("data-recording", "yes")
        await expect(meeting_row).to_contain_text("Lesson to watch later")

        # Stop: the stand-in makes the meeting's recording, which is swept at once.
        await teacher.click("#record")
        await expect(teacher.locator("#recording-state")).to_have_attribute(
            "data-recording", "no")
        await expect(pupil.locator("#recording-state")).to_have_attribute(
            "data-recording", "no")
        await expect(pupil.locator("#refusal")).to_be_hidden()  # the refusal went with it
        bbb = parts.bbb
        live = next(v for v in bbb.live.values() if v.meeting.meeting_id == lesson_id)
        assert live.record_id == live.meeting.internal_id
        meta = bbb.recording_meta(live.record_id)
        assert meta["meetingId"] == lesson_id and meta["privacy-meeting-type"] == "lesson"
        assert bbb.refused_commands == []  # every guard command came from a moderator
        await asyncio.gather(*list(parts.sweeps))

        # The pupil objects from the meeting page (G12), in a new tab: the meeting stays.
        async with pupil_ctx.expect_page() as opened:
            await pupil.click("#objection-link")
        objecting = await opened.value
        await objecting.wait_for_url(f"{base}/objections/new?**")
        assert pupil.url.startswith(parts.bbb_url + "/html5client/join")
        # The lesson's name and the LMS's id, not BBB's internal id (G12).
        about = objecting.locator("p.about")
        await expect(about).to_contain_text(
            f"This objection is about: {LESSON} ({lesson_id}) · BigBlueButton")
        await expect(about).not_to_contain_text(live.meeting.internal_id)
        await objecting.fill("textarea[name=reason]", "I was on camera before the start")
        await objecting.click("main button[type=submit]")
        await objecting.wait_for_url(base + "/objections?filed=*")
        await expect(objecting.locator('tr[data-status="open"]')).to_have_count(1)
        await expect(objecting.locator('tr[data-status="open"]')).to_contain_text("1 recording")

        officer = await _login(browser, base, "officer")
        await officer.click("text=Retention queue, objections and holds")
        await officer.wait_for_url(base + "/admin/retention")
        objection = officer.locator("table.open-objections tbody tr")
        await expect(objection).to_contain_text("I was on camera before the start")
        await expect(objection).to_contain_text("1 recording on hold")
        await expect(objection).to_contain_text(LESSON)
        # Held, not "retained", in the Recordings table at once (G12).
        await expect(officer.locator('table.counts tr[data-platform="bbb"]'
                                     '[data-purpose="lecture"][data-state="held"]')
                     ).to_contain_text("1")
        await officer.click("button[value=reject]")
        await officer.wait_for_url("**/admin/retention?decided=reject&objection=*")
        queue = officer.locator('table.counts tr[data-platform="bbb"][data-purpose="lecture"]')
        await expect(queue.first).to_be_visible()
        await expect(officer.locator("table.open-objections")).to_have_count(0)
        await objecting.goto(base + "/objections")
        await expect(objecting.locator('tr[data-status="rejected"]')).to_have_count(1)

        # Again, by the lesson's id as the LMS shows it, from the home page; upheld this
        # time: the demo's purge agent really deletes, and only then is it "deleted".
        await objecting.goto(base + "/objections/new")
        await objecting.select_option("select[name=platform]", "bbb")
        await objecting.fill("input[name=meeting]", lesson_id)
        await objecting.click("main button[type=submit]")
        await objecting.wait_for_url(base + "/objections?filed=*")
        await expect(objecting.locator('tr[data-outcome="open_held"]')).to_contain_text(LESSON)
        await officer.goto(base + "/admin/retention")
        await officer.click("button[value=uphold]")
        await officer.wait_for_url("**/admin/retention?decided=uphold&objection=*")
        await expect(officer.locator("p[data-decided]")).to_have_attribute(
            "data-decided", re.compile("upheld_(deleting|deleted)"))
        from gateway.retention.keys import OBJECTIONS

        await app[OBJECTIONS].deletions_settled()
        assert not [p for p in parts.bbb_root.rglob(f"*{live.record_id}*")]  # verified gone
        await objecting.goto(base + "/objections")
        await expect(objecting.locator('tr[data-outcome="upheld_deleted"]')).to_contain_text(
            "The recording was deleted.")
        await officer.reload()
        await expect(officer.locator("p[data-decided]")).to_have_attribute(
            "data-decided", "upheld_deleted")
        await expect(officer.locator('tr[data-field="failing"] td')).to_have_text("0")
