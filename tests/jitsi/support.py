"""Helpers for the Jitsi tests: a Jitsi-enabled policy, seeded sessions, signed events."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.config.loading import Settings
from gateway.login.sessions import COOKIE_DEV, new_session
from gateway.policy.model import Role
from gateway.store.base import MemoryStore
from gateway.web import keys
from tests.support import deep_merge, demo_settings, free_port, make_settings

JITSI_BASE = "https://meet.school.example"
APP_ID = "privacy-gateway"
AUDIENCE = "jitsi"
SUBJECT = "meet.school.example"


def jitsi_settings(tmp_path: Path, changes: dict[str, Any] | None = None,
                   port: int | None = None) -> Settings:
    """A Jitsi-enabled example policy; with `port`, served on 127.0.0.1:port (dev IdP)."""
    (tmp_path / "app.secret").write_text(secrets.token_urlsafe(48))
    (tmp_path / "hook.secret").write_text(secrets.token_urlsafe(48))
    jitsi = {"enabled": True, "base_url": JITSI_BASE, "app_id": APP_ID, "audience": AUDIENCE,
             "subject": SUBJECT, "app_secret_file": str(tmp_path / "app.secret"),
             "hook_secret_file": str(tmp_path / "hook.secret"), "token_ttl_seconds": 600,
             "room_rules": [{"prefix": "vertrouwelijk-", "meeting_type": "confidential"},
                            {"prefix": "team-", "meeting_type": "meeting"}]}
    merged = deep_merge({"jitsi": jitsi}, changes or {})
    if port is not None:
        return demo_settings(tmp_path, port, merged)
    return make_settings(tmp_path, merged)


PEOPLE: dict[Role, tuple[str, str]] = {
    "teacher": ("Tamara de Vries", "t.devries@school.example"),
    "pupil": ("Lotte Bakker", "lotte.b@leerling.school.example"),
    "staff": ("Ahmed", "ahmed@school.example"),
    "guest": ("Gast", "gast@school.example"),
}


async def seed_session(app: web.Application, role: Role, subject: str | None = None) -> str:
    """A logged-in browser's cookie header value, as after a school login."""
    name, email = PEOPLE[role]
    subject = subject or f"{role}-sub"
    person = app[keys.PSEUDONYMS].person("https://idp.school.example", subject)
    session = new_session(issuer="https://idp.school.example", subject=subject, idp="demo",
                          role=role, person=person, name=name, email=email,
                          now=app[keys.CLOCK].time())
    session_id = secrets.token_urlsafe(32)
    from dataclasses import asdict

    key = "session:" + hashlib.sha256(session_id.encode()).hexdigest()
    await app[keys.STORE].set(key, json.dumps(asdict(session)).encode(), 3600)
    return f"{COOKIE_DEV}={session_id}"


def person_of(app: web.Application, role: Role, subject: str | None = None) -> str:
    return app[keys.PSEUDONYMS].person("https://idp.school.example", subject or f"{role}-sub")


def hook_secret(settings: Settings) -> bytes:
    return settings.secrets.get("jitsi.hook_secret")


def signed(settings: Settings, event: dict[str, Any], now: float) -> tuple[bytes, dict[str, str]]:
    body = json.dumps({"id": secrets.token_hex(8), **event}).encode()
    timestamp = str(int(now))
    signature = "sha256=" + hmac.new(hook_secret(settings), timestamp.encode() + b"." + body,
                                     hashlib.sha256).hexdigest()
    return body, {"X-Privacy-Gateway-Timestamp": timestamp,
                  "X-Privacy-Gateway-Signature": signature,
                  "Content-Type": "application/json"}


async def csrf_of(app: web.Application, cookie: str) -> str:
    session_id = cookie.split("=", 1)[1]
    raw = await app[keys.STORE].get("session:" + hashlib.sha256(session_id.encode()).hexdigest())
    assert raw is not None
    csrf: str = json.loads(raw)["csrf"]
    return csrf


class CountingStore(MemoryStore):
    """A MemoryStore that counts reads per key family (`jitsi:room`, `jitsi:occ`, ...), to
    prove a hot path reads each thing once."""

    def __init__(self) -> None:
        super().__init__("pgwtest")
        self.reads: Counter[str] = Counter()

    def __bool__(self) -> bool:
        return True  # create_app(store=...) tests `store or ...`; an empty store has len 0

    def count(self, key: str) -> None:
        self.reads[":".join(key.split(":")[:2])] += 1

    async def get(self, key: str) -> bytes | None:
        self.count(key)
        return await super().get(key)

    async def hgetall(self, key: str) -> dict[str, bytes]:
        self.count(key)
        return await super().hgetall(key)


async def enter_room(client: Any, query: str, cookie: str) -> Any:
    """GET /jitsi/auth as Jitsi's tokenAuthUrl does; the first time in a room that is the
    room's notice (G18), which the person continues from with one click (the form)."""
    import re

    resp = await client.get("/jitsi/auth?" + query, headers={"Cookie": cookie},
                            allow_redirects=False)
    if resp.status != 200:
        return resp
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                             await resp.text()))
    import html

    form = {k: html.unescape(v) for k, v in fields.items()}
    return await client.post("/jitsi/auth", data=form, headers={"Cookie": cookie},
                             allow_redirects=False)


@contextlib.asynccontextmanager
async def jitsi_host(external_api_js: str) -> AsyncIterator[str]:
    """A stand-in Jitsi web server that serves `external_api_js` as /external_api.js;
    its base URL."""
    app = web.Application()

    async def external_api(request: web.Request) -> web.Response:
        return web.Response(text=external_api_js, content_type="application/javascript")

    app.router.add_get("/external_api.js", external_api)
    server = TestServer(app, host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()
