"""A byte scan that stands in for a whole-document parse on answers passed on as-is.

The proxy passes most BBB answers on untouched (getMeetings without attendees,
isMeetingRunning, getMeetingInfo streamed, ...). It must not pass on something that
is not BBB's answer (an HTML error page, a cut-off body) nor anything carrying a DTD
(entity tricks). A full expat parse proved that at ~70 µs per 18 KB getMeetings
answer, a fifth of the gateway's CPU per call (bench/bbb_proxy.py); this scan
proves the same properties in ~5 µs:

- it starts as a BBB response (`<response` or an XML declaration) and ends with
  `</response>` (a truncated body cannot end so);
- it names no DTD and declares no entity (`<!DOCTYPE`, `<!ENTITY`): without a DTD no
  entity can expand, and only XML's five predefined entities and character
  references may appear (anything else would make the LMS's parser fail);
- it has a `<returncode>`.

Well-formedness in between is BBB's own: bbb-web renders these answers from a
template, and an answer the proxy rewrites is parsed whole anyway (bbb_hooks.xml).
"""

from __future__ import annotations

import re

from bbb_hooks.xml import BrokenXML

_ENTITY = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]{1,7}|#x[0-9a-fA-F]{1,6});)")


def check_scan(body: bytes) -> None:
    """BrokenXML unless `body` is a complete, DTD-free BBB `<response>`."""
    head = body.lstrip()[:64]
    if not (head.startswith(b"<response") or head.startswith(b"<?xml")):
        raise BrokenXML("not_a_response")
    if not body.rstrip().endswith(b"</response>"):
        raise BrokenXML("truncated")
    # `!` first: one memchr, where each `<!...` search walks every `<` of the answer.
    if b"!" in body and (b"<!DOCTYPE" in body or b"<!ENTITY" in body):
        raise BrokenXML("dtd")
    if b"&" in body and _ENTITY.search(body):
        raise BrokenXML("entity")
    if b"<returncode>" not in body:
        raise BrokenXML("not_a_response")
