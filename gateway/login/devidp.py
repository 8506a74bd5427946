"""A local development identity provider for trying the gateway out.

NOT FOR PRODUCTION: it logs anybody in as one of a few sample accounts at the
click of a button. The policy only lets it run with `gateway.development =
true`. It speaks enough OpenID Connect (discovery, authorization code with
PKCE S256, token endpoint with client_secret_basic, JWKS, end-session) for
the gateway's normal login code to run against it unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.policy.model import Policy
from gateway.web import keys
from gateway.web.shell import add_csp, redirect, render

MESSAGES: dict[str, dict[str, str]] = {
    "devidp.title": {"nl": "Inloggen voor ontwikkeling", "en": "Development login"},
    "devidp.warning": {"nl": "Inlogdienst voor ontwikkeling: niet voor echt gebruik.",
                       "en": "Development identity provider: not for production."},
    "devidp.pick": {
        "nl": "Kies een voorbeeldaccount om te zien wie de privacypoort binnenlaat en wie "
              "niet.",
        "en": "Pick a sample account to see what the gateway lets in and what it refuses."},
    "devidp.accounts": {"nl": "Voorbeeldaccounts", "en": "Sample accounts"},
}

PREFIX = "/dev-idp"
CLIENT_ID = "privacy-gateway-demo"

SAMPLE_ACCOUNTS: dict[str, dict[str, Any]] = {
    "teacher": {"sub": "dev-teacher-1", "email": "j.jansen@school.example",
                "email_verified": True, "name": "Juf Jansen", "groups": ["teachers"]},
    "pupil": {"sub": "dev-pupil-1", "email": "sam@leerling.school.example",
              "email_verified": True, "name": "Sam de Vries", "groups": ["pupils"]},
    "staff": {"sub": "dev-staff-1", "email": "admin@school.example", "email_verified": True,
              "name": "Conciërge", "groups": ["staff"]},
    # The privacy officer: listed in the example's retention.privacy_officer_emails.
    "officer": {"sub": "dev-officer-1", "email": "privacy@school.example",
                "email_verified": True, "name": "Privacy-officer Bakker", "groups": ["staff"]},
    "private": {"sub": "dev-private-1", "email": "sam.devries@gmail.com",
                "email_verified": True, "name": "Sam (private)", "groups": []},
    "other-school": {"sub": "dev-other-1", "email": "kim@andereschool.example",
                     "email_verified": True, "name": "Kim", "groups": ["pupils"]},
}


class DevIdP:
    def __init__(self, issuer: str, client_secret: bytes) -> None:
        self.issuer = issuer
        self.client_secret = client_secret
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.codes: dict[str, dict[str, Any]] = {}

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}


DEV_IDP = web.AppKey("dev_idp", DevIdP)

def _idp(request: web.Request) -> DevIdP:
    return request.app[DEV_IDP]


async def discovery(request: web.Request) -> web.StreamResponse:
    issuer = _idp(request).issuer
    return web.json_response({
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "jwks_uri": issuer + "/jwks",
        "end_session_endpoint": issuer + "/logout",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "code_challenge_methods_supported": ["S256"],
    })


async def jwks(request: web.Request) -> web.StreamResponse:
    return web.json_response(_idp(request).jwks())


def _meeting_origins(policy: Policy) -> list[str]:
    urls = [server.url for server in policy.bbb.servers] if policy.bbb.enabled else []
    if policy.jitsi.enabled:
        urls.append(policy.jitsi.base_url)
    origins = []
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return sorted(set(origins))


async def authorize(request: web.Request) -> web.StreamResponse:
    q = request.query
    if (q.get("client_id") != CLIENT_ID or q.get("response_type") != "code"
            or q.get("code_challenge_method") != "S256" or not q.get("code_challenge")):
        raise web.HTTPBadRequest(text="dev-idp: invalid authorization request")
    callback = request.app[keys.SETTINGS].policy.gateway.public_url + "/oidc/callback"
    if q.get("redirect_uri") != callback:
        raise web.HTTPBadRequest(text="dev-idp: unknown redirect_uri")
    params = {k: q.get(k, "") for k in ("redirect_uri", "state", "nonce", "code_challenge")}
    # A real IdP's login page is its own origin and does not limit where the login ends;
    # after this form, the redirects go on to the meeting server (BBB's join, Jitsi's room),
    # which Chromium checks against form-action: allow the configured servers' origins.
    add_csp(request, "form-action", *_meeting_origins(request.app[keys.SETTINGS].policy))
    return await render(request, "devidp.html", {
        "accounts": SAMPLE_ACCOUNTS, "params": params,
    })


async def choose(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    account = SAMPLE_ACCOUNTS.get(str(form.get("account", "")))
    callback = request.app[keys.SETTINGS].policy.gateway.public_url + "/oidc/callback"
    if account is None or form.get("redirect_uri") != callback:
        raise web.HTTPBadRequest(text="dev-idp: unknown account")
    code = secrets.token_urlsafe(24)
    _idp(request).codes[code] = {
        "account": account, "nonce": str(form.get("nonce", "")),
        "challenge": str(form.get("code_challenge", "")),
        "redirect_uri": str(form.get("redirect_uri", "")), "expires": time.time() + 60,
    }
    query = urlencode({"code": code, "state": str(form.get("state", "")),
                       "iss": _idp(request).issuer})
    return redirect(f"{callback}?{query}")


def _client_ok(request: web.Request, idp: DevIdP) -> bool:
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Basic "):
        return False
    try:
        user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return unquote_plus(user) == CLIENT_ID and hmac.compare_digest(
        unquote_plus(password).encode(), idp.client_secret)


async def token(request: web.Request) -> web.StreamResponse:
    idp = _idp(request)
    form = await request.post()
    if not _client_ok(request, idp):
        return web.json_response({"error": "invalid_client"}, status=401)
    grant = idp.codes.pop(str(form.get("code", "")), None)
    verifier = str(form.get("code_verifier", ""))
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(
        b"=").decode()
    if (grant is None or grant["expires"] < time.time() or grant["challenge"] != challenge
            or grant["redirect_uri"] != form.get("redirect_uri")):
        return web.json_response({"error": "invalid_grant"}, status=400)
    now = int(time.time())
    claims = {**grant["account"], "iss": idp.issuer, "aud": CLIENT_ID, "iat": now,
              "exp": now + 300, "nonce": grant["nonce"]}
    id_token = jwt.encode(claims, idp.key, algorithm="RS256",
                          headers={"kid": idp.kid, "typ": "JWT"})
    return web.json_response({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                              "expires_in": 300, "id_token": id_token})


async def logout(request: web.Request) -> web.StreamResponse:
    target = request.query.get("post_logout_redirect_uri", "")
    public = request.app[keys.SETTINGS].policy.gateway.public_url
    return redirect(target if target.startswith(public + "/") else "/")


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    issuer = settings.policy.gateway.public_url + PREFIX
    provider = next((i for i, p in enumerate(settings.policy.identity.providers)
                     if p.issuer == issuer), None)
    if provider is None:
        raise ValueError(f"dev_idp.enabled needs an identity provider with issuer {issuer}")
    secret = settings.secrets.get(f"identity.providers[{provider}].client_secret")
    app[DEV_IDP] = DevIdP(issuer, secret)
    app.router.add_get(PREFIX + "/.well-known/openid-configuration", discovery)
    app.router.add_get(PREFIX + "/jwks", jwks)
    app.router.add_get(PREFIX + "/authorize", authorize)
    app.router.add_post(PREFIX + "/choose", choose)
    app.router.add_post(PREFIX + "/token", token)
    app.router.add_get(PREFIX + "/logout", logout)
