"""getRecordings answers carry gateway playback links, never BBB's own URL (G14, G17).

Called by the proxy (one line in bbb_hooks/proxy.py) on every getRecordings
answer, whichever server or servers it came from. Each
`<playback><format><url>` becomes `<public_url>/recordings/bbb/<link>`: signed,
short-lived (`playback.link_ttl_seconds`), single-use, one per recording and
format (gateway.playback.tokens). BBB's URL travels only inside the signed
link, to send the browser on after the school login and the decision.
`<preview>` thumbnails are dropped: they are BBB URLs of the slides themselves.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree.ElementTree import Element

from aiohttp import web

from bbb_hooks import xml
from bbb_hooks.inbound import ApiError
from bbb_hooks.playback_paths import RECORD_ID_RE
from gateway.playback.tokens import issue_link
from gateway.playback.web import PLAYBACK
from gateway.policy.bbb import META_PURPOSE
from gateway.web import keys

PURPOSE_KEY = META_PURPOSE.removeprefix("meta_").lower()  # as getRecordings lists it
LINK_PATH = "/recordings/bbb/"


async def filter_answer(request: web.Request, call: str,
                        response: web.StreamResponse) -> web.StreamResponse:
    """The proxy's hook: getRecordings answers get gateway links; others pass untouched."""
    if call != "getRecordings" or not isinstance(response, web.Response):
        return response
    body = response.body
    if not isinstance(body, bytes) or b"<playback" not in body:
        return response
    try:
        root = xml.parse(body)
    except xml.BrokenXML:
        raise ApiError("backendError", "broken_xml") from None
    rewrite(request.app, root)
    return web.Response(body=xml.to_bytes(root), content_type=xml.CONTENT_TYPE,
                        charset="utf-8")


def rewrite(app: web.Application, root: Element) -> int:
    """Replace every playback URL in a getRecordings answer; returns how many."""
    settings = app[keys.SETTINGS]
    key, now = app[PLAYBACK].key, app[keys.CLOCK].time()
    base = settings.policy.gateway.public_url + LINK_PATH
    ttl = settings.policy.playback.link_ttl_seconds
    done = 0
    for recording in root.iter("recording"):
        record_id = (recording.findtext("recordID") or "").strip()
        meeting_id = (recording.findtext("meetingID") or "").strip()
        purpose = (recording.findtext(f"metadata/{PURPOSE_KEY}") or "").strip()
        for fmt in recording.iter("format"):
            for preview in fmt.findall("preview"):
                fmt.remove(preview)
            url = fmt.find("url")
            if url is None:
                continue
            target = (url.text or "").strip()
            if not RECORD_ID_RE.fullmatch(record_id) or not _is_http(target):
                url.text = ""  # nothing we could protect: nothing at all rather than BBB's URL
                continue
            url.text = base + issue_link(
                key, platform="bbb", recording_id=record_id,
                fmt=(fmt.findtext("type") or "").strip()[:32], target=target,
                purpose=purpose[:32], meeting_ref=meeting_id, now=now, ttl=ttl)
            done += 1
    return done


def _is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
