"""The API proxy: pass-through calls, attendee stripping, several servers, bad input.

Every refusal is BBB XML with HTTP 200 (as bbb-web answers), never HTML, never a 500.
"""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from bbb_hooks.meetings import meeting_by_internal_id, meeting_info, meeting_name
from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml, lms_url, new_secret, start_gateway


def failed_key(status: int, ctype: str, body: str) -> str:
    assert status == 200 and ctype == "text/xml", (status, ctype, body[:200])
    root = ET.fromstring(body)
    assert root.findtext("returncode") == "FAILED", body
    assert root.findtext("message")
    return root.findtext("messageKey") or ""


async def create(http: aiohttp.ClientSession, gw: Gateway, meeting_id: str,
                 *extra: tuple[str, str]) -> ET.Element:
    status, _, body = await get_xml(http, gw.url("create", [("meetingID", meeting_id), *extra]))
    root = ET.fromstring(body)
    assert status == 200 and root.findtext("returncode") == "SUCCESS", body
    return root


async def test_create_is_remembered_for_the_guard_and_retention(
        gateway: Gateway, http: aiohttp.ClientSession) -> None:
    root = await create(http, gateway, "les-1", ("meta_privacy-meeting-type", "meeting"))
    record = await meeting_info(gateway.store, "les-1")
    assert record is not None
    assert (record.meeting_type, record.purpose, record.server) == ("meeting", "feedback", "bbb1")
    assert record.create_time == root.findtext("createTime")
    assert record.policy_version == "2026.1"
    by_internal = await meeting_by_internal_id(gateway.store, record.internal_meeting_id)
    assert by_internal == record


async def test_create_keeps_the_meetings_name_for_its_teachers_home_page(
        gateway: Gateway, http: aiohttp.ClientSession) -> None:
    """G13: the teacher's home page lists a meeting by the name the LMS gave it."""
    await create(http, gateway, "les-2", ("name", "Wiskunde 2B"))
    assert await meeting_name(gateway.store, "les-2") == "Wiskunde 2B"
    await create(http, gateway, "les-3")
    assert await meeting_name(gateway.store, "les-3") == ""


async def test_repeated_create_keeps_the_first_meeting_type(
        gateway: Gateway, http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "dup", ("meta_privacy-meeting-type", "confidential"))
    again = await create(http, gateway, "dup")
    assert again.findtext("messageKey") == "duplicateWarning"
    record = await meeting_info(gateway.store, "dup")
    assert record is not None and record.meeting_type == "confidential"


async def _direct_join(emulator: BBBEmulator, http: aiohttp.ClientSession, meeting_id: str,
                       name: str) -> None:
    url = lms_url(emulator.base, "join", [("meetingID", meeting_id), ("fullName", name),
                                          ("role", "VIEWER"), ("redirect", "false")],
                  emulator.secret)
    async with http.get(url) as r:
        assert "SUCCESS" in await r.text()


@pytest.mark.parametrize("call", ["getMeetings", "getMeetingInfo"])
async def test_attendee_lists_are_stripped_but_counts_stay(
        call: str, gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "class-1")
    await _direct_join(emulator, http, "class-1", "Pupil Piet")
    status, ctype, body = await get_xml(http, gateway.url(call, [("meetingID", "class-1")]))
    assert (status, ctype) == (200, "text/xml")
    assert "Pupil Piet" not in body  # G20
    root = ET.fromstring(body)
    assert root.findtext(".//participantCount") == "1"
    assert root.find(".//attendees") is not None and len(root.find(".//attendees") or []) == 0


async def test_attendee_lists_pass_when_the_policy_keeps_them(
        tmp_path: Path, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    gw = await start_gateway(tmp_path, [emulator], strip_attendees=False)
    try:
        await create(http, gw, "class-2")
        await _direct_join(emulator, http, "class-2", "Pupil Piet")
        _, _, body = await get_xml(http, gw.url("getMeetingInfo", [("meetingID", "class-2")]))
        assert "Pupil Piet" in body
    finally:
        await gw.close()


@pytest.mark.parametrize("call, params, expected", [
    ("isMeetingRunning", [("meetingID", "p")], "<running>false</running>"),
    ("end", [("meetingID", "p")], "sentEndMeetingRequest"),
    ("getRecordings", [("meetingID", "p")], "noRecordings"),
])
async def test_other_calls_are_resigned_and_passed_through(
        call: str, params: list[tuple[str, str]], expected: str, gateway: Gateway,
        emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "p")
    status, ctype, body = await get_xml(http, gateway.url(call, params))
    assert (status, ctype) == (200, "text/xml") and expected in body
    sent = emulator.calls(call)[-1]
    assert sent.checksum_ok and [(k, v[0]) for k, v in sent.params.items()
                                 if k != "checksum"] == params


async def test_publish_update_and_delete_recordings_move_files(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    rid = emulator.add_recording("rec-meeting")
    _, _, body = await get_xml(http, gateway.url("publishRecordings",
                                                 [("recordID", rid), ("publish", "false")]))
    assert "<published>false</published>" in body
    assert emulator.recording_state(rid) == "unpublished"
    _, _, body = await get_xml(http, gateway.url("updateRecordings",
                                                 [("recordID", rid), ("meta_note", "x")]))
    assert "<updated>true</updated>" in body
    _, _, body = await get_xml(http, gateway.url("getRecordings",
                                                 [("recordID", rid), ("state", "any")]))
    assert "<note>x</note>" in body
    _, _, body = await get_xml(http, gateway.url("deleteRecordings", [("recordID", rid)]))
    assert "<deleted>true</deleted>" in body
    assert (emulator.root / "deleted" / "presentation" / rid / "metadata.xml").exists()
    assert (emulator.root / "recording" / "raw" / rid).exists()  # BBB leaves raw data


async def test_large_recording_lists_are_streamed_whole(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    now_ms = int(time.time() * 1000)  # recent: not due for the retention sweeper
    for i in range(2500):  # about 2 MB of XML: past the checked-whole prefix
        emulator.add_recording(f"m{i}", start_ms=now_ms - 3_600_000 + i,
                               meta={"filler": "x" * 300})
    status, _, body = await get_xml(http, gateway.url("getRecordings", [("limit", "5000")]))
    root = ET.fromstring(body)
    assert status == 200 and len(root.findall("recordings/recording")) == 2500


async def test_join_with_redirect_false_answers_xml_with_the_ticket_url(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "x1")
    _, ctype, body = await get_xml(http, gateway.url("join", [
        ("meetingID", "x1"), ("fullName", "Sam"), ("role", "VIEWER"), ("redirect", "false")]))
    root = ET.fromstring(body)
    assert ctype == "text/xml" and root.findtext("returncode") == "SUCCESS"
    assert (root.findtext("url") or "").startswith(gateway.base + "/bbb/join/")
    assert root.findtext("meeting_id")
    assert emulator.calls("join") == []


# -- several servers ------------------------------------------------------------------

async def test_meetings_are_pinned_to_one_server_and_lists_are_merged(
        two_servers: tuple[Gateway, list[BBBEmulator]], http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    ids = [f"pin-{i}" for i in range(12)]
    for meeting_id in ids:
        await create(http, gw, meeting_id)
    homes = {m: [i for i, e in enumerate(emus) if m in e.meetings] for m in ids}
    assert all(len(h) == 1 for h in homes.values())  # each on exactly one server
    assert {h[0] for h in homes.values()} == {0, 1}  # and both servers used
    for meeting_id in ids:
        await get_xml(http, gw.url("isMeetingRunning", [("meetingID", meeting_id)]))
        home = emus[homes[meeting_id][0]]
        assert home.calls("isMeetingRunning")[-1].param("meetingID") == meeting_id
    _, _, body = await get_xml(http, gw.url("getMeetings"))
    listed = {m.findtext("meetingID") for m in ET.fromstring(body).iter("meeting")}
    assert listed == set(ids)
    emus[0].add_recording("pin-a")
    emus[1].add_recording("pin-b")
    _, _, body = await get_xml(http, gw.url("getRecordings"))
    assert {r.findtext("meetingID") for r in ET.fromstring(body).iter("recording")} == {
        "pin-a", "pin-b"}


# -- bad input, broken and missing backends ---------------------------------------------

def _raw(gw: Gateway, call: str, query: str, secret: str | None = None,
         algorithm: str = "sha256") -> URL:
    import hashlib

    checksum = hashlib.new(algorithm, (call + query + (secret or gw.lms_secret)).encode())
    return URL(f"{gw.base}/bigbluebutton/api/{call}?{query}&checksum={checksum.hexdigest()}",
               encoded=True)


BAD_GET = [
    ("malformed_percent_escape", lambda gw: _raw(gw, "create", "meetingID=%zz"), "malformedQuery"),
    ("not_utf8", lambda gw: _raw(gw, "create", "meetingID=%ff"), "malformedQuery"),
    ("duplicate_parameters", lambda gw: _raw(gw, "create", "meetingID=a&record=false&record=true"),
     "duplicateParameter"),
    ("checksum_wrong_length", lambda gw: URL(f"{gw.base}/bigbluebutton/api/getMeetings"
                                             "?checksum=abc123"), "checksumError"),
    ("checksum_missing", lambda gw: URL(f"{gw.base}/bigbluebutton/api/getMeetings"),
     "checksumError"),
    ("wrong_secret", lambda gw: _raw(gw, "getMeetings", "a=1", secret=new_secret()),
     "checksumError"),
    ("sha1_not_enabled", lambda gw: _raw(gw, "getMeetings", "a=1", algorithm="sha1"),
     "checksumError"),
    ("signed_for_another_call", lambda gw: URL(str(_raw(gw, "getMeetings", "a=1")).replace(
        "getMeetings", "end"), encoded=True), "checksumError"),
    ("unknown_call", lambda gw: _raw(gw, "getEverything", "a=1"), "unsupportedRequest"),
    ("odd_call_name", lambda gw: URL(f"{gw.base}/bigbluebutton/api/get%20Meetings?checksum=1",
                                     encoded=True), "unsupportedRequest"),
    ("create_without_meeting_id", lambda gw: _raw(gw, "create", "name=x"),
     "missingParamMeetingID"),
    ("unknown_meeting_type", lambda gw: _raw(gw, "create",
                                             "meetingID=a&meta_privacy-meeting-type=confidental"),
     "invalidMeetingType"),
    ("join_unknown_meeting", lambda gw: _raw(gw, "join", "meetingID=nope&fullName=A"),
     "invalidMeetingIdentifier"),
    ("join_without_name", lambda gw: _raw(gw, "join", "meetingID=nope"),
     "missingParamFullName"),
]


@pytest.mark.parametrize("attack, make_url, key", BAD_GET, ids=[r[0] for r in BAD_GET])
async def test_bad_requests_get_bbb_xml_errors(attack: str, make_url: object, key: str,
                                               gateway: Gateway,
                                               http: aiohttp.ClientSession) -> None:
    assert callable(make_url)
    assert failed_key(*await get_xml(http, make_url(gateway))) == key


async def test_join_with_a_wrong_password_is_refused(
        gateway: Gateway, http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "pw", ("moderatorPW", "mp"), ("attendeePW", "ap"))
    url = gateway.url("join", [("meetingID", "pw"), ("fullName", "A"), ("password", "guess")])
    assert failed_key(*await get_xml(http, url)) == "invalidPassword"


async def _post(http: aiohttp.ClientSession, url: URL | str, data: object,
                content_type: str) -> tuple[int, str, str]:
    async with http.post(url, data=data, headers={"Content-Type": content_type}) as r:
        return r.status, r.content_type, await r.text()


async def test_post_bad_input(gateway: Gateway, http: aiohttp.ClientSession) -> None:
    form = "application/x-www-form-urlencoded"
    both = gateway.url("create", [("meetingID", "a")])
    assert failed_key(*await _post(http, both, "meetingID=a", form)) == "checksumError"
    assert failed_key(*await _post(http, both, b"\xff\xfe=1", form)) == "malformedQuery"
    assert failed_key(*await _post(http, both, b"--x\r\n", "multipart/form-data; boundary=x")
                      ) == "unsupportedContentType"
    async with http.put(both) as r:
        assert failed_key(r.status, r.content_type, await r.text()) == "unsupportedRequest"


@pytest.mark.parametrize("chunked", [False, True])
async def test_huge_bodies_are_refused(chunked: bool, tmp_path: Path, emulator: BBBEmulator,
                                       http: aiohttp.ClientSession) -> None:
    gw = await start_gateway(tmp_path, [emulator], max_body_bytes=4096)
    try:
        body = b"<modules>" + b"x" * 100_000 + b"</modules>"

        async def chunks() -> AsyncIterator[bytes]:
            for i in range(0, len(body), 8192):
                yield body[i:i + 8192]

        url = gw.url("create", [("meetingID", "big")])
        result = await _post(http, url, chunks() if chunked else body, "text/xml")
        assert failed_key(*result) == "requestTooLarge"
        assert emulator.calls("create") == []
    finally:
        await gw.close()


CALLS = [("create", [("meetingID", "f")]), ("getMeetings", []),
         ("getMeetingInfo", [("meetingID", "f")]), ("getRecordings", []),
         ("isMeetingRunning", [("meetingID", "f")])]


@pytest.mark.parametrize("fault, key", [("broken_xml", "backendError"),
                                        ("xml_bomb", "backendError"),
                                        ("http_500", "backendError"),
                                        ("close", "backendUnavailable")])
@pytest.mark.parametrize("call, params", CALLS, ids=[c[0] for c in CALLS])
async def test_a_broken_backend_gives_bbb_xml_errors(
        fault: str, key: str, call: str, params: list[tuple[str, str]], gateway: Gateway,
        emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    emulator.fault = fault
    assert failed_key(*await get_xml(http, gateway.url(call, params))) == key


async def test_a_backend_that_is_down_gives_bbb_xml_errors(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    await emulator.stop()
    for call, params in CALLS:
        assert failed_key(*await get_xml(http, gateway.url(call, params))) == "backendUnavailable"


async def test_sha1_for_an_old_lms_is_warned_about_at_start(
        tmp_path: Path, emulator: BBBEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="bbb_hooks.app")
    gw = await start_gateway(tmp_path, [emulator],
                             checksum_algorithms=["sha1", "sha256", "sha384", "sha512"])
    await gw.close()
    assert any("sha1" in r.getMessage() for r in caplog.records if r.name == "bbb_hooks.app")


async def test_meetings_and_tickets_live_in_redis(
        tmp_path: Path, emulator: BBBEmulator, redis_url: str,
        http: aiohttp.ClientSession) -> None:
    from gateway.store.redis_store import RedisStore

    store = RedisStore.from_url(redis_url, "pgwbbb")
    gw = await start_gateway(tmp_path, [emulator], store=store)
    try:
        await create(http, gw, "redis-1", ("meta_privacy-meeting-type", "confidential"))
        record = await meeting_info(store, "redis-1")
        assert record is not None and record.meeting_type == "confidential"
        status, _, _ = await get_xml(http, gw.url("join", [("meetingID", "redis-1"),
                                                           ("fullName", "A"),
                                                           ("role", "VIEWER")]))
        assert status == 302
    finally:
        await gw.close()


async def test_checksum_spliced_into_a_parameter_name_is_refused(
        gateway: Gateway, http: aiohttp.ClientSession, emulator: BBBEmulator) -> None:
    """G3: a captured create URL must not be re-shaped so that the signed string still
    verifies but the meeting type parameter disappears (and record=true survives)."""
    signed = str(gateway.url("create", [("meetingID", "talk-1"), ("name", "Talk"),
                                        ("meta_privacy-meeting-type", "confidential"),
                                        ("record", "true")]))
    checksum = signed.rsplit("checksum=", 1)[1]
    spliced = signed.replace("meta_privacy-m", f"meta_privacy-mchecksum={checksum}&", 1)
    status, _, body = await get_xml(http, URL(spliced, encoded=True))
    assert status == 200 and "<messageKey>checksumError</messageKey>" in body
    assert emulator.calls("create") == []  # nothing reached BBB


async def _registered(gateway: Gateway, emulator: BBBEmulator, purpose: str,
                      holds: frozenset[str] = frozenset()) -> str:
    from gateway.policy.retention import RegistryRow
    from gateway.store.registry import Registry

    # Private purposes start unpublished, as the sweeper leaves them (G14).
    rid = emulator.add_recording("rec-" + purpose, meta={"privacy-purpose": purpose},
                                 published=purpose == "lecture")
    registry = Registry(gateway.store)
    row = RegistryRow(
        platform="bbb", recording_id=rid, server="bbb1", meeting_ref=rid.rsplit("-", 1)[0],
        meeting_type="lesson", purpose=purpose, created=0.0, retain_until=4e9)
    await registry.put(row)
    for hold in holds:  # holds live in their own set (gateway/registry.py)
        await registry.add_hold(row.key, hold)
    return rid


@pytest.mark.parametrize(("rule", "purpose", "holds", "call", "params", "key"), [
    ("G14_exam_evidence_is_not_republished", "exam_evidence", frozenset(),
     "publishRecordings", [("publish", "true")], "notForDistribution"),
    ("G12_held_recording_is_not_deleted", "lecture", frozenset({"objection:abc12345"}),
     "deleteRecordings", [], "recordingOnHold"),
    ("G12_held_recording_is_not_republished", "lecture", frozenset({"legal:case-1"}),
     "publishRecordings", [("publish", "true")], "recordingOnHold"),
    ("G16_privacy_metadata_is_read_only", "feedback", frozenset(),
     "updateRecordings", [("meta_privacy-purpose", "exam_evidence")], "privacyMetadataReadOnly"),
])
async def test_lms_cannot_undo_the_recording_policy(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession, rule: str,
        purpose: str, holds: frozenset[str], call: str, params: list[tuple[str, str]],
        key: str) -> None:
    rid = await _registered(gateway, emulator, purpose, holds)
    before = emulator.recording_state(rid)
    status, ctype, body = await get_xml(http, gateway.url(call, [("recordID", rid), *params]))
    assert failed_key(status, ctype, body) == key
    assert emulator.calls(call) == []  # nothing reached BBB
    assert emulator.recording_state(rid) == before


async def test_a_lecture_may_be_published_again(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    rid = await _registered(gateway, emulator, "lecture")
    await get_xml(http, gateway.url("publishRecordings", [("recordID", rid), ("publish", "false")]))
    _, _, body = await get_xml(http, gateway.url("publishRecordings",
                                                 [("recordID", rid), ("publish", "true")]))
    assert "<published>true</published>" in body and emulator.recording_state(rid) == "published"


async def test_webhooks_are_refused_unless_the_policy_allows_them(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    """G20, G21: a webhook would send names, addresses and chat to any URL."""
    status, ctype, body = await get_xml(http, gateway.url(
        "hooks/create", [("callbackURL", "https://analytics.example/collect")]))
    assert failed_key(status, ctype, body) == "webhooksNotAllowed"
    assert emulator.calls("hooks/create") == []


async def test_webhooks_pass_when_the_policy_allows_them(
        tmp_path: Path, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    gateway = await start_gateway(tmp_path, [emulator], allow_webhooks=True)
    try:
        params = [("callbackURL", "https://lms.school.example/hook")]
        status, _, body = await get_xml(http, gateway.url("hooks/create", params))
        assert status == 200 and "<hookID>" in body
        assert emulator.calls("hooks/create")[-1].checksum_ok
    finally:
        await gateway.close()
