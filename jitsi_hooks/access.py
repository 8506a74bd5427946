"""Who may enter a Jitsi room, set it up, invite, and watch its state (G2, G3, G11, G19, G20).

The decisions are gateway.jitsi_policy's; this module reads the store for them:
- a confidential room admits only its creator and the people the creator invited
  (G2, G3). Invitations are stored as keyed pseudonyms of the invited school
  e-mail address (`Pseudonymiser.tag("invite", ...)`), never the address itself;
- a room's type and purpose are set by its creator, or in a room nobody created by
  a teacher/staff member who is in it (G11, G19);
- the live state of a room (recording, head count) is shown only to people who
  hold a token for it, are in it, or created it (G20).
"""

from __future__ import annotations

from aiohttp import web

from gateway import jitsi_policy, keys
from gateway.errors import BadRequest, Forbidden
from gateway.sessions import Session
from gateway.settings import MeetingTypeName
from jitsi_hooks.context import jitsi

MAX_INVITES = 50
_EMAIL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-_+@")


def invite_tag(app: web.Application, email: str) -> str:
    return app[keys.PSEUDONYMS].tag("invite", email.strip().lower())


def school_email(app: web.Application, raw: str) -> str:
    """A plain school address (its domain one the policy accepts for accounts, G1)."""
    email = raw.strip().lower()
    local, _, domain = email.partition("@")
    if not local or not domain or len(email) > 254 or not set(email) <= _EMAIL_CHARS or (
            "@" in domain):
        raise BadRequest("bad_email")
    identity = app[keys.SETTINGS].policy.identity
    listed = [d for idp in identity.providers for d in idp.allowed_email_domains]
    if any(_matches(domain, d) for d in identity.consumer_domains) or (
            listed and not any(_matches(domain, d) for d in listed)):
        raise BadRequest("not_a_school_address")  # G1: never a private address
    return email


def _matches(domain: str, entry: str) -> bool:
    """`entry` as settings normalise it: "school.example" or ".school.example" (subdomains)."""
    return domain.endswith(entry) if entry.startswith(".") else domain == entry


async def admit(app: web.Application, room: str, meeting_type: MeetingTypeName,
                session: Session, creator: str | None) -> str | None:
    """The room's creator after this person was let in; Forbidden if they may not (G2, G3)."""
    if meeting_type != "confidential":
        return creator
    rooms = jitsi(app).rooms
    invited = bool(session.email) and await rooms.is_invited(
        room, invite_tag(app, session.email or ""))
    access = jitsi_policy.confidential_access(session.role, session.person, creator, invited)
    if access == "refused":
        raise Forbidden("not_invited")
    if access == "claim":
        await rooms.claim(room, session.person)  # a lost race leaves the other creator
        creator = (await rooms.settings(room)).creator
        if creator != session.person:
            raise Forbidden("not_invited")
    return creator


async def may_set_room(app: web.Application, room: str, session: Session) -> bool:
    """G11, G19: the creator, or a teacher/staff member present in an uncreated room."""
    rooms = jitsi(app).rooms
    creator = (await rooms.settings(room)).creator
    present = session.person in await rooms.present_people(room)
    return jitsi_policy.may_set_room(session.role, session.person, creator, present)


async def may_watch(app: web.Application, room: str, session: Session) -> bool:
    """G20: a room's live state only for its token holders, occupants and creator."""
    rooms = jitsi(app).rooms
    if session.person in await rooms.token_holders(room, app[keys.CLOCK].time()):
        return True
    if session.person in await rooms.present_people(room):
        return True
    return (await rooms.settings(room)).creator == session.person
