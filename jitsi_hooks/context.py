"""The Jitsi adapter's state on the application (`app[keys.ADAPTERS]["jitsi"]`)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from gateway import keys
from jitsi_hooks.rooms import RoomStore
from jitsi_hooks.token import TokenMinter


@dataclass(frozen=True, slots=True)
class JitsiContext:
    minter: TokenMinter
    rooms: RoomStore
    hook_secret: bytes


def jitsi(app: web.Application) -> JitsiContext:
    context: JitsiContext = app[keys.ADAPTERS]["jitsi"]
    return context
