"""Objections end to end through the gateway's pages (G12): hold, decide, delete, tell."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.login.sessions import COOKIE_DEV, new_session
from gateway.policy.retention import DAY
from gateway.retention import keys as retention_keys
from gateway.store.base import MemoryStore
from gateway.store.registry import write_sidecar
from gateway.web import keys
from privacy_gateway import create_app
from tests.support import make_settings

OFFICER = "privacy@school.example"
ROOM = "wiskunde-3a"


async def login_as(client: TestClient, role: str, email: str, sub: str) -> str:
    """A logged-in browser: a session in the store and its cookie (the login flow
    itself is tested in tests/test_login_flow.py)."""
    app = client.server.app
    assert app is not None
    session = new_session(issuer="https://idp", subject=sub, idp="demo", role=role,  # type: ignore[arg-type]
                          person=app[keys.PSEUDONYMS].person("https://idp", sub), name=None,
                          email=email, now=time.time())
    session_id = secrets.token_urlsafe(32)
    await app[keys.STORE].set("session:" + hashlib.sha256(session_id.encode()).hexdigest(),
                              json.dumps(asdict(session)).encode(), 3600)
    client.session.cookie_jar.update_cookies({COOKIE_DEV: session_id})
    return session.csrf


def jibri_recording(root: Path, clock: ManualClock, purpose: str, age_days: float) -> Path:
    folder = root / ("session_" + secrets.token_hex(4))
    folder.mkdir(parents=True)
    (folder / "lesson.mp4").write_bytes(b"\0" * 32)
    created = clock.time() - age_days * DAY
    write_sidecar(folder, meeting_ref=ROOM, meeting_type="lesson", purpose=purpose,
                  created=created, retain_until=created + 30 * DAY, policy_version="1")
    return folder


@pytest.fixture
async def gateway(tmp_path: Path):  # type: ignore[no-untyped-def]
    jibri = tmp_path / "jibri"
    jibri.mkdir()
    settings = make_settings(tmp_path, {"retention": {"jibri_recordings_dir": str(jibri),
                                                      "privacy_officer_emails": [OFFICER]}})
    clock = ManualClock(start=time.time())
    app = create_app(settings, clock=clock, store=MemoryStore("pgw", clock))
    app[retention_keys.BACKGROUND] = False
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield client, jibri, clock
    finally:
        await client.close()


async def test_upheld_objection_holds_then_deletes_at_once_and_pupil_sees_it(gateway) -> None:  # type: ignore[no-untyped-def]
    client, jibri, clock = gateway
    app = client.server.app
    sweeper = app[retention_keys.SWEEPER]
    recording = jibri_recording(jibri, clock, "lecture", age_days=1)
    other_room = jibri_recording(jibri, clock, "lecture", age_days=1)
    write_sidecar(other_room, meeting_ref="other", meeting_type="lesson",
                  purpose="exam_evidence", created=clock.time(),
                  retain_until=clock.time() + 180 * DAY,
                  policy_version="1")
    await sweeper.sweep_if_leader()

    csrf = await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    page = await client.get(f"/objections/new?platform=jitsi&meeting={ROOM}")
    assert page.status == 200 and "bezwaar" in (await page.text()).lower()
    filed = await client.post("/objections", data={"csrf": csrf, "platform": "jitsi",
                                                   "meeting": ROOM, "reason": "ik sta erin"},
                              allow_redirects=False)
    assert filed.status == 303
    row = await sweeper.registry.get(f"jitsi:{recording.name}")
    assert row is not None and any(h.startswith("objection:") for h in row.holds)
    clock.advance(40 * DAY)  # past the due date: still held, not deleted
    await sweeper.sweep_if_leader()
    assert recording.exists()
    await login_as(client, "pupil", "lotte@school.example", "pupil-1")  # 40 days later
    mine = await (await client.get("/objections")).text()
    assert 'data-status="open"' in mine

    # A pupil cannot decide; the privacy officer can.
    objection_id = re.search(r"/admin/objections/([\w-]+)",
                             await _officer_page(client)).group(1)  # type: ignore[union-attr]
    csrf = await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    refused = await client.post(f"/admin/objections/{objection_id}",
                                data={"csrf": csrf, "decision": "uphold"})
    assert refused.status == 403 and recording.exists()
    csrf = await login_as(client, "staff", OFFICER, "officer-1")
    decided = await client.post(f"/admin/objections/{objection_id}",
                                data={"csrf": csrf, "decision": "uphold"},
                                allow_redirects=False)
    assert decided.status == 303
    officer_page = await (await client.get(decided.headers["Location"] + "&lang=en")).text()
    assert ('data-decided="upheld_deleting"' in officer_page
            or 'data-decided="upheld_deleted"' in officer_page)
    await app[retention_keys.OBJECTIONS].deletions_settled()
    assert not recording.exists()  # deleted at once, not at the next sweep (G12)
    assert other_room.exists()
    officer_page = await (await client.get(decided.headers["Location"] + "&lang=en")).text()
    assert "deleted and verified gone" in officer_page

    await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    mine = await (await client.get("/objections?lang=en")).text()
    assert 'data-status="upheld"' in mine and 'data-outcome="upheld_deleted"' in mine
    assert "The recording was deleted." in mine
    kinds = [e["kind"] async for e in app[keys.AUDIT].entries()]
    for step in ("objection_filed", "hold_placed", "objection_decided", "hold_released",
                 "recording_deleted"):
        assert step in kinds
    entries = [e async for e in app[keys.AUDIT].entries()]
    assert not any("lotte" in json.dumps(e) or ROOM in json.dumps(e) for e in entries)  # G20


async def _officer_page(client: TestClient) -> str:
    await login_as(client, "staff", OFFICER, "officer-1")
    page = await client.get("/admin/retention")
    assert page.status == 200
    return await page.text()


async def test_rejected_objection_releases_hold_and_normal_retention_applies(gateway) -> None:  # type: ignore[no-untyped-def]
    client, jibri, clock = gateway
    sweeper = client.server.app[retention_keys.SWEEPER]
    desk = client.server.app[retention_keys.OBJECTIONS]
    recording = jibri_recording(jibri, clock, "lecture", age_days=1)
    await sweeper.sweep_if_leader()
    objection = await desk.file(platform="jitsi", meeting_ref=ROOM, person="p_x", reason="")
    await desk.decide(objection.objection_id, upheld=False, officer="p_officer")
    assert recording.exists()
    clock.advance(29 * DAY + 60)
    await sweeper.sweep_if_leader()
    assert not recording.exists()


async def test_objection_during_meeting_holds_recording_registered_later(gateway) -> None:  # type: ignore[no-untyped-def]
    client, jibri, clock = gateway
    sweeper = client.server.app[retention_keys.SWEEPER]
    desk = client.server.app[retention_keys.OBJECTIONS]
    await desk.file(platform="jitsi", meeting_ref=ROOM, person="p_x", reason="")
    recording = jibri_recording(jibri, clock, "feedback", age_days=0)  # finalize runs later
    await sweeper.sweep_if_leader()
    row = await sweeper.registry.get(f"jitsi:{recording.name}")
    assert row is not None and row.holds


@pytest.mark.parametrize(("path", "form"), [
    ("/objections", {"platform": "zoom", "meeting": ROOM}),
    ("/objections", {"platform": "jitsi", "meeting": "../../etc"}),
    ("/objections", {"platform": "jitsi"}),
    ("/admin/objections/does-not-exist", {"decision": "uphold"}),
    ("/admin/objections/abcdefgh", {"decision": "delete-everything"}),
], ids=["unknown_platform", "traversal_meeting", "missing_meeting", "unknown_objection",
        "bad_decision"])
async def test_bad_objection_input_gets_a_clear_page(gateway, path, form) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = gateway
    csrf = await login_as(client, "staff", OFFICER, "officer-1")
    response = await client.post(path, data={"csrf": csrf, **form})
    assert response.status == 400
    assert "text/html" in response.headers["Content-Type"]


async def test_admin_page_needs_the_privacy_officer(gateway) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = gateway
    anonymous = await client.get("/admin/retention", allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")
    await login_as(client, "teacher", "t.devries@school.example", "teacher-1")
    assert (await client.get("/admin/retention")).status == 403


async def test_open_objection_outlives_the_audit_retention(gateway) -> None:  # type: ignore[no-untyped-def]
    """G12: an objection stays open (and the hold releasable) until the officer decides."""
    client, jibri, clock = gateway
    app = client.server.app
    sweeper = app[retention_keys.SWEEPER]
    desk = app[retention_keys.OBJECTIONS]
    recording = jibri_recording(jibri, clock, "lecture", age_days=1)
    await sweeper.sweep_if_leader()
    objection = await desk.file(platform="jitsi", meeting_ref=ROOM, person="p_x", reason="")
    clock.advance(400 * DAY)  # longer than audit_retention_days
    assert [o.objection_id for o in await desk.open_objections()] == [objection.objection_id]
    await desk.decide(objection.objection_id, upheld=True, officer="p_officer")
    await desk.deletions_settled()
    assert not recording.exists()


async def test_objection_pages_say_which_meeting_and_how_many_recordings(gateway) -> None:  # type: ignore[no-untyped-def]
    """G12: the form names the meeting it came from; after sending, a confirmation; the
    pupil's list and the officer's open objections show the meeting and what is held,
    with the right plural forms in both languages."""
    client, jibri, clock = gateway
    sweeper = client.server.app[retention_keys.SWEEPER]
    jibri_recording(jibri, clock, "lecture", age_days=1)
    await sweeper.sweep_if_leader()

    csrf = await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    form = await (await client.get(f"/objections/new?platform=jitsi&meeting={ROOM}&lang=en")
                  ).text()
    assert f"This objection is about: {ROOM}" in form
    filed = await client.post("/objections", data={"csrf": csrf, "platform": "jitsi",
                                                   "meeting": ROOM, "reason": ""},
                              allow_redirects=False)
    assert filed.status == 303 and filed.headers["Location"].startswith("/objections?filed=")
    mine = await (await client.get(filed.headers["Location"] + "&lang=en")).text()
    assert "Your objection was sent" in mine
    assert f'data-meeting="{ROOM}"' in mine and "1 recording<" in mine
    assert "The recordings of this meeting are on hold" in mine
    mine_nl = await (await client.get("/objections?lang=nl")).text()
    assert "1 opname<" in mine_nl and "Your objection was sent" not in mine_nl

    await client.post("/objections", data={"csrf": csrf, "platform": "jitsi",
                                           "meeting": "bestaat-niet", "reason": ""})
    mine = await (await client.get("/objections?lang=en")).text()
    assert "No recording of this meeting is known yet" in mine and "0 recordings<" in mine

    jibri_recording(jibri, clock, "lecture", age_days=0)  # a second recording of ROOM
    await sweeper.sweep_if_leader()
    mine = await (await client.get("/objections?lang=nl")).text()
    assert "2 opnames<" in mine

    officer = await _officer_page(client)
    assert f'data-meeting="{ROOM}"' in officer and "2 opnames vastgezet" in officer
    assert 'data-meeting="bestaat-niet"' in officer and "nog geen opname bekend" in officer


@pytest.mark.parametrize(("meeting", "error", "text"), [
    ("", "meeting_empty", "Fill in which meeting"),
    ("x" * 201, "meeting_too_long", "at most 200 characters"),
    ("les 2a/../x", "meeting_characters", "only letters, digits"),
], ids=["empty", "too_long", "characters"])
async def test_a_bad_meeting_id_is_explained_on_the_form(gateway, meeting, error, text) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = gateway
    csrf = await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    response = await client.post("/objections?lang=en", data={
        "csrf": csrf, "platform": "bbb", "meeting": meeting, "reason": "ik sta erin"})
    page = await response.text()
    assert response.status == 400 and f'data-error="{error}"' in page and text in page
    assert "ik sta erin" in page  # what the pupil wrote is kept
    assert not await client.server.app[retention_keys.OBJECTIONS].of_person(
        client.server.app[keys.PSEUDONYMS].person("https://idp", "pupil-1"))
