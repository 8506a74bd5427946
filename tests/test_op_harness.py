"""Self-test of the real test OP (tests/op/server.mjs) and its Python harness.

A tiny relying party written here with aiohttp + PyJWT (authorization code flow,
PKCE S256, state, nonce, client_secret_basic) logs in through the OP.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import aiohttp
import jwt
import pytest
import pytest_asyncio
from aiohttp import web

from tests.oidc_provider import (
    OP_DIR,
    OPHandle,
    OPStartError,
    browser_login,
    browser_logout,
    start_op,
)
from tests.support import free_port

pytestmark = pytest.mark.asyncio

JITSI = "https://meet.example.org"

CLIENT_RS = {
    "client_id": "gateway-rs",
    "client_secret": "rs-secret-0123456789abcdef0123456789",
    "redirect_uris": [],  # filled per test with the RP's port
    "post_logout_redirect_uris": [],
    "token_endpoint_auth_method": "client_secret_basic",
    "id_token_signed_response_alg": "RS256",
}
CLIENT_ES = {
    **CLIENT_RS,
    "client_id": "gateway-es",
    "client_secret": "es-secret-0123456789abcdef0123456789",
    "id_token_signed_response_alg": "ES256",
}

ACCOUNTS = {
    "alice": {
        "sub": "alice-sub-1",
        "email": "alice@school.example",
        "email_verified": True,
        "name": "Alice Teacher",
        "groups": ["teachers", "class-7b"],
        "tid": "school-tenant-1",
        "roles": ["Meeting.Moderator"],
        "eduPersonAffiliation": ["faculty", "member"],
        "school_number": "0815",  # not in any scope mapping -> released with openid
    },
    "bob": {
        "email": "bob@school.example",
        "email_verified": False,
        "name": "Bob Pupil",
        "groups": ["class-7b"],
        "tid": "school-tenant-1",
        "eduPersonAffiliation": ["student"],
    },
}

SCOPE = "openid email profile school"


def _basic_auth(client: dict[str, Any]) -> dict[str, str]:
    """client_secret_basic (RFC 6749 2.3.1: form-urlencode id and secret first)."""
    pair = f"{quote_plus(client['client_id'])}:{quote_plus(client['client_secret'])}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class StandInRP:
    """Relying party under test: /login -> OP -> /callback (-> Jitsi redirect)."""

    op: OPHandle
    client: dict[str, Any]
    base: str = ""
    pending: dict[str, dict[str, str]] = field(default_factory=dict)
    results: list[dict[str, Any]] = field(default_factory=list)
    id_tokens: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    jwks_client: jwt.PyJWKClient | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/callback"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/login", self.login)
        app.router.add_get("/callback", self.callback)
        app.router.add_post("/callback", self.callback)  # response_mode=form_post
        app.router.add_get("/logout", self.logout)
        app.router.add_get("/logged-out", self.logged_out)
        return app

    async def login(self, request: web.Request) -> web.StreamResponse:
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier = secrets.token_urlsafe(48)
        challenge = _b64url(hashlib.sha256(verifier.encode()).digest())
        self.pending[state] = {
            "nonce": nonce,
            "verifier": verifier,
            "then": request.query.get("then", ""),
        }
        params = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": self.redirect_uri,
            "scope": request.query.get("scope", SCOPE),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        if "no_pkce" in request.query:
            del params["code_challenge"], params["code_challenge_method"]
        if "form_post" in request.query:
            params["response_mode"] = "form_post"
        raise web.HTTPFound(f"{self.metadata['authorization_endpoint']}?{urlencode(params)}")

    async def callback(self, request: web.Request) -> web.StreamResponse:
        query = dict(await request.post()) if request.method == "POST" else dict(request.query)
        if "error" in query:
            return web.json_response(query, status=400)
        assert query["iss"] == self.op.issuer  # RFC 9207 iss parameter
        pending = self.pending.pop(str(query["state"]))
        async with aiohttp.ClientSession() as s:
            async with s.post(
                self.metadata["token_endpoint"],
                headers=_basic_auth(self.client),
                data={
                    "grant_type": "authorization_code",
                    "code": query["code"],
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": pending["verifier"],
                },
            ) as resp:
                tokens = await resp.json()
                if resp.status != 200:
                    return web.json_response(tokens, status=502)
        id_token = tokens["id_token"]
        assert self.jwks_client is not None
        key = await asyncio.to_thread(self.jwks_client.get_signing_key_from_jwt, id_token)
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[self.client["id_token_signed_response_alg"]],
            audience=self.client["client_id"],
            issuer=self.op.issuer,
        )
        if claims.get("nonce") != pending["nonce"]:
            return web.json_response({"error": "nonce mismatch"}, status=400)
        self.id_tokens.append(id_token)
        self.results.append(
            {"claims": claims, "header": jwt.get_unverified_header(id_token), "tokens": tokens}
        )
        if pending["then"] == "jitsi":
            raise web.HTTPFound(f"{JITSI}/room-7b?jwt=stand-in")
        return web.json_response({"sub": claims["sub"]})

    async def logout(self, request: web.Request) -> web.StreamResponse:
        params = {
            "id_token_hint": self.id_tokens[-1],
            "post_logout_redirect_uri": f"{self.base}/logged-out",
            "state": "bye-state",
        }
        raise web.HTTPFound(f"{self.metadata['end_session_endpoint']}?{urlencode(params)}")

    async def logged_out(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"logged out state={request.query.get('state')}")


def _jwks_client(uri: str) -> jwt.PyJWKClient:
    # PyJWT >= 2.11 waits cooldown_duration (30 s) before refetching the JWKS for an
    # unknown kid; the rotation test needs the refetch at once.
    try:
        return jwt.PyJWKClient(uri, cooldown_duration=0)
    except TypeError:  # older PyJWT: refetches on an unknown kid anyway
        return jwt.PyJWKClient(uri)


@pytest.fixture
def rp_port() -> int:
    return free_port()


@pytest.fixture
def op(tmp_path, rp_port) -> Iterator[OPHandle]:
    base = f"http://127.0.0.1:{rp_port}"
    clients = [
        {
            **c,
            "redirect_uris": [f"{base}/callback"],
            "post_logout_redirect_uris": [f"{base}/logged-out"],
        }
        for c in (CLIENT_RS, CLIENT_ES)
    ]
    started = time.monotonic()
    with start_op(tmp_path, clients=clients, accounts=ACCOUNTS) as handle:
        handle.startup_seconds = time.monotonic() - started  # type: ignore[attr-defined]
        yield handle
    assert not handle.running


async def _start_rp(
    op: OPHandle, client: dict[str, Any], port: int
) -> tuple[StandInRP, web.AppRunner]:
    rp = StandInRP(op=op, client=client, base=f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession() as s:
        async with s.get(op.discovery_url) as resp:
            rp.metadata = await resp.json()
    rp.jwks_client = _jwks_client(rp.metadata["jwks_uri"])
    runner = web.AppRunner(rp.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return rp, runner


@pytest_asyncio.fixture(params=["RS256", "ES256"])
async def rp(request, op, rp_port) -> AsyncIterator[StandInRP]:
    client = CLIENT_RS if request.param == "RS256" else CLIENT_ES
    rp, runner = await _start_rp(op, client, rp_port)
    try:
        yield rp
    finally:
        await runner.cleanup()


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_op_starts_fast_and_is_healthy(op: OPHandle) -> None:
    assert op.startup_seconds < 3.0, op.startup_seconds  # type: ignore[attr-defined]
    health = await op.health()
    assert health["status"] == "ok" and health["issuer"] == op.issuer
    async with aiohttp.ClientSession() as s:
        async with s.get(op.discovery_url) as resp:
            meta = await resp.json()
    assert meta["issuer"] == op.issuer
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {"RS256", "ES256"} <= set(meta["id_token_signing_alg_values_supported"])
    assert {"openid", "email", "profile", "school"} <= set(meta["scopes_supported"])
    assert meta["end_session_endpoint"] == op.end_session_endpoint
    assert "READY " + op.issuer in op.stdout_text


async def test_login_code_flow_pkce_claims_in_id_token(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login", "alice")
    assert result.response_status == 200, (result, rp.op.stderr_text)
    assert result.login_submitted
    assert result.url_history[0] == f"{rp.base}/login"
    assert any(u.startswith(f"POST {rp.op.issuer}/interaction/") for u in result.url_history)
    assert result.final_url.startswith(f"{rp.base}/callback?")

    (res,) = rp.results
    claims, header = res["claims"], res["header"]
    assert header["alg"] == rp.client["id_token_signed_response_alg"]
    assert header["kid"] in (await rp.op.health())["kids"]
    assert claims["sub"] == "alice-sub-1"
    assert claims["email"] == "alice@school.example"
    assert claims["email_verified"] is True
    assert claims["name"] == "Alice Teacher"
    assert claims["groups"] == ["teachers", "class-7b"]
    assert claims["tid"] == "school-tenant-1"
    assert claims["roles"] == ["Meeting.Moderator"]
    assert claims["eduPersonAffiliation"] == ["faculty", "member"]
    assert claims["school_number"] == "0815"
    assert claims["aud"] == rp.client["client_id"] and claims["iss"] == rp.op.issuer
    # no sid (only with backchannel logout), no auth_time (only with max_age/require_auth_time)
    assert claims["nonce"] and "sid" not in claims and "auth_time" not in claims


async def test_second_account_and_scope_filtering(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login?scope=openid+email", "bob")
    assert result.response_status == 200, result
    claims = rp.results[-1]["claims"]
    assert claims["sub"] == "bob"  # no "sub" configured -> the login name
    assert claims["email_verified"] is False
    assert "groups" not in claims and "name" not in claims  # school/profile not requested


async def test_redirect_leaving_known_origins_is_returned_not_followed(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login?then=jitsi", "alice")
        assert result.response_status == 302
        assert result.location == f"{JITSI}/room-7b?jwt=stand-in"
        assert result.is_redirect and result.final_url.startswith(f"{rp.base}/callback?")

        # the OP session is reused: no login form the second time
        again = await browser_login(s, f"{rp.base}/login?then=jitsi", "alice")
        assert again.location == f"{JITSI}/room-7b?jwt=stand-in"
        assert not again.login_submitted
        assert len(rp.results) == 2


async def test_response_mode_form_post_is_submitted(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login?form_post=1", "alice")
    assert result.response_status == 200, result
    assert result.url_history[-1] == f"POST {rp.base}/callback"
    assert rp.results[-1]["claims"]["groups"] == ["teachers", "class-7b"]


async def test_unknown_account_stays_on_login_page(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login", "mallory")
    assert result.response_status == 401
    assert "unknown account" in result.body_text
    assert rp.results == []


async def test_pkce_is_required(rp: StandInRP) -> None:
    async with browser() as s:
        result = await browser_login(s, f"{rp.base}/login?no_pkce=1", "alice")
    # the OP redirects back to the RP with an error instead of showing a login form
    assert result.response_status == 400
    err = parse_qs(urlsplit(result.final_url).query)
    assert err["error"] == ["invalid_request"], err
    assert "PKCE" in err["error_description"][0]
    assert not result.login_submitted


async def test_rp_initiated_logout(rp: StandInRP) -> None:
    async with browser() as s:
        first = await browser_login(s, f"{rp.base}/login", "alice")
        assert first.response_status == 200
        out = await browser_logout(s, f"{rp.base}/logout")
        assert out.response_status == 200, out
        assert out.body_text == "logged out state=bye-state"
        assert any(
            u.startswith(f"POST {rp.op.issuer}/session/end/confirm") for u in out.url_history
        ), out
        # OP session is gone: the login form is shown again
        again = await browser_login(s, f"{rp.base}/login", "bob")
        assert again.login_submitted and again.response_status == 200
        assert rp.results[-1]["claims"]["sub"] == "bob"
    async with browser() as fresh:  # no OP session: the OP's self-submitting form
        out = await browser_logout(fresh, f"{rp.base}/logout")
        assert out.body_text == "logged out state=bye-state", out


@pytest.mark.parametrize("keep_old", [False, True])
async def test_key_rotation_changes_jwks(op: OPHandle, rp_port: int, keep_old: bool) -> None:
    rp, runner = await _start_rp(op, CLIENT_RS, rp_port)
    try:
        async with browser() as s:
            await browser_login(s, f"{rp.base}/login", "alice")
            old_kid = rp.results[-1]["header"]["kid"]
            old_kids = {k.key_id for k in await asyncio.to_thread(rp.jwks_client.get_signing_keys)}
            assert old_kid in old_kids

            kids = await op.rotate_keys(keep_old=keep_old)

            jwks = await asyncio.to_thread(jwt.PyJWKClient(op.jwks_uri).get_jwk_set)
            new_kids = {k.key_id for k in jwks.keys}
            assert new_kids == set(kids)
            if keep_old:
                assert old_kids < new_kids
            else:
                assert new_kids.isdisjoint(old_kids)

            # a new login is signed with a new kid; the RP's JWKS cache refreshes on it
            result = await browser_login(s, f"{rp.base}/login", "alice")
            assert result.response_status == 200, (result, op.stderr_text)
            new_kid = rp.results[-1]["header"]["kid"]
            assert new_kid != old_kid and new_kid in new_kids and new_kid not in old_kids
    finally:
        await runner.cleanup()


async def test_missing_node_modules_gives_clear_error(tmp_path) -> None:
    bare = tmp_path / "op"
    bare.mkdir()
    shutil.copy(OP_DIR / "server.mjs", bare / "server.mjs")
    with pytest.raises(OPStartError, match="npm ci"):
        start_op(tmp_path, clients=[], accounts={}, op_dir=bare)


async def test_default_cookie_jar_is_rejected(op: OPHandle) -> None:
    async with aiohttp.ClientSession() as s:
        with pytest.raises(ValueError, match="unsafe=True"):
            await browser_login(s, f"{op.issuer}/auth", "alice")
