"""Who may enter a Jitsi room, set it up, invite, and watch its state (G2, G3, G11, G19, G20).

The decisions are gateway.policy.jitsi's; this module reads the store for them:
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

from gateway.login.sessions import Session
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.domains import domain_allowed, email_domain
from gateway.policy.model import MeetingTypeName
from gateway.web import keys
from gateway.web.errors import BadRequest, Forbidden
from jitsi_hooks.context import jitsi

MAX_INVITES = 50


def invite_tag(app: web.Application, email: str) -> str:
    return app[keys.PSEUDONYMS].tag("invite", email.strip().lower())


def school_email(app: web.Application, raw: str) -> str:
    """A school address: its domain one the policy accepts for accounts (G1), checked as
    the login checks it (gateway.policy.domains)."""
    email = raw.strip().lower()
    domain = email_domain(email)
    if domain is None:
        raise BadRequest("bad_email")
    identity = app[keys.SETTINGS].policy.identity
    listed = tuple(d for idp in identity.providers for d in idp.allowed_email_domains)
    if domain_allowed(domain, identity.consumer_domains) or (
            listed and not domain_allowed(domain, listed)):
        raise BadRequest("not_a_school_address")  # G1: never a private address
    return email


async def admit(app: web.Application, room: str, meeting_type: MeetingTypeName,
                session: Session, creator: str | None) -> str | None:
    """The room's creator after this person was let in; Forbidden if they may not (G2, G3)."""
    if meeting_type != "confidential":
        return creator
    rooms = jitsi(app).rooms
    tag = invite_tag(app, session.email or "")
    invited = bool(session.email) and await rooms.is_invited(room, tag)
    access = jitsi_policy.confidential_access(session.role, session.person, creator, invited)
    if access == "refused":
        raise Forbidden("not_invited")
    if access == "invited":
        from jitsi_hooks.admission import remember_invitation

        await remember_invitation(app, room, session.person, tag)  # checked again at join
    if access == "claim":
        if await rooms.claim(room, session.person):
            return session.person
        creator = (await rooms.settings(room)).creator  # lost a race: to whom (another tab?)
        if creator != session.person:
            raise Forbidden("not_invited")
    return creator


async def refusal(app: web.Application, room: str, meeting_type: MeetingTypeName,
                  session: Session, creator: str | None) -> str | None:
    """Why this person may not enter the room as it is typed now, or None; reads only
    (a confidential room is claimed by `admit` when the token is issued)."""
    if not jitsi_policy.may_join(app[keys.SETTINGS].policy, session.role, meeting_type):
        return "guests_not_allowed"
    if meeting_type != "confidential":
        return None
    invited = bool(session.email) and await jitsi(app).rooms.is_invited(
        room, invite_tag(app, session.email or ""))
    if jitsi_policy.confidential_access(session.role, session.person, creator,
                                       invited) == "refused":
        return "not_invited"
    return None


async def may_set_room(app: web.Application, room: str, session: Session) -> bool:
    """G11, G19: the creator, or a teacher/staff member present in an uncreated room."""
    rooms = jitsi(app).rooms
    creator = (await rooms.settings(room)).creator
    present = session.person in await rooms.present_people(room)
    return jitsi_policy.may_set_room(session.role, session.person, creator, present)


async def may_watch(app: web.Application, room: str, session: Session, *,
                    creator: str | None, present: set[str]) -> bool:
    """G20: a room's live state only for its creator, occupants and token holders.

    The caller has read the room's creator and the people present already (the page
    polls every few seconds); the token holders are read only when those do not decide."""
    if session.person == creator or session.person in present:
        return True
    return session.person in await jitsi(app).rooms.token_holders(room, app[keys.CLOCK].time())
