"""Entering a room through Jitsi's `tokenAuthUrl` (`/jitsi/auth`): login, notice, token.

- Not logged in: the request (room, state, challenge) is parked server-side under
  a random id for the login's lifetime, and the login comes back to
  `/jitsi/auth?resume=<id>`. So Jitsi's whole state (up to its own 4096
  characters) survives the login: the return path never truncates it.
- The first time a person enters a room this way they see the room's privacy
  notice (G18: told beforehand): meeting type, recording and transcription
  rules, a link to the objection form. One click (a CSRF-checked POST) continues
  and the token is issued. The click is remembered per person and room, for the
  room as it is typed now: a new type or purpose shows the notice again.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping

from aiohttp import web

from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session, known_session, settle_session
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.model import PURPOSES, Policy
from gateway.store.batch import Batch
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest, Forbidden
from gateway.web.shell import redirect, render
from jitsi_hooks import access
from jitsi_hooks.auth import (
    StateTooLong,
    issue,
    redirect_to_room,
    requested_room,
    to_room,
    token_writes,
)
from jitsi_hooks.context import jitsi
from jitsi_hooks.guard_jitsi import objection_url
from jitsi_hooks.page import room_facts
from jitsi_hooks.rooms import ROOM_TTL
from jitsi_hooks.rooms import room_settings as rooms_settings

_FIELDS = ("room", "state", "code_challenge")
_RESUME_RE = re.compile(r"^[A-Za-z0-9_-]{20,64}$")
# What one request without a session may make the gateway keep. Jitsi's 4096-unit state
# is at most 12 KiB as UTF-8, stored unescaped; anything bigger is no state Jitsi sent.
MAX_RESUME_BYTES = 16 * 1024

MESSAGES: i18n.Catalog = {
    "jitsi.state_too_long": {
        "nl": "Deze link naar de bijeenkomst is te lang (meer dan 4096 tekens informatie). "
              "Open de bijeenkomst opnieuw vanaf het begin.",
        "en": "This link to the meeting is too long (more than 4096 characters of "
              "information). Open the meeting again from the start.",
    },
    "jitsi.entry_continue": {"nl": "Ik heb het gelezen, verder naar de bijeenkomst",
                             "en": "I have read this, continue to the meeting"},
    "jitsi.entry_type": {"nl": "Soort bijeenkomst: {kind}.", "en": "Kind of meeting: {kind}."},
    "jitsi.entry_transcription_possible": {
        "nl": "Een uitgeschreven tekst (transcriptie) van wat er gezegd wordt kan alleen "
              "als iedereen die er is ja zegt.",
        "en": "Speech-to-text only runs if everyone present says yes.",
    },
    "jitsi.entry_transcription_never": {"nl": "Er wordt geen transcriptie gemaakt.",
                                        "en": "Nothing is turned into text."},
}


def _params(source: Mapping[str, str]) -> dict[str, str]:
    return {name: str(source[name]) for name in _FIELDS if source.get(name) is not None}


async def _resumed(request: web.Request) -> dict[str, str]:
    resume = request.query.get("resume", "")
    if not _RESUME_RE.fullmatch(resume):
        raise BadRequest("bad_resume")
    raw = await request.app[keys.STORE].get(f"jitsi:resume:{resume}")
    if raw is None:
        raise BadRequest("login_expired")
    params: dict[str, str] = json.loads(raw)
    return params


def _fingerprint(facts: Mapping[str, object]) -> str:
    """What the person was told: a change in any of it shows the notice again."""
    return "/".join(str(facts[k]) for k in ("meeting_type", "purpose", "recording_possible",
                                            "transcription_possible"))


async def token_auth(request: web.Request) -> web.StreamResponse:
    """GET `/jitsi/auth`: Jitsi's tokenAuthUrl, or the return from the school login."""
    params = await _resumed(request) if "resume" in request.query else _params(request.query)
    room = requested_room(params)
    answer = await _known_entry(request, room)
    if answer is not None:
        return answer
    session = await current_session(request)
    if session is None:
        resume = secrets.token_urlsafe(24)
        ttl = request.app[keys.SETTINGS].policy.gateway.login_ttl_seconds
        try:
            record = json.dumps(params, ensure_ascii=False, separators=(",", ":")).encode()
        except UnicodeEncodeError:  # a lone surrogate: no text Jitsi sends
            raise BadRequest("bad_state") from None
        if len(record) > MAX_RESUME_BYTES:
            raise StateTooLong("state_too_long")
        await request.app[keys.STORE].set(f"jitsi:resume:{resume}", record, ttl)
        return redirect(login_url(f"/jitsi/auth?resume={resume}"))
    policy = request.app[keys.SETTINGS].policy
    rooms = jitsi(request.app).rooms
    batch = Batch()  # the room and this person's notice in one round trip
    room_raw = batch.hgetall(f"jitsi:room:{room}")
    told = batch.hget(f"jitsi:ack:{room}", session.person)
    await request.app[keys.STORE].run_batch(batch)
    rooms.known_rooms.put(room, room_raw.value)
    rooms.known_acks.put((room, session.person), told.value)
    room_settings = rooms_settings(room_raw.value)
    facts = room_facts(policy, room, room_settings)
    if told.value == _fingerprint(facts).encode():
        return await redirect_to_room(request, session, room, room_settings)
    reason = await access.refusal(request.app, room, facts["meeting_type"], session,
                                  room_settings.creator)
    if reason is not None:
        raise Forbidden(reason)  # G2, G3: no notice of a room one may not enter
    return await _notice(request, policy, session, room, facts, params)


async def _known_entry(request: web.Request, room: str) -> web.StreamResponse | None:
    """The token in ONE store round trip, for a person who entered this room through this
    replica before: decided on the session, the room and the notice as last read here,
    and written only if all three are still exactly that in the store, in the same atomic
    step (gateway/store/batch.py). So a session ended on any replica, a room retyped or a
    notice to be shown again is never missed: then nothing is written and the full path
    (which reads everything afresh) answers. Confidential rooms always take the full path.
    None: take the full path."""
    known = known_session(request)
    if known is None:
        return None
    key, raw, session = known
    app = request.app
    rooms = jitsi(app).rooms
    room_raw = rooms.known_room(room)
    ack = rooms.known_ack(room, session.person)
    if room_raw is None or ack is None:
        return None
    policy = app[keys.SETTINGS].policy
    room_settings = rooms_settings(room_raw)
    facts = room_facts(policy, room, room_settings)
    meeting_type = facts["meeting_type"]
    if (ack != _fingerprint(facts).encode() or meeting_type == "confidential"
            or not jitsi_policy.may_join(policy, session.role, meeting_type)):
        return None
    batch = Batch()
    fresh_session = batch.get(key, expect=raw)
    fresh_room = batch.hgetall(f"jitsi:room:{room}", expect=room_raw)
    fresh_ack = batch.hget(f"jitsi:ack:{room}", session.person, expect=ack)
    claims = token_writes(app, batch, session, room, meeting_type, room_settings.creator)
    applied = await app[keys.STORE].run_batch(batch)
    settle_session(request, key, fresh_session.value)  # the session as it is now
    if not applied:
        rooms.known_rooms.put(room, fresh_room.value)
        rooms.known_acks.put((room, session.person), fresh_ack.value)
        return None
    return to_room(request, session, room, issue(app, session, claims))


async def _notice(request: web.Request, policy: Policy, session: Session, room: str,
                  facts: dict[str, object], params: dict[str, str]) -> web.StreamResponse:
    purpose = next((p for p in PURPOSES if p == facts["purpose"]), None)
    days = (policy.purposes[purpose].retention_days if purpose is not None
            else policy.retention.undeclared_retention_days)
    return await render(request, "jitsi_entry_notice.html", {
        **facts, "room": room, "fields": {**params, "room": room}, "retention_days": days,
        "objection_url": objection_url("", room), "notice": policy.notice,
        "microphone_on": policy.jitsi.microphone_on_at_start})


async def continue_to_room(request: web.Request) -> web.StreamResponse:
    """POST `/jitsi/auth` (CSRF-checked by the middleware): the person read the notice."""
    form = await request.post()
    params = _params({k: str(v) for k, v in form.items()})
    room = requested_room(params)
    session = await current_session(request)
    if session is None:
        return redirect(login_url("/"), 303)
    policy = request.app[keys.SETTINGS].policy
    room_settings = await jitsi(request.app).rooms.settings(room)
    facts = room_facts(policy, room, room_settings)
    # Refusals (not invited, guests) raise before anything is remembered.
    response = await redirect_to_room(request, session, room, room_settings, 303)
    told = _fingerprint(facts).encode()
    await request.app[keys.STORE].hset(f"jitsi:ack:{room}", {session.person: told}, ROOM_TTL)
    jitsi(request.app).rooms.known_acks.put((room, session.person), told)
    return response
