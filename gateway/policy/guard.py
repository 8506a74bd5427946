"""The recording guard engine (G3, G8, G10, G11, G13): pure decisions, no I/O.

Public API (used by bbb_hooks/guard_bbb.py and by jitsi_hooks for Jitsi rooms):

    from gateway import guard
    state = guard.MeetingState(meeting_type="lesson", locks=guard.Locks(),
                               participants=(guard.Participant("w_1", "teacher",
                                                                moderator=True, presenter=True),))
    state, actions = guard.step(policy, state, guard.RecordingStarted(started_by="w_1"))

- `decide(policy, state, event) -> tuple[Action, ...]`: what to do, in order.
- `advance(policy, state, event) -> MeetingState`: the state after the event
  (participants, locks, recording flag and the guard's own bookkeeping:
  `active_purpose`, `locks_before`, `announced`). It records only what the
  event says, never the expected effect of an action: the platform reports
  those back as events (a LocksChanged after our lock, a camera stop, ...).
- `step(policy, state, event)`: both, decide on the old state, then advance.

Events (what the platform reported) and actions (what to carry out, in
order) are the frozen dataclasses of gateway/guard_model.py, re-exported here;
texts live in gateway/guard_texts.py.

Roles "pupil" and "guest" are protected: a lecture (pupils_visible = false)
neither shows nor lets hear them (G10). A guest in a lesson is an unknown
person, so the guard errs towards protecting them too.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal, assert_never

from gateway.policy.guard_model import (
    PROTECTED_ROLES,
    Action,
    Announce,
    AnnouncementFailed,
    CameraStarted,
    CameraStopped,
    EjectCameras,
    Event,
    Locks,
    LocksChanged,
    LockViewers,
    MeetingState,
    MicClosed,
    MicOpened,
    MuteAllExceptPresenters,
    MuteParticipant,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    PurposeDeclared,
    Reconcile,
    RecordingStarted,
    RecordingStopped,
    RestoreLocks,
    StopReason,
    StopRecording,
    TellParticipant,
    TellTeacher,
)
from gateway.policy.guard_texts import (
    BEFORE_PREFIX,
    OBJECTION_TEXT,
    REPEAT_PREFIX,
    STOP_TEXTS,
    STOPPED_TEXT,
    TELL_TEXTS,
    UNDECLARED_TEXT,
)
from gateway.policy.model import Policy, PurposeName

# The vocabulary (gateway/guard_model.py) is part of this module's API: guard.Locks etc.
__all__ = [
    "PROTECTED_ROLES",
    "Action",
    "Announce",
    "AnnouncementFailed",
    "CameraStarted",
    "CameraStopped",
    "EjectCameras",
    "Event",
    "LockViewers",
    "Locks",
    "LocksChanged",
    "MeetingState",
    "MicClosed",
    "MicOpened",
    "MuteAllExceptPresenters",
    "MuteParticipant",
    "Participant",
    "ParticipantJoined",
    "ParticipantLeft",
    "PurposeDeclared",
    "Reconcile",
    "RecordingStarted",
    "RecordingStopped",
    "RestoreLocks",
    "StopReason",
    "StopRecording",
    "TellParticipant",
    "TellTeacher",
    "advance",
    "announcement",
    "decide",
    "lecture_locks",
    "pupils_hidden",
    "resolve_purpose",
    "step",
    "stop_reason",
]


# ---- rules ----------------------------------------------------------------
def resolve_purpose(policy: Policy, state: MeetingState) -> PurposeName | None:
    """The declared purpose, else the meeting type's default (G11, G19)."""
    return state.purpose or policy.meeting_types[state.meeting_type].default_purpose


def stop_reason(policy: Policy, state: MeetingState, starter: str | None) -> StopReason | None:
    """Why a recording may not run in this meeting, or None when it may (G3, G11)."""
    mtype = policy.meeting_types[state.meeting_type]
    if state.meeting_type == "confidential":
        return "confidential"  # G3
    if not mtype.recording_allowed:
        return "recording_not_allowed"
    purpose = resolve_purpose(policy, state)
    if purpose is None:
        return "no_purpose" if mtype.purpose_required else None  # G11
    rules = policy.purposes[purpose]
    who = state.participant(starter) if starter else None
    if who is not None and (who.role not in rules.may_start or who.role not in mtype.record_roles):
        return "role_not_allowed"  # G19: one policy decides who records
    if rules.needs_approval_reference and not (state.approval_reference or "").strip():
        return "no_approval_reference"  # G11
    return None


def pupils_hidden(policy: Policy, purpose: PurposeName | None) -> bool:
    """A lecture, or a recording with no purpose at all, shows no pupils (G10)."""
    return purpose is None or not policy.purposes[purpose].pupils_visible


def announcement(policy: Policy, purpose: PurposeName | None,
                 objection_url: str | None = None) -> tuple[str, str]:
    """The recording announcement (G8): purpose, retention, and where to object (G12)."""
    if purpose is None:
        days = policy.retention.undeclared_retention_days
        nl, en = UNDECLARED_TEXT
    else:
        rules = policy.purposes[purpose]
        days, nl, en = rules.retention_days, rules.announcement_nl, rules.announcement_en
    # replace, not str.format: a policy text with other braces must not break.
    nl, en = nl.replace("{days}", str(days)), en.replace("{days}", str(days))
    if objection_url:
        object_nl, object_en = OBJECTION_TEXT
        nl += "\n" + object_nl.replace("{url}", objection_url)
        en += "\n" + object_en.replace("{url}", objection_url)
    return nl, en


def lecture_locks(locks: Locks) -> Locks:
    return replace(locks, disable_cam=True, disable_mic=True, lock_on_join=True)


def _silence_protected(state: MeetingState) -> tuple[Action, ...]:
    """Lock viewers, mute and eject the cameras of protected participants (G10)."""
    actions: list[Action] = []
    if lecture_locks(state.locks) != state.locks:
        actions.append(LockViewers(lecture_locks(state.locks)))
    open_mics = [p for p in state.participants if p.mic_open]
    protected_mics = [p for p in open_mics if p.role in PROTECTED_ROLES]
    if protected_mics:
        others_open = [p for p in open_mics if p.role not in PROTECTED_ROLES]
        if all(p.presenter for p in others_open) and not any(
                p.presenter for p in protected_mics):
            # One command suffices: it silences exactly the protected open microphones.
            actions.append(MuteAllExceptPresenters())
        else:
            actions.extend(MuteParticipant(p.id) for p in protected_mics)
    cameras = tuple(p.id for p in state.participants
                    if p.camera_on and p.role in PROTECTED_ROLES)
    if cameras:
        actions.append(EjectCameras(cameras))
    return tuple(actions)


def _on_start(policy: Policy, state: MeetingState, starter: str | None,
              reconciling: bool) -> tuple[Action, ...]:
    reason = stop_reason(policy, state, None if reconciling else starter)
    if reason is not None:
        nl, en = STOP_TEXTS[reason]
        return StopRecording(reason), TellTeacher(reason, nl, en)  # G3, G11
    purpose = resolve_purpose(policy, state)
    nl, en = announcement(policy, purpose, state.objection_url)
    announce_now = not (reconciling and state.announced)
    actions: list[Action] = [Announce(nl, en, "start")] if announce_now else []  # G8
    if pupils_hidden(policy, purpose):
        actions.extend(_silence_protected(state))  # G10
    if announce_now:
        again_nl, again_en = REPEAT_PREFIX
        # G8: again right after the start, marked as a repeat
        actions.append(Announce(again_nl + nl, again_en + en, "repeat"))
    return tuple(actions)


def _running_lecture(policy: Policy, state: MeetingState) -> bool:
    return state.recording and pupils_hidden(policy, state.active_purpose)


def _on_media(policy: Policy, state: MeetingState, participant_id: str,
              kind: Literal["camera", "microphone"]) -> tuple[Action, ...]:
    who = state.participant(participant_id)
    if not _running_lecture(policy, state) or who is None or who.role not in PROTECTED_ROLES:
        return ()
    if kind == "camera":
        nl, en = TELL_TEXTS["camera_off"]
        return EjectCameras((participant_id,)), TellParticipant(participant_id, "camera_off",
                                                                nl, en)  # G10
    nl, en = TELL_TEXTS["microphone_off"]
    return MuteParticipant(participant_id), TellParticipant(participant_id, "microphone_off",
                                                            nl, en)  # G10


def _on_join(policy: Policy, state: MeetingState, who: Participant) -> tuple[Action, ...]:
    if not state.recording:
        return ()
    nl, en = announcement(policy, state.active_purpose, state.objection_url)
    actions: list[Action] = [TellParticipant(who.id, "recording_notice", nl, en)]  # G8
    if (_running_lecture(policy, state) and who.moderator
            and not any(p.moderator for p in state.participants if p.id != who.id)):
        # G10: with no moderator to act for nothing was sent (bbb_hooks/guard_bbb.py
        # `_unable`); now there is one, so every pupil whose camera or microphone came
        # on meanwhile goes off, and the locks on, before the notice that says so.
        others = tuple(p for p in state.participants if p.id != who.id)
        return (*_silence_protected(replace(state, participants=(*others, who))), *actions)
    if _running_lecture(policy, state) and who.role in PROTECTED_ROLES:
        if who.mic_open:
            actions.append(MuteParticipant(who.id))
        if who.camera_on:
            actions.append(EjectCameras((who.id,)))
    return tuple(actions)


def users_to_unlock(state: MeetingState, before: Locks) -> tuple[str, ...]:
    """Who the guard locked and was not locked before: unlocked again at the stop.

    A user unlocked before is unlocked; one who joined during the recording is
    unlocked only when the meeting did not lock on join before. A user whose
    prior flag was unknown stays as it is (never guessed).
    """
    prior = dict(state.users_before)
    out = []
    for p in state.participants:
        if p.moderator:
            continue
        if p.id in prior:
            if prior[p.id] is False:
                out.append(p.id)
        elif not before.lock_on_join:
            out.append(p.id)
    return tuple(out)


def _on_stop(state: MeetingState) -> tuple[Action, ...]:
    actions: list[Action] = []
    if state.locks_before is not None:  # exactly what was in force, users included
        actions.append(RestoreLocks(state.locks_before,
                                    users_to_unlock(state, state.locks_before)))
    actions.append(Announce(*STOPPED_TEXT, "stop"))
    return tuple(actions)


def _on_declared(policy: Policy, state: MeetingState,
                 purpose: PurposeName) -> tuple[Action, ...]:
    if state.recording:
        nl, en = STOP_TEXTS["purpose_next_recording"]
        return (TellTeacher("purpose_next_recording", nl, en),)
    nl, en = announcement(policy, purpose, state.objection_url)
    ahead_nl, ahead_en = BEFORE_PREFIX
    return (Announce(ahead_nl + nl, ahead_en + en, "before"),)  # G8, G11, G12: beforehand


def _on_announcement_failed(state: MeetingState, phase: str) -> tuple[Action, ...]:
    """G8: a recording whose start announcement did not arrive does not go on."""
    if phase != "start" or not state.recording:
        return ()
    nl, en = STOP_TEXTS["announcement_failed"]
    return StopRecording("announcement_failed"), TellTeacher("announcement_failed", nl, en)


def decide(policy: Policy, state: MeetingState, event: Event) -> tuple[Action, ...]:
    """The guard's actions for one event, in the order they must be carried out."""
    match event:
        case RecordingStarted(started_by=starter):
            if state.recording:
                return ()
            return _on_start(policy, state, starter, reconciling=False)
        case Reconcile():
            return _on_start(policy, state, None, reconciling=True) if state.recording else ()
        case RecordingStopped():
            return _on_stop(state) if state.recording else ()
        case CameraStarted(participant_id=pid):
            return _on_media(policy, state, pid, "camera")
        case MicOpened(participant_id=pid):
            return _on_media(policy, state, pid, "microphone")
        case ParticipantJoined(participant=who):
            return _on_join(policy, state, who)
        case LocksChanged(locks=locks):
            if _running_lecture(policy, state) and lecture_locks(locks) != locks:
                return (LockViewers(lecture_locks(locks)),)  # G10: locks stay on
            return ()
        case PurposeDeclared(purpose=purpose):
            return _on_declared(policy, state, purpose)
        case AnnouncementFailed(phase=phase):
            return _on_announcement_failed(state, phase)
        case CameraStopped() | MicClosed() | ParticipantLeft():
            return ()
        case _:
            assert_never(event)


def _with_participant(state: MeetingState, pid: str, *, camera_on: bool | None = None,
                      mic_open: bool | None = None) -> MeetingState:
    def changed(p: Participant) -> Participant:
        return replace(p, camera_on=p.camera_on if camera_on is None else camera_on,
                       mic_open=p.mic_open if mic_open is None else mic_open)

    return replace(state, participants=tuple(
        changed(p) if p.id == pid else p for p in state.participants))


def advance(policy: Policy, state: MeetingState, event: Event) -> MeetingState:
    """The meeting state after `event` (what the platform reported, plus bookkeeping)."""
    match event:
        case RecordingStarted():
            if state.recording:
                return state
            purpose = resolve_purpose(policy, state)
            hidden = stop_reason(policy, state, event.started_by) is None and pupils_hidden(
                policy, purpose)
            return replace(state, recording=True, active_purpose=purpose, announced=True,
                           locks_before=state.locks if hidden and state.locks_known else None,
                           users_before=_user_locks(state) if hidden else ())
        case Reconcile():
            return _reconciled(policy, state) if state.recording else state
        case RecordingStopped():
            return replace(state, recording=False, active_purpose=None, locks_before=None,
                           users_before=(), announced=False)
        case CameraStarted(participant_id=pid) | CameraStopped(participant_id=pid):
            return _with_participant(state, pid, camera_on=isinstance(event, CameraStarted))
        case MicOpened(participant_id=pid) | MicClosed(participant_id=pid):
            return _with_participant(state, pid, mic_open=isinstance(event, MicOpened))
        case ParticipantJoined(participant=who):
            others = tuple(p for p in state.participants if p.id != who.id)
            return replace(state, participants=(*others, who))
        case ParticipantLeft(participant_id=pid):
            return replace(state, participants=tuple(
                p for p in state.participants if p.id != pid))
        case LocksChanged(locks=locks):
            return replace(state, locks=locks, locks_known=True)
        case PurposeDeclared(purpose=purpose, approval_reference=ref):
            return replace(state, purpose=purpose, approval_reference=ref)
        case AnnouncementFailed():
            return state
        case _:
            assert_never(event)


def _reconciled(policy: Policy, state: MeetingState) -> MeetingState:
    purpose = state.active_purpose or resolve_purpose(policy, state)
    before, users = state.locks_before, state.users_before
    if before is None and pupils_hidden(policy, purpose) and state.locks_known:
        # Nobody locked yet (the start was missed): what is in force is what was.
        before, users = state.locks, _user_locks(state)
    return replace(state, active_purpose=purpose, locks_before=before, users_before=users,
                   announced=True)


def _user_locks(state: MeetingState) -> tuple[tuple[str, bool | None], ...]:
    return tuple((p.id, p.locked) for p in state.participants if not p.moderator)


def step(policy: Policy, state: MeetingState,
         event: Event) -> tuple[MeetingState, tuple[Action, ...]]:
    """Decide on the state before the event, then advance it."""
    return advance(policy, state, event), decide(policy, state, event)
