"""An asynchronous JWKS cache that fails closed (style_security.md B.3, B.4).

- Keys are fetched with the app's aiohttp session, never on a blocking call.
- An unknown `kid` triggers at most one refetch per cooldown (B.1 #6); a
  flood of random kids costs one fetch, concurrent misses share it.
- A failed refresh keeps the last good keys until `max_stale` has passed since
  they were fetched; after that every token is refused until the IdP answers.
- Only asymmetric keys are loaded; a malformed JWK is skipped, not fatal.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aiohttp
import jwt

from gateway.clock import Clock
from gateway.login.fetch import FetchError, get_json_object

log = logging.getLogger(__name__)

_KEY_TYPES = {"RSA": ("RS", "PS"), "EC": ("ES",)}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


class JWKSUnavailable(Exception):
    """No usable keys: the IdP is unreachable and nothing fresh enough is cached."""


class UnknownKey(Exception):
    """The token names a key the IdP does not publish (or not for this algorithm)."""


class JWKSCache:
    def __init__(self, http: aiohttp.ClientSession, uri: str, clock: Clock, *,
                 refresh_seconds: float, cooldown_seconds: float, max_stale_seconds: float,
                 on_fetch: Any = None) -> None:
        self._http = http
        self._uri = uri
        self._clock = clock
        self._refresh = refresh_seconds
        self._cooldown = cooldown_seconds
        self._max_stale = max_stale_seconds
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: float | None = None
        self._last_attempt: float | None = None
        self._inflight: asyncio.Task[None] | None = None
        self._last_failed = False  # the last fetch attempt did not reach the IdP
        self._on_fetch = on_fetch

    def _usable(self) -> bool:
        return (self._fetched_at is not None
                and self._clock.time() - self._fetched_at <= self._max_stale)

    def _may_fetch(self) -> bool:
        return (self._last_attempt is None
                or self._clock.time() - self._last_attempt >= self._cooldown)

    async def refresh(self) -> None:
        """Fetch now (sharing a fetch already under way); errors keep the old keys."""
        if self._inflight is None or self._inflight.done():
            self._last_attempt = self._clock.time()
            self._inflight = asyncio.create_task(self._fetch())
        await asyncio.shield(self._inflight)

    async def _fetch(self) -> None:
        try:
            keys = parse_jwks(await get_json_object(self._http, self._uri))
        except (FetchError, ValueError) as exc:
            log.warning("jwks fetch failed", extra={"event": "jwks_fetch_failed",
                                                    "error": type(exc).__name__})
            self._last_failed = True
            self._report("error")
            return
        self._keys = keys
        self._last_failed = False
        self._fetched_at = self._clock.time()
        self._report("ok")

    def _report(self, result: str) -> None:
        if self._on_fetch is not None:
            self._on_fetch(result)

    async def key_for(self, kid: str | None, alg: str) -> Any:
        """The verification key for a token header, refetching within the rules."""
        now = self._clock.time()
        stale = self._fetched_at is None or now - self._fetched_at >= self._refresh
        if self._inflight is not None and not self._inflight.done():
            await asyncio.shield(self._inflight)  # a fetch under way serves every waiter
        elif (stale or self._find(kid, alg) is None) and self._may_fetch():
            await self.refresh()
        if not self._usable():
            raise JWKSUnavailable
        found = self._find(kid, alg)
        if found is None:
            # A key we cannot find while the IdP is unreachable is most likely a rotation
            # we could not see: an outage ("try again"), not a forged token.
            raise JWKSUnavailable if self._last_failed else UnknownKey
        return found

    def _find(self, kid: str | None, alg: str) -> Any:
        if kid is None:
            candidates = [k for k in self._keys.values() if _fits(k, alg)]
            return candidates[0]["key"] if len(candidates) == 1 else None
        entry = self._keys.get(kid)
        return entry["key"] if entry is not None and _fits(entry, alg) else None


def _fits(entry: dict[str, Any], alg: str) -> bool:
    if entry["alg"] is not None and entry["alg"] != alg:
        return False
    if not alg.startswith(_KEY_TYPES.get(entry["kty"], ())):
        return False
    return bool(entry["kty"] != "EC" or _EC_CURVES.get(alg) == entry["crv"])


def parse_jwks(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Asymmetric signing keys by kid; malformed or unsuitable keys are skipped."""
    if not isinstance(doc.get("keys"), list):
        raise ValueError("not a JWK set")
    keys: dict[str, dict[str, Any]] = {}
    for index, jwk in enumerate(doc["keys"]):
        if not isinstance(jwk, dict) or jwk.get("kty") not in _KEY_TYPES:
            continue  # never an 'oct' (HMAC) key: no key confusion
        if jwk.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            log.warning("skipping a malformed JWK", extra={"event": "jwk_skipped"})
            continue
        kid = jwk.get("kid")
        kid = kid if isinstance(kid, str) else f"#{index}"
        alg = jwk.get("alg")
        keys[kid] = {"key": parsed.key, "kty": jwk["kty"], "crv": jwk.get("crv"),
                     "alg": alg if isinstance(alg, str) else None}
    return keys
