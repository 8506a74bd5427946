"""Holes black-box testing found in the login, each proven through the real OpenID
provider (tests/op): plain-http IdPs in production, undecodable cookies, control
characters in `next`, `__Host-` deletions without `Secure`, off-site links on the 404
page, double counting, a JWKS outage during a key rotation, stale login cookies and
two logins in two tabs (G1, G2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.login.oidc import IdPUnavailable, Provider
from gateway.login.sessions import COOKIE_SECURE, new_session
from gateway.web import keys
from privacy_gateway import main as cli_main
from tests.gateway_fixtures import (
    SchoolEnv,
    browser,
    gateway_settings,
    school_idp,
    start_gateway,
)
from tests.oidc_provider import browser_login
from tests.support import example_policy, free_port, metric_value, to_toml, write_secret


@pytest.fixture
async def gateway(env: SchoolEnv, tmp_path: Path) -> AsyncIterator[web.Application]:
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret)
    async with start_gateway(settings, env.port) as app:
        yield app


async def raw_get(port: int, target: str, headers: bytes = b"") -> tuple[int, bytes]:
    """One HTTP/1.1 GET with raw header bytes (clients refuse to send non-UTF-8)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET " + target.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 + headers + b"Connection: close\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    if not data:
        return 0, b""  # an empty reply: what the browser got before the fix
    return int(data.split(b" ", 2)[1]), data


# --- 1. plain http to the IdP outside development ---------------------------------------

def _policy_file(tmp_path: Path, issuer: str, development: bool) -> Path:
    data = example_policy()
    data["gateway"].update({"development": development,
                            "public_url": "https://gateway.school.example",
                            "pseudonym_key_file": write_secret(tmp_path, "pseudonym.key")})
    data["dev_idp"] = {"enabled": False}
    for idp in data["identity"]["providers"]:
        idp["issuer"] = issuer
        idp["client_secret_file"] = write_secret(tmp_path, f"{idp['name']}.secret")
    path = tmp_path / "policy.toml"
    path.write_text(to_toml(data))
    return path


@pytest.mark.parametrize("command", ["check-config", "serve"])
def test_plain_http_issuer_is_refused_outside_development(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str) -> None:
    """Finding 1: production with issuer http://idp.school.example was called 'valid'."""
    path = _policy_file(tmp_path, "http://idp.school.example", development=False)
    argv = [command, str(path)] if command == "check-config" else [command, "--config",
                                                                   str(path)]
    with pytest.raises(SystemExit) as stopped:
        cli_main(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "identity.providers[0].issuer must be https://" in err
    assert "valid." not in capsys.readouterr().out


def test_plain_http_issuer_is_fine_in_development(tmp_path: Path) -> None:
    path = _policy_file(tmp_path, "http://idp.school.example", development=True)
    assert cli_main(["check-config", str(path)]) == 0


async def test_discovered_http_endpoints_are_refused_outside_development(
        env: SchoolEnv, tmp_path: Path) -> None:
    """URLs learnt from discovery are held to https too: the real OP's document, with its
    token endpoint moved to plain http on another host, is not used at all."""
    app = web.Application()
    issuer_box: dict[str, str] = {}

    async def discovery(request: web.Request) -> web.Response:
        async with browser() as http, http.get(env.op.discovery_url) as resp:
            doc = await resp.json()
        doc["issuer"] = issuer_box["issuer"]
        doc["token_endpoint"] = "http://idp.school.example/token"
        return web.json_response(doc)

    app.router.add_get("/.well-known/openid-configuration", discovery)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    issuer_box["issuer"] = f"http://127.0.0.1:{server.port}"
    try:
        settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
            "gateway": {"development": False, "public_url": "https://gateway.school.example"},
            "identity": {"providers": [{**_idp(tmp_path, env), "issuer": issuer_box["issuer"]}]}})
        from gateway.clock import SystemClock
        from gateway.metrics import Metrics

        async with browser() as http:
            provider = Provider(settings.policy.identity.providers[0], b"x", http,
                                SystemClock(), Metrics(), development=False)
            with pytest.raises(IdPUnavailable, match="token_endpoint is not https"):
                await provider.discover()
            assert provider.metadata is None
            provider = Provider(settings.policy.identity.providers[0], b"x", http,
                                SystemClock(), Metrics(), development=True)
            await provider.discover()  # development: as configured
            assert provider.metadata is not None
    finally:
        await server.close()


def _idp(tmp_path: Path, env: SchoolEnv) -> dict[str, Any]:
    """The school IdP, with keys refetched after 1 s (rotation tests)."""
    return {**school_idp(tmp_path, env.op, env.secret), "jwks_refetch_cooldown_seconds": 1}


# --- 2. undecodable cookies and headers ---------------------------------------------------

@pytest.mark.parametrize("header", [
    b"Cookie: pgw_session=\xff\r\n",
    b"Cookie: theme=dark; pgw_session=\xc3\x28\r\n",
    b"Accept-Language: \xff\xfe\r\n",
    b"Origin: http://\xff\r\n",
])
async def test_undecodable_cookie_or_header_is_treated_as_absent(
        env: SchoolEnv, gateway: web.Application, header: bytes) -> None:
    for target in ("/", "/privacy", "/login?next=/privacy", "/no-such-page"):
        status, body = await raw_get(env.port, target, header)
        assert status in (200, 302, 404), (target, body[:300])
        if target == "/":
            assert b"Je bent niet ingelogd." in body  # no session, no error


# --- 3. control characters in next ---------------------------------------------------

@pytest.mark.parametrize("next_param", ["%2F%01", "%2Fa%7Fb", "%2F%C3%A9", "%2Fa%20b",
                                        "%2F%0D%0ASet-Cookie:x=1"])
async def test_unsafe_next_still_completes_the_login(env: SchoolEnv, gateway: web.Application,
                                                     next_param: str) -> None:
    """Finding 3: `/login?next=%2F%01` created the session but the reply was empty."""
    async with browser() as session:
        result = await browser_login(session, f"{env.base}/login?next={next_param}",
                                     "teacher")
        assert result.status == 200
        assert urlsplit(result.final_url).path == "/"
        async with session.get(env.base + "/?lang=en") as resp:
            assert "You are logged in as teacher." in await resp.text()


# --- 4. cookie deletions repeat the attributes (Secure for __Host-) --------------------------

def _deletions(resp: Any, prefix: str) -> list[str]:
    return [v for v in resp.headers.getall("Set-Cookie", []) if v.startswith(prefix)]


async def test_host_cookie_deletions_carry_secure(env: SchoolEnv, tmp_path: Path) -> None:
    """Finding 4: browsers ignore a `__Host-` deletion without Secure, so the dead session
    cookie stayed after logout and the login cookie for up to 600 s."""
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
        "gateway": {"development": False, "public_url": "https://gateway.school.example"}})
    async with start_gateway(settings, env.port) as app, browser() as http:
        async with http.get(env.base + "/login", allow_redirects=False) as resp:
            state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
            name, morsel = next((k, v) for k, v in resp.cookies.items()
                                if k.startswith("__Host-pgw_login_"))
            assert morsel["secure"] is True and morsel["path"] == "/"
        async with http.get(f"{env.base}/oidc/callback?error=access_denied&state={state}",
                            headers={"Cookie": f"{name}={morsel.value}"},
                            allow_redirects=False) as resp:
            assert resp.status == 400
            [deletion] = _deletions(resp, f"{name}=")
            assert "Secure" in deletion and "Path=/" in deletion and "Max-Age=0" in deletion
        session = new_session(issuer=env.op.issuer, subject="s", idp="school", role="teacher",
                              person="p", name=None, email=None, now=app[keys.CLOCK].time())
        from dataclasses import asdict

        from gateway.login.sessions import _store_key

        await app[keys.STORE].set(_store_key("sid-" + "x" * 40),
                                  json.dumps(asdict(session)).encode(), 600)
        async with http.post(env.base + "/logout", data={"csrf": session.csrf},
                             headers={"Cookie": f"{COOKIE_SECURE}=sid-{'x' * 40}"},
                             allow_redirects=False) as resp:
            assert resp.status == 302
            [deletion] = _deletions(resp, f"{COOKIE_SECURE}=")
            assert "Secure" in deletion and "Path=/" in deletion and "Max-Age=0" in deletion


# --- 5. the 404 page links only to the gateway's own routes ---------------------------------

@pytest.mark.parametrize("target", ["/%2Fevil.example", "/%2F%2Fevil.example", "/%5Cevil.example",
                                    "/jitsi%2F..%2F%2Fevil.example"])
async def test_error_page_links_never_leave_the_gateway(env: SchoolEnv, gateway: web.Application,
                                                        target: str) -> None:
    status, body = await raw_get(env.port, target)
    assert status == 404
    text = body.decode()
    assert "evil.example" not in text.split("\r\n\r\n", 1)[1]
    assert 'href="/?lang=' in text


async def test_page_language_link_keeps_a_real_route(env: SchoolEnv,
                                                    gateway: web.Application) -> None:
    async with browser() as http, http.get(env.base + "/privacy?lang=en") as resp:
        assert 'href="/privacy?lang=nl"' in await resp.text()


# --- 6. counting once, outages, stale login cookies, two tabs -------------------------------

async def test_jwks_outage_during_rotation_is_unavailable_and_counted_once(
        env: SchoolEnv, tmp_path: Path) -> None:
    """The IdP rotated its keys while its JWKS cannot be reached: 'unavailable, try again'
    (503), not 'invalid token'; counted once, as jwks_unavailable."""
    settings = gateway_settings(tmp_path, env.op, env.port, env.secret, {
        "identity": {"providers": [_idp(tmp_path, env)]}})
    async with start_gateway(settings, env.port) as app:
        jwks = app[keys.OIDC].providers["school"].jwks
        assert jwks is not None
        jwks._uri = f"http://127.0.0.1:{free_port()}/jwks"  # the JWKS endpoint is down
        await env.op.rotate_keys()
        await asyncio.sleep(1.1)  # past the refetch cooldown
        try:
            async with browser() as session:
                session.headers["Accept-Language"] = "en"
                result = await browser_login(session, env.base + "/login", "teacher")
                assert result.status == 503
                assert 'data-message="login.unavailable"' in result.body_text
                assert not [c for c in session.cookie_jar if c.key.startswith("pgw_login")]
        finally:
            await env.op.rotate_keys()  # the next test's keys are fetched afresh anyway
        attempts = app[keys.METRICS].login_attempts
        assert metric_value(attempts.labels(result="jwks_unavailable", reason="none")) == 1
        assert metric_value(attempts.labels(result="idp_error", reason="none")) == 0
        assert metric_value(attempts.labels(result="invalid_token", reason="none")) == 0


async def test_login_cookie_is_cleared_after_a_refused_login(env: SchoolEnv,
                                                             gateway: web.Application) -> None:
    async with browser() as session:
        result = await browser_login(session, env.base + "/login", "consumer")
        assert result.status == 403
        assert [c.key for c in session.cookie_jar if c.key.startswith("pgw_login")] == []


async def test_two_pending_logins_in_one_browser_both_complete(
        env: SchoolEnv, gateway: web.Application) -> None:
    """Finding 6: two tabs start a login; the first one to come back used to get 400."""
    async with browser() as session:
        starts = []
        for next_path in ("/privacy", "/"):
            async with session.get(f"{env.base}/login?next={next_path}",
                                   allow_redirects=False) as resp:
                starts.append(resp.headers["Location"])
        first = await browser_login(session, starts[0], "teacher", follow_origins=[env.base])
        assert first.status == 200 and urlsplit(first.final_url).path == "/privacy"
        second = await browser_login(session, starts[1], "teacher", follow_origins=[env.base])
        assert second.status == 200 and urlsplit(second.final_url).path == "/"
        assert [c.key for c in session.cookie_jar if c.key.startswith("pgw_login")] == []
    assert metric_value(gateway[keys.METRICS].login_attempts.labels(
        result="ok", reason="none")) == 2
