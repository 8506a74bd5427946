"""Per-meeting guard state for BBB, built from bus messages and API answers.

Translates BBB's vocabulary into the engine's (gateway/guard.py): internal
user ids (`w_…`) are participant ids; BBB role MODERATOR is a teacher,
VIEWER a pupil and `guest=true` a guest. The gateway's join forces pupils to
VIEWER (gateway/bbb_policy.py), so a viewer is protected even when the
account was staff: the guard errs towards silence (G10). Lock settings keep
every BBB field so the restore after a recording is exact.

What the guard keeps in the store (under the store prefix) is read and
written here too:
- `guard:bbb:purpose:<sha256(meetingID)>` hash {purpose, approval_reference}:
  the purpose a teacher declared (bbb_hooks/guard_page.py), TTL 7 days;
- `guard:bbb:meeting:<internalMeetingID>` hash {locks, locks_before, users_before,
  announced, active_purpose}: what a restarted gateway needs to restore locks
  exactly. `locks` is written as soon as it is seen (MeetingCreatedEvtMsg,
  LockSettingsInMeetingChangedEvtMsg); `locks_before` and `users_before` are
  written when a recording starts, before the guard sends its first lock;
- `guard:bbb:users:<internalMeetingID>` hash {internal user id: "1"|"0"}: whether
  BBB had locked each user when they joined (UserJoinedMeetingEvtMsg `locked`),
  so a restarted gateway still knows whom to unlock at the stop.

Field types are strict: a lock flag or `recording` that is not a JSON boolean,
or a `setBy` that is not a string, raises BusError("bad_field"), so the message
is refused and counted, never read as false (a string "true" must not stop the
guard).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import quote

from bbb_hooks.bus_codec import CREATE_LOCK_NAMES, LOCK_FIELDS, BusError, BusMessage
from bbb_hooks.guard_api import ApiMeeting
from bbb_hooks.meetings import add_recording_purpose, meeting_by_internal_id
from gateway.policy import guard
from gateway.policy import guard_edits as edits
from gateway.policy.model import MEETING_TYPES, PURPOSES, MeetingTypeName, Policy, PurposeName, Role
from gateway.store.base import Store

_ENGINE_LOCKS = ("disableCam", "disableMic", "lockOnJoin")
API_STREAM = "api"  # a camera known only from getMeetingInfo's hasVideo
PURPOSE_PREFIX = "guard:bbb:purpose:"
MEETING_PREFIX = "guard:bbb:meeting:"
USERS_PREFIX = "guard:bbb:users:"
PURPOSE_TTL = 7 * 86400.0
MEETING_TTL = 2 * 86400.0
META_TYPE = "privacy-meeting-type"  # gateway/bbb_policy.py META_MEETING_TYPE, lower-cased


@dataclass
class Runtime:
    """One meeting as the guard sees it; `state` is the engine's frozen view."""

    internal_id: str
    state: guard.MeetingState
    external_id: str = ""
    server: str | None = None
    cams: dict[str, set[str]] = field(default_factory=dict)
    # When each public note (TellParticipant key) was last posted: it goes with the meeting.
    told: dict[str, float] = field(default_factory=dict)
    # Engine events for this meeting (bus and purpose page alike) run one at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def commander(self) -> str | None:
        """A moderator's internal id: akka ejects a requester without permission."""
        mods = [p for p in self.state.participants if p.moderator]
        teachers = [p for p in mods if p.role == "teacher"]
        return (teachers or mods)[0].id if mods else None

    def moderator_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.state.participants if p.moderator)


def objection_url(public_url: str, internal_id: str) -> str:
    """Where a participant objects to this meeting's recording (G12).

    The retention registry knows a BBB recording by its internal meeting id
    (gateway/objections_web.py reads `platform` and `meeting`).
    """
    meeting = quote(internal_id, safe="")
    return f"{public_url.rstrip('/')}/objections/new?platform=bbb&meeting={meeting}"


def new_runtime(internal_id: str, meeting_type: MeetingTypeName, public_url: str) -> Runtime:
    """A meeting first seen mid-stream: its lock settings are not known yet."""
    return Runtime(internal_id=internal_id, state=guard.MeetingState(
        meeting_type=meeting_type, objection_url=objection_url(public_url, internal_id),
        locks_known=False))


def locks_from_fields(fields: Mapping[str, Any]) -> guard.Locks:
    """Lock settings from a bus body; BusError when a known field is not a boolean."""
    names = {CREATE_LOCK_NAMES.get(k, k): v for k, v in fields.items()}
    for name in LOCK_FIELDS:
        if name in names and not isinstance(names[name], bool):
            raise BusError(f"lock field {name} is not a boolean", "bad_field")
    return guard.Locks(
        disable_cam=names.get("disableCam", False),
        disable_mic=names.get("disableMic", False),
        lock_on_join=names.get("lockOnJoin", True),
        other=tuple((f, names.get(f, False)) for f in LOCK_FIELDS if f not in _ENGINE_LOCKS),
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
        return locks_from_fields(data) if isinstance(data, dict) else None
    except ValueError:  # BusError included: a damaged record is an unknown state
        return None


def users_load(raw: bytes | None) -> tuple[tuple[str, bool | None], ...]:
    try:
        data = json.loads(raw or b"[]")
    except ValueError:
        return ()
    if not isinstance(data, list):
        return ()
    return tuple((str(u), f if isinstance(f, bool) else None) for u, f in
                 (item for item in data if isinstance(item, list) and len(item) == 2))


def gateway_role(bbb_role: object, guest: object) -> Role:
    if guest is True:
        return "guest"
    return "teacher" if bbb_role == "MODERATOR" else "pupil"


def from_api(meeting: ApiMeeting, meeting_type: MeetingTypeName, locks: guard.Locks,
             previous: Runtime | None, public_url: str) -> Runtime:
    """A runtime rebuilt from getMeetingInfo (what BBB says now, not what we remembered)."""
    people = tuple(guard.Participant(
        id=a.user_id, role=gateway_role("MODERATOR" if a.moderator else "VIEWER", a.guest),
        camera_on=a.has_video, mic_open=a.in_voice,  # mute state unknown: assume open
        presenter=a.presenter, moderator=a.moderator) for a in meeting.attendees)
    base = previous.state if previous else new_runtime(
        meeting.internal_id, meeting_type, public_url).state
    # getMeetingInfo has no lock flags: keep those the bus reported.
    state = edits.observed(
        base, meeting_type=meeting_type, recording=meeting.recording, participants=people,
        locks=locks, locks_known=previous.state.locks_known if previous else False,
        known_lock_flags={p.id: p.locked for p in previous.state.participants}
        if previous else None)
    return Runtime(internal_id=meeting.internal_id, state=state, external_id=meeting.meeting_id,
                   server=meeting.server, told=previous.told if previous else {},
                   lock=previous.lock if previous else asyncio.Lock(),
                   cams={a.user_id: {API_STREAM} for a in meeting.attendees if a.has_video})




def _joined(body: Mapping[str, Any]) -> guard.ParticipantJoined | None:
    user_id = body.get("intId")
    if not isinstance(user_id, str):
        return None
    locked = body.get("locked")
    return guard.ParticipantJoined(guard.Participant(
        id=user_id, role=gateway_role(body.get("role"), body.get("guest")),
        presenter=body.get("presenter") is True, moderator=body.get("role") == "MODERATOR",
        locked=locked if isinstance(locked, bool) else None))


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
        recording = body.get("recording")
        if not isinstance(recording, bool):  # "true", 1, null: never read as a stop
            raise BusError("recording is not a boolean", "bad_field")
        if not isinstance(by, str) or not _is_unicode(by):  # akka: `setBy: String`
            raise BusError("setBy is not a string", "bad_field")
        return [guard.RecordingStarted(by) if recording else guard.RecordingStopped(by)]
    if name == "LockSettingsInMeetingChangedEvtMsg":
        return [guard.LocksChanged(locks_from_fields(body))]
    _flags(rt, name, body)
    return []


def _is_unicode(text: str) -> bool:
    """False for a lone surrogate ("\\ud800"): no user id akka-apps ever sends."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _flags(rt: Runtime, name: str, body: Mapping[str, Any]) -> None:
    if name == "PresenterAssignedEvtMsg" and isinstance(body.get("presenterId"), str):
        rt.state = edits.with_presenter(rt.state, body["presenterId"])
    elif name == "PresenterUnassignedEvtMsg" and isinstance(body.get("intId"), str):
        rt.state = edits.with_flags(rt.state, body["intId"], presenter=False)
    elif name == "UserRoleChangedEvtMsg" and isinstance(body.get("userId"), str):
        # A promoted pupil stays a pupil for the guard; only who may command changes.
        rt.state = edits.with_flags(rt.state, body["userId"],
                                    moderator=body.get("role") == "MODERATOR")


# ---- the store: what the gateway knows and keeps about a meeting ------------------
def purpose_key(meeting_id: str) -> str:
    return PURPOSE_PREFIX + hashlib.sha256(meeting_id.encode()).hexdigest()


def _purpose(value: str) -> PurposeName | None:
    return value if value in PURPOSES else None


async def load_meeting(store: Store, policy: Policy, rt: Runtime,
                       metadata: Mapping[str, Any] | None = None) -> None:
    """Meeting type (the gateway's record, else BBB metadata) and the saved lock bookkeeping."""
    record = await meeting_by_internal_id(store, rt.internal_id)
    meeting_type: str = policy.bbb.default_meeting_type
    if record is not None:
        meeting_type, rt.server = record.meeting_type, rt.server or record.server
        rt.external_id = rt.external_id or record.meeting_id
    elif metadata and metadata.get(META_TYPE) in MEETING_TYPES:
        meeting_type = metadata[META_TYPE]
    rt.state = edits.with_meeting_type(rt.state, cast(MeetingTypeName, meeting_type))
    saved = await store.hgetall(MEETING_PREFIX + rt.internal_id)
    if saved:
        rt.state = edits.with_saved(
            rt.state, locks=locks_load(saved.get("locks")),
            locks_before=locks_load(saved.get("locks_before")),
            users_before=users_load(saved.get("users_before")),
            announced=saved.get("announced") == b"1",
            active_purpose=_purpose(saved.get("active_purpose", b"").decode()))
    flags = {k: v == b"1" for k, v in
             (await store.hgetall(USERS_PREFIX + rt.internal_id)).items()}
    if flags:
        rt.state = edits.with_lock_flags(rt.state, flags)


async def load_purpose(store: Store, rt: Runtime) -> None:
    """The purpose a teacher declared for this meeting (G11), if any."""
    if not rt.external_id:
        return
    saved = await store.hgetall(purpose_key(rt.external_id))
    purpose = _purpose(saved.get("purpose", b"").decode())
    ref = saved.get("approval_reference", b"").decode() or None
    rt.state = edits.with_declared(rt.state, purpose, ref)


async def save_purpose(store: Store, meeting_id: str, purpose: PurposeName,
                       reference: str | None) -> None:
    await store.hset(purpose_key(meeting_id), {
        "purpose": purpose.encode(), "approval_reference": (reference or "").encode()},
        PURPOSE_TTL)


async def persist(store: Store, rt: Runtime, before: guard.MeetingState, event: guard.Event,
                  record_ttl: float) -> None:
    """Keep what a restarted gateway needs to restore locks exactly, and the purpose."""
    key = MEETING_PREFIX + rt.internal_id
    if isinstance(event, guard.LocksChanged):
        await save_locks(store, rt)
    elif isinstance(event, guard.ParticipantJoined) and event.participant.locked is not None:
        await store.hset(USERS_PREFIX + rt.internal_id, {
            event.participant.id: b"1" if event.participant.locked else b"0"}, MEETING_TTL)
    elif isinstance(event, guard.RecordingStarted | guard.Reconcile) and rt.state.recording:
        if rt.state.active_purpose:  # retention and distribution follow it (G14, G16)
            await add_recording_purpose(store, rt.internal_id, rt.state.active_purpose,
                                        record_ttl)
        await store.hset(key, {
            **({"locks": locks_json(rt.state.locks)} if rt.state.locks_known else {}),
            "locks_before": locks_json(rt.state.locks_before),
            "users_before": json.dumps(rt.state.users_before).encode(),
            "announced": b"1", "active_purpose": (rt.state.active_purpose or "").encode(),
        }, MEETING_TTL)
    elif isinstance(event, guard.RecordingStopped) and before.recording:
        await store.hdel(key, "locks_before", "users_before", "announced", "active_purpose")


async def save_locks(store: Store, rt: Runtime) -> None:
    """The meeting's lock settings, kept current as soon as they are seen."""
    await store.hset(MEETING_PREFIX + rt.internal_id, {"locks": locks_json(rt.state.locks)},
                     MEETING_TTL)
