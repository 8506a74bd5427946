"""Recording status from prosody -> the guard engine -> prosody instructions (G8-G13, G3).

jicofo publishes `jibri-recording-status` in the focus presence; the module
reports it with the room's AV moderation state at that moment. On "on" the
guard decides (announce, AV moderation for audio and video in a lecture, or
stop at once in a confidential room / without a purpose); the AV moderation
state before is kept so "off" restores exactly that (reference/jitsi.md §4).
Each transition holds a short lease in the store (`transition`), so replicas behind
a load balancer guard and announce one start once; the recording state is written
last, so a report that failed half-way is guarded in full on the module's retry.
Every recording announcement ends with the room's objection form (G12).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from aiohttp import web

from gateway.policy import guard
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.guard_edits import livestream_started
from gateway.web import keys
from gateway.web.errors import BadRequest
from jitsi_hooks import guard_jitsi
from jitsi_hooks.context import TryAgain, jitsi
from jitsi_hooks.rooms import RecordingState

log = logging.getLogger(__name__)

TRANSITION_TTL = 10.0  # seconds: a replica that dies mid-transition blocks no longer
TRANSITION_WAIT = 3.0  # then 503: the module retries the report with the same id


@asynccontextmanager
async def transition(app: web.Application, room: str) -> AsyncIterator[None]:
    """One recording transition of a room at a time across replicas (a lease in the
    store), so a start reported to two replicas is guarded and announced once (G8)."""
    store = app[keys.STORE]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TRANSITION_WAIT
    while (lease := await store.acquire(f"jitsi:rec:{room}", TRANSITION_TTL)) is None:
        if loop.time() > deadline:
            raise TryAgain("room_busy")  # another replica guards it now
        await asyncio.sleep(0.05)
    try:
        yield
    finally:
        await store.release(lease)


async def _participants(app: web.Application, room: str) -> tuple[guard.Participant, ...]:
    """The people in the room with their roles: two reads, whatever the head count."""
    rooms = jitsi(app).rooms
    roles = await rooms.roles(room)
    out = []
    for occupant, person in (await rooms.occupants(room)).items():
        if person:
            role = roles.get(person, "guest")  # unknown: protected
            out.append(guard.Participant(occupant, role,
                                         moderator=jitsi_policy.is_moderator(role)))
    return tuple(out)


def _av_state(event: dict[str, Any]) -> tuple[bool, bool]:
    av = event.get("av_moderation")
    if not isinstance(av, dict):
        return False, False
    return av.get("audio") is True, av.get("video") is True


async def _state(app: web.Application, room: str, av_now: tuple[bool, bool],
                 current: RecordingState) -> guard.MeetingState:
    policy = app[keys.SETTINGS].policy
    settings = await jitsi(app).rooms.settings(room)
    return guard_jitsi.meeting_state(
        meeting_type=jitsi_policy.meeting_type_of_room(policy, room, settings.created_as),
        purpose=settings.purpose, approval_reference=settings.approval_reference,
        participants=await _participants(app, room), av_now=av_now,
        recording=current.recording, active_purpose=current.purpose,
        av_before=current.av_before)


def _objection_link(app: web.Application, room: str) -> str:
    return guard_jitsi.objection_url(app[keys.SETTINGS].policy.gateway.public_url, room)


def _instructions(app: web.Application, room: str, actions: tuple[guard.Action, ...],
                  state: guard.MeetingState) -> list[dict[str, Any]]:
    return guard_jitsi.instructions(actions, app[keys.SETTINGS].policy.gateway.default_language,
                                    guard_jitsi.allowed_speakers(state.participants),
                                    _objection_link(app, room))


async def _started(app: web.Application, room: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    rooms = jitsi(app).rooms
    current = await rooms.recording(room)
    if current.recording:
        return []  # a repeated "on": already guarded
    av_now = _av_state(event)
    state = await _state(app, room, av_now, current)
    initiator = event.get("initiator")
    starter = initiator if isinstance(initiator, str) and state.participant(initiator) else None
    if event.get("mode") == "stream":  # the features refuse it too (G21)
        new_state, actions = livestream_started(state)
    else:
        new_state, actions = guard_jitsi.recording_started(app[keys.SETTINGS].policy, state,
                                                           starter)
    await _account(app, room, "recording_started", new_state.active_purpose, actions)
    # Last: a failure before this leaves "not recording", so the module's retry guards it.
    await rooms.set_recording(room, RecordingState(
        recording=True, purpose=new_state.active_purpose,
        av_before=av_now if new_state.locks_before is not None else None,
        started_at=app[keys.CLOCK].time()))
    return _instructions(app, room, actions, state)


async def _stopped(app: web.Application, room: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    rooms = jitsi(app).rooms
    current = await rooms.recording(room)
    if not current.recording:
        return []
    state = await _state(app, room, _av_state(event), current)
    actions = guard_jitsi.recording_stopped(app[keys.SETTINGS].policy, state)
    await _account(app, room, "recording_stopped", current.purpose, actions)
    await rooms.set_recording(room, RecordingState(recording=False, purpose=current.purpose))
    return _instructions(app, room, actions, state)


async def _account(app: web.Application, room: str,
                   kind: Literal["recording_started", "recording_stopped"], purpose: str | None,
                   actions: tuple[guard.Action, ...]) -> None:
    names = ",".join(type(a).__name__ for a in actions)
    for action in actions:
        if isinstance(action, guard.StopRecording):
            app[keys.METRICS].recordings_stopped.labels(platform="jitsi",
                                                        reason=action.reason).inc()
    room_ref = app[keys.PSEUDONYMS].meeting(room)
    await app[keys.AUDIT].record(kind, "jitsi", room=room_ref,
                                 purpose=purpose or "undeclared", actions=names)
    log.info("jitsi recording", extra={"event": kind, "room_ref": room_ref,
                                       "purpose": purpose or "undeclared", "action": names})


async def on_status(app: web.Application, room: str, event: dict[str, Any]) -> list[dict[str, Any]]:
    status = event.get("status")
    if status == "pending":
        return []
    if status not in ("on", "off"):
        raise BadRequest("bad_status")
    async with transition(app, room):
        if status == "on":
            return await _started(app, room, event)
        return await _stopped(app, room, event)


async def on_join(app: web.Application, room: str, occupant: str) -> list[dict[str, Any]]:
    """A newcomer during a recording is told at once (G8)."""
    current = await jitsi(app).rooms.recording(room)
    if not current.recording:
        return []
    state = await _state(app, room, (False, False), current)
    who = state.participant(occupant) or guard.Participant(occupant, "guest")
    actions = guard.decide(app[keys.SETTINGS].policy, state, guard.ParticipantJoined(who))
    return _instructions(app, room, actions, state)


async def reconcile(app: web.Application, room: str, status: object,
                    av_reported: object) -> list[dict[str, Any]]:
    """M3: the module's periodic view of a room against ours (a missed or lost report).

    A recording we did not hear of gets the guard now (G8, G10); one that ended
    unheard is closed; a lecture recording whose AV moderation was switched off
    gets it back, with the gateway's list of who may speak (G10)."""
    event = {"status": status, "mode": "file", "av_moderation": av_reported}
    current = await jitsi(app).rooms.recording(room)
    if status == "on" and not current.recording:
        async with transition(app, room):
            return await _started(app, room, event)  # re-checks under the lease
    if status == "off" and current.recording:
        async with transition(app, room):
            return await _stopped(app, room, event)
    if status != "on" or current.av_before is None or _av_state(event) == (True, True):
        return []
    state = await _state(app, room, _av_state(event), current)
    locks = guard.lecture_locks(guard.Locks())
    return _instructions(app, room, (guard.LockViewers(locks),), state)


async def on_room_destroyed(app: web.Application, room: str) -> None:
    current = await jitsi(app).rooms.recording(room)
    if current.recording:
        await _account(app, room, "recording_stopped", current.purpose, ())
