"""The meeting page's routes: consent only from people in the room (G15, G20), the
objection form one click away (G12), redirects the gateway can trace, school addresses
checked as the login checks them (G1), and a poll that reads each thing once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.web import keys
from privacy_gateway import create_app
from tests.jitsi.support import CountingStore, csrf_of, jitsi_settings, person_of, seed_session
from tests.jitsi.test_events import ROOM, join, send

OCC = f"{ROOM}@conference.meet"
OBJECTION = f"/objections/new?platform=jitsi&meeting={ROOM}"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock(), store=CountingStore())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def post(client: TestClient, cookie: str, path: str, data: dict[str, str],
               accept: str = "text/html") -> int:
    data = {"csrf": await csrf_of(client.app, cookie), **data}
    resp = await client.post(path, data=data, headers={"Cookie": cookie, "Accept": accept},
                             allow_redirects=False)
    return resp.status


@pytest.mark.parametrize("choice", ["0", "1"], ids=["opt_out_stops_transcription",
                                                     "opt_in_writes_consent"])
async def test_g20_nobody_sets_transcription_consent_for_a_room_they_are_not_in(
        client: TestClient, choice: str) -> None:
    """Any logged-in person could post a choice for any room name: an opt-out queued
    stop_transcription there, an opt-in wrote a consent key."""
    await join(client, "teacher", "t1")
    outsider = await seed_session(client.app, "pupil", "pupil-elsewhere")
    status = await post(client, outsider, f"/jitsi/{ROOM}/transcription", {"opt_in": choice},
                        accept="application/json")
    assert status == 403
    store = client.app[keys.STORE]
    assert await store.get(f"jitsi:pending:{ROOM}") is None
    assert await store.hgetall(f"jitsi:consent:{ROOM}") == {}


async def test_g15_people_in_the_room_still_choose(client: TestClient) -> None:
    await join(client, "pupil", "p1")
    pupil = await seed_session(client.app, "pupil")
    assert await post(client, pupil, f"/jitsi/{ROOM}/transcription", {"opt_in": "0"}) == 303
    assert await client.app[keys.STORE].get(f"jitsi:pending:{ROOM}") is not None


async def test_g20_the_state_poll_reads_the_room_and_its_people_once(
        client: TestClient) -> None:
    """Every participant polls every 5 s: the access check and the state read the room's
    settings and the people present twice."""
    await join(client, "pupil", "p1")
    cookie = await seed_session(client.app, "pupil")
    store = client.app[keys.STORE]
    assert isinstance(store, CountingStore)
    store.reads.clear()
    resp = await client.get(f"/jitsi/{ROOM}/state.json", headers={"Cookie": cookie})
    assert resp.status == 200 and (await resp.json())["transcription"]["present"] == 1
    assert store.reads["jitsi:room"] == 1
    assert store.reads["jitsi:occ"] == 1
    assert store.reads["jitsi:tok"] == 0  # present: the token holders need not be read


async def test_g12_the_meeting_page_links_to_the_objection_form_for_this_room(
        client: TestClient) -> None:
    cookie = await seed_session(client.app, "pupil")
    page = await client.get(f"/jitsi/{ROOM}?lang=en", headers={"Cookie": cookie})
    text = await page.text()
    assert f'href="{OBJECTION.replace("&", "&amp;")}"' in text
    assert "Object to it." in text
    form = await client.get(OBJECTION, headers={"Cookie": cookie})
    assert form.status == 200 and f'value="{ROOM}"' in await form.text()


async def test_g12_a_confidential_talk_offers_no_objection_link(client: TestClient) -> None:
    """Nothing can be recorded there (G3): nothing to object to."""
    cookie = await seed_session(client.app, "teacher")
    page = await client.get("/jitsi/vertrouwelijk-x", headers={"Cookie": cookie})
    assert page.status == 200 and "/objections/new" not in await page.text()


async def test_g12_recording_announcements_carry_the_objection_link_in_both_languages(
        client: TestClient) -> None:
    await join(client, "teacher", "t1")
    await join(client, "pupil", "p1")
    public = client.app[keys.SETTINGS].policy.gateway.public_url.rstrip("/")
    answer = await send(client, {"event": "recording_status", "room": ROOM, "status": "on",
                                 "mode": "file", "av_moderation": {}})
    announcements = [i["text"] for i in answer["instructions"] if i["action"] == "announce"]
    assert len(announcements) == 2  # G8: before and right after the start
    for text in announcements:
        assert f"Bezwaar tegen deze opname? {public}{OBJECTION}" in text
        assert f"Object to this recording? {public}{OBJECTION}" in text
    late = await join(client, "pupil", "p2", subject="pupil-2")
    told = [i["text"] for i in late["instructions"] if i["action"] == "tell"]
    assert told and f"{public}{OBJECTION}" in told[0]  # a latecomer is told too


async def redirect_of(client: TestClient, method: str, path: str, cookie: str | None,
                      data: dict[str, str] | None = None) -> tuple[int, str, str | None]:
    headers = {"Cookie": cookie} if cookie else {}
    if data is not None and cookie:
        data = {"csrf": await csrf_of(client.app, cookie), **data}
    resp = await client.request(method, path, data=data, headers=headers,
                                allow_redirects=False)
    return resp.status, resp.headers.get("Location", ""), resp.headers.get("X-Request-Id")


async def test_redirects_are_returned_and_carry_the_request_id(client: TestClient) -> None:
    """Raised redirects skipped the request-id header the logs are searched by."""
    teacher = await seed_session(client.app, "teacher")
    await send(client, {"event": "occupant_joined", "room": ROOM, "occupant": f"{OCC}/t1",
                        "person": person_of(client.app, "teacher"), "service": False})
    cases = [
        ("GET", "/jitsi/Lesson-7A", None, None, 302, "/jitsi/lesson-7a"),
        ("GET", f"/jitsi/{ROOM}", None, None, 302, "/login?"),
        ("GET", "/jitsi/new", None, None, 302, "/login?"),
        ("GET", f"/jitsi/auth?room={ROOM}", None, None, 302, "/login?"),
        ("POST", "/jitsi/new", teacher, {"room": "les-9", "meeting_type": "lesson"}, 303,
         "/jitsi/les-9"),
        ("POST", f"/jitsi/{ROOM}/purpose", teacher, {"purpose": "feedback"}, 303,
         f"/jitsi/{ROOM}"),
        ("POST", f"/jitsi/{ROOM}/transcription", teacher, {"opt_in": "1"}, 303,
         f"/jitsi/{ROOM}"),
    ]
    for method, path, cookie, data, status, location in cases:
        got = await redirect_of(client, method, path, cookie, data)
        assert got[0] == status and got[1].startswith(location), (path, got)
        assert got[2], f"{path}: no X-Request-Id"


@pytest.mark.parametrize("email,status", [
    ("o'brien@school.example", 303),  # a real school address, refused before
    ("Lotte.B@Leerling.School.Example", 303),
    ("someone@ｇｍａｉｌ.com", 400),  # full-width letters fold to gmail.com (G1)
    ("someone@gmail.com", 400),
    ("two@at@school.example", 400),
], ids=["apostrophe", "mixed_case_subdomain", "fullwidth_consumer", "consumer", "two_at"])
async def test_g1_invited_addresses_are_checked_as_the_login_checks_them(
        client: TestClient, email: str, status: int) -> None:
    creator = await seed_session(client.app, "teacher")
    assert await post(client, creator, "/jitsi/new",
                      {"room": "mentor-uur", "meeting_type": "confidential"}) == 303
    assert await post(client, creator, "/jitsi/mentor-uur/invite", {"email": email}) == status


async def test_g3_claiming_a_confidential_room_reads_its_settings_once(
        client: TestClient) -> None:
    """The claim's answer was ignored and the settings read again to learn the creator."""
    cookie = await seed_session(client.app, "teacher")
    store = client.app[keys.STORE]
    assert isinstance(store, CountingStore)
    notice = await client.get("/jitsi/auth?room=vertrouwelijk-y", headers={"Cookie": cookie})
    assert notice.status == 200  # the room's notice first (G18)
    csrf = await csrf_of(client.app, cookie)
    store.reads.clear()
    resp = await client.post("/jitsi/auth", data={"room": "vertrouwelijk-y", "csrf": csrf},
                             headers={"Cookie": cookie}, allow_redirects=False)
    assert resp.status == 303 and "jwt=" in resp.headers["Location"]
    assert store.reads["jitsi:room"] == 1
