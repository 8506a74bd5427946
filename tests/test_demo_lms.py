"""The demo LMS page (`/demo/lms`) and the stand-in's meeting page sessions, on the demo
exactly as `privacy-gateway demo` builds it: names in any script and with the characters
LMSes escape, one meetingID per lesson, and messages in plain words."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.demo.app import DEMO_PARTS
from tests.gateway_fixtures import serve_demo


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[str, Any, aiohttp.ClientSession]]:
    async with serve_demo(tmp_path) as (base, app), aiohttp.ClientSession(
            headers={"Accept-Language": "en"}) as http:
        yield base, app, http


async def _lms(http: aiohttp.ClientSession, base: str, **params: str) -> str:
    async with http.get(f"{base}/demo/lms", params=params) as r:
        assert r.status == 200
        return await r.text()


def _created_id(page: str) -> str:
    found = re.search(r'data-meeting="([^"]+)"', page)
    assert found, page[page.find("<main"):][:1500]
    return found.group(1)


@pytest.mark.parametrize("name", ["Wiskunde (3B)", "Bio/Scheikunde 2", "Juf's les!",
                                  "Les * 4 ~ 5", "a+b=c & d%20e", "Ωμέγα", "数学"])
async def test_names_with_characters_lmses_escape_create_the_lesson(
        demo: tuple[str, Any, aiohttp.ClientSession], name: str) -> None:
    """PHP's urlencode escapes `( ) ' * ! /`; the page sends the query exactly as it
    signed it, so the gateway's checksum matches (it was `checksumError`)."""
    base, app, http = demo
    page = await _lms(http, base, name=name, type="lesson")
    meeting_id = _created_id(page)
    assert "The lesson was created" in page and "checksumError" not in page
    meetings = app[DEMO_PARTS].bbb.meetings
    assert meetings[meeting_id].name == name  # the stand-in got the name unchanged


@pytest.mark.parametrize(("params", "key", "text"), [
    ({"name": "Les 1", "type": "bogus"}, "demo.lms.bad_type",
     "Choose a meeting type from the list."),
    ({"type": "lesson"}, "demo.lms.no_name", "Give the lesson a name."),
    ({"name": "   ", "type": "lesson"}, "demo.lms.no_name", "Give the lesson a name."),
    ({"name": "😀 ?!", "type": "lesson"}, "demo.lms.bad_name",
     "The name needs at least one letter or digit."),
    ({"name": "x" * 81, "type": "lesson"}, "demo.lms.long_name",
     "The name is too long: 80 characters at most."),
    ({"name": "Les\x07 1", "type": "lesson"}, "demo.lms.control_name",
     "invisible control character"),
])
async def test_each_problem_gets_its_own_plain_message(
        demo: tuple[str, Any, aiohttp.ClientSession], params: dict[str, str], key: str,
        text: str) -> None:
    base, app, http = demo
    page = await _lms(http, base, **params)
    assert f'data-error="{key}"' in page and text in page
    assert "data-meeting=" not in page and not app[DEMO_PARTS].bbb.meetings


async def test_the_plain_page_shows_no_message(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    base, _, http = demo
    page = await _lms(http, base)
    assert 'role="alert"' not in page


@pytest.mark.parametrize(("name", "prefix"), [("😀 Bio éè שלום", "bio-ee-"),
                                              ("café", "cafe-"), ("数学", "les-"),
                                              ("Wiskunde (3B)", "wiskunde-3b-")])
async def test_meeting_ids_come_from_any_name(
        demo: tuple[str, Any, aiohttp.ClientSession], name: str, prefix: str) -> None:
    base, _, http = demo
    meeting_id = _created_id(await _lms(http, base, name=name, type="lesson"))
    assert re.fullmatch(re.escape(prefix) + "[0-9a-f]{6}", meeting_id), meeting_id


async def test_a_lesson_with_the_same_name_is_a_new_meeting_of_its_own_type(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    """BBB answers a create for an existing meetingID with that meeting (and the gateway
    keeps its first type); a second lesson of the same name must not land in it."""
    base, app, http = demo
    first = await _lms(http, base, name="Aardrijkskunde 2A", type="lesson")
    second = await _lms(http, base, name="aardrijkskunde 2a", type="confidential")
    first_id, second_id = _created_id(first), _created_id(second)
    assert first_id != second_id
    meetings = app[DEMO_PARTS].bbb.meetings
    assert meetings[first_id].metadata["privacy-meeting-type"] == "lesson"
    assert meetings[second_id].metadata["privacy-meeting-type"] == "confidential"
    teacher_link = re.search(r'id="join-teacher" href="([^"]+)"', second)
    assert teacher_link and f"meetingID={second_id}&" in teacher_link.group(1)


async def _stand_in_join(app: Any, http: aiohttp.ClientSession, meeting_id: str,
                         name: str, role: str) -> str:
    """A join straight on the stand-in (as the gateway's login does): its meeting page."""
    from urllib.parse import urlencode

    from gateway.web import keys

    parts = app[DEMO_PARTS]
    secret = app[keys.SETTINGS].secrets.get("bbb.servers[0].secret").decode()
    for call, params in (("create", [("meetingID", meeting_id), ("name", name),
                                     ("record", "true")]),
                         ("join", [("meetingID", meeting_id), ("fullName", "Juf"),
                                   ("role", role)])):
        query = urlencode(params)
        checksum = hashlib.sha256((call + query + secret).encode()).hexdigest()
        async with http.get(f"{parts.bbb_url}/bigbluebutton/api/{call}?{query}"
                            f"&checksum={checksum}", allow_redirects=False) as r:
            if call == "join":
                assert r.status == 302
                return r.headers["Location"]
    raise AssertionError("unreachable")


async def test_two_meetings_in_one_browser_keep_their_own_sessions(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    """Each join's session is its own cookie: joining a second meeting does not end the
    first tab's (it got 401 every second and showed "401")."""
    _, app, http = demo
    first = await _stand_in_join(app, http, "les-a", "Les A", "MODERATOR")
    second = await _stand_in_join(app, http, "les-b", "Les B", "MODERATOR")
    for page in (first, second):
        token = page.split("sessionToken=")[1]
        async with http.get(page) as r:
            assert r.status == 200
        async with http.get(page.replace("/html5client/join", "/html5client/state")
                            + "&lang=en") as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["users"][0]["name"] == "Juf"
        assert token


async def test_without_a_session_the_page_says_so_in_the_users_language(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    base, app, _ = demo
    bbb_url = app[DEMO_PARTS].bbb_url
    async with aiohttp.ClientSession() as stranger:
        async with stranger.get(f"{bbb_url}/html5client/join?sessionToken=nope",
                                headers={"Accept-Language": "nl"}) as r:
            page = await r.text()
            assert r.status == 401 and r.content_type == "text/html"
        assert '<html lang="nl">' in page and "Geen sessie" in page
        assert f'href="{base}/demo/lms"' in page and "gateway.css" in page
        async with stranger.get(f"{bbb_url}/html5client/state?sessionToken=nope&lang=en") as r:
            assert r.status == 401
            assert (await r.json())["text"].startswith("Your session in this meeting has ended")


async def test_a_lock_while_recording_is_explained_by_the_recording(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    from gateway.demo.meeting_page import refusal_text

    _, app, http = demo
    await _stand_in_join(app, http, "les-c", "Les C", "VIEWER")
    live = next(iter(app[DEMO_PARTS].bbb.live.values()))
    assert "by a moderator" in refusal_text("en", live, "mic_locked")
    live.recording = True
    assert refusal_text("en", live, "mic_locked") == (
        "Refused: your microphone is locked because this lesson is being recorded.")
    assert "omdat deze les wordt opgenomen" in refusal_text("nl", live, "camera_locked")


async def test_a_refusal_by_the_gateway_is_said_in_its_words_not_its_key(
        demo: tuple[str, Any, aiohttp.ClientSession]) -> None:
    base, app, http = demo
    from gateway.demo import bbb_server

    async def refused(*_: Any) -> Any:  # BBB refuses the create, as it may
        return bbb_server._failed("maxMeetingsReached", "The maximum number of meetings "
                                                        "has been reached.")

    app[DEMO_PARTS].bbb._call_create = refused
    page = await _lms(http, base, name="Les 1", type="lesson")
    failed = re.search(r'data-failed="([^"]+)">([^<]+)<', page)
    assert failed, page[page.find("<main"):][:1500]
    key, text = failed.groups()
    assert text.startswith("The gateway refused the lesson. Its answer:")
    assert "maximum number of meetings" in text
    assert key not in text and "data-meeting=" not in page


async def test_an_existing_meeting_id_is_never_claimed_as_a_new_lesson(
        demo: tuple[str, Any, aiohttp.ClientSession], monkeypatch: pytest.MonkeyPatch) -> None:
    """Should two lessons ever get one meetingID, BBB (and the gateway, which keeps the
    first meeting type) answers the existing meeting: the page says no lesson was made."""
    from gateway.demo import lms

    base, app, http = demo
    monkeypatch.setattr(lms, "meeting_id_for", lambda name: "same-id")
    assert _created_id(await _lms(http, base, name="Les", type="lesson")) == "same-id"
    page = await _lms(http, base, name="Gesprek", type="confidential")
    assert 'data-error="demo.lms.duplicate"' in page and "no new lesson was created" in page
    assert "join-teacher" not in page
    meeting = app[DEMO_PARTS].bbb.meetings["same-id"]
    assert meeting.metadata["privacy-meeting-type"] == "lesson"
