"""Wiring of the BBB recording guard, and the teacher's purpose page (G11).

`setup(app)` (called from gateway/app.py `_adapters` when BBB is enabled and
`bbb.redis_url` is configured) starts the bus listener as a background task
in `cleanup_ctx`, adds a readiness check and the page
`/meetings/bbb/{meeting_id}/purpose` where a teacher declares the purpose of
the next recording (stored under `guard:bbb:purpose:<sha256(meetingID)>`,
see bbb_hooks/guard_state.py). `approved_exception` needs a reference the
privacy officer registered (gateway/approvals.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web

from bbb_hooks.app_keys import PROXY
from bbb_hooks.guard_bbb import BusGuard
from bbb_hooks.guard_state import MEETING_PREFIX, purpose_key, save_purpose
from bbb_hooks.meetings import MeetingRecord, is_moderator, meeting_info
from gateway.guard import approvals
from gateway.login.routes import login_url
from gateway.login.sessions import Session, current_session
from gateway.policy.model import PURPOSES, PurposeName
from gateway.policy.names import purpose_name
from gateway.web import i18n, keys
from gateway.web.errors import Forbidden, NotFound
from gateway.web.shell import redirect, render

if TYPE_CHECKING:
    pass

GUARD = web.AppKey("bbb_guard", BusGuard)

MESSAGES: i18n.Catalog = {
    "guard.purpose.title": {"nl": "Doel van de opname", "en": "Purpose of the recording"},
    "guard.purpose.intro": {
        "nl": "Kies waarvoor je deze les opneemt. Iedereen hoort het doel voordat de opname "
              "begint.",
        "en": "Choose why you record this lesson. Everyone hears the purpose before the "
              "recording starts."},
    "guard.purpose.choose": {"nl": "Doel", "en": "Purpose"},
    "guard.purpose.days": {"nl": "{days} dagen bewaard", "en": "kept {days} days"},
    "guard.purpose.reference": {"nl": "Kenmerk van de privacy-officer (alleen bij een "
                                      "uitzondering)",
                                "en": "Privacy officer's approval reference (exception only)"},
    "guard.purpose.save": {"nl": "Opslaan", "en": "Save"},
    "guard.purpose.saved": {"nl": "Opgeslagen: {purpose}.", "en": "Saved: {purpose}."},
    "guard.purpose.saved_next": {
        "nl": "Opgeslagen: {purpose}. Dit geldt voor de volgende opname; de opname die nu loopt "
              "houdt haar doel.",
        "en": "Saved: {purpose}. This applies to the next recording; the recording running now "
              "keeps its purpose."},
    "guard.purpose.running": {
        "nl": "Er loopt nu een opname met als doel: {purpose}. Kies je hier een ander doel, dan "
              "geldt dat voor de volgende opname.",
        "en": "A recording is running now, for: {purpose}. A purpose you choose here applies "
              "to the next recording."},
    "guard.purpose.default": {
        "nl": "Je hebt nog geen doel gekozen. Dan geldt: {purpose}.",
        "en": "You have not chosen a purpose yet, so this applies: {purpose}."},
    "guard.purpose.no_default": {
        "nl": "Je hebt nog geen doel gekozen. Zonder doel stopt een opname meteen.",
        "en": "You have not chosen a purpose yet. Without one, a recording stops at once."},
    "guard.purpose.no_default_undeclared": {
        "nl": "Je hebt nog geen doel gekozen. Zonder doel wordt een opname {days} dagen bewaard "
              "en zijn leerlingen niet te zien of te horen.",
        "en": "You have not chosen a purpose yet. Without one, a recording is kept {days} days "
              "and pupils are not seen or heard."},
    "guard.purpose.pending": {
        "nl": "De verbinding met de vergaderserver is even weg. Het doel is bewaard en wordt in "
              "de bijeenkomst gemeld zodra de verbinding terug is. Een opname die eerder start, "
              "gebruikt dit doel al.",
        "en": "The connection to the meeting server is down for a moment. The purpose is saved "
              "and announced in the meeting as soon as the connection is back. A recording "
              "that starts before then already uses this purpose."},
    "guard.purpose.no_recording": {
        "nl": "Dit gesprek kan niet worden opgenomen.",
        "en": "This meeting cannot be recorded."},
    "guard.purpose.bad_purpose": {"nl": "Kies een doel uit de lijst.",
                                  "en": "Choose a purpose from the list."},
    "guard.purpose.needs_reference": {
        "nl": "Een uitzondering heeft een kenmerk nodig dat de privacy-officer heeft "
              "vastgelegd.",
        "en": "An exception needs an approval reference the privacy officer has registered."},
    "guard.purpose.not_yours": {"nl": "Dit doel mag jij niet kiezen.",
                                "en": "You may not choose this purpose."},
    "guard.purpose.unknown_meeting": {
        "nl": "Deze bijeenkomst kennen we niet. Misschien is ze al afgelopen; open de pagina "
              "opnieuw vanuit je leeromgeving.",
        "en": "We do not know this meeting. Perhaps it has ended; open the page again from "
              "your learning platform."},
    "guard.purpose.not_teacher": {
        "nl": "Alleen de leraar van deze bijeenkomst kiest het doel van een opname. Ga eerst "
              "zelf de bijeenkomst in via je leeromgeving.",
        "en": "Only the teacher of this meeting chooses the purpose of a recording. Join the "
              "meeting yourself from your learning platform first."},
}


class UnknownMeeting(NotFound):
    message_key = "guard.purpose.unknown_meeting"


class NotTeacher(Forbidden):
    message_key = "guard.purpose.not_teacher"


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_guard_ctx)
    app.router.add_get("/meetings/bbb/{meeting_id}/purpose", purpose_page)
    app.router.add_post("/meetings/bbb/{meeting_id}/purpose", purpose_submit)


async def _guard_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    proxy = app[PROXY]  # started first (bbb_hooks.adapter: the proxy, then the guard)
    guard = BusGuard(
        policy=settings.policy, store=app[keys.STORE], metrics=app[keys.METRICS],
        audit=app[keys.AUDIT], pseudonyms=app[keys.PSEUDONYMS], http=app[keys.HTTP],
        servers=proxy.pool.servers, redis_url=settings.secrets.get("bbb.redis_url").decode(),
        record_ttl=proxy.record_ttl)
    app[GUARD] = guard

    async def ready() -> bool:
        # A standby replica is healthy while another leads (bbb_hooks/guard_leader.py).
        # Its services must be running (bbb_hooks/guard_tasks.py, started by the app
        # through bbb_hooks.adapter).
        return (app[keys.BACKGROUND].healthy(*(s.name for s in guard.services))
                and (guard.connected or not guard.leadership.leading()))

    app[keys.READINESS]["bbb_guard"] = ready
    yield


async def _teacher(request: web.Request) -> tuple[Session, MeetingRecord] | web.Response:
    """The logged-in teacher who moderates this meeting, and the meeting's record."""
    session = await current_session(request)
    if session is None:
        return redirect(login_url(request.path))
    if session.role != "teacher":
        raise NotTeacher("not_teacher")
    # G11, G19: only a teacher who moderates this meeting (joined it as MODERATOR
    # through the school login) decides what its recording is for.
    meeting_id = request.match_info["meeting_id"]
    record = await meeting_info(request.app[keys.STORE], meeting_id)
    if record is None:
        raise UnknownMeeting("unknown_meeting")
    if not await is_moderator(request.app[keys.STORE], meeting_id, session.person):
        raise NotTeacher("not_moderator")
    return session, record


async def _context(request: web.Request, record: MeetingRecord) -> dict[str, Any]:
    policy = request.app[keys.SETTINGS].policy
    meeting_id = record.meeting_id
    store = request.app[keys.STORE]
    saved = await store.hgetall(purpose_key(meeting_id))
    # What the recording guard keeps for a running recording (bbb_hooks/guard_state.py).
    state = await store.hgetall(MEETING_PREFIX + record.internal_meeting_id)
    lang = i18n.language(request)
    purposes = [{"name": name, "days": rules.retention_days,
                 "label": purpose_name(name, lang),
                 "description": rules.description_nl if lang == "nl" else rules.description_en}
                for name, rules in policy.purposes.items() if "teacher" in rules.may_start]
    mtype = policy.meeting_types[record.meeting_type]
    declared = saved.get("purpose", b"").decode()
    return {"recording_allowed": mtype.recording_allowed, "lang": lang,
            "purposes": purposes, "saved": False, "saved_label": "", "error": None,
            "current": declared or record.purpose or "", "declared": declared,
            "default_purpose": record.purpose or "",
            "purpose_required": mtype.purpose_required,
            "undeclared_days": policy.retention.undeclared_retention_days,
            "recording": state.get("announced") == b"1",
            "running_purpose": state.get("active_purpose", b"").decode(),
            "reference": saved.get("approval_reference", b"").decode()}


async def purpose_page(request: web.Request) -> web.StreamResponse:
    who = await _teacher(request)
    if isinstance(who, web.Response):
        return who
    return await render(request, "guard_purpose.html", await _context(request, who[1]))


async def purpose_submit(request: web.Request) -> web.StreamResponse:
    who = await _teacher(request)
    if isinstance(who, web.Response):
        return who
    session, record = who
    ctx = await _context(request, record)
    if not ctx["recording_allowed"]:
        return await render(request, "guard_purpose.html", ctx, status=409)  # G3
    form = await request.post()
    purpose = str(form.get("purpose", ""))
    reference = str(form.get("approval_reference", "")).strip()
    policy = request.app[keys.SETTINGS].policy
    error = None
    if purpose not in PURPOSES:
        error = "guard.purpose.bad_purpose"
    elif "teacher" not in policy.purposes[purpose].may_start:
        error = "guard.purpose.not_yours"
    elif policy.purposes[purpose].needs_approval_reference and not (
            await approvals.is_registered(request.app, reference)):
        error = "guard.purpose.needs_reference"  # G11: a reference the officer registered
    if error:
        ctx.update(error=error, current=purpose, reference=reference)
        return await render(request, "guard_purpose.html", ctx, status=400)
    chosen = cast(PurposeName, purpose)
    ref = reference if policy.purposes[chosen].needs_approval_reference else None
    meeting_id = record.meeting_id
    guard = request.app.get(GUARD)
    outcome = "saved"
    if guard is not None:
        outcome = await guard.declare_purpose(meeting_id, chosen, ref)
    else:
        await save_purpose(request.app[keys.STORE], meeting_id, chosen, ref)
    await request.app[keys.AUDIT].record(
        "guard_action", "bbb", action="purpose_declared", purpose=chosen, by=session.person,
        meeting=request.app[keys.PSEUDONYMS].meeting(record.internal_meeting_id or meeting_id))
    ctx.update(saved=True, saved_label=purpose_name(chosen, ctx["lang"]), current=chosen,
               declared=chosen,
               reference=ref or "", pending=outcome == "pending")
    return await render(request, "guard_purpose.html", ctx)
