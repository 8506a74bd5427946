"""Keyed pseudonyms: how audit entries and platforms refer to a person."""

from __future__ import annotations

import base64
import hashlib
import hmac


class Pseudonymiser:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def person(self, issuer: str, subject: str) -> str:
        """A stable id for (iss, sub) that reveals neither (HMAC-SHA256, 20 bytes)."""
        digest = hmac.new(self._key, f"person\0{issuer}\0{subject}".encode(), hashlib.sha256)
        return "p_" + base64.b32encode(digest.digest()[:20]).decode().lower().rstrip("=")

    def meeting(self, meeting_ref: str) -> str:
        """One reference per meeting across guard, retention and objection audit entries:
        a BBB meeting by its internal meeting id (its recordings' meeting_ref), a Jitsi
        meeting by its room name."""
        return self.tag("meeting", meeting_ref)

    def tag(self, kind: str, value: str) -> str:
        """A short keyed reference to another value (a meeting, a room) for logs."""
        digest = hmac.new(self._key, f"{kind}\0{value}".encode(), hashlib.sha256)
        return base64.b32encode(digest.digest()[:10]).decode().lower().rstrip("=")
