"""The demo's BBB stand-in on its bus: the RESP broker speaks to the guard's own
connections, and the stand-in answers the guard's commands as akka-apps does
(reference/bbb.md §5). The walk-through (tests/test_demo_walkthrough.py) shows
the whole story in a browser; these pin the parts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bbb_hooks import bus_codec as codec
from bbb_hooks.bus_link import BusPublisher, BusReader
from gateway.demo.bbb_live import LiveBBB, LiveMeeting
from gateway.demo.resp_broker import RespBroker

SECRET = "s" * 48


def _listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    return sock


@pytest.fixture
async def broker() -> AsyncIterator[tuple[RespBroker, str]]:
    sock = _listening()
    server = RespBroker()
    await server.start(sock)
    try:
        yield server, f"redis://:any-password@127.0.0.1:{sock.getsockname()[1]}/0"
    finally:
        await server.stop()


async def _raw(url: str, data: bytes, replies: int = 1) -> bytes:
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    out = b""
    try:
        async with asyncio.timeout(2):
            while out.count(b"\r\n") < replies:
                chunk = await reader.read(4096)
                if not chunk:
                    break
                out += chunk
    finally:
        writer.close()
    return out


async def test_the_guards_own_connections_work_on_the_broker(
        broker: tuple[RespBroker, str]) -> None:
    """AUTH, CLIENT SETNAME and SUBSCRIBE as bus_link sends them; PUBLISH both ways."""
    server, url = broker
    received: list[bytes] = []
    server.listen(codec.TO_AKKA, received.append)
    reader = BusReader(url, codec.GUARD_CHANNELS, "privacy-gateway-guard-sub")
    publisher = BusPublisher(url, "privacy-gateway-guard-pub")
    try:
        await reader.connect()
        assert "privacy-gateway-guard-sub" in server.names.values()
        assert server.publish(codec.FROM_AKKA, b'{"envelope":{"name":"X"}}') == 1
        _, messages = await anext(aiter(reader.batches()))
        assert messages == [b'{"envelope":{"name":"X"}}']
        assert await publisher.publish(codec.TO_AKKA, ["a", "b"]) == [1, 1]
        assert received == [b"a", b"b"]
        assert await publisher.publish("nobody-listens", ["c"]) == [0]
    finally:
        await reader.close()
        await publisher.close()


async def test_the_broker_answers_like_redis(broker: tuple[RespBroker, str]) -> None:
    _, url = broker
    assert await _raw(url, b"*1\r\n$4\r\nPING\r\n") == b"+PONG\r\n"
    hello = await _raw(url, b"*2\r\n$5\r\nHELLO\r\n$1\r\n2\r\n", replies=15)
    assert hello.startswith(b"*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n")
    assert (await _raw(url, b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")).startswith(b"-NOPROTO")
    assert (await _raw(url, b"*1\r\n$3\r\nGET\r\n")).startswith(b"-ERR unknown command")
    assert await _raw(url, b"*1\r\n$4\r\nQUIT\r\n") == b"+OK\r\n"
    # Subscribed: only (UN)SUBSCRIBE, PING and QUIT; PING answers ["pong", ""].
    subscribed = await _raw(url, b"*2\r\n$9\r\nSUBSCRIBE\r\n$1\r\nc\r\n*1\r\n$4\r\nPING\r\n"
                                 b"*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$1\r\nx\r\n", replies=11)
    assert subscribed.startswith(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"
                                 b"*2\r\n$4\r\npong\r\n$0\r\n\r\n-ERR Can't execute 'publish'")
    assert (await _raw(url, b"*1\r\n$x\r\n")).startswith(b"-ERR Protocol error")


@dataclass
class Stand:
    bbb: LiveBBB
    reader: BusReader
    publisher: BusPublisher
    http: aiohttp.ClientSession
    recorded: list[str]

    async def call(self, name: str, params: list[tuple[str, str]]) -> str:
        query = urlencode(params)
        checksum = hashlib.sha256((name + query + SECRET).encode()).hexdigest()
        async with self.http.get(f"{self.bbb.url}/api/{name}?{query}&checksum={checksum}",
                                 allow_redirects=False) as response:
            return await response.text()

    async def events(self, until: str, count: int = 1) -> list[dict[str, Any]]:
        """Bus events until `count` of them are named `until`."""
        out: list[dict[str, Any]] = []
        async with asyncio.timeout(5):
            async for _, messages in self.reader.batches():
                out += [json.loads(m) for m in messages]
                if sum(e["envelope"]["name"] == until for e in out) >= count:
                    return out
        raise AssertionError("bus ended")

    async def join(self, live: LiveMeeting, name: str, role: str) -> str:
        answer = await self.call("join", [("meetingID", live.meeting.meeting_id),
                                          ("fullName", name), ("role", role),
                                          ("redirect", "false")])
        token = answer.split("<session_token>")[1].split("<")[0]
        found = self.bbb.open_page(token)
        assert found is not None
        return found[1].int_id


@pytest.fixture
async def stand(tmp_path: Path,
                broker: tuple[RespBroker, str]) -> AsyncIterator[Stand]:
    server, url = broker
    recorded: list[str] = []
    bbb = LiveBBB(SECRET, tmp_path, server, gateway_url="http://localhost:1",
                  on_recording=recorded.append)
    sock = _listening()
    await bbb.serve(sock, f"http://127.0.0.1:{sock.getsockname()[1]}")
    reader = BusReader(url, codec.GUARD_CHANNELS, "test-sub")
    publisher = BusPublisher(url, "test-pub")
    await reader.connect()
    async with aiohttp.ClientSession() as http:
        try:
            yield Stand(bbb, reader, publisher, http, recorded)
        finally:
            await reader.close()
            await publisher.close()
            await bbb.stop()


async def _lesson(stand: Stand) -> tuple[LiveMeeting, str, str]:
    await stand.call("create", [("meetingID", "les-1"), ("name", "Les"), ("record", "true"),
                                ("meta_privacy-meeting-type", "lesson")])
    created = await stand.events("MeetingCreatedEvtMsg")
    props = created[-1]["core"]["body"]["props"]
    assert props["meetingProp"]["extId"] == "les-1"
    assert props["lockSettingsProps"]["lockOnJoin"] is True
    live = next(iter(stand.bbb.live.values()))
    teacher = await stand.join(live, "Juf", "MODERATOR")
    pupil = await stand.join(live, "Sam", "VIEWER")
    joined = await stand.events("UserJoinedMeetingEvtMsg", count=2)
    assert [e["core"]["body"]["role"] for e in joined
            if e["envelope"]["name"] == "UserJoinedMeetingEvtMsg"] == ["MODERATOR", "VIEWER"]
    return live, teacher, pupil


async def test_guard_commands_lock_mute_and_stop_cameras_as_akka_does(stand: Stand) -> None:
    live, teacher, pupil = await _lesson(stand)
    bbb = stand.bbb
    assert bbb.click(live, live.users[pupil], "camera_on") is None
    assert bbb.click(live, live.users[pupil], "mic_on") is None
    await stand.events("UserJoinedVoiceConfToClientEvtMsg")
    meeting = live.meeting.internal_id
    await stand.publisher.publish(codec.TO_AKKA, [
        codec.change_lock_settings(meeting, teacher, {"disableCam": True, "disableMic": True,
                                                      "lockOnJoin": True}),
        codec.lock_users(meeting, teacher, (teacher,)),
        codec.set_recording(meeting, teacher, True)])
    events = await stand.events("RecordingStatusChangedEvtMsg")
    names = [e["envelope"]["name"] for e in events]
    assert names.index("LockSettingsInMeetingChangedEvtMsg") < names.index(
        "UserBroadcastCamStoppedEvtMsg")
    muted = next(e for e in events if e["envelope"]["name"] == "UserMutedVoiceEvtMsg")
    assert muted["core"]["body"] == {"voiceConf": "70000", "intId": pupil,
                                     "voiceUserId": "v_" + pupil, "muted": True}
    assert live.recording and live.locks["disableCam"] and live.users[pupil].locked
    assert bbb.click(live, live.users[pupil], "camera_on") == "camera_locked"
    assert bbb.click(live, live.users[pupil], "mic_on") == "mic_locked"
    assert bbb.click(live, live.users[teacher], "camera_on") is None  # moderators: never
    info = await stand.call("getMeetingInfo", [("meetingID", "les-1")])
    assert f"<userID>{teacher}</userID>" in info and "<recording>true</recording>" in info
    # The stop makes the meeting's recording, its id the internal meeting id.
    await stand.publisher.publish(codec.TO_AKKA, [codec.set_recording(meeting, teacher, False)])
    await stand.events("RecordingStatusChangedEvtMsg")
    assert stand.recorded == [meeting]
    assert bbb.recording_meta(meeting)["privacy-meeting-type"] == "lesson"


async def test_a_command_from_a_viewer_is_not_carried_out(stand: Stand) -> None:
    live, _, pupil = await _lesson(stand)
    meeting = live.meeting.internal_id
    await stand.publisher.publish(codec.TO_AKKA, [codec.set_recording(meeting, pupil, True),
                                                  codec.mute_user(meeting, pupil, pupil)])
    assert not live.recording
    assert stand.bbb.refused_commands == ["SetRecordingStatusCmdMsg", "MuteUserCmdMsg"]
    assert stand.bbb.click(live, live.users[pupil], "record_start") == "record_not_allowed"


async def test_chat_from_the_api_shows_on_the_meeting(stand: Stand) -> None:
    live, _, _ = await _lesson(stand)
    answer = await stand.call("sendChatMessage", [("meetingID", "les-1"),
                                                  ("message", "Deze les wordt opgenomen."),
                                                  ("userName", "Privacy")])
    assert "chatMessageSent" in answer
    assert [(c.sender, c.text) for c in live.chat] == [("Privacy", "Deze les wordt opgenomen.")]


def test_the_demo_and_its_stand_ins_refuse_outside_development(tmp_path: Path) -> None:
    from gateway.demo.app import build_demo
    from gateway.policy.model import ConfigError
    from privacy_gateway import ADAPTERS
    from tests.support import EXAMPLE

    example = tmp_path / "example.toml"
    example.write_text(EXAMPLE.read_text().replace("development = true",
                                                   "development = false"))
    with pytest.raises(ConfigError, match=r"only with gateway\.development = true"):
        build_demo(example, "127.0.0.1", 8080, ADAPTERS)


async def test_meeting_page_links_chat_addresses_and_fits_a_phone(stand: Stand) -> None:
    """The guard's objection link in the chat can be clicked (G12): only http(s) addresses
    become links, built as DOM nodes (a message is never HTML); a long address wraps at
    390 px; the page has an icon, so no page load logs a 404."""
    from tests.browser import chromium

    live, teacher, _ = await _lesson(stand)
    tokens = []
    for name, role in (("Kim", "VIEWER"), ("Meester Kees", "MODERATOR")):
        answer = await stand.call("join", [("meetingID", "les-1"), ("fullName", name),
                                           ("role", role), ("redirect", "false")])
        tokens.append(answer.split("<session_token>")[1].split("<")[0])
    objection = ("http://localhost:8080/objections/new?platform=bbb&meeting="
                 "les-1-0123456789abcdef0123456789abcdef0123456789abcdef")
    message = (f"Bezwaar? {objection}. <b>vet</b> <img src=x onerror=alert(1)> "
               "javascript:alert(1) (https://example.org/privacy)")
    await stand.publisher.publish(codec.TO_AKKA, [  # as the guard says it (bbb.md §5)
        codec.public_chat(live.meeting.internal_id, teacher, message, "c-1")])
    async with asyncio.timeout(5):
        while not live.chat:
            await asyncio.sleep(0.02)
    async with chromium() as browser:
        for token in tokens:
            await _phone_meeting_page(browser, stand, token, objection, message)


async def _phone_meeting_page(browser: Any, stand: Stand, token: str, objection: str,
                              message: str) -> None:
    context = await browser.new_context(viewport={"width": 390, "height": 800})
    await context.add_cookies([{"name": stand.bbb.session_cookie(token), "value": token,
                                "url": stand.bbb.base}])  # what join's redirect sets
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
    await page.goto(f"{stand.bbb.base}/html5client/join?sessionToken={token}&lang=nl")
    await page.wait_for_selector('#meeting[data-ready="yes"]')
    line = page.locator("#chat li", has_text="Bezwaar")
    links = await line.evaluate("""li => [...li.querySelectorAll('a')].map(a => (
        {href: a.getAttribute('href'), text: a.textContent, target: a.target, rel: a.rel}))""")
    assert [(a["href"], a["text"]) for a in links] == [
        (objection, objection), ("https://example.org/privacy", "https://example.org/privacy")]
    assert all(a["target"] == "_blank" and "noopener" in a["rel"] for a in links)
    assert await line.evaluate("li => li.querySelectorAll('b, img').length") == 0
    assert (await line.inner_text()).endswith(": " + message)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    await page.goto(f"{stand.bbb.base}/favicon.ico")
    assert problems == []
    await context.close()
