"""The proxy's calls to a BBB server, through the one client (bbb_hooks.client).

The client raises BBBError; the LMS gets BBB's own vocabulary instead
(ApiError: FAILED with backendUnavailable, backendError or requestTooLarge),
with the client's bounded reason for logs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp

from bbb_hooks import client
from bbb_hooks.client import MAX_ANSWER as MAX_ANSWER
from bbb_hooks.client import BBBError
from bbb_hooks.inbound import ApiError, ApiRequest
from bbb_hooks.query import Params
from bbb_hooks.servers import Server
from bbb_hooks.upstream import Upstream

TOO_LONG_WITH_BODY = ("The parameters are too long for BigBlueButton's request line and the "
                      "body already carries the presentation modules; shorten the welcome "
                      "text or other long parameters.")


def api_error(exc: BBBError) -> ApiError:
    """What the LMS is told about a failed call to BBB."""
    if exc.reason == "too_long":
        return ApiError("requestTooLarge", "too_long_with_body", TOO_LONG_WITH_BODY)
    unavailable = exc.reason in ("unavailable", "timeout")
    return ApiError("backendUnavailable" if unavailable else "backendError", exc.reason)


@asynccontextmanager
async def backend_call(http: aiohttp.ClientSession, server: Server, call: str,
                       params: Params,
                       inbound: ApiRequest | None = None) -> AsyncIterator[aiohttp.ClientResponse]:
    """One request to the server; yields a 200 XML response or raises ApiError.

    The inbound request's XML body goes on as the body; its form goes on as a form.
    """
    try:
        async with client.opened(
                http, server, call, params,
                body=inbound.body if inbound is not None else b"",
                body_type=inbound.body_type if inbound is not None else "",
                form=inbound is not None and inbound.form) as response:
            yield response
    except BBBError as exc:
        raise api_error(exc) from None


async def fetch_all(http: aiohttp.ClientSession, upstream: Upstream | None, server: Server,
                    call: str, params: Params, inbound: ApiRequest | None = None,
                    limit: int = MAX_ANSWER) -> bytes:
    """The whole answer of one call, bounded; ApiError as backend_call and read_all name
    failures. Plain GETs go through the kept-alive pool (bbb_hooks.upstream); a call
    with a body or a form, or one the pool does not take, through aiohttp."""
    if upstream is not None and (inbound is None or not (inbound.body or inbound.form)):
        try:
            body = await client.fetch(upstream, server, call, params, limit)
        except BBBError as exc:
            raise api_error(exc) from None
        if body is not None:
            return body
    async with backend_call(http, server, call, params, inbound) as response:
        return await read_all(response, limit)


async def read_all(response: aiohttp.ClientResponse, limit: int) -> bytes:
    """The whole answer, bounded (getMeetings of a busy server is a few MB at most)."""
    try:
        return await client.read_answer("", response, limit)
    except BBBError as exc:
        raise api_error(exc) from None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.\-]", version))


async def oldest_version(http: aiohttp.ClientSession,
                         servers: Sequence[Server]) -> str | None:
    """The oldest `bbbVersion` the servers' API roots name (what every server supports);
    "" when the servers answer without one (before BBB 2.5), None when none answers."""
    answers = await asyncio.gather(*(client.root_version(http, s) for s in servers))
    if all(a is None for a in answers):
        return None
    versions = [a for a in answers if a]
    return min(versions, key=_version_key) if versions else ""
