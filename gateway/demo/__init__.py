"""The demo: everything needed to try the gateway on one machine. NOT FOR PRODUCTION.

Nothing in this package is used unless `gateway.development = true`; the demo
refuses to start otherwise. `app.build_demo` puts it together (the command line
and the walk-through test both use it): `policy` (the example at the demo's
address, BBB and Jitsi on), `bbb_server` (bbb-web's API, a stand-in the tests use
too), `bbb_live` (akka-apps on the bus), `meeting_page` (the stand-in's meeting
page), `resp_broker` (a tiny pub/sub Redis for BBB's bus) and `lms` (the demo LMS
page). Stand-ins for development and tests only, never for a real deployment.
"""

from __future__ import annotations

from aiohttp import web

# Set on the demo's app: every page then says that no meeting server is attached.
DEMO = web.AppKey("demo", bool)


def mark_demo(app: web.Application) -> None:
    app[DEMO] = True
