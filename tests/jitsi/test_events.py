"""The prosody module's signed events, presence, consent (G15) and the recording guard (G8-G11)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.web import keys
from privacy_gateway import create_app
from tests.jitsi.support import (
    csrf_of,
    enter_room,
    jitsi_settings,
    person_of,
    seed_session,
    signed,
)
from tests.support import metric_value

ROOM = "lesson-7a"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def send(client: TestClient, event: dict[str, Any], status: int = 200) -> dict[str, Any]:
    app = client.app
    body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
    resp = await client.post("/hooks/jitsi/events", data=body, headers=headers)
    assert resp.status == status, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def join(client: TestClient, role: str, occupant: str, subject: str | None = None,
               room: str = ROOM) -> dict[str, Any]:
    """A person gets a token (as through /jitsi/auth), then prosody reports the join."""
    cookie = await seed_session(client.app, role, subject)  # type: ignore[arg-type]
    resp = await enter_room(client, f"room={room}", cookie)
    assert resp.status in (302, 303)
    return await send(client, {"event": "occupant_joined", "room": room,
                               "occupant": f"{room}@conference.meet/{occupant}",
                               "person": person_of(client.app, role, subject),  # type: ignore[arg-type]
                               "service": False})


async def opt(client: TestClient, role: str, choice: str, subject: str | None = None) -> dict:
    cookie = await seed_session(client.app, role, subject)  # type: ignore[arg-type]
    resp = await client.post(f"/jitsi/{ROOM}/transcription",
                             data={"csrf": await csrf_of(client.app, cookie), "opt_in": choice},
                             headers={"Cookie": cookie, "Accept": "application/json"})
    assert resp.status == 200, await resp.text()
    state: dict = await resp.json()
    return state


async def test_unsigned_stale_and_replayed_events_are_refused(client: TestClient) -> None:
    app = client.app
    body, headers = signed(app[keys.SETTINGS], {"event": "room_created", "room": ROOM},
                           app[keys.CLOCK].time())
    bad = dict(headers, **{"X-Privacy-Gateway-Signature": "sha256=" + "0" * 64})
    assert (await client.post("/hooks/jitsi/events", data=body, headers=bad)).status == 403
    assert (await client.post("/hooks/jitsi/events", data=body, headers=headers)).status == 200
    again = await client.post("/hooks/jitsi/events", data=body, headers=headers)
    assert (await again.json())["duplicate"] is True  # a replay changes nothing
    app[keys.CLOCK].advance(301)  # type: ignore[attr-defined]
    late = await client.post("/hooks/jitsi/events", data=body, headers=headers)
    assert late.status == 403 and (await late.json()) == {"error": "stale_event"}


@pytest.mark.parametrize("event", [
    {"event": "occupant_joined", "room": "../x", "occupant": "o"},
    {"event": "occupant_joined", "room": ROOM},
    {"event": "launch_missiles", "room": ROOM},
    {"event": "recording_status", "room": ROOM, "status": "maybe"},
    {"event": "sync", "rooms": "all"},
], ids=["bad_room", "no_occupant", "unknown_event", "bad_status", "bad_sync"])
async def test_malformed_events_get_a_json_error(client: TestClient, event: dict) -> None:
    answer = await send(client, event, status=400)
    assert set(answer) == {"error"}


async def test_transcription_runs_only_while_everyone_present_opted_in(
        client: TestClient) -> None:
    assert (await join(client, "teacher", "t1"))["transcription_allowed"] is False
    await join(client, "pupil", "p1")
    await opt(client, "teacher", "1")
    state = await opt(client, "pupil", "1")
    assert state["transcription"]["allowed"] is True  # G15: 2 of 2
    assert state["transcription"]["present"] == 2
    answer = await send(client, {"event": "transcription_requested", "room": ROOM,
                                 "occupant": "x"})
    assert answer["transcription_allowed"] is True
    # Someone who has not opted in joins: transcription stops at once.
    answer = await join(client, "pupil", "p2", subject="pupil-2")
    assert answer["transcription_allowed"] is False
    assert {"action": "stop_transcription"} in answer["instructions"]
    # They leave again: allowed again; then one person opts out: the module is told.
    await send(client, {"event": "occupant_left", "room": ROOM,
                        "occupant": f"{ROOM}@conference.meet/p2"})
    await opt(client, "pupil", "0")
    sync = await send(client, {"event": "sync", "rooms": [ROOM]})
    assert sync["rooms"][ROOM] == {"transcription_allowed": False,
                                   "instructions": [{"action": "stop_transcription"}]}
    blocked = client.app[keys.METRICS].transcription_blocked.labels(platform="jitsi")
    assert metric_value(blocked) == 0  # the one request came while consent was complete


async def test_lecture_recording_mutes_at_the_bridge_announces_and_restores(
        client: TestClient) -> None:
    await join(client, "teacher", "t1")
    await join(client, "pupil", "p1")
    on = await send(client, {"event": "recording_status", "room": ROOM, "status": "on",
                             "mode": "file", "initiator": f"{ROOM}@conference.meet/t1",
                             "av_moderation": {"audio": False, "video": False}})
    actions = on["instructions"]
    assert [a["action"] for a in actions] == ["announce", "av_moderation", "av_moderation",
                                              "announce"]  # G8 before + after, G10 between
    teacher = [f"{ROOM}@conference.meet/t1"]  # L5: only whom the gateway knows as teacher
    assert actions[1:3] == [
        {"action": "av_moderation", "media": "audio", "enabled": True, "allowed": teacher},
        {"action": "av_moderation", "media": "video", "enabled": True, "allowed": teacher}]
    assert "30 dagen" in actions[0]["text"] and "30 days" in actions[0]["text"]
    # A pupil arriving during the recording is told (G8).
    late = await join(client, "pupil", "p2", subject="pupil-2")
    assert late["instructions"][0]["action"] == "tell"
    assert late["instructions"][0]["occupant"] == f"{ROOM}@conference.meet/p2"
    off = await send(client, {"event": "recording_status", "room": ROOM, "status": "off",
                              "av_moderation": {"audio": True, "video": True}})
    assert off["instructions"] == [
        {"action": "av_moderation", "media": "audio", "enabled": False},
        {"action": "av_moderation", "media": "video", "enabled": False},
        {"action": "announce", "text": "De opname is gestopt.\n\nThe recording has stopped."}]
    kinds = [e["kind"] async for e in client.app[keys.AUDIT].entries()]
    assert kinds == ["recording_started", "recording_stopped"]


async def test_restore_keeps_the_teachers_own_av_moderation(client: TestClient) -> None:
    await join(client, "teacher", "t1")
    await send(client, {"event": "recording_status", "room": ROOM, "status": "on",
                        "mode": "file", "av_moderation": {"audio": True, "video": False}})
    off = await send(client, {"event": "recording_status", "room": ROOM, "status": "off",
                              "av_moderation": {"audio": True, "video": True}})
    assert off["instructions"][:2] == [
        {"action": "av_moderation", "media": "audio", "enabled": True,
         "allowed": [f"{ROOM}@conference.meet/t1"]},
        {"action": "av_moderation", "media": "video", "enabled": False}]


async def test_feedback_recording_announces_but_leaves_pupils_visible(
        client: TestClient) -> None:
    await join(client, "teacher", "t1")  # G19: a teacher in the (uncreated) room sets it
    cookie = await seed_session(client.app, "teacher")
    resp = await client.post(f"/jitsi/{ROOM}/purpose", headers={"Cookie": cookie},
                             data={"csrf": await csrf_of(client.app, cookie),
                                   "purpose": "feedback"}, allow_redirects=False)
    assert resp.status == 303
    on = await send(client, {"event": "recording_status", "room": ROOM, "status": "on",
                             "mode": "file", "av_moderation": {"audio": False, "video": False}})
    assert [a["action"] for a in on["instructions"]] == ["announce", "announce"]  # G11
    assert "feedback" in on["instructions"][0]["text"]


@pytest.mark.parametrize("room,mode,reason", [
    ("vertrouwelijk-mentor", "file", "confidential"),  # G3
    (ROOM, "stream", "recording_not_allowed"),  # no livestreams (G21)
], ids=["confidential_room", "livestream"])
async def test_forbidden_recordings_are_stopped_at_once(client: TestClient, room: str,
                                                        mode: str, reason: str) -> None:
    await join(client, "teacher", "t1", room=room)
    on = await send(client, {"event": "recording_status", "room": room, "status": "on",
                             "mode": mode, "av_moderation": {}})
    assert on["instructions"][0] == {"action": "stop_recording"}
    stopped = client.app[keys.METRICS].recordings_stopped.labels(platform="jitsi", reason=reason)
    assert metric_value(stopped) == 1


async def test_destroyed_room_forgets_who_was_there(client: TestClient) -> None:
    await join(client, "pupil", "p1")
    await send(client, {"event": "room_destroyed", "room": ROOM})
    assert await client.app[keys.STORE].hgetall(f"jitsi:occ:{ROOM}") == {}  # G20


async def test_event_sync_webhooks_keep_only_the_pseudonym(client: TestClient) -> None:
    secret = client.app[keys.SETTINGS].secrets.get("jitsi.hook_secret").decode()
    payload = {"event_name": "muc-occupant-joined", "room_name": ROOM,
               "room_jid": f"{ROOM}@conference.meet", "is_breakout": False,
               "active_occupants_count": 1,
               "occupant": {"occupant_jid": f"{ROOM}@conference.meet/ab12", "joined_at": 1,
                            "name": "Lotte Bakker", "email": "lotte@school.example",
                            "id": "p_pseudonym"}}
    url = "/hooks/jitsi/event_sync/events/occupant/joined"
    wrong = await client.post(url, json=payload, headers={"Authorization": "Bearer nope"})
    assert wrong.status == 403
    resp = await client.post(url, json=payload, headers={"Authorization": f"Bearer {secret}"})
    assert resp.status == 200
    stored = await client.app[keys.STORE].hgetall(f"jitsi:occ:{ROOM}")
    assert stored == {f"{ROOM}@conference.meet/ab12": b"p_pseudonym"}
    assert "Lotte" not in json.dumps({k: v.decode() for k, v in stored.items()})
