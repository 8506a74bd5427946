"""The application factory: one place that wires settings, resources and routes."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from gateway.adapter import Adapter
from gateway.audit.log import audit_log
from gateway.background import BackgroundTasks
from gateway.clock import Clock, SystemClock
from gateway.config.loading import Settings
from gateway.guard import approvals
from gateway.login import devidp
from gateway.login import routes as login
from gateway.login.oidc import OIDCRegistry
from gateway.metrics import Metrics
from gateway.playback import web as playback_web
from gateway.pseudonym import Pseudonymiser
from gateway.retention import objections_web
from gateway.store.base import MemoryStore, Store
from gateway.store.redis_store import RedisStore
from gateway.web import home, i18n, keys, pages, static_files
from gateway.web.shell import (
    context_middleware,
    csrf_middleware,
    error_middleware,
    security_headers,
    undecodable_middleware,
)

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent


def _setups(settings: Settings,
            adapters: Sequence[Adapter]) -> list[Callable[[web.Application], None]]:
    """The platform adapters this policy turns on, each adding its own routes and tasks."""
    setups = [adapter.setup for adapter in adapters if adapter.enabled(settings)]
    from gateway.retention.wiring import setup as setup_retention  # sweeper + objections (G12, G16)

    setups.append(setup_retention)
    return setups


def make_store(settings: Settings, clock: Clock) -> Store:
    prefix = settings.policy.store.key_prefix
    if settings.secrets.has("store.redis_url"):
        return RedisStore.from_url(settings.secrets.get("store.redis_url").decode(), prefix)
    return MemoryStore(prefix, clock)


def create_app(settings: Settings, *, adapters: Sequence[Adapter], clock: Clock | None = None,
               store: Store | None = None) -> web.Application:
    """The gateway with the given platform adapters (the entry point names them)."""
    app = web.Application(
        middlewares=[undecodable_middleware, context_middleware, security_headers,
                     error_middleware, csrf_middleware],
        # Forms and hooks are small; the BBB proxy reads its larger bodies itself, bounded
        # by bbb.max_body_bytes, so nothing unauthenticated can make us buffer 64 MiB.
        client_max_size=1024 * 1024,
        # Request lines up to 256 KiB reach the app (aiohttp stops at 8 KiB and answers
        # plain text echoing the URL): the BBB API refuses past its own, documented
        # limit in BBB XML (bbb_hooks.query.MAX_QUERY_CHARS, config/bbb/README.md).
        handler_args={"max_line_size": 256 * 1024},
    )
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock if clock is not None else SystemClock()
    app[keys.STORE] = store if store is not None else make_store(settings, app[keys.CLOCK])
    app[keys.METRICS] = Metrics()
    app[keys.PSEUDONYMS] = Pseudonymiser(settings.secrets.get("gateway.pseudonym_key"))
    app[keys.AUDIT] = audit_log(settings, app[keys.STORE], app[keys.CLOCK])
    app[keys.ERROR_RENDERERS] = []
    app[keys.READINESS] = {}
    app[keys.PLATFORMS] = tuple(adapters)
    app[keys.BACKGROUND] = BackgroundTasks()
    app[i18n.MESSAGES_KEY] = i18n.Messages(
        i18n.MESSAGES, pages.MESSAGES, approvals.MESSAGES, playback_web.MESSAGES,
        objections_web.MESSAGES, home.MESSAGES, devidp.MESSAGES,
        *(c for adapter in adapters for c in adapter.messages))
    template_dirs = [_HERE / "templates", *(a.template_dir for a in adapters if a.template_dir)]
    aiohttp_jinja2.setup(
        app, loader=jinja2.FileSystemLoader([str(d) for d in template_dirs if d.is_dir()]),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_oidc_ctx)
    pages.setup(app)
    login.setup(app)
    approvals.add_routes(app)  # G11: the officer's register of approved exceptions
    playback_web.setup(app)  # G14: who may watch a recording, for every platform
    static_files.add_static(app.router, "/static", _HERE / "static", name="static",
                            icon="favicon.svg")
    if settings.policy.dev_idp.enabled:
        from gateway.login.devidp import setup as setup_dev_idp

        setup_dev_idp(app)
    for setup in _setups(settings, adapters):
        setup(app)
    app.cleanup_ctx.append(_services_ctx)  # after the adapters' own start-up contexts
    return app


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    """The enabled adapters' declared background services, on the shared base."""
    settings = app[keys.SETTINGS]
    services = [service for adapter in app[keys.PLATFORMS] if adapter.enabled(settings)
                for service in adapter.background(app)]
    async with app[keys.BACKGROUND].serving(services):
        yield


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    yield
    await app[keys.STORE].close()


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=15, connect=5),
        headers={"User-Agent": "privacy-gateway"},
        trust_env=False,
    )
    app[keys.HTTP] = session
    yield
    await session.close()


async def _oidc_ctx(app: web.Application) -> AsyncIterator[None]:
    registry = OIDCRegistry(app[keys.SETTINGS], app[keys.HTTP], app[keys.CLOCK],
                            app[keys.METRICS])
    app[keys.OIDC] = registry
    # Discovery ends once every IdP answered: finishing is not a crash.
    async with app[keys.BACKGROUND].running("oidc-discovery", registry.discover_forever(),
                                            forever=False):
        yield
