"""Minting the room-bound Jitsi JWT exactly as prosody's token plugin checks it.

reference/jitsi.md §1: the header carries `typ: JWT` and an `alg` equal to
prosody's `signature_algorithm`; HS256/384/512 sign with `app_secret` (its
length is enforced at config load); RS256 names a `kid` whose public key
prosody fetches from `<asap_key_server>/<hex(sha256(kid))>.pem`, which
`public_key_route` serves. Claims come from gateway.policy.jitsi.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import get_default_algorithms

from gateway.config.loading import Settings
from gateway.policy.model import ConfigError


def key_file_name(kid: str) -> str:
    """The file name prosody asks the key server for (token/util.lib.lua get_public_key)."""
    return hashlib.sha256(kid.encode()).hexdigest() + ".pem"


class TokenMinter:
    """Signs Jitsi tokens with the configured key; the key is parsed once."""

    def __init__(self, settings: Settings) -> None:
        jitsi = settings.policy.jitsi
        self.algorithm = jitsi.signature_algorithm
        self.kid = jitsi.key_id
        self._key: bytes | RSAPrivateKey
        self.public_pem: bytes | None = None
        if self.algorithm.startswith("HS"):
            self._key = settings.secrets.get("jitsi.app_secret")
        else:
            self._key = _load_rsa(settings.secrets.get("jitsi.private_key"))
            self.public_pem = self._key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

        # PyJWT's algorithm with the key prepared ONCE: jwt.encode re-checks the key
        # on every call, which costs more than the signature itself.
        self._signer = get_default_algorithms()[self.algorithm]
        self._prepared = self._signer.prepare_key(self._key)
        self._header = _b64(json.dumps(self.headers, separators=(",", ":")).encode())

    @property
    def headers(self) -> dict[str, str]:
        headers = {"alg": self.algorithm, "typ": "JWT"}
        if self.kid is not None and not self.algorithm.startswith("HS"):
            headers["kid"] = self.kid
        return headers

    def mint(self, claims: dict[str, Any]) -> str:
        payload = _b64(_compact(claims).encode())
        signing_input = self._header + b"." + payload
        signature = _b64(self._signer.sign(signing_input, self._prepared))
        return (signing_input + b"." + signature).decode()


# One encoder for every token: json.dumps with options builds a new one per call.
_compact = json.JSONEncoder(separators=(",", ":")).encode


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _load_rsa(pem: bytes) -> RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError("jitsi.private_key_file: not an unencrypted PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError("jitsi.private_key_file: RS256 needs an RSA key")
    if key.key_size < 2048:
        raise ConfigError("jitsi.private_key_file: an RSA key needs at least 2048 bits")
    return key
