"""Protected playback, the platform-neutral web side (G14, G17, G20).

- `refuse`: every refusal is a clear page (nl/en) with 401, 403 or 410, never a
  file; the reason also travels in `X-Privacy-Gateway-Reason` so nginx can hand
  it to `/privacy-gateway/refused` (config/bbb/privacy-gateway-playback.nginx);
- `decide`: reads the facts (gateway.playback.acl) and asks the pure decision
  (gateway.policy.playback);
- `count`: playback counted per purpose, never per person; grants of feedback and
  exam evidence audited with pseudonyms only (G20).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiohttp import web

from gateway.login.sessions import Session
from gateway.playback.acl import approval_audience, facts, known_recording, viewer_for
from gateway.playback.tokens import derive_key
from gateway.policy.playback import WatchDecision, may_watch
from gateway.web import i18n, keys
from gateway.web.shell import render

log = logging.getLogger(__name__)

REASON_HEADER = "X-Privacy-Gateway-Reason"

# reason -> (HTTP status, message key). Bounded: these are also log and metric labels.
REFUSALS: dict[str, tuple[int, str]] = {
    "malformed": (403, "playback.forged"),
    "forged": (403, "playback.forged"),
    "wrong_kind": (403, "playback.forged"),
    "expired": (410, "playback.expired"),
    "replayed": (410, "playback.replayed"),
    "login_required": (401, "playback.login_required"),
    "missing": (401, "playback.no_cookie"),
    "cookie_expired": (401, "playback.no_cookie"),
    "cookie_forged": (403, "playback.other_recording"),
    "bad_path": (403, "playback.bad_path"),
    "not_a_recording": (403, "playback.bad_path"),
    "not_found": (404, "playback.not_found"),
    "held": (403, "playback.held"),
    "not_moderator": (403, "playback.not_moderator"),
    "not_school_account": (403, "playback.not_allowed"),
    "not_allowed": (403, "playback.not_allowed"),
}

MESSAGES: i18n.Catalog = {
    "playback.heading": {"nl": "Deze opname kun je niet bekijken",
                         "en": "You cannot watch this recording"},
    "playback.forged": {
        "nl": "Deze link naar een opname is niet geldig. Open de opname opnieuw vanuit de "
              "leeromgeving.",
        "en": "This link to a recording is not valid. Open the recording again from the "
              "learning platform."},
    "playback.expired": {
        "nl": "Deze link naar een opname is verlopen. Open de opname opnieuw vanuit de "
              "leeromgeving.",
        "en": "This link to a recording has expired. Open the recording again from the "
              "learning platform."},
    "playback.replayed": {
        "nl": "Deze link naar een opname is al gebruikt. Een link werkt maar één keer: open de "
              "opname opnieuw vanuit de leeromgeving.",
        "en": "This link to a recording was already used. A link works only once: open the "
              "recording again from the learning platform."},
    "playback.login_required": {
        "nl": "Log in met je schoolaccount om deze opname te bekijken.",
        "en": "Log in with your school account to watch this recording."},
    "playback.no_cookie": {
        "nl": "Een opname bekijk je alleen via de leeromgeving of de pagina van de bijeenkomst, "
              "niet met een gekopieerde link.",
        "en": "A recording can only be watched through the learning platform or the meeting's "
              "page, not with a copied link."},
    "playback.other_recording": {
        "nl": "Je toegang geldt voor een andere opname. Open deze opname vanuit de leeromgeving.",
        "en": "Your access is for another recording. Open this recording from the learning "
              "platform."},
    "playback.bad_path": {"nl": "Dit adres hoort niet bij een opname.",
                          "en": "This address does not belong to a recording."},
    "playback.not_found": {"nl": "Deze opname bestaat niet (meer).",
                           "en": "This recording does not exist (any more)."},
    "playback.held": {
        "nl": "Deze opname is vastgehouden, bijvoorbeeld na een bezwaar. Alleen de "
              "privacy-officer kan hem nu bekijken.",
        "en": "This recording is on hold, for example after an objection. Only the privacy "
              "officer can watch it now."},
    "playback.not_moderator": {
        "nl": "Deze opname is alleen voor de leraren die de bijeenkomst leidden en de "
              "privacy-officer.",
        "en": "This recording is only for the teachers who led the meeting and the privacy "
              "officer."},
    "playback.not_allowed": {"nl": "Deze opname is niet voor jou bedoeld.",
                             "en": "This recording is not meant for you."},
    "playback.login": {"nl": "Inloggen", "en": "Log in"},
    "privacy.watch": {"nl": "Wie mag de opname bekijken?", "en": "Who may watch it?"},
    "watch.school": {"nl": "leerlingen en leraren van school, via de leeromgeving",
                     "en": "pupils and teachers of the school, through the learning platform"},
    "watch.moderators": {"nl": "alleen de leraren die de les leidden",
                         "en": "only the teachers who led the lesson"},
    "watch.officer": {"nl": "de privacy-officer", "en": "the privacy officer"},
    "watch.approval": {"nl": "wie de goedkeuring van de privacy-officer noemt",
                       "en": "whoever the privacy officer's approval names"},
    "playback.recordings": {"nl": "Opnames van deze bijeenkomst",
                            "en": "Recordings of this meeting"},
}


@dataclass(frozen=True, slots=True)
class PlaybackContext:
    key: bytes  # signs links, grants and cookies (gateway.playback.tokens)
    secure: bool  # outside development: Secure, `__Host-` cookies


PLAYBACK = web.AppKey("playback", PlaybackContext)


def setup(app: web.Application) -> None:
    settings = app[keys.SETTINGS]
    app[PLAYBACK] = PlaybackContext(
        key=derive_key(settings.secrets.get("gateway.pseudonym_key")),
        secure=not settings.policy.gateway.development)
    app.router.add_get("/privacy-gateway/refused", refused_page, name="playback_refused")


async def refuse(request: web.Request, reason: str, login_path: str | None = None
                 ) -> web.Response:
    status, message_key = REFUSALS.get(reason, (403, "playback.not_allowed"))
    response = await render(request, "playback_refused.html", {
        "message_key": message_key, "reason": reason, "login_path": login_path},
        status=status)
    response.headers[REASON_HEADER] = reason
    return response


async def refused_page(request: web.Request) -> web.StreamResponse:
    """nginx's error_page for a refused playback file: the reason the check gave."""
    reason = request.headers.get(REASON_HEADER, "")
    return await refuse(request, reason if reason in REFUSALS else "missing")


async def decide(app: web.Application, session: Session, platform: str, recording_id: str,
                 *, declared_purpose: str, declared_meeting: str,
                 approval_reference: str | None) -> tuple[WatchDecision, str]:
    """The decision for this person and recording, and the recording's meeting ref."""
    store = app[keys.STORE]
    known = await known_recording(store, platform, recording_id, declared_purpose,
                                  declared_meeting)
    viewer = await viewer_for(app, session, platform, known.meeting_ref)
    approval = await approval_audience(store, approval_reference)
    return may_watch(app[keys.SETTINGS].policy, facts(known, approval), viewer), known.meeting_ref


async def count(app: web.Application, platform: str, decision: WatchDecision,
                session: Session, recording_id: str, meeting_ref: str) -> None:
    """Per purpose, never per person (G20); feedback/exam grants audited by pseudonym."""
    result = "ok" if decision.allowed else "refused"
    app[keys.METRICS].playback.labels(platform=platform, purpose=decision.purpose_label,
                                      result=result).inc()
    log.info("playback", extra={"event": "playback", "platform": platform,
                                "purpose": decision.purpose_label, "reason": decision.reason})
    if decision.allowed and decision.audit:
        await app[keys.AUDIT].record(
            "playback_granted", platform, recording=f"{platform}:{recording_id}",
            purpose=decision.purpose_label, viewer=session.person,
            meeting=app[keys.PSEUDONYMS].meeting(meeting_ref) if meeting_ref else None)
