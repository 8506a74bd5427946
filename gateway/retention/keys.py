"""The retention service's typed application keys (G12, G16)."""

from __future__ import annotations

from aiohttp import web

from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import Sweeper

# False: no sweeper loop on this app (tests, or sweeping left to `privacy-gateway sweep`).
BACKGROUND = web.AppKey("retention_background", bool)
# Built whole at start-up, with the app's HTTP session and the adapters' sources.
SWEEPER = web.AppKey("retention_sweeper", Sweeper)
OBJECTIONS = web.AppKey("retention_objections", ObjectionDesk)
