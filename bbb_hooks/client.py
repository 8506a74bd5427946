"""The one client for BBB's API: every call the gateway makes to a BBB server.

The proxy (bbb_hooks.backend), the recording guard (bbb_hooks.guard_api) and the
sweeper's recording source (bbb_hooks.recordings) all go through here, so there
is one signing path and one error type.

- Signing: `checksum = HASH(call + query + secret)` with the server's algorithm,
  over exactly the bytes sent (bbb.md §1.1). The query is built once and yarl
  must not re-encode it (`encoded=True`): it would turn `%2C` of a multi-id
  `recordID=a,b` back into `,` and break the checksum.
- A call whose request line would pass BBB's 8 KiB goes as a form POST signed
  over the canonical form (sorted keys, Java URL encoding), as bbb-web checks it.
- Every failure is a `BBBError` whose `reason` is one of `REASONS` (a bounded
  label for logs and metrics); `message_key` is BBB's own when it said FAILED.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET  # element types only; parsing is defused (bbb_hooks.xml)
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from yarl import URL

from bbb_hooks import xml
from bbb_hooks.checksum import canonical_form, sign
from bbb_hooks.query import Params
from bbb_hooks.servers import Server
from bbb_hooks.upstream import Refused, TooLarge, Upstream, split_url
from gateway.login.fetch import FetchError, read_bounded

ACCEPTED_TYPES = ("text/xml", "application/xml")
MAX_ANSWER = 32 * 1024 * 1024  # a whole answer read at once (getMeetings of a busy server)
# BBB's request line ends at 8 KiB (nginx `large_client_header_buffers`, bbb-web's
# Tomcat); "GET ", " HTTP/1.1" and the host part of the proxy URL stay inside this.
GET_LINE_BUDGET = 8000

# Every `BBBError.reason`: what went wrong, never which meeting or recording.
REASONS = frozenset({
    "unavailable",  # no connection, or it broke
    "timeout",  # the session's timeout ran out
    "http_status",  # not a 200 XML answer
    "too_large",  # an answer beyond the bound the caller reads
    "too_long",  # parameters too long for the request line while a body is sent
    "broken_xml",  # not a well-formed BBB answer
    "failed",  # BBB answered FAILED (its messageKey in `message_key`)
})


class BBBError(Exception):
    """A BBB call that did not succeed; `reason` is one of REASONS."""

    def __init__(self, server: str, reason: str, message_key: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown BBB failure reason {reason!r}")
        super().__init__(f"{server}: {reason}" + (f" ({message_key})" if message_key else ""))
        self.server = server
        self.reason = reason
        self.message_key = message_key  # BBB's own, when it answered FAILED


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote_plus(value: str) -> str:
    # quote_plus leaves exactly these characters alone; most values are made of them.
    return value if _UNRESERVED.fullmatch(value) else quote_plus(value)


def query_string(params: Params) -> str:
    """Byte for byte `urlencode(params)`, without its per-value overhead."""
    return "&".join(f"{_quote_plus(k)}={_quote_plus(v)}" for k, v in params)


def signed_text(server: Server, call: str, params: Params) -> str:
    """`…/api/call?query&checksum=…` as text, exactly as signed."""
    query = query_string(params)
    checksum = sign(call, query, server.secret, server.algorithm)
    sep = "&" if query else ""
    return f"{server.api_url(call)}?{query}{sep}checksum={checksum}"


def signed_url(server: Server, call: str, params: Params) -> URL:
    """`call?query&checksum=…`, to be sent (or handed to a browser) exactly as signed."""
    return URL(signed_text(server, call, params), encoded=True)


def _form_post(http: aiohttp.ClientSession, server: Server, call: str, params: Params) -> Any:
    """The call as a form POST with an empty URL query: bbb-web then signs the canonical
    form (sorted keys, Java URL encoding; bbb.md §1.1), so the checksum is over that."""
    form = canonical_form(params)
    checksum = sign(call, form, server.secret, server.algorithm)
    return http.post(URL(server.api_url(call), encoded=True),
                     data=(form + "&checksum=" + checksum).encode(),
                     headers={"Content-Type": "application/x-www-form-urlencoded"},
                     allow_redirects=False)


def _body_type(content_type: str) -> str:
    # bbb-web reads a create/insertDocument body whatever its type; BBB gets it as XML.
    return content_type if content_type in ACCEPTED_TYPES else "text/xml"


def _failure(server: str, exc: BaseException) -> BBBError:
    # aiohttp's ServerTimeoutError is a ClientError too: the timeout is named first.
    return BBBError(server, "timeout" if isinstance(exc, TimeoutError) else "unavailable")


@asynccontextmanager
async def opened(http: aiohttp.ClientSession, server: Server, call: str, params: Params, *,
                 body: bytes = b"", body_type: str = "",
                 form: bool = False) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the server; yields a 200 XML response or raises BBBError.

    `body`: XML modules (create, insertDocument) sent as the POST body, the parameters
    signed in the URL. `form`: the parameters go as a form POST (also when too long).
    """
    url = signed_url(server, call, params)
    too_long = len(url.raw_path_qs) > GET_LINE_BUDGET
    if body:
        if too_long:  # the body is the XML modules; the parameters cannot move into it
            raise BBBError(server.name, "too_long")
        # BytesIO: a large upload is sent in pieces, not handed to the loop in one write.
        request = http.post(url, data=io.BytesIO(body),
                            headers={"Content-Type": _body_type(body_type)},
                            allow_redirects=False)
    elif too_long or form:
        request = _form_post(http, server, call, params)
    else:
        # Never followed: a signed URL goes to the configured server only.
        request = http.get(url, allow_redirects=False)
    try:
        response = await request
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _failure(server.name, exc) from None
    # Only the opening is translated here: an error while the caller reads the answer is
    # the caller's to name (read_answer does), and an error writing to the LMS is not
    # the backend's fault at all (proxy._stream).
    async with response:
        if response.status != 200 or response.content_type not in ACCEPTED_TYPES:
            raise BBBError(server.name, "http_status")
        yield response


async def read_answer(server: str, response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole answer, bounded (getMeetings of a busy server is a few MB at most)."""
    try:
        return await read_bounded(response, limit)
    except FetchError:
        raise BBBError(server, "too_large") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _failure(server, exc) from None


async def fetch(upstream: Upstream, server: Server, call: str, params: Params,
                limit: int = MAX_ANSWER) -> bytes | None:
    """A plain GET's whole answer through the kept-alive pool (bbb_hooks.upstream), as
    `opened` and `read_answer` would give it: a 200 XML answer or BBBError.

    None when the call is not for the pool (too long for BBB's request line: it goes
    as a form POST through `opened`; a server URL the pool does not take)."""
    url = signed_text(server, call, params)
    try:
        if len(split_url(url)[1]) > GET_LINE_BUDGET:
            return None
        status, content_type, body = await upstream.get(url, limit)
    except Refused:
        return None
    except TooLarge:
        raise BBBError(server.name, "too_large") from None
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise _failure(server.name, exc) from None
    if status != 200 or content_type not in ACCEPTED_TYPES:
        raise BBBError(server.name, "http_status")
    return body


async def answer(http: aiohttp.ClientSession, server: Server, call: str, params: Params,
                 limit: int = MAX_ANSWER) -> ET.Element:
    """One call's parsed answer, SUCCESS or FAILED alike (the caller judges which)."""
    async with opened(http, server, call, params) as response:
        body = await read_answer(server.name, response, limit)
    try:
        return xml.parse(body)
    except xml.BrokenXML:
        raise BBBError(server.name, "broken_xml") from None


async def succeeded(http: aiohttp.ClientSession, server: Server, call: str, params: Params,
                    limit: int = MAX_ANSWER) -> ET.Element:
    """One call's SUCCESS answer; FAILED is BBBError `failed` with BBB's messageKey."""
    root = await answer(http, server, call, params, limit)
    if not xml.succeeded(root):
        raise BBBError(server.name, "failed", xml.text(root, "messageKey") or "FAILED")
    return root


async def root_version(http: aiohttp.ClientSession, server: Server) -> str | None:
    """The `bbbVersion` of the server's API root ("" when it names none, before BBB 2.5),
    None when it does not answer. The root is not signed."""
    try:
        async with http.get(server.url + "/api", allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=5)) as response:
            root = xml.parse(await read_answer(server.name, response, 64 * 1024))
    except (BBBError, xml.BrokenXML, TimeoutError, aiohttp.ClientError, OSError):
        return None
    return (xml.text(root, "bbbVersion") or "").strip()
