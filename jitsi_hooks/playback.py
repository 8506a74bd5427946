"""Jibri recordings, served only by the gateway (G14, G17).

`/recordings/jitsi/<session>/<file>` serves a finalized Jibri recording from
`retention.jibri_recordings_dir` to the people its purpose allows
(gateway.policy.playback), with Range requests for video (aiohttp's
FileResponse: 206, `Content-Range`, `If-Range`). The first request asks for
the school login and decides; the answer carries a cookie for that one
recording (path-scoped, HMAC-signed, short-lived), so a player's many Range
requests are checked in memory. The meeting page lists the recordings a
person may watch (`room_recordings`). Jibri's directory is never served by
anything else: Jitsi's web server must not expose it (config/jitsi/README).
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from aiohttp import web

from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.playback.tokens import check_cookie, cookie_name, cookie_value
from gateway.playback.web import PLAYBACK, count, decide, refuse
from gateway.policy.playback import WatchDecision
from gateway.store.registry import JIBRI_SESSION_RE, Registry, read_sidecar
from gateway.web import keys
from jitsi_hooks.context import jitsi
from jitsi_hooks.rooms import ROOM_RE

PREFIX = "/recordings/jitsi/"
MEDIA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.(?:mp4|webm|m4a|mp3|ogg)$")
MAX_LISTED = 50


def _recording_ref(session_id: str) -> str:
    return "jitsi:" + session_id  # cookies of BBB and Jitsi recordings never collide


def _media_path(app: web.Application, session_id: str, name: str) -> Path | None:
    """The file, only if it is a media file directly inside a session directory."""
    root = app[keys.SETTINGS].policy.retention.jibri_recordings_dir
    if root is None:
        return None
    base = Path(root).resolve()
    path = base / session_id / name
    try:
        if path.is_symlink() or path.parent.is_symlink() or not path.is_file():
            return None
        if path.resolve().parent != base / session_id:
            return None
    except OSError:
        return None
    return path


async def serve(request: web.Request) -> web.StreamResponse:
    session_id, name = request.match_info["session"], request.match_info["name"]
    if (not JIBRI_SESSION_RE.fullmatch(session_id) or session_id in (".", "..")
            or not MEDIA_RE.fullmatch(name)):
        return await refuse(request, "bad_path")  # path traversal: refused, not resolved
    app = request.app
    path = await asyncio.to_thread(_media_path, app, session_id, name)
    if path is None:
        return await refuse(request, "not_found")
    ctx, now = app[PLAYBACK], app[keys.CLOCK].time()
    ref = _recording_ref(session_id)
    cookie = cookie_name(ref, ctx.secure)
    if check_cookie(ctx.key, ref, request.cookies.get(cookie), now) == "ok":
        return web.FileResponse(path)  # a player's next Range request: in memory only
    session = await current_session(request)
    if session is None:
        return await refuse(request, "login_required", login_path=_login(request))
    decision, meeting_ref = await _decision(app, session, path.parent)
    await count(app, "jitsi", decision, session, session_id, meeting_ref)
    if not decision.allowed:
        return await refuse(request, decision.reason)
    expires = int(now) + app[keys.SETTINGS].policy.playback.cookie_ttl_seconds
    response = web.FileResponse(path)
    # `__Host-` cookies must have Path=/; the value is bound to this recording anyway.
    response.set_cookie(cookie, cookie_value(ctx.key, ref, expires),
                        max_age=expires - int(now), httponly=True, secure=ctx.secure,
                        samesite="Strict",
                        path="/" if ctx.secure else PREFIX + session_id + "/")
    return response


def _login(request: web.Request) -> str:
    return login_url(request.path)


async def _decision(app: web.Application, session: Session,
                    session_dir: Path) -> tuple[WatchDecision, str]:
    """The decision from the sidecar jibri-finalize wrote and the registry (G14)."""
    declared = await asyncio.to_thread(read_sidecar, session_dir)
    room = declared.meeting_ref
    approval = None
    if room and ROOM_RE.fullmatch(room):
        approval = (await jitsi(app).rooms.settings(room)).approval_reference
    return await decide(app, session, "jitsi", session_dir.name,
                        declared_purpose=declared.purpose or "undeclared",
                        declared_meeting=room, approval_reference=approval)


async def room_recordings(app: web.Application, session: Session,
                          room: str) -> list[dict[str, str]]:
    """The finalized recordings of a room this person may watch, for the meeting page."""
    root = app[keys.SETTINGS].policy.retention.jibri_recordings_dir
    if root is None:
        return []
    found: list[dict[str, str]] = []
    for key in sorted(await Registry(app[keys.STORE]).meeting_keys("jitsi", room))[:MAX_LISTED]:
        session_id = key.partition(":")[2]
        if not JIBRI_SESSION_RE.fullmatch(session_id):
            continue
        session_dir = Path(root) / session_id
        decision, _ = await _decision(app, session, session_dir)
        if decision.allowed:
            for name in await asyncio.to_thread(_media_names, session_dir):
                found.append({"href": f"{PREFIX}{session_id}/{name}", "name": name})
    return found


def _media_names(session_dir: Path) -> list[str]:
    try:
        return sorted(p.name for p in session_dir.iterdir()
                      if MEDIA_RE.fullmatch(p.name) and p.is_file() and not p.is_symlink())
    except OSError:
        return []


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "{session}/{name}", serve, name="playback_jitsi")
