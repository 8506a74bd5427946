"""The demo LMS page (`/demo/lms`): what a learning platform does. NOT FOR PRODUCTION.

A teacher (logged in or not, as on a real LMS) names a lesson and picks a
meeting type from the policy; the page then calls the gateway's own BBB API
exactly as an LMS does: a `create` signed with the LMS's shared secret
(`bbb.frontends`), then one signed `join` URL for the teacher (MODERATOR) and
one for a pupil (VIEWER). Following a join URL goes through the gateway's
ticket and school login (bbb_hooks/join.py) to the BBB stand-in's meeting page.

The form is a GET, as a plain link would be: an LMS page needs no gateway
session. Each lesson gets its own meetingID (a slug of the name and a random
suffix, as an LMS keys a meeting by its own record, not by its title): BBB's
`create` on an existing meetingID answers that meeting (duplicateWarning),
whatever meeting type the second create asks for, so two lessons with the same
name must never share one.

The URLs are sent exactly as signed (`yarl.URL(..., encoded=True)`): yarl would
otherwise re-quote the query (`%28` back to `(`), and the checksum covers the
query string as the gateway receives it (bbb.md §1.1).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from yarl import URL

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
    "demo.lms.failed": {"nl": "De poort weigerde de les. Haar antwoord: “{reason}”",
                        "en": "The gateway refused the lesson. Its answer: “{reason}”"},
    "demo.lms.unreachable": {"nl": "De poort gaf geen antwoord. Probeer het zo nog eens.",
                             "en": "The gateway did not answer. Try again in a moment."},
    "demo.lms.duplicate": {"nl": "Er bestaat al een les met dit kenmerk; er is geen nieuwe "
                                 "les aangemaakt. Probeer het nog eens.",
                           "en": "A lesson with this identifier already exists; no new lesson "
                                 "was created. Try again."},
    "demo.lms.no_name": {"nl": "Geef de les een naam.", "en": "Give the lesson a name."},
    "demo.lms.bad_name": {"nl": "De naam heeft minstens één letter of cijfer nodig.",
                          "en": "The name needs at least one letter or digit."},
    "demo.lms.long_name": {"nl": "De naam is te lang: hoogstens {max} tekens.",
                           "en": "The name is too long: {max} characters at most."},
    "demo.lms.control_name": {"nl": "De naam bevat een onzichtbaar stuurteken; typ hem opnieuw.",
                              "en": "The name holds an invisible control character; type it "
                                    "again."},
    "demo.lms.bad_type": {"nl": "Kies een soort bijeenkomst uit de lijst.",
                          "en": "Choose a meeting type from the list."},
    "demo.lms.link": {"nl": "Demo-leeromgeving: een BigBlueButton-les aanmaken",
                      "en": "Demo learning platform: create a BigBlueButton lesson"},
    "demo.lms.type.lesson": {"nl": "les", "en": "lesson"},
    "demo.lms.type.meeting": {"nl": "overleg", "en": "meeting"},
    "demo.lms.type.confidential": {"nl": "vertrouwelijk gesprek", "en": "confidential talk"},
}


def signed(base: str, call: str, params: list[tuple[str, str]], secret: str) -> str:
    """An LMS's API URL: the query as sent, checksum = sha256(call + query + secret).

    PHP's `http_build_query` (Moodle) encodes as `urlencode` does: `( ) ' * ! /` escaped.
    """
    query = urlencode(params)
    checksum = hashlib.sha256((call + query + secret).encode()).hexdigest()
    return f"{base}/bigbluebutton/api/{call}?{query}&checksum={checksum}"


def meeting_id_for(name: str) -> str:
    """A new meetingID for a lesson: its name's letters and digits (accents dropped,
    ASCII, as LMSes send) and a random suffix, so no two lessons share one."""
    plain = unicodedata.normalize("NFKD", name.lower()).encode("ascii", "ignore").decode()
    slug = _SLUG.sub("-", plain).strip("-")[:40].rstrip("-") or "les"
    return f"{slug}-{secrets.token_hex(3)}"


def name_problem(name: str) -> tuple[str, dict[str, object]] | None:
    """What is wrong with a lesson name, as a message key and its values; None if nothing."""
    if not name:
        return "demo.lms.no_name", {}
    if len(name) > MAX_NAME:
        return "demo.lms.long_name", {"max": MAX_NAME}
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in name):
        return "demo.lms.control_name", {}
    if not any(c.isalnum() for c in name):  # letters or digits of any script
        return "demo.lms.bad_name", {}
    return None


async def lms_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[keys.SETTINGS]
    policy = settings.policy
    types = list(policy.meeting_types)
    name = request.query.get("name", "").strip()
    kind = request.query.get("type", policy.bbb.default_meeting_type)
    context: dict[str, object] = {"types": types, "name": name[:MAX_NAME], "kind": kind,
                                  "links": None, "error": None, "error_values": {},
                                  "failed": None, "failed_key": None, "meeting_id": None}
    if request.query:  # the form was sent: say what is wrong, one problem at a time
        problem = name_problem(name)
        if problem is None and kind not in types:
            problem = "demo.lms.bad_type", {}
        if problem is not None:
            context["error"], context["error_values"] = problem
        else:
            context.update(await _create(request, meeting_id_for(name), name, kind))
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
        async with http.get(URL(create, encoded=True),  # sent exactly as signed
                            timeout=aiohttp.ClientTimeout(total=20)) as response:
            answer = ET.fromstring(await response.read())  # noqa: S314 (the gateway's own)
    except (aiohttp.ClientError, TimeoutError, ET.ParseError):
        return {"error": "demo.lms.unreachable"}
    if answer.findtext("returncode") != "SUCCESS":
        key = answer.findtext("messageKey") or "FAILED"
        return {"failed": answer.findtext("message") or key, "failed_key": key}
    if answer.findtext("messageKey") == "duplicateWarning":  # BBB answers the existing one
        return {"error": "demo.lms.duplicate"}
    links = {role: signed(base, "join", [("meetingID", meeting_id), ("fullName", full),
                                         ("role", role)], secret)
             for role, full in (("MODERATOR", "Docent (LMS)"), ("VIEWER", "Leerling (LMS)"))}
    return {"links": {"teacher": links["MODERATOR"], "pupil": links["VIEWER"]},
            "meeting_id": meeting_id}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/demo/lms", lms_page, name="demo_lms")
