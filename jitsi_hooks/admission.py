"""Admission at join, and removal when a room changes under the people in it (G2, G3).

A token is checked when it is issued, but it lives on: a pupil who got one before the
teacher typed the room confidential could still join for its whole lifetime. So the
prosody module asks at every join (`muc-occupant-pre-join`, before anyone else sees the
newcomer) with an `admission` event, and the gateway decides on the room AS IT IS TYPED
NOW:
- the role the person's token was issued for (`jitsi:roles:<room>`); someone the gateway
  never issued a token for this room (no token, SIP dial-in) counts as a guest;
- guests only where the meeting type admits guests;
- a confidential room: its creator, and people whose invitation still stands. At token
  time the keyed pseudonym of the person's invitation is kept (`jitsi:admit:<room>`:
  person -> invitation tag, both pseudonyms), since a join carries no e-mail address.

When a room's type or its invitations change, everybody present is checked the same way
and whoever may no longer be there is removed by the module with a plain message.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from gateway.policy import jitsi as jitsi_policy
from gateway.policy.model import Role
from gateway.web import i18n, keys
from jitsi_hooks.context import jitsi
from jitsi_hooks.rooms import ROOM_TTL

log = logging.getLogger(__name__)

MESSAGES: i18n.Catalog = {
    "admission.not_invited": {
        "nl": "Dit is een vertrouwelijk gesprek: alleen wie is uitgenodigd mag erin.",
        "en": "This is a confidential talk: only people who were invited may come in.",
    },
    "admission.guests_not_allowed": {
        "nl": "Alleen schoolaccounts mogen in deze bijeenkomst.",
        "en": "Only school accounts may come into this meeting.",
    },
    "admission.withdraw": {"nl": "Uitnodiging intrekken", "en": "Withdraw invitation"},
    "admission.removed": {
        "nl": "Deze ruimte is veranderd: je mag er niet meer in blijven. Vraag degene die de "
              "ruimte maakte om een uitnodiging.",
        "en": "This room has changed: you may not stay in it any more. Ask the person who "
              "made the room for an invitation.",
    },
}


async def remember_invitation(app: web.Application, room: str, person: str,
                              invite_tag: str) -> None:
    """At token time: which invitation let this person into a confidential room."""
    await app[keys.STORE].hset(f"jitsi:admit:{room}", {person: invite_tag.encode()}, ROOM_TTL)


async def _refusals(app: web.Application, room: str,
                    people: dict[str, str | None]) -> dict[str, str]:
    """occupant -> reason, for each occupant (-> person or None) who may not be in the room."""
    policy = app[keys.SETTINGS].policy
    rooms = jitsi(app).rooms
    settings = await rooms.settings(room)
    meeting_type = jitsi_policy.meeting_type_of_room(policy, room, settings.created_as)
    roles: dict[str, Role] = await rooms.roles(room)
    admitted = await app[keys.STORE].hgetall(f"jitsi:admit:{room}")
    out: dict[str, str] = {}
    for occupant, person in people.items():
        role: Role = roles.get(person, "guest") if person else "guest"
        if not jitsi_policy.may_join(policy, role, meeting_type):
            out[occupant] = "guests_not_allowed"
        elif meeting_type == "confidential" and person != settings.creator:
            tag = admitted.get(person or "")
            if tag is None or not await rooms.is_invited(room, tag.decode()):
                out[occupant] = "not_invited"
    return out


def _message(app: web.Application, key: str) -> str:
    return app[i18n.MESSAGES_KEY].t(app[keys.SETTINGS].policy.gateway.default_language, key)


async def answer(app: web.Application, room: str, event: dict[str, Any]) -> dict[str, Any]:
    """The module's question at a join: may this person enter the room now?"""
    occupant = event.get("occupant")
    person = event.get("person")
    person = person if isinstance(person, str) and 0 < len(person) <= 100 else None
    key = occupant if isinstance(occupant, str) else ""
    refused = await _refusals(app, room, {key: person})
    reason = refused.get(key)
    if reason is None:
        return {"ok": True, "admit": True}
    app[keys.METRICS].joins.labels(platform="jitsi", result="refused").inc()
    log.info("join refused", extra={"event": "jitsi_join_refused", "reason": reason,
                                    "room_ref": app[keys.PSEUDONYMS].meeting(room)})
    return {"ok": True, "admit": False, "reason": reason,
            "message": _message(app, f"admission.{reason}")}


async def recheck_present(app: web.Application, room: str) -> int:
    """After a change of type or invitations: remove whoever may no longer be in the room.

    The removals go with the module's next sync; returns how many were queued."""
    from jitsi_hooks.events import queue_instruction

    occupants = await jitsi(app).rooms.occupants(room)
    people = {occ: (p if p and not p.startswith("anon:") else None)
              for occ, p in occupants.items() if p}  # "" marks services: never removed
    refused = await _refusals(app, room, people)
    for occupant in refused:
        await queue_instruction(app, room, {"action": "remove_occupant", "occupant": occupant,
                                            "message": _message(app, "admission.removed")})
    return len(refused)


async def withdraw_invitation(request: web.Request) -> web.StreamResponse:
    """POST `/jitsi/<room>/uninvite`: the creator of a confidential room withdraws an
    invitation (CSRF-checked by the middleware); whoever it let in is removed (G3)."""
    from gateway.login.sessions import current_session
    from gateway.web.errors import Forbidden
    from gateway.web.shell import redirect
    from jitsi_hooks import access
    from jitsi_hooks.rooms import normalise_room

    room = normalise_room(request.match_info["room"])
    session = await current_session(request)
    app = request.app
    settings = await jitsi(app).rooms.settings(room)
    meeting_type = jitsi_policy.meeting_type_of_room(app[keys.SETTINGS].policy, room,
                                                     settings.created_as)
    if session is None or meeting_type != "confidential" or settings.creator != session.person:
        raise Forbidden("not_the_creator")
    form = await request.post()
    email = access.school_email(app, str(form.get("email") or ""))
    await app[keys.STORE].hdel(f"jitsi:inv:{room}", access.invite_tag(app, email))
    await recheck_present(app, room)
    return redirect(f"/jitsi/{room}", 303)
