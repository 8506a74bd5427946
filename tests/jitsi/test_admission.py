"""Admission at join as the gateway answers it, in the module's exact wire format
(`admission` events, signed answers), and withdrawn invitations (G2, G3). The same
decisions on a real prosody: tests/jitsi/test_prosody_admission.py."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient

from gateway.web import keys
from tests.jitsi.support import enter_room, person_of, seed_session
from tests.jitsi.test_access import PUPIL_EMAIL, TALK, client, post
from tests.jitsi.test_events import send

__all__ = ["client"]
OCC = f"{TALK}@conference.meet"


async def admission(client: TestClient, person: str | None, occupant: str) -> dict:
    return await send(client, {"event": "admission", "room": TALK, "occupant": occupant,
                               "person": person})


async def test_g3_withdrawing_an_invitation_refuses_the_next_join_and_removes_the_person(
        client: TestClient) -> None:
    teacher = await seed_session(client.app, "teacher")
    pupil = await seed_session(client.app, "pupil")
    assert await post(client, teacher, "/jitsi/new",
                      {"room": TALK, "meeting_type": "confidential"}) == 303
    assert await post(client, teacher, f"/jitsi/{TALK}/invite", {"email": PUPIL_EMAIL}) == 303
    resp = await enter_room(client, f"room={TALK}", pupil)
    assert resp.status == 303 and "jwt=" in resp.headers["Location"]
    lotte = person_of(client.app, "pupil")
    assert (await admission(client, lotte, f"{OCC}/lotte"))["admit"] is True
    await send(client, {"event": "occupant_joined", "room": TALK, "occupant": f"{OCC}/lotte",
                        "person": lotte, "service": False})

    assert await post(client, teacher, f"/jitsi/{TALK}/uninvite", {"email": PUPIL_EMAIL}) == 303
    answer = await admission(client, lotte, f"{OCC}/lotte")
    assert answer["admit"] is False and answer["reason"] == "not_invited"
    assert "vertrouwelijk gesprek" in answer["message"]  # plain words, the school's language
    pending = json.loads(await client.app[keys.STORE].get(f"jitsi:pending:{TALK}") or b"[]")
    assert pending == [{"action": "remove_occupant", "occupant": f"{OCC}/lotte",
                        "message": pending[0]["message"]}]
    assert "Deze ruimte is veranderd" in pending[0]["message"]


async def test_only_the_creator_withdraws_invitations(client: TestClient) -> None:
    teacher = await seed_session(client.app, "teacher")
    other = await seed_session(client.app, "teacher", "teacher-2")
    assert await post(client, teacher, "/jitsi/new",
                      {"room": TALK, "meeting_type": "confidential"}) == 303
    assert await post(client, other, f"/jitsi/{TALK}/uninvite", {"email": PUPIL_EMAIL}) == 403


async def test_a_join_without_a_token_from_the_gateway_is_a_guest(client: TestClient) -> None:
    """No token for this room (SIP dial-in, a token for nothing): refused where guests are."""
    answer = await send(client, {"event": "admission", "room": "lesson-9z",
                                 "occupant": "lesson-9z@conference.meet/x", "person": None})
    assert answer["admit"] is False and answer["reason"] == "guests_not_allowed"
    cookie = await seed_session(client.app, "pupil")
    assert (await enter_room(client, "room=lesson-9z", cookie)).status == 303
    answer = await send(client, {"event": "admission", "room": "lesson-9z",
                                 "occupant": "lesson-9z@conference.meet/x",
                                 "person": person_of(client.app, "pupil")})
    assert answer["admit"] is True
