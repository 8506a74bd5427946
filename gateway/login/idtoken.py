"""ID-token validation per OIDC Core 3.1.3.7, fail closed, one reason per refusal.

The token is checked for shape before any cryptography (size, three segments,
strict base64url, UTF-8 JSON objects without duplicate keys), the header
against an allow-list (no `none`, no HMAC, no key material or URLs in the
header, no `crit`), the signature with a key looked up by `kid` in the
issuer's JWKS only, and then every claim explicitly: exact `iss`, `aud`
containing the client id and nothing else untrusted, `azp`, required `exp`
and `iat` with at most 60 s leeway, `nbf`, `sub` and the expected `nonce`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jwt

from gateway.login.jwks import JWKSCache, JWKSUnavailable, UnknownKey

MAX_TOKEN_BYTES = 8192
_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")
# PyJWT's algorithm implementations (on `cryptography`) for the asymmetric allow-list;
# the compact-form parsing around them is ours and strict (see token_header).
_VERIFIERS = {name: jwt.get_algorithm_by_name(name)
              for name in ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384")}


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Expectation:
    issuer: str
    client_id: str
    algorithms: Sequence[str]
    nonce: str
    now: float
    leeway: float
    max_age: float
    trusted_audiences: Sequence[str] = ()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key")  # RFC 8725 3.7: no ambiguous JSON
    return out


def _b64decode(segment: str) -> bytes:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise ValueError("non-canonical base64url")
    return raw


def _decode_segment(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        raise TokenRejected("malformed") from None
    if not isinstance(value, dict):
        raise TokenRejected("malformed")
    return value


def token_header(token: str) -> dict[str, Any]:
    """The header of a well-formed compact JWS, or TokenRejected (before any crypto)."""
    if len(token) > MAX_TOKEN_BYTES:
        raise TokenRejected("oversized")
    parts = token.split(".")
    if len(parts) != 3 or not all(_SEGMENT.match(p) for p in parts):
        raise TokenRejected("malformed")
    return _decode_segment(parts[0])


def _check_header(header: Mapping[str, Any], algorithms: Sequence[str]) -> tuple[str | None, str]:
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise TokenRejected("bad_algorithm")
    if any(name in header for name in _FORBIDDEN_HEADERS):
        raise TokenRejected("bad_header")
    if "typ" in header and header["typ"] not in ("JWT", "jwt"):
        raise TokenRejected("bad_header")  # an access token (at+jwt) is not an ID token
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 256):
        raise TokenRejected("bad_header")
    return kid, alg


def _number(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise TokenRejected("missing_claim")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejected("malformed")
    return float(value)


def check_claims(claims: Mapping[str, Any], exp: Expectation) -> None:
    iss = claims.get("iss")
    if not isinstance(iss, str) or iss != exp.issuer:
        raise TokenRejected("bad_issuer")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub or len(sub) > 255:
        raise TokenRejected("missing_claim")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if (not isinstance(audiences, list) or not audiences
            or not all(isinstance(a, str) for a in audiences)
            or exp.client_id not in audiences
            or any(a != exp.client_id and a not in exp.trusted_audiences for a in audiences)):
        raise TokenRejected("bad_audience")
    azp = claims.get("azp")
    if (len(audiences) > 1 and azp is None) or (azp is not None and azp != exp.client_id):
        raise TokenRejected("bad_azp")
    expires = _number(claims, "exp")
    issued = _number(claims, "iat")
    if exp.now >= expires + exp.leeway:
        raise TokenRejected("expired")
    if issued > exp.now + exp.leeway:
        raise TokenRejected("issued_in_future")
    if exp.now - issued > exp.max_age + exp.leeway:
        raise TokenRejected("too_old")
    if "nbf" in claims and _number(claims, "nbf") > exp.now + exp.leeway:
        raise TokenRejected("not_yet_valid")
    nonce = claims.get("nonce")
    if not isinstance(nonce, str) or not hmac.compare_digest(nonce.encode(), exp.nonce.encode()):
        raise TokenRejected("bad_nonce")


async def validate_id_token(token: str, jwks: JWKSCache, exp: Expectation) -> dict[str, Any]:
    """The validated claims of an ID token, or TokenRejected with the reason."""
    header = token_header(token)
    kid, alg = _check_header(header, exp.algorithms)
    try:
        key = await jwks.key_for(kid, alg)
    except JWKSUnavailable:
        raise TokenRejected("jwks_unavailable") from None
    except UnknownKey:
        raise TokenRejected("unknown_key") from None
    signing_input, _, signature_part = token.rpartition(".")
    try:
        signature = _b64decode(signature_part)
        valid = _VERIFIERS[alg].verify(signing_input.encode("ascii"), key, signature)
    except (binascii.Error, ValueError, TypeError):
        valid = False
    if not valid:
        raise TokenRejected("bad_signature")
    claims = _decode_segment(signing_input.partition(".")[2])
    check_claims(claims, exp)
    return claims
