"""The meeting page `/jitsi/<room>` built on Jitsi's IFrame API (G4, G5, G15, G18, G21).

The page shows this meeting's privacy notice before anyone joins, then loads
`external_api.js` from the school's own Jitsi server (the CSP allows that one
origin for script and frame only). The browser gets its options from
`config.json` (no inline script). These are DEFAULTS in the person's browser:
enforcement is server-side, in the token's features and the prosody module.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from gateway.guard import approvals
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.policy import jitsi as jitsi_policy
from gateway.policy.model import MEETING_TYPES, PURPOSES, Policy
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest, Forbidden
from gateway.web.shell import add_csp, redirect, render
from jitsi_hooks import access
from jitsi_hooks.auth import mint_for
from jitsi_hooks.context import jitsi
from jitsi_hooks.guard_jitsi import objection_url
from jitsi_hooks.playback import room_recordings
from jitsi_hooks.rooms import RoomSettings, normalise_room

# G5: a plain background, armed through the IFrame API while the camera is still off, so
# Jitsi creates the camera track with it and no first frame shows the room behind the
# person (README "Blur before the first frame"). Inline (data: URL): nothing is fetched
# from anywhere else (G21).
BACKGROUND_DATA_URL = "data:image/png;base64," + base64.b64encode(
    (Path(__file__).resolve().parents[1] / "gateway" / "web" / "static" / "bbb-background.png")
    .read_bytes()).decode("ascii")


def jitsi_origin(request: web.Request) -> str:
    parts = urlsplit(request.app[keys.SETTINGS].policy.jitsi.base_url)
    return f"{parts.scheme}://{parts.netloc}"


def room_facts(policy: Policy, room: str, settings: RoomSettings) -> dict[str, Any]:
    meeting_type = jitsi_policy.meeting_type_of_room(policy, room, settings.created_as)
    purpose = settings.purpose or policy.meeting_types[meeting_type].default_purpose
    return {"meeting_type": meeting_type, "purpose": purpose, "creator": settings.creator,
            "recording_possible": meeting_type != "confidential"
            and policy.meeting_types[meeting_type].recording_allowed,
            "transcription_possible": jitsi_policy.transcription_possible(policy, meeting_type)}


async def meeting_page(request: web.Request) -> web.StreamResponse:
    room = normalise_room(request.match_info["room"])
    if room != request.match_info["room"]:
        return redirect(f"/jitsi/{room}")
    session = await current_session(request)
    if session is None:
        return redirect(login_url(request.path_qs))
    policy = request.app[keys.SETTINGS].policy
    rooms = jitsi(request.app).rooms
    settings = await rooms.settings(room)
    facts = room_facts(policy, room, settings)
    if not jitsi_policy.may_join(policy, session.role, facts["meeting_type"]):
        raise Forbidden("guests_not_allowed")
    # G3: a confidential room's page (and notice) only for its creator and invitees.
    creator = await access.admit(request.app, room, facts["meeting_type"], session,
                                 facts["creator"])
    origin = jitsi_origin(request)
    add_csp(request, "script-src", origin)
    add_csp(request, "frame-src", origin)
    purpose = facts["purpose"]
    in_room = session.person in await rooms.present_people(room)
    return await render(request, "jitsi_meeting.html", {
        **facts, "room": room, "jitsi_base": policy.jitsi.base_url.rstrip("/"),
        "may_set_room": jitsi_policy.may_set_room(session.role, session.person, creator,
                                                  in_room),
        "invites": facts["meeting_type"] == "confidential" and creator == session.person,
        "purpose_declared": bool(settings.purpose),  # else the meeting type's default (G11)
        "retention_days": policy.purposes[purpose].retention_days if purpose else
        policy.retention.undeclared_retention_days,
        "objection_url": objection_url("", room),  # G12: before and during the meeting
        "purposes": PURPOSES, "opted_in": session.person in await rooms.opted_in(room),
        "microphone_on": policy.jitsi.microphone_on_at_start, "notice": policy.notice,
        "recordings": await room_recordings(request.app, session, room)})  # G14


def iframe_options(request: web.Request, room: str, token: str) -> dict[str, Any]:
    """Options for `new JitsiMeetExternalAPI(domain, options)` (jitsi.md §3)."""
    policy = request.app[keys.SETTINGS].policy
    mic_on = policy.jitsi.microphone_on_at_start
    return {
        "roomName": room, "jwt": token, "lang": i18n.language(request),
        "configOverwrite": {
            "startWithVideoMuted": True,  # G4: cameras start off
            "startWithAudioMuted": not mic_on,
            "disableThirdPartyRequests": True,  # G21
            "gravatar": {"disabled": True},  # G21
            "analytics": {"disabled": True, "rtcstatsEnabled": False},  # G21
            "enableEmailInStats": False, "enableDisplayNameInStats": False,
            "giphy": {"enabled": False},
            "p2p": {"enabled": False},
            "doNotStoreRoom": True, "disableInviteFunctions": True,
            "prejoinConfig": {"enabled": False},  # the gateway's notice is the pre-join (G18)
            "readOnlyName": True, "hideEmailInSettings": True,
            "disableDeepLinking": True,
            "transcription": {"autoTranscribeOnRecord": False},  # G15: never implied
            "recordings": {"showPrejoinWarning": True},
            "localRecording": {"disable": True},  # G8: no recording the gateway cannot see
        },
        "interfaceConfigOverwrite": {"SHOW_JITSI_WATERMARK": False,
                                     "SHOW_PROMOTIONAL_CLOSE_PAGE": False},
    }


async def meeting_config(request: web.Request) -> web.StreamResponse:
    room = normalise_room(request.match_info["room"])
    session = await current_session(request)
    if session is None:
        raise Forbidden("not_logged_in")
    token = await mint_for(request, session, room)
    domain = urlsplit(request.app[keys.SETTINGS].policy.jitsi.base_url).netloc
    return web.json_response({"domain": domain, "options": iframe_options(request, room, token),
                              "blur": "blur", "background": BACKGROUND_DATA_URL})


async def _watched_room(request: web.Request) -> tuple[str, Session, RoomSettings, set[str]]:
    """The room, the person, its settings and who is present, if this person may see its
    live state (G20: no peeking at other rooms); each read once per request."""
    room = normalise_room(request.match_info["room"])
    session = await current_session(request)
    if session is None:
        raise Forbidden("not_logged_in")
    rooms = jitsi(request.app).rooms
    settings, present = await rooms.settings(room), await rooms.present_people(room)
    if not await access.may_watch(request.app, room, session, creator=settings.creator,
                                  present=present):
        raise Forbidden("not_in_room")
    return room, session, settings, present


async def _live_state(request: web.Request, room: str, session: Session,
                      settings: RoomSettings, present: set[str]) -> web.Response:
    """What the page shows live: recording on/off and purpose, transcription consent (counts)."""
    policy = request.app[keys.SETTINGS].policy
    rooms = jitsi(request.app).rooms
    facts = room_facts(policy, room, settings)
    recording = await rooms.recording(room)
    opted = await rooms.opted_in(room)
    return web.json_response({
        "recording": recording.recording, "purpose": recording.purpose or facts["purpose"],
        "meeting_type": facts["meeting_type"],
        "transcription": {
            "possible": facts["transcription_possible"],
            "allowed": jitsi_policy.transcription_allowed(policy, facts["meeting_type"],
                                                          present, opted),
            "opted_in": session.person in opted, "present": len(present),
            "opted_in_present": len(present & opted)}})


async def meeting_state(request: web.Request) -> web.StreamResponse:
    return await _live_state(request, *await _watched_room(request))


async def transcription_choice(request: web.Request) -> web.StreamResponse:
    """A person in the room opts in or out of transcription (G15); CSRF-checked by the
    middleware. Only for people who may watch the room: nobody queues a stop or writes
    consent for a room they are not in (G20)."""
    room, session, settings, present = await _watched_room(request)
    form = await request.post()
    choice = form.get("opt_in")
    if choice not in ("1", "0"):
        raise BadRequest("bad_choice")
    await jitsi(request.app).rooms.set_consent(room, session.person, choice == "1")
    if choice == "0":
        from jitsi_hooks.events import queue_instruction

        await queue_instruction(request.app, room, {"action": "stop_transcription"})  # G15
    if request.headers.get("Accept", "").startswith("application/json"):
        return await _live_state(request, room, session, settings, present)
    return redirect(f"/jitsi/{room}", 303)


async def declare_purpose(request: web.Request) -> web.StreamResponse:
    """A teacher picks the recording purpose before recording (G11)."""
    room = normalise_room(request.match_info["room"])
    session = await current_session(request)
    if session is None or not await access.may_set_room(request.app, room, session):
        raise Forbidden("not_the_creator")  # G11, G19: not any teacher for any room
    form = await request.post()
    purpose = form.get("purpose")
    if purpose not in PURPOSES:
        raise BadRequest("bad_purpose")
    app = request.app
    reference = str(form.get("approval_reference") or "").strip()[:100] or None
    if app[keys.SETTINGS].policy.purposes[purpose].needs_approval_reference:
        if reference is None or not await approvals.is_registered(app, reference):
            raise BadRequest("unknown_approval_reference")  # G11: the officer's, not made up
    else:
        reference = None
    await jitsi(app).rooms.declare_purpose(room, purpose, reference)
    await app[keys.AUDIT].record("purpose_declared", "jitsi",
                                room=app[keys.PSEUDONYMS].meeting(room), purpose=purpose,
                                by=session.person, approval=reference or "")
    return redirect(f"/jitsi/{room}", 303)


async def invite(request: web.Request) -> web.StreamResponse:
    """The creator of a confidential room invites a school account by e-mail (G2, G3).

    Only a keyed pseudonym of the address is kept; the address itself is not stored."""
    room = normalise_room(request.match_info["room"])
    session = await current_session(request)
    if session is None:
        raise Forbidden("not_logged_in")
    app = request.app
    facts = room_facts(app[keys.SETTINGS].policy, room, await jitsi(app).rooms.settings(room))
    if facts["meeting_type"] != "confidential" or facts["creator"] != session.person:
        raise Forbidden("not_the_creator")
    form = await request.post()
    email = access.school_email(app, str(form.get("email") or ""))
    rooms = jitsi(app).rooms
    if await rooms.invitation_count(room) >= access.MAX_INVITES:
        raise BadRequest("too_many_invitations")
    await rooms.invite(room, access.invite_tag(app, email))
    await app[keys.AUDIT].record("invited", "jitsi", room=app[keys.PSEUDONYMS].meeting(room),
                                 by=session.person)
    return redirect(f"/jitsi/{room}", 303)


async def new_room_page(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    if session is None:
        return redirect(login_url(request.path_qs))
    if not jitsi_policy.is_moderator(session.role):
        raise Forbidden("not_a_moderator")
    return await render(request, "jitsi_new_room.html", {"meeting_types": MEETING_TYPES})


async def create_room(request: web.Request) -> web.StreamResponse:
    """A teacher creates a room as a lesson, meeting or confidential talk (G3)."""
    session = await current_session(request)
    if session is None or not jitsi_policy.is_moderator(session.role):
        raise Forbidden("not_a_moderator")
    form = await request.post()
    room = normalise_room(str(form.get("room", "")))
    meeting_type = form.get("meeting_type")
    if meeting_type not in MEETING_TYPES:
        raise BadRequest("bad_meeting_type")
    rooms = jitsi(request.app).rooms
    present = await rooms.present_people(room)
    if present and session.person not in present:
        raise Forbidden("room_in_use")  # G19: no claiming a room others are meeting in
    if not await rooms.create(room, meeting_type, session.person):
        raise BadRequest("room_exists")
    from jitsi_hooks.admission import recheck_present

    await recheck_present(request.app, room)  # the new type holds for those already in (G3)
    return redirect(f"/jitsi/{room}", 303)
