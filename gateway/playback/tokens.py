"""Signed playback links, grants and cookies (G14, G17): pure, no I/O, no clock.

Three things are signed with one key derived from the pseudonym key (so every
replica shares it and no new secret has to be configured), each under its own
label so one can never pass for another:
- a **link** (`/recordings/bbb/<link>`): what getRecordings hands the LMS, one per
  recording and format; short-lived and single-use (the nonce is spent when it
  is followed, gateway.playback.web);
- a **grant** (`/privacy-gateway/grant/<grant>` on the BBB host): the hop that
  sets the cookie on the host that serves the recording; seconds-lived, single-use;
- a **cookie** `pgw_pb_<hash of the recording id>`: `<expiry>.<mac>` over the
  recording id and expiry. nginx's auth_request asks the gateway about every
  playback file; the answer needs only this HMAC, checked in memory (no store,
  no session lookup), and the recording id comes from the requested path, so a
  cookie for one recording opens no other.

A token is `base64url(json).base64url(mac)`; anything else is `malformed`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any, Literal

TokenKind = Literal["link", "grant"]
TokenProblem = Literal["malformed", "forged", "expired", "wrong_kind"]
MAX_TOKEN_CHARS = 4096
GRANT_TTL_SECONDS = 60
COOKIE_PREFIX = "pgw_pb_"
_COOKIE_VALUE = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{22})$")


class TokenError(Exception):
    def __init__(self, problem: TokenProblem) -> None:
        super().__init__(problem)
        self.problem = problem


def derive_key(pseudonym_key: bytes) -> bytes:
    """The playback key: separate from the pseudonym key by an HMAC label."""
    return hmac.new(pseudonym_key, b"privacy-gateway playback v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, label: str, body: str) -> bytes:
    return hmac.new(key, f"{label}\0{body}".encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Link:
    """A playback link: which recording and format, and where BBB serves it."""

    platform: str
    recording_id: str
    format: str
    target: str  # the platform's own playback URL (never shown to anyone)
    purpose: str  # what the recording's metadata declared ("" if nothing)
    meeting_ref: str
    expires: int
    nonce: str


@dataclass(frozen=True, slots=True)
class Grant:
    recording_id: str
    target: str
    cookie_expires: int
    expires: int
    nonce: str


def sign(key: bytes, kind: TokenKind, fields: dict[str, Any]) -> str:
    body = _b64(json.dumps({"k": kind, **fields}, separators=(",", ":"),
                           sort_keys=True).encode())
    return f"{body}.{_b64(_mac(key, kind, body))}"


def _open(key: bytes, kind: TokenKind, token: str, now: float) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("malformed")
    body, mac = token.split(".")
    try:
        given = _unb64(mac)
        data = json.loads(_unb64(body))
    except (binascii.Error, ValueError):
        raise TokenError("malformed") from None
    if not isinstance(data, dict):
        raise TokenError("malformed")
    if not hmac.compare_digest(given, _mac(key, str(data.get("k")), body)):
        raise TokenError("forged")
    if data.get("k") != kind:
        raise TokenError("wrong_kind")
    expires = data.get("e")
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise TokenError("malformed")
    if expires <= now:
        raise TokenError("expired")
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise TokenError("malformed")
    return value


def issue_link(key: bytes, *, platform: str, recording_id: str, fmt: str, target: str,
               purpose: str, meeting_ref: str, now: float, ttl: int) -> str:
    return sign(key, "link", {"p": platform, "r": recording_id, "f": fmt, "u": target,
                              "pu": purpose, "m": meeting_ref, "e": int(now) + ttl,
                              "n": secrets.token_urlsafe(12)})


def open_link(key: bytes, token: str, now: float) -> Link:
    data = _open(key, "link", token, now)
    return Link(platform=_text(data, "p"), recording_id=_text(data, "r"),
                format=_text(data, "f"), target=_text(data, "u"), purpose=_text(data, "pu"),
                meeting_ref=_text(data, "m"), expires=int(data["e"]), nonce=_text(data, "n"))


def issue_grant(key: bytes, *, recording_id: str, target: str, now: float,
                cookie_ttl: int) -> str:
    return sign(key, "grant", {"r": recording_id, "u": target,
                               "c": int(now) + cookie_ttl, "e": int(now) + GRANT_TTL_SECONDS,
                               "n": secrets.token_urlsafe(12)})


def open_grant(key: bytes, token: str, now: float) -> Grant:
    data = _open(key, "grant", token, now)
    cookie_expires = data.get("c")
    if not isinstance(cookie_expires, int):
        raise TokenError("malformed")
    return Grant(recording_id=_text(data, "r"), target=_text(data, "u"),
                 cookie_expires=cookie_expires, expires=int(data["e"]), nonce=_text(data, "n"))


# --- the per-recording cookie -------------------------------------------------------

def cookie_name(recording_id: str, secure: bool) -> str:
    """One cookie per recording; `__Host-` (Secure, Path=/, no Domain) outside development."""
    suffix = hashlib.sha256(recording_id.encode()).hexdigest()[:16]
    return ("__Host-" if secure else "") + COOKIE_PREFIX + suffix


def cookie_value(key: bytes, recording_id: str, expires: int) -> str:
    mac = _mac(key, "cookie", f"{recording_id}\0{expires}")[:16]
    return f"{expires}.{_b64(mac)}"


CookieCheck = Literal["ok", "missing", "expired", "forged"]


def check_cookie(key: bytes, recording_id: str, value: str | None, now: float) -> CookieCheck:
    """Is this cookie value a live grant for exactly this recording? (in memory only)"""
    if value is None:
        return "missing"
    match = _COOKIE_VALUE.fullmatch(value)
    if match is None:
        return "forged"
    expires = int(match.group(1))
    expected = _mac(key, "cookie", f"{recording_id}\0{expires}")[:16]
    try:
        given = _unb64(match.group(2))
    except binascii.Error:
        return "forged"
    if not hmac.compare_digest(given, expected):
        return "forged"
    return "ok" if expires > now else "expired"
