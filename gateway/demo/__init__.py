"""The demo: everything needed to try the gateway on one machine. NOT FOR PRODUCTION.

Nothing in this package is used unless `gateway.development = true`; the demo
refuses to start otherwise.
"""

from __future__ import annotations

from aiohttp import web

from gateway import keys

# Set on the demo's app: every page then says that no meeting server is attached.
DEMO_FLAG = "demo"


def mark_demo(app: web.Application) -> None:
    app[keys.ADAPTERS][DEMO_FLAG] = True


def is_demo(app: web.Application) -> bool:
    return bool(app[keys.ADAPTERS].get(DEMO_FLAG))
