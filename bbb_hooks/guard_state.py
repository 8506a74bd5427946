"""Per-meeting guard state for BBB, built from bus messages and API answers.

Translates BBB's vocabulary into the engine's (gateway/guard.py): internal
user ids (`w_…`) are participant ids; BBB role MODERATOR is a teacher,
VIEWER a pupil and `guest=true` a guest. The gateway's join forces pupils to
VIEWER (gateway/bbb_policy.py), so a viewer is protected even when the
account was staff: the guard errs towards silence (G10). Lock settings keep
every BBB field so the restore after a recording is exact.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bbb_hooks.bus_codec import CREATE_LOCK_NAMES, LOCK_FIELDS, BusMessage
from bbb_hooks.guard_api import ApiMeeting
from gateway import guard
from gateway.settings import MeetingTypeName, Role

_ENGINE_LOCKS = ("disableCam", "disableMic", "lockOnJoin")
API_STREAM = "api"  # a camera known only from getMeetingInfo's hasVideo


@dataclass
class Runtime:
    """One meeting as the guard sees it; `state` is the engine's frozen view."""

    internal_id: str
    state: guard.MeetingState
    external_id: str = ""
    server: str | None = None
    cams: dict[str, set[str]] = field(default_factory=dict)

    def commander(self) -> str | None:
        """A moderator's internal id: akka ejects a requester without permission."""
        mods = [p for p in self.state.participants if p.moderator]
        teachers = [p for p in mods if p.role == "teacher"]
        return (teachers or mods)[0].id if mods else None

    def moderator_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.state.participants if p.moderator)


def new_runtime(internal_id: str, meeting_type: MeetingTypeName) -> Runtime:
    return Runtime(internal_id=internal_id, state=guard.MeetingState(meeting_type=meeting_type))


def locks_from_fields(fields: Mapping[str, Any]) -> guard.Locks:
    names = {CREATE_LOCK_NAMES.get(k, k): v for k, v in fields.items()}
    return guard.Locks(
        disable_cam=bool(names.get("disableCam", False)),
        disable_mic=bool(names.get("disableMic", False)),
        lock_on_join=bool(names.get("lockOnJoin", True)),
        other=tuple((f, bool(names.get(f, False))) for f in LOCK_FIELDS
                    if f not in _ENGINE_LOCKS),
    )


def fields_from_locks(locks: guard.Locks) -> dict[str, Any]:
    return {**dict(locks.other), "disableCam": locks.disable_cam,
            "disableMic": locks.disable_mic, "lockOnJoin": locks.lock_on_join}


def locks_json(locks: guard.Locks | None) -> bytes:
    """Lock settings as stored in the meeting's bookkeeping hash (b"" for none)."""
    return b"" if locks is None else json.dumps(fields_from_locks(locks)).encode()


def locks_load(raw: bytes | None) -> guard.Locks | None:
    if not raw:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return locks_from_fields(data) if isinstance(data, dict) else None


def gateway_role(bbb_role: object, guest: object) -> Role:
    if guest is True:
        return "guest"
    return "teacher" if bbb_role == "MODERATOR" else "pupil"


def from_api(meeting: ApiMeeting, meeting_type: MeetingTypeName, locks: guard.Locks,
             previous: Runtime | None) -> Runtime:
    """A runtime rebuilt from getMeetingInfo (what BBB says now, not what we remembered)."""
    people = tuple(guard.Participant(
        id=a.user_id, role=gateway_role("MODERATOR" if a.moderator else "VIEWER", a.guest),
        camera_on=a.has_video, mic_open=a.in_voice,  # mute state unknown: assume open
        presenter=a.presenter, moderator=a.moderator) for a in meeting.attendees)
    base = previous.state if previous else guard.MeetingState(meeting_type=meeting_type)
    state = replace(base, meeting_type=meeting_type, recording=meeting.recording,
                    participants=people, locks=locks)
    return Runtime(internal_id=meeting.internal_id, state=state, external_id=meeting.meeting_id,
                   server=meeting.server,
                   cams={a.user_id: {API_STREAM} for a in meeting.attendees if a.has_video})


def _set_flags(rt: Runtime, user_id: str, **flags: bool) -> None:
    rt.state = replace(rt.state, participants=tuple(
        replace(p, **flags) if p.id == user_id else p  # type: ignore[arg-type]
        for p in rt.state.participants))


def _joined(body: Mapping[str, Any]) -> guard.ParticipantJoined | None:
    user_id = body.get("intId")
    if not isinstance(user_id, str):
        return None
    return guard.ParticipantJoined(guard.Participant(
        id=user_id, role=gateway_role(body.get("role"), body.get("guest")),
        presenter=body.get("presenter") is True, moderator=body.get("role") == "MODERATOR"))


def _camera(rt: Runtime, body: Mapping[str, Any], started: bool) -> list[guard.Event]:
    user_id, stream = body.get("userId"), str(body.get("stream", ""))
    if not isinstance(user_id, str):
        return []
    streams = rt.cams.setdefault(user_id, set())
    if started:
        streams.add(stream)
        return [guard.CameraStarted(user_id)]  # every new stream is checked (G10)
    streams.discard(stream)
    streams.discard(API_STREAM)
    if streams:
        return []
    rt.cams.pop(user_id, None)
    return [guard.CameraStopped(user_id)]


def _voice(body: Mapping[str, Any], is_open: bool) -> list[guard.Event]:
    user_id = body.get("intId")
    if not isinstance(user_id, str):
        return []
    return [guard.MicOpened(user_id) if is_open else guard.MicClosed(user_id)]


def translate(rt: Runtime, msg: BusMessage) -> list[guard.Event]:
    """Engine events for one bus message; presenter/role flags are updated in place."""
    body, name = msg.body, msg.name
    if name == "UserJoinedMeetingEvtMsg":
        joined = _joined(body)
        return [joined] if joined else []
    if name == "UserLeftMeetingEvtMsg":
        user_id = body.get("intId")
        rt.cams.pop(str(user_id), None)
        return [guard.ParticipantLeft(user_id)] if isinstance(user_id, str) else []
    if name in ("UserBroadcastCamStartedEvtMsg", "UserBroadcastCamStoppedEvtMsg"):
        return _camera(rt, body, name == "UserBroadcastCamStartedEvtMsg")
    if name == "UserMutedVoiceEvtMsg":
        return _voice(body, body.get("muted") is False)
    if name == "UserJoinedVoiceConfToClientEvtMsg":
        return _voice(body, body.get("muted") is False and body.get("listenOnly") is not True)
    if name == "UserLeftVoiceConfToClientEvtMsg":
        return _voice(body, False)
    if name == "RecordingStatusChangedEvtMsg":
        by = body.get("setBy")
        by = by if isinstance(by, str) else None
        return [guard.RecordingStarted(by) if body.get("recording") is True
                else guard.RecordingStopped(by)]
    if name == "LockSettingsInMeetingChangedEvtMsg":
        return [guard.LocksChanged(locks_from_fields(body))]
    _flags(rt, name, body)
    return []


def _flags(rt: Runtime, name: str, body: Mapping[str, Any]) -> None:
    if name == "PresenterAssignedEvtMsg" and isinstance(body.get("presenterId"), str):
        for p in rt.state.participants:
            if p.presenter:
                _set_flags(rt, p.id, presenter=False)
        _set_flags(rt, body["presenterId"], presenter=True)
    elif name == "PresenterUnassignedEvtMsg" and isinstance(body.get("intId"), str):
        _set_flags(rt, body["intId"], presenter=False)
    elif name == "UserRoleChangedEvtMsg" and isinstance(body.get("userId"), str):
        # A promoted pupil stays a pupil for the guard; only who may command changes.
        _set_flags(rt, body["userId"], moderator=body.get("role") == "MODERATOR")
