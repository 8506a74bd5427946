"""Tokens from /jitsi/auth as prosody's token plugin checks them (reference/jitsi.md §1)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.clock import ManualClock
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.model import MEETING_TYPES, ROLES, ConfigError
from gateway.web import keys
from jitsi_hooks.rooms import RoomStore
from jitsi_hooks.token import key_file_name
from privacy_gateway import create_app
from tests.jitsi import prosody_rules
from tests.jitsi.support import (
    APP_ID,
    AUDIENCE,
    JITSI_BASE,
    enter_room,
    jitsi_settings,
    person_of,
    seed_session,
)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:
    app = create_app(jitsi_settings(tmp_path), clock=ManualClock())
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


async def token_for(client: TestClient, role: str, query: str) -> tuple[str, str]:
    cookie = await seed_session(client.app, role)  # type: ignore[arg-type]
    resp = await enter_room(client, query, cookie)
    assert resp.status in (302, 303), await resp.text()
    location = resp.headers["Location"]
    return location, parse_qs(urlsplit(location).query)["jwt"][0]


def verify(client: TestClient, token: str, room: str, now: int | None = None) -> dict:
    app = client.app
    _, body = prosody_rules.verify(
        token, expected_alg="HS256", key=app[keys.SETTINGS].secrets.get("jitsi.app_secret"),
        issuers=[APP_ID], audiences=[AUDIENCE], room=room,
        now=now if now is not None else int(app[keys.CLOCK].time()))
    return body


async def test_teacher_gets_a_room_bound_token_prosody_accepts(client: TestClient) -> None:
    location, token = await token_for(client, "teacher", "room=Lesson-4b")
    assert location.startswith(JITSI_BASE + "/lesson-4b?jwt=")
    assert "#config.startWithVideoMuted=true" in location  # G4 default in the fragment
    body = verify(client, token, "lesson-4b")
    assert body["room"] == "lesson-4b" and body["sub"] == "meet.school.example"
    user = body["context"]["user"]
    assert user == {"id": person_of(client.app, "teacher"), "name": "Tamara de Vries",
                    "affiliation": "owner", "moderator": "true"}  # no e-mail by default
    # G7: as moderator the teacher can switch a pupil's camera off. G15: transcription is
    # only POSSIBLE in a lesson; the prosody module decides from the live consent.
    assert body["context"]["features"] == {
        "recording": True, "transcription": True, "livestreaming": False,
        "outbound-call": False, "sip-outbound-call": False}
    assert body["exp"] - body["iat"] == 600 and body["nbf"] < body["iat"]


async def test_pupil_never_moderates_or_records(client: TestClient) -> None:
    _, token = await token_for(client, "pupil", "room=lesson-4b")
    body = verify(client, token, "lesson-4b")
    assert body["context"]["user"]["affiliation"] == "member"
    assert body["context"]["user"]["moderator"] == "false"
    assert body["context"]["features"]["recording"] is False


async def test_room_from_jitsi_state(client: TestClient) -> None:
    state = '{"room":"Wiskunde-3","roomSafe":"wiskunde-3","tenant":""}'
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    from urllib.parse import urlencode

    location, token = await token_for(client, "pupil", urlencode(
        {"state": state, "code_challenge": challenge}))
    assert urlsplit(location).path == "/wiskunde-3"
    assert "config.prejoin" not in location  # state overrides are never carried back
    verify(client, token, "wiskunde-3")


async def test_token_is_valid_at_once_on_a_slower_clock_and_expires(client: TestClient) -> None:
    _, token = await token_for(client, "teacher", "room=lesson1")
    now = int(client.app[keys.CLOCK].time())
    verify(client, token, "lesson1", now=now - 20)  # prosody's host 20 s behind: no leeway
    with pytest.raises(prosody_rules.Rejected, match="exp"):
        verify(client, token, "lesson1", now=now + 600)


async def test_token_for_one_room_is_refused_in_another(client: TestClient) -> None:
    _, token = await token_for(client, "teacher", "room=lesson1")
    with pytest.raises(prosody_rules.Rejected, match="room"):
        verify(client, token, "lesson2")


@pytest.mark.parametrize("query", [
    "room=*", "room=..%2Fadmin", "room=lesson%2F1", "room=les son", "room=l%C3%A9sson",
    "room=lesson.1", "room=", "", "room=a", "room=" + "x" * 65,
    "state=not-json", 'state={"room":"a/b"}', 'state={"room":"lesson1","tenant":"other"}',
    "room=lesson1&state=%7B%22room%22%3A%22lesson2%22%7D", "room=lesson1&code_challenge=short",
], ids=["wildcard", "path_traversal", "slash", "space", "unicode_lookalike", "dot", "empty",
        "missing", "too_short", "too_long", "state_not_json", "state_path", "foreign_tenant",
        "room_and_state_disagree", "bad_pkce_challenge"])
async def test_room_tricks_get_no_token(client: TestClient, query: str) -> None:
    cookie = await seed_session(client.app, "teacher")
    resp = await client.get("/jitsi/auth?" + query, headers={"Cookie": cookie},
                            allow_redirects=False)
    assert resp.status == 400
    assert "jwt=" not in resp.headers.get("Location", "")


async def test_without_login_the_browser_goes_to_the_school_login(client: TestClient) -> None:
    resp = await client.get("/jitsi/auth?room=lesson1&state=%7B%7D", allow_redirects=False)
    assert resp.status == 302
    location = urlsplit(resp.headers["Location"])
    assert location.path == "/login"
    # The request waits server-side; the return path stays short whatever the state's size.
    assert parse_qs(location.query)["next"][0].startswith("/jitsi/auth?resume=")


async def test_guest_is_refused_where_guests_are_not_allowed(client: TestClient) -> None:
    cookie = await seed_session(client.app, "guest")
    resp = await client.get("/jitsi/auth?room=lesson1", headers={"Cookie": cookie},
                            allow_redirects=False)
    assert resp.status == 403  # G2
    assert "Gasten mogen niet" in await resp.text()


async def test_confidential_room_by_prefix_or_by_teacher_has_no_recording(
        client: TestClient) -> None:
    _, token = await token_for(client, "teacher", "room=vertrouwelijk-gesprek")
    assert verify(client, token, "vertrouwelijk-gesprek")["context"]["features"]["recording"] \
        is False  # G3
    teacher = person_of(client.app, "teacher")
    await RoomStore(client.app[keys.STORE]).create("mentor-uur", "confidential", teacher)
    _, token = await token_for(client, "teacher", "room=mentor-uur")
    features = verify(client, token, "mentor-uur")["context"]["features"]
    assert features["recording"] is False and features["transcription"] is False


async def test_email_only_when_the_policy_shares_it(tmp_path: Path) -> None:
    app = create_app(jitsi_settings(tmp_path, {"jitsi": {"share_email": True}}),
                     clock=ManualClock())
    async with TestClient(TestServer(app)) as client:
        _, token = await token_for(client, "pupil", "room=lesson1")
        assert verify(client, token, "lesson1")["context"]["user"]["email"] == \
            "lotte.b@leerling.school.example"


async def test_rs256_token_with_kid_and_public_key_where_prosody_fetches_it(
        tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (tmp_path / "jitsi.pem").write_bytes(pem)
    settings = jitsi_settings(tmp_path, {"jitsi": {
        "signature_algorithm": "RS256", "private_key_file": str(tmp_path / "jitsi.pem"),
        "key_id": "gateway-1"}})
    async with TestClient(TestServer(create_app(settings, clock=ManualClock()))) as client:
        _, token = await token_for(client, "teacher", "room=lesson1")
        resp = await client.get("/jitsi/keys/" + key_file_name("gateway-1"))
        assert resp.status == 200
        public = serialization.load_pem_public_key(await resp.read())
        header, _ = prosody_rules.verify(
            token, expected_alg="RS256", key=public, issuers=[APP_ID],  # type: ignore[arg-type]
            audiences=[AUDIENCE], room="lesson1", now=int(client.app[keys.CLOCK].time()))
        assert header == {"alg": "RS256", "typ": "JWT", "kid": "gateway-1"}
        assert (await client.get("/jitsi/keys/gateway-1.pem")).status == 404


@pytest.mark.parametrize("algorithm,length", [("HS256", 31), ("HS384", 47), ("HS512", 63)])
def test_short_app_secret_is_refused_at_config_load(tmp_path: Path, algorithm: str,
                                                    length: int) -> None:
    (tmp_path / "short.secret").write_text("k" * length)
    with pytest.raises(ConfigError, match="secret too weak"):
        jitsi_settings(tmp_path, {"jitsi": {"signature_algorithm": algorithm,
                                            "app_secret_file": str(tmp_path / "short.secret")}})


# --- the decision matrix: role x meeting type x consent -> features (pure) -------------
@pytest.mark.parametrize("role,meeting_type", list(itertools.product(ROLES, MEETING_TYPES)))
def test_feature_matrix(tmp_path: Path, role: str, meeting_type: str) -> None:
    policy = jitsi_settings(tmp_path).policy
    got = jitsi_policy.features(policy, role, meeting_type)  # type: ignore[arg-type]
    records = {"lesson": role == "teacher", "meeting": role in ("teacher", "staff"),
               "confidential": False}[meeting_type]  # record_roles in the example policy, G3
    # G15: possible where the meeting type allows it; never consent minted into a token.
    transcribes = meeting_type != "confidential" and policy.meeting_types[
        meeting_type].transcription_allowed  # type: ignore[index]
    assert got == {"recording": records, "transcription": transcribes, "livestreaming": False,
                   "outbound-call": False, "sip-outbound-call": False}
    assert jitsi_policy.is_moderator(role) == (role in ("teacher", "staff"))  # type: ignore[arg-type]


def test_transcription_needs_everyone_present(tmp_path: Path) -> None:
    policy = jitsi_settings(tmp_path).policy
    allowed = jitsi_policy.transcription_allowed
    assert allowed(policy, "lesson", {"a", "b"}, {"a", "b", "c"})
    assert not allowed(policy, "lesson", {"a", "b"}, {"a"})  # G15: b did not opt in
    assert not allowed(policy, "lesson", set(), {"a"})
    assert not allowed(policy, "confidential", {"a"}, {"a"})  # G3
    off = jitsi_settings(tmp_path, {"transcription": {"mode": "off"}}).policy
    assert not allowed(off, "lesson", {"a"}, {"a"})


def test_meeting_type_rules(tmp_path: Path) -> None:
    policy = jitsi_settings(tmp_path).policy
    of = jitsi_policy.meeting_type_of_room
    assert of(policy, "team-overleg", None) == "meeting"
    assert of(policy, "lesson1", None) == "lesson"
    assert of(policy, "lesson1", "confidential") == "confidential"
    assert of(policy, "vertrouwelijk-x", "lesson") == "confidential"  # confidential wins (G3)
