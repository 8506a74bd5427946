"""Wiring of the Jitsi adapter: routes, static files, error format, state."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from gateway.web import keys
from gateway.web.static_files import add_static
from jitsi_hooks import admission, auth, entry, events, home_jitsi, page, playback
from jitsi_hooks.context import CONTEXT, JitsiContext
from jitsi_hooks.rooms import RoomStore
from jitsi_hooks.token import TokenMinter

_STATIC = Path(__file__).parent / "static"


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    home_jitsi.setup(app)  # the teacher's home page: rooms, "stop recording now" (G13)
    app[CONTEXT] = JitsiContext(
        minter=TokenMinter(settings), rooms=RoomStore(app[keys.STORE]),
        hook_secret=settings.secrets.get("jitsi.hook_secret"))
    router = app.router
    router.add_get("/jitsi/auth", entry.token_auth, name="jitsi_auth")
    router.add_post("/jitsi/auth", entry.continue_to_room, name="jitsi_auth_continue")
    router.add_get("/jitsi/keys/{name}", auth.public_key, name="jitsi_public_key")
    router.add_get("/jitsi/new", page.new_room_page, name="jitsi_new_room")
    router.add_post("/jitsi/new", page.create_room, name="jitsi_create_room")
    router.add_get("/jitsi/{room}", page.meeting_page, name="jitsi_meeting")
    router.add_get("/jitsi/{room}/config.json", page.meeting_config, name="jitsi_config")
    router.add_get("/jitsi/{room}/state.json", page.meeting_state, name="jitsi_state")
    router.add_post("/jitsi/{room}/transcription", page.transcription_choice,
                    name="jitsi_transcription")
    router.add_post("/jitsi/{room}/purpose", page.declare_purpose, name="jitsi_purpose")
    router.add_post("/jitsi/{room}/invite", page.invite, name="jitsi_invite")
    router.add_post("/jitsi/{room}/uninvite", admission.withdraw_invitation,
                    name="jitsi_uninvite")
    router.add_post("/hooks/jitsi/events", events.prosody_events, name="jitsi_events")
    router.add_post("/hooks/jitsi/event_sync/events/{kind}/{what}", events.event_sync,
                    name="jitsi_event_sync")
    playback.add_routes(app)  # finalized Jibri recordings, only for who may watch (G14)
    add_static(router, "/jitsi-static", _STATIC, name="jitsi_static")
    app[keys.ERROR_RENDERERS].append(("/jitsi/", _json_errors_for_fetch))


async def _json_errors_for_fetch(request: web.Request, exc: Exception) -> web.StreamResponse:
    """JSON for the page's own fetches (config/state/consent), a page for people."""
    from gateway.web.errors import GatewayError
    from gateway.web.shell import render, who_may_see

    status = exc.status if isinstance(exc, GatewayError) else getattr(exc, "status", 500)
    if request.path.endswith(".json") or request.headers.get("Accept", "").startswith(
            "application/json"):
        reason = exc.reason if isinstance(exc, GatewayError) else "error"
        return web.json_response({"error": reason}, status=status)
    if isinstance(exc, GatewayError) and exc.reason in ("guests_not_allowed", "not_invited"):
        return await render(request, "refused.html", {"reason": exc.reason}, status=status)
    key = exc.message_key if isinstance(exc, GatewayError) else {
        404: "error.not_found", 405: "error.method",
        503: "error.store_unavailable"}.get(status, "error.bad_request")
    return await render(request, "error.html", {"message_key": key, "status": status,
                                                "who_key": who_may_see(request, exc, status)},
                        status=status)
