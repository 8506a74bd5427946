"""`/jitsi/auth`: Jitsi's `tokenAuthUrl` (G1, G2).

Jitsi calls `tokenAuthUrl` with `{room}`, `{state}` and `{code_challenge}`
filled in (reference/jitsi.md §6). State is JSON with `room`, `roomSafe` and
`tenant`; any `config.*` overrides in it are NOT carried back (a user must not
turn privacy defaults off through us). The PKCE challenge belongs to Jitsi's
own SSO token service flow, which the gateway does not use: the JWT goes to
the room URL as `?jwt=` (jitsi.md §1), so the challenge is checked for shape
only. No session: the school login first, then back here; the first entry to a
room shows its notice first (jitsi_hooks/entry.py).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiohttp import web

from gateway.login.sessions import Session
from gateway.playback.acl import acl_ttl, moderators_key
from gateway.policy import jitsi as jitsi_policy
from gateway.policy import utf16
from gateway.policy.model import MeetingTypeName
from gateway.store.batch import Batch
from gateway.web import keys
from gateway.web.errors import BadRequest, Forbidden
from gateway.web.shell import redirect
from jitsi_hooks import access
from jitsi_hooks.context import jitsi
from jitsi_hooks.rooms import PRESENCE_TTL, RoomSettings, normalise_room

log = logging.getLogger(__name__)

# Jitsi's own limit for tokenAuthUrl's state, in JavaScript's UTF-16 units (an emoji is
# two); nothing on our side is shorter.
MAX_STATE = 4096
CODE_CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43,128}$")

# Privacy defaults in the room URL's fragment (jitsi.md §3: all on the config
# whitelist). They are defaults only: the fragment stays in the browser and a
# user can change it; enforcement is the token's features and the prosody module.
def room_fragment(microphone_on: bool) -> str:
    """The fragment of the room URL: camera and (unless the policy says) microphone off."""
    mic = "false" if microphone_on else "true"
    return f"{ROOM_FRAGMENT}&config.startWithAudioMuted={mic}"


class StateTooLong(BadRequest):
    """Jitsi's state is longer than Jitsi itself allows: a page that says so."""

    message_key = "jitsi.state_too_long"


ROOM_FRAGMENT = "&".join((
    "config.startWithVideoMuted=true",  # G4
    "config.disableThirdPartyRequests=true",  # G21
    "config.gravatar.disabled=true",  # G21
    "config.analytics.disabled=true",  # G21
    "config.analytics.rtcstatsEnabled=false",  # G21
    "config.enableEmailInStats=false",
    "config.enableDisplayNameInStats=false",
    "config.doNotStoreRoom=true",
    "config.p2p.enabled=false",  # peers would see each other's IP addresses
))


def _room_from_state(raw_state: str | None) -> str | None:
    if raw_state is None or raw_state == "":
        return None
    if utf16.units(raw_state) > MAX_STATE:
        raise StateTooLong("state_too_long")
    try:
        state = json.loads(raw_state)
    except ValueError:
        raise BadRequest("bad_state") from None
    if not isinstance(state, dict):
        raise BadRequest("bad_state")
    tenant = state.get("tenant")
    if tenant not in (None, ""):
        raise BadRequest("tenant_unsupported")  # tokens carry one fixed `sub`
    room = state.get("roomSafe") or state.get("room")
    return room if isinstance(room, str) else None


def requested_room(params: Mapping[str, str]) -> str:
    """The room from `room=` or from Jitsi's state; both present must agree."""
    from_query = params.get("room")
    from_state = _room_from_state(params.get("state"))
    if from_query is None and from_state is None:
        raise BadRequest("missing_room")
    room = normalise_room(from_query if from_query is not None else from_state)
    if from_state is not None and from_query is not None and normalise_room(from_state) != room:
        raise BadRequest("room_mismatch")
    challenge = params.get("code_challenge")
    if challenge and not CODE_CHALLENGE_RE.fullmatch(challenge):
        raise BadRequest("bad_code_challenge")
    return room


async def mint_for(request: web.Request, session: Session, room: str,
                   room_settings: RoomSettings | None = None) -> str:
    """A room-bound token for this person, or Forbidden (G2, G3, G15)."""
    app = request.app
    policy = app[keys.SETTINGS].policy
    context = jitsi(app)
    if room_settings is None:  # consent is no longer minted (G15)
        room_settings = await context.rooms.settings(room)
    meeting_type = jitsi_policy.meeting_type_of_room(policy, room, room_settings.created_as)
    if not jitsi_policy.may_join(policy, session.role, meeting_type):
        app[keys.METRICS].joins.labels(platform="jitsi", result="refused").inc()
        raise Forbidden("guests_not_allowed")
    creator = await access.admit(app, room, meeting_type, session, room_settings.creator)
    batch = Batch()
    claims = token_writes(app, batch, session, room, meeting_type, creator)
    await app[keys.STORE].run_batch(batch)  # one round trip for all three
    return issue(app, session, claims)


def token_writes(app: web.Application, batch: Batch, session: Session, room: str,
                 meeting_type: MeetingTypeName, creator: str | None) -> dict[str, Any]:
    """The claims of this person's token, after admission; what the gateway must remember
    with it goes into `batch` (written before the token is handed out)."""
    policy = app[keys.SETTINGS].policy
    now = app[keys.CLOCK].time()
    claims = jitsi_policy.token_claims(
        policy,
        jitsi_policy.Person(role=session.role, person=session.person, name=session.name,
                            email=session.email),
        jitsi_policy.TokenRequest(room=room, meeting_type=meeting_type, now=now,
                                  jti=secrets.token_urlsafe(12), creator=creator))
    person = session.person
    batch.hset(f"jitsi:roles:{room}", {person: session.role.encode()},  # the guard's, not
               PRESENCE_TTL)                                             # the token's
    ttl = policy.jitsi.token_ttl_seconds  # G20: who may watch the room's state
    batch.hset(f"jitsi:tok:{room}", {person: str(int(now + ttl)).encode()}, ttl)
    if jitsi_policy.is_owner(session.role, meeting_type, person, creator):
        # A moderator may watch the room's feedback and exam recordings (G14).
        constants = jitsi(app).constants
        kept = constants.get("acl_ttl")
        if kept is None:
            kept = constants["acl_ttl"] = acl_ttl(policy)
        batch.hset(moderators_key("jitsi", room), {person: b"1"}, kept)
    return claims


def issue(app: web.Application, session: Session, claims: dict[str, Any]) -> str:
    """The signed token, once what goes with it is written; counted."""
    context = jitsi(app)
    counters = context.constants.get(session.role)
    if counters is None:  # the labelled children, looked up once per role
        metrics = app[keys.METRICS]
        counters = context.constants[session.role] = (
            metrics.jitsi_tokens.labels(role=session.role),
            metrics.joins.labels(platform="jitsi", result="ok"))
    for counter in counters:
        counter.inc()
    return context.minter.mint(claims)


def room_url(request: web.Request, room: str, token: str) -> str:
    jitsi_section = request.app[keys.SETTINGS].policy.jitsi
    base = jitsi_section.base_url.rstrip("/")
    fragment = room_fragment(jitsi_section.microphone_on_at_start)
    return f"{base}/{quote(room, safe='')}?jwt={token}#{fragment}"


async def redirect_to_room(request: web.Request, session: Session, room: str,
                           room_settings: RoomSettings | None = None,
                           status: int = 302) -> web.StreamResponse:
    """Mint this person's token and send the browser into the room."""
    return to_room(request, session, room, await mint_for(request, session, room,
                                                          room_settings), status)


def to_room(request: web.Request, session: Session, room: str, token: str,
            status: int = 302) -> web.StreamResponse:
    """The answer that sends the browser into the room with its token."""
    if log.isEnabledFor(logging.DEBUG):
        # Routine, like every successful request (gateway.web.shell): DEBUG. At INFO this line
        # was a fifth of the gateway's CPU per token; the count is in the metrics.
        log.debug("jitsi token issued", extra={
            "event": "jitsi_token", "role": session.role,
            "room_ref": request.app[keys.PSEUDONYMS].meeting(room)})
    response = redirect(room_url(request, room, token), status)  # cheaper than raised
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


async def public_key(request: web.Request) -> web.StreamResponse:
    """The RS256 public key where prosody's `asap_key_server` looks for it."""
    context = jitsi(request.app)
    kid = context.minter.kid
    from jitsi_hooks.token import key_file_name

    if context.minter.public_pem is None or kid is None or (
            request.match_info["name"] != key_file_name(kid)):
        raise web.HTTPNotFound()
    return web.Response(body=context.minter.public_pem, content_type="application/x-pem-file",
                        headers={"Cache-Control": "public, max-age=300"})
