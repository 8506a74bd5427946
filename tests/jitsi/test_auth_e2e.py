"""Jitsi's tokenAuthUrl end to end (G1, G2): the browser comes from Jitsi, logs in at the
school's real OpenID provider, and lands back in the Jitsi room with a token prosody accepts."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web

from gateway import keys
from gateway.clock import ManualClock
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


@pytest.mark.parametrize("account,moderator", [("teacher", "true"), ("pupil", "false")])
async def test_login_then_token_then_back_to_the_room(env: SchoolEnv, gateway: web.Application,
                                                      account: str, moderator: str) -> None:
    async with browser() as session:
        result = await browser_login(session, auth_url(env, "Wiskunde-3B"), account)
    assert result.login_submitted
    assert result.location is not None
    assert result.location.startswith(JITSI_BASE + "/wiskunde-3b?jwt=")
    assert "prejoinConfig" not in result.location  # Jitsi's state overrides are not echoed
    token = parse_qs(urlsplit(result.location).query)["jwt"][0]
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
    issued = gateway[keys.METRICS].jitsi_tokens.labels(role="pupil")._value.get()
    assert issued == 0
