"""The entry point: the core (gateway) with both platform adapters plugged in.

This is the one place that names the adapters (README "Development"). A new
platform adds its `Adapter` to `ADAPTERS`.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from bbb_hooks.adapter import ADAPTER as BBB
from gateway.adapter import Adapter
from gateway.cli.main import main as cli_main
from gateway.clock import Clock
from gateway.config.loading import Settings
from gateway.store.base import Store
from gateway.web import app as web_app
from jitsi_hooks.adapter import ADAPTER as JITSI

ADAPTERS: tuple[Adapter, ...] = (BBB, JITSI)


def main(argv: Sequence[str] | None = None) -> int:
    """`privacy-gateway`."""
    return cli_main(argv, adapters=ADAPTERS)


def create_app(settings: Settings, *, clock: Clock | None = None,
               store: Store | None = None) -> web.Application:
    """The gateway as `privacy-gateway serve` runs it."""
    return web_app.create_app(settings, adapters=ADAPTERS, clock=clock, store=store)
