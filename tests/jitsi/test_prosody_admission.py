"""Admission at join and failing closed, on a REAL prosody (Debian's) with the module
loaded on its MUC and real XMPP clients (slixmpp) joining, as tests/jitsi/test_prosody_real
runs it (G2, G3).

The person's pseudonym reaches the session as Jitsi's token plugin puts it there
(`session.jitsi_meet_context_user.id`); here a test module binds it from the resource."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import slixmpp
from aiohttp import web
from slixmpp.exceptions import PresenceError

from gateway.web import keys
from jitsi_hooks.context import jitsi
from tests.jitsi.support import csrf_of, person_of, seed_session
from tests.jitsi.test_prosody_real import gateway as gateway
from tests.jitsi.test_prosody_real import prosody_binary as prosody_binary
from tests.jitsi.test_prosody_real import prosody_config, wait_for, xmpp_client
from tests.support import free_port

IDENTITY_DIR = Path(__file__).resolve().parent / "prosody"
MUC = "conference.localhost"
GATEWAY_BASES: dict[int, str] = {}  # the running gateway's base URL, by app


def write_config(work: Path, port: int, url: str, secret: str,
                 drop: str | None = None, replace: tuple[str, str] | None = None) -> Path:
    """test_prosody_real's configuration, plus the identity stand-in; `drop` removes one
    of the module's option lines, `replace` changes one."""
    config = prosody_config(work, port, url, secret)
    text = config.read_text()
    text = text.replace('plugin_paths = {', f'plugin_paths = {{ "{IDENTITY_DIR}", ', 1)
    text = text.replace('authentication = "anonymous"',
                        'authentication = "anonymous"\n  modules_enabled = { "test_identity" }')
    # As Jitsi configures its MUC: a room is not locked for its first occupant, so a
    # refused first join leaves no locked room behind.
    text = text.replace('modules_enabled = { "privacy_gateway" }',
                        'modules_enabled = { "privacy_gateway" }\n  muc_room_locking = false')
    lines = text.splitlines()
    if drop is not None:
        lines = [line for line in lines if not line.strip().startswith(drop)]
    text = "\n".join(lines) + "\n"
    if replace is not None:
        text = text.replace(*replace)
    config.write_text(text)
    return config


@pytest.fixture
def start_prosody(tmp_path: Path, prosody_binary: str) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, secret: str, **changes: Any) -> tuple[int, Path]:
        port = free_port()
        work = tmp_path / f"prosody{len(procs)}"
        work.mkdir()
        config = write_config(work, port, url, secret, **changes)
        procs.append(subprocess.Popen([prosody_binary, "--config", str(config), "-F"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return port, work / "prosody.log"

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def join(client: slixmpp.ClientXMPP, room: str, nick: str) -> None:
    await client.plugin["xep_0045"].join_muc_wait(
        slixmpp.JID(f"{room}@{MUC}"), nick, maxstanzas=0, timeout=10)


def secret_of(app: web.Application) -> str:
    return app[keys.SETTINGS].secrets.get("jitsi.hook_secret").decode()


@pytest.fixture
async def running(gateway: tuple[web.Application, str, list[dict]],
                  start_prosody: Any) -> AsyncIterator[tuple[web.Application, int, list[dict]]]:
    app, url, seen = gateway
    port, _ = start_prosody(url, secret_of(app))
    GATEWAY_BASES[id(app)] = url.removesuffix("/hooks/jitsi/events")
    yield app, port, seen


async def test_g3_a_pupil_with_a_token_from_before_is_refused_once_the_room_is_confidential(
        running: tuple[web.Application, int, list[dict]]) -> None:
    """Finding 7: the pupil got a token while the room was a lesson (their role is known
    for it); the teacher then typed it confidential. The join is refused at once, with a
    plain message, and the pupil never appears in the room."""
    app, port, seen = running
    room = "mentor-real"
    rooms = jitsi(app).rooms
    pupil, teacher = person_of(app, "pupil"), person_of(app, "teacher")
    await rooms.remember_role(room, pupil, "pupil")  # as when the token was issued
    await rooms.remember_role(room, teacher, "teacher")
    assert await rooms.create(room, "confidential", teacher)
    client = await xmpp_client(port, pupil)
    with pytest.raises(PresenceError) as refused:
        await join(client, room, "lotte")
    error = refused.value.presence["error"]
    assert error["condition"] == "forbidden"
    assert "vertrouwelijk gesprek" in error["text"]  # the school's language (nl)
    creator = await xmpp_client(port, teacher)
    await join(creator, room, "tamara")  # its creator gets in
    joined = await wait_for(seen, "occupant_joined")
    assert joined["person"] == teacher
    assert [e.get("person") for e in seen if e.get("event") == "occupant_joined"] == [teacher]
    client.disconnect()
    creator.disconnect()


async def test_g3_an_invited_person_gets_in_and_a_stranger_does_not(
        running: tuple[web.Application, int, list[dict]]) -> None:
    app, port, _ = running
    room = "mentor-invite"
    rooms = jitsi(app).rooms
    teacher, pupil = person_of(app, "teacher"), person_of(app, "pupil")
    stranger = person_of(app, "pupil", "stranger-sub")
    assert await rooms.create(room, "confidential", teacher)
    from jitsi_hooks.access import invite_tag
    from jitsi_hooks.admission import remember_invitation

    tag = invite_tag(app, "lotte.b@leerling.school.example")
    await rooms.invite(room, tag)
    for person in (pupil, stranger):
        await rooms.remember_role(room, person, "pupil")
    await remember_invitation(app, room, pupil, tag)  # as when the token was issued
    invited = await xmpp_client(port, pupil)
    await join(invited, room, "lotte")
    other = await xmpp_client(port, stranger)
    with pytest.raises(PresenceError):
        await join(other, room, "someone")
    invited.disconnect()
    other.disconnect()


async def test_g3_typing_a_room_confidential_removes_the_people_who_may_not_stay(
        running: tuple[web.Application, int, list[dict]]) -> None:
    """The teacher types a room confidential while a pupil is in it: the pupil is removed
    (a MUC kick with a plain reason); the teacher stays."""
    app, port, _ = running
    room = "lesson-retyped"
    rooms = jitsi(app).rooms
    teacher, pupil = person_of(app, "teacher"), person_of(app, "pupil")
    await rooms.remember_role(room, teacher, "teacher")
    await rooms.remember_role(room, pupil, "pupil")
    tamara, lotte = await xmpp_client(port, teacher), await xmpp_client(port, pupil)
    await join(tamara, room, "tamara")
    await join(lotte, room, "lotte")
    while len(await rooms.present_people(room)) < 2:
        await asyncio.sleep(0.05)
    removed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_presence(presence: Any) -> None:
        if presence["type"] == "unavailable" and presence["from"].resource == "lotte" \
                and not removed.done():
            removed.set_result(presence)

    lotte.add_event_handler(f"muc::{room}@{MUC}::presence", on_presence)
    cookie = await seed_session(app, "teacher")
    import aiohttp

    async with aiohttp.ClientSession() as http, http.post(
            f"{GATEWAY_BASES[id(app)]}/jitsi/new", data={
                "room": room, "meeting_type": "confidential",
                "csrf": await csrf_of(app, cookie)},
            headers={"Cookie": cookie}, allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
    presence = await asyncio.wait_for(removed, 10)
    assert "307" in str(presence)  # a kick
    assert "Deze ruimte is veranderd" in str(presence)  # the plain message
    while await rooms.present_people(room) != {teacher}:
        await asyncio.sleep(0.05)  # the next sync: only the teacher is left
    tamara.disconnect()
    lotte.disconnect()




@pytest.mark.parametrize(("drop", "replace", "why"), [
    ("privacy_gateway_hidden_domain", None, "privacy_gateway_hidden_domain is missing"),
    ("privacy_gateway_secret_file", None, "no secret"),
    ("privacy_gateway_url", None, "privacy_gateway_url is missing"),
    (None, ('privacy_gateway_url = "http://127.0.0.1', 'privacy_gateway_url = "http://10.1.2.3'),
     "must be https://"),
], ids=["no_hidden_domain", "no_secret", "no_url", "plain_http_url"])
async def test_a_misconfigured_module_refuses_every_join_and_says_why(
        gateway: tuple[web.Application, str, list[dict]], start_prosody: Any,
        drop: str | None, replace: tuple[str, str] | None, why: str) -> None:
    """Finding 8: with an option missing or invalid the module logged one line and stayed
    inert; rooms ran with no events reaching the gateway and no consent gate."""
    app, url, seen = gateway
    port, log = start_prosody(url, secret_of(app), drop=drop, replace=replace)
    client = await xmpp_client(port, person_of(app, "teacher"))
    with pytest.raises(PresenceError) as refused:
        await join(client, "lesson-closed", "tamara")
    error = refused.value.presence["error"]
    assert error["condition"] == "service-unavailable"
    assert why in error["text"]
    assert seen == []  # nothing ran as if all were well
    text = log.read_text()
    assert "misconfigured, every join is refused" in text and why in text
    client.disconnect()


async def test_a_join_is_refused_when_the_gateway_cannot_answer(
        gateway: tuple[web.Application, str, list[dict]], start_prosody: Any) -> None:
    app, _, _ = gateway
    dead = f"http://127.0.0.1:{free_port()}/hooks/jitsi/events"
    port, _ = start_prosody(dead, secret_of(app))
    client = await xmpp_client(port, person_of(app, "teacher"))
    with pytest.raises(PresenceError) as refused:
        await join(client, "lesson-nogateway", "tamara")
    assert refused.value.presence["error"]["condition"] == "service-unavailable"
    client.disconnect()
