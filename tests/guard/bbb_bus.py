"""Helpers for guard tests: BBB-shaped bus messages and an emulator that records chat.

Messages follow bbb.md §5 exactly: envelope {name, routing, timestamp} and core
{header {name, meetingId, userId}, body}; ids look like BBB's (internal meeting
id `<sha1>-<createTime>`, internal user ids `w_…`).
"""

from __future__ import annotations

import hashlib
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

from aiohttp import web

from gateway.demo.bbb_server import BBBEmulator, Meeting


def internal_meeting_id(external: str, create_time: int = 1698771165587) -> str:
    return hashlib.sha1(external.encode()).hexdigest() + f"-{create_time}"


def evt(name: str, meeting_id: str, user_id: str, body: dict[str, Any]) -> bytes:
    return json.dumps({
        "envelope": {"name": name, "routing": {"msgType": "BROADCAST_TO_MEETING",
                                               "meetingId": meeting_id, "userId": user_id},
                     "timestamp": int(time.time() * 1000)},
        "core": {"header": {"name": name, "meetingId": meeting_id, "userId": user_id},
                 "body": body},
    }, separators=(",", ":")).encode()


def created(internal: str, external: str, **locks: bool) -> bytes:
    lock_props = {"disableCam": False, "disableMic": False, "disablePrivateChat": False,
                  "disablePublicChat": False, "disableNotes": False, "hideUserList": False,
                  "lockOnJoin": True, "lockOnJoinConfigurable": False,
                  "hideViewersCursor": False, "hideViewersAnnotation": False, **locks}
    return json.dumps({
        "envelope": {"name": "MeetingCreatedEvtMsg", "routing": {"sender": "bbb-apps-akka"},
                     "timestamp": int(time.time() * 1000)},
        "core": {"header": {"name": "MeetingCreatedEvtMsg"}, "body": {"props": {
            "meetingProp": {"name": "Wiskunde 2B", "extId": external, "intId": internal,
                            "meetingCameraCap": 0, "isBreakout": False, "disabledFeatures": []},
            "recordProp": {"record": True, "autoStartRecording": False,
                           "allowStartStopRecording": True},
            "lockSettingsProps": lock_props,
            "metadataProp": {"metadata": {"privacy-meeting-type": "lesson"}},
        }}},
    }, separators=(",", ":")).encode()


def joined(meeting: str, user: str, role: str, presenter: bool = False) -> bytes:
    return evt("UserJoinedMeetingEvtMsg", meeting, user, {
        "intId": user, "extId": "p_" + user[2:], "name": "x", "role": role, "guest": False,
        "authed": True, "guestStatus": "ALLOW", "emoji": "none", "reactionEmoji": "none",
        "raiseHand": False, "away": False, "pin": False, "presenter": presenter,
        "locked": role == "VIEWER", "avatar": "", "color": "#5e35b1", "clientType": "HTML5"})


def voice_joined(meeting: str, user: str, muted: bool) -> bytes:
    return evt("UserJoinedVoiceConfToClientEvtMsg", meeting, user, {
        "voiceConf": "71347", "intId": user, "voiceUserId": "v_" + user, "callerName": "x",
        "callerNum": "x", "color": "#5e35b1", "muted": muted, "talking": False,
        "callingWith": "", "listenOnly": False})


def muted(meeting: str, user: str, is_muted: bool) -> bytes:
    return evt("UserMutedVoiceEvtMsg", meeting, user, {
        "voiceConf": "71347", "intId": user, "voiceUserId": "v_" + user, "muted": is_muted})


def talking(meeting: str, user: str, on: bool) -> bytes:
    return evt("UserTalkingVoiceEvtMsg", meeting, user, {
        "voiceConf": "71347", "intId": user, "voiceUserId": "v_" + user, "talking": on})


def camera(meeting: str, user: str, started: bool) -> bytes:
    name = "UserBroadcastCamStartedEvtMsg" if started else "UserBroadcastCamStoppedEvtMsg"
    return evt(name, meeting, user, {"userId": user, "stream": f"{user}_abcd1234"})


def recording(meeting: str, set_by: str, on: bool) -> bytes:
    return evt("RecordingStatusChangedEvtMsg", meeting, set_by,
               {"recording": on, "setBy": set_by})


class GuardEmulator(BBBEmulator):
    """The BBB emulator plus live recording flags, attendee media and sendChatMessage."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recording: set[str] = set()
        self.chat_failures = 0  # the next this many sendChatMessage calls answer 500

    def add_meeting(self, external: str, attendees: list[dict[str, str]],
                    recording: bool = False) -> str:
        internal = internal_meeting_id(external)
        self.meetings[external] = Meeting(
            meeting_id=external, internal_id=internal, name="Wiskunde 2B",
            create_time=1698771165587, attendee_pw="ap", moderator_pw="mp", params={},
            metadata={"privacy-meeting-type": "lesson"}, attendees=attendees, running=True)
        if recording:
            self.recording.add(external)
        return internal

    def _meeting_xml(self, parent: ET.Element, m: Meeting) -> None:
        super()._meeting_xml(parent, m)
        node = parent.find("recording")
        assert node is not None
        node.text = "true" if m.meeting_id in self.recording else "false"
        for xml_node, attendee in zip(parent.findall("attendees/attendee"), m.attendees,
                                      strict=True):
            for tag in ("isPresenter", "isListeningOnly", "hasJoinedVoice", "hasVideo"):
                flag = xml_node.find(tag)
                assert flag is not None
                flag.text = attendee.get(tag, "false")

    async def _call_sendChatMessage(self, p: dict[str, str], body: bytes,
                                    request: web.Request) -> web.Response:
        if self.chat_failures > 0:
            self.chat_failures -= 1
            return web.Response(status=500, text="<html>Internal error</html>",
                                content_type="text/html")
        return await super()._call_sendChatMessage(p, body, request)
