"""Calls from the gateway to a BBB server, re-signed with that server's secret.

The query string is built once and signed over exactly the bytes sent; yarl
must not re-encode it afterwards (`encoded=True`, bbb.md §1.1 "Gateway
implication"). Form POSTs go on as form POSTs signed over the canonical form.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from yarl import URL

from bbb_hooks import xml
from bbb_hooks.checksum import canonical_form, sign
from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.query import Params
from bbb_hooks.servers import Server
from gateway.login.fetch import FetchError, read_bounded

ACCEPTED_TYPES = ("text/xml", "application/xml")
MAX_ANSWER = 32 * 1024 * 1024  # a whole answer read at once (getMeetings of a busy server)
# BBB's request line ends at 8 KiB (nginx `large_client_header_buffers`, bbb-web's
# Tomcat); "GET ", " HTTP/1.1" and the host part of the proxy URL stay inside this.
GET_LINE_BUDGET = 8000
TOO_LONG_WITH_BODY = ("The parameters are too long for BigBlueButton's request line and the "
                      "body already carries the presentation modules; shorten the welcome "
                      "text or other long parameters.")


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")


def _quote_plus(value: str) -> str:
    # quote_plus leaves exactly these characters alone; most values are made of them.
    return value if _UNRESERVED.fullmatch(value) else quote_plus(value)


def query_string(params: Params) -> str:
    """Byte for byte `urlencode(params)`, without its per-value overhead."""
    return "&".join(f"{_quote_plus(k)}={_quote_plus(v)}" for k, v in params)


def signed_get_url(server: Server, call: str, params: Params) -> URL:
    return URL(server.signed_url(call, query_string(params)), encoded=True)


def _form_post(http: aiohttp.ClientSession, server: Server, call: str,
               params: Params) -> Any:
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


@asynccontextmanager
async def backend_call(http: aiohttp.ClientSession, server: Server, call: str,
                       params: Params,
                       inbound: ApiRequest | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the server; yields a 200 XML response or raises ApiError."""
    url = signed_get_url(server, call, params)
    too_long = len(url.raw_path_qs) > GET_LINE_BUDGET
    if inbound is not None and inbound.body:
        if too_long:  # the body is the XML modules; the parameters cannot move into it
            raise ApiError("requestTooLarge", "too_long_with_body", TOO_LONG_WITH_BODY)
        # BytesIO: a large upload is sent in pieces, not handed to the loop in one write.
        request = http.post(url, data=io.BytesIO(inbound.body),
                            headers={"Content-Type": _body_type(inbound.body_type)},
                            allow_redirects=False)
    elif too_long or (inbound is not None and inbound.form):
        request = _form_post(http, server, call, params)
    else:
        # Never followed: a signed URL goes to the configured server only.
        request = http.get(url, allow_redirects=False)
    try:
        response = await request
    except (TimeoutError, aiohttp.ClientError, OSError):
        raise ApiError("backendUnavailable") from None
    # Only the opening is translated here: an error while the caller reads the answer is
    # the caller's to name (read_all does), and an error writing to the LMS is not the
    # backend's fault at all (proxy._stream).
    async with response:
        if response.status != 200 or response.content_type not in ACCEPTED_TYPES:
            raise ApiError("backendError", f"http_{response.status // 100}xx")
        yield response


async def read_all(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole answer, bounded (getMeetings of a busy server is a few MB at most)."""
    try:
        return await read_bounded(response, limit)
    except FetchError:
        raise ApiError("backendError", "too_large") from None
    except (TimeoutError, aiohttp.ClientError, OSError):
        raise ApiError("backendUnavailable") from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.\-]", version))


async def oldest_version(http: aiohttp.ClientSession,
                         servers: Sequence[Server]) -> str | None:
    """The oldest `bbbVersion` the servers' API roots name (what every server supports);
    "" when the servers answer without one (before BBB 2.5), None when none answers."""
    async def one(server: Server) -> str | None:
        try:
            async with http.get(server.url + "/api", allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=5)) as response:
                root = xml.parse(await read_all(response, 64 * 1024))
        except (ApiError, xml.BrokenXML, TimeoutError, aiohttp.ClientError, OSError):
            return None
        return (xml.text(root, "bbbVersion") or "").strip()

    answers = await asyncio.gather(*(one(s) for s in servers))
    if all(a is None for a in answers):
        return None
    versions = [a for a in answers if a]
    return min(versions, key=_version_key) if versions else ""
