"""G13 across replicas: "stop recording now" works from any gateway replica.

Two whole gateways share one store on a real redis-server and BBB's bus; only
one leads the recording guard (bbb_hooks/guard_leader.py). The teacher's page
on the other hands the stop to the leader (bbb_hooks/guard_stop.py): the stop
goes on the bus once, as a moderator, everyone is told, and the page says so.
Without a leader to send it, the page says it could not stop, and the stop is
not sent later either.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError

from bbb_hooks import bus_codec as codec
from bbb_hooks import guard_stop
from bbb_hooks.guard_leader import LOCK_NAME
from bbb_hooks.guard_page import GUARD
from bbb_hooks.guard_stop import GRACE, QUEUE, REPLY_PREFIX, REQUEST_PREFIX, WAIT
from gateway.policy.guard_texts import TEACHER_STOPPED_TEXT
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from tests.guard import bbb_bus as bus
from tests.guard.page_rig import (
    LESSON,
    LESSON_INTERNAL,
    TEACHER,
    Page,
    guard_sees_lesson,
    open_replicas,
)


@pytest.fixture
async def listener(redis_url: str) -> AsyncIterator[PubSub]:
    """What akka-apps would receive: every command on `to-akka-apps-redis-channel`."""
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub()
    await pubsub.subscribe(codec.TO_AKKA)
    try:
        yield pubsub
    finally:
        await pubsub.aclose()
        await redis.aclose()


async def _stops(listener: PubSub, within: float) -> list[dict[str, Any]]:
    """Every SetRecordingStatusCmdMsg published within `within` seconds."""
    found: list[dict[str, Any]] = []
    until = time.monotonic() + within
    while time.monotonic() < until:
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is None:
            continue
        command: dict[str, Any] = json.loads(message["data"])
        if command["core"]["header"]["name"] == "SetRecordingStatusCmdMsg":
            found.append(command)
    return found


async def _home(page: Page, query: str = "") -> str:
    response = await page.client.get("/" + query, headers={"Accept-Language": "en"})
    return await response.text()


async def _stop(page: Page, csrf: str) -> str:
    response = await page.client.post("/home/stop", data={
        "csrf": csrf, "platform": "bbb", "meeting": LESSON}, allow_redirects=False)
    assert response.status == 303, await response.text()
    return response.headers["Location"]


async def _teacher_stops(redis_url: str, leader: Page) -> None:
    """The leader sees the lesson with its teacher, and the recording starts."""
    await guard_sees_lesson(leader, redis_url)
    redis = Redis.from_url(redis_url)
    await redis.publish(codec.FROM_AKKA, bus.recording(LESSON_INTERNAL, TEACHER, True))
    await redis.aclose()


async def test_G13_stop_on_a_standby_replica_is_sent_by_the_leader_once(
        redis_url: str, tmp_path: Path, listener: PubSub) -> None:
    async for leader, standby in open_replicas(redis_url, tmp_path):
        await asyncio.sleep(0.5)  # the standby has tried for the lead by now
        assert leader.app[GUARD].leadership.leading()
        assert not standby.app[GUARD].leadership.leading()
        assert not standby.app[GUARD].meetings  # the standby knows no meeting
        csrf = await standby.login("teacher")
        await _teacher_stops(redis_url, leader)
        deadline = time.monotonic() + 5
        while f'data-meeting="{LESSON}" data-recording="yes"' not in await _home(standby):
            assert time.monotonic() < deadline, "the standby's page shows the recording"
            await asyncio.sleep(0.05)

        started = time.monotonic()
        assert await _stop(standby, csrf) == "/?stopped=yes"
        assert time.monotonic() - started < WAIT + GRACE
        stops = await _stops(listener, 1.0)  # one stop, never two
        assert len(stops) == 1, stops
        assert stops[0]["core"]["header"]["userId"] == TEACHER  # sent as the moderator
        assert stops[0]["core"]["header"]["meetingId"] == LESSON_INTERNAL
        assert stops[0]["core"]["body"] == {"recording": False, "setBy": TEACHER}
        deadline = time.monotonic() + 5  # everyone is told, Dutch and English (G13)
        while not all(any(text in said for _, said in leader.emu.chat)
                      for text in TEACHER_STOPPED_TEXT):
            assert time.monotonic() < deadline, leader.emu.chat
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        told = [said for _, said in leader.emu.chat if TEACHER_STOPPED_TEXT[0] in said]
        assert len(told) == 1, "announced once"
        html = await _home(standby, "?stopped=yes")
        assert 'data-stopped="yes"' in html and "The recording was stopped" in html

        audit = [e async for e in leader.app[keys.AUDIT].entries()]
        stopped = [e for e in audit if e.get("reason") == "teacher_stopped"]
        assert len(stopped) == 1, stopped  # audited once, by the leader that sent it
        assert stopped[0]["action"] == "carried_out"
        assert stopped[0]["meeting"] == leader.app[keys.PSEUDONYMS].meeting(LESSON_INTERNAL)
        assert await leader.store.zcard(QUEUE) == 0  # nothing left for a later leader


async def test_G13_without_a_leader_the_page_says_it_could_not_stop(
        redis_url: str, tmp_path: Path, listener: PubSub) -> None:
    """The leader died holding the lead (its lease has not run out): no false success,
    and the stop the teacher was told failed is not sent later by the next leader."""
    holder = RedisStore.from_url(redis_url, "pgw")
    dead = await holder.acquire(LOCK_NAME, 30.0)  # the dead leader's lease
    assert dead is not None
    async for (page,) in open_replicas(redis_url, tmp_path, count=1, leader=False):
        await asyncio.sleep(1.5)  # the replica has tried for the lead and stands by
        assert not page.app[GUARD].leadership.leading()
        page.emu.add_meeting(LESSON, [{"userID": TEACHER, "fullName": "T",
                                       "role": "MODERATOR"}], recording=True)
        csrf = await page.login("teacher")

        started = time.monotonic()
        assert await _stop(page, csrf) == "/?stopped=no"
        waited = time.monotonic() - started
        assert WAIT <= waited < WAIT + GRACE + 1.0, waited  # bounded
        html = await _home(page, "?stopped=no")
        assert 'data-stopped="no"' in html and "could not be stopped" in html

        await holder.release(dead)  # now the replica leads and reconciles
        deadline = time.monotonic() + 10
        while not page.app[GUARD].connected:
            assert time.monotonic() < deadline, "the replica did not take the lead"
            await asyncio.sleep(0.05)
        assert LESSON_INTERNAL in page.app[GUARD].meetings  # it knows the recording now
        assert await _stops(listener, 1.0) == []  # the withdrawn stop is never sent
        assert not any(TEACHER_STOPPED_TEXT[0] in said for _, said in page.emu.chat)
        audit = [e async for e in page.app[keys.AUDIT].entries()]
        assert not [e for e in audit if e.get("reason") == "teacher_stopped"]
        assert await page.store.zcard(QUEUE) == 0
    await holder.close()


async def test_G13_a_stop_waiting_while_the_lead_changes_is_sent_by_the_next_leader(
        redis_url: str, tmp_path: Path, listener: PubSub) -> None:
    """The leader died just before the click; its lease runs out while the page waits:
    the replica that takes over finds the request and sends it, once."""
    holder = RedisStore.from_url(redis_url, "pgw")
    assert await holder.acquire(LOCK_NAME, 1.5) is not None  # never renewed: runs out
    async for (page,) in open_replicas(redis_url, tmp_path, count=1, leader=False):
        assert not page.app[GUARD].leadership.leading()
        page.emu.add_meeting(LESSON, [{"userID": TEACHER, "fullName": "T",
                                       "role": "MODERATOR"}], recording=True)
        csrf = await page.login("teacher")
        assert await _stop(page, csrf) == "/?stopped=yes"
        assert page.app[GUARD].leadership.leading()  # it took the lead meanwhile
        stops = await _stops(listener, 1.0)
        assert [s["core"]["header"]["userId"] for s in stops] == [TEACHER]
        deadline = time.monotonic() + 5
        while not any(TEACHER_STOPPED_TEXT[0] in said for _, said in page.emu.chat):
            assert time.monotonic() < deadline, page.emu.chat
            await asyncio.sleep(0.05)
    await holder.close()


async def _leader_knows_recording(redis_url: str, leader: Page) -> None:
    await _teacher_stops(redis_url, leader)
    deadline = time.monotonic() + 5
    while not ((rt := leader.app[GUARD].meetings.get(LESSON_INTERNAL)) and rt.state.recording):
        assert time.monotonic() < deadline, "the leader sees the recording"
        await asyncio.sleep(0.05)


async def test_G13_a_stop_from_a_page_whose_clock_is_behind_is_still_sent(
        redis_url: str, tmp_path: Path, listener: PubSub) -> None:
    """The page's clock runs 10 s behind the leader's (or the leader's ahead): the request
    is as fresh as Redis says it is, so it is sent and answered "1", never dropped as late."""
    async for (leader,) in open_replicas(redis_url, tmp_path, count=1):
        await _leader_knows_recording(redis_url, leader)
        request_id = uuid.uuid4().hex
        skewed = time.time() - 10  # what a page 10 s behind writes
        body = json.dumps({"meeting": LESSON_INTERNAL, "by": "t", "deadline": skewed})
        await leader.store.set(REQUEST_PREFIX + request_id, body.encode(), WAIT + GRACE)
        await leader.store.zadd(QUEUE, {request_id: skewed})
        deadline = time.monotonic() + WAIT
        while (answer := await leader.store.take(REPLY_PREFIX + request_id)) is None:
            assert time.monotonic() < deadline, "no answer"
            await asyncio.sleep(0.05)
        assert answer == b"1"
        stops = await _stops(listener, 0.5)
        assert [s["core"]["header"]["userId"] for s in stops] == [TEACHER]


async def test_G13_a_handed_over_request_expires_on_redis_clock(redis_url: str) -> None:
    """Written with a TTL of WAIT + GRACE: abandoned by a dead page, it goes by itself."""
    store = RedisStore.from_url(redis_url, "pgw")
    redis = Redis.from_url(redis_url)
    try:
        g: Any = type("G", (), {"store": store})()
        task = asyncio.ensure_future(guard_stop._hand_over(g, LESSON_INTERNAL, "t"))
        deadline = time.monotonic() + 2
        while not (found := await redis.keys("pgw:" + REQUEST_PREFIX + "*")):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        ttl_ms = await redis.pttl(found[0])
        assert 0 < ttl_ms <= (WAIT + GRACE) * 1000, ttl_ms
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await redis.aclose()
        await store.close()


class _FlakyZrem:
    """The shared store, whose first zrem fails as a lost connection would."""

    def __init__(self, store: RedisStore) -> None:
        self._store, self.fail = store, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def zrem(self, key: str, *members: str) -> None:
        if self.fail:
            self.fail = False
            raise RedisConnectionError("lost")
        await self._store.zrem(key, *members)


async def test_G13_a_failed_dequeue_does_not_consume_the_request(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, "pgw")
    stopped: list[str] = []

    async def stop_now(internal_id: str, by: str,
                       on_sent: Callable[[], Awaitable[None]] | None = None) -> bool:
        stopped.append(internal_id)
        if on_sent is not None:
            await on_sent()
        return True

    try:
        flaky = _FlakyZrem(store)
        g: Any = type("G", (), {"store": flaky, "stop_now": staticmethod(stop_now)})()
        request_id = uuid.uuid4().hex
        body = json.dumps({"meeting": LESSON_INTERNAL, "by": "t", "deadline": 0})
        await store.set(REQUEST_PREFIX + request_id, body.encode(), WAIT + GRACE)
        await store.zadd(QUEUE, {request_id: 0})
        with pytest.raises(RedisConnectionError):
            await guard_stop.serve_once(g)
        assert await store.get(REQUEST_PREFIX + request_id) is not None  # still there
        await guard_stop.serve_once(g)  # the next look carries it out
        assert stopped == [LESSON_INTERNAL]
        assert await store.take(REPLY_PREFIX + request_id) == b"1"
        assert await store.zcard(QUEUE) == 0
    finally:
        await store.close()


async def test_G13_the_page_hears_of_the_stop_before_a_slow_announcement_and_audit(
        redis_url: str, tmp_path: Path, listener: PubSub) -> None:
    """The leader answers as soon as the stop is sent: an audit slower than GRACE does
    not make the page tell the teacher the recording did not stop."""
    async for leader, standby in open_replicas(redis_url, tmp_path):
        await asyncio.sleep(0.5)
        assert leader.app[GUARD].leadership.leading()
        audit = leader.app[GUARD].audit
        record = audit.record

        async def slow_record(*args: Any, _record: Any = record, **fields: Any) -> None:
            if fields.get("reason") == "teacher_stopped":
                await asyncio.sleep(GRACE + WAIT)
            await _record(*args, **fields)

        audit.record = slow_record
        csrf = await standby.login("teacher")
        await _leader_knows_recording(redis_url, leader)
        assert await _stop(standby, csrf) == "/?stopped=yes"
        stops = await _stops(listener, 0.5)
        assert [s["core"]["header"]["userId"] for s in stops] == [TEACHER]
