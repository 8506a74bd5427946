"""Objections end to end through the gateway's pages (G12): hold, decide, delete, tell."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from dataclasses import asdict
from pathlib import Path

import jinja2
import pytest
from aiohttp.test_utils import TestClient, TestServer

from gateway.clock import ManualClock
from gateway.login.sessions import COOKIE_DEV, new_session
from gateway.policy.retention import DAY, DeclaredRecording
from gateway.retention import keys as retention_keys
from gateway.store.base import MemoryStore
from gateway.store.registry import read_sidecar, write_sidecar
from gateway.web import i18n, keys
from privacy_gateway import create_app
from tests.browser import chromium
from tests.support import ROOT, make_settings

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


INTERNAL = "4b77503635cf" + "0" * 28 + "-1796428412727"  # BBB's internal meeting id
LMS_ID = "biologie-3b"  # the LMS's meetingID: the id a pupil knows the lesson by


def visible(html: str) -> str:
    """The page's text as a reader sees it (no tags, no attributes)."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def _bbb_recording(app, clock: ManualClock, purpose: str = "feedback") -> None:  # type: ignore[no-untyped-def]
    """A BBB recording as the sweeper registers it from getRecordings: the record id is
    the internal meeting id, `meetingID` the LMS's id, `name` the lesson's name."""
    await app[retention_keys.SWEEPER].register(DeclaredRecording(
        platform="bbb", recording_id=INTERNAL, server="bbb1", meeting_ref=INTERNAL,
        meeting_alias=LMS_ID, meeting_name="Biologie 3B", meeting_type="lesson",
        purpose=purpose, created=clock.time()))


async def test_g12_pupil_sees_lesson_name_and_lms_id_never_the_internal_id(gateway) -> None:  # type: ignore[no-untyped-def]
    """The form and the pupil's list name the lesson and the LMS's id, the platform by
    its name; the internal id is small print on the officer's page only. The name stays
    on the pupil's list once the recording is gone."""
    client, _, clock = gateway
    app = client.server.app
    await _bbb_recording(app, clock)
    csrf = await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    form = await (await client.get(f"/objections/new?platform=bbb&meeting={INTERNAL}&lang=en")
                  ).text()
    assert "This objection is about: Biologie 3B (biologie-3b) · BigBlueButton" in visible(form)
    assert INTERNAL not in visible(form) and 'data-known="1"' in form
    await client.post("/objections", data={"csrf": csrf, "platform": "bbb",
                                           "meeting": INTERNAL, "reason": ""})
    for lang in ("en", "nl"):
        mine = visible(await (await client.get(f"/objections?lang={lang}")).text())
        assert "Biologie 3B (biologie-3b) · BigBlueButton" in mine
        assert INTERNAL not in mine and "· bbb" not in mine

    officer = await _officer_page(client)
    shown = visible(officer)
    assert "Biologie 3B (biologie-3b) · BigBlueButton" in shown and "· bbb" not in shown
    assert f"Interne code: {INTERNAL}" in shown  # small print, for the officer only
    objection_id = re.search(r"/admin/objections/([\w-]+)", officer).group(1)  # type: ignore[union-attr]
    await app[retention_keys.OBJECTIONS].decide(objection_id, upheld=False, officer="p_o")
    row = await app[retention_keys.SWEEPER].registry.get(f"bbb:{INTERNAL}")
    assert row is not None
    await app[retention_keys.SWEEPER].registry.remove(row)  # deleted at the end of its term
    await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    mine = visible(await (await client.get("/objections?lang=en")).text())
    assert "Biologie 3B (biologie-3b) · BigBlueButton" in mine and INTERNAL not in mine


async def test_g12_form_for_an_unknown_meeting_says_no_recording_is_known(gateway) -> None:  # type: ignore[no-untyped-def]
    client, jibri, clock = gateway
    await login_as(client, "pupil", "lotte@school.example", "pupil-1")
    form = visible(await (await client.get(
        "/objections/new?platform=bbb&meeting=does-not-exist&lang=en")).text())
    assert "Any recording of this meeting is put on hold at once" in form
    assert "The recording is put on hold" not in form
    assert "No recording of this meeting is known yet" in form
    form_nl = visible(await (await client.get(
        "/objections/new?platform=bbb&meeting=does-not-exist&lang=nl")).text())
    assert "Van deze vergadering is nog geen opname bekend" in form_nl

    jibri_recording(jibri, clock, "lecture", age_days=1)
    await client.server.app[retention_keys.SWEEPER].sweep_if_leader()
    form = visible(await (await client.get(
        f"/objections/new?platform=jitsi&meeting={ROOM}&lang=en")).text())
    assert "1 recording of this meeting is known." in form
    assert "No recording of this meeting is known" not in form


def _counts_row(page: str, platform: str, purpose: str, state: str) -> str:
    found = re.search(rf'<tr data-platform="{platform}" data-purpose="{purpose}" '
                      rf'data-state="{state}">(.*?)</tr>', page)
    assert found is not None, page
    return visible(found.group(1))


async def test_g16_retention_page_names_things_and_next_due_is_current(gateway) -> None:  # type: ignore[no-untyped-def]
    """Human names for platform, purpose and state in both languages; "next deletion due"
    from the registry now, not from the last sweep (held recordings are not due)."""
    client, jibri, clock = gateway
    app = client.server.app
    sweeper = app[retention_keys.SWEEPER]
    desk = app[retention_keys.OBJECTIONS]
    recording = jibri_recording(jibri, clock, "feedback", age_days=1)
    await sweeper.sweep_if_leader()
    row = await sweeper.registry.get(f"jitsi:{recording.name}")
    assert row is not None
    due = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(row.retain_until))

    await login_as(client, "staff", OFFICER, "officer-1")
    nl = await (await client.get("/admin/retention?lang=nl")).text()
    assert _counts_row(nl, "jitsi", "feedback", "retained") == "Jitsi Feedback in de les Bewaard 1"
    en = await (await client.get("/admin/retention?lang=en")).text()
    assert _counts_row(en, "jitsi", "feedback", "retained") == (
        "Jitsi Feedback in the lesson Kept 1")
    assert due in visible(en)

    objection = await desk.file(platform="jitsi", meeting_ref=ROOM, person="p_x", reason="")
    en = await (await client.get("/admin/retention?lang=en")).text()
    assert _counts_row(en, "jitsi", "feedback", "held") == "Jitsi Feedback in the lesson On hold 1"
    assert due not in visible(en) and "none (nothing due)" in visible(en)
    assert "geen (niets staat gepland)" in visible(
        await (await client.get("/admin/retention?lang=nl")).text())
    # The open objections have a header row.
    assert re.search(r'<table class="open-objections[^"]*">\s*<thead>', en)

    await desk.decide(objection.objection_id, upheld=False, officer="p_o")
    later = jibri_recording(jibri, clock, "feedback", age_days=0)
    await sweeper.register(read_sidecar(later))
    later_row = await sweeper.registry.get(f"jitsi:{later.name}")
    assert later_row is not None
    first = min(row.retain_until, later_row.retain_until)
    en = visible(await (await client.get("/admin/retention?lang=en")).text())
    assert time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(first)) in en


async def test_objection_form_and_retention_tables_fit_a_phone(tmp_path: Path) -> None:
    """The form at 390 px: nothing wider than the screen (the textarea was 435 px). The
    retention page's tables show each row as a card there, each value under its label
    (the names broke mid-word in four narrow columns)."""
    messages = create_app(make_settings(tmp_path))[i18n.MESSAGES_KEY]
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(
        ROOT / "gateway" / "web" / "templates"), autoescape=True)
    html = env.get_template("objection_new.html").render(
        t=lambda key, **values: messages.t("en", key, **values), lang="en", lang_href="/",
        school_name="School", platform="bbb", meeting=INTERNAL, platform_name="BigBlueButton",
        about=f"Biologie 3B ({LMS_ID})", known=0, known_key="objection.known.none",
        csrf="x", max_reason=1000, max_meeting=200, reason="")
    css = (ROOT / "gateway" / "web" / "static" / "gateway.css").read_text()
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 900})
        await page.set_content(html)
        await page.add_style_tag(content=css)
        sizes = await page.evaluate("""() => ({
            page: document.documentElement.scrollWidth,
            area: document.querySelector('textarea').getBoundingClientRect().right,
            main: document.querySelector('main').getBoundingClientRect().right})""")
    assert sizes["page"] <= 390 and sizes["area"] <= sizes["main"] + 0.5, sizes

    count = {"platform": "bbb", "purpose": "feedback", "state": "retained", "count": 1,
             "platform_name": "BigBlueButton", "purpose_name": "Feedback in de les",
             "state_name": "Bewaard"}
    html = env.get_template("admin_retention.html").render(
        t=lambda key, **values: messages.t("nl", key, **values), lang="nl", lang_href="/",
        school_name="School", counts=[count], objections=[], csrf="x")
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 900})
        await page.set_content(html)
        await page.add_style_tag(content=css)
        cells = await page.evaluate("""() => [...document.querySelectorAll(
            'table.counts tbody td')].map(td => [getComputedStyle(td).display,
                                                 td.dataset.label])""")
    assert cells == [["block", "Platform"], ["block", "Doel"], ["block", "Stand"],
                     ["block", "Aantal"]], cells

    objection = {"id": "x", "filed": "2026-12-04 10:15 UTC", "platform": "bbb",
                 "platform_name": "BigBlueButton", "meeting": INTERNAL,
                 "label": f"Biologie 3B ({LMS_ID})", "held": 1,
                 "held_key": "objection.held.one", "status": "open", "outcome": "open_held"}
    html = env.get_template("objections.html").render(
        t=lambda key, **values: messages.t("nl", key, **values), lang="nl", lang_href="/",
        school_name="School", objections=[objection])
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 390, "height": 900})
        await page.set_content(html)
        await page.add_style_tag(content=css)
        cells = await page.evaluate("""() => [...document.querySelectorAll(
            'table.objections tbody td')].map(td => [getComputedStyle(td).display,
                                                     td.dataset.label])""")
    assert cells == [["block", "Ingediend op"], ["block", "Vergadering"],
                     ["block", "Vastgezet"], ["block", "Uitkomst"]], cells
