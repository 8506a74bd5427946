"""mod_privacy_gateway loaded into a REAL prosody (Debian's 0.12), reporting to the gateway
when a real XMPP client (slixmpp) joins and leaves a MUC room."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import slixmpp
from aiohttp import web
from aiohttp.test_utils import TestServer

from jitsi_hooks import events
from privacy_gateway import create_app
from tests.jitsi.support import jitsi_settings
from tests.support import free_port

MODULE_DIR = Path(__file__).resolve().parents[2] / "jitsi_hooks" / "prosody"
ROOM = "lesson-real"


def prosody_config(tmp: Path, c2s_port: int, gateway_url: str, secret: str) -> Path:
    (tmp / "data").mkdir()
    (tmp / "hook.secret").write_text(secret)
    config = tmp / "prosody.cfg.lua"
    config.write_text(f"""
run_as_root = true
daemonize = false
pidfile = "{tmp}/prosody.pid"
data_path = "{tmp}/data"
plugin_paths = {{ "{MODULE_DIR}" }}
log = {{ debug = "{tmp}/prosody.log" }}
modules_enabled = {{ "saslauth", "disco", "ping" }}
modules_disabled = {{ "s2s", "tls", "posix" }}
c2s_ports = {{ {c2s_port} }}
c2s_interfaces = {{ "127.0.0.1" }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
storage = "memory"
VirtualHost "localhost"
  authentication = "anonymous"
Component "conference.localhost" "muc"
  modules_enabled = {{ "privacy_gateway" }}
  privacy_gateway_url = "{gateway_url}"
  privacy_gateway_secret_file = "{tmp}/hook.secret"
  privacy_gateway_sync_interval = 1
  privacy_gateway_hidden_domain = "recorder.localhost"
""")
    return config


@pytest.fixture
def prosody_binary() -> str:
    binary = shutil.which("prosody")
    if binary is None:
        pytest.fail("prosody is not installed: run scripts/test.sh, which installs it")
    return binary


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[web.Application, str, list[dict]]]:
    # The clients here join without a token (like a SIP dial-in): guests, which the module
    # now asks the gateway about at every join; lessons admit guests in these tests.
    settings = jitsi_settings(tmp_path, {"meeting_types": {"lesson": {"guests_allowed": True}}})
    app = create_app(settings)
    seen: list[dict[str, Any]] = []
    original = events._handle

    async def spy(app: web.Application, event: dict[str, Any]) -> dict[str, Any]:
        seen.append(event)
        return await original(app, event)

    events._handle = spy  # type: ignore[assignment]
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield app, f"http://127.0.0.1:{server.port}/hooks/jitsi/events", seen
    finally:
        events._handle = original  # type: ignore[assignment]
        await server.close()


@pytest.fixture
def prosody(tmp_path: Path, prosody_binary: str,
            gateway: tuple[web.Application, str, list[dict]]) -> Iterator[int]:
    app, url, _ = gateway
    from gateway.web import keys

    secret = app[keys.SETTINGS].secrets.get("jitsi.hook_secret").decode()
    port = free_port()
    work = tmp_path / "prosody"
    work.mkdir()
    config = prosody_config(work, port, url, secret)
    proc = subprocess.Popen([prosody_binary, "--config", str(config), "-F"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log = (work / "prosody.log")
        if log.exists() and "privacy_gateway" not in log.read_text():
            print(log.read_text()[-4000:])


async def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("prosody did not start") from None
            await asyncio.sleep(0.1)


async def wait_for(seen: list[dict], kind: str, timeout: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for event in seen:
            if event.get("event") == kind:
                return event
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {kind} event; seen {[e.get('event') for e in seen]}")
        await asyncio.sleep(0.05)


async def xmpp_client(port: int, resource: str = "") -> slixmpp.ClientXMPP:
    """An anonymous XMPP client (no token: like a SIP dial-in), connected; `resource`
    tells several apart (the gateway sees it as the person)."""
    await wait_port(port)
    client = slixmpp.ClientXMPP(f"localhost/{resource}" if resource else "localhost", "")
    client.enable_starttls = False
    client.enable_direct_tls = False
    client.enable_plaintext = True
    client.register_plugin("xep_0045")
    connected = asyncio.get_running_loop().create_future()
    client.add_event_handler("session_start", lambda _: connected.set_result(True))
    client.connect("127.0.0.1", port)
    await asyncio.wait_for(connected, 10)
    return client


async def joined_client(port: int) -> slixmpp.ClientXMPP:
    """An anonymous client in the room as pupil-1."""
    client = await xmpp_client(port)
    await client.plugin["xep_0045"].join_muc_wait(
        slixmpp.JID(f"{ROOM}@conference.localhost"), "pupil-1", maxstanzas=0, timeout=10)
    return client


async def test_real_prosody_reports_room_and_occupant_events(
        prosody: int, gateway: tuple[web.Application, str, list[dict]]) -> None:
    app, _, seen = gateway
    client = await joined_client(prosody)

    created = await wait_for(seen, "room_created")
    joined = await wait_for(seen, "occupant_joined")
    assert created["room"] == ROOM
    assert joined["occupant"] == f"{ROOM}@conference.localhost/pupil-1"
    assert joined["service"] is False  # no token: still a person, present (M4, G15)
    from gateway.web import keys

    occupants = await app[keys.STORE].hgetall(f"jitsi:occ:{ROOM}")
    assert list(occupants) == [f"{ROOM}@conference.localhost/pupil-1"]
    sync = await wait_for(seen, "sync")
    assert [r["room"] for r in sync["rooms"]] == [ROOM]

    client.plugin["xep_0045"].leave_muc(slixmpp.JID(f"{ROOM}@conference.localhost"), "pupil-1")
    await wait_for(seen, "occupant_left")
    await wait_for(seen, "room_destroyed")
    assert await app[keys.STORE].hgetall(f"jitsi:occ:{ROOM}") == {}
    client.disconnect()


async def test_g15_real_prosody_refuses_the_transcriber_dial_without_consent(
        prosody: int, gateway: tuple[web.Application, str, list[dict]]) -> None:
    """H2: the Rayo dial lib-jitsi-meet sends to start transcription is refused by the
    module while the gateway's live consent flag is not true (here: a person without a
    token is present, who can never have opted in)."""
    from xml.etree import ElementTree

    from slixmpp.exceptions import IqError

    _, _, seen = gateway
    client = await joined_client(prosody)
    await wait_for(seen, "occupant_joined")
    iq = client.Iq()
    iq["type"] = "set"
    iq["to"] = f"{ROOM}@conference.localhost/focus"
    iq.append(ElementTree.fromstring(
        '<dial xmlns="urn:xmpp:rayo:1" to="jitsi_meet_transcribe" from="fromnumber">'
        f'<header name="JvbRoomName" value="{ROOM}@conference.localhost"/></dial>'))
    with pytest.raises(IqError) as refused:
        await iq.send(timeout=5)
    assert refused.value.iq["error"]["condition"] == "forbidden"  # not mod_muc's not-found
    assert (await wait_for(seen, "transcription_requested"))["room"] == ROOM
    client.disconnect()


async def test_g8_real_prosody_executes_the_gateways_instructions_from_its_executor_file(
        prosody: int, gateway: tuple[web.Application, str, list[dict]]) -> None:
    """The instruction executor lives in privacy_gateway_executor.lib.lua, loaded by the
    module through prosody's module:require: an announcement the gateway queued for the
    room reaches the person in it with the next sync."""
    app, _, seen = gateway
    client = await joined_client(prosody)
    await wait_for(seen, "occupant_joined")
    said: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def on_groupchat(message: Any) -> None:
        if message["body"] and not said.done():
            said.set_result(str(message["body"]))

    client.add_event_handler("groupchat_message", on_groupchat)
    await events.queue_instruction(app, ROOM, {"action": "announce",
                                               "text": "Deze les wordt opgenomen."})
    assert await asyncio.wait_for(said, 10) == "Deze les wordt opgenomen."
    client.disconnect()
