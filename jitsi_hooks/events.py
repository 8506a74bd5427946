"""`/hooks/jitsi/events`: signed events from the prosody module, answered with instructions.

The prosody module (jitsi_hooks/prosody/mod_privacy_gateway.lua) keeps no
policy: it reports room created/destroyed, occupant joined/left, recording
status (jicofo's `jibri-recording-status`) and dropped transcription requests,
and carries out what the answer says. Signature: HMAC-SHA256 with the shared
`jitsi.hook_secret` over `<timestamp>.<body>`, in
`X-Privacy-Gateway-Timestamp` and `X-Privacy-Gateway-Signature: sha256=<hex>`;
a stale timestamp is refused. The module retries a failed report with the same
event id: a repeat changes nothing and gets the first answer again; a report whose
handling failed (5xx) is run again, and one still running gets a 503. Every answer
is signed, bound to the event it answers: `X-Privacy-Gateway-Signature:
sha256=<hex>` of HMAC(secret, `answer:<event id>.<body>`) (L2).

Occupants without a person id that are not services (SIP dial-in, guests without
a token) count as present and not opted in (M4, G15). The periodic sync carries
every room's occupants, recording status and AV moderation; presence is replaced
by the module's list and the recording guard re-applied where it drifted (M3).

One room's events run one at a time on a replica (a lock per room, kept only while in
use); a recording transition is also exclusive across replicas (a short lease in the
store, jitsi_hooks/recording.py), so a start reported twice is guarded once (G8).

Presence is kept per room only while the room exists (G20: no attendance
record): occupant id -> pseudonym, forgotten when the room is destroyed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web

from gateway.login.fetch import FetchError, read_bounded
from gateway.policy import jitsi as jitsi_policy
from gateway.web import keys
from gateway.web.errors import BadRequest, Forbidden
from jitsi_hooks import admission, recording
from jitsi_hooks.context import TryAgain, jitsi, room_lock
from jitsi_hooks.rooms import normalise_room

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # a sync of 20 rooms with their occupants fits with room to spare
MAX_SYNC_OCCUPANTS = 2000
MAX_SKEW = 300
PENDING_TTL = 3600
EVENT_ID_TTL = 2 * MAX_SKEW


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def answer_signature(secret: bytes, event_id: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, b"answer:" + event_id.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


async def read_body(request: web.Request) -> bytes:
    """The whole body up to MAX_BODY, however it arrives in pieces (M3)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise BadRequest("too_large")
    try:
        return await read_bounded(request, MAX_BODY)
    except FetchError:
        raise BadRequest("too_large") from None


def _ascii_header(request: web.Request, name: str, reason: str) -> str:
    """L3: a header with non-ASCII bytes is a refusal, not an encoding error (500)."""
    value = request.headers.get(name, "")
    if not value.isascii():
        raise Forbidden(reason)
    return value


async def _verified_body(request: web.Request) -> dict[str, Any]:
    body = await read_body(request)
    timestamp = _ascii_header(request, "X-Privacy-Gateway-Timestamp", "bad_signature")
    given = _ascii_header(request, "X-Privacy-Gateway-Signature", "bad_signature")
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


def _is_service(service: object) -> bool:
    return service not in (None, False, "")


def _person(room: str, occupant: str, person: object, service: object) -> str:
    """What the presence hash keeps for an occupant: "" for a service (jicofo, recorder,
    transcriber), the token's pseudonym for a person, and for a person without one
    (SIP dial-in, guest) a stand-in that is present but can never have opted in (M4)."""
    if _is_service(service):
        return ""
    if isinstance(person, str) and person and not person.startswith("anon:"):
        return person[:100]
    return "anon:" + hashlib.sha256(f"{room}/{occupant}".encode()).hexdigest()[:16]


async def _occupant_joined(app: web.Application, room: str,
                           event: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """The instructions for a join and whether transcription may run now (G15); the
    room's type, occupants and consent are read once for before and after."""
    policy = app[keys.SETTINGS].policy
    rooms = jitsi(app).rooms
    occupant = _text(event, "occupant")
    service = event.get("service")
    person = _person(room, occupant, event.get("person"), service)
    meeting_type = jitsi_policy.meeting_type_of_room(
        policy, room, (await rooms.settings(room)).created_as)
    occupants, opted = await rooms.occupants(room), await rooms.opted_in(room)
    allowed_before = jitsi_policy.transcription_allowed(
        policy, meeting_type, (p for p in occupants.values() if p), opted)
    await rooms.add_occupant(room, occupant, person)
    occupants[occupant] = person
    allowed_now = jitsi_policy.transcription_allowed(
        policy, meeting_type, (p for p in occupants.values() if p), opted)
    out: list[dict[str, Any]] = []
    if (allowed_before or service == "transcriber") and not allowed_now:
        out.append({"action": "stop_transcription"})  # G15: no consent, no transcriber
    if not _is_service(service):
        out.extend(await recording.on_join(app, room, occupant))
    return out, allowed_now


async def _room_event(app: web.Application, room: str, kind: str,
                      event: dict[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """One room's event under its lock: (instructions, transcription allowed now)."""
    rooms = jitsi(app).rooms
    instructions: list[dict[str, Any]] = []
    if kind == "occupant_joined":
        return await _occupant_joined(app, room, event)
    if kind == "room_created":
        pass  # prosody fires it after the creator's occupant_joined: nothing to reset
    elif kind == "room_destroyed":
        await recording.on_room_destroyed(app, room)
        await rooms.forget_room(room)
    elif kind == "occupant_left":
        await rooms.remove_occupant(room, _text(event, "occupant"))
    elif kind == "recording_status":
        instructions = await recording.on_status(app, room, event)
    elif kind != "transcription_requested":
        raise BadRequest("unknown_event")
    allowed = await transcription_allowed(app, room)
    if kind == "transcription_requested" and not allowed:
        app[keys.METRICS].transcription_blocked.labels(platform="jitsi").inc()
        await app[keys.AUDIT].record("transcription_blocked", "jitsi",
                                     room=app[keys.PSEUDONYMS].meeting(room))
    return instructions, allowed


async def _handle(app: web.Application, event: dict[str, Any]) -> dict[str, Any]:
    kind = event["event"]
    if kind == "sync":
        return await _sync(app, event)
    room = normalise_room(_text(event, "room", 64))
    if kind == "admission":  # a join waits for this answer: reads only, no room lock
        return await admission.answer(app, room, event)
    async with room_lock(app, room):
        instructions, allowed = await _room_event(app, room, kind, event)
    return {"ok": True, "transcription_allowed": allowed, "instructions": instructions}


async def _reconcile(app: web.Application, room: str,
                     report: dict[str, Any]) -> list[dict[str, Any]]:
    """M3: the module's list of occupants replaces ours; the guard follows the recording."""
    listed = report.get("occupants")
    if isinstance(listed, list):
        occupants: dict[str, str] = {}
        for item in listed[:MAX_SYNC_OCCUPANTS]:
            occupant = item.get("occupant") if isinstance(item, dict) else None
            if isinstance(occupant, str) and 0 < len(occupant) <= 300:
                occupants[occupant] = _person(room, occupant, item.get("person"),
                                              item.get("service"))
        await jitsi(app).rooms.replace_occupants(room, occupants)
    return await recording.reconcile(app, room, report.get("recording"),
                                     report.get("av_moderation"))


async def _sync(app: web.Application, event: dict[str, Any]) -> dict[str, Any]:
    """The module's periodic call: reconciliation, pending instructions and consent per room."""
    reports = event.get("rooms")
    if not isinstance(reports, list) or len(reports) > 5000:
        raise BadRequest("bad_rooms")
    out: dict[str, Any] = {}
    for report in reports:
        name = report.get("room") if isinstance(report, dict) else report
        if not isinstance(name, str):
            continue
        try:
            room = normalise_room(name)
        except BadRequest:
            continue
        instructions: list[dict[str, Any]] = []
        if isinstance(report, dict):
            try:
                async with room_lock(app, room):
                    instructions = await _reconcile(app, room, report)
            except TryAgain:
                pass  # another replica is guarding this room's recording: next sync
        raw = await app[keys.STORE].take(f"jitsi:pending:{room}")
        out[room] = {"transcription_allowed": await transcription_allowed(app, room),
                     "instructions": instructions + (json.loads(raw) if raw else [])}
    return {"ok": True, "rooms": out}


async def prosody_events(request: web.Request) -> web.StreamResponse:
    started = time.perf_counter()
    event = await _verified_body(request)
    event_id = event.get("id")
    if not isinstance(event_id, str) or not 8 <= len(event_id) <= 64:
        raise BadRequest("bad_id")
    store = request.app[keys.STORE]
    key = f"jitsi:evt:{event_id}"
    if not await store.set_nx(key, b"", EVENT_ID_TTL):
        first = await store.get(key)  # a retry: the first answer again
        if not first:
            raise TryAgain("event_in_progress")  # no answer yet: not "done" either
        return _signed_answer(request, event_id, {**json.loads(first), "duplicate": True})
    try:
        answer = await _handle(request.app, event)
    except BaseException:
        # Not handled: the module's retry with this id must run it, not get "duplicate".
        await store.delete(key)
        raise
    if event["event"] == "recording_status":
        request.app[keys.METRICS].guard_reaction.labels(platform="jitsi").observe(
            time.perf_counter() - started)
    await store.set(key, json.dumps(answer).encode(), EVENT_ID_TTL)
    return _signed_answer(request, event_id, answer)


def _signed_answer(request: web.Request, event_id: str, answer: dict[str, Any]) -> web.Response:
    body = json.dumps(answer).encode()
    signature = answer_signature(jitsi(request.app).hook_secret, event_id, body)
    return web.Response(body=body, content_type="application/json",
                        headers={"X-Privacy-Gateway-Signature": signature})


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
    given = _ascii_header(request, "Authorization", "bad_token")
    expected = b"Bearer " + jitsi(request.app).hook_secret
    if not hmac.compare_digest(given.encode(), expected):
        raise Forbidden("bad_token")
    kind = EVENT_SYNC_KINDS.get(f"{request.match_info['kind']}/{request.match_info['what']}")
    if kind is None:
        raise web.HTTPNotFound()
    body = await read_body(request)
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
        # Only jicofo is known as a service here; a recorder or transcriber counts as a
        # person without consent, which blocks transcription (fails closed, G15).
        if str(event["occupant"]).endswith("/focus"):
            event["service"] = "focus"
    await _handle(request.app, event)
    return web.json_response({"ok": True})
