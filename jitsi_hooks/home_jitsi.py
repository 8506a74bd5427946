"""Jitsi rooms on a teacher's home page, and "stop recording now" (G13).

The stop goes through the prosody module's instruction channel (the pending
instructions its next sync collects): the module stops Jibri, and every
participant is told in the room's chat. Only the room's creator may stop from
the home page; moderators in the room can always stop Jibri themselves.
"""

from __future__ import annotations

from aiohttp import web

from gateway.login.sessions import Session
from gateway.policy.guard_texts import TEACHER_STOPPED_TEXT
from gateway.web import keys
from gateway.web.home_index import HOME_SOURCES, HomeMeeting, StopOutcome
from jitsi_hooks.events import queue_instruction
from jitsi_hooks.guard_jitsi import both_languages
from jitsi_hooks.page import room_facts
from jitsi_hooks.rooms import RoomStore


def setup(app: web.Application) -> None:
    app[HOME_SOURCES]["jitsi"] = (list_rooms, stop_now)


async def list_rooms(app: web.Application, session: Session, rooms: list[str]
                     ) -> list[HomeMeeting]:
    store = RoomStore(app[keys.STORE])
    policy = app[keys.SETTINGS].policy
    found = []
    for room in rooms:
        settings = await store.settings(room)
        if settings.creator != session.person:
            continue
        state = await store.recording(room)
        facts = room_facts(policy, room, settings)  # what the room page shows, too
        found.append(HomeMeeting(
            platform="jitsi", ident=room, meeting_type=facts["meeting_type"],
            recording=state.recording, purpose=state.purpose or facts["purpose"],
            purpose_url=f"/jitsi/{room}#purpose", open_url=f"/jitsi/{room}",
            recording_possible=facts["recording_possible"],
            purpose_declared=bool(state.purpose or settings.purpose)))
    return found


async def stop_now(app: web.Application, session: Session, room: str) -> StopOutcome:
    store = RoomStore(app[keys.STORE])
    if (await store.settings(room)).creator != session.person:
        return "no"
    if not (await store.recording(room)).recording:
        return "no"
    first = app[keys.SETTINGS].policy.gateway.default_language
    await queue_instruction(app, room, {"action": "stop_recording"})
    await queue_instruction(app, room, {"action": "announce",
                                        "text": both_languages(*TEACHER_STOPPED_TEXT, first)})
    # Queued, not yet carried out: the module stops Jibri at its next sync.
    return "sent"
