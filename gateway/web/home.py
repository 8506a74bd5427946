"""A home page for each role, and the teacher's "stop recording now" (G13).

- Teacher: their BBB meetings and Jitsi rooms, whether each records and for
  what purpose, where to declare the purpose, and a button that stops a
  recording at once with everyone told (G13).
- Pupil: their objections, the way to object (G12) and the privacy notice (G18).
- Privacy officer: the retention queue, objections, approvals and holds.
A page that refuses someone says who may see it (gateway.web's error page uses
the `forbidden.<reason>` texts registered here).
"""

from __future__ import annotations

from aiohttp import web

from gateway.login.officers import is_privacy_officer
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.policy.notice import build_notice
from gateway.retention.keys import OBJECTIONS
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest
from gateway.web.home_index import HOME_SOURCES, HomeMeeting, entries
from gateway.web.home_texts import TEXTS as MESSAGES
from gateway.web.shell import redirect, render

__all__ = ["MESSAGES", "home", "setup", "stop_recording"]


def setup(app: web.Application) -> None:
    """Before the adapters' setup: each adds its lister and stopper (bbb_hooks.home_bbb,
    jitsi_hooks.home_jitsi) to `HOME_SOURCES`."""
    app[HOME_SOURCES] = {}
    app.router.add_post("/home/stop", stop_recording, name="home_stop")


async def home(request: web.Request) -> web.StreamResponse:
    session = await current_session(request)
    if session is None:
        return await render(request, "home.html")
    settings = request.app[keys.SETTINGS]
    if is_privacy_officer(settings, session):
        return await render(request, "home_officer.html", {"csrf": session.csrf})
    if session.role == "teacher":
        return await render(request, "home_teacher.html", {
            "meetings": await _teacher_meetings(request.app, session),
            "csrf": session.csrf, "stopped": request.query.get("stopped"),
            "platforms": list(request.app[HOME_SOURCES].keys())})
    if session.role == "pupil":
        return await _pupil_home(request, session)
    return await render(request, "home.html")


async def _teacher_meetings(app: web.Application, session: Session) -> list[HomeMeeting]:
    listed = await entries(app[keys.STORE], session.person)
    found: list[HomeMeeting] = []
    for platform, (lister, _) in sorted(app[HOME_SOURCES].items()):
        found += await lister(app, session, [i for p, i in listed if p == platform])
    # By what the teacher reads (the name), then the id: the rows keep their places from
    # load to load, also when a recording starts or stops.
    return sorted(found, key=lambda m: ((m.name or m.ident).casefold(), m.name or m.ident,
                                        m.platform, m.ident))


async def _pupil_home(request: web.Request, session: Session) -> web.StreamResponse:
    desk = request.app.get(OBJECTIONS)
    objections = await desk.of_person(session.person) if desk is not None else []
    notice = build_notice(request.app[keys.SETTINGS].policy, i18n.language(request))
    return await render(request, "home_pupil.html", {
        "objections": [(await desk.state(o)).outcome for o in objections if desk],
        "notice": notice})


async def stop_recording(request: web.Request) -> web.StreamResponse:
    """POST platform + meeting: stop that recording now, everyone told (G13)."""
    session = await current_session(request)
    if session is None:
        return redirect(login_url("/"))
    form = await request.post()
    platform, ident = form.get("platform"), form.get("meeting")
    sources = request.app[HOME_SOURCES]
    if not isinstance(platform, str) or platform not in sources or not isinstance(ident, str):
        raise BadRequest("bad_form")
    outcome = await sources[platform][1](request.app, session, ident)
    raise web.HTTPSeeOther("/?stopped=" + outcome)
