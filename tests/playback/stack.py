"""The BBB playback stack for the tests: BBB emulator (its recordings tree), the
gateway with the real OpenID provider, and the real nginx in front of the tree."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gateway.clock import ManualClock
from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import bbb_changes, lms_url
from tests.bbb.support import new_secret as new_bbb_secret
from tests.gateway_fixtures import SchoolEnv, browser, gateway_settings, start_gateway
from tests.playback.harness import PLAYBACK_HOST, add_bbb_files, nginx_in_front, point_links_at

LECTURE, FEEDBACK = "wiskunde-7b-uitleg", "wiskunde-7b-feedback"


@dataclass
class Stack:
    app: web.Application
    emulator: BBBEmulator
    lms_secret: str
    base: str
    clock: ManualClock
    nginx_port: int
    records: dict[str, str]  # meeting id -> record id
    files: dict[str, dict[str, bytes]]  # record id -> relative path -> bytes

    @property
    def playback_base(self) -> str:
        return f"http://{PLAYBACK_HOST}:{self.nginx_port}"

    def lms(self, call: str, params: list[tuple[str, str]]) -> Any:
        return lms_url(self.base, call, params, self.lms_secret)

    async def links(self, meeting_id: str) -> dict[str, str]:
        """format -> the playback link the LMS gets from getRecordings."""
        async with browser() as lms, lms.get(self.lms("getRecordings", [
                ("meetingID", meeting_id)])) as r:
            root = ET.fromstring(await r.text())
        return {f.findtext("type", ""): f.findtext("url", "") for f in root.iter("format")}


async def _create(stack_base: str, secret: str, meeting_id: str, purpose: str) -> None:
    async with browser() as lms, lms.get(lms_url(stack_base, "create", [
            ("meetingID", meeting_id), ("name", meeting_id), ("record", "true"),
            ("meta_privacy-purpose", purpose)], secret)) as r:
        assert "SUCCESS" in await r.text()


@pytest.fixture
async def stack(env: SchoolEnv, tmp_path: Path,
                request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The embedded store, or the real redis-server with `indirect` param "redis"."""
    store = None
    if getattr(request, "param", "memory") == "redis":
        from gateway.store.redis_store import RedisStore

        url = request.getfixturevalue("redis_server")  # the suite's own redis-server
        store = RedisStore.from_url(url, "pgwplay-" + new_bbb_secret()[:8].lower())
    tree = tmp_path / "var-bigbluebutton"
    emulator = BBBEmulator(new_bbb_secret(), tree)
    await emulator.start()
    lms_secret = new_bbb_secret()
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret,
                                bbb_changes(tmp_path, [emulator], [lms_secret]))
    clock = ManualClock(time.time())
    try:
        async with start_gateway(settings, env.port, clock=clock, store=store) as app:
            with nginx_in_front(tmp_path, tree, env.base) as port:
                run = Stack(app, emulator, lms_secret, env.base, clock, port, {}, {})
                for meeting_id, purpose in ((LECTURE, "lecture"), (FEEDBACK, "feedback")):
                    await _create(env.base, lms_secret, meeting_id, purpose)
                    meeting = emulator.meetings[meeting_id]
                    record_id = emulator.add_recording(
                        meeting_id, formats=("presentation", "video"),
                        start_ms=meeting.create_time,
                        meta={"privacy-purpose": purpose})
                    assert record_id == meeting.internal_id
                    point_links_at(tree, record_id, emulator.base, run.playback_base)
                    run.records[meeting_id] = record_id
                    run.files[record_id] = add_bbb_files(tree, record_id)
                yield run
    finally:
        await emulator.stop()
