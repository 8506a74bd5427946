"""The demo's BBB stand-in with a live meeting: akka-apps on a bus. NOT FOR PRODUCTION.

A stand-in for development and the demo only (started by `privacy-gateway
demo`, which needs `gateway.development = true`). It adds to the API stand-in
(gateway/demo/bbb_server.py) what akka-apps does on BBB's Redis bus, in the
JSON of reference/bbb.md §5, written from that reference and independent of
bbb_hooks:

- events on `from-akka-apps-redis-channel`: MeetingCreatedEvtMsg at create,
  UserJoinedMeetingEvtMsg when someone opens the meeting page (the first
  moderator then becomes presenter), and camera, voice, mute, lock and
  recording events when people click on the meeting page;
- commands from `to-akka-apps-redis-channel`, applied to the meeting and
  answered with the events akka-apps publishes: ChangeLockSettingsInMeetingCmdMsg,
  LockUsersInMeetingCmdMsg, LockUserInMeetingCmdMsg, MuteUserCmdMsg,
  MuteAllExceptPresentersCmdMsg, EjectUserCamerasCmdMsg, SetRecordingStatusCmdMsg,
  SendGroupChatMessageMsg. Like akka-apps, a command whose requester
  (`header.userId`) is not a moderator of that meeting is not carried out, and
  locked viewers are muted and their cameras stopped when a lock applies to them.
- the public chat: `sendChatMessage` (bbb-web, BBB 3.0) and the bus chat command.

A recording stopped on the meeting becomes a processed recording of the
meeting at once (record id = the internal meeting id, its metadata the
meeting's), and `on_recording` is told. The meeting page itself (the stand-in's
"HTML5 client") is gateway/demo/meeting_page.py.
"""

from __future__ import annotations

import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from gateway.demo import meeting_page
from gateway.demo.bbb_server import BBBEmulator, Meeting
from gateway.demo.resp_broker import RespBroker

log = logging.getLogger(__name__)

FROM_AKKA = "from-akka-apps-redis-channel"
TO_AKKA = "to-akka-apps-redis-channel"
PUBLIC_CHAT = "MAIN-PUBLIC-GROUP-CHAT"
# ChangeLockSettingsInMeetingCmdMsg's fields (bbb.md §5); create's names in brackets.
LOCK_FIELDS = ("disableCam", "disableMic", "disablePrivChat", "disablePubChat", "disableNotes",
               "hideUserList", "lockedLayout", "lockOnJoin", "lockOnJoinConfigurable",
               "hideViewersCursor", "hideViewersAnnotation")
_CREATE_LOCKS = {"disableCam": "lockSettingsDisableCam", "disableMic": "lockSettingsDisableMic",
                 "disablePrivChat": "lockSettingsDisablePrivateChat",
                 "disablePubChat": "lockSettingsDisablePublicChat",
                 "disableNotes": "lockSettingsDisableNotes",
                 "hideUserList": "lockSettingsHideUserList",
                 "lockedLayout": "lockSettingsLockedLayout",
                 "lockOnJoin": "lockSettingsLockOnJoin",
                 "lockOnJoinConfigurable": "lockSettingsLockOnJoinConfigurable",
                 "hideViewersCursor": "lockSettingsHideViewersCursor",
                 "hideViewersAnnotation": "lockSettingsHideViewersAnnotation"}
VOICE_CONF = "70000"


@dataclass
class LiveUser:
    int_id: str
    ext_id: str
    name: str
    role: str  # MODERATOR | VIEWER
    may_record: bool
    locked: bool = False
    presenter: bool = False
    cams: list[str] = field(default_factory=list)
    in_voice: bool = False
    muted: bool = True

    @property
    def moderator(self) -> bool:
        return self.role == "MODERATOR"


@dataclass
class ChatLine:
    sender: str
    text: str
    at: float


@dataclass
class LiveMeeting:
    meeting: Meeting
    locks: dict[str, bool]
    record: bool  # create's `record`: may this meeting be recorded at all
    users: dict[str, LiveUser] = field(default_factory=dict)
    recording: bool = False
    recorded_ms: int = 0
    started_ms: int | None = None
    chat: list[ChatLine] = field(default_factory=list)
    record_id: str | None = None  # the processed recording, once there is one


def _truthy(value: str | None, default: bool) -> bool:
    return default if value is None else value.strip().lower() == "true"


def _now_ms() -> int:
    return int(time.time() * 1000)


class LiveBBB(BBBEmulator):
    """The API stand-in plus akka-apps' meeting state on an in-process bus."""

    def __init__(self, secret: str, root: Path, broker: RespBroker, *, gateway_url: str,
                 default_language: str = "nl",
                 on_recording: Callable[[str], None] = lambda record_id: None,
                 **kwargs: Any) -> None:
        super().__init__(secret, root, **kwargs)
        self.broker = broker
        self.gateway_url = gateway_url.rstrip("/")  # for the objection link (G12)
        self.default_language = default_language
        self.on_recording = on_recording
        self.live: dict[str, LiveMeeting] = {}  # internal meeting id -> meeting
        self.refused_commands: list[str] = []  # commands akka-apps would not carry out
        broker.listen(TO_AKKA, self._command)
        meeting_page.add_routes(self)

    def session_cookie(self, token: str) -> str:
        """One cookie per join, not BBB's one host-wide `JSESSIONID`: a second meeting
        joined in the same browser must not end the first tab's session (as the real
        client, which carries its sessionToken, does not)."""
        return f"demo_session_{token}"

    async def _client(self, request: web.Request) -> web.Response:
        """The stand-in's HTML5 client: the demo meeting page."""
        return await meeting_page.page(self, request)

    # ---- the bus ---------------------------------------------------------------------
    def _event(self, name: str, meeting: str, user: str, body: Mapping[str, Any]) -> None:
        self.broker.publish(FROM_AKKA, json.dumps({
            "envelope": {"name": name, "routing": {"msgType": "BROADCAST_TO_MEETING",
                                                   "meetingId": meeting, "userId": user},
                         "timestamp": _now_ms()},
            "core": {"header": {"name": name, "meetingId": meeting, "userId": user},
                     "body": dict(body)},
        }, separators=(",", ":")).encode())

    def _created_event(self, live: LiveMeeting) -> None:
        m = live.meeting
        locks = {("disablePrivateChat" if k == "disablePrivChat" else
                  "disablePublicChat" if k == "disablePubChat" else k): v
                 for k, v in live.locks.items()}
        self.broker.publish(FROM_AKKA, json.dumps({
            "envelope": {"name": "MeetingCreatedEvtMsg",
                         "routing": {"sender": "bbb-apps-akka"}, "timestamp": _now_ms()},
            "core": {"header": {"name": "MeetingCreatedEvtMsg"}, "body": {"props": {
                "meetingProp": {"name": m.name, "extId": m.meeting_id, "intId": m.internal_id,
                                "meetingCameraCap": 0, "isBreakout": False,
                                "disabledFeatures": []},
                "recordProp": {"record": live.record, "autoStartRecording": False,
                               "allowStartStopRecording": True},
                "lockSettingsProps": locks,
                "metadataProp": {"metadata": dict(m.metadata)},
            }}},
        }, separators=(",", ":")).encode())

    def _command(self, raw: bytes) -> None:
        """One command from the guard (or any client) on `to-akka-apps-redis-channel`."""
        try:
            data = json.loads(raw)
            header = data["core"]["header"]
            body = data["core"]["body"]
            name, meeting_id, requester = header["name"], header["meetingId"], header["userId"]
        except (ValueError, KeyError, TypeError):
            self.refused_commands.append("bad_message")
            return
        live = self.live.get(meeting_id) if isinstance(meeting_id, str) else None
        if live is None or not isinstance(body, dict):
            return
        by = live.users.get(requester) if isinstance(requester, str) else None
        if by is None or not by.moderator:
            # akka-apps: a requester without the permission is ejected, nothing is done
            self.refused_commands.append(str(name))
            return
        self.apply(live, str(name), by, body)

    def apply(self, live: LiveMeeting, name: str, by: LiveUser, body: Mapping[str, Any]) -> None:
        """A moderator's command applied, with the events akka-apps publishes for it."""
        mid = live.meeting.internal_id
        if name == "ChangeLockSettingsInMeetingCmdMsg":
            live.locks = {f: body.get(f) is True for f in LOCK_FIELDS}
            self._event("LockSettingsInMeetingChangedEvtMsg", mid, by.int_id,
                        {**live.locks, "setBy": by.int_id})
            for user in live.users.values():
                self._enforce(live, user)
        elif name in ("LockUsersInMeetingCmdMsg", "LockUserInMeetingCmdMsg"):
            self._lock(live, name, by, body)
        elif name == "MuteUserCmdMsg":
            muted = live.users.get(str(body.get("userId")))
            if muted is not None:
                self._set_muted(live, muted, body.get("mute") is not False)
        elif name in ("MuteAllExceptPresentersCmdMsg", "MuteMeetingCmdMsg"):
            for user in live.users.values():
                if name == "MuteMeetingCmdMsg" or not user.presenter:
                    self._set_muted(live, user, body.get("mute") is not False)
        elif name == "EjectUserCamerasCmdMsg":
            ejected = live.users.get(str(body.get("userId")))
            if ejected is not None:
                self._stop_cameras(live, ejected)
        elif name in ("SetRecordingStatusCmdMsg", "RecordAndClearPreviousMarkersCmdMsg"):
            self.set_recording(live, by, body.get("recording") is True)
        elif name == "SendGroupChatMessageMsg":
            msg = body.get("msg")
            msg = msg if isinstance(msg, dict) else {}
            sender = msg.get("sender")
            sender = sender if isinstance(sender, dict) else {}
            self._chat(live, str(sender.get("name") or by.name), str(msg.get("message", "")))

    # ---- what akka-apps does to the meeting ---------------------------------------------
    def _lock(self, live: LiveMeeting, name: str, by: LiveUser, body: Mapping[str, Any]) -> None:
        lock = body.get("lock") is True
        if name == "LockUserInMeetingCmdMsg":
            targets = [u for u in live.users.values() if u.int_id == body.get("userId")]
        else:
            spared = set(body.get("except") or ())
            targets = [u for u in live.users.values() if u.int_id not in spared]
        for user in targets:
            if user.locked != lock:
                user.locked = lock
                self._event("UserLockedInMeetingEvtMsg", live.meeting.internal_id, user.int_id,
                            {"userId": user.int_id, "locked": lock, "lockedBy": by.int_id})
            self._enforce(live, user)

    def _enforce(self, live: LiveMeeting, user: LiveUser) -> None:
        """Lock settings bind locked viewers: microphone muted, cameras stopped."""
        if user.moderator or not user.locked:
            return
        if live.locks.get("disableMic"):
            self._set_muted(live, user, True)
        if live.locks.get("disableCam"):
            self._stop_cameras(live, user)

    def _set_muted(self, live: LiveMeeting, user: LiveUser, muted: bool) -> None:
        if not user.in_voice or user.muted == muted:
            return
        user.muted = muted
        self._event("UserMutedVoiceEvtMsg", live.meeting.internal_id, user.int_id, {
            "voiceConf": VOICE_CONF, "intId": user.int_id, "voiceUserId": "v_" + user.int_id,
            "muted": muted})

    def _stop_cameras(self, live: LiveMeeting, user: LiveUser) -> None:
        for stream in list(user.cams):
            user.cams.remove(stream)
            self._event("UserBroadcastCamStoppedEvtMsg", live.meeting.internal_id, user.int_id,
                        {"userId": user.int_id, "stream": stream})

    def _chat(self, live: LiveMeeting, sender: str, text: str) -> None:
        if not text:
            return
        live.chat.append(ChatLine(sender, text, time.time()))
        self._event("GroupChatMessageBroadcastEvtMsg", live.meeting.internal_id, "not-used", {
            "chatId": PUBLIC_CHAT, "msg": {
                "id": f"{_now_ms()}-{len(live.chat)}", "timestamp": _now_ms(),
                "correlationId": "", "sender": {"id": "", "name": sender, "role": ""},
                "chatEmphasizedText": True, "message": text, "replyToMessageId": ""}})

    def set_recording(self, live: LiveMeeting, by: LiveUser, on: bool) -> bool:
        if not live.record or live.recording == on:
            return False
        live.recording = on
        now = _now_ms()
        if on:
            live.started_ms = now
        elif live.started_ms is not None:
            live.recorded_ms += now - live.started_ms
            live.started_ms = None
        self._event("RecordingStatusChangedEvtMsg", live.meeting.internal_id, by.int_id,
                    {"recording": on, "setBy": by.int_id})
        if not on:
            self._make_recording(live)
        return True

    def _make_recording(self, live: LiveMeeting) -> None:
        """What bbb-record makes of the recorded parts (here: at once, one per meeting)."""
        m = live.meeting
        live.record_id = self.add_recording(
            m.meeting_id, meta=dict(m.metadata), start_ms=m.create_time,
            duration_ms=max(live.recorded_ms, 1000), participants=len(live.users),
            name=m.name)
        self.on_recording(live.record_id)

    # ---- what people do on the meeting page ---------------------------------------------
    def open_page(self, token: str) -> tuple[LiveMeeting, LiveUser] | None:
        """The meeting page opened with a join's session token: the user joins once."""
        session = self.sessions.get(token)
        if session is None:
            return None
        meeting = self.meetings.get(session.get("meetingID", ""))
        if meeting is None or meeting.ended:
            return None
        live = self.live.get(meeting.internal_id)
        if live is None:
            return None
        user_id = session["internalUserID"]
        user = live.users.get(user_id)
        if user is None:
            role = session["role"]
            user = LiveUser(
                int_id=user_id, ext_id=session.get("userID", user_id),
                name=session.get("fullName", ""), role=role,
                may_record=role == "MODERATOR" and _truthy(
                    session.get("userdata-bbb_record_permission"), True),
                locked=role == "VIEWER" and live.locks.get("lockOnJoin", True))
            live.users[user_id] = user
            self._event("UserJoinedMeetingEvtMsg", meeting.internal_id, user_id, {
                "intId": user_id, "extId": user.ext_id, "name": user.name, "role": role,
                "guest": _truthy(session.get("guest"), False), "authed": True,
                "guestStatus": "ALLOW", "emoji": "none", "reactionEmoji": "none",
                "raiseHand": False, "away": False, "pin": False, "presenter": False,
                "locked": user.locked, "avatar": "", "color": "#5e35b1",
                "clientType": "HTML5"})
            if user.moderator and not any(u.presenter for u in live.users.values()):
                user.presenter = True  # BBB makes the first moderator presenter
                self._event("PresenterAssignedEvtMsg", meeting.internal_id, user_id, {
                    "presenterId": user_id, "presenterName": user.name,
                    "assignedBy": user_id})
        return live, user

    def camera_refusal(self, live: LiveMeeting, user: LiveUser) -> str | None:
        """Why BBB will not share this user's camera now (None: it will)."""
        if not user.moderator and user.locked and live.locks.get("disableCam"):
            return "camera_locked"
        return None

    def mic_refusal(self, live: LiveMeeting, user: LiveUser) -> str | None:
        if not user.moderator and user.locked and live.locks.get("disableMic"):
            return "mic_locked"
        return None

    def click(self, live: LiveMeeting, user: LiveUser, action: str) -> str | None:
        """A button on the meeting page; the refusal reason, or None when done."""
        mid = live.meeting.internal_id
        if action == "camera_on":
            refusal = self.camera_refusal(live, user)
            if refusal is None and not user.cams:
                stream = f"{user.int_id}_{_now_ms():x}"
                user.cams.append(stream)
                self._event("UserBroadcastCamStartedEvtMsg", mid, user.int_id,
                            {"userId": user.int_id, "stream": stream})
            return refusal
        if action == "camera_off":
            self._stop_cameras(live, user)
            return None
        if action == "mic_on":
            refusal = self.mic_refusal(live, user)
            if refusal is not None:
                return refusal
            if not user.in_voice:
                user.in_voice, user.muted = True, False
                self._event("UserJoinedVoiceConfToClientEvtMsg", mid, user.int_id, {
                    "voiceConf": VOICE_CONF, "intId": user.int_id,
                    "voiceUserId": "v_" + user.int_id, "callerName": user.name,
                    "callerNum": user.name, "color": "#5e35b1", "muted": False,
                    "talking": False, "callingWith": "", "listenOnly": False})
            else:
                self._set_muted(live, user, False)
            return None
        if action == "mic_off":
            self._set_muted(live, user, True)
            return None
        if action in ("record_start", "record_stop"):
            if not user.may_record or not live.record:
                return "record_not_allowed"
            self.set_recording(live, user, action == "record_start")
            return None
        return "unknown_action"

    # ---- the API, as bbb-web answers for a live meeting ---------------------------------
    async def _call_create(self, p: dict[str, str], body: bytes,
                           request: web.Request) -> web.Response:
        response = await super()._call_create(p, body, request)
        meeting = self.meetings.get(p.get("meetingID", ""))
        if meeting is not None and meeting.internal_id not in self.live:
            locks = {f: _truthy(p.get(param), f == "lockOnJoin")
                     for f, param in _CREATE_LOCKS.items()}
            live = LiveMeeting(meeting, locks, record=_truthy(p.get("record"), False))
            self.live[meeting.internal_id] = live
            meeting.running = True
            self._created_event(live)
        return response

    async def _call_end(self, p: dict[str, str], body: bytes,
                        request: web.Request) -> web.Response:
        meeting = self._meeting(p)
        response = await super()._call_end(p, body, request)
        if meeting is not None and meeting.ended:
            live = self.live.pop(meeting.internal_id, None)
            if live is not None and live.recording and live.users:
                self.set_recording(live, next(iter(live.users.values())), False)
            self._event("MeetingEndedEvtMsg", meeting.internal_id, "not-used",
                        {"meetingId": meeting.internal_id})
        return response

    async def _call_sendChatMessage(self, p: dict[str, str], body: bytes,
                                    request: web.Request) -> web.Response:
        before = len(self.chat)
        response = await super()._call_sendChatMessage(p, body, request)
        meeting = self._meeting(p)
        if len(self.chat) > before and meeting is not None:
            live = self.live.get(meeting.internal_id)
            if live is not None:
                self._chat(live, p.get("userName") or "System", self.chat[-1][1])
        return response

    def _meeting_xml(self, parent: ET.Element, m: Meeting) -> None:
        """getMeetings/getMeetingInfo: who is in it now, with internal user ids (`w_…`)."""
        super()._meeting_xml(parent, m)
        live = self.live.get(m.internal_id)
        if live is None:
            return
        users = list(live.users.values())
        values = {"recording": str(live.recording).lower(),
                  "participantCount": str(len(users)),
                  "voiceParticipantCount": str(sum(u.in_voice for u in users)),
                  "videoCount": str(sum(bool(u.cams) for u in users)),
                  "moderatorCount": str(sum(u.moderator for u in users))}
        for tag, value in values.items():
            node = parent.find(tag)
            if node is not None:
                node.text = value
        attendees = parent.find("attendees")
        if attendees is None:
            return
        for node in list(attendees):
            attendees.remove(node)
        for u in users:
            node = _sub(attendees, "attendee")
            fields: tuple[tuple[str, object], ...] = (
                ("userID", u.int_id), ("fullName", u.name), ("role", u.role),
                ("isPresenter", u.presenter), ("isListeningOnly", False),
                ("hasJoinedVoice", u.in_voice), ("hasVideo", bool(u.cams)),
                ("clientType", "HTML5"))
            for tag, field_value in fields:
                _sub(node, tag).text = (str(field_value).lower()
                                        if isinstance(field_value, bool) else str(field_value))


def _sub(parent: ET.Element, tag: str) -> ET.Element:
    return ET.SubElement(parent, tag)
