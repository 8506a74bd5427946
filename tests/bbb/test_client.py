"""The one BBB client (bbb_hooks.client): one signing path, one error type.

The proxy, the recording guard and the sweeper's recording source meet the same
failure of a BBB server as the same bounded reason, each in its own vocabulary:
the LMS gets BBB XML's messageKey, the guard a BBBError, the sweeper a failure
label. Checksums are verified by the emulator as bbb-web verifies them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bbb_hooks import client, guard_api
from bbb_hooks.backend import backend_call, read_all
from bbb_hooks.client import REASONS, BBBError
from bbb_hooks.inbound import ApiError
from bbb_hooks.recordings import BBBRecordings
from bbb_hooks.servers import Server
from gateway.demo.bbb_server import BBBEmulator
from gateway.retention.sweeper import DeletionFailed
from tests.support import free_port

SECRET = "s" * 40


@pytest.fixture
async def emu(tmp_path: Path) -> AsyncIterator[BBBEmulator]:
    emulator = BBBEmulator(SECRET, tmp_path)
    await emulator.start()
    yield emulator
    await emulator.stop()


def server_at(url: str) -> Server:
    return Server(name="bbb1", url=url, secret=SECRET.encode(), algorithm="sha256")


async def _through_the_proxy(http: aiohttp.ClientSession, server: Server) -> ApiError:
    with pytest.raises(ApiError) as refused:
        async with backend_call(http, server, "getMeetings", ()) as response:
            await read_all(response, client.MAX_ANSWER)
    return refused.value


# fault -> (the client's reason, the LMS's messageKey, the sweeper's failure label)
FAULTS = {
    "close": ("unavailable", "backendUnavailable", "bbb_unreachable"),
    "http_500": ("http_status", "backendError", "bbb_http"),
    "broken_xml": ("broken_xml", "backendError", "bbb_bad_xml"),
    "slow_stream": ("timeout", "backendUnavailable", "bbb_timeout"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_one_failure_is_one_reason_for_proxy_guard_and_sweeper(
        emu: BBBEmulator, fault: str) -> None:
    reason, message_key, label = FAULTS[fault]
    emu.fault = fault
    server = server_at(emu.url)
    timeout = aiohttp.ClientTimeout(total=0.3 if fault == "slow_stream" else 10)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        with pytest.raises(BBBError) as guard_saw:
            await guard_api.running_meetings(http, server)
        with pytest.raises(DeletionFailed) as sweeper_saw:
            await BBBRecordings(server, http).existing(["a" * 40 + "-1"])
        # The proxy checks an answer's XML itself (it may pass it on unparsed).
        lms_saw = None if fault == "broken_xml" else await _through_the_proxy(http, server)
    assert guard_saw.value.reason == reason and guard_saw.value.server == "bbb1"
    assert sweeper_saw.value.reason == label
    if lms_saw is not None:
        assert (lms_saw.message_key, lms_saw.reason) == (message_key, reason)


async def test_a_server_that_is_down_is_unavailable() -> None:
    server = server_at(f"http://127.0.0.1:{free_port()}/bigbluebutton")
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BBBError) as failure:
            await client.succeeded(http, server, "getMeetings", ())
    assert failure.value.reason == "unavailable"


async def test_failed_and_too_large_answers(emu: BBBEmulator) -> None:
    server = server_at(emu.url)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(BBBError) as refused:
            await client.succeeded(http, server, "getMeetingInfo", (("meetingID", "none"),))
        with pytest.raises(BBBError) as large:
            await client.succeeded(http, server, "getMeetings", (), limit=16)
    assert (refused.value.reason, refused.value.message_key) == ("failed", "notFound")
    assert large.value.reason == "too_large"


def test_reasons_are_bounded() -> None:
    assert REASONS == {"unavailable", "timeout", "http_status", "too_large", "too_long",
                       "broken_xml", "failed"}
    with pytest.raises(ValueError, match="unknown BBB failure reason"):
        BBBError("bbb1", "meeting 42 is gone")  # free text never becomes a label


async def test_multi_id_calls_are_sent_exactly_as_signed(emu: BBBEmulator) -> None:
    """`recordID=a,b`: yarl must not turn %2C back into a comma after signing; a list
    too long for BBB's request line goes as a form POST signed over the canonical form."""
    server = server_at(emu.url)
    few = [f"{i:040x}-1700000000000" for i in range(3)]
    many = [f"{i:040x}-1700000000000" for i in range(200)]
    async with aiohttp.ClientSession() as http:
        api = BBBRecordings(server, http)
        assert await api.existing(few) == set()
        assert await api.existing(many) == set()
    short, long = emu.calls("getRecordings")
    assert short.method == "GET" and "recordID=" + "%2C".join(few) in short.raw_query
    assert long.method == "POST" and long.raw_query == ""
    assert short.checksum_ok and long.checksum_ok
