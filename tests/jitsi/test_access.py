"""Who gets into a confidential room (G2, G3), who sets a room up (G11, G19), who sees
its live state (G20)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
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

TALK = "mentor-uur"
PUPIL_EMAIL = "lotte.b@leerling.school.example"  # tests.jitsi.support.PEOPLE


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    settings = jitsi_settings(tmp_path, {"retention": {
        "privacy_officer_emails": ["ahmed@school.example"]}})  # the staff member in PEOPLE
    async with TestClient(TestServer(create_app(settings, clock=ManualClock()))) as test_client:
        yield test_client


async def post(client: TestClient, cookie: str, path: str, data: dict[str, str]) -> int:
    data = {"csrf": await csrf_of(client.app, cookie), **data}
    resp = await client.post(path, data=data, headers={"Cookie": cookie},
                             allow_redirects=False)
    return resp.status


async def token_user(client: TestClient, cookie: str, room: str) -> dict[str, str] | int:
    resp = await enter_room(client, f"room={room}", cookie)
    if resp.status not in (302, 303):
        return resp.status
    token = parse_qs(urlsplit(resp.headers["Location"]).query)["jwt"][0]
    user: dict[str, str] = jwt.decode(token, options={"verify_signature": False})[
        "context"]["user"]
    return user


async def test_g3_confidential_room_admits_only_its_creator_and_invitees(
        client: TestClient) -> None:
    creator = await seed_session(client.app, "teacher")
    assert await post(client, creator, "/jitsi/new",
                      {"room": TALK, "meeting_type": "confidential"}) == 303
    colleague = await seed_session(client.app, "teacher", "teacher-2")
    pupil = await seed_session(client.app, "pupil")
    staff = await seed_session(client.app, "staff")
    assert await token_user(client, colleague, TALK) == 403  # G2: the name is not a key
    assert await token_user(client, pupil, TALK) == 403
    page = await client.get(f"/jitsi/{TALK}", headers={"Cookie": pupil})
    assert page.status == 403
    assert "Alleen wie is uitgenodigd" in await page.text()  # told why, in plain words
    assert await post(client, creator, f"/jitsi/{TALK}/invite", {"email": PUPIL_EMAIL}) == 303
    pupil_user = await token_user(client, pupil, TALK)
    assert isinstance(pupil_user, dict) and pupil_user["moderator"] == "false"
    owner = await token_user(client, creator, TALK)
    assert isinstance(owner, dict) and owner["affiliation"] == "owner"
    assert await token_user(client, staff, TALK) == 403  # staff are not owners everywhere
    store = client.app[keys.STORE]
    invitations = await store.hgetall(f"jitsi:inv:{TALK}")
    assert len(invitations) == 1  # a keyed pseudonym of the address, never the address
    assert "lotte" not in repr(invitations).lower() + repr(await store.hgetall(
        f"jitsi:room:{TALK}")).lower()


async def test_g3_only_the_creator_owns_a_confidential_room(client: TestClient) -> None:
    creator = await seed_session(client.app, "teacher")
    await post(client, creator, "/jitsi/new", {"room": TALK, "meeting_type": "confidential"})
    await post(client, creator, f"/jitsi/{TALK}/invite", {"email": "ahmed@school.example"})
    staff = await seed_session(client.app, "staff")
    user = await token_user(client, staff, TALK)
    assert isinstance(user, dict)
    assert (user["affiliation"], user["moderator"]) == ("member", "false")


async def test_g3_prefix_confidential_room_is_claimed_by_the_first_teacher(
        client: TestClient) -> None:
    first = await seed_session(client.app, "teacher")
    user = await token_user(client, first, "vertrouwelijk-gesprek")
    assert isinstance(user, dict) and user["affiliation"] == "owner"
    second = await seed_session(client.app, "teacher", "teacher-2")
    assert await token_user(client, second, "vertrouwelijk-gesprek") == 403


@pytest.mark.parametrize("who,email,status", [
    ("creator", "someone@gmail.com", 400),  # G1: never a private address
    ("creator", "someone@other-school.example", 400),
    ("creator", "not an address", 400),
    ("colleague", PUPIL_EMAIL, 403),  # only the creator invites
], ids=["consumer_mail", "foreign_domain", "garbage", "not_the_creator"])
async def test_g2_invitations_only_by_the_creator_for_school_accounts(
        client: TestClient, who: str, email: str, status: int) -> None:
    creator = await seed_session(client.app, "teacher")
    await post(client, creator, "/jitsi/new", {"room": TALK, "meeting_type": "confidential"})
    cookie = creator if who == "creator" else await seed_session(client.app, "teacher", "t-2")
    assert await post(client, cookie, f"/jitsi/{TALK}/invite", {"email": email}) == status


async def test_g19_only_the_creator_sets_the_purpose(client: TestClient) -> None:
    creator = await seed_session(client.app, "teacher")
    assert await post(client, creator, "/jitsi/new",
                      {"room": "les-3b", "meeting_type": "lesson"}) == 303
    colleague = await seed_session(client.app, "teacher", "teacher-2")
    assert await post(client, colleague, "/jitsi/les-3b/purpose", {"purpose": "feedback"}) == 403
    assert await post(client, creator, "/jitsi/les-3b/purpose", {"purpose": "feedback"}) == 303


async def test_g19_a_room_in_use_cannot_be_claimed_by_an_outsider(client: TestClient) -> None:
    app = client.app
    body, headers = signed(app[keys.SETTINGS], {
        "event": "occupant_joined", "room": "les-4c", "occupant": "les-4c@c/p1",
        "person": person_of(app, "pupil"), "service": False}, app[keys.CLOCK].time())
    assert (await client.post("/hooks/jitsi/events", data=body, headers=headers)).status == 200
    outsider = await seed_session(app, "teacher", "teacher-2")
    assert await post(client, outsider, "/jitsi/new",
                      {"room": "les-4c", "meeting_type": "confidential"}) == 403
    assert await post(client, outsider, "/jitsi/les-4c/purpose", {"purpose": "feedback"}) == 403


async def test_g11_an_approved_exception_needs_the_officers_registered_reference(
        client: TestClient) -> None:
    creator = await seed_session(client.app, "teacher")
    await post(client, creator, "/jitsi/new", {"room": "les-5", "meeting_type": "lesson"})
    exception = {"purpose": "approved_exception", "approval_reference": "PO-2026-7"}
    assert await post(client, creator, "/jitsi/les-5/purpose", exception) == 400  # made up
    assert (await client.get("/admin/approvals", headers={"Cookie": creator})).status == 403
    assert await post(client, creator, "/admin/approvals", {"reference": "PO-2026-7"}) == 403
    officer = await seed_session(client.app, "staff")
    assert await post(client, officer, "/admin/approvals", {"reference": "PO-2026-7"}) == 302
    page = await client.get("/admin/approvals", headers={"Cookie": officer})
    assert "PO-2026-7" in await page.text()
    assert await post(client, creator, "/jitsi/les-5/purpose", exception) == 303
    entries = [e async for e in client.app[keys.AUDIT].entries()]
    declared = [e for e in entries if e["kind"] == "purpose_declared"]
    assert len(declared) == 1 and "PO-2026-7" in str(declared[0])


async def test_g20_room_state_only_for_people_in_or_invited_to_the_room(
        client: TestClient) -> None:
    outsider = await seed_session(client.app, "pupil", "pupil-elsewhere")
    resp = await client.get("/jitsi/les-6/state.json", headers={"Cookie": outsider})
    assert resp.status == 403 and (await resp.json()) == {"error": "not_in_room"}
    assert isinstance(await token_user(client, outsider, "les-6"), dict)
    resp = await client.get("/jitsi/les-6/state.json", headers={"Cookie": outsider})
    assert resp.status == 200 and (await resp.json())["recording"] is False
