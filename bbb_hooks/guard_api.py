"""The BBB API calls the recording guard needs: who is in which meeting, and chat.

On (re)connect the guard cannot trust what it remembered, so it asks every
configured server (getMeetings, then getMeetingInfo for meetings recording
right now) and rebuilds its state from the answers (bbb.md §1.4). Attendee
`userID` there is BBB's internal user id (`w_…`), the same id the bus uses.
Announcements on BBB 3.0 go through the checksummed `sendChatMessage` call
(bbb.md §5), which needs no user id at all.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # types only; parsing goes through bbb_hooks.xml
from dataclasses import dataclass

import aiohttp
from yarl import URL

from bbb_hooks import xml
from bbb_hooks.checksum import java_urlencode
from bbb_hooks.servers import Server

CHAT_SENDER = "Privacy"


class ApiUnavailable(Exception):
    """A BBB server that did not answer, or answered something unusable."""


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
                params: dict[str, str]) -> ET.Element:
    query = "&".join(f"{k}={java_urlencode(v)}" for k, v in params.items())
    # encoded=True: the bytes signed are the bytes sent (yarl would re-quote `'`).
    url = URL(server.signed_url(call, query), encoded=True)
    try:
        async with http.get(url, allow_redirects=False) as resp:
            body = await resp.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiUnavailable(f"{server.name}: {exc.__class__.__name__}") from None
    try:
        root = xml.parse(body)
    except xml.BrokenXML as exc:
        raise ApiUnavailable(f"{server.name}: {exc}") from None
    if not xml.succeeded(root):
        raise ApiUnavailable(f"{server.name}: {xml.text(root, 'messageKey') or 'FAILED'}")
    return root


async def running_meetings(http: aiohttp.ClientSession, server: Server) -> list[ApiMeeting]:
    """Every meeting on `server`; those recording now are re-read with getMeetingInfo."""
    root = await _call(http, server, "getMeetings", {})
    meetings = [parse_meeting(server.name, node) for node in root.findall("meetings/meeting")]
    out = []
    for meeting in meetings:
        if meeting.recording:
            info = await _call(http, server, "getMeetingInfo", {"meetingID": meeting.meeting_id})
            meeting = parse_meeting(server.name, info)
        out.append(meeting)
    return out


async def live_meeting(http: aiohttp.ClientSession, server: Server,
                       meeting_id: str) -> ApiMeeting:
    """One running meeting as getMeetingInfo reports it now."""
    return parse_meeting(server.name, await _call(http, server, "getMeetingInfo",
                                                  {"meetingID": meeting_id}))


async def send_chat(http: aiohttp.ClientSession, server: Server, meeting_id: str,
                    message: str) -> None:
    """Post a public chat message through bbb-web (BBB 3.0 `sendChatMessage`)."""
    await _call(http, server, "sendChatMessage",
                {"meetingID": meeting_id, "message": message, "userName": CHAT_SENDER})
