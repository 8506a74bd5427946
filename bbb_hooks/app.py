"""BBB adapter wiring: routes, the BBB client session, error renderer, readiness."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bbb_hooks import join, playback_web
from bbb_hooks.app_keys import PROXY
from bbb_hooks.checksum import FrontendSecret, Verifier
from bbb_hooks.meetings import record_ttl
from bbb_hooks.proxy import BBBProxy, render_error
from bbb_hooks.servers import ServerPool
from bbb_hooks.upstream import Upstream
from gateway.web import keys

log = logging.getLogger(__name__)

API_PREFIX = "/bigbluebutton/api"


def build_proxy(app: web.Application, http: aiohttp.ClientSession,
                upstream: Upstream | None = None) -> BBBProxy:
    settings = app[keys.SETTINGS]
    bbb = settings.policy.bbb
    frontends = [FrontendSecret(f.name, settings.secrets.get(f"bbb.frontends[{i}].secret"))
                 for i, f in enumerate(bbb.frontends)]
    ttl = record_ttl(settings.policy)
    return BBBProxy(
        settings=settings, verifier=Verifier(frontends, bbb.checksum_algorithms),
        pool=ServerPool.from_settings(settings, app[keys.STORE], ttl), store=app[keys.STORE],
        metrics=app[keys.METRICS], clock=app[keys.CLOCK], record_ttl=ttl, http=http,
        upstream=upstream)


async def _proxy_ctx(app: web.Application) -> AsyncIterator[None]:
    """The proxy, built whole with our own client session: many connections to few
    hosts, longer reads for uploads.

    Kept-alive connections are reused across calls. No cookie jar: the API is
    stateless and a cookie a BBB answer sets must not ride along on later calls.
    """
    http = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=1024, limit_per_host=512, keepalive_timeout=30),
        timeout=aiohttp.ClientTimeout(total=120, connect=5, sock_read=60),
        headers={"User-Agent": "privacy-gateway"}, trust_env=False, auto_decompress=True,
        cookie_jar=aiohttp.DummyCookieJar())
    # Plain GETs read whole (getMeetings, create, ...): the same limits, a leaner client.
    upstream = Upstream(connect_timeout=5, total_timeout=120, read_timeout=60, keepalive=30,
                        limit_per_host=512, user_agent="privacy-gateway")
    app[PROXY] = build_proxy(app, http, upstream)
    yield
    await upstream.close()
    await http.close()


async def _api_root(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].api_root(request)


async def _api(request: web.Request) -> web.StreamResponse:
    return await request.app[PROXY].api(request)


def setup(app: web.Application) -> None:
    if "sha1" in app[keys.SETTINGS].policy.bbb.checksum_algorithms:
        log.warning("sha1 checksums accepted from LMSs (bbb.checksum_algorithms): enable only "
                    "for an old LMS and remove soon", extra={"event": "bbb_sha1_enabled"})
    app.cleanup_ctx.append(_proxy_ctx)
    app.router.add_get(API_PREFIX, _api_root)
    app.router.add_get(API_PREFIX + "/", _api_root)
    app.router.add_route("GET", API_PREFIX + "/{call:.+}", _api)
    app.router.add_route("POST", API_PREFIX + "/{call:.+}", _api)
    app.router.add_get("/bbb/join/{ticket}", join.join_page)
    playback_web.add_routes(app)  # protected playback (G14, G17)
    app[keys.ERROR_RENDERERS].append((API_PREFIX, render_error))

    async def ready() -> bool:
        """At least one BBB server answers its API root."""
        proxy = app[PROXY]

        async def one(url: str) -> bool:
            try:
                async with proxy.http.get(url + "/api",
                                          timeout=aiohttp.ClientTimeout(total=3)) as r:
                    return r.status == 200
            except (TimeoutError, aiohttp.ClientError, OSError):
                return False
        return any(await asyncio.gather(*(one(s.url) for s in proxy.pool.servers)))

    app[keys.READINESS]["bbb"] = ready
