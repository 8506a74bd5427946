"""The school-account login end to end against a real OpenID provider (G1, G2)."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from gateway.logs import JSONFormatter
from gateway.store.redis_store import RedisStore
from gateway.web import keys
from tests.gateway_fixtures import (
    ACCOUNTS,
    SchoolEnv,
    browser,
    gateway_settings,
    new_secret,
    school_idp,
    start_gateway,
)
from tests.oidc_provider import browser_follow, browser_login
from tests.support import metric_value


@pytest.fixture
async def gateway(env: SchoolEnv, tmp_path: Path) -> AsyncIterator[web.Application]:
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret)
    async with start_gateway(settings, env.port) as app:
        yield app


async def _home_text(session: Any, env: SchoolEnv) -> str:
    async with session.get(env.base + "/?lang=en") as resp:
        return str(await resp.text())


@pytest.mark.parametrize(("account", "role"), [("teacher", "teacher"), ("pupil", "pupil"),
                                               ("staff", "staff member")])
async def test_school_account_logs_in_with_its_role(env: SchoolEnv, gateway: web.Application,
                                                    account: str, role: str) -> None:
    """G1: a school account gets a session, with the role from its groups."""
    async with browser() as session:
        result = await browser_login(session, env.base + "/login?next=/privacy", account)
        assert result.status == 200
        assert urlsplit(result.final_url).path == "/privacy"
        assert f"You are logged in as {role}." in await _home_text(session, env)


async def test_session_cookie_is_httponly_and_lax(env: SchoolEnv, gateway: web.Application) -> None:
    async with browser() as session:
        result = await browser_login(session, env.base + "/login", "teacher")
        assert result.status == 200
        cookies = {c.key: c for c in session.cookie_jar}
        cookie = cookies["pgw_session"]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"
        assert len(cookie.value) >= 40  # opaque, random


@pytest.mark.parametrize(("account", "reason", "text"), [
    ("consumer", "consumer_domain", "private account"),          # G1
    ("other_tenant", "tenant_not_allowed", "another school"),     # G2
    ("unverified", "email_not_verified", "not been confirmed"),   # G1
])
async def test_non_school_accounts_are_refused(env: SchoolEnv, gateway: web.Application,
                                               account: str, reason: str, text: str) -> None:
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        result = await browser_login(session, env.base + "/login", account)
        assert result.status == 403
        assert f'data-reason="{reason}"' in result.body_text
        assert text in result.body_text
        assert "Log in with the account your school gave you" in result.body_text
        assert "You are not logged in." in await _home_text(session, env)
    metric = gateway[keys.METRICS].login_attempts.labels(result="refused", reason=reason)
    assert metric_value(metric) == 1


async def test_refusal_page_is_dutch_by_default(env: SchoolEnv, gateway: web.Application) -> None:
    async with browser() as session:
        result = await browser_login(session, env.base + "/login", "consumer")
        assert "privé-account" in result.body_text


async def _callback_url(session: Any, env: SchoolEnv, account: str) -> str:
    """Run the flow up to (not into) the gateway's callback; return that URL."""
    result = await browser_follow(session, env.base + "/login", account=account,
                                  follow_origins=())
    for url in result.url_history:
        if "/oidc/callback" in url:
            return url.removeprefix("POST ")
    raise AssertionError("no callback in the flow")


async def test_replayed_state_and_code_are_refused(env: SchoolEnv,
                                                   gateway: web.Application) -> None:
    async with browser() as session:
        result = await browser_login(session, env.base + "/login", "teacher")
        callback = next(u for u in result.url_history if "/oidc/callback" in u)
        async with session.get(callback, allow_redirects=False) as resp:
            assert resp.status == 400  # the state was single-use
            assert "data-message=\"login.expired\"" in await resp.text()
        # The same code under a fresh, valid state: the IdP refuses the used code.
        code = parse_qs(urlsplit(callback).query)["code"][0]
        async with session.get(env.base + "/login", allow_redirects=False) as resp:
            state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
        async with session.get(f"{env.base}/oidc/callback?code={code}&state={state}",
                               allow_redirects=False) as resp:
            assert resp.status == 400


async def test_callback_from_another_browser_is_refused(env: SchoolEnv,
                                                        gateway: web.Application) -> None:
    """Login CSRF: a callback URL planted in a victim's browser does not log it in."""
    async with browser() as attacker:
        async with attacker.get(env.base + "/login", allow_redirects=False) as resp:
            auth_url = resp.headers["Location"]
        result = await browser_login(attacker, auth_url, "consumer", follow_origins=())
        planted = result.location or result.final_url
    async with browser() as victim:
        async with victim.get(planted, allow_redirects=False) as resp:
            assert resp.status == 400
        assert "You are not logged in." in await _home_text(victim, env)


async def test_reused_nonce_is_refused(env: SchoolEnv, gateway: web.Application) -> None:
    """A second login with the same nonce (same ID token) is a replay (B.1 #12)."""
    provider = gateway[keys.OIDC].providers["school"]
    captured: dict[str, str] = {}
    original = provider.exchange

    async def capture(code: str, verifier: str, redirect_uri: str) -> str:
        captured["token"] = await original(code, verifier, redirect_uri)
        return captured["token"]

    provider.exchange = capture  # type: ignore[method-assign]
    async with browser() as session:
        await browser_login(session, env.base + "/login", "teacher")
    store = gateway[keys.STORE]
    nonce = json.loads(jwt_payload(captured["token"]))["nonce"]

    async def replay(code: str, verifier: str, redirect_uri: str) -> str:
        return captured["token"]

    provider.exchange = replay  # type: ignore[method-assign]
    async with browser() as session:
        async with session.get(env.base + "/login", allow_redirects=False) as resp:
            state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
        record = json.loads(await store.get(f"login:{state}") or b"{}")
        record["nonce"] = nonce  # as if the attacker fixed the nonce
        await store.set(f"login:{state}", json.dumps(record).encode(), 60)
        async with session.get(f"{env.base}/oidc/callback?code=x&state={state}",
                               allow_redirects=False) as resp:
            assert resp.status == 403
    rejected = gateway[keys.METRICS].id_token_rejections.labels(reason="replayed")
    assert metric_value(rejected) == 1


def jwt_payload(token: str) -> str:
    import base64

    part = token.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode()


@pytest.mark.parametrize("target", [
    "https://evil.example/", "//evil.example/", "/\\evil.example", "http:evil.example",
    "javascript:alert(1)", "/\r\nLocation: https://evil.example", "evil.example",
])
async def test_open_redirect_after_login_is_refused(env: SchoolEnv, gateway: web.Application,
                                                    target: str) -> None:
    async with browser() as session:
        from urllib.parse import quote

        result = await browser_login(session, f"{env.base}/login?next={quote(target)}",
                                     "teacher")
        assert result.status == 200
        assert result.final_url.startswith(env.base + "/")
        assert urlsplit(result.final_url).path == "/"


async def test_logout_needs_csrf_token_and_same_origin(env: SchoolEnv,
                                                       gateway: web.Application) -> None:
    async with browser() as session:
        await browser_login(session, env.base + "/login", "teacher")
        home = await _home_text(session, env)
        token = re.search(r'name="csrf" value="([^"]+)"', home)
        assert token is not None
        async with session.post(env.base + "/logout", data={"csrf": "forged"},
                                allow_redirects=False) as resp:
            assert resp.status == 403
        async with session.post(env.base + "/logout", data={"csrf": token.group(1)},
                                headers={"Origin": "https://evil.example"},
                                allow_redirects=False) as resp:
            assert resp.status == 403
        assert "You are logged in" in await _home_text(session, env)
        async with session.post(env.base + "/logout", data={"csrf": token.group(1)},
                                allow_redirects=False) as resp:
            assert resp.status == 302
            # Then the IdP's end-session endpoint, coming back to /logged-out.
            assert resp.headers["Location"].startswith(env.op.issuer)
            assert "post_logout_redirect_uri" in resp.headers["Location"]
        assert "You are not logged in." in await _home_text(session, env)


async def test_metrics_and_logs_hold_no_personal_data(env: SchoolEnv, gateway: web.Application,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """G20: no e-mail, subject, name or token in /metrics or in a log line."""
    caplog.set_level(logging.DEBUG)
    async with browser() as session:
        for account in ("teacher", "pupil", "consumer"):
            await browser_login(session, env.base + "/login", account)
            session.cookie_jar.clear()
        async with session.get(env.base + "/metrics") as resp:
            metrics = await resp.text()
    assert 'privacy_gateway_login_attempts_total{reason="none",result="ok"} 2.0' in metrics
    formatter = JSONFormatter()
    logs = "\n".join(formatter.format(r) for r in caplog.records)
    assert "login_ok" in logs
    for account in ("teacher", "pupil", "consumer"):
        for claim in ("email", "sub", "name"):
            value = ACCOUNTS[account][claim]
            assert value not in metrics
            assert value not in logs
    assert "eyJ" not in metrics and "eyJ" not in logs  # no JWT anywhere


async def test_key_rotation_is_accepted_after_one_refetch(env: SchoolEnv, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
        "identity": {"providers": [{
            **school_idp(tmp_path, env.op, env.secret), "jwks_refetch_cooldown_seconds": 1}]}})
    async with start_gateway(settings, env.port) as app:
        fetches = app[keys.METRICS].jwks_fetches.labels(result="ok")
        before = metric_value(fetches)
        await env.op.rotate_keys()
        import asyncio

        await asyncio.sleep(1.1)
        async with browser() as session:
            result = await browser_login(session, env.base + "/login", "teacher")
            assert result.status == 200
            assert "You are logged in as teacher." in await _home_text(session, env)
        assert metric_value(fetches) == before + 1


async def test_login_works_on_the_redis_store(env: SchoolEnv, tmp_path: Path,
                                              redis_url: str) -> None:
    """The same flow with sessions and login state in a real redis-server."""
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret)
    store = RedisStore.from_url(redis_url, "pgwtest")
    async with start_gateway(settings, env.port, store=store):
        async with browser() as session:
            result = await browser_login(session, env.base + "/login", "pupil")
            assert result.status == 200
            assert "You are logged in as pupil." in await _home_text(session, env)
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    keys_found = [k.decode() for k in await client.keys("*")]
    await client.aclose()
    assert any(k.startswith("pgwtest:session:") for k in keys_found)
    assert all(k.startswith("pgwtest:") for k in keys_found)
    session_key = next(k for k in keys_found if k.startswith("pgwtest:session:"))
    client = Redis.from_url(redis_url)
    ttl = await client.ttl(session_key)
    await client.aclose()
    assert 0 < ttl <= 8 * 3600


async def test_two_identity_providers_at_once(env: SchoolEnv, tmp_path: Path) -> None:
    """An Entra-like tenant for staff and a Google-like domain for pupils, side by side."""
    from tests.oidc_provider import async_start_op

    google_secret = new_secret()
    client = {"client_id": "gw-google", "client_secret": google_secret,
              "redirect_uris": [env.base + "/oidc/callback"],
              "post_logout_redirect_uris": [env.base + "/logged-out"]}
    accounts = {"noor": {"sub": "g-noor", "email": "noor@leerlingen.example",
                         "email_verified": True, "groups": ["pupils"]},
                "tamara": {"sub": "g-tamara", "email": "t.devries@school.example",
                           "email_verified": True, "groups": ["teachers"]}}
    second = await async_start_op(tmp_path / "google", clients=[client], accounts=accounts)
    async with second:
        (tmp_path / "google.secret").write_text(google_secret)
        google = {"name": "workspace", "display_name": "Google Workspace",
                  "issuer": second.issuer, "client_id": "gw-google",
                  "client_secret_file": str(tmp_path / "google.secret"),
                  "scopes": ["openid", "email", "profile", "school"],
                  "allowed_email_domains": ["leerlingen.example"],
                  "roles": {"pupil": ["pupils"]}}
        settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
            "identity": {"providers": [school_idp(tmp_path, env.op, env.secret), google]}})
        async with start_gateway(settings, env.port):
            async with browser() as session:
                async with session.get(env.base + "/login?lang=en") as resp:
                    chooser = await resp.text()
                assert "Google Workspace" in chooser and "idp=school" in chooser
                result = await browser_login(session, env.base + "/login?idp=workspace",
                                             "noor")
                assert result.status == 200
                assert "You are logged in as pupil." in await _home_text(session, env)
            async with browser() as session:
                # Each IdP vouches only for its own domains: a teacher address at the
                # pupils' IdP is refused there.
                result = await browser_login(session, env.base + "/login?idp=workspace",
                                             "tamara")
                assert result.status == 403
                assert 'data-reason="domain_not_allowed"' in result.body_text


async def test_cookies_are_secure_outside_development(env: SchoolEnv, tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
        "gateway": {"development": False, "public_url": "https://gateway.school.example"}})
    async with start_gateway(settings, env.port), browser() as session:
        async with session.get(env.base + "/login", allow_redirects=False) as resp:
            assert resp.status == 302
            cookie = next(v for k, v in resp.cookies.items()
                          if k.startswith("__Host-pgw_login_"))  # one per pending login
            assert cookie["secure"] is True and cookie["httponly"] is True
            assert cookie["samesite"] == "Lax" and cookie["path"] == "/"
            assert "Strict-Transport-Security" in resp.headers


async def test_cancelled_login_is_not_an_outage(env: SchoolEnv, gateway: web.Application) -> None:
    """The person cancels at the IdP: a plain page, counted as cancelled, not idp_error."""
    async with browser() as session:
        session.headers["Accept-Language"] = "en"
        async with session.get(env.base + "/login", allow_redirects=False) as resp:
            state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
        async with session.get(f"{env.base}/oidc/callback?error=access_denied&state={state}",
                               allow_redirects=False) as resp:
            assert resp.status == 400
            assert "Logging in was cancelled" in await resp.text()
    metrics = gateway[keys.METRICS].login_attempts
    assert metric_value(metrics.labels(result="cancelled", reason="none")) == 1
    assert metric_value(metrics.labels(result="idp_error", reason="none")) == 0
