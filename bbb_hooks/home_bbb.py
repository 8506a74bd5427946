"""BBB meetings on a teacher's home page, and "stop recording now" (G13).

Listed: the meetings this teacher joined as MODERATOR through the school login.
Whether one records, and under which purpose, comes from what the recording
guard keeps in the store (bbb_hooks/guard_state.py), so every replica shows it.
The stop is sent by the recording guard as a moderator of the meeting
(`SetRecordingStatusCmdMsg` on BBB's bus), followed by a chat message telling
everyone. Only the replica that leads the guard sends it; a page on another
replica hands it to the leader and waits for the answer (bbb_hooks/guard_stop.py),
so the teacher is told whether it was sent.
"""

from __future__ import annotations

from aiohttp import web

from bbb_hooks import guard_stop
from bbb_hooks.guard_page import GUARD
from bbb_hooks.guard_state import MEETING_PREFIX, purpose_key
from bbb_hooks.meetings import is_moderator, meeting_info, meeting_name
from gateway.login.sessions import Session
from gateway.web import keys
from gateway.web.home_index import HOME_SOURCES, HomeMeeting, StopOutcome


def setup(app: web.Application) -> None:
    app[HOME_SOURCES]["bbb"] = (list_meetings, stop_now)


async def list_meetings(app: web.Application, session: Session, meeting_ids: list[str]
                        ) -> list[HomeMeeting]:
    store = app[keys.STORE]
    policy = app[keys.SETTINGS].policy
    found = []
    for meeting_id in meeting_ids:
        record = await meeting_info(store, meeting_id)
        if record is None or not await is_moderator(store, meeting_id, session.person):
            continue
        state = await store.hgetall(MEETING_PREFIX + record.internal_meeting_id)
        declared = (await store.hgetall(purpose_key(meeting_id))).get("purpose", b"").decode()
        active = state.get("active_purpose", b"").decode()
        found.append(HomeMeeting(
            platform="bbb", ident=meeting_id, meeting_type=record.meeting_type,
            recording="announced" in state, purpose=active or declared or record.purpose,
            purpose_url=f"/meetings/bbb/{meeting_id}/purpose", open_url=None,  # BBB: the LMS
            name=await meeting_name(store, meeting_id),
            recording_possible=policy.meeting_types[record.meeting_type].recording_allowed,
            purpose_declared=bool(active or declared)))
    return found


async def stop_now(app: web.Application, session: Session, meeting_id: str) -> StopOutcome:
    store = app[keys.STORE]
    record = await meeting_info(store, meeting_id)
    if record is None or not await is_moderator(store, meeting_id, session.person):
        return "no"
    bus_guard = app.get(GUARD)
    if bus_guard is None:
        return "no"
    # The leader sends it; from another replica it is handed over (guard_stop.py).
    # "yes" only once the stop went out on BBB's bus as a moderator.
    stopped = await guard_stop.stop(bus_guard, record.internal_meeting_id, session.person)
    return "yes" if stopped else "no"
