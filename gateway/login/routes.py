"""School-account login (G1, G2): /login, /oidc/callback, /logout.

`state`, `nonce` and the PKCE verifier are random per login, stored
server-side with a TTL, bound to this browser by a login cookie of its own (so
logins started in several tabs each complete) and consumed once; the cookie is
deleted when that login ends, whatever the outcome. Each attempt is counted once,
under one result. After login the browser only goes back to one of the gateway's
own paths, and only to one that fits in a `Location` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.login.idtoken import Expectation, TokenRejected, validate_id_token
from gateway.login.oidc import CodeRejected, IdPUnavailable, Provider
from gateway.login.sessions import (
    cookie_name,
    create_session,
    current_session,
    delete_cookie,
    end_session,
    new_session,
    set_cookie,
)
from gateway.policy.identity import decide_account
from gateway.web import keys
from gateway.web.errors import BadRequest, NotFound
from gateway.web.shell import redirect, render

log = logging.getLogger(__name__)


MAX_NEXT = 2048


def safe_next(value: str | None) -> str:
    """Only a path on this gateway: no scheme, no host, no `//` or `\\` tricks, and
    only printable ASCII, so it always fits in a `Location` header."""
    if not value or len(value) > MAX_NEXT or not value.startswith("/"):
        return "/"
    if not all("!" <= c <= "~" for c in value):
        return "/"  # control characters, spaces, non-ASCII: not header-safe
    if value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def login_url(next_path: str) -> str:
    from urllib.parse import urlencode

    return "/login?" + urlencode({"next": safe_next(next_path)})


def login_cookie_name(request: web.Request, state: str) -> str:
    """One binding cookie per pending login, so two tabs logging in at once both finish,
    and each is deleted when its own login ends."""
    return cookie_name(request, login=True) + "_" + hashlib.sha256(
        state.encode()).hexdigest()[:16]


def _redirect_uri(request: web.Request) -> str:
    return request.app[keys.SETTINGS].policy.gateway.public_url + "/oidc/callback"


async def login(request: web.Request) -> web.StreamResponse:
    registry = request.app[keys.OIDC]
    next_path = safe_next(request.query.get("next"))
    name = request.query.get("idp")
    if name is None and len(registry.providers) == 1:
        name = next(iter(registry.providers))
    if name is None:
        return await render(request, "login_choose.html", {
            "providers": [p.config for p in registry.providers.values()],
            "next": next_path})
    provider = registry.providers.get(name)
    if provider is None:
        raise NotFound("unknown_idp")
    try:
        auth = provider.authorization(_redirect_uri(request))
    except IdPUnavailable:
        return await _unavailable(request)
    binding = secrets.token_urlsafe(24)
    record = {"idp": name, "nonce": auth.nonce, "verifier": auth.verifier, "next": next_path,
              "binding": hashlib.sha256(binding.encode()).hexdigest()}
    ttl = request.app[keys.SETTINGS].policy.gateway.login_ttl_seconds
    await request.app[keys.STORE].set(f"login:{auth.state}", json.dumps(record).encode(), ttl)
    response = redirect(auth.url)
    set_cookie(request, response, login_cookie_name(request, auth.state), binding, ttl)
    return response


async def _unavailable(request: web.Request, result: str = "idp_error") -> web.Response:
    """The outage page ("unavailable, try again"); the attempt is counted once, here."""
    request.app[keys.METRICS].login_attempts.labels(result=result, reason="none").inc()
    return await render(request, "message.html", {"message_key": "login.unavailable"},
                        status=503)


async def _expired(request: web.Request) -> web.Response:
    request.app[keys.METRICS].login_attempts.labels(result="bad_state", reason="none").inc()
    return await render(request, "message.html", {"message_key": "login.expired"}, status=400)


async def callback(request: web.Request) -> web.StreamResponse:
    state = request.query.get("state", "")
    if not state or len(state) > 128 or not state.isascii():
        return await _expired(request)
    response = await _callback(request, state)
    name = login_cookie_name(request, state)
    if name in request.cookies:
        delete_cookie(request, response, name)  # this login is over, whatever its outcome
    return response


async def _callback(request: web.Request, state: str) -> web.StreamResponse:
    raw = await request.app[keys.STORE].take(f"login:{state}")  # single use
    if raw is None:
        return await _expired(request)
    record: dict[str, Any] = json.loads(raw)
    binding = request.cookies.get(login_cookie_name(request, state), "")
    if not hmac.compare_digest(hashlib.sha256(binding.encode()).hexdigest(), record["binding"]):
        return await _expired(request)  # a callback started in another browser
    provider = request.app[keys.OIDC].providers.get(record["idp"])
    if provider is None:
        return await _expired(request)
    issuer_param = request.query.get("iss")
    if issuer_param is not None and issuer_param != provider.config.issuer:
        return await _expired(request)  # RFC 9207 mix-up defence
    code = request.query.get("code")
    if request.query.get("error") == "access_denied":
        # The person cancelled at the IdP (or it refused them): not an outage.
        request.app[keys.METRICS].login_attempts.labels(result="cancelled", reason="none").inc()
        return await render(request, "message.html", {"message_key": "login.cancelled"},
                            status=400)
    if "error" in request.query or not code:
        return await _unavailable(request)
    try:
        id_token = await provider.exchange(code, record["verifier"], _redirect_uri(request))
    except CodeRejected:
        return await _expired(request)  # a replayed or expired code
    except IdPUnavailable:
        return await _unavailable(request)
    return await _finish(request, provider, id_token, record)


async def _finish(request: web.Request, provider: Provider, id_token: str,
                  record: dict[str, Any]) -> web.StreamResponse:
    app = request.app
    metrics = app[keys.METRICS]
    if provider.jwks is None:
        return await _unavailable(request)
    idp = provider.config
    expectation = Expectation(
        issuer=idp.issuer, client_id=idp.client_id, algorithms=idp.algorithms,
        nonce=record["nonce"], now=app[keys.CLOCK].time(), leeway=idp.leeway_seconds,
        max_age=idp.max_token_age_seconds)
    try:
        claims = await validate_id_token(id_token, provider.jwks, expectation)
        nonce_key = "nonce:" + hashlib.sha256(record["nonce"].encode()).hexdigest()
        if not await app[keys.STORE].set_nx(nonce_key, b"1", idp.max_token_age_seconds + 120):
            raise TokenRejected("replayed")
    except TokenRejected as exc:
        metrics.id_token_rejections.labels(reason=exc.reason).inc()
        log.warning("id token refused", extra={"event": "id_token_refused",
                                               "reason": exc.reason, "idp": idp.name})
        if exc.reason == "jwks_unavailable":
            return await _unavailable(request, "jwks_unavailable")  # counted once, there
        metrics.login_attempts.labels(result="invalid_token", reason="none").inc()
        return await render(request, "refused.html", {"reason": "invalid_token"}, status=403)
    decision = decide_account(app[keys.SETTINGS].policy, idp, claims)
    if not decision.allowed or decision.identity is None:
        metrics.login_attempts.labels(result="refused", reason=str(decision.reason)).inc()
        log.info("login refused", extra={"event": "login_refused", "reason": decision.reason,
                                         "idp": idp.name})
        return await render(request, "refused.html", {"reason": decision.reason}, status=403)
    ident = decision.identity
    session = new_session(
        issuer=ident.issuer, subject=ident.subject, idp=ident.idp, role=ident.role,
        person=app[keys.PSEUDONYMS].person(ident.issuer, ident.subject),
        name=ident.name, email=ident.email, now=app[keys.CLOCK].time())
    metrics.login_attempts.labels(result="ok", reason="none").inc()
    log.info("login", extra={"event": "login_ok", "idp": idp.name, "role": ident.role})
    response = redirect(safe_next(record.get("next")))
    await create_session(request, response, session)
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST (CSRF-checked by the middleware): local logout, then the IdP's."""
    session = await current_session(request)
    if session is None:
        raise BadRequest("not_logged_in")
    settings = request.app[keys.SETTINGS]
    provider = request.app[keys.OIDC].providers.get(session.idp)
    after = settings.policy.gateway.public_url + "/logged-out"
    target = provider.logout_url(after) if provider is not None else None
    response = redirect(target or "/logged-out")
    await end_session(request, response)
    return response


async def logged_out(request: web.Request) -> web.StreamResponse:
    return await render(request, "message.html", {"message_key": "logout.done"})


def setup(app: web.Application) -> None:
    app.router.add_get("/login", login, name="login")
    app.router.add_get("/oidc/callback", callback, name="oidc_callback")
    app.router.add_post("/logout", logout, name="logout")
    app.router.add_get("/logged-out", logged_out, name="logged_out")
