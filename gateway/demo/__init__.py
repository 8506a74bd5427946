"""The demo: everything needed to try the gateway on one machine. NOT FOR PRODUCTION.

Nothing in this package is used unless `gateway.development = true`; the demo
refuses to start otherwise.
"""

from __future__ import annotations

from aiohttp import web

# Set on the demo's app: every page then says that no meeting server is attached.
DEMO = web.AppKey("demo", bool)


def mark_demo(app: web.Application) -> None:
    app[DEMO] = True
