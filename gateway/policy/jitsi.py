"""Jitsi decisions (G2, G3, G15): pure functions over the policy, no I/O.

- `meeting_type_of_room`: which meeting type a room is (a teacher's choice on
  the gateway, a `jitsi.room_rules` prefix, else the default; confidential wins).
- `may_join`, `confidential_access`, `is_owner`: who gets a token and who moderates
  (G2, G3: a confidential room admits only its creator and the people they invited,
  and only the creator is owner).
- `may_set_room`: who may choose a room's type or recording purpose (G11, G19).
- `features`: the `context.features` of a token (recording, transcription, ...).
- `transcription_allowed`: G15 consent over the people present. The token's
  `transcription` feature only says transcription is POSSIBLE in this meeting type;
  whether it may run is decided live by the prosody module from the gateway's
  consent flag (people join after a token is minted; a token lives for its TTL).
- `token_claims`: the whole JWT payload prosody's token plugin checks
  (reference/jitsi.md §1): exact room, never `*`, nbf in the past, short exp,
  `context.user` with string values only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gateway.policy.identity import MODERATOR_ROLES
from gateway.policy.model import MeetingTypeName, Policy, Role

# prosody has no clock leeway (luajwtjitsi M.verify): a token minted on a host
# whose clock is a little ahead must still be valid at once on the XMPP host.
NBF_BACKDATE_SECONDS = 30

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
    now: float
    jti: str
    creator: str | None = None  # pseudonym of whoever created the room on the gateway


ConfidentialAccess = Literal["creator", "invited", "claim", "refused"]


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
    """Teachers and staff moderate (MUC owner through token_affiliation); never pupils
    or guests."""
    return role in MODERATOR_ROLES


def confidential_access(role: Role, person: str, creator: str | None,
                        invited: bool) -> ConfidentialAccess:
    """G2, G3: a confidential talk is not protected by its name alone.

    The creator and the people they invited get in; a teacher or staff member may
    claim a confidential room nobody created yet (and so becomes its creator);
    everybody else is refused."""
    if creator is not None:
        if person == creator:
            return "creator"
        return "invited" if invited else "refused"
    if invited:
        return "invited"
    return "claim" if is_moderator(role) else "refused"


def is_owner(role: Role, meeting_type: MeetingTypeName, person: str,
             creator: str | None) -> bool:
    """MUC owner: in a confidential room only its creator (G3); elsewhere teachers/staff."""
    if meeting_type == "confidential":
        return creator is not None and person == creator
    return is_moderator(role)


def may_set_room(role: Role, person: str, creator: str | None,
                 present_in_room: bool) -> bool:
    """G11, G19: a room's type and purpose are set by its creator; a room nobody
    created only by a teacher/staff member who is in it (per the presence state)."""
    if creator is not None:
        return person == creator
    return is_moderator(role) and present_in_room


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


def features(policy: Policy, role: Role, meeting_type: MeetingTypeName) -> dict[str, bool]:
    """`context.features`: explicit booleans, so prosody never falls back to 'all allowed'.

    `transcription` is the meeting type's capability only (G15): consent is NOT
    minted into a token that outlives the people present; the prosody module
    refuses the transcriber unless the gateway's live consent flag is true."""
    out = {name: False for name in ALWAYS_OFF}
    out["recording"] = may_record(policy, role, meeting_type)
    out["transcription"] = transcription_possible(policy, meeting_type)
    return out


def token_ttl(policy: Policy, meeting_type: MeetingTypeName) -> int:
    """G3: a confidential talk's token lives only long enough to join with it."""
    if meeting_type == "confidential":
        return min(policy.jitsi.confidential_token_ttl_seconds, policy.jitsi.token_ttl_seconds)
    return policy.jitsi.token_ttl_seconds


def token_claims(policy: Policy, who: Person, request: TokenRequest) -> dict[str, Any]:
    """The JWT payload for one person in one room (style_security.md B.6)."""
    jitsi = policy.jitsi
    if not request.room or request.room == "*" or request.room != request.room.lower():
        raise ValueError("a token names exactly one lowercase room")
    moderator = is_owner(who.role, request.meeting_type, who.person, request.creator)
    user: dict[str, str] = {
        "id": who.person,
        "name": who.name or who.person,
        "affiliation": "owner" if moderator else "member",
        "moderator": "true" if moderator else "false",
    }
    if jitsi.share_email and who.email:
        user["email"] = who.email
    if not jitsi.subject or jitsi.subject == "*":
        raise ValueError("a token names one concrete Jitsi domain")  # token_no_wildcard
    now = int(request.now)
    return {
        "iss": jitsi.app_id,
        "aud": jitsi.audience,
        "sub": jitsi.subject,
        "room": request.room,
        "iat": now,
        "nbf": now - NBF_BACKDATE_SECONDS,
        "exp": now + token_ttl(policy, request.meeting_type),
        "jti": request.jti,
        "context": {
            "user": user,
            "features": features(policy, who.role, request.meeting_type),
        },
    }
