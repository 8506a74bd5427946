"""The BBB adapter's typed application keys."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:  # the proxy's modules read this key: no import cycle at run time
    from bbb_hooks.proxy import BBBProxy

# The API proxy, built whole with its client session at start-up (bbb_hooks.app).
PROXY: web.AppKey[BBBProxy] = web.AppKey("bbb_proxy")
