"""A bus outage while a teacher declares a purpose (G8, G11): saved, told, applied later.

BBB 2.7: the announcement goes over the bus (SendGroupChatMessageMsg), so a bus that
does not answer is felt on the page. The outage is real: the test's redis-server is
paused (CLIENT PAUSE), and the guard's PUBLISH goes unanswered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_page import GUARD
from tests.guard import bbb_bus as bus
from tests.guard.page_rig import LESSON, LESSON_INTERNAL, Page, guard_sees_lesson, open_page
from tests.support import metric_value


@pytest.fixture
async def page27(redis_url: str, tmp_path: Path) -> AsyncIterator[Page]:
    async for opened in open_page(redis_url, tmp_path, {"bbb": {"bbb_version": "2.7"}}):
        yield opened


async def test_bus_outage_on_the_purpose_page_saves_tells_and_applies_later(
        page27: Page, redis_url: str) -> None:
    page = page27
    await guard_sees_lesson(page, redis_url)
    redis = Redis.from_url(redis_url)
    chat: list[str] = []
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(codec.TO_AKKA)

    async def collect() -> None:
        async for message in pubsub.listen():
            data = json.loads(message["data"])
            if data["envelope"]["name"] == "SendGroupChatMessageMsg":
                chat.append(data["core"]["body"]["msg"]["message"])

    collector = asyncio.create_task(collect())
    try:
        guard = page.app[GUARD]
        assert guard._pub is not None
        guard._pub.timeout = 0.3  # the outage is noticed quickly
        await guard._pub.connect()  # connected before the outage, as after any command
        csrf = await page.login("teacher")
        await redis.execute_command("CLIENT", "PAUSE", "1500", "ALL")
        status, body = await page.post({"csrf": csrf, "purpose": "feedback",
                                        "approval_reference": ""})
        assert status == 200, "a bus outage is no error page"
        assert 'data-message="guard.purpose.pending"' in body
        assert (await page.saved())["purpose"] == b"feedback"
        assert LESSON in guard.pending_purposes
        # The bus is back; with the next bus traffic the guard announces the purpose.
        await asyncio.sleep(1.6)
        await redis.publish(codec.FROM_AKKA, bus.joined(LESSON_INTERNAL, "w_pupil9", "VIEWER"))
        deadline = time.monotonic() + 5
        while len(chat) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        assert "opgenomen voor feedback in deze les" in chat[0]
        assert "for feedback within this lesson" in chat[1]
        assert not guard.pending_purposes
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await redis.aclose()


async def test_a_failing_chat_worker_is_restarted_and_reported(page: Page,
                                                               redis_url: str) -> None:
    """Supervised background tasks: a chat worker that dies is reported down in /readyz
    and the metric, restarted after its backoff, and announcements work again."""
    guard = page.app[GUARD]
    await guard_sees_lesson(page, redis_url)
    guard.tasks.first_backoff = 0.8
    guard.chat.put(object())  # type: ignore[arg-type]  # a job it cannot handle: it fails
    down = guard.metrics.guard_task_down.labels(task="chat")
    deadline = time.monotonic() + 5
    while metric_value(down) != 1 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    ready = await (await page.client.get("/readyz")).json()
    assert ready["checks"]["bbb_guard"] is False
    assert metric_value(guard.metrics.guard_task_restarts.labels(task="chat")) == 1
    while metric_value(down) != 0 and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    ready = await (await page.client.get("/readyz")).json()
    assert ready["checks"]["bbb_guard"] is True
    assert await guard.declare_purpose(LESSON, "feedback", None) == "announced"
    while len(page.emu.chat) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert "for feedback within this lesson" in page.emu.chat[1][1]
