"""Jitsi decisions (G2, G3, G15): pure functions over the policy, no I/O.

- `meeting_type_of_room`: which meeting type a room is (a teacher's choice on
  the gateway, a `jitsi.room_rules` prefix, else the default; confidential wins).
- `may_join`, `is_moderator`: who gets a token and who moderates.
- `features`: the `context.features` of a token (recording, transcription, ...).
- `transcription_allowed`: G15 consent over the people present.
- `token_claims`: the whole JWT payload prosody's token plugin checks
  (reference/jitsi.md §1): exact room, never `*`, nbf in the past, short exp,
  `context.user` with string values only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.settings import MeetingTypeName, Policy, Role

# prosody has no clock leeway (luajwtjitsi M.verify): a token minted on a host
# whose clock is a little ahead must still be valid at once on the XMPP host.
NBF_BACKDATE_SECONDS = 30

# Roles that moderate (MUC owner through token_affiliation). Pupils and guests never.
MODERATOR_ROLES: frozenset[Role] = frozenset({"teacher", "staff"})

# Features that are always off: no streaming to the outside, no dial-out (G17, G21).
ALWAYS_OFF = ("livestreaming", "outbound-call", "sip-outbound-call")


@dataclass(frozen=True, slots=True)
class Person:
    """Who a token is for: the session's role and pseudonym, and what may be shown."""

    role: Role
    person: str  # keyed pseudonym (the stable id; never the IdP subject)
    name: str | None
    email: str | None


@dataclass(frozen=True, slots=True)
class TokenRequest:
    room: str  # already validated, lowercase
    meeting_type: MeetingTypeName
    consent_complete: bool  # G15: everyone present (this person included) opted in
    now: float
    jti: str


def meeting_type_of_room(policy: Policy, room: str,
                         created_as: MeetingTypeName | None) -> MeetingTypeName:
    """A teacher's choice or the longest matching prefix rule; confidential always wins (G3)."""
    by_rule: MeetingTypeName | None = None
    best = -1
    for rule in policy.jitsi.room_rules:
        if room.startswith(rule.prefix) and len(rule.prefix) > best:
            by_rule, best = rule.meeting_type, len(rule.prefix)
    if "confidential" in (by_rule, created_as):
        return "confidential"
    return created_as or by_rule or policy.jitsi.default_meeting_type


def may_join(policy: Policy, role: Role, meeting_type: MeetingTypeName) -> bool:
    """School accounts join; guests only where the meeting type allows guests (G2)."""
    return role != "guest" or policy.meeting_types[meeting_type].guests_allowed


def is_moderator(role: Role) -> bool:
    return role in MODERATOR_ROLES


def may_record(policy: Policy, role: Role, meeting_type: MeetingTypeName) -> bool:
    """Recording only where the meeting type allows it, by its record_roles (G3, G19)."""
    mtype = policy.meeting_types[meeting_type]
    return meeting_type != "confidential" and mtype.recording_allowed and (
        role in mtype.record_roles)


def transcription_possible(policy: Policy, meeting_type: MeetingTypeName) -> bool:
    mtype = policy.meeting_types[meeting_type]
    return (policy.transcription.mode == "opt_in" and meeting_type != "confidential"
            and mtype.transcription_allowed)


def transcription_allowed(policy: Policy, meeting_type: MeetingTypeName,
                          present: Iterable[str], opted_in: Iterable[str]) -> bool:
    """G15: only while every person present has opted in (and someone is present)."""
    people = set(present)
    return (transcription_possible(policy, meeting_type) and bool(people)
            and people <= set(opted_in))


def features(policy: Policy, role: Role, meeting_type: MeetingTypeName,
             consent_complete: bool) -> dict[str, bool]:
    """`context.features`: explicit booleans, so prosody never falls back to 'all allowed'."""
    out = {name: False for name in ALWAYS_OFF}
    out["recording"] = may_record(policy, role, meeting_type)
    out["transcription"] = consent_complete and transcription_possible(policy, meeting_type)
    return out


def token_claims(policy: Policy, who: Person, request: TokenRequest) -> dict[str, Any]:
    """The JWT payload for one person in one room (style_security.md B.6)."""
    jitsi = policy.jitsi
    if not request.room or request.room == "*" or request.room != request.room.lower():
        raise ValueError("a token names exactly one lowercase room")
    moderator = is_moderator(who.role)
    user: dict[str, str] = {
        "id": who.person,
        "name": who.name or who.person,
        "affiliation": "owner" if moderator else "member",
        "moderator": "true" if moderator else "false",
    }
    if jitsi.share_email and who.email:
        user["email"] = who.email
    now = int(request.now)
    return {
        "iss": jitsi.app_id,
        "aud": jitsi.audience,
        "sub": jitsi.subject,
        "room": request.room,
        "iat": now,
        "nbf": now - NBF_BACKDATE_SECONDS,
        "exp": now + jitsi.token_ttl_seconds,
        "jti": request.jti,
        "context": {
            "user": user,
            "features": features(policy, who.role, request.meeting_type,
                                 request.consent_complete),
        },
    }
