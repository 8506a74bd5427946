"""BBB protected playback (G14, G17): the link, the grant and nginx's check.

1. `/recordings/bbb/<link>` (on the gateway): the LMS's link from getRecordings
   (bbb_hooks/playback_links.py). The school login first, then the link is
   spent (single use) and the decision asked (gateway.policy.playback). An
   allowed person is sent to the BBB host with a grant.
2. `/privacy-gateway/grant/<grant>` (on the BBB host, proxied there by nginx to
   the gateway): sets the short-lived cookie for that one recording on the host
   that serves it, and redirects to BBB's player.
3. `/privacy-gateway/check` (nginx `auth_request`, config/bbb/): for every
   playback and media file, is there a live cookie for the recording this path
   belongs to? An HMAC checked in memory: no store, no session (fast).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from bbb_hooks.guard_state import purpose_key
from bbb_hooks.meetings import recording_purposes
from bbb_hooks.playback_paths import PLAYER, BadPath, recording_of
from gateway.login.routes import login_url
from gateway.login.sessions import current_session
from gateway.playback.acl import spend
from gateway.playback.tokens import (
    Link,
    TokenError,
    check_cookie,
    cookie_name,
    cookie_value,
    issue_grant,
    open_grant,
    open_link,
)
from gateway.playback.web import PLAYBACK, REASON_HEADER, count, decide, refuse
from gateway.policy.retention import combined_purpose
from gateway.web import keys
from gateway.web.shell import redirect

GRANT_PATH = "/privacy-gateway/grant/"
ORIGINAL_URI = "X-Original-URI"
_COOKIE_REASONS = {"missing": (401, "missing"), "expired": (401, "cookie_expired"),
                   "forged": (403, "cookie_forged")}


async def follow_link(request: web.Request) -> web.StreamResponse:
    app = request.app
    ctx, now = app[PLAYBACK], app[keys.CLOCK].time()
    try:
        link = open_link(ctx.key, request.match_info["token"], now)
    except TokenError as exc:
        return await refuse(request, exc.problem)
    if link.platform != "bbb":
        return await refuse(request, "wrong_kind")
    session = await current_session(request)
    if session is None:  # the link is not spent: it is followed again after the login
        return redirect(login_url(request.path))
    if not await spend(app[keys.STORE], link.nonce, link.expires - now):
        return await refuse(request, "replayed")
    decision, meeting_ref = await decide(
        app, session, "bbb", link.recording_id, declared_purpose=await _purpose(app, link),
        declared_meeting=link.recording_id,  # BBB: the record id is the internal meeting id
        approval_reference=await _approval(app, link))
    await count(app, "bbb", decision, session, link.recording_id, meeting_ref)
    if not decision.allowed:
        return await refuse(request, decision.reason)
    target = urlsplit(link.target)
    grant = issue_grant(ctx.key, recording_id=link.recording_id,
                        target=target.path + (f"?{target.query}" if target.query else ""),
                        now=now, cookie_ttl=app[keys.SETTINGS].policy.playback.cookie_ttl_seconds)
    return redirect(f"{target.scheme}://{target.netloc}{GRANT_PATH}{grant}")


async def _purpose(app: web.Application, link: Link) -> str:
    """What the guard saw declared during the meeting wins over create's default (G11)."""
    declared = await recording_purposes(app[keys.STORE], link.recording_id)
    if link.purpose:
        declared.add(link.purpose)
    return combined_purpose(app[keys.SETTINGS].policy, declared) or "undeclared"


async def _approval(app: web.Application, link: Link) -> str | None:
    if not link.meeting_ref:
        return None
    saved = await app[keys.STORE].hgetall(purpose_key(link.meeting_ref))
    return saved.get("approval_reference", b"").decode() or None


async def grant(request: web.Request) -> web.StreamResponse:
    """On the BBB host: the cookie for one recording, then BBB's own player."""
    app = request.app
    ctx, now = app[PLAYBACK], app[keys.CLOCK].time()
    try:
        given = open_grant(ctx.key, request.match_info["token"], now)
        if recording_of(given.target) != given.recording_id:
            raise BadPath("not_a_recording")
    except TokenError as exc:
        return await refuse(request, exc.problem)
    except BadPath as exc:
        return await refuse(request, exc.problem)
    if not await spend(app[keys.STORE], given.nonce, given.expires - now):
        return await refuse(request, "replayed")
    response = redirect(given.target)
    response.set_cookie(cookie_name(given.recording_id, ctx.secure),
                        cookie_value(ctx.key, given.recording_id, given.cookie_expires),
                        max_age=max(int(given.cookie_expires - now), 1), path="/",
                        httponly=True, secure=ctx.secure, samesite="Lax")
    return response


async def check(request: web.Request) -> web.StreamResponse:
    """nginx auth_request: 200, or 401/403 with the reason (never a body to cache)."""
    ctx = request.app[PLAYBACK]
    try:
        record_id = recording_of(request.headers.get(ORIGINAL_URI, ""))
    except BadPath as exc:
        return _answer(403, exc.problem)
    if record_id == PLAYER:
        return _answer(200, "ok")  # the player's own code: no recording in it
    value = _cookie(request.headers.get("Cookie", ""), cookie_name(record_id, ctx.secure))
    result = check_cookie(ctx.key, record_id, value, request.app[keys.CLOCK].time())
    if result == "ok":
        return _answer(200, "ok")
    status, reason = _COOKIE_REASONS[result]
    return _answer(status, reason)


def _cookie(header: str, name: str) -> str | None:
    """One cookie's value, without parsing the others (the check's hot path)."""
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value.strip('"')
    return None


def _answer(status: int, reason: str) -> web.Response:
    return web.Response(status=status, headers={REASON_HEADER: reason})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/recordings/bbb/{token}", follow_link, name="playback_bbb_link")
    app.router.add_get(GRANT_PATH + "{token}", grant, name="playback_grant")
    app.router.add_get("/privacy-gateway/check", check, name="playback_check")
