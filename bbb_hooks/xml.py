"""BBB response XML: building answers and reading backend answers safely.

Backend XML is parsed with defusedxml (no DTDs, no entity expansion, no
external references), so a broken or hostile backend cannot make the proxy
fetch files or blow up memory. Shapes follow bbb.md §1.4.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from xml.parsers import expat

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

CONTENT_TYPE = "text/xml"

# messageKey -> BBB's English message (bbb.md §1.4); the gateway's own keys last.
MESSAGES = {
    "checksumError": "Checksums do not match",
    "missingParamMeetingID": "You must specify a meeting ID for the meeting.",
    "missingParamFullName": "You must specify a name for the attendee who will be joining "
                            "the meeting.",
    "invalidMeetingIdentifier": "The meeting ID that you supplied did not match any existing "
                                "meetings",
    "notFound": "We could not find a meeting with that meeting ID - perhaps the meeting is not "
                "yet running?",
    "invalidPassword": "The password you submitted is not valid.",
    "malformedQuery": "The query string is not valid.",
    "duplicateParameter": "A parameter appears more than once.",
    "requestTooLarge": "The request body is too large.",
    "unsupportedRequest": "This request is not supported by the gateway.",
    "unsupportedContentType": "The request body has an unsupported content type.",
    "backendUnavailable": "The BigBlueButton server cannot be reached right now.",
    "backendError": "The BigBlueButton server gave an answer the gateway cannot read.",
    "invalidMeetingType": "The meeting type in meta_privacy-meeting-type is not known.",
    "internalError": "The gateway could not handle this request.",
    "webhooksNotAllowed": "Webhooks would send participants' personal data elsewhere; the "
                          "school's policy does not allow them (bbb.allow_webhooks).",
    "privacyMetadataReadOnly": "The meta_privacy-* keys are set by the privacy gateway and "
                               "cannot be changed.",
    "recordingOnHold": "This recording is on hold (an objection or a legal hold) and cannot "
                       "be changed now.",
    "invalidClientSettings": "The clientSettingsOverride module is not a JSON object inside "
                             "a well-formed <modules> document.",
    "notDoneEverywhere": "The call was not carried out on every BigBlueButton server "
                         "involved.",
    "notForDistribution": "This recording was made for a purpose that does not include "
                          "showing it after the meeting.",
}


# What bbb-web adds to an empty list (bbb.md §1.4; getMeetings: ApiController.groovy).
EMPTY_LIST = {
    "recordings": ("noRecordings", "There are no recordings for the meeting(s)."),
    "meetings": ("noMeetings", "no meetings were found on this server"),
}


class BrokenXML(Exception):
    """A backend answer that is not well-formed, not safe, or not a BBB <response>."""


def response(returncode: str, fields: Sequence[tuple[str, str]] = ()) -> bytes:
    root = ET.Element("response")
    ET.SubElement(root, "returncode").text = returncode
    for tag, text in fields:
        ET.SubElement(root, tag).text = text
    return to_bytes(root)


def failed(message_key: str, message: str | None = None) -> bytes:
    """`<response><returncode>FAILED</returncode><messageKey/><message/></response>`."""
    text = message if message is not None else MESSAGES.get(message_key, "")
    return response("FAILED", [("messageKey", message_key), ("message", text)])


def to_bytes(root: ET.Element) -> bytes:
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False))


def parse(body: bytes) -> ET.Element:
    """A backend `<response>`; BrokenXML for anything else."""
    try:
        root: ET.Element = fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise BrokenXML(type(exc).__name__) from None
    if root.tag != "response" or root.find("returncode") is None:
        raise BrokenXML("not_a_response")
    return root


def check(body: bytes) -> None:
    """Well-formed and DTD-free, without building a tree (for answers passed on as-is).

    Entity tricks (billion laughs, external entities) need a DTD, which is refused.
    """
    head = body.lstrip()[:64]
    if not (head.startswith(b"<response") or head.startswith(b"<?xml")):
        raise BrokenXML("not_a_response")
    parser = expat.ParserCreate()

    def refuse_dtd(*_: object) -> None:
        raise BrokenXML("dtd")

    parser.StartDoctypeDeclHandler = refuse_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise BrokenXML("ExpatError") from None
    if b"<returncode>" not in body:
        raise BrokenXML("not_a_response")


def top_fields(body: bytes, names: Iterable[str]) -> dict[str, str]:
    """The text of the named children of a backend `<response>`, in one expat pass.

    For answers passed on as-is of which the proxy needs a few fields (create:
    returncode, messageKey, internalMeetingID, createTime, passwords): no tree
    is built. As safe as `parse`: a DTD is refused, so no entity can be declared
    and nothing external is fetched; an undeclared entity is an expat error.
    Same values as `ElementTree.find(name).text`: the first such child, its text
    before any grandchild, "" when empty, absent when there is no such child.
    `returncode` is always read (and required).
    """
    wanted = frozenset(names) | {"returncode"}
    fields: dict[str, str] = {}
    depth = 0
    reading: tuple[str, list[str]] | None = None  # (child name, its text so far)

    def start(tag: str, _attrs: object) -> None:
        nonlocal depth, reading
        depth += 1
        if depth == 1 and tag != "response":
            raise BrokenXML("not_a_response")
        if reading is not None:  # a grandchild: ElementTree's .text ends here
            fields[reading[0]] = "".join(reading[1])
            reading = None
        if depth == 2 and tag in wanted and tag not in fields:
            reading = (tag, [])

    def end(_tag: str) -> None:
        nonlocal depth, reading
        if reading is not None:
            fields[reading[0]] = "".join(reading[1])
            reading = None
        depth -= 1

    def data(chunk: str) -> None:
        if reading is not None:
            reading[1].append(chunk)

    def refuse_dtd(*_: object) -> None:
        raise BrokenXML("dtd")

    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.StartDoctypeDeclHandler = refuse_dtd
    try:
        parser.Parse(body, True)
    except expat.ExpatError:
        raise BrokenXML("ExpatError") from None
    if "returncode" not in fields:
        raise BrokenXML("not_a_response")
    return fields


def may_hold_module(body: bytes, name: str) -> bool:
    """Whether the body could hold module `name` for an XML parser, without parsing.

    False only for plain ASCII-compatible XML that spells no `name`, no reference
    (`&#99;` could spell it), no DTD (an entity could) and no NUL (UTF-16 could):
    presentation uploads, large base64 text, stay unparsed.
    """
    head = body.removeprefix(b"\xef\xbb\xbf").lstrip()
    return (name.encode() in body or not head.startswith(b"<") or b"&" in body
            or b"<!" in body or b"\x00" in body)


def rewrite_modules(body: bytes, name: str, rewrite: Callable[[str], str]) -> bytes:
    """A create body (`<modules><module name=…>`) with every module `name`'s text
    replaced by `rewrite(text)`; BrokenXML when the body is not such a document."""
    try:
        root: ET.Element = fromstring(body, forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise BrokenXML(type(exc).__name__) from None
    if root.tag != "modules":
        raise BrokenXML("not_modules")
    for module in root.iter("module"):
        if module.get("name") == name:
            module.text = rewrite(module.text or "")
    return to_bytes(root)


def text(root: ET.Element, path: str) -> str | None:
    node = root.find(path)
    return None if node is None else (node.text or "")


def succeeded(root: ET.Element) -> bool:
    return (text(root, "returncode") or "").strip() == "SUCCESS"


def strip_attendees(root: ET.Element) -> int:
    """Empty every `<attendees>` list (names, user ids: G20); counts stay. Returns removed."""
    removed = 0
    for attendees in root.iter("attendees"):
        removed += len(attendees)
        for child in list(attendees):
            attendees.remove(child)
    return removed


def merge(roots: Iterable[ET.Element], container: str) -> ET.Element:
    """One SUCCESS response holding every `<container>` child of several backends."""
    merged = ET.Element("response")
    ET.SubElement(merged, "returncode").text = "SUCCESS"
    box = ET.SubElement(merged, container)
    for root in roots:
        found = root.find(container)
        if found is not None:
            box.extend(list(found))
    if len(box) == 0 and container in EMPTY_LIST:
        key, message = EMPTY_LIST[container]
        ET.SubElement(merged, "messageKey").text = key
        ET.SubElement(merged, "message").text = message
    return merged
