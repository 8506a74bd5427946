"""The teacher's purpose page /meetings/bbb/{meeting_id}/purpose (G8, G11, G3), end to end.

A whole gateway (create_app) with the BBB adapter and its guard on a real
redis-server, in front of the BBB emulator; sessions are put in the store the
way the login flow leaves them (the flow itself: tests/test_login_flow.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.app_keys import PROXY
from bbb_hooks.guard_page import GUARD
from bbb_hooks.meetings import MeetingRecord, save_meeting
from gateway.web import keys
from tests.guard import bbb_bus as bus
from tests.guard.page_rig import (
    LESSON,
    LESSON_INTERNAL,
    TALK,
    TEACHER,
    Page,
    chat_of,
    guard_sees_lesson,
)


async def test_teacher_declares_a_purpose_stored_and_announced_beforehand(
        page: Page, redis_url: str) -> None:
    """G11 + G8: the purpose is stored for the guard and told to everybody before a start."""
    await guard_sees_lesson(page, redis_url)
    csrf = await page.login("teacher")
    response = await page.client.get(page.path())
    form = await response.text()
    assert response.status == 200 and 'value="feedback"' in form and csrf in form
    status, body = await page.post({"csrf": csrf, "purpose": "feedback",
                                    "approval_reference": ""})
    assert status == 200 and 'data-message="guard.purpose.saved"' in body
    assert (await page.saved())["purpose"] == b"feedback"
    (meeting, nl), (_, en) = await chat_of(page, 2)  # one message per language
    assert meeting == LESSON
    assert "opgenomen voor feedback in deze les" in nl and "feedback within" not in nl
    assert "for feedback within this lesson" in en
    app = page.app
    entries = [e async for e in app[keys.AUDIT].entries()]
    assert [e for e in entries if e.get("action") == "purpose_declared"]
    assert LESSON not in json.dumps(entries)


async def test_purpose_declared_before_the_guard_saw_the_meeting_is_still_announced(
        page: Page) -> None:
    """Another replica (or a guard that has not seen the meeting) asks BBB and tells (G8)."""
    page.emu.add_meeting(LESSON, [{"userID": TEACHER, "fullName": "T", "role": "MODERATOR"}])
    csrf = await page.login("teacher")
    status, _ = await page.post({"csrf": csrf, "purpose": "lecture", "approval_reference": ""})
    assert status == 200
    (meeting, nl), (_, en) = await chat_of(page, 2)
    assert meeting == LESSON and "30 dagen" in nl and "30 days" in en


async def test_approved_exception_with_its_reference_is_kept(page: Page) -> None:
    """G11: a reference the privacy officer registered (gateway/approvals.py)."""
    await page.store.hset("approvals:refs", {"PO-2024/017": b"1"}, None)
    csrf = await page.login("teacher")
    status, body = await page.post({"csrf": csrf, "purpose": "approved_exception",
                                    "approval_reference": "PO-2024/017"})
    assert status == 200 and 'value="PO-2024/017"' in body
    saved = await page.saved()
    assert saved["purpose"] == b"approved_exception"
    assert saved["approval_reference"] == b"PO-2024/017"


@pytest.mark.parametrize(("role", "form", "status", "marker"), [
    pytest.param("pupil", {"purpose": "lecture"}, 403,
                 'data-message="guard.purpose.not_teacher"', id="pupil_declares_a_purpose"),
    pytest.param("teacher", {"purpose": "lecture", "csrf": "forged"}, 403,
                 'data-message="error.csrf"', id="forged_form_csrf"),
    pytest.param("teacher", {"purpose": "approved_exception", "approval_reference": "  "}, 400,
                 'data-error="guard.purpose.needs_reference"',
                 id="G11_exception_without_reference"),
    pytest.param("teacher", {"purpose": "approved_exception",
                             "approval_reference": "<script>x</script>"}, 400,
                 'data-error="guard.purpose.needs_reference"', id="G11_reference_with_markup"),
    pytest.param("teacher", {"purpose": "surveillance"}, 400,
                 'data-error="guard.purpose.bad_purpose"', id="purpose_not_in_policy"),
    pytest.param("teacher", {"purpose": "approved_exception",
                             "approval_reference": "MADE-UP-1"}, 400,
                 'data-error="guard.purpose.needs_reference"',
                 id="G11_reference_not_registered_by_the_officer"),
])
async def test_refused_declarations_store_nothing(page: Page, role: str, form: dict[str, str],
                                                  status: int, marker: str) -> None:
    csrf = await page.login(role)
    got, body = await page.post({"csrf": csrf, "approval_reference": "", **form})
    assert got == status and marker in body
    assert await page.saved() == {}
    assert page.emu.chat == []


async def test_missing_reference_is_explained_in_the_teachers_language(page: Page) -> None:
    csrf = await page.login("teacher")
    response = await page.client.post(
        page.path(), data={"csrf": csrf, "purpose": "approved_exception",
                           "approval_reference": ""}, headers={"Accept-Language": "nl"})
    body = await response.text()
    assert response.status == 400
    assert "kenmerk nodig dat de privacy-officer heeft" in body
    assert 'value="approved_exception" checked' in body  # the choice is kept for a retry


async def test_unknown_meeting_gets_a_friendly_404(page: Page) -> None:
    await page.login("teacher")
    response = await page.client.get(page.path("no-such-meeting"))
    body = await response.text()
    assert response.status == 404 and response.content_type == "text/html"
    assert 'data-message="guard.purpose.unknown_meeting"' in body and "afgelopen" in body


async def test_confidential_meeting_says_recording_is_impossible(page: Page) -> None:
    """G3: no form to fill in, and a forged post is refused."""
    csrf = await page.login("teacher")
    response = await page.client.get(page.path(TALK))
    body = await response.text()
    assert response.status == 200
    assert 'data-message="guard.purpose.no_recording"' in body and 'name="purpose"' not in body
    status, _ = await page.post({"csrf": csrf, "purpose": "feedback"}, TALK)
    assert status == 409 and await page.saved(TALK) == {}


async def test_without_a_session_the_page_sends_to_the_school_login(page: Page) -> None:
    response = await page.client.get(page.path(), allow_redirects=False)
    assert response.status in (302, 303)
    assert response.headers["Location"].startswith("/login?")


async def test_a_teacher_of_another_meeting_cannot_declare_its_purpose(page: Page) -> None:
    """G11, G19: only a teacher who moderates this meeting decides what it is recorded for."""
    csrf = await page.login("teacher", moderates=("another-class",))
    status, body = await page.post({"csrf": csrf, "purpose": "exam_evidence"})
    assert status == 403 and 'data-message="guard.purpose.not_teacher"' in body
    assert await page.saved() == {} and page.emu.chat == []


@pytest.mark.parametrize("length", [65, 100])
async def test_G11_any_reference_the_officer_can_register_is_usable(page: Page,
                                                                    length: int) -> None:
    """gateway/approvals.py registers references of up to 100 characters; each one works."""
    from gateway.guard.approvals import normalise_reference

    reference = normalise_reference("PO-" + "7" * (length - 3))
    await page.store.hset("approvals:refs", {reference: b"1"}, None)
    csrf = await page.login("teacher")
    status, _ = await page.post({"csrf": csrf, "purpose": "approved_exception",
                                 "approval_reference": f"  {reference} "})
    assert status == 200
    assert (await page.saved())["approval_reference"] == reference.encode()


async def test_one_meeting_lookup_per_request(page: Page,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from bbb_hooks.meetings import meeting_info as real

    lookups: list[str] = []

    async def counted(store: Any, meeting_id: str) -> Any:
        lookups.append(meeting_id)
        return await real(store, meeting_id)

    monkeypatch.setattr("bbb_hooks.guard_page.meeting_info", counted)
    csrf = await page.login("teacher")
    assert (await page.client.get(page.path())).status == 200
    assert lookups == [LESSON]
    status, _ = await page.post({"csrf": csrf, "purpose": "lecture", "approval_reference": ""})
    assert status == 200 and lookups == [LESSON, LESSON]


async def test_the_guard_talks_to_the_proxys_servers(page: Page) -> None:
    """One ServerPool per gateway: the guard uses the proxy's servers and record TTL."""
    proxy = page.app[PROXY]
    guard = page.app[GUARD]
    assert tuple(guard.servers.values()) == proxy.pool.servers
    assert all(a is b for a, b in zip(guard.servers.values(), proxy.pool.servers, strict=True))
    assert guard.record_ttl == proxy.record_ttl


async def test_purposes_are_named_as_people_read_them(page: Page) -> None:
    """G18: the purpose page says "Lesson to watch later", never the policy's id "lecture"."""
    await page.login("teacher")
    for lang, name in (("en", "Lesson to watch later"), ("nl", "Uitleg om later terug te kijken")):
        body = await (await page.client.get(page.path() + f"?lang={lang}")).text()
        assert f"<strong>{name}</strong>" in body
        assert "<strong>lecture</strong>" not in body and "exam evidence" not in body


async def test_without_a_declared_purpose_the_page_says_what_applies(page: Page) -> None:
    """G11: no purpose declared yet: the default (here none, so a recording stops)."""
    await page.login("teacher")
    body = await (await page.client.get(page.path() + "?lang=en")).text()
    assert 'data-message="guard.purpose.no_default"' in body
    assert "Without one, a recording stops at once." in body
    await save_meeting(page.store, MeetingRecord(
        meeting_id="les-met-standaard", internal_meeting_id="int-standaard", server="bbb1",
        meeting_type="lesson", purpose="lecture", create_time="1", policy_version="1",
        record=True, created_at=0.0), 3600)
    await page.login("teacher", moderates=("les-met-standaard",))
    body = await (await page.client.get(page.path("les-met-standaard") + "?lang=en")).text()
    assert "You have not chosen a purpose yet, so this applies: Lesson to watch later." in body


async def test_a_running_recording_keeps_its_purpose_and_a_change_is_for_the_next(
        page: Page, redis_url: str) -> None:
    """G8, G11: while recording, the page shows the running purpose, not "before it starts"."""
    await guard_sees_lesson(page, redis_url)
    csrf = await page.login("teacher")
    status, _ = await page.post({"csrf": csrf, "purpose": "feedback", "approval_reference": ""})
    assert status == 200
    redis = Redis.from_url(redis_url)
    await redis.publish(codec.FROM_AKKA, bus.recording(LESSON_INTERNAL, TEACHER, True))
    await redis.aclose()
    deadline = time.monotonic() + 5
    while True:
        body = await (await page.client.get(page.path() + "?lang=en")).text()
        if 'data-message="guard.purpose.running"' in body:
            break
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.05)
    assert "A recording is running now, for: Feedback in the lesson." in body
    assert "Everyone hears the purpose before the recording starts" not in body
    status, body = await page.post({"csrf": csrf, "purpose": "lecture",
                                    "approval_reference": ""})
    assert status == 200
    assert ("Saved: Lesson to watch later. This applies to the next recording; the recording "
            "running now keeps its purpose.") in body
