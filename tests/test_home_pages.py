"""A home page per role (teacher, pupil, privacy officer) and "stop recording now" (G13).

The teacher's stop is checked on the platforms' own wire: for Jitsi the
instruction the prosody module collects at its next signed sync; for BBB the
`SetRecordingStatusCmdMsg` the recording guard publishes on BBB's Redis bus as
a moderator, and the chat line everyone sees.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from bbb_hooks import bus_codec as codec
from bbb_hooks.meetings import save_meeting_name
from gateway.clock import ManualClock
from gateway.policy.guard_texts import TEACHER_STOPPED_TEXT
from gateway.web import keys
from privacy_gateway import create_app
from tests.guard import bbb_bus as bus
from tests.guard.page_rig import (
    LESSON,
    LESSON_INTERNAL,
    TALK,
    TEACHER,
    guard_sees_lesson,
    open_page,
)
from tests.jitsi.support import csrf_of, enter_room, person_of, seed_session, signed

ROOM = "aardrijkskunde-2c"
OFFICER = "ahmed@school.example"  # the staff member of tests/jitsi/support.PEOPLE


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    from tests.jitsi.support import jitsi_settings

    settings = jitsi_settings(tmp_path, {"retention": {"privacy_officer_emails": [OFFICER]}})
    app = create_app(settings, clock=ManualClock(start=time.time()))
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def _send(client: TestClient, event: dict[str, Any]) -> dict[str, Any]:  # type: ignore[type-arg]
    app = client.app
    body, headers = signed(app[keys.SETTINGS], event, app[keys.CLOCK].time())
    resp = await client.post("/hooks/jitsi/events", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def _page(client: TestClient, cookie: str, path: str = "/") -> tuple[int, str]:  # type: ignore[type-arg]
    resp = await client.get(path, headers={"Cookie": cookie, "Accept-Language": "en"})
    return resp.status, await resp.text()


async def _recording_jitsi_room(client: TestClient, teacher: str) -> None:  # type: ignore[type-arg]
    resp = await client.post("/jitsi/new", data={"csrf": await csrf_of(client.app, teacher),
                                                 "room": ROOM, "meeting_type": "lesson"},
                             headers={"Cookie": teacher}, allow_redirects=False)
    assert resp.status in (302, 303), await resp.text()
    for role, occupant in (("teacher", "t1"), ("pupil", "p1")):
        cookie = teacher if role == "teacher" else await seed_session(client.app, "pupil")
        assert (await enter_room(client, f"room={ROOM}", cookie)).status in (302, 303)
        await _send(client, {"event": "occupant_joined", "room": ROOM,
                             "occupant": f"{ROOM}@conference.meet/{occupant}",
                             "person": person_of(client.app, role),  # type: ignore[arg-type]
                             "service": False})
    await _send(client, {"event": "recording_status", "room": ROOM, "status": "on",
                         "mode": "file", "initiator": f"{ROOM}@conference.meet/t1",
                         "av_moderation": {"audio": False, "video": False}})


async def test_teacher_sees_recording_room_and_stops_it_at_once(client: TestClient) -> None:  # type: ignore[type-arg]
    teacher = await seed_session(client.app, "teacher")
    status, html = await _page(client, teacher)
    assert status == 200 and "No meetings yet" in html
    await _recording_jitsi_room(client, teacher)
    status, html = await _page(client, teacher)
    assert f'data-meeting="{ROOM}" data-recording="yes"' in html
    assert "Lesson to watch later" in html and "Stop recording now" in html
    resp = await client.post("/home/stop", data={
        "csrf": await csrf_of(client.app, teacher), "platform": "jitsi", "meeting": ROOM},
        headers={"Cookie": teacher}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/?stopped=sent"
    status, html = await _page(client, teacher, "/?stopped=sent")
    assert "The stop was sent to the meeting" in html and "was stopped and" not in html
    # The module's next sync carries the stop to Jibri and tells everyone (G13).
    sync = await _send(client, {"event": "sync", "rooms": [ROOM]})
    instructions = sync["rooms"][ROOM]["instructions"]
    assert instructions[0] == {"action": "stop_recording"}
    assert instructions[1]["action"] == "announce"
    assert TEACHER_STOPPED_TEXT[0] in instructions[1]["text"]


async def test_only_the_rooms_teacher_may_stop(client: TestClient) -> None:  # type: ignore[type-arg]
    teacher = await seed_session(client.app, "teacher")
    await _recording_jitsi_room(client, teacher)
    other = await seed_session(client.app, "teacher", "another-teacher")
    _, html = await _page(client, other)
    assert ROOM not in html
    resp = await client.post("/home/stop", data={
        "csrf": await csrf_of(client.app, other), "platform": "jitsi", "meeting": ROOM},
        headers={"Cookie": other}, allow_redirects=False)
    assert resp.headers["Location"] == "/?stopped=no"
    sync = await _send(client, {"event": "sync", "rooms": [ROOM]})
    assert {"action": "stop_recording"} not in sync["rooms"][ROOM].get("instructions", [])


async def test_pupil_home_links_objection_and_notice(client: TestClient) -> None:  # type: ignore[type-arg]
    pupil = await seed_session(client.app, "pupil")
    status, html = await _page(client, pupil)
    assert status == 200
    assert 'href="/objections/new"' in html and "Object to a recording" in html
    assert "You have not filed any objections." in html and 'href="/privacy"' in html
    resp = await client.post("/objections", data={
        "csrf": await csrf_of(client.app, pupil), "platform": "jitsi", "meeting": ROOM,
        "reason": "I was on screen"}, headers={"Cookie": pupil}, allow_redirects=False)
    assert resp.status == 303
    status, html = await _page(client, pupil)
    # G12: what the pupil is told follows what is held; no recording of ROOM is known.
    assert 'data-status="open_none"' in html and "No recording of this meeting" in html
    assert "is on hold" not in html


async def test_pupil_home_says_deleted_only_when_it_is(client: TestClient) -> None:  # type: ignore[type-arg]
    """An upheld objection is not "deleted" on the pupil's home page unless a deletion
    was verified (G12, G16): here no recording of the meeting was known at all."""
    from gateway.retention.keys import OBJECTIONS

    pupil = await seed_session(client.app, "pupil")
    await client.post("/objections", data={
        "csrf": await csrf_of(client.app, pupil), "platform": "jitsi", "meeting": ROOM,
        "reason": ""}, headers={"Cookie": pupil}, allow_redirects=False)
    desk = client.app[OBJECTIONS]
    [objection] = await desk.open_objections()
    await desk.decide(objection.objection_id, upheld=True, officer="p_officer")
    status, html = await _page(client, pupil)
    assert status == 200 and 'data-status="upheld_none"' in html
    assert "The recording was deleted" not in html and "nothing had to be deleted" in html


async def test_officer_home_and_who_may_see_a_refused_page(client: TestClient) -> None:  # type: ignore[type-arg]
    officer = await seed_session(client.app, "staff")
    status, html = await _page(client, officer)
    assert 'href="/admin/retention"' in html and 'href="/admin/approvals"' in html
    assert "(G11)" not in html  # rule ids are for the code, not for people
    teacher = await seed_session(client.app, "teacher")
    status, html = await _page(client, teacher, "/admin/retention")
    assert status == 403
    assert "No access" in html and "Something went wrong" not in html
    assert "privacy officer: a staff member or teacher whose address" in html
    nl = await client.get("/admin/retention", headers={"Cookie": teacher,
                                                       "Accept-Language": "nl"})
    assert "Alleen de privacy-officer" in await nl.text()


async def test_bbb_teacher_stops_recording_as_moderator(redis_url: str, tmp_path: Path) -> None:
    async for page in open_page(redis_url, tmp_path):
        csrf = await page.login("teacher")
        await guard_sees_lesson(page, redis_url)
        redis = Redis.from_url(redis_url)
        listener = redis.pubsub()
        await listener.subscribe(codec.TO_AKKA)
        try:
            await redis.publish(codec.FROM_AKKA, bus.recording(LESSON_INTERNAL, TEACHER, True))
            deadline = time.monotonic() + 5
            while True:
                html = await (await page.client.get("/", headers={"Accept-Language": "en"})).text()
                if f'data-meeting="{LESSON}" data-recording="yes"' in html:
                    break
                assert time.monotonic() < deadline, html
                await asyncio.sleep(0.05)
            resp = await page.client.post("/home/stop", data={
                "csrf": csrf, "platform": "bbb", "meeting": LESSON}, allow_redirects=False)
            assert resp.headers["Location"] == "/?stopped=yes"
            stop = await _next_stop(listener)
            assert stop["core"]["header"]["userId"] == TEACHER  # sent as the moderator
            assert stop["core"]["body"] == {"recording": False, "setBy": TEACHER}
            deadline = time.monotonic() + 5
            while not any(TEACHER_STOPPED_TEXT[0] in text for _, text in page.emu.chat):
                assert time.monotonic() < deadline, page.emu.chat
                await asyncio.sleep(0.05)
        finally:
            await listener.aclose()
            await redis.aclose()


async def _next_stop(listener: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = await listener.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if message is None:
            continue
        command: dict[str, Any] = json.loads(message["data"])
        if command["core"]["header"]["name"] == "SetRecordingStatusCmdMsg":
            return command
    raise AssertionError("no SetRecordingStatusCmdMsg on the bus")


async def _new_room(client: TestClient, teacher: str, room: str, meeting_type: str) -> None:  # type: ignore[type-arg]
    resp = await client.post("/jitsi/new", data={"csrf": await csrf_of(client.app, teacher),
                                                 "room": room, "meeting_type": meeting_type},
                             headers={"Cookie": teacher}, allow_redirects=False)
    assert resp.status in (302, 303), await resp.text()


async def test_room_purpose_on_home_agrees_with_the_room_page(client: TestClient) -> None:  # type: ignore[type-arg]
    """G11: nobody declared a purpose, so the meeting type's default applies, and the home
    page says so, as the room page does (it said "no purpose declared")."""
    teacher = await seed_session(client.app, "teacher")
    await _new_room(client, teacher, ROOM, "lesson")
    _, home = await _page(client, teacher)
    assert 'data-purpose="lecture" data-declared="no"' in home
    assert "Lesson to watch later (default: no purpose declared)" in home
    assert "no purpose declared ·" not in home
    assert f'<a href="/jitsi/{ROOM}">{ROOM}</a>' in home  # back into the room
    _, room_page = await _page(client, teacher, f"/jitsi/{ROOM}")
    assert "You have not chosen a purpose yet, so this applies: Lesson to watch later." in room_page


async def test_confidential_room_says_it_cannot_be_recorded(client: TestClient) -> None:  # type: ignore[type-arg]
    """G3: no "Declare purpose" link for a talk that is never recorded."""
    teacher = await seed_session(client.app, "teacher")
    await _new_room(client, teacher, "gesprek-ouders", "confidential")
    _, home = await _page(client, teacher)
    assert "cannot be recorded" in home and "Declare purpose" not in home
    assert 'href="/jitsi/gesprek-ouders#purpose"' not in home
    assert '>Confidential talk</td>' in home


@pytest.mark.parametrize(("lang", "names"), [
    ("nl", (">Les</td>", ">Vertrouwelijk gesprek</td>", "kan niet worden opgenomen")),
    ("en", (">Lesson</td>", ">Confidential talk</td>", "cannot be recorded")),
])
async def test_bbb_meetings_by_name_with_human_words(redis_url: str, tmp_path: Path, lang: str,
                                                     names: tuple[str, ...]) -> None:
    """G18: meeting types in the reader's language, the meeting's name from create, its id
    second; a confidential talk has no purpose link."""
    async for page in open_page(redis_url, tmp_path):
        await page.login("teacher")
        await save_meeting_name(page.store, LESSON, "Wiskunde 2B")
        html = await (await page.client.get(f"/?lang={lang}")).text()
        for name in names:
            assert name in html
        assert ">lesson<" not in html and ">confidential<" not in html
        assert f'Wiskunde 2B<br><small class="ident">{LESSON}</small>' in html
        assert f'href="/meetings/bbb/{LESSON}/purpose"' in html
        assert f'href="/meetings/bbb/{TALK}/purpose"' not in html


async def test_teacher_table_keeps_its_order_and_names_every_column(client: TestClient) -> None:  # type: ignore[type-arg]
    """Rows sorted by name, then id, whether or not they record (a stop moves no row);
    the stop button's column has a header like every other column."""
    teacher = await seed_session(client.app, "teacher")
    await _recording_jitsi_room(client, teacher)
    await _new_room(client, teacher, "aa-begin", "lesson")
    for lang, action in (("en", "<th>Action</th>"), ("nl", "<th>Actie</th>")):
        resp = await client.get(f"/?lang={lang}", headers={"Cookie": teacher})
        html = await resp.text()
        assert f'data-meeting="{ROOM}" data-recording="yes"' in html
        assert html.index('data-meeting="aa-begin"') < html.index(f'data-meeting="{ROOM}"')
        assert action in html and "<th></th>" not in html


@pytest.mark.parametrize(("lang", "teacher_says", "officer_says"), [
    ("en", "You are logged in as teacher.", "You are logged in as privacy officer."),
    ("nl", "Je bent ingelogd als leraar.", "Je bent ingelogd als privacy-officer."),
])
async def test_roles_are_written_alike_on_every_home(
        client: TestClient, lang: str, teacher_says: str, officer_says: str) -> None:  # type: ignore[type-arg]
    teacher = await seed_session(client.app, "teacher")
    officer = await seed_session(client.app, "staff")
    for cookie, says in ((teacher, teacher_says), (officer, officer_says)):
        resp = await client.get(f"/?lang={lang}", headers={"Cookie": cookie})
        assert says in await resp.text()
