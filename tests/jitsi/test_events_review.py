"""Review fixes on the prosody event hook: consent not minted (G15), people without a
token are present (G15), whole bodies, retries and reconciliation (G8, G10), signed
answers, and headers that are not ASCII."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.web import keys
from jitsi_hooks.context import jitsi
from jitsi_hooks.events import answer_signature
from privacy_gateway import create_app
from tests.jitsi.support import hook_secret, jitsi_settings, signed
from tests.jitsi.test_events import ROOM, join, opt, send

OCC = f"{ROOM}@conference.meet"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def test_g15_a_person_without_a_token_blocks_transcription(client: TestClient) -> None:
    """M4: a SIP dial-in or guest without a person id is present and has not opted in."""
    await join(client, "teacher", "t1")
    await opt(client, "teacher", "1")
    assert (await send(client, {"event": "sync", "rooms": [ROOM]}))["rooms"][ROOM][
        "transcription_allowed"] is True
    answer = await send(client, {"event": "occupant_joined", "room": ROOM,
                                 "occupant": f"{OCC}/sip1", "service": False})
    assert answer["transcription_allowed"] is False
    assert {"action": "stop_transcription"} in answer["instructions"]
    state = await opt(client, "teacher", "1")
    assert state["transcription"]["present"] == 2


async def test_g15_a_transcriber_joining_without_consent_is_stopped(client: TestClient) -> None:
    """H2: the teacher alone opted in, a pupil who did not is present; the transcriber
    the teacher's dial brought in is stopped the moment it joins."""
    await join(client, "teacher", "t1")
    await opt(client, "teacher", "1")
    await join(client, "pupil", "p1")
    answer = await send(client, {"event": "occupant_joined", "room": ROOM,
                                 "occupant": f"{OCC}/transcriber", "service": "transcriber"})
    assert answer["transcription_allowed"] is False
    assert answer["instructions"] == [{"action": "stop_transcription"}]


async def test_g15_a_token_never_carries_consent(client: TestClient) -> None:
    """H2: the token says what is possible, the same whoever is present or opted in:
    consent complete at mint time (the teacher alone) must not outlive the pupils' arrival;
    the prosody module checks the live consent instead."""
    from urllib.parse import parse_qs, urlsplit

    import jwt

    from tests.jitsi.support import seed_session

    async def teachers_features() -> dict[str, bool]:
        cookie = await seed_session(client.app, "teacher")
        resp = await client.get(f"/jitsi/auth?room={ROOM}", headers={"Cookie": cookie},
                                allow_redirects=False)
        token = parse_qs(urlsplit(resp.headers["Location"]).query)["jwt"][0]
        features: dict[str, bool] = jwt.decode(
            token, options={"verify_signature": False})["context"]["features"]
        return features

    await join(client, "teacher", "t1")
    before = await teachers_features()  # nobody opted in
    await opt(client, "teacher", "1")
    alone_opted_in = await teachers_features()  # consent complete at this moment
    assert before == alone_opted_in
    assert alone_opted_in["transcription"] is True  # possible in a lesson, no more


async def test_g15_a_body_arriving_in_two_pieces_is_read_whole(client: TestClient) -> None:
    """M3: a 40 KB event in two pieces was read as 20 KB and failed the HMAC."""
    app = client.app
    body, headers = signed(app[keys.SETTINGS], {"event": "room_created", "room": ROOM,
                                                "padding": "x" * 40_000},
                           app[keys.CLOCK].time())

    async def two_pieces() -> AsyncIterator[bytes]:
        yield body[:20_000]
        await asyncio.sleep(0.2)
        yield body[20_000:]

    resp = await client.post("/hooks/jitsi/events", data=two_pieces(), headers=headers)
    assert resp.status == 200, await resp.text()
    too_big, headers = signed(app[keys.SETTINGS], {"event": "room_created", "room": ROOM,
                                                   "padding": "x" * 300_000},
                              app[keys.CLOCK].time())

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(too_big), 50_000):
            yield too_big[start:start + 50_000]

    resp = await client.post("/hooks/jitsi/events", data=chunked(), headers=headers)
    assert resp.status == 400 and (await resp.json()) == {"error": "too_large"}


async def test_g8_answers_are_signed_and_a_retry_gets_the_first_answer(
        client: TestClient) -> None:
    """L2 + M3: the module checks the signature bound to its event id; a retry with the
    same id (the first answer was lost) gets the same guard instructions again."""
    app = client.app
    await join(client, "teacher", "t1")
    await join(client, "pupil", "p1")
    event = {"id": "rec-on-12345", "event": "recording_status", "room": ROOM, "status": "on",
             "mode": "file", "av_moderation": {"audio": False, "video": False}}
    answers = []
    for _ in range(2):
        body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
        resp = await client.post("/hooks/jitsi/events", data=body, headers=headers)
        raw = await resp.read()
        assert resp.headers["X-Privacy-Gateway-Signature"] == answer_signature(
            hook_secret(app[keys.SETTINGS]), event["id"], raw)
        answers.append(json.loads(raw))
    assert answers[1]["duplicate"] is True
    assert answers[1]["instructions"] == answers[0]["instructions"]
    assert [a["action"] for a in answers[1]["instructions"]].count("av_moderation") == 2
    kinds = [e["kind"] async for e in app[keys.AUDIT].entries()]
    assert kinds == ["recording_started"]  # the guard ran once


async def sync(client: TestClient, report: dict[str, Any]) -> dict[str, Any]:
    answer = await send(client, {"event": "sync", "rooms": [{"room": ROOM, **report}]})
    room: dict[str, Any] = answer["rooms"][ROOM]
    return room


async def test_g10_sync_applies_the_guard_to_a_recording_the_gateway_missed(
        client: TestClient) -> None:
    """M3: the recording report was lost; the next sync says recording is on."""
    await join(client, "teacher", "t1")
    await join(client, "pupil", "p1")
    occupants = [{"occupant": f"{OCC}/focus", "service": "focus"},
                 {"occupant": f"{OCC}/t1", "person": (await _person(client, "teacher"))},
                 {"occupant": f"{OCC}/p1", "person": (await _person(client, "pupil"))}]
    room = await sync(client, {"occupants": occupants, "recording": "on",
                               "av_moderation": {"audio": False, "video": False}})
    actions = [a["action"] for a in room["instructions"]]
    assert actions == ["announce", "av_moderation", "av_moderation", "announce"]  # G8, G10
    assert room["instructions"][1]["allowed"] == [f"{OCC}/t1"]
    # Somebody switched AV moderation off while the lecture is recorded: it comes back.
    again = await sync(client, {"occupants": occupants, "recording": "on",
                                "av_moderation": {"audio": False, "video": True}})
    assert {"action": "av_moderation", "media": "audio", "enabled": True,
            "allowed": [f"{OCC}/t1"]} in again["instructions"]
    # The "off" was lost too: the sync closes the recording and lifts the guard.
    off = await sync(client, {"occupants": occupants, "recording": "off",
                              "av_moderation": {"audio": True, "video": True}})
    assert off["instructions"][-1]["action"] == "announce"
    assert (await jitsi(client.app).rooms.recording(ROOM)).recording is False


async def test_g15_sync_replaces_presence_with_the_modules_list(client: TestClient) -> None:
    """M3: a lost occupant_joined is caught by the sync, and so is a lost occupant_left."""
    await join(client, "teacher", "t1")
    await opt(client, "teacher", "1")
    teacher = await _person(client, "teacher")
    room = await sync(client, {"occupants": [{"occupant": f"{OCC}/t1", "person": teacher},
                                             {"occupant": f"{OCC}/x9", "service": False}]})
    assert room["transcription_allowed"] is False  # the unreported person has not opted in
    room = await sync(client, {"occupants": [{"occupant": f"{OCC}/t1", "person": teacher}]})
    assert room["transcription_allowed"] is True
    stored = await client.app[keys.STORE].hgetall(f"jitsi:occ:{ROOM}")
    assert list(stored) == [f"{OCC}/t1"]


async def _person(client: TestClient, role: str) -> str:
    from tests.jitsi.support import person_of

    return person_of(client.app, role)  # type: ignore[arg-type]


RAW_REQUEST = (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               b"Content-Length: 2\r\nConnection: close\r\n%s\r\n\r\n{}")


@pytest.mark.parametrize("path,header", [
    (b"/hooks/jitsi/events", b"X-Privacy-Gateway-Signature: sha256=\xff\xfe"),
    (b"/hooks/jitsi/events", b"X-Privacy-Gateway-Timestamp: 12\xe9"),
    (b"/hooks/jitsi/event_sync/events/occupant/joined", b"Authorization: Bearer \xff"),
], ids=["signature", "timestamp", "event_sync_bearer"])
async def test_non_ascii_auth_headers_are_refused_not_a_500(
        client: TestClient, path: bytes, header: bytes) -> None:
    """L3: a non-UTF-8 byte in a signature or bearer header is a 403, not a 500."""
    server = client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(RAW_REQUEST % (path, header))
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    assert status_line.split()[1] == b"403", status_line
