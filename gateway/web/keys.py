"""Every typed application key in one place (aiohttp AppKey; no string keys)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web

from gateway.adapter import Adapter
from gateway.audit.log import AuditLog
from gateway.background import BackgroundTasks
from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.login.oidc import OIDCRegistry
from gateway.metrics import Metrics
from gateway.pseudonym import Pseudonymiser
from gateway.store.base import Store

ErrorRenderer = Callable[[web.Request, Exception], Awaitable[web.StreamResponse]]

SETTINGS = web.AppKey("settings", Settings)
CLOCK = web.AppKey("clock", Clock)
STORE = web.AppKey("store", Store)
HTTP = web.AppKey("http", aiohttp.ClientSession)
METRICS = web.AppKey("metrics", Metrics)
AUDIT = web.AppKey("audit", AuditLog)
OIDC = web.AppKey("oidc", OIDCRegistry)
# Long-running work (OIDC discovery, sweeper, guard): one start/stop, one health.
BACKGROUND = web.AppKey("background", BackgroundTasks)
PSEUDONYMS = web.AppKey("pseudonyms", Pseudonymiser)
# (path prefix, renderer): errors under a prefix are answered in the caller's format.
ERROR_RENDERERS = web.AppKey("error_renderers", list[tuple[str, ErrorRenderer]])
# Extra readiness checks added by adapters: name -> coroutine returning ok.
READINESS = web.AppKey("readiness", dict[str, Callable[[], Awaitable[bool]]])
# The platform adapters the entry point plugged in (gateway.adapter).
PLATFORMS = web.AppKey("platforms", tuple[Adapter, ...])
