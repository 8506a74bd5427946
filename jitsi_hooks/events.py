"""`/hooks/jitsi/events`: signed events from the prosody module, answered with instructions.

The prosody module (jitsi_hooks/prosody/mod_privacy_gateway.lua) keeps no
policy: it reports room created/destroyed, occupant joined/left, recording
status (jicofo's `jibri-recording-status`) and dropped transcription requests,
and carries out what the answer says. Signature: HMAC-SHA256 with the shared
`jitsi.hook_secret` over `<timestamp>.<body>`, in
`X-Privacy-Gateway-Timestamp` and `X-Privacy-Gateway-Signature: sha256=<hex>`;
a stale timestamp or a repeated event id is refused.

Presence is kept per room only while the room exists (G20: no attendance
record): occupant id -> pseudonym, forgotten when the room is destroyed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web

from gateway import jitsi_policy, keys
from gateway.errors import BadRequest, Forbidden
from jitsi_hooks import recording
from jitsi_hooks.context import jitsi
from jitsi_hooks.rooms import normalise_room

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_SKEW = 300
PENDING_TTL = 3600
EVENT_ID_TTL = 2 * MAX_SKEW
_ROOM_LOCKS: dict[str, asyncio.Lock] = {}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


async def _verified_body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest("too_large")
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise BadRequest("too_large")
    timestamp = request.headers.get("X-Privacy-Gateway-Timestamp", "")
    given = request.headers.get("X-Privacy-Gateway-Signature", "")
    secret = jitsi(request.app).hook_secret
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), given.encode()):
        raise Forbidden("bad_signature")
    try:
        skew = abs(request.app[keys.CLOCK].time() - int(timestamp))
    except ValueError:
        raise Forbidden("bad_signature") from None
    if skew > MAX_SKEW:
        raise Forbidden("stale_event")
    try:
        event = json.loads(body)
    except ValueError:
        raise BadRequest("bad_json") from None
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        raise BadRequest("bad_event")
    return event


def _text(event: dict[str, Any], name: str, limit: int = 300) -> str:
    value = event.get(name)
    if not isinstance(value, str) or not value or len(value) > limit:
        raise BadRequest(f"bad_{name}")
    return value


async def queue_instruction(app: web.Application, room: str, instruction: dict[str, Any]) -> None:
    """An instruction for the module's next sync (a change made on the gateway's page)."""
    store = app[keys.STORE]
    key = f"jitsi:pending:{room}"
    raw = await store.get(key)
    pending = json.loads(raw) if raw else []
    if instruction not in pending:
        pending.append(instruction)
    await store.set(key, json.dumps(pending).encode(), PENDING_TTL)


async def transcription_allowed(app: web.Application, room: str) -> bool:
    policy = app[keys.SETTINGS].policy
    rooms = jitsi(app).rooms
    created = (await rooms.settings(room)).created_as
    meeting_type = jitsi_policy.meeting_type_of_room(policy, room, created)
    return jitsi_policy.transcription_allowed(
        policy, meeting_type, await rooms.present_people(room), await rooms.opted_in(room))


async def _occupant_joined(app: web.Application, room: str,
                           event: dict[str, Any]) -> list[dict[str, Any]]:
    rooms = jitsi(app).rooms
    occupant = _text(event, "occupant")
    raw_person = event.get("person")
    person = raw_person if isinstance(raw_person, str) else ""
    allowed_before = await transcription_allowed(app, room)
    await rooms.add_occupant(room, occupant, "" if event.get("service") else person[:100])
    out: list[dict[str, Any]] = []
    if allowed_before and not await transcription_allowed(app, room):
        out.append({"action": "stop_transcription"})  # G15: a newcomer did not opt in
    if not event.get("service"):
        out.extend(await recording.on_join(app, room, occupant))
    return out


async def _handle(app: web.Application, event: dict[str, Any]) -> dict[str, Any]:
    kind = event["event"]
    if kind == "sync":
        return await _sync(app, event)
    room = normalise_room(_text(event, "room", 64))
    rooms = jitsi(app).rooms
    instructions: list[dict[str, Any]] = []
    async with _ROOM_LOCKS.setdefault(room, asyncio.Lock()):
        if kind == "room_created":
            pass  # prosody fires it after the creator's occupant_joined: nothing to reset
        elif kind == "room_destroyed":
            await recording.on_room_destroyed(app, room)
            await rooms.forget_room(room)
            _ROOM_LOCKS.pop(room, None)
        elif kind == "occupant_joined":
            instructions = await _occupant_joined(app, room, event)
        elif kind == "occupant_left":
            await rooms.remove_occupant(room, _text(event, "occupant"))
        elif kind == "recording_status":
            instructions = await recording.on_status(app, room, event)
        elif kind == "transcription_requested":
            if not await transcription_allowed(app, room):
                app[keys.METRICS].transcription_blocked.labels(platform="jitsi").inc()
                await app[keys.AUDIT].record("transcription_blocked", "jitsi",
                                             room=app[keys.PSEUDONYMS].tag("room", room))
        else:
            raise BadRequest("unknown_event")
    return {"ok": True, "transcription_allowed": await transcription_allowed(app, room),
            "instructions": instructions}


async def _sync(app: web.Application, event: dict[str, Any]) -> dict[str, Any]:
    """The module's periodic call: pending instructions and consent state per live room."""
    names = event.get("rooms")
    if not isinstance(names, list) or len(names) > 5000:
        raise BadRequest("bad_rooms")
    out: dict[str, Any] = {}
    for name in names:
        if not isinstance(name, str):
            continue
        try:
            room = normalise_room(name)
        except BadRequest:
            continue
        raw = await app[keys.STORE].take(f"jitsi:pending:{room}")
        out[room] = {"transcription_allowed": await transcription_allowed(app, room),
                     "instructions": json.loads(raw) if raw else []}
    return {"ok": True, "rooms": out}


async def prosody_events(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    event = await _verified_body(request)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 8 <= len(event_id) <= 64:
        raise BadRequest("bad_id")
    if not await request.app[keys.STORE].set_nx(f"jitsi:evt:{event_id}", b"1", EVENT_ID_TTL):
        return web.json_response({"ok": True, "duplicate": True, "instructions": []})
    answer = await _handle(request.app, event)
    if event["event"] == "recording_status":
        request.app[keys.METRICS].guard_reaction.labels(platform="jitsi").observe(
            time.perf_counter() - started)
    return web.json_response(answer)


# --- jitsi-contrib event_sync (reference/jitsi.md §4) -------------------------
EVENT_SYNC_KINDS = {"room/created": "room_created", "room/destroyed": "room_destroyed",
                    "occupant/joined": "occupant_joined", "occupant/left": "occupant_left"}


async def event_sync(request: web.Request) -> web.StreamResponse:
    """The jitsi-contrib `event_sync` component as an alternative event source.

    It authenticates with a header configured in its `api_headers`
    (`Authorization: Bearer <jitsi.hook_secret>`) and cannot carry out
    instructions. Names and e-mail addresses in its payload are ignored: only
    the room, the occupant JID and `id` (the pseudonym from our token) are kept.
    """
    given = request.headers.get("Authorization", "")
    expected = b"Bearer " + jitsi(request.app).hook_secret
    if not hmac.compare_digest(given.encode(), expected):
        raise Forbidden("bad_token")
    kind = EVENT_SYNC_KINDS.get(f"{request.match_info['kind']}/{request.match_info['what']}")
    if kind is None:
        raise web.HTTPNotFound()
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise BadRequest("too_large")
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadRequest("bad_json") from None
    if not isinstance(payload, dict):
        raise BadRequest("bad_event")
    if payload.get("is_breakout"):
        return web.json_response({"ok": True})  # breakout rooms are not tracked
    event: dict[str, Any] = {"event": kind, "room": payload.get("room_name")}
    occupant = payload.get("occupant")
    if isinstance(occupant, dict):
        event["occupant"] = occupant.get("occupant_jid")
        event["person"] = occupant.get("id") if isinstance(occupant.get("id"), str) else ""
    await _handle(request.app, event)
    return web.json_response({"ok": True})
