"""Pages for objections (G12) and the privacy officer's retention overview (G16, G20).

- `/objections/new?platform=bbb&meeting=<ref>`: a pupil objects to a recording
  of a meeting, during the meeting or after (meeting pages link here);
- `/objections`: the pupil's own objections and their outcome;
- `/admin/retention`: aggregate retention state and the open objections, for
  the privacy officer only (gateway.login.officers). It shows counts and,
  per open objection, the meeting (its id, and its name when a recording of
  it names it), how many recordings it holds, the date and the reason; no
  names of people.

A meeting is shown to people by its name and the id they know it by (BBB: the
LMS's meetingID, from its recordings), never by the platform's internal id
alone: that one is small print on the officer's page only.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from gateway.login.officers import require_officer
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.metrics import PLATFORMS
from gateway.policy.names import platform_name, purpose_name, recording_state_name
from gateway.policy.retention import MAX_MEETING_REF_CHARS
from gateway.retention.keys import OBJECTIONS
from gateway.retention.objections import (
    MAX_REASON_CHARS,
    Objection,
    ObjectionDesk,
    ObjectionRefused,
    meeting_ref_problem,
)
from gateway.retention.sweeper import SUMMARY_KEY
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest
from gateway.web.shell import render

MESSAGES: i18n.Catalog = {
    "objection.title": {"nl": "Bezwaar tegen een opname", "en": "Object to a recording"},
    "objection.intro": {
        "nl": "Wil je niet dat een opname bewaard blijft? Dan kun je hier bezwaar maken. "
              "Elke opname van deze vergadering wordt meteen vastgezet: niemand wist hem en "
              "hij wordt niet verder gebruikt tot de privacy-officer heeft beslist. Krijg je "
              "gelijk, dan wordt de opname meteen gewist.",
        "en": "Don't want a recording to be kept? You can object here. Any recording of "
              "this meeting is put on hold at once: nobody uses it further until the "
              "privacy officer has decided. If you are right, it is deleted straight away.",
    },
    # Before sending, about one meeting: what the gateway knows of its recordings.
    "objection.known.none": {
        "nl": "Van deze vergadering is nog geen opname bekend. Je kunt toch bezwaar maken: "
              "komt er een opname, dan staat die meteen vast tot de beslissing.",
        "en": "No recording of this meeting is known yet. You can object anyway: any "
              "recording of it is held as soon as it appears, until the decision."},
    "objection.known.one": {"nl": "Van deze vergadering is 1 opname bekend.",
                            "en": "1 recording of this meeting is known."},
    "objection.known.other": {"nl": "Van deze vergadering zijn {n} opnames bekend.",
                              "en": "{n} recordings of this meeting are known."},
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
    # Where an objection stands, from the recordings themselves (ObjectionDesk.state):
    # "deleted" only once the deletion is verified (G12, G16).
    "objection.status.open": {"nl": "De privacy-officer kijkt ernaar.",
                              "en": "The privacy officer is looking at it."},
    "objection.status.open_held": {
        "nl": "De privacy-officer kijkt ernaar. De opnames van deze vergadering staan vast "
              "tot de beslissing.",
        "en": "The privacy officer is looking at it. The recordings of this meeting are on "
              "hold until the decision."},
    "objection.status.open_none": {
        "nl": "De privacy-officer kijkt ernaar. Van deze vergadering is nog geen opname "
              "bekend; komt er een, dan staat die meteen vast tot de beslissing.",
        "en": "The privacy officer is looking at it. No recording of this meeting is known "
              "yet; any recording of it is held as soon as it appears, until the decision."},
    "objection.status.upheld": {"nl": "Je hebt gelijk gekregen.",
                                "en": "Your objection was upheld."},
    "objection.status.upheld_deleting": {
        "nl": "Je hebt gelijk gekregen. De opname wordt nu gewist.",
        "en": "Your objection was upheld. The recording is being deleted."},
    "objection.status.upheld_failing": {
        "nl": "Je hebt gelijk gekregen. Het wissen van de opname is nog niet gelukt; het wordt "
              "opnieuw geprobeerd en de privacy-officer ziet dit.",
        "en": "Your objection was upheld. Deleting the recording has not worked yet; it is "
              "being retried and the privacy officer can see this."},
    "objection.status.upheld_kept": {
        "nl": "Je hebt gelijk gekregen. Een andere blokkade (bijvoorbeeld een juridische) "
              "houdt de opname nog vast; daarna wordt hij gewist.",
        "en": "Your objection was upheld. Another hold (a legal one, for example) still "
              "keeps the recording; it is deleted when that ends."},
    "objection.status.upheld_deleted": {
        "nl": "Je hebt gelijk gekregen. De opname is gewist.",
        "en": "Your objection was upheld. The recording was deleted."},
    "objection.status.upheld_none": {
        "nl": "Je hebt gelijk gekregen. Er was geen opname van deze vergadering bekend, dus "
              "er hoefde niets gewist te worden.",
        "en": "Your objection was upheld. No recording of this meeting was known, so "
              "nothing had to be deleted."},
    "objection.status.rejected": {
        "nl": "Je bezwaar is afgewezen. De opname wordt gewist zoals gepland.",
        "en": "Your objection was not upheld. The recording is deleted as planned."},
    "objection.meeting": {"nl": "Vergadering", "en": "Meeting"},
    "objection.held": {"nl": "Vastgezet", "en": "On hold"},
    "objection.held.one": {"nl": "1 opname", "en": "1 recording"},
    "objection.held.other": {"nl": "{n} opnames", "en": "{n} recordings"},
    "objection.about": {"nl": "Dit bezwaar gaat over: {meeting}",
                        "en": "This objection is about: {meeting}"},
    "objection.meeting_help": {
        "nl": "Gebruik de code van de les uit de link of de leeromgeving (letters, cijfers, "
              "'-', '_' en '.'), of de naam van de Jitsi-ruimte.",
        "en": "Use the lesson's id from the link or the learning platform (letters, digits, "
              "'-', '_' and '.'), or the Jitsi room's name."},
    "objection.error.meeting_empty": {"nl": "Vul in over welke vergadering het gaat.",
                                      "en": "Fill in which meeting it is about."},
    "objection.error.meeting_too_long": {
        "nl": "Die code is te lang: hoogstens 200 tekens.",
        "en": "That id is too long: at most 200 characters."},
    "objection.error.meeting_characters": {
        "nl": "Die code bevat tekens die er niet in horen: alleen letters, cijfers, '-', '_' "
              "en '.'. Kopieer hem uit de link of de leeromgeving.",
        "en": "That id has characters that do not belong in it: only letters, digits, '-', "
              "'_' and '.'. Copy it from the link or the learning platform."},
    "objection.error.bad_platform": {"nl": "Kies BigBlueButton of Jitsi.",
                                     "en": "Choose BigBlueButton or Jitsi."},
    "objection.filed": {
        "nl": "Je bezwaar is verstuurd. Hieronder zie je hoe het ervoor staat.",
        "en": "Your objection was sent. Below you can see where it stands."},
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
    "admin.next_due_none": {"nl": "geen (niets staat gepland)", "en": "none (nothing due)"},
    "admin.internal_id": {"nl": "Interne code", "en": "Internal id"},
    "admin.reason": {"nl": "Reden", "en": "Reason"},
    "admin.decision": {"nl": "Beslissing", "en": "Decision"},
    "admin.last_sweep": {"nl": "Laatste controle", "en": "Last check"},
    "admin.never": {"nl": "nog niet", "en": "not yet"},
    "admin.objections": {"nl": "Open bezwaren", "en": "Open objections"},
    "admin.no_objections": {"nl": "Geen open bezwaren.", "en": "No open objections."},
    "admin.uphold": {"nl": "Toekennen en opname wissen", "en": "Uphold and delete"},
    "admin.reject": {"nl": "Afwijzen", "en": "Reject"},
    "admin.purpose_note": {
        "nl": "Een opname met meer doelen (bijvoorbeeld eerst uitleg, dan feedback in dezelfde "
              "vergadering) staat bij het strengste doel: de kortste bewaartermijn geldt.",
        "en": "A recording made for several purposes (a lecture, then feedback in the same "
              "meeting, say) is counted under the strictest one: the shortest retention "
              "applies."},
    "admin.held.one": {"nl": "1 opname vastgezet", "en": "1 recording on hold"},
    "admin.held.other": {"nl": "{n} opnames vastgezet", "en": "{n} recordings on hold"},
    "admin.held.none": {"nl": "nog geen opname bekend (een nieuwe wordt meteen vastgezet)",
                        "en": "no recording known yet (a new one is held at once)"},
    "admin.decided.reject": {"nl": "Bezwaar afgewezen: de opnames volgen weer de gewone "
                                   "bewaartermijn.",
                             "en": "Objection rejected: the recordings follow the normal "
                                   "retention again."},
    # After "Uphold and delete": where the deletion stands (reload to follow it).
    "admin.decided.upheld_deleting": {
        "nl": "Bezwaar toegekend: de opnames worden gewist. Laad de pagina opnieuw om te zien "
              "of het wissen gecontroleerd klaar is.",
        "en": "Objection upheld: the recordings are being deleted. Reload the page to see "
              "when the deletion is verified."},
    "admin.decided.upheld_failing": {
        "nl": "Bezwaar toegekend, maar het wissen van de opnames mislukt; het wordt opnieuw "
              "geprobeerd (zie 'Wissen mislukt' hierboven).",
        "en": "Objection upheld, but deleting the recordings is failing; it is being "
              "retried (see 'Deletion failing' above)."},
    "admin.decided.upheld_kept": {
        "nl": "Bezwaar toegekend; een andere blokkade (bijvoorbeeld een juridische) houdt een "
              "opname nog vast tot die wordt opgeheven.",
        "en": "Objection upheld; another hold (a legal one, for example) keeps a recording "
              "until it is released."},
    "admin.decided.upheld_deleted": {
        "nl": "Bezwaar toegekend: de opnames zijn gewist en dat is gecontroleerd.",
        "en": "Objection upheld: the recordings are deleted and verified gone."},
    "admin.decided.upheld_none": {
        "nl": "Bezwaar toegekend. Er was geen opname van deze vergadering bekend.",
        "en": "Objection upheld. No recording of this meeting was known."},
}


# Refusals about what the pupil typed: shown on the form as a plain sentence.
FIELD_ERRORS = ("meeting_empty", "meeting_too_long", "meeting_characters", "bad_platform")


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


def _held(prefix: str, n: int) -> tuple[str, int]:
    """The text key for "n recordings" with the right plural form, and n."""
    return (f"{prefix}.one" if n == 1 else f"{prefix}.other"), n


def meeting_label(meeting_ref: str, name: str, alias: str) -> str:
    """The meeting as people know it: its name and the LMS's id when known; the id
    it was filed by only when nothing better is known."""
    if name:
        return f"{name} ({alias})" if alias else name
    return alias or meeting_ref


async def _form(request: web.Request, session: Session, platform: str, meeting: str,
                error: str | None = None, reason: str = "", status: int = 200
                ) -> web.StreamResponse:
    """The objection form: about one meeting (from a meeting page's link), or open
    to fill in; `error` is a bounded label shown as a plain sentence."""
    fixed = platform in PLATFORMS and meeting_ref_problem(meeting) is None and error is None
    info = await _desk(request).meeting_info(platform, meeting) if fixed else None
    known = info.recordings if info else 0
    return await render(request, "objection_new.html", {
        "platform": platform if fixed else "", "meeting": meeting if fixed else "",
        "platform_name": platform_name(platform, i18n.language(request)),
        "about": meeting_label(meeting, info.name, info.alias) if info else meeting,
        "known": known, "known_key": ("objection.known.none" if not known
                                      else _held("objection.known", known)[0]),
        "typed_platform": platform, "typed_meeting": meeting[:MAX_MEETING_REF_CHARS],
        "error": error, "reason": reason, "csrf": session.csrf,
        "max_reason": MAX_REASON_CHARS, "max_meeting": MAX_MEETING_REF_CHARS}, status=status)


async def new_objection(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    platform = request.query.get("platform", "")
    meeting = request.query.get("meeting", "")
    error = None
    if meeting and platform:  # a hand-edited link: say what is wrong with it
        error = ("bad_platform" if platform not in PLATFORMS
                 else meeting_ref_problem(meeting))
    return await _form(request, session, platform, meeting, error)


async def file_objection(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    form = await request.post()
    fields = {name: form.get(name) for name in ("platform", "meeting", "reason")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise BadRequest("bad_form")
    platform, meeting = str(fields["platform"]), str(fields["meeting"]).strip()
    try:
        filed = await _desk(request).file(platform=platform, meeting_ref=meeting,
                                          person=session.person, reason=str(fields["reason"]))
    except ObjectionRefused as exc:
        if exc.reason == "too_many":
            return await render(request, "message.html",
                                {"message_key": "objection.too_many"}, status=429)
        if exc.reason in FIELD_ERRORS:
            return await _form(request, session, platform, meeting, exc.reason,
                               str(fields["reason"])[:MAX_REASON_CHARS], status=400)
        raise BadRequest(exc.reason) from None
    raise web.HTTPSeeOther(f"/objections?filed={filed.objection_id}")


async def _row(desk: ObjectionDesk, objection: Objection, lang: str) -> dict[str, Any]:
    state = await desk.state(objection)
    held_key, held = _held("objection.held", state.held)
    label = meeting_label(objection.meeting_ref, state.meeting_name, state.meeting_alias)
    return {"id": objection.objection_id, "platform": objection.platform,
            "platform_name": platform_name(objection.platform, lang),
            "meeting": objection.meeting_ref, "label": label,
            # The internal id, for the officer only, when the label does not show it.
            "internal": objection.meeting_ref if objection.meeting_ref not in label else "",
            "filed": _date(objection.filed_at), "status": objection.status,
            "outcome": state.outcome, "held": held, "held_key": held_key,
            "reason": objection.reason}


async def my_objections(request: web.Request) -> web.StreamResponse:
    session = await _logged_in(request)
    desk = _desk(request)
    objections = await desk.of_person(session.person)
    rows = [await _row(desk, o, i18n.language(request)) for o in objections]
    filed = request.query.get("filed", "")
    return await render(request, "objections.html", {
        "objections": rows, "filed": any(r["id"] == filed for r in rows)})


async def admin_retention(request: web.Request) -> web.StreamResponse:
    session = await require_officer(request)
    desk = _desk(request)
    raw = await request.app[keys.STORE].get(SUMMARY_KEY)
    summary: dict[str, Any] = json.loads(raw) if raw else {}
    lang = i18n.language(request)
    counts = [{**c, "platform_name": platform_name(str(c.get("platform")), lang),
               "purpose_name": purpose_name(str(c.get("purpose")), lang),
               "state_name": recording_state_name(str(c.get("state")), lang)}
              for c in summary.get("counts", []) if isinstance(c, dict) and c.get("count")]
    # From the due index at page load, not the last sweep's summary: holds, decisions
    # and deletions change it at once; held recordings are not in it (G12, G16).
    next_due = await desk.registry.next_due()
    rows = []
    for objection in await desk.open_objections():
        row = await _row(desk, objection, lang)
        row["held_key"] = ("admin.held.none" if not row["held"]
                           else _held("admin.held", row["held"])[0])
        rows.append(row)
    decided = None
    if request.query.get("decided") == "reject":
        decided = "reject"
    elif request.query.get("decided") == "uphold":
        found = await desk.get(request.query.get("objection", ""))
        if found is not None and found.status == "upheld":
            decided = (await desk.state(found)).outcome
    return await render(request, "admin_retention.html", {
        "counts": counts, "overdue": summary.get("overdue", 0),
        "failing": summary.get("failing", 0), "alerting": summary.get("alerting", 0),
        "next_due": _date(next_due) if next_due is not None else None,
        "last_sweep": _date(summary.get("last_sweep")), "csrf": session.csrf,
        "decided": decided, "objections": rows})


async def decide_objection(request: web.Request) -> web.StreamResponse:
    session = await require_officer(request)
    form = await request.post()
    decision = form.get("decision")
    if decision not in ("uphold", "reject"):
        raise BadRequest("bad_decision")
    objection_id = request.match_info["objection_id"]
    try:
        await _desk(request).decide(objection_id, upheld=decision == "uphold",
                                    officer=session.person)
    except ObjectionRefused as exc:
        raise BadRequest(exc.reason) from None
    raise web.HTTPSeeOther(f"/admin/retention?decided={decision}&objection={objection_id}")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/objections/new", new_objection, name="objection_new")
    app.router.add_post("/objections", file_objection, name="objection_file")
    app.router.add_get("/objections", my_objections, name="objections")
    app.router.add_get("/admin/retention", admin_retention, name="admin_retention")
    app.router.add_post("/admin/objections/{objection_id}", decide_objection,
                        name="objection_decide")
