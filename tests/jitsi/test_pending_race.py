"""Instructions for the Prosody module queued on two replicas at once all arrive.

The queue was read, appended to and written back: a change made on one
replica (a moderator removing an occupant) and one on another (transcription
stopped, G15) at the same moment lost one of them. It is now a compare-and-set
loop (gateway.store.atomic) on a real redis-server.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from gateway.store.redis_store import RedisStore
from gateway.web import keys
from jitsi_hooks.events import queue_instruction

ROOM = "wiskunde-3a"


async def test_instructions_from_two_replicas_are_all_kept(redis_url: str) -> None:
    replicas = [web.Application(), web.Application()]
    for app in replicas:
        app[keys.STORE] = RedisStore.from_url(redis_url)
    try:
        sent = [{"action": "remove_occupant", "occupant": f"o{i}"} for i in range(20)]
        await asyncio.gather(*(queue_instruction(replicas[i % 2], ROOM, instruction)
                               for i, instruction in enumerate(sent)))
        raw = await replicas[0][keys.STORE].take(f"jitsi:pending:{ROOM}")
    finally:
        for app in replicas:
            await app[keys.STORE].close()
    assert raw is not None
    queued = json.loads(raw)
    assert sorted(queued, key=lambda i: int(i["occupant"][1:])) == sent
