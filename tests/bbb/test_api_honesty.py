"""BBB-exact answers and honest answers with several servers (issue 10).

An LMS reads these answers to decide what to show and what to retry: a success
must mean it was done on every server involved, a list must not silently leave a
server out, and an id on a server that is down is not "notFound".
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest

from gateway.demo.bbb_server import BBBEmulator
from tests.bbb.support import Gateway, get_xml, new_secret, start_gateway
from tests.bbb.test_proxy import create, failed_key

Servers = tuple[Gateway, list[BBBEmulator]]


# -- join answered as bbb-web answers it ------------------------------------------------

@pytest.mark.parametrize("attack, extra", [
    ("no_role_no_password", []),
    ("unknown_role", [("role", "ADMIN")]),
    ("unknown_role_with_a_valid_password", [("role", "ADMIN"), ("password", "ap")]),
])
async def test_join_without_a_known_role_is_invalid_password_and_gets_no_ticket(
        attack: str, extra: list[tuple[str, str]], gateway: Gateway,
        http: aiohttp.ClientSession) -> None:
    await create(http, gateway, "r1", ("moderatorPW", "mp"), ("attendeePW", "ap"))
    keys_before = gateway.store.key_count()  # type: ignore[attr-defined]
    url = gateway.url("join", [("meetingID", "r1"), ("fullName", "A"), *extra])
    assert failed_key(*await get_xml(http, url)) == "invalidPassword"
    assert gateway.store.key_count() == keys_before  # type: ignore[attr-defined]  # no ticket


# -- gateway-owned metadata -------------------------------------------------------------

async def test_no_lms_writes_privacy_metadata_on_create(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    """G14, G16: the retain-until an LMS invents would travel with the recording."""
    await create(http, gateway, "meta-1", ("meta_privacy-retain-until", "2099-01-01"),
                 ("meta_PRIVACY-hold", "none"), ("meta_privacy-purpose", "feedback"),
                 ("meta_course", "7b"))
    sent = emulator.calls("create")[-1]
    assert sent.checksum_ok
    names = {k.lower() for k in sent.params}
    assert "meta_privacy-retain-until" not in names and "meta_privacy-hold" not in names
    assert sent.param("meta_privacy-purpose") == "lecture"  # the lesson's, not the LMS's
    assert sent.param("meta_course") == "7b"
    assert emulator.meetings["meta-1"].metadata.get("privacy-retain-until") is None


async def test_no_lms_writes_privacy_metadata_on_update_in_any_spelling(
        gateway: Gateway, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    rid = emulator.add_recording("m-upd", meta={"privacy-purpose": "lecture"})
    url = gateway.url("updateRecordings", [("recordID", rid),
                                           ("meta_Privacy-Retain-Until", "2099-01-01")])
    assert failed_key(*await get_xml(http, url)) == "privacyMetadataReadOnly"
    assert emulator.calls("updateRecordings") == []
    assert "privacy-retain-until" not in emulator.recording_meta(rid)


# -- lists ------------------------------------------------------------------------------

async def test_no_meetings_is_said_as_bbb_says_it(
        two_servers: Servers, http: aiohttp.ClientSession) -> None:
    gw, _ = two_servers
    _, _, body = await get_xml(http, gw.url("getMeetings"))
    root = ET.fromstring(body)
    assert root.findtext("returncode") == "SUCCESS"
    assert root.findtext("messageKey") == "noMeetings"
    assert root.find("meetings") is not None


@pytest.mark.parametrize("fault", ["down", "http_500", "broken_xml"])
@pytest.mark.parametrize("call", ["getMeetings", "getRecordings"])
async def test_a_list_with_a_server_down_fails_rather_than_leaving_it_out(
        fault: str, call: str, two_servers: Servers, http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    for i in range(6):
        await create(http, gw, f"l-{i}")
    emus[1].add_recording("on-1")
    if fault == "down":
        await emus[0].stop()
    else:
        emus[0].fault = fault
    key = failed_key(*await get_xml(http, gw.url(call)))
    assert key == ("backendUnavailable" if fault == "down" else "backendError")


# -- record calls over two servers ------------------------------------------------------

RECORD_CALLS = [
    ("deleteRecordings", [], "<deleted>true</deleted>"),
    ("publishRecordings", [("publish", "false")], "<published>false</published>"),
    ("updateRecordings", [("meta_course", "7b")], "<updated>true</updated>"),
]


def _changed(emu: BBBEmulator, rid: str, call: str) -> bool:
    if call == "updateRecordings":
        return emu.recording_meta(rid).get("course") == "7b"
    return emu.recording_state(rid) == ("deleted" if call == "deleteRecordings"
                                        else "unpublished")


def _add(emu: BBBEmulator, meeting: str) -> str:
    # A lecture: published, and left so by the retention sweeper running in the gateway.
    return emu.add_recording(meeting, meta={"privacy-purpose": "lecture"})


@pytest.mark.parametrize("call, extra, done", RECORD_CALLS, ids=[c[0] for c in RECORD_CALLS])
async def test_ids_on_both_servers_are_done_on_both(
        call: str, extra: list[tuple[str, str]], done: str, two_servers: Servers,
        http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    a, b = _add(emus[0], "rec-a"), _add(emus[1], "rec-b")
    _, _, body = await get_xml(http, gw.url(call, [("recordID", f"{a},{b}"), *extra]))
    assert done in body
    assert _changed(emus[0], a, call) and _changed(emus[1], b, call)


@pytest.mark.parametrize("call, extra, done", RECORD_CALLS, ids=[c[0] for c in RECORD_CALLS])
async def test_ids_with_a_server_down_are_never_reported_done(
        call: str, extra: list[tuple[str, str]], done: str, two_servers: Servers,
        http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    a, b = _add(emus[0], "rec-a"), _add(emus[1], "rec-b")
    await emus[1].stop()
    status, ctype, body = await get_xml(http, gw.url(call, [("recordID", f"{a},{b}"), *extra]))
    assert failed_key(status, ctype, body) == "backendUnavailable"
    assert b in (ET.fromstring(body).findtext("message") or "")  # which ids were not done
    assert not _changed(emus[0], a, call)  # nothing half-done behind a FAILED


@pytest.mark.parametrize("call, extra, done", RECORD_CALLS, ids=[c[0] for c in RECORD_CALLS])
async def test_an_id_only_on_the_down_server_is_not_not_found(
        call: str, extra: list[tuple[str, str]], done: str, two_servers: Servers,
        http: aiohttp.ClientSession) -> None:
    gw, emus = two_servers
    b = _add(emus[1], "rec-b")
    await emus[1].stop()
    key = failed_key(*await get_xml(http, gw.url(call, [("recordID", b), *extra])))
    assert key == "backendUnavailable"


async def test_an_id_on_no_server_is_not_found(
        two_servers: Servers, http: aiohttp.ClientSession) -> None:
    gw, _ = two_servers
    url = gw.url("deleteRecordings", [("recordID", "0" * 40 + "-1700000000000")])
    assert failed_key(*await get_xml(http, url)) == "notFound"


async def test_a_webhook_is_only_reported_created_when_every_server_created_it(
        tmp_path: Path, http: aiohttp.ClientSession) -> None:
    emus = [BBBEmulator(new_secret(), tmp_path / f"h{i}") for i in range(2)]
    for emu in emus:
        await emu.start()
    gw = await start_gateway(tmp_path, emus, allow_webhooks=True)
    try:
        emus[1].fault = "http_500"
        url = gw.url("hooks/create", [("callbackURL", "https://lms.school.example/hook")])
        assert failed_key(*await get_xml(http, url)) == "backendError"
        emus[1].fault = None

        async def refuse(p: dict[str, str], body: bytes, request: object) -> object:
            from gateway.demo.bbb_server import _failed

            return _failed("createHookError", "An error happened while creating your hook.")

        emus[1]._call_hooks_create = refuse  # type: ignore[method-assign,assignment]
        assert failed_key(*await get_xml(http, url)) == "createHookError"
    finally:
        await gw.close()
        for emu in emus:
            await emu.stop()
