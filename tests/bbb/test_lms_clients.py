"""The proxy driven as an LMS drives it, by independent BBB client libraries from PyPI.

`bigbluebutton-api-python` and `bbb-client` both sign with SHA-1 only, so the
school enables sha1 for this (old) LMS: the proxy accepts it and signs towards
BBB with SHA-256 (style_security.md B.5).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from bbb_client.domain.meeting_management.model import Bbb
from bigbluebutton_api_python import BigBlueButton

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, new_secret, start_gateway

SHA1_TOO = ["sha1", "sha256", "sha384", "sha512"]


@pytest.fixture
async def old_lms_gateway(tmp_path: Path, emulator: BBBEmulator) -> AsyncIterator[Gateway]:
    gw = await start_gateway(tmp_path, [emulator], checksum_algorithms=SHA1_TOO,
                             lms_secrets=[new_secret()])
    yield gw
    await gw.close()


async def test_an_lms_using_bigbluebutton_api_python_works_through_the_gateway(
        old_lms_gateway: Gateway, emulator: BBBEmulator) -> None:
    gw = old_lms_gateway
    lms = BigBlueButton(gw.base + "/bigbluebutton/api/", gw.lms_secret)
    created = await asyncio.to_thread(
        lms.create_meeting, "course-7b-wis",
        {"name": "Wiskunde 7B", "record": "true", "autoStartRecording": "true",
         "moderatorPW": "mod-pw", "attendeePW": "att-pw"}, {"bbb-origin": "Moodle"})
    assert created.get_return_code() == "SUCCESS"
    assert created.get_moderator_pw() == "mod-pw"
    sent = emulator.calls("create")[-1]
    assert sent.checksum_ok and len(sent.param("checksum") or "") == 64  # re-signed sha256
    assert sent.param("autoStartRecording") == "false"
    assert sent.param("meta_bbb-origin") == "Moodle"

    # join: the URL the LMS hands to the browser leads to the school login, not into BBB
    join_url = lms.get_join_meeting_url("Juf Jansen", "course-7b-wis", "mod-pw", {})
    async with aiohttp.ClientSession() as browser, browser.get(
            join_url, allow_redirects=False) as r:
        assert r.status == 302
        assert r.headers["Location"].startswith(gw.base + "/bbb/join/")
    assert emulator.calls("join") == []  # nothing reached BBB without a login

    meetings = (await asyncio.to_thread(lms.get_meetings)).get_field("meetings")["meeting"]
    assert meetings["meetingID"] == "course-7b-wis"

    record_id = emulator.add_recording("course-7b-wis", meta={"privacy-purpose": "lecture"})
    recordings = await asyncio.to_thread(lms.get_recordings, "course-7b-wis")
    (recording,) = recordings.get_recordings() if isinstance(
        recordings.get_field("recordings")["recording"], list) else [
        recordings.get_field("recordings")["recording"]]
    assert recording["recordID"] == record_id
    assert recording["metadata"]["privacy-purpose"] == "lecture"

    deleted = await asyncio.to_thread(lms.delete_recordings, record_id)
    assert deleted.is_deleted()
    assert emulator.recording_state(record_id) == "deleted"
    assert (emulator.root / "deleted" / "presentation" / record_id).is_dir()
    assert all(r.checksum_ok for r in emulator.requests)


async def test_an_lms_using_bbb_client_works_through_the_gateway(
        old_lms_gateway: Gateway, emulator: BBBEmulator) -> None:
    gw = old_lms_gateway
    lms = Bbb(gw.base + "/bigbluebutton/api", gw.lms_secret)
    assert await asyncio.to_thread(lms.create_meeting, "staff-room", "Teamoverleg")
    sent = emulator.calls("create")[-1]
    # bbb-client disables every feature it is not told to keep, backgrounds included: G5 wins.
    features = (sent.param("disabledFeatures") or "").split(",")
    assert "virtualBackgrounds" not in features and "chat" in features
    meetings = await asyncio.to_thread(lms.get_meetings)
    assert [m.meetingID for m in meetings] == ["staff-room"]
    assert meetings[0].participants == []
    url = lms.generate_join_url("staff-room", "Meneer Bakker", moderator=True)
    async with aiohttp.ClientSession() as browser, browser.get(
            url, allow_redirects=False) as r:
        assert r.status == 302 and "/bbb/join/" in r.headers["Location"]


async def test_a_sha1_lms_is_refused_when_sha1_is_not_enabled(
        gateway: Gateway, emulator: BBBEmulator) -> None:
    lms = BigBlueButton(gateway.base + "/bigbluebutton/api/", gateway.lms_secret)
    from bigbluebutton_api_python.exception import BBBException

    with pytest.raises(BBBException) as err:
        await asyncio.to_thread(lms.get_meetings)
    assert err.value.key == "checksumError"
    assert emulator.calls("getMeetings") == []
