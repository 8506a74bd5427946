"""The teacher's purpose page /meetings/bbb/{meeting_id}/purpose (G8, G11, G3), end to end.

A whole gateway (create_app) with the BBB adapter and its guard on a real
redis-server, in front of the BBB emulator; sessions are put in the store the
way the login flow leaves them (the flow itself: tests/test_login_flow.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_page import GUARD
from bbb_hooks.guard_state import purpose_key
from bbb_hooks.meetings import MeetingRecord, add_moderator, save_meeting
from gateway import keys
from gateway.app import create_app
from gateway.sessions import COOKIE_DEV, new_session
from gateway.store import MemoryStore
from tests.bbb.support import bbb_changes
from tests.guard import bbb_bus as bus
from tests.guard.bbb_bus import GuardEmulator
from tests.support import deep_merge, make_settings

LESSON, TALK = "wiskunde-2b-ma", "gesprek-ouders-7"
LESSON_INTERNAL = bus.internal_meeting_id(LESSON)
TEACHER = "w_tchr4k2m9x"


@dataclass
class Page:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    emu: GuardEmulator
    store: MemoryStore

    def path(self, meeting: str = LESSON) -> str:
        return f"/meetings/bbb/{meeting}/purpose"

    async def login(self, role: str, moderates: tuple[str, ...] = (LESSON, TALK)) -> str:
        """A browser with a session of `role` that joined `moderates` as MODERATOR
        through the school login (bbb_hooks/join.py records that); returns its CSRF
        token."""
        app = self.app
        sub = secrets.token_hex(4)
        person = app[keys.PSEUDONYMS].person("https://idp", sub)
        session = new_session(issuer="https://idp", subject=sub, idp="school",
                              role=role, person=person,  # type: ignore[arg-type]
                              name=None, email=None, now=time.time())
        for meeting in moderates if role == "teacher" else ():
            await add_moderator(self.store, meeting, person, 3600)
        session_id = secrets.token_urlsafe(32)
        await self.store.set("session:" + hashlib.sha256(session_id.encode()).hexdigest(),
                             json.dumps(asdict(session)).encode(), 3600)
        self.client.session.cookie_jar.update_cookies({COOKIE_DEV: session_id})
        return session.csrf

    async def post(self, form: dict[str, str], meeting: str = LESSON) -> tuple[int, str]:
        response = await self.client.post(self.path(meeting), data=form, allow_redirects=False)
        return response.status, await response.text()

    async def saved(self, meeting: str = LESSON) -> dict[str, bytes]:
        return await self.store.hgetall(purpose_key(meeting))


async def _meeting(store: MemoryStore, meeting_id: str, meeting_type: str) -> None:
    await save_meeting(store, MeetingRecord(
        meeting_id=meeting_id, internal_meeting_id=bus.internal_meeting_id(meeting_id),
        server="bbb1", meeting_type=meeting_type, purpose=None,  # type: ignore[arg-type]
        create_time="1698771165587", policy_version="1", record=True, created_at=0.0), 86400)


@pytest.fixture
async def page(redis_url: str, tmp_path: Path) -> AsyncIterator[Page]:
    async for opened in open_page(redis_url, tmp_path):
        yield opened


async def open_page(redis_url: str, tmp_path: Path,
                    extra: dict[str, Any] | None = None) -> AsyncIterator[Page]:
    """A whole gateway with its guard on the bus; `extra` changes the policy."""
    emu = GuardEmulator(secrets.token_hex(32), tmp_path / "bbb")
    await emu.start()
    changes = deep_merge(
        bbb_changes(tmp_path, [emu], [secrets.token_hex(24)], redis_url_env="PGW_BBB_BUS"),
        {"dev_idp": {"enabled": False}, **(extra or {})})
    settings = make_settings(tmp_path, changes, env={"PGW_BBB_BUS": redis_url})
    store = MemoryStore("pgw")
    app = create_app(settings, store=store)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        deadline = time.monotonic() + 5
        while not app[GUARD].connected:
            assert time.monotonic() < deadline, "the guard did not connect to the bus"
            await asyncio.sleep(0.02)
        await _meeting(store, LESSON, "lesson")
        await _meeting(store, TALK, "confidential")
        yield Page(client, app, emu, store)
    finally:
        await client.close()
        await emu.stop()


async def _guard_sees_lesson(page: Page, redis_url: str) -> None:
    page.emu.add_meeting(LESSON, [{"userID": TEACHER, "fullName": "T", "role": "MODERATOR"}])
    redis = Redis.from_url(redis_url)
    for message in (bus.created(LESSON_INTERNAL, LESSON),
                    bus.joined(LESSON_INTERNAL, TEACHER, "MODERATOR", presenter=True)):
        await redis.publish(codec.FROM_AKKA, message)
    await redis.aclose()
    app = page.app
    deadline = time.monotonic() + 5
    while LESSON_INTERNAL not in app[GUARD].meetings or not app[GUARD].meetings[
            LESSON_INTERNAL].state.participants:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


async def _chat(page: Page, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 5
    while len(page.emu.chat) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return list(page.emu.chat)


async def test_teacher_declares_a_purpose_stored_and_announced_beforehand(
        page: Page, redis_url: str) -> None:
    """G11 + G8: the purpose is stored for the guard and told to everybody before a start."""
    await _guard_sees_lesson(page, redis_url)
    csrf = await page.login("teacher")
    response = await page.client.get(page.path())
    form = await response.text()
    assert response.status == 200 and 'value="feedback"' in form and csrf in form
    status, body = await page.post({"csrf": csrf, "purpose": "feedback",
                                    "approval_reference": ""})
    assert status == 200 and 'data-message="guard.purpose.saved"' in body
    assert (await page.saved())["purpose"] == b"feedback"
    (meeting, nl), (_, en) = await _chat(page, 2)  # one message per language
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
    (meeting, nl), (_, en) = await _chat(page, 2)
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
    from gateway.approvals import normalise_reference

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
    proxy = page.app[keys.ADAPTERS]["bbb"]
    guard = page.app[GUARD]
    assert tuple(guard.servers.values()) == proxy.pool.servers
    assert all(a is b for a, b in zip(guard.servers.values(), proxy.pool.servers, strict=True))
    assert guard.record_ttl == proxy.record_ttl
