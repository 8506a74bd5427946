"""The one policy file (G19): a typed, frozen model loaded once and validated.

Unknown keys, wrong types, unreadable secret files and weak secrets stop
start-up with a message naming the file, the key and the problem. Secrets are
never read from the TOML itself: only from the environment (`*_env`) or a file
(`*_file`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator, model_validator

from gateway.policy.basics import DEFAULT_CONSUMER_DOMAINS as DEFAULT_CONSUMER_DOMAINS
from gateway.policy.basics import LOOPBACK_HOSTS as LOOPBACK_HOSTS
from gateway.policy.basics import MEETING_TYPES as MEETING_TYPES
from gateway.policy.basics import PUBLIC_MEETING_SERVICES as PUBLIC_MEETING_SERVICES
from gateway.policy.basics import PURPOSES as PURPOSES
from gateway.policy.basics import ROLES as ROLES
from gateway.policy.basics import ChecksumAlgorithm as ChecksumAlgorithm
from gateway.policy.basics import ConfigError as ConfigError
from gateway.policy.basics import MeetingTypeName as MeetingTypeName
from gateway.policy.basics import PurposeName as PurposeName
from gateway.policy.basics import Role as Role
from gateway.policy.basics import _Model
from gateway.policy.basics import is_secure_url as is_secure_url
from gateway.policy.domains import normalise_domain
from gateway.policy.platforms import BBBFrontend as BBBFrontend
from gateway.policy.platforms import BBBSection as BBBSection
from gateway.policy.platforms import BBBServer as BBBServer
from gateway.policy.platforms import JitsiRoomRule as JitsiRoomRule
from gateway.policy.platforms import JitsiSection as JitsiSection


class GatewaySection(_Model):
    public_url: str = "http://localhost:8080"
    development: bool = False
    school_name: str = "School"
    policy_version: Annotated[str, Field(pattern=r"^[A-Za-z0-9.\-]{1,32}$")] = "1"
    default_language: Literal["nl", "en"] = "nl"
    session_ttl_seconds: Annotated[int, Field(ge=300, le=86400)] = 8 * 3600
    login_ttl_seconds: Annotated[int, Field(ge=60, le=1800)] = 600
    pseudonym_key_env: str | None = None
    pseudonym_key_file: str | None = None

    @field_validator("public_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class StoreSection(_Model):
    redis_url_env: str | None = None
    redis_url_file: str | None = None
    key_prefix: Annotated[str, Field(pattern=r"^[a-z0-9_\-]{1,32}$")] = "pgw"


class RoleMapping(_Model):
    teacher: tuple[str, ...] = ()
    pupil: tuple[str, ...] = ()
    staff: tuple[str, ...] = ()


class IdentityProvider(_Model):
    name: Annotated[str, Field(pattern=r"^[a-z0-9\-]{1,32}$")]
    display_name: str = ""
    issuer: str
    client_id: str
    client_secret_env: str | None = None
    client_secret_file: str | None = None
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    algorithms: tuple[Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"], ...] = (
        "RS256", "ES256",
    )
    allowed_email_domains: tuple[str, ...] = ()
    tenant_claim: str | None = None
    allowed_tenants: tuple[str, ...] = ()
    email_authoritative: bool = False
    role_claims: tuple[str, ...] = ("groups", "roles", "eduPersonAffiliation")
    roles: RoleMapping = RoleMapping()
    default_role: Literal["pupil", "guest"] = "pupil"
    leeway_seconds: Annotated[int, Field(ge=0, le=60)] = 30
    max_token_age_seconds: Annotated[int, Field(ge=60, le=86400)] = 600
    jwks_refresh_seconds: Annotated[int, Field(ge=30, le=86400)] = 600
    jwks_refetch_cooldown_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    jwks_max_stale_seconds: Annotated[int, Field(ge=0, le=7 * 86400)] = 86400

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("issuer must be an http(s) URL")
        return value

    @field_validator("allowed_email_domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_normalise_listed_domain(d) for d in value)

    @model_validator(mode="after")
    def _rules(self) -> IdentityProvider:
        if not self.allowed_email_domains and not self.allowed_tenants:
            raise ValueError(
                "an identity provider needs allowed_email_domains and/or allowed_tenants (G1)"
            )
        if self.allowed_tenants and not self.tenant_claim:
            raise ValueError("allowed_tenants needs tenant_claim (for example 'tid')")
        if "openid" not in self.scopes:
            raise ValueError("scopes must contain 'openid'")
        return self


def _normalise_listed_domain(entry: str) -> str:
    wildcard = entry.startswith(("*.", "."))
    bare = entry[2:] if entry.startswith("*.") else entry.lstrip(".")
    domain = normalise_domain(bare)
    if domain is None:
        raise ValueError(f"{entry!r} is not a valid domain name")
    return "." + domain if wildcard else domain


class IdentitySection(_Model):
    providers: tuple[IdentityProvider, ...] = ()
    consumer_domains: tuple[str, ...] = DEFAULT_CONSUMER_DOMAINS

    @field_validator("consumer_domains")
    @classmethod
    def _consumer(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_normalise_listed_domain(d) for d in value)

    @model_validator(mode="after")
    def _unique(self) -> IdentitySection:
        names = [p.name for p in self.providers]
        if len(set(names)) != len(names):
            raise ValueError("identity provider names must be unique")
        issuers = [p.issuer for p in self.providers]
        if len(set(issuers)) != len(issuers):
            raise ValueError("identity provider issuers must be unique")
        return self


class MeetingType(_Model):
    recording_allowed: bool = True
    transcription_allowed: bool = False
    guests_allowed: bool = False
    # "none": no default; with purpose_required the teacher must declare one (G11).
    default_purpose: PurposeName | None = "lecture"
    purpose_required: bool = True
    record_roles: tuple[Role, ...] = ("teacher",)

    @field_validator("default_purpose", mode="before")
    @classmethod
    def _no_default(cls, value: object) -> object:
        return None if value == "none" else value  # TOML has no null


class Purpose(_Model):
    retention_days: Annotated[int, Field(ge=1, le=3650)]
    may_start: tuple[Role, ...] = ("teacher",)
    pupils_visible: bool = False  # G10: a lecture shows no pupils
    needs_approval_reference: bool = False
    # G14: consent to record is not consent to distribute. Only a purpose with
    # distribute = true may stay published for viewing after the meeting.
    distribute: bool = False
    announcement_nl: str
    announcement_en: str
    description_nl: str = ""
    description_en: str = ""


class TranscriptionSection(_Model):
    mode: Literal["off", "opt_in"] = "off"


class RetentionSection(_Model):
    undeclared_retention_days: Annotated[int, Field(ge=1, le=3650)] = 14
    sweep_interval_seconds: Annotated[int, Field(ge=10, le=86400)] = 900
    failure_grace_seconds: Annotated[int, Field(ge=60, le=30 * 86400)] = 86400
    audit_retention_days: Annotated[int, Field(ge=30, le=3650)] = 365
    # The durable audit journal (gateway.audit.journal); relative to the policy file.
    audit_dir: Annotated[str, Field(min_length=1)] = "audit-log"
    privacy_officer_emails: tuple[str, ...] = ()
    jibri_recordings_dir: str | None = None
    # argv of the BBB purge agent; "{server}" -> server name, the record id is appended.
    bbb_purge_command: tuple[str, ...] = ("privacy-gateway", "bbb-purge", "--root",
                                          "/var/bigbluebutton")

    @field_validator("privacy_officer_emails")
    @classmethod
    def _officer_emails(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(sorted({e.strip().lower() for e in value if e.strip()}))

    @field_validator("bbb_purge_command")
    @classmethod
    def _purge_command(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or not value[0].strip():
            raise ValueError("needs at least the program to run")
        return value


class NoticeSection(_Model):
    controller: str = "The school board"
    contact: str = "privacy@school.example"
    legal_basis_nl: str = "Publieke taak: het geven van onderwijs (AVG artikel 6 lid 1 sub e)."
    legal_basis_en: str = "Public task: providing education (GDPR Article 6(1)(e))."
    recipients_nl: str = "Alleen de school en haar eigen servers. Niemand anders."
    recipients_en: str = "Only the school and its own servers. Nobody else."


class DevIdPSection(_Model):
    enabled: bool = False


# Who may watch a recording (G14): any school account, the teachers who moderated its
# meeting, the privacy officer, or what the officer's approval of an exception says.
Audience = Literal["school", "moderators", "officer", "approval"]


class PlaybackWatch(_Model):
    lecture: tuple[Audience, ...] = ("school",)
    feedback: tuple[Audience, ...] = ("moderators", "officer")
    exam_evidence: tuple[Audience, ...] = ("moderators", "officer")
    approved_exception: tuple[Audience, ...] = ("approval",)


class PlaybackSection(_Model):
    """Protected playback (G14, G17): gateway links, a per-recording cookie."""

    link_ttl_seconds: Annotated[int, Field(ge=10, le=3600)] = 300
    cookie_ttl_seconds: Annotated[int, Field(ge=60, le=86400)] = 3600
    watch: PlaybackWatch = PlaybackWatch()


class Policy(_Model):
    gateway: GatewaySection = GatewaySection()
    store: StoreSection = StoreSection()
    identity: IdentitySection = IdentitySection()
    meeting_types: dict[MeetingTypeName, MeetingType] = Field(default_factory=dict)
    purposes: dict[PurposeName, Purpose] = Field(default_factory=dict)
    transcription: TranscriptionSection = TranscriptionSection()
    retention: RetentionSection = RetentionSection()
    bbb: BBBSection = BBBSection()
    jitsi: JitsiSection = JitsiSection()
    notice: NoticeSection = NoticeSection()
    dev_idp: DevIdPSection = DevIdPSection()
    playback: PlaybackSection = PlaybackSection()

    @model_validator(mode="after")
    def _complete(self) -> Policy:
        missing = [m for m in MEETING_TYPES if m not in self.meeting_types]
        if missing:
            raise ValueError(f"meeting_types is missing {', '.join(missing)}")
        missing_purposes = [p for p in PURPOSES if p not in self.purposes]
        if missing_purposes:
            raise ValueError(f"purposes is missing {', '.join(missing_purposes)}")
        if self.meeting_types["confidential"].recording_allowed:
            raise ValueError("meeting_types.confidential.recording_allowed must be false (G3)")
        if self.meeting_types["confidential"].transcription_allowed:
            raise ValueError(
                "meeting_types.confidential.transcription_allowed must be false (G3)")
        if not self.purposes["approved_exception"].needs_approval_reference:
            raise ValueError(
                "purposes.approved_exception.needs_approval_reference must be true (G11)")
        if self.purposes["lecture"].pupils_visible:
            raise ValueError("purposes.lecture.pupils_visible must be false (G10)")
        if self.dev_idp.enabled and not self.gateway.development:
            raise ValueError(
                "dev_idp.enabled needs gateway.development = true (never in production)")
        if not self.gateway.development and self.gateway.public_url.startswith("http://"):
            raise ValueError(
                "gateway.public_url must be https:// unless gateway.development = true")
        self._own_servers()
        self._https_idps()
        self._playback_rules()
        return self

    def _https_idps(self) -> None:
        """The client secret and the ID token travel to the IdP: TLS outside development."""
        if self.gateway.development:
            return
        plain = [f"identity.providers[{i}].issuer" for i, p in enumerate(self.identity.providers)
                 if not is_secure_url(p.issuer)]
        if plain:
            raise ValueError(f"{', '.join(plain)} must be https:// outside development "
                             "(http:// only to this machine: 127.0.0.1, [::1], localhost)")

    def _playback_rules(self) -> None:
        """G14: a recording that may show pupils is never for every school account."""
        for name in PURPOSES:
            audience = getattr(self.playback.watch, name)
            if not audience:
                raise ValueError(f"playback.watch.{name} must name at least one audience")
            if "school" in audience and self.purposes[name].pupils_visible:
                raise ValueError(f"playback.watch.{name} cannot include 'school': pupils may "
                                 "be seen in it (G14)")

    def _own_servers(self) -> None:
        """G17, G21: meetings and recordings stay on the school's own servers."""
        if self.jitsi.enabled:
            host = (urlsplit(self.jitsi.base_url).hostname or "").lower()
            if host in PUBLIC_MEETING_SERVICES or host.endswith(
                    tuple("." + h for h in PUBLIC_MEETING_SERVICES)):
                raise ValueError(f"jitsi.base_url: {host} is a public service, not the "
                                 "school's own server (G17)")
        if self.gateway.development:
            return
        plain = [f"bbb.servers[{i}].url" for i, s in enumerate(self.bbb.servers)
                 if s.url.startswith("http://")]
        if self.jitsi.enabled and self.jitsi.base_url.startswith("http://"):
            plain.append("jitsi.base_url")
        if plain:
            raise ValueError(f"{', '.join(plain)} must be https:// outside development (G17)")

    def idp(self, name: str) -> IdentityProvider | None:
        return next((p for p in self.identity.providers if p.name == name), None)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        else:
            parts.append(str(item))
    return ".".join(parts) or "(top level)"


def _validation_message(source: str, err: ValidationError) -> str:
    lines = [f"{source}: the policy is not valid:"]
    for e in err.errors():
        loc = tuple(x for x in e["loc"] if not (isinstance(x, str) and "[" in x))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
            if str(loc[-1]).endswith(("secret", "password", "key", "redis_url")):
                msg += " (secrets never go in the file: use <name>_env or <name>_file)"
        lines.append(f"  {_format_loc(loc)}: {msg}")
    return "\n".join(lines)


def parse_policy(data: Mapping[str, Any], source: str = "<policy>") -> Policy:
    try:
        return Policy.model_validate(_tuples(data))
    except ValidationError as err:
        raise ConfigError(_validation_message(source, err)) from None


def _tuples(value: Any) -> Any:
    """TOML arrays become tuples so the strict, frozen model accepts them."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    if isinstance(value, dict):
        return {k: _tuples(v) for k, v in value.items()}
    return value
