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
