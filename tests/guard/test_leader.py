"""Leader election: exactly one gateway replica commands on BBB's bus (real redis-server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.meetings import MeetingRecord, save_meeting
from gateway.store.base import Lease
from gateway.store.redis_store import RedisStore
from tests.guard import bbb_bus as bus
from tests.guard.bbb_bus import GuardEmulator
from tests.guard.guard_replica import LEASE, replica, short_lease

ROOT = Path(__file__).resolve().parents[2]
EXT = "wiskunde-2b-ma"
MEETING = bus.internal_meeting_id(EXT)
TEACHER, PUPIL_A, PUPIL_B = "w_tchr4k2m9x", "w_abc123xyz", "w_q7d0pl3vn"


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds it took for `condition` to hold; fails after `timeout`."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout} s"
        await asyncio.sleep(0.01)
    return time.monotonic() - start


async def _idle() -> None:
    await asyncio.Event().wait()


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_one_replica_leads_and_a_clean_stop_hands_over_at_once(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, "pgw")
    running: list[str] = []

    def work(name: str) -> Callable[[], Any]:
        async def body() -> None:
            running.append(name)
            try:
                await _idle()
            finally:
                running.remove(name)
        return body

    a, b = short_lease(store), short_lease(store)
    task_a = asyncio.create_task(a.run(work("a")))
    await _until(lambda: running == ["a"], 2, "first replica leads")
    task_b = asyncio.create_task(b.run(work("b")))
    await asyncio.sleep(3 * LEASE["renew_every"])  # several renewals: the lead holds
    assert running == ["a"] and a.leading() and not b.leading()
    first_fence = a.lease.fence if a.lease else 0
    await _stop(task_a)  # a clean shutdown releases the lock
    took = await _until(lambda: running == ["b"], 2, "standby takes over")
    assert took < LEASE["retry_every"] + 0.5
    assert b.lease is not None and b.lease.fence > first_fence  # fences only grow
    await _stop(task_b)
    await store.close()


async def test_a_leader_that_cannot_renew_stops_before_another_starts(redis_url: str) -> None:
    """No moment with two leaders: the stuck one's deadline passes before its lease does."""
    stuck_store = RedisStore.from_url(redis_url, "pgw")
    store = RedisStore.from_url(redis_url, "pgw")

    async def hang(lease: Lease, ttl: float) -> bool:
        await _idle()  # a paused process or an unreachable store: no renewal comes back
        return True

    stuck = short_lease(stuck_store)
    task_stuck = asyncio.create_task(stuck.run(_idle))
    await _until(stuck.leading, 2, "first replica leads")
    stuck_store.renew = hang  # type: ignore[method-assign]
    other = short_lease(store)
    task_other = asyncio.create_task(other.run(_idle))
    overlap = False
    start = time.monotonic()
    while not other.leading() and time.monotonic() - start < 5:
        overlap = overlap or (stuck.leading() and other.leading())
        await asyncio.sleep(0.005)
    assert other.leading() and not stuck.leading() and not overlap
    assert time.monotonic() - start < LEASE["ttl"] + LEASE["retry_every"] + 0.5
    for task in (task_stuck, task_other):
        await _stop(task)
    await stuck_store.close()
    await store.close()


# ---- two real guards, one bus --------------------------------------------------
@pytest.fixture
async def commands(redis_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every command published on to-akka-apps-redis-channel."""
    redis = Redis.from_url(redis_url)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(codec.TO_AKKA)
    seen: list[dict[str, Any]] = []

    async def collect() -> None:
        async for message in pubsub.listen():
            seen.append(json.loads(message["data"]))

    task = asyncio.create_task(collect())
    yield seen
    await _stop(task)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()


async def _subscribers(redis: Redis) -> int:
    return sum(1 for c in await redis.client_list() if c["name"] == "privacy-gateway-guard-sub")


def _names(commands: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(c["core"]["header"]["name"], c["core"]["header"]["userId"]) for c in commands]


async def test_killed_leader_is_replaced_and_the_recording_stays_guarded(
        redis_url: str, tmp_path: Path, commands: list[dict[str, Any]]) -> None:
    """G10 across replicas: one guard acts; SIGKILL it and the other re-applies the guard."""
    secret = secrets.token_hex(32)
    emu = GuardEmulator(secret, tmp_path / "bbb")
    await emu.start()
    store = RedisStore.from_url(redis_url, "pgw")
    redis = Redis.from_url(redis_url)
    await save_meeting(store, MeetingRecord(
        meeting_id=EXT, internal_meeting_id=MEETING, server="bbb1", meeting_type="lesson",
        purpose="lecture", create_time="1698771165587", policy_version="1", record=True,
        created_at=0.0), 86400)
    leader = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.guard.guard_replica", redis_url, redis_url, emu.url,
        secret, cwd=ROOT)
    http = aiohttp.ClientSession()
    standby = replica(store, http, redis_url, emu.url, secret)
    standby_task: asyncio.Task[None] | None = None
    try:
        async def subscribed() -> None:
            while await _subscribers(redis) != 1:
                await asyncio.sleep(0.05)
        await asyncio.wait_for(subscribed(), 15)  # the replica process leads and listens
        standby_task = asyncio.create_task(standby.run())
        await asyncio.sleep(3 * LEASE["renew_every"])
        assert not standby.leadership.leading() and await _subscribers(redis) == 1

        emu.add_meeting(EXT, [])  # running in BBB, so sendChatMessage finds it
        for message in (bus.created(MEETING, EXT),
                        bus.joined(MEETING, TEACHER, "MODERATOR", presenter=True),
                        bus.joined(MEETING, PUPIL_A, "VIEWER"),
                        bus.joined(MEETING, PUPIL_B, "VIEWER"),
                        bus.voice_joined(MEETING, PUPIL_A, muted=False),
                        bus.camera(MEETING, PUPIL_B, started=True),
                        bus.recording(MEETING, TEACHER, True)):
            await redis.publish(codec.FROM_AKKA, message)
        await _until(lambda: len(commands) >= 4, 5, "the leader's commands")
        await asyncio.sleep(0.3)  # a second guard would have doubled them by now
        assert _names(commands) == [("ChangeLockSettingsInMeetingCmdMsg", TEACHER),
                                    ("LockUsersInMeetingCmdMsg", TEACHER),
                                    ("MuteAllExceptPresentersCmdMsg", TEACHER),
                                    ("EjectUserCamerasCmdMsg", TEACHER)]
        # G8: twice, each time Dutch and English as separate messages
        await _until(lambda: len(emu.chat) == 4, 5, "announced twice (G8)")

        # The leader dies mid-recording; a pupil turns a camera on meanwhile.
        emu.add_meeting(EXT, [
            {"userID": TEACHER, "fullName": "T", "role": "MODERATOR", "isPresenter": "true"},
            {"userID": PUPIL_A, "fullName": "A", "role": "VIEWER"},
            {"userID": PUPIL_B, "fullName": "B", "role": "VIEWER", "hasVideo": "true"},
        ], recording=True)
        commands.clear()
        leader.kill()
        await leader.wait()
        took = await _until(lambda: len(commands) >= 3, 10, "the standby takes over")
        assert took < LEASE["ttl"] + LEASE["retry_every"] + 2.0  # a few seconds at most
        names = _names(commands)
        assert ("ChangeLockSettingsInMeetingCmdMsg", TEACHER) in names
        assert ("EjectUserCamerasCmdMsg", TEACHER) in names
        assert standby.leadership.leading() and await _subscribers(redis) == 1
        assert len(emu.chat) == 4, "already announced by the dead leader: not again"

        commands.clear()  # the new leader still restores exactly what was there before
        await redis.publish(codec.FROM_AKKA, bus.recording(MEETING, TEACHER, False))
        await _until(lambda: len(commands) >= 1, 5, "the restore")
        body = commands[0]["core"]["body"]
        assert commands[0]["core"]["header"]["name"] == "ChangeLockSettingsInMeetingCmdMsg"
        assert body["disableCam"] is False and body["disableMic"] is False
    finally:
        if leader.returncode is None:
            leader.kill()
            await leader.wait()
        if standby_task is not None:
            await _stop(standby_task)
        with contextlib.suppress(Exception):
            await http.close()
        await redis.aclose()
        await store.close()
        await emu.stop()


async def test_the_leaders_failure_is_logged_with_its_class_and_step(
        caplog: pytest.LogCaptureFixture) -> None:
    """A dying leader's log line names what failed and where, not only the type name."""
    from bbb_hooks.guard_leader import Leadership
    from gateway.logs import JSONFormatter
    from gateway.store.base import MemoryStore

    caplog.set_level(logging.ERROR, logger="bbb_hooks.guard_leader")

    async def work() -> None:
        codec.decode(b'{"core": "secret-meeting-name"')  # raises inside bbb_hooks

    leadership = Leadership(MemoryStore(), ttl=1.5, renew_every=0.1, retry_every=0.1,
                            safety=0.5)
    task = asyncio.create_task(leadership.run(work))
    await _until(lambda: bool(caplog.records), 5, "the failure is logged")
    await _stop(task)
    record = caplog.records[0]
    assert record.exc_info is not None and record.exc_info[1] is not None  # full traceback
    line = json.loads(JSONFormatter().format(record))
    assert line["exception_class"] == "bbb_hooks.bus_codec.BusError"
    assert line["step"] == "bbb_hooks.bus_codec.decode"
    assert "secret-meeting-name" not in json.dumps(line)
