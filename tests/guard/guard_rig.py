"""The BBB guard test rig: a real redis-server bus, the guard, and a BBB emulator.

`rig` (tests/guard/conftest.py) starts a BusGuard listening on the bus and
collects every command it publishes to akka-apps.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_bbb import BusGuard
from bbb_hooks.meetings import MeetingRecord, record_ttl, save_meeting
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.clock import SystemClock
from gateway.metrics import Metrics
from gateway.policy.model import Policy, parse_policy
from gateway.pseudonym import Pseudonymiser
from gateway.store.base import MemoryStore
from tests.guard import bbb_bus as bus
from tests.guard.bbb_bus import GuardEmulator
from tests.support import example_policy

EXT = "wiskunde-2b-ma"
MEETING = bus.internal_meeting_id(EXT)
TEACHER, PUPIL_A, PUPIL_B = "w_tchr4k2m9x", "w_abc123xyz", "w_q7d0pl3vn"
CREATE_LOCKS = {"disablePrivateChat": True, "hideUserList": True}
POLICY: Policy = parse_policy(example_policy())


@dataclass
class Rig:
    guard: BusGuard
    store: MemoryStore
    emu: GuardEmulator
    redis: Redis
    commands: list[dict[str, Any]]
    metrics: Metrics
    audit: AuditLog
    start: Callable[[], Any]
    stop: Callable[[], Any]

    async def send(self, *messages: bytes) -> None:
        for message in messages:
            await self.redis.publish(codec.FROM_AKKA, message)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.commands) < count and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # and nothing more arrives
        return list(self.commands)

    async def settle(self, marker: Callable[[], bool], timeout: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not marker() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert marker(), "the guard did not get there in time"


async def record_meeting(store: MemoryStore, meeting_type: str = "lesson") -> None:
    await save_meeting(store, MeetingRecord(
        meeting_id=EXT, internal_meeting_id=MEETING, server="bbb1",
        meeting_type=meeting_type, purpose="lecture",  # type: ignore[arg-type]
        create_time="1698771165587", policy_version="1", record=True, created_at=0.0),
        86400)


async def make_rig(redis_url: str, tmp_path: Path,
                   policy: Policy = POLICY) -> AsyncIterator[Rig]:
    secret = secrets.token_hex(32)
    emu = GuardEmulator(secret, tmp_path / "bbb")
    await emu.start()
    store = MemoryStore("pgw", SystemClock())
    metrics = Metrics()
    audit = AuditLog(store, SystemClock(), 365)
    http = aiohttp.ClientSession()
    redis = Redis.from_url(redis_url)
    commands: list[dict[str, Any]] = []
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(codec.TO_AKKA)

    async def collect() -> None:
        async for message in pubsub.listen():
            commands.append(json.loads(message["data"]))

    collector = asyncio.create_task(collect())
    tasks: list[asyncio.Task[None]] = []
    holder: dict[str, BusGuard] = {}

    def make() -> BusGuard:
        return BusGuard(policy=policy, store=store, metrics=metrics, audit=audit,
                        pseudonyms=Pseudonymiser(b"k" * 32), http=http,
                        servers=[Server("bbb1", emu.url, secret.encode(), "sha256")],
                        redis_url=redis_url, record_ttl=record_ttl(policy))

    async def start() -> BusGuard:
        holder["guard"] = make()
        tasks.append(asyncio.create_task(holder["guard"].run()))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while not holder["guard"].connected and loop.time() < deadline:
            await asyncio.sleep(0.01)
        assert holder["guard"].connected
        return holder["guard"]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        tasks.clear()

    await start()
    r = Rig(holder["guard"], store, emu, redis, commands, metrics, audit, start, stop)
    yield r
    await stop()
    collector.cancel()
    await asyncio.gather(collector, return_exceptions=True)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    await redis.aclose()
    await http.close()
    await emu.stop()


ATTENDEES = [
    {"userID": TEACHER, "fullName": "T", "role": "MODERATOR", "isPresenter": "true"},
    {"userID": PUPIL_A, "fullName": "A", "role": "VIEWER", "hasJoinedVoice": "true"},
    {"userID": PUPIL_B, "fullName": "B", "role": "VIEWER", "hasVideo": "true"},
]


async def lesson_with_pupils(rig: Rig, meeting_type: str = "lesson") -> None:
    """A running lesson: in the gateway's record, in BBB (for sendChatMessage) and on the bus."""
    await record_meeting(rig.store, meeting_type)
    rig.emu.add_meeting(EXT, ATTENDEES)
    await rig.send(
        bus.created(MEETING, EXT, **CREATE_LOCKS),
        bus.joined(MEETING, TEACHER, "MODERATOR", presenter=True),
        bus.joined(MEETING, PUPIL_A, "VIEWER"),
        bus.joined(MEETING, PUPIL_B, "VIEWER"),
        bus.voice_joined(MEETING, PUPIL_A, muted=False),
        bus.camera(MEETING, PUPIL_B, started=True),
    )
    await rig.settle(lambda: MEETING in rig.guard.meetings
                     and len(rig.guard.meetings[MEETING].state.participants) == 3
                     and any(p.camera_on for p in rig.guard.meetings[MEETING].state.participants))


def command_of(command: dict[str, Any]) -> tuple[str, str, str]:
    header = command["core"]["header"]
    assert command["envelope"]["name"] == header["name"]
    return header["name"], header["meetingId"], header["userId"]
