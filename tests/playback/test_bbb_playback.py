"""Protected BBB playback end to end (G14, G17): LMS → gateway link → school login at
the real OpenID provider → decision → grant on the BBB host → real nginx with the
shipped snippet (auth_request to the gateway) → the recording's files."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from gateway.web import keys
from tests.gateway_fixtures import browser
from tests.oidc_provider import browser_login
from tests.playback.harness import PLAYBACK_HOST
from tests.playback.stack import FEEDBACK, LECTURE, Stack
from tests.support import metric_value

# -- getRecordings ---------------------------------------------------------------------

async def test_get_recordings_carries_gateway_links_never_bbb_urls(stack: Stack) -> None:
    async with browser() as lms, lms.get(stack.lms("getRecordings", [])) as r:
        body = await r.text()
    assert r.status == 200 and "<returncode>SUCCESS</returncode>" in body
    root = ET.fromstring(body)
    urls = [f.findtext("url", "") for f in root.iter("format")]
    assert len(urls) == 4 and len(set(urls)) == 4  # one per recording and format
    assert all(u.startswith(stack.base + "/recordings/bbb/") for u in urls)
    assert PLAYBACK_HOST not in body and stack.emulator.base not in body  # G17
    assert "/playback/presentation/2.3/" not in body and "<preview>" not in body


# -- the browser: LMS link, school login, player and media -------------------------------

def _chromium_args() -> list[str]:
    from tests.browser import CHROMIUM_ARGS

    return [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {PLAYBACK_HOST} 127.0.0.1"]


_FETCH = """async (url) => {
  const r = await fetch(url);
  return [r.status, Array.from(new Uint8Array(await r.arrayBuffer()))];
}"""


async def test_chromium_follows_an_lms_link_logs_in_and_watches(stack: Stack) -> None:
    from playwright.async_api import async_playwright

    from tests.browser import chromium_path

    record_id = stack.records[LECTURE]
    link = (await stack.links(LECTURE))["presentation"]
    player = f"{stack.playback_base}/playback/presentation/2.3/{record_id}"
    media = f"{stack.playback_base}/presentation/{record_id}/video/webcams.webm"
    async with async_playwright() as playwright:
        chrome = await playwright.chromium.launch(executable_path=chromium_path(),
                                                  args=_chromium_args(), headless=True)
        try:
            context = await chrome.new_context(locale="en-GB")
            page = await context.new_page()
            page.set_default_timeout(15000)
            await page.goto(link)  # the LMS link: to the school login first
            await page.fill("input[name=login]", "pupil")
            await page.click("button[type=submit]")
            await page.wait_for_url(player)
            assert await page.inner_text("#player") == "presentation player"
            # The player loads its media from the BBB host, with the recording's cookie.
            status, data = await page.evaluate(_FETCH, media)
            assert status == 200
            assert bytes(data) == stack.files[record_id][
                f"published/presentation/{record_id}/video/webcams.webm"]

            fresh = await chrome.new_context(locale="en-GB")  # the copied URL elsewhere
            other = await fresh.new_page()
            for url in (player, media):
                refused = await other.goto(url)
                assert refused is not None and refused.status == 401
                assert "not with a copied link" in await other.inner_text("main")
            # The LMS link itself was spent: after logging in, a fresh browser gets 410.
            await other.goto(link)
            await other.fill("input[name=login]", "teacher")
            await other.click("button[type=submit]")
            await other.wait_for_selector('[data-reason="replayed"]')
            assert "already used" in await other.inner_text("main")
        finally:
            await chrome.close()


# -- who may watch ---------------------------------------------------------------------

async def _follow(stack: Stack, link: str, account: str) -> tuple[int, str, str | None]:
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        result = await browser_login(session, link, account)
        return result.status, result.body_text, result.location


async def test_a_pupil_is_refused_a_feedback_recording(stack: Stack) -> None:
    link = (await stack.links(FEEDBACK))["presentation"]
    status, body, _ = await _follow(stack, link, "pupil")
    assert status == 403 and 'data-reason="not_moderator"' in body
    assert "only for the teachers who led the meeting" in body
    assert b"webm" not in body.encode()
    metrics = stack.app[keys.METRICS].playback
    assert metric_value(metrics.labels(platform="bbb", purpose="feedback", result="refused")) == 1


async def test_the_teacher_who_moderated_watches_feedback_and_it_is_audited(
        stack: Stack) -> None:
    join = stack.lms("join", [("meetingID", FEEDBACK), ("fullName", "T"),
                              ("role", "MODERATOR")])
    async with browser() as session:
        assert (await browser_login(session, str(join), "teacher")).location
    link = (await stack.links(FEEDBACK))["video"]
    status, _, location = await _follow(stack, link, "teacher")
    assert status == 302 and location is not None
    assert location.startswith(stack.playback_base + "/privacy-gateway/grant/")
    entries = [e async for e in stack.app[keys.AUDIT].entries()
               if e["kind"] == "playback_granted"]
    assert len(entries) == 1 and entries[0]["purpose"] == "feedback"
    assert str(entries[0]["viewer"]).startswith("p_")  # a pseudonym, never a name (G20)
    assert "t.devries" not in str(entries[0]) and "Tamara" not in str(entries[0])
    # Watching a lecture is nobody's business: not audited, only counted.
    await _follow(stack, (await stack.links(LECTURE))["video"], "pupil")
    assert len([e async for e in stack.app[keys.AUDIT].entries()
                if e["kind"] == "playback_granted"]) == 1


async def test_a_recording_on_hold_is_for_the_officer_alone(stack: Stack) -> None:
    from gateway.policy.retention import RegistryRow
    from gateway.store.registry import Registry

    record_id = stack.records[LECTURE]
    registry = Registry(stack.app[keys.STORE])
    now = stack.clock.time()
    await registry.put(RegistryRow("bbb", record_id, "bbb1", record_id, "lesson", "lecture",
                                   now, now + 86400))
    await registry.add_hold(f"bbb:{record_id}", "objection:o1")  # G12
    status, body, _ = await _follow(stack, (await stack.links(LECTURE))["presentation"],
                                    "pupil")
    assert status == 403 and 'data-reason="held"' in body
