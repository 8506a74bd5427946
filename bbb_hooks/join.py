"""Join interception (G1, G2): every BBB join passes a school login.

1. The LMS's signed `join` URL reaches the gateway. It is answered with a
   redirect to `/bbb/join/<ticket>`: a random, single-use ticket with a short
   TTL, bound to the meeting and to the role the LMS asked for.
2. The browser logs in with its school account (usually silently via SSO).
3. gateway.policy.bbb.decide_join decides role and parameters; the browser is
   redirected to BBB's own join URL, signed with the server's secret, minted
   at that moment and never logged (style_security.md B.5). The browser
   follows BBB's join itself so BBB's session cookie lands (bbb.md §1.3).

`redirect=false` joins get BBB's XML shape with the ticket URL in `<url>`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from typing import TYPE_CHECKING, cast

from aiohttp import web
from yarl import URL

from bbb_hooks import xml
from bbb_hooks.app_keys import PROXY
from bbb_hooks.backend import query_string
from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.meetings import MODERATOR_TTL, add_moderator, meeting_info, password_hash
from gateway.login.routes import login_url
from gateway.login.sessions import current_session
from gateway.playback.acl import remember_moderator
from gateway.policy.bbb import BBBRole, JoinAccount, JoinMeeting, decide_join, join_drop_label
from gateway.web import i18n, keys
from gateway.web.shell import redirect, render

if TYPE_CHECKING:
    from bbb_hooks.proxy import BBBProxy

log = logging.getLogger(__name__)

TICKET = re.compile(r"[A-Za-z0-9_\-]{32}")
BACKGROUND_PATH = "/static/bbb-background.png"
# LMS join parameters never kept in a ticket: credentials and what the policy decides.
_NOT_KEPT = frozenset({"password", "checksum", "avatarURL", "userID", "role", "createTime",
                       "guest", "redirect"})
_USED = frozenset({"password", "checksum", "role", "redirect"})  # read here, not dropped

MESSAGES: i18n.Catalog = {
    "bbb.join.expired": {
        "nl": "Deze link om deel te nemen is verlopen of al gebruikt. Ga terug naar de "
              "leeromgeving en klik opnieuw op 'Deelnemen'.",
        "en": "This join link has expired or was already used. Go back to the learning "
              "platform and click 'Join' again.",
    },
    "bbb.join.meeting_gone": {
        "nl": "Deze bijeenkomst bestaat niet meer. Vraag je leraar om hem opnieuw te starten.",
        "en": "This meeting no longer exists. Ask your teacher to start it again.",
    },
    "bbb.join.guest_not_allowed": {
        "nl": "Gasten mogen niet deelnemen aan deze bijeenkomst. Log in met je schoolaccount.",
        "en": "Guests may not join this meeting. Log in with your school account.",
    },
}


def _ticket_key(ticket: str) -> str:
    return "bbb:ticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def requested_role(inbound: ApiRequest, moderator_hash: str, attendee_hash: str) -> BBBRole:
    """The role the LMS asked for: `role`, else the deprecated `password` (bbb.md §3)."""
    role = (inbound.param("role") or "").strip().upper()
    if role in ("MODERATOR", "VIEWER"):
        return cast(BBBRole, role)
    if role:
        raise ApiError("invalidPassword")  # bbb-web: an unknown role is not a viewer
    password = inbound.param("password")
    if password is None:
        # bbb-web: neither a known role nor a password is invalidPassword, not a viewer.
        raise ApiError("invalidPassword")
    given = password_hash(password)
    if moderator_hash and secrets.compare_digest(given, moderator_hash):
        return "MODERATOR"
    if attendee_hash and secrets.compare_digest(given, attendee_hash):
        return "VIEWER"
    raise ApiError("invalidPassword")


async def api_join(request: web.Request, proxy: BBBProxy,
                   inbound: ApiRequest) -> web.StreamResponse:
    meeting_id = inbound.param("meetingID")
    if not meeting_id:
        raise ApiError("missingParamMeetingID")
    full_name = inbound.param("fullName")
    if not full_name:
        raise ApiError("missingParamFullName")
    record = await meeting_info(proxy.store, meeting_id)
    if record is None:
        raise ApiError("invalidMeetingIdentifier")
    role = requested_role(inbound, record.moderator_pw_hash, record.attendee_pw_hash)
    ticket = secrets.token_urlsafe(24)
    kept = [(k, v) for k, v in inbound.params if k not in _NOT_KEPT]
    for name, _ in inbound.params:  # not even kept in the ticket: dropped here
        if name in _NOT_KEPT and name not in _USED:
            proxy.metrics.bbb_join_dropped.labels(parameter=join_drop_label(name)).inc()
    payload = {"meeting_id": meeting_id, "role": role, "full_name": full_name, "params": kept}
    ttl = proxy.settings.policy.bbb.join_ticket_ttl_seconds
    await proxy.store.set(_ticket_key(ticket), json.dumps(payload).encode(), ttl)
    url = f"{proxy.settings.policy.gateway.public_url}/bbb/join/{ticket}"
    if (inbound.param("redirect") or "true").strip().lower() == "false":
        body = xml.response("SUCCESS", [
            ("messageKey", "loginRequired"),
            ("message", "Open the URL in the browser to log in with a school account and join."),
            ("meeting_id", record.internal_meeting_id), ("url", url),
        ])
        return web.Response(body=body, content_type=xml.CONTENT_TYPE, charset="utf-8")
    # Returned, not raised: the proxy counts it as an answered join (bbb_calls ok).
    return redirect(str(URL(url, encoded=True)))


async def join_page(request: web.Request) -> web.StreamResponse:
    """`/bbb/join/<ticket>`: log in, decide, and send the browser on to BBB."""
    app = request.app
    proxy = app[PROXY]
    ticket = request.match_info["ticket"]
    if not TICKET.fullmatch(ticket):
        return await _refused(request, "bbb.join.expired", 404)
    session = await current_session(request)
    if session is None:
        if await proxy.store.get(_ticket_key(ticket)) is None:
            return await _refused(request, "bbb.join.expired", 410)
        return redirect(login_url(request.path))
    raw = await proxy.store.take(_ticket_key(ticket))  # single use
    if raw is None:
        return await _refused(request, "bbb.join.expired", 410)
    data = json.loads(raw)
    record = await meeting_info(proxy.store, data["meeting_id"])
    server = proxy.pool.named(record.server) if record else None
    if record is None or server is None:
        return await _refused(request, "bbb.join.meeting_gone", 410)
    settings = app[keys.SETTINGS]
    user_tag = app[keys.PSEUDONYMS].tag("bbb-user", session.person)
    decision = decide_join(
        settings.policy, JoinAccount(role=session.role, name=session.name),
        JoinMeeting(meeting_id=record.meeting_id, meeting_type=record.meeting_type,
                    purpose=record.purpose, create_time=record.create_time),
        data["role"], [tuple(p) for p in data["params"]], lms_full_name=data["full_name"],
        user_id=f"{session.role}.{user_tag}",
        background_url=settings.policy.gateway.public_url + BACKGROUND_PATH)
    metrics = app[keys.METRICS]
    if not decision.allowed:
        metrics.joins.labels(platform="bbb", result="refused").inc()
        log.info("bbb join refused", extra={"event": "bbb_join_refused",
                                             "reason": decision.reason, "role": session.role})
        return await _refused(request, f"bbb.join.{decision.reason}", 403)
    metrics.joins.labels(platform="bbb", result="ok").inc()
    for parameter in decision.dropped:
        metrics.bbb_join_dropped.labels(parameter=parameter).inc()
    if decision.role == "MODERATOR":  # this teacher may declare the recording's purpose
        # Days, not the recording's retention: who moderated is attendance-like (G20);
        # every join as moderator renews it.
        await add_moderator(proxy.store, record.meeting_id, session.person, MODERATOR_TTL)
        # ...and may watch its feedback and exam recordings as long as they exist (G14).
        await remember_moderator(proxy.store, "bbb", record.internal_meeting_id,
                                 session.person, proxy.record_ttl)
    log.info("bbb join", extra={"event": "bbb_join", "role": session.role,
                                "result": decision.role, "server": server.name})
    # encoded=True: the URL must reach the browser exactly as signed (BBB's checksum).
    return redirect(str(URL(server.signed_url("join", query_string(decision.params)),
                            encoded=True)))


async def _refused(request: web.Request, message_key: str, status: int) -> web.Response:
    return await render(request, "message.html", {"message_key": message_key}, status=status)
