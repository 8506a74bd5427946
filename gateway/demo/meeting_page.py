"""The demo meeting page: the BBB stand-in's "HTML5 client". NOT FOR PRODUCTION.

Served by the stand-in (gateway/demo/bbb_live.py) where its signed join
redirects: `/html5client/join?sessionToken=…`, only to the browser holding the
session cookie the join set (as bbb-web: bbb.md §1.3; one cookie per join here,
so a second meeting in the same browser leaves the first tab's session alone).
It shows what BBB would:
each participant's camera and microphone, the lock settings, the public chat
and whether the meeting records, and the current user's buttons. A locked
viewer's camera or microphone is refused with the reason, as BBB does.

The page polls `/html5client/state` every second (JSON) and posts its buttons
to `/html5client/action`. No video or sound: the buttons change the meeting's
state and the stand-in reports it on BBB's bus, which the recording guard reads.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from gateway.web.i18n import LANGUAGES, Messages, accepted
from gateway.web.static_files import add_static

if TYPE_CHECKING:
    from gateway.demo.bbb_live import LiveBBB, LiveMeeting, LiveUser

_STATIC = Path(__file__).parent / "static"
_GATEWAY_CSS = Path(__file__).parent.parent / "web" / "static" / "gateway.css"
_FAVICON = Path(__file__).parent.parent / "web" / "static" / "favicon.svg"

TEXTS: dict[str, dict[str, str]] = {
    "title": {"nl": "Demo-vergadering (BigBlueButton-stand-in)",
              "en": "Demo meeting (BigBlueButton stand-in)"},
    "note": {"nl": "Demo, niet voor echt gebruik: een nagebootste BigBlueButton zonder beeld "
                   "of geluid. De knoppen veranderen alleen wat BBB over de vergadering meldt.",
             "en": "Demo, not for real use: a stand-in for BigBlueButton without video or "
                   "sound. The buttons only change what BBB reports about the meeting."},
    "you_are": {"nl": "Je bent {name} ({role}).", "en": "You are {name} ({role})."},
    "role.MODERATOR": {"nl": "moderator", "en": "moderator"},
    "role.VIEWER": {"nl": "deelnemer", "en": "viewer"},
    "recording.yes": {"nl": "● Deze vergadering wordt opgenomen",
                      "en": "● This meeting is being recorded"},
    "recording.no": {"nl": "Er wordt niet opgenomen", "en": "Not recording"},
    "participants": {"nl": "Deelnemers", "en": "Participants"},
    "col.name": {"nl": "Naam", "en": "Name"},
    "col.role": {"nl": "Rol", "en": "Role"},
    "col.camera": {"nl": "Camera", "en": "Camera"},
    "col.mic": {"nl": "Microfoon", "en": "Microphone"},
    "col.locked": {"nl": "Vergrendeld", "en": "Locked"},
    "camera.on": {"nl": "aan", "en": "on"},
    "camera.off": {"nl": "uit", "en": "off"},
    "mic.on": {"nl": "aan", "en": "on"},
    "mic.muted": {"nl": "gedempt", "en": "muted"},
    "mic.off": {"nl": "niet verbonden", "en": "not joined"},
    "yes": {"nl": "ja", "en": "yes"},
    "no": {"nl": "nee", "en": "no"},
    "presenter": {"nl": "presentator", "en": "presenter"},
    "locks": {"nl": "Vergrendelingen voor deelnemers", "en": "Lock viewers"},
    "lock.disableCam": {"nl": "Webcam delen", "en": "Share webcam"},
    "lock.disableMic": {"nl": "Microfoon gebruiken", "en": "Use microphone"},
    "lock.disablePrivChat": {"nl": "Privéchat", "en": "Private chat"},
    "lock.disablePubChat": {"nl": "Openbare chat", "en": "Public chat"},
    "lock.disableNotes": {"nl": "Gedeelde notities bewerken", "en": "Edit shared notes"},
    "lock.hideUserList": {"nl": "Deelnemerslijst zien", "en": "See other viewers"},
    "lock.lockOnJoin": {"nl": "Vergrendelen bij binnenkomst", "en": "Lock on join"},
    "lock.locked": {"nl": "vergrendeld", "en": "locked"},
    "lock.open": {"nl": "toegestaan", "en": "allowed"},
    "chat": {"nl": "Openbare chat", "en": "Public chat"},
    "chat.empty": {"nl": "Nog geen berichten.", "en": "No messages yet."},
    "controls": {"nl": "Jouw knoppen", "en": "Your buttons"},
    "btn.camera_on": {"nl": "Camera aanzetten", "en": "Turn camera on"},
    "btn.camera_off": {"nl": "Camera uitzetten", "en": "Turn camera off"},
    "btn.mic_on": {"nl": "Microfoon aanzetten", "en": "Turn microphone on"},
    "btn.mic_off": {"nl": "Microfoon uitzetten", "en": "Turn microphone off"},
    "btn.record_start": {"nl": "Opname starten", "en": "Start recording"},
    "btn.record_stop": {"nl": "Opname stoppen", "en": "Stop recording"},
    "refused.camera_locked": {
        "nl": "Geweigerd: webcam delen is vergrendeld door een moderator.",
        "en": "Refused: webcam sharing is locked by a moderator."},
    "refused.mic_locked": {
        "nl": "Geweigerd: je microfoon is vergrendeld door een moderator.",
        "en": "Refused: your microphone is locked by a moderator."},
    # The lock the recording guard sets while pupils may not be seen or heard (G10).
    "refused.camera_locked.recording": {
        "nl": "Geweigerd: webcams van deelnemers zijn vergrendeld omdat deze les wordt "
              "opgenomen.",
        "en": "Refused: viewers' webcams are locked because this lesson is being recorded."},
    "refused.mic_locked.recording": {
        "nl": "Geweigerd: je microfoon is vergrendeld omdat deze les wordt opgenomen.",
        "en": "Refused: your microphone is locked because this lesson is being recorded."},
    "refused.record_not_allowed": {
        "nl": "Geweigerd: jij mag in deze vergadering niet opnemen.",
        "en": "Refused: you may not record in this meeting."},
    "refused.unknown_action": {"nl": "Onbekende knop.", "en": "Unknown button."},
    "object": {"nl": "Bezwaar maken tegen de opname", "en": "Object to the recording"},
    "recorded": {"nl": "Er is een opname van deze vergadering gemaakt.",
                 "en": "A recording of this meeting was made."},
    "no_session": {"nl": "Geen sessie: ga opnieuw via de leeromgeving naar binnen.",
                   "en": "No session: join again through the learning platform."},
    "no_session.title": {"nl": "Niet (meer) in deze vergadering",
                         "en": "Not in this meeting (any more)"},
    "no_session.why": {
        "nl": "Deze pagina hoort bij een deelnamelink die in deze browser niet (meer) geldt, "
              "bijvoorbeeld omdat de vergadering is afgelopen of de link in een andere browser "
              "is geopend.",
        "en": "This page belongs to a join link that is not (or no longer) valid in this "
              "browser, for example because the meeting ended or the link was opened in "
              "another browser."},
    "no_session.lms": {"nl": "Naar de demo-leeromgeving", "en": "To the demo learning platform"},
    "session_lost": {"nl": "Je sessie in deze vergadering is verlopen: ga opnieuw via de "
                           "leeromgeving naar binnen.",
                     "en": "Your session in this meeting has ended: join again through the "
                           "learning platform."},
    "unreachable": {"nl": "De vergadering is even niet bereikbaar; probeer het zo nog eens.",
                    "en": "The meeting cannot be reached right now; try again in a moment."},
    "language": {"nl": "English", "en": "Nederlands"},
}


def _language(bbb: LiveBBB, request: web.Request) -> str:
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    return (accepted(request.headers.get("Accept-Language", ""))
            or (bbb.default_language if bbb.default_language in LANGUAGES else "nl"))


_t = Messages(TEXTS).t  # both languages for every key, checked when the module loads


_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self'; form-action 'none'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _session(bbb: LiveBBB, request: web.Request) -> tuple[LiveMeeting, LiveUser] | None:
    """The user of this page: the join's session token, held as this join's cookie too."""
    token = request.query.get("sessionToken", "")
    if token not in bbb.sessions or request.cookies.get(bbb.session_cookie(token)) != token:
        return None
    return bbb.open_page(token)


def refusal_text(lang: str, live: LiveMeeting, refusal: str) -> str:
    """Why a button was refused: a lock while recording is the recording's, not a whim."""
    if live.recording and refusal in ("camera_locked", "mic_locked"):
        return _t(lang, f"refused.{refusal}.recording")
    return _t(lang, "refused." + refusal)


def _no_session_page(bbb: LiveBBB, lang: str) -> web.Response:
    e = html.escape
    body = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(_t(lang, "no_session.title"))} · {e(_t(lang, "title"))}</title>
<link rel="stylesheet" href="/html5client/gateway.css">
<link rel="stylesheet" href="/html5client/meeting.css">
<link rel="icon" href="/html5client/favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="top"><span class="brand">{e(_t(lang, "title"))}</span></header>
<main id="no-session">
<h1>{e(_t(lang, "no_session.title"))}</h1>
<p class="reason" role="alert">{e(_t(lang, "no_session"))}</p>
<p>{e(_t(lang, "no_session.why"))}</p>
<p><a class="button" href="{e(bbb.gateway_url)}/demo/lms">{e(_t(lang, "no_session.lms"))}</a></p>
</main>
</body>
</html>
"""
    return web.Response(status=401, text=body, content_type="text/html", headers=_HEADERS)


def _unauthorized(lang: str) -> web.Response:
    return web.json_response({"ok": False, "reason": "no_session",
                              "text": _t(lang, "session_lost")}, status=401,
                             headers=_HEADERS)


async def page(bbb: LiveBBB, request: web.Request) -> web.Response:
    lang = _language(bbb, request)
    found = _session(bbb, request)
    if found is None:
        return _no_session_page(bbb, lang)
    live, user = found
    token = request.query["sessionToken"]
    other = "en" if lang == "nl" else "nl"
    e = html.escape
    heads = "".join(f"<th>{e(_t(lang, 'col.' + c))}</th>"
                    for c in ("name", "role", "camera", "mic", "locked"))
    switch = f"?sessionToken={quote(token)}&amp;lang={other}"
    record = (f'<button type="button" id="record" data-action="record_start">'
              f'{e(_t(lang, "btn.record_start"))}</button>'
              if user.may_record and live.record else "")
    body = f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(live.meeting.name)} · {e(_t(lang, "title"))}</title>
<link rel="stylesheet" href="/html5client/gateway.css">
<link rel="stylesheet" href="/html5client/meeting.css">
<link rel="icon" href="/html5client/favicon.svg" type="image/svg+xml">
</head>
<body>
<header class="top">
  <span class="brand">{e(_t(lang, "title"))}</span>
  <nav><a href="{switch}" hreflang="{other}">{e(_t(lang, "language"))}</a></nav>
</header>
<main id="meeting" data-token="{e(token)}" data-lang="{lang}"
      data-session-lost="{e(_t(lang, "session_lost"))}"
      data-unreachable="{e(_t(lang, "unreachable"))}">
<p class="dev-warning demo-note">{e(_t(lang, "note"))}</p>
<h1>{e(live.meeting.name)}</h1>
<p class="you">{e(_t(lang, "you_are", name=user.name, role=_t(lang, "role." + user.role)))}</p>
<p id="recording-state" class="banner" data-recording="no">{e(_t(lang, "recording.no"))}</p>
<section class="controls">
<h2>{e(_t(lang, "controls"))}</h2>
<button type="button" id="camera" data-action="camera_on">{e(_t(lang, "btn.camera_on"))}</button>
<button type="button" id="mic" data-action="mic_on">{e(_t(lang, "btn.mic_on"))}</button>
{record}
<p id="refusal" class="reason" role="alert" hidden></p>
</section>
<section><h2>{e(_t(lang, "participants"))}</h2>
<table id="participants"><thead><tr>{heads}</tr></thead>
<tbody></tbody></table>
</section>
<section><h2>{e(_t(lang, "locks"))}</h2><ul id="locks"></ul></section>
<section><h2>{e(_t(lang, "chat"))}</h2><ol id="chat"></ol></section>
<p id="objection" hidden><a href="" id="objection-link" target="_blank" rel="noopener">
{e(_t(lang, "object"))}</a></p>
</main>
<script src="/html5client/meeting.js"></script>
</body>
</html>
"""
    return web.Response(text=body, content_type="text/html", headers=_HEADERS)


SHOWN_LOCKS = ("disableCam", "disableMic", "disablePrivChat", "disablePubChat", "disableNotes",
               "hideUserList", "lockOnJoin")


def _lock_word(name: str, on: bool) -> str:
    if name == "lockOnJoin":  # a setting, not a thing locked
        return "camera.on" if on else "camera.off"
    return "lock.locked" if on else "lock.open"


def state_of(bbb: LiveBBB, live: LiveMeeting, me: LiveUser, lang: str) -> dict[str, Any]:
    """What the page shows now, texts in the page's language."""
    def mic(u: LiveUser) -> str:
        return "off" if not u.in_voice else "muted" if u.muted else "on"

    users = [{"id": u.int_id, "name": u.name, "role": u.role,
              "role_text": _t(lang, "role." + u.role)
              + (" · " + _t(lang, "presenter") if u.presenter else ""),
              "camera": "on" if u.cams else "off",
              "camera_text": _t(lang, "camera.on" if u.cams else "camera.off"),
              "mic": mic(u), "mic_text": _t(lang, "mic." + mic(u)),
              "locked": u.locked and not u.moderator,
              "locked_text": _t(lang, "yes" if u.locked and not u.moderator else "no"),
              "me": u is me} for u in live.users.values()]
    camera_refusal = bbb.camera_refusal(live, me)
    mic_refusal = bbb.mic_refusal(live, me)
    objection = (f"{bbb.gateway_url}/objections/new?platform=bbb&meeting="
                 f"{quote(live.meeting.internal_id, safe='')}")
    return {
        "recording": live.recording,
        "recording_text": _t(lang, "recording.yes" if live.recording else "recording.no"),
        "users": users,
        "locks": [{"name": name, "on": live.locks.get(name, False),
                   "text": _t(lang, "lock." + name) + ": " + _t(lang, _lock_word(
                       name, live.locks.get(name, False)))}
                  for name in SHOWN_LOCKS],
        "chat": [{"sender": c.sender, "text": c.text} for c in live.chat],
        "chat_empty": _t(lang, "chat.empty"),
        "me": {
            "camera": "on" if me.cams else "off", "mic": mic(me),
            "camera_button": _t(lang, "btn.camera_off" if me.cams else "btn.camera_on")
            + (f" ({_t(lang, 'lock.locked')})" if camera_refusal else ""),
            "camera_action": "camera_off" if me.cams else "camera_on",
            "camera_locked": camera_refusal is not None,
            "camera_reason": refusal_text(lang, live, camera_refusal) if camera_refusal else "",
            "mic_button": _t(lang, "btn.mic_off" if mic(me) == "on" else "btn.mic_on")
            + (f" ({_t(lang, 'lock.locked')})" if mic_refusal else ""),
            "mic_action": "mic_off" if mic(me) == "on" else "mic_on",
            "mic_locked": mic_refusal is not None,
            "mic_reason": refusal_text(lang, live, mic_refusal) if mic_refusal else "",
            "record_button": _t(lang, "btn.record_stop" if live.recording
                                else "btn.record_start"),
            "record_action": "record_stop" if live.recording else "record_start",
        },
        "objection_url": objection if (live.recording or live.record_id)
        and not me.moderator else "",
    }


async def state(bbb: LiveBBB, request: web.Request) -> web.Response:
    lang = _language(bbb, request)
    found = _session(bbb, request)
    if found is None:
        return _unauthorized(lang)
    live, me = found
    return web.json_response(state_of(bbb, live, me, lang), headers=_HEADERS)


async def action(bbb: LiveBBB, request: web.Request) -> web.Response:
    lang = _language(bbb, request)
    found = _session(bbb, request)
    if found is None:
        return _unauthorized(lang)
    if request.headers.get("X-Demo-Meeting") != "1":  # a same-origin script, not a form
        raise web.HTTPForbidden(text="scripts only")
    try:
        data = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="not JSON") from None
    name = data.get("action") if isinstance(data, dict) else None
    live, me = found
    refusal = bbb.click(live, me, str(name))
    return web.json_response({"ok": refusal is None, "reason": refusal or "",
                              "text": refusal_text(lang, live, refusal) if refusal else ""},
                             headers=_HEADERS)


def add_routes(bbb: LiveBBB) -> None:
    async def _state(request: web.Request) -> web.Response:
        return await state(bbb, request)

    async def _action(request: web.Request) -> web.Response:
        return await action(bbb, request)

    # The stand-in's own files and the gateway's stylesheet and icon, from memory.
    add_static(bbb.app.router, "/html5client", {
        "meeting.js": _STATIC / "meeting.js", "meeting.css": _STATIC / "meeting.css",
        "gateway.css": _GATEWAY_CSS, "favicon.svg": _FAVICON}, icon="favicon.svg")
    bbb.app.router.add_get("/html5client/state", _state)
    bbb.app.router.add_post("/html5client/action", _action)
