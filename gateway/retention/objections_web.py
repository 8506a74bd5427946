"""Pages for objections (G12) and the privacy officer's retention overview (G16, G20).

- `/objections/new?platform=bbb&meeting=<ref>`: a pupil objects to a recording
  of a meeting, during the meeting or after (meeting pages link here);
- `/objections`: the pupil's own objections and their outcome;
- `/admin/retention`: aggregate retention state and the open objections, for
  the privacy officer only (gateway.login.officers). It shows counts,
  no names: objections are listed by number, platform, date and reason.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.login.officers import require_officer
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.retention.keys import OBJECTIONS
from gateway.retention.objections import MAX_REASON_CHARS, ObjectionDesk, ObjectionRefused
from gateway.retention.sweeper import SUMMARY_KEY
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest
from gateway.web.shell import render

MESSAGES: i18n.Catalog = {
    "objection.title": {"nl": "Bezwaar tegen een opname", "en": "Object to a recording"},
    "objection.intro": {
        "nl": "Wil je niet dat deze opname bewaard blijft? Dan kun je hier bezwaar maken. "
              "De opname wordt meteen vastgezet: niemand wist hem en hij wordt niet verder "
              "gebruikt tot de privacy-officer heeft beslist. Krijg je gelijk, dan wordt de "
              "opname meteen gewist.",
        "en": "Don't want this recording to be kept? You can object here. The recording is "
              "put on hold at once: nobody uses it further until the privacy officer has "
              "decided. If you are right, the recording is deleted straight away.",
    },
    "objection.consequence": {
        "nl": "Wordt de opname gewist, dan kan niemand hem later nog terugkijken.",
        "en": "If the recording is deleted, nobody can watch it again later.",
    },
    "objection.reason": {"nl": "Waarom maak je bezwaar? (mag je leeg laten)",
                         "en": "Why do you object? (you may leave this empty)"},
    "objection.submit": {"nl": "Bezwaar maken", "en": "Object"},
    "objection.mine": {"nl": "Mijn bezwaren", "en": "My objections"},
    "objection.none": {"nl": "Je hebt geen bezwaren ingediend.",
                       "en": "You have not filed any objections."},
    "objection.filed_on": {"nl": "Ingediend op", "en": "Filed on"},
    "objection.status": {"nl": "Uitkomst", "en": "Outcome"},
    "objection.status.open": {"nl": "De privacy-officer kijkt ernaar. De opname staat vast.",
                              "en": "The privacy officer is looking at it. The recording "
                                    "is on hold."},
    "objection.status.upheld": {"nl": "Je hebt gelijk gekregen. De opname is gewist.",
                                "en": "Your objection was upheld. The recording was "
                                      "deleted."},
    "objection.status.rejected": {
        "nl": "Je bezwaar is afgewezen. De opname wordt gewist zoals gepland.",
        "en": "Your objection was not upheld. The recording is deleted as planned."},
    "objection.too_many": {"nl": "Je hebt al veel open bezwaren. Wacht op de uitkomst.",
                           "en": "You already have many open objections. Please wait for "
                                 "the outcome."},
    "admin.title": {"nl": "Bewaren en wissen van opnames", "en": "Keeping and deleting "
                                                                 "recordings"},
    "admin.recordings": {"nl": "Opnames", "en": "Recordings"},
    "admin.platform": {"nl": "Platform", "en": "Platform"},
    "admin.purpose": {"nl": "Doel", "en": "Purpose"},
    "admin.state": {"nl": "Stand", "en": "State"},
    "admin.count": {"nl": "Aantal", "en": "Count"},
    "admin.overdue": {"nl": "Te laat gewist (hoort 0 te zijn)",
                      "en": "Overdue (should be 0)"},
    "admin.failing": {"nl": "Wissen mislukt (wordt opnieuw geprobeerd)",
                      "en": "Deletion failing (being retried)"},
    "admin.alerting": {"nl": "Wissen mislukt langer dan toegestaan",
                       "en": "Deletion failing longer than allowed"},
    "admin.next_due": {"nl": "Volgende opname wordt gewist op", "en": "Next deletion due"},
    "admin.last_sweep": {"nl": "Laatste controle", "en": "Last check"},
    "admin.never": {"nl": "nog niet", "en": "not yet"},
    "admin.objections": {"nl": "Open bezwaren", "en": "Open objections"},
    "admin.no_objections": {"nl": "Geen open bezwaren.", "en": "No open objections."},
    "admin.uphold": {"nl": "Toekennen en opname wissen", "en": "Uphold and delete"},
    "admin.reject": {"nl": "Afwijzen", "en": "Reject"},
    "admin.recordings_held": {"nl": "opnames vastgezet", "en": "recordings on hold"},
    "admin.decided.uphold": {"nl": "Bezwaar toegekend: de opnames worden nu gewist.",
                             "en": "Objection upheld: the recordings are being deleted now."},
    "admin.decided.reject": {"nl": "Bezwaar afgewezen: de opnames volgen weer de gewone "
                                   "bewaartermijn.",
                             "en": "Objection rejected: the recordings follow the normal "
                                   "retention again."},
}


def _desk(request: web.Request) -> ObjectionDesk:
    return request.app[OBJECTIONS]


async def _logged_in(request: web.Request) -> Session:
    session = await current_session(request)
    if session is None:
        raise web.HTTPFound(login_url(request.path_qs))
    return session


def _date(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


async def new_objection(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    platform = request.query.get("platform", "")
    meeting = request.query.get("meeting", "")
    return await render(request, "objection_new.html", {
        "platform": platform, "meeting": meeting, "csrf": session.csrf,
        "max_reason": MAX_REASON_CHARS})


async def file_objection(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    form = await request.post()
    fields = {name: form.get(name) for name in ("platform", "meeting", "reason")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise BadRequest("bad_form")
    try:
        await _desk(request).file(platform=str(fields["platform"]),
                                  meeting_ref=str(fields["meeting"]), person=session.person,
                                  reason=str(fields["reason"]))
    except ObjectionRefused as exc:
        if exc.reason == "too_many":
            return await render(request, "message.html",
                                {"message_key": "objection.too_many"}, status=429)
        raise BadRequest(exc.reason) from None
    raise web.HTTPSeeOther("/objections")


async def my_objections(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    objections = await _desk(request).of_person(session.person)
    rows = [{"platform": o.platform, "filed": _date(o.filed_at), "status": o.status}
            for o in objections]
    return await render(request, "objections.html", {"objections": rows})


async def admin_retention(request: web.Request) -> web.StreamResponse:
    session = await require_officer(request)
    raw = await request.app[keys.STORE].get(SUMMARY_KEY)
    summary: dict[str, Any] = json.loads(raw) if raw else {}
    counts = [c for c in summary.get("counts", []) if c.get("count")]
    objections = await _desk(request).open_objections()
    return await render(request, "admin_retention.html", {
        "counts": counts, "overdue": summary.get("overdue", 0),
        "failing": summary.get("failing", 0), "alerting": summary.get("alerting", 0),
        "next_due": _date(summary.get("next_due")),
        "last_sweep": _date(summary.get("last_sweep")), "csrf": session.csrf,
        "decided": request.query.get("decided") if request.query.get("decided") in (
            "uphold", "reject") else None,
        "objections": [{"id": o.objection_id, "platform": o.platform,
                        "filed": _date(o.filed_at), "reason": o.reason,
                        "recordings": o.recordings} for o in objections]})


async def decide_objection(request: web.Request) -> web.StreamResponse:
    session = await require_officer(request)
    form = await request.post()
    decision = form.get("decision")
    if decision not in ("uphold", "reject"):
        raise BadRequest("bad_decision")
    try:
        await _desk(request).decide(request.match_info["objection_id"],
                                    upheld=decision == "uphold", officer=session.person)
    except ObjectionRefused as exc:
        raise BadRequest(exc.reason) from None
    raise web.HTTPSeeOther(f"/admin/retention?decided={decision}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/objections/new", new_objection, name="objection_new")
    app.router.add_post("/objections", file_objection, name="objection_file")
    app.router.add_get("/objections", my_objections, name="objections")
    app.router.add_get("/admin/retention", admin_retention, name="admin_retention")
    app.router.add_post("/admin/objections/{objection_id}", decide_objection,
                        name="objection_decide")
