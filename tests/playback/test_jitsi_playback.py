"""Jibri recordings served only by the gateway, to who may watch them (G14, G17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from gateway.policy.retention import DeclaredRecording
from gateway.store.registry import Registry, register_recording, write_sidecar
from gateway.web import keys
from tests.gateway_fixtures import start_gateway
from tests.jitsi.support import jitsi_settings, person_of, seed_session
from tests.support import free_port, metric_value

ROOM = "wiskunde-7b"
VIDEO = bytes(range(256)) * 64  # 16 KiB of "mp4"


@dataclass
class Jibri:
    app: web.Application
    base: str
    root: Path
    sessions: dict[str, str]  # purpose -> session id


async def _recording(app: web.Application, root: Path, session_id: str, purpose: str) -> None:
    session_dir = root / session_id
    session_dir.mkdir()
    (session_dir / f"{ROOM}_2026-12-04-10-00-00.mp4").write_bytes(VIDEO)
    now = app[keys.CLOCK].time()
    write_sidecar(session_dir, meeting_ref=ROOM, meeting_type="lesson", purpose=purpose,
                  created=now, retain_until=now + 30 * 86400, policy_version="1")
    await register_recording(
        Registry(app[keys.STORE]), app[keys.SETTINGS].policy,
        DeclaredRecording("jitsi", session_id, meeting_ref=ROOM, meeting_type="lesson",
                          purpose=purpose, created=now),
        now, app[keys.AUDIT], app[keys.PSEUDONYMS].meeting)


@pytest.fixture
async def jibri(tmp_path: Path) -> AsyncIterator[Jibri]:
    root = tmp_path / "recordings"
    root.mkdir()
    port = free_port()
    settings = jitsi_settings(tmp_path, {"retention": {
        "jibri_recordings_dir": str(root), "privacy_officer_emails": ["ahmed@school.example"]}},
        port=port)
    async with start_gateway(settings, port, wait_ready=False) as app:
        run = Jibri(app, f"http://127.0.0.1:{port}", root,
                    {"lecture": "lecture_session_1", "feedback": "feedback_session_2",
                     "approved_exception": "exception_session_3"})
        for purpose, session_id in run.sessions.items():
            await _recording(app, root, session_id, purpose)
        yield run


def _url(run: Jibri, purpose: str, name: str | None = None) -> str:
    session_id = run.sessions[purpose]
    return f"{run.base}/recordings/jitsi/{session_id}/{name or ROOM + '_2026-12-04-10-00-00.mp4'}"


async def _get(url: str, cookie: str | None = None, **headers: str) -> tuple[
        int, dict[str, str], bytes, aiohttp.ClientResponse]:
    sent = {"Accept-Language": "en", **headers}
    if cookie:
        sent["Cookie"] = cookie
    async with aiohttp.ClientSession() as http, http.get(url, headers=sent,
                                                         allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.read(), r


async def test_an_mp4_range_request_works_for_a_jibri_recording(jibri: Jibri) -> None:
    cookie = await seed_session(jibri.app, "pupil")
    status, headers, body, _ = await _get(_url(jibri, "lecture"), cookie, Range="bytes=100-199")
    assert status == 206 and body == VIDEO[100:200]
    assert headers["Content-Range"] == f"bytes 100-199/{len(VIDEO)}"
    assert headers["Content-Type"] == "video/mp4"
    status, _, body, _ = await _get(_url(jibri, "lecture"), cookie)
    assert status == 200 and body == VIDEO


async def test_a_player_keeps_watching_on_the_recordings_cookie(jibri: Jibri) -> None:
    cookie = await seed_session(jibri.app, "pupil")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(_url(jibri, "lecture"), headers={"Cookie": cookie}) as r:
            assert r.status == 200
        grants = [c for c in http.cookie_jar if c.key.startswith("pgw_pb_")]
        assert len(grants) == 1 and grants[0]["httponly"]
        assert grants[0]["path"] == f"/recordings/jitsi/{jibri.sessions['lecture']}/"
        # The next Range request: the recording's cookie alone, no session.
        async with http.get(_url(jibri, "lecture"), headers={"Range": "bytes=0-9"}) as r:
            assert r.status == 206 and await r.read() == VIDEO[:10]
    counted = jibri.app[keys.METRICS].playback.labels(platform="jitsi", purpose="lecture",
                                                      result="ok")
    assert metric_value(counted) == 1  # per purpose, once per decision, never per person


async def test_a_pupil_is_refused_a_feedback_jibri_recording(jibri: Jibri) -> None:
    status, headers, body, _ = await _get(_url(jibri, "feedback"),
                                          await seed_session(jibri.app, "pupil"))
    assert status == 403 and headers["Content-Type"].startswith("text/html")
    assert b'data-reason="not_moderator"' in body and VIDEO[:64] not in body


async def test_the_moderating_teacher_watches_feedback_audited_by_pseudonym(
        jibri: Jibri) -> None:
    from gateway.playback.acl import remember_moderator

    await remember_moderator(jibri.app[keys.STORE], "jitsi", ROOM,
                             person_of(jibri.app, "teacher"), 3600)
    status, _, body, _ = await _get(_url(jibri, "feedback"),
                                    await seed_session(jibri.app, "teacher"))
    assert status == 200 and body == VIDEO
    grants = [e async for e in jibri.app[keys.AUDIT].entries()
              if e["kind"] == "playback_granted"]
    assert [g["viewer"] for g in grants] == [person_of(jibri.app, "teacher")]


async def test_missing_login_gets_a_401_page_with_a_login_link(jibri: Jibri) -> None:
    status, headers, body, _ = await _get(_url(jibri, "lecture"))
    assert status == 401 and headers["Content-Type"].startswith("text/html")
    assert b"Log in with your school account" in body and b'href="/login?next=' in body
    assert VIDEO[:64] not in body


@pytest.mark.parametrize("name, status", [
    ("privacy-gateway.json", 403),  # the sidecar is no media file
    ("metadata.json", 403),
    ("..%2F..%2Fetc%2Fpasswd.mp4", 403),
    ("nope.mp4", 404),
])
async def test_only_media_files_of_a_session_are_served(jibri: Jibri, name: str,
                                                        status: int) -> None:
    cookie = await seed_session(jibri.app, "pupil")
    got, headers, body, _ = await _get(_url(jibri, "lecture", name), cookie)
    assert got == status and headers["Content-Type"].startswith("text/html")
    assert b"privacy-gateway-recording" not in body


async def test_a_dot_dot_session_is_refused(jibri: Jibri) -> None:
    """`..` sent as is (no client normalising it): refused, never resolved."""
    import asyncio

    cookie = await seed_session(jibri.app, "pupil")
    port = int(jibri.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    target = f"/recordings/jitsi/{jibri.sessions['lecture']}/%2e%2e/x.mp4"
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                 "Connection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    assert data.split(b" ", 2)[1] in (b"403", b"404") and VIDEO[:64] not in data


@pytest.mark.parametrize("tail", ["../lecture/x.mp4", "./x.mp4", "/x.mp4"],
                         ids=["dot-dot", "dot", "double-slash"])
async def test_a_literal_dot_segment_or_double_slash_matches_no_route(jibri: Jibri,
                                                                     tail: str) -> None:
    """As README.md says: a literal `/../`, `/./` or `//` (sent as is) gets 404, no file."""
    import asyncio

    cookie = await seed_session(jibri.app, "pupil")
    port = int(jibri.base.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    target = f"/recordings/jitsi/{jibri.sessions['lecture']}/{tail}"
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n"
                 "Connection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    assert data.split(b" ", 2)[1] == b"404" and VIDEO[:64] not in data


async def test_the_meeting_page_links_recordings_for_who_may_watch(jibri: Jibri) -> None:
    links = {}
    for role in ("pupil", "teacher"):
        _, _, body, _ = await _get(f"{jibri.base}/jitsi/{ROOM}?lang=en",
                                   await seed_session(jibri.app, role))
        links[role] = body.decode()
    lecture = f"/recordings/jitsi/{jibri.sessions['lecture']}/"
    feedback = f"/recordings/jitsi/{jibri.sessions['feedback']}/"
    assert lecture in links["pupil"] and feedback not in links["pupil"]
    assert lecture in links["teacher"] and feedback not in links["teacher"]  # not moderated



@pytest.mark.parametrize("watch, teacher, pupil, officer", [
    (["moderators"], 200, 403, 403),
    (["moderators", "officer"], 200, 403, 200),
    (["school"], 200, 200, 200),
    ([], 403, 403, 200),  # an approval that names nobody: the officer alone
])
async def test_an_approved_exception_is_watched_as_the_officers_approval_says(
        jibri: Jibri, watch: list[str], teacher: int, pupil: int, officer: int) -> None:
    from gateway.playback.acl import remember_moderator
    from jitsi_hooks.context import jitsi
    from tests.jitsi.support import csrf_of

    officer_cookie = await seed_session(jibri.app, "staff")
    form = [("csrf", await csrf_of(jibri.app, officer_cookie)), ("action", "add"),
            ("reference", "PO-2026-9"), *(("watch", w) for w in watch)]
    async with aiohttp.ClientSession() as http, http.post(
            jibri.base + "/admin/approvals", data=form, headers={"Cookie": officer_cookie},
            allow_redirects=False) as r:
        assert r.status == 302
    await jitsi(jibri.app).rooms.declare_purpose(ROOM, "approved_exception", "PO-2026-9")
    await remember_moderator(jibri.app[keys.STORE], "jitsi", ROOM,
                             person_of(jibri.app, "teacher"), 3600)
    for role, expected in (("teacher", teacher), ("pupil", pupil), ("staff", officer)):
        status, _, _, _ = await _get(_url(jibri, "approved_exception"),
                                     await seed_session(jibri.app, role))
        assert status == expected, role
