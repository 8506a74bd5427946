"""A gateway with the BBB adapter on, in front of one or more BBB emulators."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from gateway.clock import Clock
from gateway.demo.bbb_server import BBBEmulator
from gateway.store.base import Store
from gateway.web import keys
from privacy_gateway import create_app
from tests.support import deep_merge, free_port, make_settings


def new_secret() -> str:
    return secrets.token_hex(24)  # 48 characters


def lms_url(base: str, call: str, params: Sequence[tuple[str, str]], secret: str,
            algorithm: str = "sha256") -> URL:
    """What an LMS sends: urlencoded query, checksum over exactly that string."""
    query = urlencode(list(params))
    checksum = hashlib.new(algorithm, (call + query + secret).encode()).hexdigest()
    sep = "&" if query else ""
    return URL(f"{base}/bigbluebutton/api/{call}?{query}{sep}checksum={checksum}", encoded=True)


@dataclass
class Gateway:
    app: web.Application
    server: TestServer | web.AppRunner
    base: str
    lms_secret: str
    emulators: list[BBBEmulator]

    def url(self, call: str, params: Sequence[tuple[str, str]] = (),
            algorithm: str = "sha256", secret: str | None = None) -> URL:
        return lms_url(self.base, call, params, secret or self.lms_secret, algorithm)

    @property
    def metrics(self) -> Any:
        return self.app[keys.METRICS]

    @property
    def store(self) -> Store:
        return self.app[keys.STORE]

    async def close(self) -> None:
        if isinstance(self.server, web.AppRunner):
            await self.server.cleanup()
        else:
            await self.server.close()


def bbb_changes(tmp_path: Path, emulators: Sequence[BBBEmulator], lms_secrets: Sequence[str],
                **bbb: Any) -> dict[str, Any]:
    servers = []
    for i, emu in enumerate(emulators):
        path = tmp_path / f"bbb{i}.secret"
        path.write_text(emu.secret)
        servers.append({"name": f"bbb{i + 1}", "url": emu.url, "secret_file": str(path),
                        "checksum_algorithm": "sha256"})
    frontends = []
    for i, secret in enumerate(lms_secrets):
        path = tmp_path / f"lms{i}.secret"
        path.write_text(secret)
        frontends.append({"name": f"lms-{i}", "secret_file": str(path)})
    return {"bbb": {"enabled": True, "servers": servers, "frontends": frontends, **bbb}}


async def start_gateway(tmp_path: Path, emulators: Sequence[BBBEmulator], *,
                        changes: dict[str, Any] | None = None,
                        lms_secrets: Sequence[str] | None = None,
                        clock: Clock | None = None, store: Store | None = None,
                        port: int | None = None, as_deployed: bool = False,
                        **bbb: Any) -> Gateway:
    """A gateway on a free port. `as_deployed`: served like `privacy-gateway serve`
    (web.run_app does not cancel a handler when its client hangs up; TestServer does)."""
    lms = list(lms_secrets or [new_secret()])
    port = port or free_port()
    base_changes = bbb_changes(tmp_path, emulators, lms, **bbb)
    base_changes["gateway"] = {"public_url": f"http://127.0.0.1:{port}"}
    base_changes["dev_idp"] = {"enabled": False}
    settings = make_settings(tmp_path, deep_merge(base_changes, changes or {}))
    app = create_app(settings, clock=clock, store=store)
    server: TestServer | web.AppRunner
    if as_deployed:
        server = web.AppRunner(app, handler_cancellation=False)
        await server.setup()
        await web.TCPSite(server, "127.0.0.1", port).start()
    else:
        server = TestServer(app, host="127.0.0.1", port=port)
        await server.start_server()
    return Gateway(app, server, f"http://127.0.0.1:{port}", lms[0], list(emulators))


async def get_xml(session: aiohttp.ClientSession, url: URL | str,
                  **kwargs: Any) -> tuple[int, str, str]:
    """(status, content type, body) without following redirects."""
    async with session.get(url, allow_redirects=False, **kwargs) as response:
        return response.status, response.content_type, await response.text()
