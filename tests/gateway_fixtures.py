"""A running gateway wired to a real OpenID provider, for end-to-end tests.

Other test folders import these: `school_op` starts the real OP with sample
school and consumer accounts; `start_gateway` runs the app on a real port so
browser-like clients and the OP can redirect to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.demo.app import build_demo
from gateway.store.base import Store
from gateway.web import keys
from privacy_gateway import ADAPTERS, create_app
from tests.oidc_provider import OPHandle, start_op
from tests.support import EXAMPLE, ROOT, free_port, make_settings

CLIENT_ID = "privacy-gateway"
TENANT = "c0ffee00-school-tenant"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "teacher": {"sub": "teacher-sub-1", "email": "t.devries@school.example",
                "email_verified": True, "name": "Tamara de Vries", "groups": ["teachers"],
                "tid": TENANT},
    "pupil": {"sub": "pupil-sub-1", "email": "lotte.b@leerling.school.example",
              "email_verified": True, "name": "Lotte Bakker", "groups": ["pupils"],
              "tid": TENANT},
    "staff": {"sub": "staff-sub-1", "email": "conciërge@school.example",
              "email_verified": True, "name": "Ahmed", "groups": ["staff"], "tid": TENANT},
    "consumer": {"sub": "consumer-sub-1", "email": "lotte.bakker2011@gmail.com",
                 "email_verified": True, "name": "Lotte (private)", "groups": ["pupils"],
                 "tid": TENANT},
    "other_tenant": {"sub": "other-sub-1", "email": "kim@school.example",
                     "email_verified": True, "name": "Kim", "groups": ["pupils"],
                     "tid": "another-school-tenant"},
    "unverified": {"sub": "unverified-sub-1", "email": "new.pupil@school.example",
                   "email_verified": False, "name": "New", "groups": ["pupils"],
                   "tid": TENANT},
}


@contextlib.contextmanager
def school_op(tmp_path: Path, gateway_port: int, secret: str,
              alg: str = "RS256") -> Iterator[OPHandle]:
    base = f"http://127.0.0.1:{gateway_port}"
    client = {"client_id": CLIENT_ID, "client_secret": secret,
              "redirect_uris": [base + "/oidc/callback"],
              "post_logout_redirect_uris": [base + "/logged-out"],
              "id_token_signed_response_alg": alg}
    with start_op(tmp_path, clients=[client], accounts=ACCOUNTS) as op:
        yield op


class SchoolEnv:
    """A running school OP and the port the gateway under test will listen on."""

    def __init__(self, op: OPHandle, port: int, secret: str) -> None:
        self.op, self.port, self.secret = op, port, secret
        self.base = f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def school_env(tmp_path_factory: Any, name: str) -> Iterator[SchoolEnv]:
    """For a module-scoped fixture: one OP per test module (it takes ~0.7 s to start)."""
    port, secret = free_port(), new_secret()
    with school_op(tmp_path_factory.mktemp(name), port, secret) as op:
        yield SchoolEnv(op, port, secret)


def school_idp(tmp_path: Path, op: OPHandle, secret: str) -> dict[str, Any]:
    """The school's provider block of a policy: the test OP, its client secret in a file."""
    secret_file = tmp_path / "client.secret"
    secret_file.write_text(secret)
    return {"name": "school", "issuer": op.issuer, "client_id": CLIENT_ID,
            "client_secret_file": str(secret_file),
            "scopes": ["openid", "email", "profile", "school"],
            "allowed_email_domains": ["school.example", ".school.example"],
            "tenant_claim": "tid", "allowed_tenants": [TENANT],
            "roles": {"teacher": ["teachers"], "pupil": ["pupils"], "staff": ["staff"]}}


def gateway_settings(tmp_path: Path, op: OPHandle, gateway_port: int, secret: str,
                     changes: dict[str, Any] | None = None) -> Settings:
    base: dict[str, Any] = {
        "gateway": {"public_url": f"http://127.0.0.1:{gateway_port}"},
        "dev_idp": {"enabled": False},
        "identity": {"providers": [school_idp(tmp_path, op, secret)]},
    }
    from tests.support import deep_merge

    return make_settings(tmp_path, deep_merge(base, changes or {}))


@contextlib.asynccontextmanager
async def start_gateway(settings: Settings, port: int, *, clock: Clock | None = None,
                        store: Store | None = None,
                        wait_ready: bool = True) -> AsyncIterator[web.Application]:
    app = create_app(settings, clock=clock, store=store)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        if wait_ready:
            await wait_for_idp(app)
        yield app
    finally:
        await server.close()


async def wait_for_idp(app: web.Application, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not app[keys.OIDC].ready():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the gateway did not discover the IdP in time")
        await asyncio.sleep(0.05)


def browser() -> aiohttp.ClientSession:
    """A browser-like client: cookies for 127.0.0.1 kept, redirects followed by hand."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def gateway_port() -> int:
    return free_port()


@contextlib.asynccontextmanager
async def serve_demo(folder: Path) -> AsyncIterator[tuple[str, web.Application]]:
    """The demo as `privacy-gateway demo` builds it (gateway.demo.app), on a free port."""
    shutil.copy(EXAMPLE, folder / "example.toml")
    shutil.copytree(ROOT / "config" / "dev-secrets", folder / "dev-secrets")
    port = free_port()
    app = build_demo(folder / "example.toml", "127.0.0.1", port, ADAPTERS)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    try:
        await wait_for_idp(app)
        yield f"http://localhost:{port}", app
    finally:
        await server.close()
