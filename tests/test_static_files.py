"""The gateway's own CSS, scripts and icons: from memory, with the right types and ETags."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from privacy_gateway import create_app


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[TestClient]:  # type: ignore[type-arg]
    from tests.jitsi.support import jitsi_settings

    async with TestClient(TestServer(create_app(jitsi_settings(tmp_path)))) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "content_type"), [
    ("/static/gateway.css", "text/css"), ("/static/favicon.svg", "image/svg+xml"),
    ("/static/bbb-background.png", "image/png"),
    ("/jitsi-static/meeting.js", "text/javascript"), ("/jitsi-static/meeting.css", "text/css")])
async def test_served_with_type_and_revalidated(client: TestClient, path: str,  # type: ignore[type-arg]
                                                content_type: str) -> None:
    resp = await client.get(path)
    assert resp.status == 200 and resp.content_type == content_type
    assert len(await resp.read()) > 0
    etag = resp.headers["ETag"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and not await again.read()


@pytest.mark.parametrize("path", ["/static/nothing.css", "/static/../app.py",
                                  "/static/%2e%2e/app.py", "/jitsi-static/..%2fapp.py"])
async def test_nothing_outside_the_folder(client: TestClient, path: str) -> None:  # type: ignore[type-arg]
    resp = await client.get(path)
    assert resp.status == 404
