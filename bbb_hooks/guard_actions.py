"""What the BBB guard sends for the engine's actions: akka-apps commands and chat jobs.

Pure translation, no I/O (bbb_hooks/guard_bbb.py sends them). Commands go as a
moderator of the meeting (bbb.md §5); chat texts become ChatJobs, one message
per language (bbb_hooks/guard_chat.py). A public note about a switched-off
camera is throttled per meeting and names nobody (G20).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from bbb_hooks import bus_codec as codec
from bbb_hooks.guard_chat import ChatJob, parts_of
from bbb_hooks.guard_state import Runtime, fields_from_locks
from gateway.policy import guard
from gateway.policy.guard_texts import PUBLIC_TELL

TELL_INTERVAL = 10.0  # seconds between two public "a camera was switched off" notes
MAX_EVENT_AGE = 60.0  # an envelope timestamp further off than this is a clock problem


def event_origin(sent_ms: int | None, seen: float) -> float:
    """When an event happened (epoch seconds): akka's envelope timestamp, else when it
    was read (`seen`, perf_counter); the reaction metric starts here, queue included."""
    now = time.time()
    read_at = now - (time.perf_counter() - seen)
    if sent_ms is not None and 0 <= now - sent_ms / 1000 <= MAX_EVENT_AGE:
        return min(sent_ms / 1000, read_at)
    return read_at


def needs_moderator(action: guard.Action) -> bool:
    return not isinstance(action, guard.Announce | guard.TellTeacher | guard.TellParticipant)


def purpose_page_url(public_url: str, meeting_id: str) -> str:
    return f"{public_url.rstrip('/')}/meetings/bbb/{quote(meeting_id, safe='')}/purpose"


def bus_commands(rt: Runtime, mod: str, action: guard.Action) -> list[str]:
    """The akka-apps commands for one action, sent as moderator `mod` (bbb.md §5)."""
    meeting = rt.internal_id
    match action:
        case guard.LockViewers(locks=locks):
            # Lock settings bind only locked users: lock every viewer too.
            return [codec.change_lock_settings(meeting, mod, fields_from_locks(locks)),
                    codec.lock_users(meeting, mod, rt.moderator_ids())]
        case guard.RestoreLocks(locks=locks, unlock=unlock):
            return [codec.change_lock_settings(meeting, mod, fields_from_locks(locks)),
                    *(codec.lock_user(meeting, mod, pid, False) for pid in unlock)]
        case guard.MuteAllExceptPresenters():
            return [codec.mute_all_except_presenters(meeting, mod)]
        case guard.MuteParticipant(participant_id=pid):
            return [codec.mute_user(meeting, mod, pid)]
        case guard.EjectCameras(participant_ids=pids):
            return [codec.eject_cameras(meeting, mod, pid) for pid in pids]
        case guard.StopRecording():
            return [codec.set_recording(meeting, mod, False)]
    return []


def chat_job(rt: Runtime, action: guard.Action, public_url: str) -> ChatJob | None:
    """The chat job for an announcement-like action (no parts when throttled)."""
    def job(nl: str, en: str, phase: str) -> ChatJob:
        return ChatJob(rt.internal_id, rt.external_id, rt.server, parts_of(nl, en), phase)

    match action:
        case guard.Announce(nl=nl, en=en, phase=phase):
            return job(nl, en, phase)
        case guard.TellTeacher(reason=reason, nl=nl, en=en):
            if reason == "no_purpose" and rt.external_id:  # G11: say where to declare
                link = purpose_page_url(public_url, rt.external_id)
                nl, en = f"{nl} {link}", f"{en} {link}"
            return job(nl, en, "teacher")
        case guard.TellParticipant(key=key, nl=nl, en=en):
            now = time.monotonic()
            if now - rt.told.get(key, -1e9) < TELL_INTERVAL:
                return job("", "", "tell")
            rt.told[key] = now
            nl, en = PUBLIC_TELL.get(key, (nl, en))
            return job(nl, en, "tell")
    return None
