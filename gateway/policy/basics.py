"""The policy's basic vocabulary: roles, meeting types, purposes, the model base.

Shared by gateway.policy.model and gateway.policy.platforms; import it from
gateway.policy.model, which re-exports all of it.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict


class ConfigError(Exception):
    """A policy file that cannot be used; the message names file, key and problem."""


Role = Literal["teacher", "pupil", "staff", "guest"]
MeetingTypeName = Literal["lesson", "meeting", "confidential"]
PurposeName = Literal["lecture", "feedback", "exam_evidence", "approved_exception"]
ChecksumAlgorithm = Literal["sha1", "sha256", "sha384", "sha512"]

ROLES: tuple[Role, ...] = ("teacher", "pupil", "staff", "guest")
MEETING_TYPES: tuple[MeetingTypeName, ...] = ("lesson", "meeting", "confidential")
PURPOSES: tuple[PurposeName, ...] = ("lecture", "feedback", "exam_evidence", "approved_exception")

# Public meeting services: never "the school's own server" (G17, G21).
PUBLIC_MEETING_SERVICES = ("meet.jit.si", "8x8.vc", "jitsi.member.fsf.org", "meet.ffmuc.net",
                           "demo.bigbluebutton.org", "test.bigbluebutton.org")


DEFAULT_CONSUMER_DOMAINS = (
    "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com",
    "yahoo.com", "icloud.com", "me.com", "aol.com", "gmx.com", "gmx.net", "proton.me",
    "protonmail.com", "hotmail.nl", "live.nl", "outlook.be", "hotmail.be", "telenet.be",
    "skynet.be", "ziggo.nl", "kpnmail.nl", "planet.nl", "home.nl", "yahoo.nl",
)


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


def is_secure_url(url: str) -> bool:
    """https://, or http:// to this very machine (nothing leaves it unencrypted)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
