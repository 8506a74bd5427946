"""The privacy officer's register of approved exceptions (G11, G19): `/admin/approvals`.

A recording for the purpose `approved_exception` needs a reference the privacy
officer has registered here; a teacher can no longer make one up. The register
holds only the officer's own file references (no personal data) in the store
hash `approvals:refs` (reference -> time registered), platform-neutral so the BBB
side can check the same list.
"""

from __future__ import annotations

import re

from aiohttp import web

from gateway.login.officers import require_officer
from gateway.playback.acl import APPROVAL_WATCH_KEY, approval_audience, set_approval_audience
from gateway.web import i18n, keys
from gateway.web.errors import BadRequest
from gateway.web.shell import redirect, render

KEY = "approvals:refs"
REFERENCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._/-]{1,99}$")
MAX_REFERENCES = 1000
WATCH_CHOICES = ("moderators", "school", "officer")

MESSAGES: i18n.Catalog = {
    "approvals.heading": {"nl": "Goedgekeurde uitzonderingen", "en": "Approved exceptions"},
    "approvals.explain": {
        "nl": "Een opname met het doel 'goedgekeurde uitzondering' kan alleen met een kenmerk "
              "uit deze lijst.",
        "en": "A recording for the purpose 'approved exception' needs a reference from this "
              "list."},
    "approvals.reference": {"nl": "Kenmerk", "en": "Reference"},
    "approvals.add": {"nl": "Toevoegen", "en": "Add"},
    "approvals.remove": {"nl": "Intrekken", "en": "Withdraw"},
    "approvals.none": {"nl": "Nog geen kenmerken.", "en": "No references yet."},
    "approvals.watch": {"nl": "Wie mag de opname bekijken", "en": "Who may watch the recording"},
}


def normalise_reference(raw: str) -> str:
    reference = raw.strip()
    if not REFERENCE_RE.fullmatch(reference):
        raise BadRequest("bad_approval_reference")
    return reference


async def is_registered(app: web.Application, reference: str) -> bool:
    return reference.strip() in await app[keys.STORE].hgetall(KEY)


async def approvals_page(request: web.Request) -> web.StreamResponse:
    await require_officer(request)
    store = request.app[keys.STORE]
    references = sorted(await store.hgetall(KEY))
    watch = {ref: await approval_audience(store, ref) for ref in references}
    return await render(request, "admin_approvals.html", {
        "references": references, "watch": watch, "audiences": WATCH_CHOICES})


async def change_approvals(request: web.Request) -> web.StreamResponse:
    """Add or withdraw one reference (CSRF-checked by the middleware); audited."""
    session = await require_officer(request)
    form = await request.post()
    reference = normalise_reference(str(form.get("reference") or ""))
    store, now = request.app[keys.STORE], request.app[keys.CLOCK].time()
    if form.get("action") == "remove":
        await store.hdel(KEY, reference)
        await store.hdel(APPROVAL_WATCH_KEY, reference)
    elif len(await store.hgetall(KEY)) >= MAX_REFERENCES:
        raise BadRequest("too_many_references")
    else:
        await store.hset(KEY, {reference: str(int(now)).encode()}, None)
        # G14: the approval says who may watch the recording (the officer if it says nothing).
        await set_approval_audience(store, reference, ",".join(
            str(a) for a in form.getall("watch", []) if a in WATCH_CHOICES))
    await request.app[keys.AUDIT].record("approval_reference", "gateway", officer=session.person,
                                         change=str(form.get("action") or "add"))
    return redirect("/admin/approvals")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/approvals", approvals_page, name="admin_approvals")
    app.router.add_post("/admin/approvals", change_approvals, name="admin_approvals_change")
