"""An independent verifier applying prosody's token rules (reference/jitsi.md §1).

Written from luajwtjitsi `M.verify`, token/util.lib.lua `Util:verify_token` and
`Util:verify_room`, without PyJWT: base64url by hand, HMAC or RSA by hand.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey


class Rejected(Exception):
    """prosody would refuse the token; the message is prosody's reason."""


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _signature_ok(alg: str, key: bytes | RSAPublicKey, signed: bytes, signature: bytes) -> bool:
    if alg.startswith("HS"):
        assert isinstance(key, bytes)
        digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
        return hmac.compare_digest(hmac.new(key, signed, digest).digest(), signature)
    assert isinstance(key, RSAPublicKey) and alg == "RS256"
    try:
        key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def verify(token: str, *, expected_alg: str, key: bytes | RSAPublicKey, issuers: list[str],
           audiences: list[str], room: str, now: int) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Rejected("Invalid token")
    header, body = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    if header.get("typ") != "JWT":
        raise Rejected("Invalid typ")
    if header.get("alg") in (None, "", "none") or header.get("alg") != expected_alg:
        raise Rejected("Invalid or incorrect alg")
    if expected_alg.startswith("RS") and not header.get("kid"):
        raise Rejected("'kid' claim is missing")
    if not _signature_ok(expected_alg, key, f"{parts[0]}.{parts[1]}".encode(), _b64(parts[2])):
        raise Rejected("Invalid signature")
    for name in ("exp", "nbf"):
        value = body.get(name, 0)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise Rejected(f"'{name}' must be number")
    if "exp" in body and now >= body["exp"]:  # no leeway
        raise Rejected("Not acceptable by exp")
    if "nbf" in body and now < body["nbf"]:
        raise Rejected("Not acceptable by nbf")
    if body.get("iss") is None or ("*" not in issuers and body["iss"] not in issuers):
        raise Rejected("invalid 'iss' claim")
    if body.get("aud") is None or ("*" not in audiences and body["aud"] not in audiences):
        raise Rejected("invalid 'aud' claim")
    auth_room = body.get("room")
    if auth_room is None:
        raise Rejected("'room' claim is missing")
    if auth_room != "*" and room != str(auth_room).lower():
        raise Rejected("room does not match")
    user = body.get("context", {}).get("user", {})
    if any(not isinstance(v, str) for v in user.values()):
        raise Rejected("all fields in 'user' need to be a valid string")
    return header, body
