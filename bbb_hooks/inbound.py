"""Reading one BBB API request from an LMS: parameters, body, checksum (bbb.md §1.1).

GET: the checksum covers the raw query string, checksum removed as bbb-web
removes it. POST form bodies: the canonical form (sorted keys, Java URL
encoding) when the URL carries no parameters. POST with an XML body (create
with presentation modules, insertDocument): the URL query is signed and the
body is passed on intact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiohttp import web

from bbb_hooks.checksum import Verifier, canonical_form, strip_checksum
from bbb_hooks.query import Params, QueryError, first, parse_query

CALL_NAME = re.compile(r"[A-Za-z]{1,40}(/[A-Za-z]{1,40})?")
FORM = "application/x-www-form-urlencoded"
# bbb-web takes any other POST body of create/insertDocument as the XML modules, with
# or without a Content-Type (aiohttp calls a missing one application/octet-stream).
# Multipart is refused: its parts would be parameters the checksum does not cover.
REFUSED_BODY_TYPES = ("multipart/form-data", "multipart/mixed")


class ApiError(Exception):
    """A refusal for a BBB API caller: answered as `FAILED` with this messageKey."""

    def __init__(self, message_key: str, reason: str | None = None,
                 message: str | None = None) -> None:
        super().__init__(message_key)
        self.message_key = message_key
        self.reason = reason or message_key
        self.message = message


@dataclass(frozen=True, slots=True)
class ApiRequest:
    call: str
    params: Params  # without the checksum
    frontend: str  # which LMS secret signed it
    body: bytes  # an XML body to pass on (empty for GET and form POSTs)
    body_type: str  # its content type
    form: bool  # the parameters came in a form body

    def param(self, name: str) -> str | None:
        return first(self.params, name)


def call_name(request: web.Request) -> str:
    call = request.match_info.get("call", "")
    if not CALL_NAME.fullmatch(call):
        raise ApiError("unsupportedRequest", "bad_call")
    return call


async def read_request(request: web.Request, verifier: Verifier, max_body: int) -> ApiRequest:
    call = call_name(request)
    raw_query = request.rel_url.raw_query_string
    url_params = parse_query(raw_query)
    body = b""
    body_type = ""
    form_params: Params = ()
    if request.method == "POST":
        body = await read_body(request, max_body)
        body_type = request.content_type
        if body_type == FORM:
            form_params = _form(body)
            body = b""
        elif body_type in REFUSED_BODY_TYPES:
            raise ApiError("unsupportedContentType")
    signed, checksum, params = _signed_string(raw_query, url_params, form_params)
    frontend = verifier.verify(call, signed, checksum)
    return ApiRequest(call=call, params=params, frontend=frontend, body=body,
                      body_type=body_type, form=bool(form_params))


async def read_body(request: web.Request, max_body: int) -> bytes:
    """The request body up to `max_body` (bbb.max_body_bytes), else requestTooLarge.

    Read from the stream with this bound, not with request.read(): the app-wide
    client_max_size is small (nothing unauthenticated may make us buffer much),
    while a create with presentation modules is legitimately large.
    """
    if request.content_length is not None and request.content_length > max_body:
        raise ApiError("requestTooLarge")
    body = bytearray()
    async for chunk in request.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > max_body:
            raise ApiError("requestTooLarge")  # chunked: no length was announced
    return bytes(body)


def _form(body: bytes) -> Params:
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise QueryError("malformedQuery", "A form body must be URL-encoded ASCII.") from None
    return parse_query(text)


def _signed_string(raw_query: str, url_params: Params,
                   form_params: Params) -> tuple[str, str | None, Params]:
    """(the string the checksum covers, the checksum, the parameters without it)."""
    url_names = {k for k, _ in url_params}
    form_names = {k for k, _ in form_params}
    if url_names & form_names:
        # bbb-web answers checksumError when a parameter is in both (bbb.md §1.1).
        raise ApiError("checksumError", "param_in_url_and_body")
    checksum = first(url_params, "checksum") or first(form_params, "checksum")
    url_rest = tuple(p for p in url_params if p[0] != "checksum")
    form_rest = tuple(p for p in form_params if p[0] != "checksum")
    if form_rest:
        if url_rest:
            # bbb-web would leave the body unsigned here; the gateway refuses instead.
            raise QueryError("malformedQuery",
                             "Send parameters either in the URL or in the body, not both.")
        return canonical_form(form_rest), checksum, form_rest
    if checksum is None:
        return raw_query, None, url_rest
    signed = strip_checksum(raw_query, checksum)
    # bbb-web strips the checksum by string replacement; a copy of `checksum=<C>&` spliced
    # into another parameter's name would also be stripped, so the string that verifies
    # differs from what would be forwarded. Forward only exactly what was signed.
    if sum(1 for k, _ in url_params if k == "checksum") != 1:
        raise ApiError("checksumError", "checksum_spliced")
    tail = "&checksum=" + checksum
    # The usual shape: the checksum once, last. Then the stripped string is the query
    # without its last segment, and parses to exactly the other parameters.
    plain = raw_query.endswith(tail) and raw_query.count("checksum=" + checksum) == 1
    if not plain and parse_query(signed) != url_rest:
        raise ApiError("checksumError", "checksum_spliced")
    return signed, checksum, url_rest
