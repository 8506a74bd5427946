"""Pages for people (home, privacy notice) and the operational endpoints."""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.policy import names
from gateway.policy.notice import build_notice
from gateway.web import i18n, keys
from gateway.web.shell import render
from gateway.web.workers import metrics_registry  # merged across `serve --workers N`

MESSAGES: i18n.Catalog = {
    "privacy.title": {"nl": "Privacy: wat gebeurt er met jouw gegevens?",
                      "en": "Privacy: what happens to your data?"},
    "privacy.intro": {
        "nl": "{controller} gebruikt deze dienst voor lessen en gesprekken op afstand. "
              "Hier lees je in gewone taal wat we van je bewaren, waarom, en hoe lang.",
        "en": "{controller} uses this service for online lessons and talks. Here you can read "
              "in plain words what we keep about you, why, and for how long.",
    },
    "privacy.what": {"nl": "Welke gegevens?", "en": "Which data?"},
    "privacy.recordings": {"nl": "Opnames: waarvoor en hoe lang?",
                           "en": "Recordings: what for, and how long?"},
    "privacy.purpose": {"nl": "Soort opname", "en": "Kind of recording"},
    "privacy.why": {"nl": "Waarvoor", "en": "What for"},
    "privacy.kept": {"nl": "Hoe lang bewaard", "en": "Kept for"},
    "privacy.pupils_seen": {"nl": "Zijn leerlingen te zien of te horen?",
                            "en": "Can pupils be seen or heard?"},
    "privacy.days": {"nl": "{days} dagen, daarna automatisch gewist",
                     "en": "{days} days, then deleted automatically"},
    "privacy.yes": {"nl": "Ja, alleen als dat nodig is en vooraf gezegd",
                    "en": "Yes, only when needed and said beforehand"},
    "privacy.no": {"nl": "Nee, camera's en microfoons van leerlingen staan uit",
                   "en": "No, pupils' cameras and microphones are off"},
    "privacy.undeclared": {
        "nl": "Een opname zonder bekend doel wordt na {days} dagen gewist.",
        "en": "A recording without a known purpose is deleted after {days} days.",
    },
    "privacy.basis": {"nl": "Waarom mag dit?", "en": "Why is this allowed?"},
    "privacy.who": {"nl": "Wie krijgt je gegevens?", "en": "Who gets your data?"},
    "privacy.protect": {"nl": "Hoe beschermen we je?", "en": "How do we protect you?"},
    "privacy.rights": {"nl": "Vragen of bezwaar?", "en": "Questions or objections?"},
    "privacy.rights_text": {
        "nl": "Je mag altijd vragen wat we van je hebben, en bezwaar maken. Mail naar {contact} "
              "of vraag je leraar of ouders om hulp.",
        "en": "You may always ask what we have about you, and object. Write to {contact} or "
              "ask your teacher or parents for help.",
    },
    **names.catalog(),  # purpose.<id>, meeting_type.<id>: one table (G18)
}


async def home(request: web.Request) -> web.StreamResponse:
    from gateway.web.home import home as role_home  # a page per role: gateway/web/home.py

    return await role_home(request)


async def privacy(request: web.Request) -> web.StreamResponse:
    notice = build_notice(request.app[keys.SETTINGS].policy, i18n.language(request))
    return await render(request, "privacy.html", {"notice": notice})


async def healthz(request: web.Request) -> web.StreamResponse:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.StreamResponse:
    app = request.app
    checks: dict[str, bool] = {"store": False, "idp_metadata": app[keys.OIDC].ready(),
                               "background_tasks": app[keys.BACKGROUND].healthy()}
    try:
        checks["store"] = await asyncio.wait_for(app[keys.STORE].ping(), timeout=2)
    except TimeoutError:
        checks["store"] = False
    for name, check in app[keys.READINESS].items():
        try:
            checks[name] = await asyncio.wait_for(check(), timeout=2)
        except TimeoutError:
            checks[name] = False
    ok = all(checks.values())
    return web.json_response({"status": "ok" if ok else "unavailable", "checks": checks},
                             status=200 if ok else 503)


async def metrics(request: web.Request) -> web.StreamResponse:
    body = generate_latest(metrics_registry(request.app[keys.METRICS].registry))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application) -> None:
    app.router.add_get("/", home, name="home")
    from gateway.web.home import setup as home_setup

    home_setup(app)
    app.router.add_get("/privacy", privacy, name="privacy")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/readyz", readyz, name="readyz")
    app.router.add_get("/metrics", metrics, name="metrics")
