"""The purpose-page rig: a whole gateway (create_app) with its BBB guard on a real
redis-server, in front of the BBB emulator; sessions are put in the store the way the
login flow leaves them (the flow itself: tests/test_login_flow.py).

`open_replicas`: several gateway replicas sharing one store on the real redis-server
(RedisStore, as in production), so only one of them leads the guard."""

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

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_page import GUARD
from bbb_hooks.guard_state import purpose_key
from bbb_hooks.meetings import MeetingRecord, add_moderator, save_meeting
from gateway.login.sessions import COOKIE_DEV, new_session
from gateway.store.base import MemoryStore, Store
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from privacy_gateway import create_app
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
    store: Store

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


async def _meeting(store: Store, meeting_id: str, meeting_type: str) -> None:
    await save_meeting(store, MeetingRecord(
        meeting_id=meeting_id, internal_meeting_id=bus.internal_meeting_id(meeting_id),
        server="bbb1", meeting_type=meeting_type, purpose=None,  # type: ignore[arg-type]
        create_time="1698771165587", policy_version="1", record=True, created_at=0.0), 86400)


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


async def open_replicas(redis_url: str, tmp_path: Path, count: int = 2,
                        leader: bool = True) -> AsyncIterator[list[Page]]:
    """`count` whole gateways sharing one store (a RedisStore each, prefix "pgw") and BBB's
    bus. With `leader`, the first leads the guard and the others stand by; without, they
    are started as they are (a test that holds the lead itself)."""
    emu = GuardEmulator(secrets.token_hex(32), tmp_path / "bbb")
    await emu.start()
    changes = deep_merge(
        bbb_changes(tmp_path, [emu], [secrets.token_hex(24)], redis_url_env="PGW_BBB_BUS"),
        {"dev_idp": {"enabled": False}})
    settings = make_settings(tmp_path, changes, env={"PGW_BBB_BUS": redis_url})
    shared = RedisStore.from_url(redis_url, "pgw")  # the test's own view of the store
    pages: list[Page] = []
    try:
        for _ in range(count):
            app = create_app(settings, store=RedisStore.from_url(redis_url, "pgw"))
            client = TestClient(TestServer(app))
            await client.start_server()
            pages.append(Page(client, app, emu, shared))
            deadline = time.monotonic() + 10
            while leader and len(pages) == 1 and not app[GUARD].connected:
                assert time.monotonic() < deadline, "the first replica did not lead"
                await asyncio.sleep(0.02)
        await _meeting(shared, LESSON, "lesson")
        await _meeting(shared, TALK, "confidential")
        yield pages
    finally:
        for page in pages:
            await page.client.close()
        await shared.close()
        await emu.stop()


async def guard_sees_lesson(page: Page, redis_url: str) -> None:
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


async def chat_of(page: Page, count: int) -> list[tuple[str, str]]:
    deadline = time.monotonic() + 5
    while len(page.emu.chat) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return list(page.emu.chat)


