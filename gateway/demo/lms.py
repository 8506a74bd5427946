"""The demo LMS page (`/demo/lms`): what a learning platform does. NOT FOR PRODUCTION.

A teacher (logged in or not, as on a real LMS) names a lesson and picks a
meeting type from the policy; the page then calls the gateway's own BBB API
exactly as an LMS does: a `create` signed with the LMS's shared secret
(`bbb.frontends`), then one signed `join` URL for the teacher (MODERATOR) and
one for a pupil (VIEWER). Following a join URL goes through the gateway's
ticket and school login (bbb_hooks/join.py) to the BBB stand-in's meeting page.

The form is a GET, as a plain link would be: an LMS page needs no gateway
session, and `create` is idempotent for one meetingID (BBB's duplicateWarning).
"""

from __future__ import annotations

import hashlib
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from gateway.web import i18n, keys
from gateway.web.shell import render

LMS_NAME = "demo-lms"
MAX_NAME = 80
_SLUG = re.compile(r"[^a-z0-9]+")

MESSAGES: i18n.Catalog = {
    "demo.lms.title": {"nl": "Demo-leeromgeving", "en": "Demo learning platform"},
    "demo.lms.intro": {
        "nl": "Zo maakt een leeromgeving (zoals Moodle) een BigBlueButton-les aan: via de API "
              "van de poort, ondertekend met het geheim van de leeromgeving. De poort geeft "
              "deelnamelinks die eerst langs de schoollogin gaan.",
        "en": "This is how a learning platform (such as Moodle) creates a BigBlueButton "
              "lesson: through the gateway's API, signed with the platform's secret. The "
              "gateway answers with join links that pass the school login first."},
    "demo.lms.name": {"nl": "Naam van de les", "en": "Lesson name"},
    "demo.lms.type": {"nl": "Soort bijeenkomst", "en": "Meeting type"},
    "demo.lms.create": {"nl": "Les aanmaken", "en": "Create lesson"},
    "demo.lms.created": {"nl": "De les is aangemaakt: {name}.",
                         "en": "The lesson was created: {name}."},
    "demo.lms.join_teacher": {"nl": "Deelnemen als leraar (moderator)",
                              "en": "Join as teacher (moderator)"},
    "demo.lms.join_pupil": {"nl": "Deelnemen als leerling (deelnemer)",
                            "en": "Join as pupil (viewer)"},
    "demo.lms.two_windows": {
        "nl": "Eén browser is één schoollogin: open de leerlingenlink in een privévenster "
              "of een andere browser en log daar in als leerling.",
        "en": "One browser holds one school login: open the pupil's link in a private "
              "window or another browser and log in there as the pupil."},
    "demo.lms.failed": {"nl": "De poort weigerde de les: {reason}.",
                        "en": "The gateway refused the lesson: {reason}."},
    "demo.lms.bad_name": {"nl": "Geef de les een naam (letters of cijfers).",
                          "en": "Give the lesson a name (letters or digits)."},
    "demo.lms.link": {"nl": "Demo-leeromgeving: een BigBlueButton-les aanmaken",
                      "en": "Demo learning platform: create a BigBlueButton lesson"},
    "demo.lms.type.lesson": {"nl": "les", "en": "lesson"},
    "demo.lms.type.meeting": {"nl": "overleg", "en": "meeting"},
    "demo.lms.type.confidential": {"nl": "vertrouwelijk gesprek", "en": "confidential talk"},
}


def signed(base: str, call: str, params: list[tuple[str, str]], secret: str) -> str:
    """An LMS's API URL: the query as sent, checksum = sha256(call + query + secret)."""
    query = urlencode(params)
    checksum = hashlib.sha256((call + query + secret).encode()).hexdigest()
    return f"{base}/bigbluebutton/api/{call}?{query}&checksum={checksum}"


def meeting_id_for(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:40]


async def lms_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    policy = settings.policy
    types = list(policy.meeting_types)
    name = request.query.get("name", "").strip()[:MAX_NAME]
    kind = request.query.get("type", policy.bbb.default_meeting_type)
    context: dict[str, object] = {"types": types, "name": name, "kind": kind,
                                  "links": None, "error": None,
                                  "failed": None, "meeting_id": None}
    if "name" in request.query:
        meeting_id = meeting_id_for(name)
        if not meeting_id or kind not in types:
            context["error"] = "demo.lms.bad_name"
        else:
            context.update(await _create(request, meeting_id, name, kind))
    return await render(request, "demo_lms.html", context)


async def _create(request: web.Request, meeting_id: str, name: str,
                  kind: str) -> dict[str, object]:
    settings = request.app[keys.SETTINGS]
    base = settings.policy.gateway.public_url
    index = next(i for i, f in enumerate(settings.policy.bbb.frontends) if f.name == LMS_NAME)
    secret = settings.secrets.get(f"bbb.frontends[{index}].secret").decode()
    create = signed(base, "create", [
        ("name", name), ("meetingID", meeting_id), ("record", "true"),
        ("meta_privacy-meeting-type", kind)], secret)
    http = request.app[keys.HTTP]
    try:
        async with http.get(create, timeout=aiohttp.ClientTimeout(total=20)) as response:
            answer = ET.fromstring(await response.read())  # noqa: S314 (the gateway's own)
    except (aiohttp.ClientError, TimeoutError, ET.ParseError) as exc:
        return {"failed": type(exc).__name__}
    if answer.findtext("returncode") != "SUCCESS":
        return {"failed": answer.findtext("messageKey") or "FAILED"}
    links = {role: signed(base, "join", [("meetingID", meeting_id), ("fullName", full),
                                         ("role", role)], secret)
             for role, full in (("MODERATOR", "Docent (LMS)"), ("VIEWER", "Leerling (LMS)"))}
    return {"links": {"teacher": links["MODERATOR"], "pupil": links["VIEWER"]},
            "meeting_id": meeting_id}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/demo/lms", lms_page, name="demo_lms")
