"""Bounded reads of a JSON document from the IdP (discovery, JWKS), and of any body."""

from __future__ import annotations

from typing import Any, Protocol

import aiohttp

MAX_DOCUMENT_BYTES = 256 * 1024


class FetchError(Exception):
    """The document could not be fetched or is not a JSON object."""


class _HasBody(Protocol):
    """A client response or an incoming request (`web.Request`): both stream `content`."""

    @property
    def content(self) -> aiohttp.StreamReader: ...


async def read_bounded(resp: _HasBody, max_bytes: int) -> bytes:
    """The whole body, however it arrives in pieces; FetchError beyond `max_bytes`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in resp.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError("document too large")
        chunks.append(chunk)
    return b"".join(chunks)


async def get_json_object(http: aiohttp.ClientSession, url: str,
                          max_bytes: int = MAX_DOCUMENT_BYTES) -> dict[str, Any]:
    """GET `url` without following redirects: a JSON object of at most `max_bytes`."""
    import json

    try:
        async with http.get(url, allow_redirects=False,
                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status != 200:
                raise FetchError(f"status {resp.status}")
            body = await read_bounded(resp, max_bytes)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FetchError(type(exc).__name__) from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise FetchError("not JSON") from None
    if not isinstance(doc, dict):
        raise FetchError("not a JSON object")
    return doc
