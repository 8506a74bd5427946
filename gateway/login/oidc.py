"""The OIDC relying party: discovery, authorization requests, code exchange.

Several IdPs at once (for example an Entra ID tenant and a Google Workspace
domain). Discovery runs in the background with retries; the login refuses
with a clear page until the IdP's metadata is known (fail closed).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlencode

import aiohttp

from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.login.fetch import MAX_DOCUMENT_BYTES, FetchError, get_json_object, read_bounded
from gateway.login.jwks import JWKSCache
from gateway.metrics import Metrics
from gateway.policy.model import IdentityProvider, is_secure_url

log = logging.getLogger(__name__)



class IdPUnavailable(Exception):
    """The IdP's metadata or token endpoint cannot be used right now."""


class CodeRejected(Exception):
    """The token endpoint refused the code (used, expired, or PKCE mismatch)."""


@dataclass(frozen=True, slots=True)
class Metadata:
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True, slots=True)
class AuthRequest:
    url: str
    state: str
    nonce: str
    verifier: str


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Provider:
    """One configured IdP: its metadata, keys and client credentials."""

    def __init__(self, config: IdentityProvider, secret: bytes, http: aiohttp.ClientSession,
                 clock: Clock, metrics: Metrics, *, development: bool = False) -> None:
        self.config = config
        self._development = development
        self._secret = secret
        self._http = http
        self._clock = clock
        self._metrics = metrics
        self.metadata: Metadata | None = None
        self.jwks: JWKSCache | None = None

    async def discover(self) -> None:
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            doc = await get_json_object(self._http, url)
        except FetchError as exc:
            raise IdPUnavailable(str(exc)) from None
        if doc.get("issuer") != self.config.issuer:
            # The discovered issuer must equal the configured one exactly (OIDC Discovery 4.3).
            raise IdPUnavailable("issuer mismatch in discovery document")
        try:
            meta = Metadata(
                authorization_endpoint=_url(doc, "authorization_endpoint"),
                token_endpoint=_url(doc, "token_endpoint"),
                jwks_uri=_url(doc, "jwks_uri"),
                end_session_endpoint=_url(doc, "end_session_endpoint")
                if doc.get("end_session_endpoint") is not None else None,
            )
        except KeyError as exc:
            raise IdPUnavailable(f"discovery lacks {exc.args[0]}") from None
        self._require_tls(meta)
        self.metadata = meta
        c = self.config
        self.jwks = JWKSCache(
            self._http, meta.jwks_uri, self._clock,
            refresh_seconds=c.jwks_refresh_seconds,
            cooldown_seconds=c.jwks_refetch_cooldown_seconds,
            max_stale_seconds=c.jwks_max_stale_seconds,
            on_fetch=lambda result: self._metrics.jwks_fetches.labels(result=result).inc(),
        )
        await self.jwks.refresh()

    def _require_tls(self, meta: Metadata) -> None:
        """Outside development every URL learnt from discovery is https as well: the
        token call carries the client secret, the JWKS decides whom we trust."""
        if self._development:
            return
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri",
                     "end_session_endpoint"):
            value = getattr(meta, name)
            if value is not None and not is_secure_url(value):
                raise IdPUnavailable(f"discovery's {name} is not https://")

    def authorization(self, redirect_uri: str) -> AuthRequest:
        if self.metadata is None:
            raise IdPUnavailable("metadata not loaded")
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        query = urlencode({
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        sep = "&" if "?" in self.metadata.authorization_endpoint else "?"
        return AuthRequest(f"{self.metadata.authorization_endpoint}{sep}{query}", state, nonce,
                           verifier)

    async def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The ID token from the token endpoint (client_secret_basic, PKCE)."""
        if self.metadata is None:
            raise IdPUnavailable("metadata not loaded")
        data = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": redirect_uri, "code_verifier": verifier}
        try:
            async with self._http.post(self.metadata.token_endpoint, data=data,
                                       headers={"Authorization": self._basic_auth()},
                                       allow_redirects=False,
                                       timeout=aiohttp.ClientTimeout(total=10)) as resp:
                status = resp.status
                body = await read_bounded(resp, MAX_DOCUMENT_BYTES)
        except (aiohttp.ClientError, TimeoutError, FetchError) as exc:
            raise IdPUnavailable(type(exc).__name__) from None
        if 400 <= status < 500:
            raise CodeRejected(f"token endpoint answered {status}")
        if status != 200:
            raise IdPUnavailable(f"token endpoint answered {status}")
        try:
            doc = json.loads(body)
        except ValueError:
            raise IdPUnavailable("token response is not JSON") from None
        token = doc.get("id_token") if isinstance(doc, dict) else None
        if not isinstance(token, str):
            raise IdPUnavailable("token response has no id_token")
        return token

    def _basic_auth(self) -> str:
        # RFC 6749 2.3.1: id and secret are form-urlencoded before Basic encoding.
        pair = f"{quote_plus(self.config.client_id)}:{quote_plus(self._secret.decode())}"
        return "Basic " + base64.b64encode(pair.encode()).decode("ascii")

    def logout_url(self, post_logout_redirect_uri: str) -> str | None:
        if self.metadata is None or not self.metadata.end_session_endpoint:
            return None
        query = urlencode({"client_id": self.config.client_id,
                           "post_logout_redirect_uri": post_logout_redirect_uri})
        return f"{self.metadata.end_session_endpoint}?{query}"


def _url(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not value.startswith(("https://", "http://")):
        raise KeyError(name)
    return value


class OIDCRegistry:
    """All configured IdPs, with discovery retried in the background."""

    def __init__(self, settings: Settings, http: aiohttp.ClientSession, clock: Clock,
                 metrics: Metrics) -> None:
        self.providers: dict[str, Provider] = {}
        for i, idp in enumerate(settings.policy.identity.providers):
            secret = settings.secrets.get(f"identity.providers[{i}].client_secret")
            self.providers[idp.name] = Provider(
                idp, secret, http, clock, metrics,
                development=settings.policy.gateway.development)

    def ready(self) -> bool:
        return all(p.metadata is not None for p in self.providers.values())

    async def discover_forever(self, retry_seconds: float = 5.0) -> None:
        """Discover every IdP, retrying failures with capped backoff."""
        delay = retry_seconds
        while True:
            missing = [p for p in self.providers.values() if p.metadata is None]
            if not missing:
                return
            for provider in missing:
                try:
                    await provider.discover()
                    log.info("idp discovered", extra={"event": "idp_discovered",
                                                      "idp": provider.config.name})
                except IdPUnavailable as exc:
                    log.warning("idp discovery failed", extra={
                        "event": "idp_discovery_failed", "idp": provider.config.name,
                        "error": str(exc)})
            if any(p.metadata is None for p in self.providers.values()):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 300.0)
