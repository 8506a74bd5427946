"""The recording guard for Jitsi (G3, G8, G10, G11, G13): engine actions -> prosody instructions.

gateway.policy.guard decides; this module only translates, with no I/O:
- locking viewers, muting and ejecting cameras all become AV moderation for
  audio and video: jicofo then mutes every non-moderator at the bridge and
  refuses their unmute (reference/jitsi.md §4), so a modified client cannot
  undo it. Restoring locks sets AV moderation back to what it was before;
- announcements go into the room as a message, in both languages;
- stopping a recording removes the recorder (Jibri) from the room.

Instructions the prosody module executes (mod_privacy_gateway.lua):
  {"action": "av_moderation", "media": "audio"|"video", "enabled": bool,
   "allowed": [occupant, ...]}  (when enabled: the only occupants who may speak/show
   video, teachers/staff as the gateway knows them; never the MUC role, G10)
  {"action": "announce", "text": str}  (a recording announcement ends with the link to the
   objection form for the room, in both languages, G12)
  {"action": "tell", "occupant": str, "text": str}
  {"action": "tell_moderators", "text": str}
  {"action": "stop_recording"}
  {"action": "stop_transcription"}
"""

from __future__ import annotations

from typing import Any

from gateway.policy import guard
from gateway.policy.identity import MODERATOR_ROLES
from gateway.policy.model import MeetingTypeName, Policy, PurposeName

Instruction = dict[str, Any]


def locks_from_av(audio: bool, video: bool) -> guard.Locks:
    """Jitsi's AV moderation seen as the engine's viewer locks."""
    return guard.Locks(disable_cam=video, disable_mic=audio, lock_on_join=True)


def both_languages(nl: str, en: str, first: str) -> str:
    return f"{nl}\n\n{en}" if first == "nl" else f"{en}\n\n{nl}"


def objection_url(public_url: str, room: str) -> str:
    """The objection form for this room's recordings (G12; gateway/objections_web.py)."""
    return f"{public_url.rstrip('/')}/objections/new?platform=jitsi&meeting={room}"


def _with_objection(nl: str, en: str, link: str | None) -> tuple[str, str]:
    if link is None:
        return nl, en
    return (f"{nl} Bezwaar tegen deze opname? {link}",
            f"{en} Object to this recording? {link}")  # G12


def _av(locks: guard.Locks, allowed: tuple[str, ...]) -> list[Instruction]:
    out: list[Instruction] = []
    for media, enabled in (("audio", locks.disable_mic), ("video", locks.disable_cam)):
        item: Instruction = {"action": "av_moderation", "media": media, "enabled": enabled}
        if enabled:
            item["allowed"] = list(allowed)  # L5: by the gateway's roles, not MUC roles
        out.append(item)
    return out


def allowed_speakers(participants: tuple[guard.Participant, ...]) -> tuple[str, ...]:
    """Occupants who may speak and show video under AV moderation: teachers and staff (G10)."""
    return tuple(sorted(p.id for p in participants if p.role in MODERATOR_ROLES))


def _one(action: guard.Action, first: str, allowed: tuple[str, ...],
         link: str | None) -> list[Instruction]:
    match action:
        case guard.Announce(nl=nl, en=en, phase=phase):
            if phase != "stop":
                nl, en = _with_objection(nl, en, link)
            return [{"action": "announce", "text": both_languages(nl, en, first)}]
        case guard.TellParticipant(participant_id=pid, key=key, nl=nl, en=en):
            if key == "recording_notice":
                nl, en = _with_objection(nl, en, link)
            return [{"action": "tell", "occupant": pid, "text": both_languages(nl, en, first)}]
        case guard.TellTeacher(nl=nl, en=en):
            return [{"action": "tell_moderators", "text": both_languages(nl, en, first)}]
        case guard.LockViewers() | guard.MuteAllExceptPresenters() | guard.MuteParticipant() \
                | guard.EjectCameras():
            return _av(guard.lecture_locks(guard.Locks()), allowed)  # G10: bridge-level mute
        case guard.RestoreLocks(locks=locks):
            return _av(locks, allowed)
        case guard.StopRecording():
            return [{"action": "stop_recording"}]
    return []


def instructions(actions: tuple[guard.Action, ...], first_language: str,
                 allowed: tuple[str, ...] = (), objection_link: str | None = None
                 ) -> list[Instruction]:
    """Prosody instructions in the engine's order, each AV moderation change once;
    `objection_link` ends every recording announcement (G12)."""
    out: list[Instruction] = []
    for action in actions:
        for item in _one(action, first_language, allowed, objection_link):
            if item not in out or item["action"] in ("announce", "tell"):
                out.append(item)  # G8: the repeat announcement is sent twice on purpose
    return out


def meeting_state(*, meeting_type: MeetingTypeName, purpose: PurposeName | None,
                  approval_reference: str | None, participants: tuple[guard.Participant, ...],
                  av_now: tuple[bool, bool], recording: bool = False,
                  active_purpose: PurposeName | None = None,
                  av_before: tuple[bool, bool] | None = None) -> guard.MeetingState:
    """The engine's view of a Jitsi room. Cameras and microphones are not tracked
    per person: AV moderation covers all of them at the bridge."""
    return guard.MeetingState(
        meeting_type=meeting_type, purpose=purpose, approval_reference=approval_reference,
        recording=recording, active_purpose=active_purpose,
        locks_before=locks_from_av(*av_before) if av_before is not None else None,
        locks=locks_from_av(*av_now), participants=participants, announced=recording)


def recording_started(policy: Policy, state: guard.MeetingState, started_by: str | None
                      ) -> tuple[guard.MeetingState, tuple[guard.Action, ...]]:
    """The engine's answer to a start; the caller turns the actions into instructions once."""
    return guard.step(policy, state, guard.RecordingStarted(started_by=started_by))


def recording_stopped(policy: Policy, state: guard.MeetingState) -> tuple[guard.Action, ...]:
    return guard.decide(policy, state, guard.RecordingStopped())
