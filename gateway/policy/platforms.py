"""The platform sections of the policy file: `[bbb]` and `[jitsi]` (G19).

Part of the model in gateway.policy.model, which re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from gateway.policy.basics import ChecksumAlgorithm, MeetingTypeName, _Model
from gateway.policy.domains import normalise_domain


class BBBServer(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9\-]{1,32}$")]
    url: str
    secret_env: str | None = None
    secret_file: str | None = None
    checksum_algorithm: Literal["sha1", "sha256", "sha384", "sha512"] = "sha256"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL ending before /api")
        return value.rstrip("/")


class BBBFrontend(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9\-]{1,32}$")]
    secret_env: str | None = None
    secret_file: str | None = None


class BBBSection(_Model):
    enabled: bool = False
    servers: tuple[BBBServer, ...] = ()
    frontends: tuple[BBBFrontend, ...] = ()
    checksum_algorithms: tuple[ChecksumAlgorithm, ...] = ("sha256", "sha384", "sha512")
    join_ticket_ttl_seconds: Annotated[int, Field(ge=30, le=3600)] = 300
    default_meeting_type: MeetingTypeName = "lesson"
    strip_attendees: bool = True
    allow_webhooks: bool = False
    max_body_bytes: Annotated[int, Field(ge=1024, le=256 * 1024 * 1024)] = 64 * 1024 * 1024
    redis_url_env: str | None = None
    redis_url_file: str | None = None
    bbb_version: Annotated[str, Field(pattern=r"^\d+\.\d+$")] = "3.0"

    @model_validator(mode="after")
    def _rules(self) -> BBBSection:
        if self.enabled and (not self.servers or not self.frontends):
            raise ValueError("an enabled bbb section needs at least one server and one frontend")
        return self


class JitsiRoomRule(_Model):
    prefix: Annotated[str, Field(pattern=r"^[a-z0-9\-_]{1,40}$")]
    meeting_type: MeetingTypeName


class JitsiSection(_Model):
    enabled: bool = False
    base_url: str = "https://meet.example.org"
    app_id: str = "privacy-gateway"
    audience: str = "jitsi"
    # The token's `sub`: Jitsi's domain (or tenant) as a concrete name. Required when
    # enabled; never "*" (jitsi-contrib token_no_wildcard refuses it, jitsi.md §1).
    subject: str | None = None
    signature_algorithm: Literal["HS256", "HS384", "HS512", "RS256"] = "HS256"
    app_secret_env: str | None = None
    app_secret_file: str | None = None
    private_key_file: str | None = None
    key_id: str | None = None
    token_ttl_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600
    # A confidential talk's token is short-lived: entry is checked again at every join (G3).
    confidential_token_ttl_seconds: Annotated[int, Field(ge=30, le=900)] = 600
    share_email: bool = False
    microphone_on_at_start: bool = False
    room_rules: tuple[JitsiRoomRule, ...] = ()
    default_meeting_type: MeetingTypeName = "lesson"
    hook_secret_env: str | None = None
    hook_secret_file: str | None = None
    # Keep Jibri's participant identity list in metadata.json (off: removed, minimisation).
    keep_recording_participants: bool = False

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str | None) -> str | None:
        if value is not None and normalise_domain(value) != value:
            raise ValueError("must be a concrete, lowercase domain such as meet.school.example "
                             "(never '*')")
        return value

    @model_validator(mode="after")
    def _needs_subject(self) -> JitsiSection:
        if self.enabled and self.subject is None:
            raise ValueError("jitsi.subject is required: the Jitsi domain tokens are for")
        return self
