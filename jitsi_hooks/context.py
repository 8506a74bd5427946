"""The Jitsi adapter's state on the application (`app[CONTEXT]`)."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from gateway.web.errors import GatewayError
from jitsi_hooks.rooms import RoomStore
from jitsi_hooks.token import TokenMinter


class TryAgain(GatewayError):
    """503: the module retries the report later with the same event id."""

    status = 503
    message_key = "error.internal"


@dataclass(frozen=True, slots=True)
class JitsiContext:
    minter: TokenMinter
    rooms: RoomStore
    hook_secret: bytes
    # One lock per room on this replica, kept only while someone holds or waits for it:
    # nothing is popped under a held lock and nothing stays behind for rooms whose
    # room_destroyed this replica never sees.
    room_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(
        default_factory=weakref.WeakValueDictionary)
    # What the token path looks up per request but never changes for this application:
    # metric children by label, the moderator ACL's TTL (from the policy).
    constants: dict[object, Any] = field(default_factory=dict)


CONTEXT = web.AppKey("jitsi", JitsiContext)

def jitsi(app: web.Application) -> JitsiContext:
    return app[CONTEXT]


def room_lock(app: web.Application, room: str) -> asyncio.Lock:
    """This replica's lock for `room` (events of one room run one at a time)."""
    locks = jitsi(app).room_locks
    lock = locks.get(room)
    if lock is None:
        lock = locks[room] = asyncio.Lock()
    return lock
