"""The event hook under failure and concurrency: a failed event is run again on the
module's retry (G8), one room's events never overlap on a replica, and a recording start
reported to two replicas is guarded once (G8, G10). Also: each hot path reads once."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from jitsi_hooks import events, guard_jitsi
from jitsi_hooks.context import jitsi
from privacy_gateway import create_app
from tests.jitsi.support import CountingStore, jitsi_settings, person_of, signed
from tests.jitsi.test_events import ROOM, join, send

OCC = f"{ROOM}@conference.meet"
RECORDING_ON = {"event": "recording_status", "room": ROOM, "status": "on", "mode": "file",
                "av_moderation": {"audio": False, "video": False}}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock(), store=CountingStore())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def post_event(client: TestClient, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One signed report with the module's own event id (kept on a retry)."""
    app = client.app
    body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
    resp = await client.post("/hooks/jitsi/events", data=body, headers=headers)
    answer: dict[str, Any] = await resp.json()
    return resp.status, answer


async def test_g8_a_recording_report_that_failed_is_guarded_on_the_modules_retry(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store failed while the "on" was handled (500); the retry with the same id ran
    nothing and got {"duplicate": true, "instructions": []}: nobody was told, nothing muted."""
    await join(client, "teacher", "t1")
    await join(client, "pupil", "p1")
    rooms = jitsi(client.app).rooms
    original = rooms.recording
    failures = [ConnectionError("store down")]

    async def flaky(room: str) -> Any:
        if failures:
            raise failures.pop()
        return await original(room)

    monkeypatch.setattr(rooms, "recording", flaky)
    event = {"id": "rec-on-retried", **RECORDING_ON}
    status, _ = await post_event(client, event)
    assert status == 500
    status, answer = await post_event(client, event)
    assert status == 200 and "duplicate" not in answer
    actions = [i["action"] for i in answer["instructions"]]
    assert actions == ["announce", "av_moderation", "av_moderation", "announce"]  # G8, G10


async def test_g8_a_retry_while_the_first_report_still_runs_is_told_to_try_again(
        client: TestClient) -> None:
    """A claimed id without an answer yet is not "done": 503, so the module retries."""
    await client.app[keys.STORE].set("jitsi:evt:rec-on-running", b"", 600)
    status, answer = await post_event(client, {"id": "rec-on-running", **RECORDING_ON})
    assert (status, answer) == (503, {"error": "event_in_progress"})


async def test_room_locks_are_not_kept_for_rooms_this_replica_never_sees_destroyed(
        client: TestClient) -> None:
    """The module-wide lock table grew by one lock per room, for ever, on a replica that
    did not get the room_destroyed."""
    for number in range(20):
        room = f"lesson-{number:02d}"
        await send(client, {"event": "occupant_joined", "room": room,
                            "occupant": f"{room}@c/p1", "service": False})
    gc.collect()
    assert len(jitsi(client.app).room_locks) == 0


async def test_one_rooms_events_never_overlap_across_its_destruction(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """room_destroyed popped the lock it held: a join waiting on the old lock and a join
    arriving later (on a new lock) ran the room's critical section at the same time."""
    app = client.app
    rooms = jitsi(app).rooms
    inside, overlaps = [0], [0]

    def slowed(method: Any) -> Any:
        async def wrapper(*args: Any) -> Any:
            inside[0] += 1
            overlaps[0] = max(overlaps[0], inside[0])
            await asyncio.sleep(0.05)
            try:
                return await method(*args)
            finally:
                inside[0] -= 1
        return wrapper

    monkeypatch.setattr(rooms, "forget_room", slowed(rooms.forget_room))
    monkeypatch.setattr(rooms, "add_occupant", slowed(rooms.add_occupant))

    def joined(nick: str) -> dict[str, Any]:
        return {"event": "occupant_joined", "room": ROOM, "occupant": f"{OCC}/{nick}",
                "service": False}

    destroyed = asyncio.create_task(events._handle(app, {"event": "room_destroyed",
                                                         "room": ROOM}))
    await asyncio.sleep(0.01)
    waiting = asyncio.create_task(events._handle(app, joined("a")))  # waits on the lock
    await asyncio.sleep(0.07)  # the destroy is done, the first join is inside
    late = asyncio.create_task(events._handle(app, joined("b")))
    await asyncio.gather(destroyed, waiting, late)
    assert overlaps[0] == 1
    assert set(await rooms.occupants(ROOM)) == {f"{OCC}/a", f"{OCC}/b"}


@pytest.fixture
async def two_replicas(tmp_path: Path,
                       redis_url: str) -> AsyncIterator[tuple[TestClient, TestClient]]:
    settings = jitsi_settings(tmp_path)
    clock = ManualClock()
    first = create_app(settings, clock=clock, store=RedisStore.from_url(redis_url, "pgwtest"))
    second = create_app(settings, clock=clock, store=RedisStore.from_url(redis_url, "pgwtest"))
    async with TestClient(TestServer(first)) as one, TestClient(TestServer(second)) as two:
        yield one, two


def _slowed(method: Any) -> Any:
    async def wrapper(*args: Any) -> Any:
        await asyncio.sleep(0.05)
        return await method(*args)
    return wrapper


async def test_g8_a_recording_start_reported_to_two_replicas_is_guarded_once(
        two_replicas: tuple[TestClient, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a load balancer both replicas read "not recording" and both guarded it: two
    sets of announcements and two audit entries for one recording."""
    one, two = two_replicas
    await join(one, "teacher", "t1")
    await join(one, "pupil", "p1")
    for replica in (one, two):  # a slower store: both are inside the transition together
        rooms = jitsi(replica.app).rooms
        monkeypatch.setattr(rooms, "settings", _slowed(rooms.settings))
    answers = await asyncio.gather(post_event(one, {"id": "rec-on-replica1", **RECORDING_ON}),
                                   post_event(two, {"id": "rec-on-replica2", **RECORDING_ON}))
    assert [status for status, _ in answers] == [200, 200]
    announced = [a for _, a in answers if a["instructions"]]
    assert len(announced) == 1
    kinds = [e["kind"] async for e in one.app[keys.AUDIT].entries()]
    assert kinds.count("recording_started") == 1


async def test_g15_a_join_reads_the_rooms_type_occupants_and_consent_once(
        client: TestClient) -> None:
    """Consent before the join, after it and in the answer: three reads of each, per join."""
    store = client.app[keys.STORE]
    assert isinstance(store, CountingStore)
    await join(client, "teacher", "t1")
    store.reads.clear()
    await send(client, {"event": "occupant_joined", "room": ROOM, "occupant": f"{OCC}/p1",
                        "person": person_of(client.app, "pupil"), "service": False})
    assert store.reads["jitsi:room"] == 1
    assert store.reads["jitsi:occ"] == 1
    assert store.reads["jitsi:consent"] == 1


async def test_g8_a_join_during_a_recording_reads_the_roles_once_whatever_the_head_count(
        client: TestClient) -> None:
    """The guard's view of the room read one role per occupant on every join."""
    store = client.app[keys.STORE]
    assert isinstance(store, CountingStore)
    await join(client, "teacher", "t1")
    for number in range(6):
        await join(client, "pupil", f"p{number}", subject=f"pupil-{number}")
    await send(client, RECORDING_ON)
    store.reads.clear()
    answer = await join(client, "pupil", "late", subject="pupil-late")
    assert any(i["action"] == "tell" for i in answer["instructions"])  # G8: told at once
    assert store.reads["jitsi:roles"] == 1
    assert store.reads["jitsi:role"] == 0


async def test_g8_recording_start_instructions_are_built_once(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """guard_jitsi.recording_started built the instructions, recording.py threw them away
    and built them again."""
    await join(client, "teacher", "t1")
    built = []
    original = guard_jitsi.instructions

    def counting(*args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        built.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(guard_jitsi, "instructions", counting)
    answer = await send(client, RECORDING_ON)
    assert answer["instructions"] and len(built) == 1


async def test_hook_bodies_are_read_by_the_shared_bounded_reader(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """One bounded body reader for IdP documents and hook bodies (gateway.login.fetch)."""
    calls: list[int] = []
    original = events.read_bounded

    async def spy(source: web.Request, max_bytes: int) -> bytes:
        calls.append(max_bytes)
        return await original(source, max_bytes)

    monkeypatch.setattr(events, "read_bounded", spy)
    await send(client, {"event": "room_created", "room": ROOM})
    assert calls == [events.MAX_BODY]


@pytest.mark.parametrize("roles,speakers", [
    (frozenset({"teacher", "staff"}), ["t", "s"]),
    (frozenset({"teacher"}), ["t"]),
], ids=["teachers_and_staff", "policy_moves_staff_out"])
def test_g10_who_may_speak_under_av_moderation_follows_the_moderator_roles(
        monkeypatch: pytest.MonkeyPatch, roles: frozenset[str], speakers: list[str]) -> None:
    from gateway.policy import guard

    monkeypatch.setattr(guard_jitsi, "MODERATOR_ROLES", roles)
    people = (guard.Participant("t", "teacher"), guard.Participant("s", "staff"),
              guard.Participant("p", "pupil"), guard.Participant("g", "guest"))
    assert sorted(guard_jitsi.allowed_speakers(people)) == sorted(speakers)
