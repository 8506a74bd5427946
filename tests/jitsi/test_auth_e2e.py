"""Jitsi's tokenAuthUrl end to end (G1, G2): the browser comes from Jitsi, logs in at the
school's real OpenID provider, and lands back in the Jitsi room with a token prosody accepts."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web

from gateway.clock import ManualClock
from gateway.web import keys
from tests.gateway_fixtures import (
    SchoolEnv,
    browser,
    gateway_settings,
    new_secret,
    start_gateway,
)
from tests.jitsi import prosody_rules
from tests.jitsi.support import APP_ID, AUDIENCE, JITSI_BASE, SUBJECT
from tests.oidc_provider import browser_login
from tests.support import metric_value


@pytest.fixture
async def gateway(env: SchoolEnv, tmp_path: Path) -> AsyncIterator[web.Application]:
    (tmp_path / "app.secret").write_text(new_secret() + new_secret())
    (tmp_path / "hook.secret").write_text(new_secret() + new_secret())
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {"jitsi": {
        "enabled": True, "base_url": JITSI_BASE, "app_id": APP_ID, "audience": AUDIENCE,
        "subject": SUBJECT, "app_secret_file": str(tmp_path / "app.secret"),
        "hook_secret_file": str(tmp_path / "hook.secret")}})
    async with start_gateway(settings, env.port, clock=ManualClock(time.time())) as app:
        yield app


def auth_url(env: SchoolEnv, room: str) -> str:
    """What Jitsi's tokenAuthUrl template becomes ({room}, {state}, {code_challenge})."""
    state = json.dumps({"room": room, "roomSafe": room.lower(), "tenant": "",
                        "config.prejoinConfig.enabled": False})
    return env.base + "/jitsi/auth?" + urlencode({
        "room": room, "state": state,
        "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"})


async def click_through_notice(session: Any, env: SchoolEnv, result: Any) -> str:
    """G18: the first entry shows the room's notice; one click continues to the room."""
    assert result.response_status == 200 and result.location is None
    page = result.body_text
    assert 'id="entry-notice"' in page and 'id="continue"' in page
    fields = {k: html.unescape(v) for k, v in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}
    async with session.post(env.base + "/jitsi/auth", data=fields,
                            allow_redirects=False) as resp:
        assert resp.status == 303, await resp.text()
        return str(resp.headers["Location"])


@pytest.mark.parametrize("account,moderator", [("teacher", "true"), ("pupil", "false")])
async def test_login_then_token_then_back_to_the_room(env: SchoolEnv, gateway: web.Application,
                                                      account: str, moderator: str) -> None:
    async with browser() as session:
        result = await browser_login(session, auth_url(env, "Wiskunde-3B"), account)
        assert result.login_submitted
        location = await click_through_notice(session, env, result)
    assert location.startswith(JITSI_BASE + "/wiskunde-3b?jwt=")
    assert "prejoinConfig" not in location  # Jitsi's state overrides are not echoed
    token = parse_qs(urlsplit(location).query)["jwt"][0]
    _, claims = prosody_rules.verify(
        token, expected_alg="HS256",
        key=gateway[keys.SETTINGS].secrets.get("jitsi.app_secret"), issuers=[APP_ID],
        audiences=[AUDIENCE], room="wiskunde-3b", now=int(time.time()))
    user = claims["context"]["user"]
    assert user["moderator"] == moderator
    assert user["id"].startswith("p_") and "sub" not in user["id"]  # a pseudonym only
    assert "@" not in json.dumps(user)  # no e-mail unless the policy shares it


async def test_private_account_never_gets_a_token(env: SchoolEnv, gateway: web.Application) -> None:
    async with browser() as session:
        result = await browser_login(session, auth_url(env, "wiskunde-3b"), "consumer")
    assert result.location is None or "jwt=" not in result.location  # G1
    assert result.response_status == 403
    assert "jwt=" not in "".join(result.url_history)
    issued = metric_value(gateway[keys.METRICS].jitsi_tokens.labels(role="pupil"))
    assert issued == 0


def _fragment(location: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in urlsplit(location).fragment.split("&"))


async def test_tokenauthurl_shows_the_notice_once_then_starts_muted(
        env: SchoolEnv, gateway: web.Application) -> None:
    """Finding 10: the tokenAuthUrl path never told the person anything (G18) and never
    asked Jitsi to start with the microphone off (G4, G6)."""
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        result = await browser_login(session, auth_url(env, "lesson-5c"), "pupil")
        page = result.body_text
        assert "Kind of meeting: Lesson." in page
        assert "deleted after" in page or "recorded" in page  # the recording rules
        assert "Speech-to-text" in page or "turned into text" in page
        assert "/objections/new?platform=jitsi&amp;meeting=lesson-5c" in page  # G12
        assert metric_value(gateway[keys.METRICS].jitsi_tokens.labels(role="pupil")) == 0
        location = await click_through_notice(session, env, result)
        fragment = _fragment(location)
        assert fragment["config.startWithVideoMuted"] == "true"  # G4
        assert fragment["config.startWithAudioMuted"] == "true"  # G4, G6
        # The second entry into the same room goes straight in: told once is enough.
        async with session.get(auth_url(env, "lesson-5c"), allow_redirects=False) as resp:
            assert resp.status == 302 and "jwt=" in resp.headers["Location"]


async def test_a_state_of_jitsis_full_length_survives_the_login(
        env: SchoolEnv, gateway: web.Application) -> None:
    """Finding 10: Jitsi allows 4096 characters of state; the return path was capped at
    2048, so a person not yet logged in ended on / with no token and no error."""
    state = json.dumps({"room": "lesson-5d", "roomSafe": "lesson-5d", "tenant": "",
                        "pad": ""})
    state = state[:-2] + "x" * (4096 - len(state)) + '"}'
    assert len(state) == 4096
    url = env.base + "/jitsi/auth?" + urlencode({"room": "lesson-5d", "state": state})
    async with browser() as session:
        result = await browser_login(session, url, "teacher")
        location = await click_through_notice(session, env, result)
    assert location.startswith(JITSI_BASE + "/lesson-5d?jwt=")


async def test_a_state_longer_than_jitsi_allows_gets_a_clear_page(
        env: SchoolEnv, gateway: web.Application) -> None:
    state = json.dumps({"room": "lesson-5d", "pad": "y" * 4100})
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        async with session.get(env.base + "/jitsi/auth?" + urlencode(
                {"room": "lesson-5d", "state": state}), allow_redirects=False) as resp:
            assert resp.status == 400
            text = await resp.text()
    assert 'data-message="jitsi.state_too_long"' in text
    assert "This link to the meeting is too long" in text


def _emoji_state(room: str, units: int) -> str:
    """Jitsi's state JSON padded with emoji to `units` UTF-16 units (JavaScript's length)."""
    state = json.dumps({"room": room, "roomSafe": room, "tenant": "", "pad": ""},
                       ensure_ascii=False)
    emoji = (units - len(state)) // 2
    return state[:-2] + "😀" * emoji + "x" * (units - len(state) - 2 * emoji) + '"}'


async def _unauthenticated(env: SchoolEnv, state: str) -> tuple[int, str]:
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        async with session.get(env.base + "/jitsi/auth?" + urlencode(
                {"room": "lesson-5d", "state": state}), allow_redirects=False) as resp:
            return resp.status, resp.headers.get("Location", "") or await resp.text()


async def test_state_length_is_counted_as_jitsi_counts_it(
        env: SchoolEnv, gateway: web.Application) -> None:
    """Jitsi's 4096 are JavaScript UTF-16 units: 2,100 emoji are 4,200 of them, though
    only 2,100-odd Python characters. Refused with the clear page, never parked."""
    state = _emoji_state("lesson-5d", 4200)
    assert len(state) < 4096 < len(state.encode("utf-16-le")) // 2
    status, text = await _unauthenticated(env, state)
    assert status == 400 and 'data-message="jitsi.state_too_long"' in text


async def test_a_parked_state_is_stored_unescaped(
        env: SchoolEnv, gateway: web.Application) -> None:
    """Without a session the request is parked until the login returns: a full-length
    state of emoji is kept as its own UTF-8 bytes, not six or twelve escaped bytes each."""
    state = _emoji_state("lesson-5d", 4096)
    status, location = await _unauthenticated(env, state)
    assert status == 302
    match = re.search(r"resume(?:=|%3D)([A-Za-z0-9_-]+)", location)
    assert match is not None
    raw = await gateway[keys.STORE].get(f"jitsi:resume:{match.group(1)}")
    assert raw is not None and json.loads(raw) == {"room": "lesson-5d", "state": state}
    assert len(raw) <= len(state.encode()) + 64


async def test_a_parked_request_is_bounded_in_bytes(
        env: SchoolEnv, gateway: web.Application, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a request without a session may make the gateway keep is capped in bytes."""
    from jitsi_hooks import entry

    monkeypatch.setattr(entry, "MAX_RESUME_BYTES", 2000)
    status, text = await _unauthenticated(env, _emoji_state("lesson-5d", 1200))
    assert status == 400 and 'data-message="jitsi.state_too_long"' in text
