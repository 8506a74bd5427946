"""BBB's internal Redis bus: the envelope/core JSON (bbb.md §5), decoded and built.

Wire shape, both directions:
    {"envelope": {"name": N, "routing": {...}, "timestamp": ms},
     "core": {"header": {"name": N, "meetingId": M, "userId": U}, "body": {...}}}

The bus carries floods (UserTalkingVoiceEvtMsg for every speaker, whiteboard
and cursor traffic) that the guard never needs. `message_name` reads the
envelope name with a few byte operations so those are dropped before any JSON
parsing; only the names in `GUARD_EVENTS` are parsed at all.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FROM_AKKA = "from-akka-apps-redis-channel"
TO_AKKA = "to-akka-apps-redis-channel"
# Events only: the guard reads from akka-apps; the others in bbb.md §4 carry
# chat, presentation, voice-conf and recording-processing traffic it ignores.
GUARD_CHANNELS = (FROM_AKKA,)
PUBLIC_CHAT = "MAIN-PUBLIC-GROUP-CHAT"

GUARD_EVENTS = frozenset({
    "MeetingCreatedEvtMsg", "MeetingEndedEvtMsg", "MeetingDestroyedEvtMsg",
    "UserJoinedMeetingEvtMsg", "UserLeftMeetingEvtMsg", "UserRoleChangedEvtMsg",
    "PresenterAssignedEvtMsg", "PresenterUnassignedEvtMsg",
    "UserBroadcastCamStartedEvtMsg", "UserBroadcastCamStoppedEvtMsg",
    "UserJoinedVoiceConfToClientEvtMsg", "UserLeftVoiceConfToClientEvtMsg",
    "UserMutedVoiceEvtMsg", "RecordingStatusChangedEvtMsg",
    "LockSettingsInMeetingChangedEvtMsg",
})
RECORDING_CHANGE = "RecordingStatusChangedEvtMsg"
_NAME_MARK = b'"name":"'
_MEETING_MARK = b'"meetingId":"'
_MEETING_WINDOW = 400  # routing comes right after the name
_NAME_WINDOW = 160  # the envelope name comes first; never scan a whole message


# Limits before parsing: akka's largest guard message (MeetingCreatedEvtMsg) is a few
# KiB and about 6 levels deep; anything far beyond is refused unparsed, so a hostile
# publisher cannot make the decoder recurse or allocate without bound.
MAX_MESSAGE_BYTES = 256 * 1024
MAX_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')


class BusError(ValueError):
    """A bus message that is not envelope/core JSON of the expected shape.

    `reason` is a short fixed word for the rejection metric (bounded labels).
    """

    def __init__(self, detail: str, reason: str = "bad_shape") -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BusMessage:
    name: str
    meeting_id: str | None
    user_id: str | None
    body: Mapping[str, Any]
    sent_ms: int | None = None  # envelope timestamp: when akka sent it (epoch ms)


def message_name(raw: bytes) -> str | None:
    """The envelope name from the first bytes of a message, without parsing JSON.

    akka (Jackson) writes `"name":"X"`; whitespace after the colon is tolerated.
    """
    start = raw.find(_NAME_MARK, 0, _NAME_WINDOW)
    if start < 0:
        key = raw.find(b'"name"', 0, _NAME_WINDOW)
        if key < 0:
            return None
        start = raw.find(b'"', key + 6, key + 16)
        if start < 0 or raw[key + 6:start].strip(b" \t\r\n:") or raw.count(b":", key, start) != 1:
            return None
        start += 1
    else:
        start += len(_NAME_MARK)
    end = raw.find(b'"', start, start + 96)
    if end < 0:
        return None
    return raw[start:end].decode("ascii", "replace")


def meeting_of(raw: bytes) -> bytes | None:
    """The internal meeting id from the envelope routing (absent on system messages)."""
    start = raw.find(_MEETING_MARK, 0, _MEETING_WINDOW)
    if start < 0:
        return None
    start += len(_MEETING_MARK)
    end = raw.find(b'"', start, start + 128)
    return raw[start:end] if end > 0 else None


def guard_events(messages: Sequence[bytes]) -> list[bytes]:
    """The messages of one read the guard must handle, recording changes first.

    Floods are dropped by name. When the read holds a recording change, that
    meeting's messages up to the change (and meeting creations, which carry no
    meeting id in the routing) go before every other meeting's traffic: a
    recording start is acted on at once, not after a backlog (G10). Within a
    meeting the order is kept, so the state the decision sees is the same.
    """
    names = [message_name(raw) for raw in messages]
    wanted = [(name, raw) for name, raw in zip(names, messages, strict=True)
              if name in GUARD_EVENTS]
    last_change = max((i for i, (name, _) in enumerate(wanted) if name == RECORDING_CHANGE),
                      default=-1)
    if last_change <= 0:
        return [raw for _, raw in wanted]
    changed = {meeting_of(raw) for name, raw in wanted[:last_change + 1]
               if name == RECORDING_CHANGE}
    first: list[bytes] = []
    later: list[bytes] = []
    for i, (name, raw) in enumerate(wanted):
        urgent = i <= last_change and (name == "MeetingCreatedEvtMsg" or meeting_of(raw) in changed)
        (first if urgent else later).append(raw)
    return first + later


def nesting_depth(raw: bytes) -> int:
    """How deeply objects and arrays nest, brackets inside strings not counted."""
    if raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return MAX_DEPTH  # cannot be deeper: skip the scan (the usual case)
    depth = deepest = 0
    for char in _STRING.sub(b"", raw):
        if char in b"{[":
            depth += 1
            deepest = max(deepest, depth)
        elif char in b"}]":
            depth -= 1
    return deepest


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def decode(raw: bytes | str) -> BusMessage:
    """Parse one envelope/core message; BusError when its size, depth or shape is wrong."""
    data_bytes = raw.encode() if isinstance(raw, str) else raw
    if len(data_bytes) > MAX_MESSAGE_BYTES:
        raise BusError(f"larger than {MAX_MESSAGE_BYTES} bytes", "too_large")
    if nesting_depth(data_bytes) > MAX_DEPTH:
        raise BusError(f"nested deeper than {MAX_DEPTH}", "too_deep")
    try:
        # NaN and Infinity are not JSON (RFC 8259; akka's Jackson refuses them): never values.
        data = json.loads(data_bytes, parse_constant=_not_json)
    except (ValueError, RecursionError) as exc:
        raise BusError(f"not JSON: {exc.__class__.__name__}", "not_json") from None
    core = data.get("core") if isinstance(data, dict) else None
    header = core.get("header") if isinstance(core, dict) else None
    body = core.get("body") if isinstance(core, dict) else None
    if not isinstance(header, dict) or not isinstance(body, dict):
        raise BusError("no core.header/core.body")
    name = header.get("name")
    if not isinstance(name, str):
        raise BusError("no core.header.name")
    meeting_id = header.get("meetingId")
    user_id = header.get("userId")
    envelope = data.get("envelope")
    sent = envelope.get("timestamp") if isinstance(envelope, dict) else None
    return BusMessage(
        name=name,
        meeting_id=meeting_id if isinstance(meeting_id, str) else None,
        user_id=user_id if isinstance(user_id, str) else None,
        body=body,
        sent_ms=sent if isinstance(sent, int) and not isinstance(sent, bool) else None,
    )


def encode(name: str, meeting_id: str, user_id: str, body: Mapping[str, Any],
           now_ms: int | None = None) -> str:
    """A client command the way BBB's own clients publish it to akka-apps."""
    return json.dumps({
        "envelope": {"name": name, "routing": {"meetingId": meeting_id, "userId": user_id},
                     "timestamp": int(time.time() * 1000) if now_ms is None else now_ms},
        "core": {"header": {"name": name, "meetingId": meeting_id, "userId": user_id},
                 "body": dict(body)},
    }, separators=(",", ":"))


# ---- commands (bbb.md §5 table; requester = a moderator of that meeting) ----
LOCK_FIELDS = (
    "disableCam", "disableMic", "disablePrivChat", "disablePubChat", "disableNotes",
    "hideUserList", "lockedLayout", "lockOnJoin", "lockOnJoinConfigurable",
    "hideViewersCursor", "hideViewersAnnotation",
)
# MeetingCreatedEvtMsg.lockSettingsProps spells two fields differently.
CREATE_LOCK_NAMES = {"disablePrivateChat": "disablePrivChat",
                     "disablePublicChat": "disablePubChat"}


def change_lock_settings(meeting_id: str, moderator: str, locks: Mapping[str, Any]) -> str:
    body: dict[str, bool | str] = {field: bool(locks.get(field, False)) for field in LOCK_FIELDS}
    body["setBy"] = moderator
    return encode("ChangeLockSettingsInMeetingCmdMsg", meeting_id, moderator, body)


def lock_users(meeting_id: str, moderator: str, except_ids: tuple[str, ...]) -> str:
    return encode("LockUsersInMeetingCmdMsg", meeting_id, moderator,
                  {"lock": True, "lockedBy": moderator, "except": list(except_ids)})


def lock_user(meeting_id: str, moderator: str, user_id: str, lock: bool) -> str:
    return encode("LockUserInMeetingCmdMsg", meeting_id, moderator,
                  {"userId": user_id, "lock": lock, "lockedBy": moderator})


def mute_all_except_presenters(meeting_id: str, moderator: str) -> str:
    return encode("MuteAllExceptPresentersCmdMsg", meeting_id, moderator,
                  {"mutedBy": moderator, "mute": True})


def mute_user(meeting_id: str, moderator: str, user_id: str) -> str:
    return encode("MuteUserCmdMsg", meeting_id, moderator,
                  {"userId": user_id, "mutedBy": moderator, "mute": True})


def eject_cameras(meeting_id: str, moderator: str, user_id: str) -> str:
    return encode("EjectUserCamerasCmdMsg", meeting_id, moderator, {"userId": user_id})


def set_recording(meeting_id: str, moderator: str, recording: bool) -> str:
    return encode("SetRecordingStatusCmdMsg", meeting_id, moderator,
                  {"recording": recording, "setBy": moderator})


def public_chat(meeting_id: str, moderator: str, text: str, correlation_id: str) -> str:
    """SendGroupChatMessageMsg (BBB before 3.0, GroupChatMsg.scala)."""
    return encode("SendGroupChatMessageMsg", meeting_id, moderator, {
        "chatId": PUBLIC_CHAT,
        "msg": {"correlationId": correlation_id,
                "sender": {"id": moderator, "name": "Privacy", "role": "MODERATOR"},
                "chatEmphasizedText": True, "message": text},
    })
