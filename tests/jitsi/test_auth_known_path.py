"""`/jitsi/auth` decides on what this replica read before (the session, the room, the
notice acknowledgement) and checks it in the same atomic store step as its writes
(gateway/store/batch.py). Two replicas share a real redis-server here: whatever changes on
one (a logout, a session that ends, a room retyped, the notice to be shown again) is
honoured by the other at its very next request (G1, G2, G3, G18)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from gateway.clock import ManualClock
from gateway.login import sessions
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from privacy_gateway import create_app
from tests.jitsi.support import csrf_of, enter_room, jitsi_settings, person_of, seed_session

ROOM = "wiskunde-3a"


@pytest.fixture
async def replicas(tmp_path: Path, redis_url: str) -> AsyncIterator[list[TestClient]]:
    settings = jitsi_settings(tmp_path, {"store": {"redis_url_file": ""}})
    clients = []
    for _ in range(2):
        app = create_app(settings, store=RedisStore.from_url(redis_url, "pgwtest"))
        client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
    yield clients
    for client in clients:
        await client.close()


async def auth(client: TestClient, cookie: str, room: str = ROOM) -> int:
    resp = await client.get(f"/jitsi/auth?room={room}", headers={"Cookie": cookie},
                            allow_redirects=False)
    if resp.status == 302 and "jwt=" in resp.headers["Location"]:
        return 1  # a token
    if resp.status == 302 and "/login" in resp.headers["Location"]:
        return 0  # sent to log in
    return resp.status


async def warm(replicas: list[TestClient], cookie: str, room: str = ROOM) -> None:
    """The person continued from the room's notice once; both replicas handed out tokens
    since, so each knows the session, the room and the acknowledgement."""
    resp = await enter_room(replicas[0], f"room={room}", cookie)
    assert resp.status == 303
    for client in replicas:
        assert await auth(client, cookie, room) == 1
        assert await auth(client, cookie, room) == 1


async def test_a_logout_on_one_replica_is_honoured_by_the_other_at_once(
        replicas: list[TestClient]) -> None:
    a, b = replicas
    cookie = await seed_session(a.app, "teacher")
    await warm(replicas, cookie)
    resp = await a.post("/logout", data={"csrf": await csrf_of(a.app, cookie)},
                        headers={"Cookie": cookie}, allow_redirects=False)
    assert resp.status < 400
    assert await auth(b, cookie) == 0  # G1: no token without a live session
    assert await auth(a, cookie) == 0


async def test_a_session_removed_from_the_store_gets_no_token(
        replicas: list[TestClient]) -> None:
    """An ended session (expired, or revoked by deleting it) is never served from memory."""
    a, b = replicas
    cookie = await seed_session(a.app, "pupil")
    await warm(replicas, cookie)
    key = "session:" + hashlib.sha256(cookie.split("=", 1)[1].encode()).hexdigest()
    await a.app[keys.STORE].delete(key)
    assert await auth(a, cookie) == 0
    assert await auth(b, cookie) == 0


async def test_a_room_retyped_elsewhere_is_decided_afresh(replicas: list[TestClient]) -> None:
    """The room became confidential on replica A (its creator is someone else): replica B,
    which knew the room as a lesson, must not hand the pupil a token (G3)."""
    a, b = replicas
    cookie = await seed_session(a.app, "pupil")
    await warm(replicas, cookie)
    await a.app[keys.STORE].hset(f"jitsi:room:{ROOM}", {
        "type": b"confidential", "creator": person_of(a.app, "teacher").encode()}, 3600)
    assert await auth(b, cookie) == 403
    assert await auth(a, cookie) == 403


async def test_a_changed_notice_is_shown_again(replicas: list[TestClient]) -> None:
    """A new purpose changes what people are told (G18): the notice again, not a token."""
    a, b = replicas
    cookie = await seed_session(a.app, "pupil")
    await warm(replicas, cookie)
    await a.app[keys.STORE].hset(f"jitsi:room:{ROOM}", {"purpose": b"feedback"}, 3600)
    for client in (b, a):
        resp = await client.get(f"/jitsi/auth?room={ROOM}", headers={"Cookie": cookie},
                                allow_redirects=False)
        assert resp.status == 200 and "jwt=" not in await resp.text()


async def test_the_known_path_remembers_what_the_full_path_does(
        replicas: list[TestClient]) -> None:
    """Role (the guard's), token holder (G20) and moderator (G14), as before, on both paths."""
    a, b = replicas
    cookie = await seed_session(a.app, "teacher")
    await warm(replicas, cookie)
    store = a.app[keys.STORE]
    person = person_of(a.app, "teacher")
    await store.delete(f"jitsi:roles:{ROOM}", f"jitsi:tok:{ROOM}")
    assert await auth(b, cookie) == 1  # the known path
    assert (await store.hgetall(f"jitsi:roles:{ROOM}"))[person] == b"teacher"
    assert person in await store.hgetall(f"jitsi:tok:{ROOM}")


async def test_a_remembered_session_is_forgotten_after_a_while(tmp_path: Path) -> None:
    """The per-replica copy of a session (a name, an e-mail address) is kept at most
    KNOWN_MAX_AGE, and dropped on lookup and when others are added (G10)."""
    clock = ManualClock(time.time())
    app = create_app(jitsi_settings(tmp_path), clock=clock)

    async def read(cookie: str) -> None:
        request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=app)
        assert await sessions.current_session(request) is not None

    def known(cookie: str) -> bool:
        request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=app)
        return sessions.known_session(request) is not None

    first, second, third = [await seed_session(app, "teacher", f"s{i}") for i in range(3)]
    await read(first)
    await read(second)
    assert known(first) and known(second)
    clock.advance(sessions.KNOWN_MAX_AGE + 1)
    assert not known(first)  # dropped on lookup
    assert len(sessions._KNOWN[app]) == 1  # the second still held, unused
    await read(third)  # adding drops the expired second
    assert next(iter(sessions._KNOWN[app].values()))[1].subject == "s2"
    assert len(sessions._KNOWN[app]) == 1


async def test_a_remembered_session_goes_when_the_session_ends(tmp_path: Path) -> None:
    """Never kept past its session's own end (created + session TTL), however recent."""
    clock = ManualClock(time.time())
    app = create_app(jitsi_settings(tmp_path), clock=clock)
    ttl = app[keys.SETTINGS].policy.gateway.session_ttl_seconds
    session = sessions.new_session(issuer="https://idp.school.example", subject="s",
                                   idp="demo", role="teacher", person="p", name="N",
                                   email="n@school.example", now=clock.time() - (ttl - 5))
    session_id = "id-of-an-old-session"  # created almost a TTL ago
    await app[keys.STORE].set("session:" + hashlib.sha256(session_id.encode()).hexdigest(),
                              json.dumps(asdict(session)).encode(), 60)
    cookie = f"{sessions.COOKIE_DEV}={session_id}"
    request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=app)
    assert await sessions.current_session(request) is not None
    request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=app)
    assert sessions.known_session(request) is not None
    clock.advance(6)
    request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=app)
    assert sessions.known_session(request) is None
