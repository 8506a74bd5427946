"""The BBB API calls the recording guard needs: who is in which meeting, and chat.

On (re)connect the guard cannot trust what it remembered, so it asks every
configured server (getMeetings, then getMeetingInfo for meetings recording
right now) and rebuilds its state from the answers (bbb.md §1.4). Attendee
`userID` there is BBB's internal user id (`w_…`), the same id the bus uses.
Announcements on BBB 3.0 go through the checksummed `sendChatMessage` call
(bbb.md §5), which needs no user id at all.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET  # types only; parsing goes through bbb_hooks.xml
from dataclasses import dataclass

import aiohttp

from bbb_hooks import client, xml
from bbb_hooks.client import MAX_ANSWER, BBBError
from bbb_hooks.query import Params
from bbb_hooks.servers import Server

log = logging.getLogger(__name__)

CHAT_SENDER = "Privacy"


@dataclass(frozen=True, slots=True)
class ApiAttendee:
    user_id: str  # internal id, w_…
    moderator: bool
    presenter: bool
    has_video: bool
    in_voice: bool  # joined with a microphone (not listen-only)
    guest: bool


@dataclass(frozen=True, slots=True)
class ApiMeeting:
    server: str
    meeting_id: str  # external (the LMS's meetingID)
    internal_id: str
    recording: bool
    metadata: dict[str, str]
    attendees: tuple[ApiAttendee, ...]


def _flag(node: ET.Element, tag: str) -> bool:
    return (xml.text(node, tag) or "").strip().lower() == "true"


def _attendees(meeting: ET.Element) -> tuple[ApiAttendee, ...]:
    out = []
    for node in meeting.findall("attendees/attendee"):
        user_id = (xml.text(node, "userID") or "").strip()
        if not user_id:
            continue
        out.append(ApiAttendee(
            user_id=user_id,
            moderator=(xml.text(node, "role") or "").upper() == "MODERATOR",
            presenter=_flag(node, "isPresenter"),
            has_video=_flag(node, "hasVideo"),
            in_voice=_flag(node, "hasJoinedVoice") and not _flag(node, "isListeningOnly"),
            guest=_flag(node, "guest"),
        ))
    return tuple(out)


def parse_meeting(server: str, node: ET.Element) -> ApiMeeting:
    metadata = {child.tag: child.text or "" for child in node.findall("metadata/*")}
    return ApiMeeting(
        server=server,
        meeting_id=xml.text(node, "meetingID") or "",
        internal_id=xml.text(node, "internalMeetingID") or "",
        recording=_flag(node, "recording"),
        metadata=metadata,
        attendees=_attendees(node),
    )


async def _call(http: aiohttp.ClientSession, server: Server, call: str,
                params: Params) -> ET.Element:
    """One signed call through the one client, its answer bounded; FAILED is BBBError."""
    return await client.succeeded(http, server, call, params, MAX_ANSWER)


async def running_meetings(http: aiohttp.ClientSession, server: Server) -> list[ApiMeeting]:
    """Every meeting on `server`; those recording now are re-read with getMeetingInfo.

    Each re-read stands alone (G10): a meeting that ended in between (BBB says
    notFound) is left out, one that cannot be re-read keeps what getMeetings
    said; the other recording meetings are guarded either way.
    """
    root = await _call(http, server, "getMeetings", ())
    out = []
    for node in root.findall("meetings/meeting"):
        meeting = parse_meeting(server.name, node)
        if meeting.recording:
            try:
                meeting = await live_meeting(http, server, meeting.meeting_id)
            except BBBError as exc:
                log.warning("bbb guard: a recording meeting could not be re-read",
                            extra={"server": server.name, "reason": str(exc)})
                if exc.message_key == "notFound":
                    continue  # it ended meanwhile: nothing left to guard
        out.append(meeting)
    return out


async def live_meeting(http: aiohttp.ClientSession, server: Server,
                       meeting_id: str) -> ApiMeeting:
    """One running meeting as getMeetingInfo reports it now."""
    return parse_meeting(server.name, await _call(http, server, "getMeetingInfo",
                                                  (("meetingID", meeting_id),)))


async def send_chat(http: aiohttp.ClientSession, server: Server, meeting_id: str,
                    message: str) -> None:
    """Post a public chat message through bbb-web (BBB 3.0 `sendChatMessage`)."""
    await _call(http, server, "sendChatMessage",
                (("meetingID", meeting_id), ("message", message), ("userName", CHAT_SENDER)))
