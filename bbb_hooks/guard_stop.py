"""The teacher's "stop recording now" (G13) from any gateway replica.

Only the replica that leads the recording guard (bbb_hooks/guard_leader.py)
knows who moderates a meeting and may command on BBB's bus: two replicas never
command at once. A home page served by another replica hands the stop to the
leader through the shared store and waits for its answer:

- `guard:bbb:stop:req:<id>` {meeting, by, deadline}: the request, and
  `guard:bbb:stop:queue` (sorted set id -> deadline): where the leader finds it;
- the leader looks every `POLL` seconds (while connected to the bus) and TAKES
  the request (GETDEL): exactly one replica ever carries out a request, so the
  stop is never sent or announced twice, not even across a change of leader;
- it sends the stop as a moderator, then the announcement to everyone, audits
  it, and answers `guard:bbb:stop:reply:<id>` "1" (sent) or "0" (not sent).

The page waits at most `WAIT` seconds, then takes its request back: when it
gets it, no leader ever will, and the teacher is told the recording did not
stop. When a leader had taken it, the page waits `GRACE` more seconds for the
answer; without one (that leader died while stopping) it also says it did not
stop. The teacher is never told of a stop that is not known to be sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
import uuid
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from gateway.background import failing_step
from gateway.policy import guard
from gateway.policy.guard_texts import TEACHER_STOPPED_TEXT

if TYPE_CHECKING:
    from bbb_hooks.guard_bbb import BusGuard

log = logging.getLogger(__name__)

QUEUE = "guard:bbb:stop:queue"
REQUEST_PREFIX = "guard:bbb:stop:req:"
REPLY_PREFIX = "guard:bbb:stop:reply:"
WAIT = 4.0  # seconds a leader has to take the request
GRACE = 1.0  # and to answer once it has: the teacher waits 5 s at most
POLL = 0.1  # how often the leader looks for requests
REPLY_TTL = 30.0
BATCH = 20
OWN_CODE = ("bbb_hooks", "gateway")


def teacher_stop() -> tuple[guard.StopRecording, guard.Announce]:
    """What a teacher's stop does: stop now, then tell everyone (G13)."""
    nl, en = TEACHER_STOPPED_TEXT
    return guard.StopRecording("teacher_stopped"), guard.Announce(nl, en, "stop")


async def stop(g: BusGuard, internal_id: str, by: str) -> bool:
    """Stop a meeting's recording from this replica; True only when the stop was sent."""
    if g.leadership.leading():
        return await g.stop_now(internal_id, by)
    try:
        return await _hand_over(g, internal_id, by)
    except (RedisError, OSError) as exc:  # the store is gone: nobody can be asked
        log.warning("bbb guard: stop not handed over", extra={"reason": type(exc).__name__})
        return False


async def _hand_over(g: BusGuard, internal_id: str, by: str) -> bool:
    store = g.store
    request_id = uuid.uuid4().hex
    request, reply = REQUEST_PREFIX + request_id, REPLY_PREFIX + request_id
    deadline = time.time() + WAIT
    body = json.dumps({"meeting": internal_id, "by": by, "deadline": deadline})
    await store.set(request, body.encode(), WAIT + GRACE + REPLY_TTL)
    await store.zadd(QUEUE, {request_id: deadline})
    try:
        answer = await _answer(g, reply, WAIT)
        if answer is None and await store.take(request) is None:
            # A leader took it and is sending: its answer comes at once, or never.
            answer = await _answer(g, reply, GRACE)
        return answer == b"1"
    finally:
        with contextlib.suppress(RedisError, OSError):  # the answer stands; the leader
            await store.zrem(QUEUE, request_id)        # drops a dead id anyway


async def _answer(g: BusGuard, reply: str, within: float) -> bytes | None:
    until = time.monotonic() + within
    while True:
        answer = await g.store.take(reply)
        if answer is not None or time.monotonic() >= until:
            return answer
        await asyncio.sleep(POLL / 2)


async def serve(g: BusGuard) -> None:
    """While leading: carry out the stops that other replicas hand over."""
    while True:
        await asyncio.sleep(POLL)
        if not g.connected:  # not reconciled yet: the request waits for the bus
            continue
        try:
            await serve_once(g)
        except Exception as exc:  # never costs the lead: the bus loop runs beside it
            log.error("bbb guard: handed-over stops failed", extra={
                "reason": type(exc).__name__, "step": failing_step(exc, OWN_CODE)})
            await asyncio.sleep(1.0)


async def serve_once(g: BusGuard) -> None:
    store = g.store
    for request_id, _ in await store.zrange_by_score(QUEUE, -math.inf, math.inf, BATCH):
        raw = await store.take(REQUEST_PREFIX + request_id)
        await store.zrem(QUEUE, request_id)
        if raw is None:
            continue  # taken back by its page, or by another leader before this one
        sent = False
        try:
            request = json.loads(raw)
            internal_id, by = str(request["meeting"]), str(request["by"])
            # Past its page's wait (that page died): nobody asks for it any more.
            if float(request["deadline"]) + GRACE >= time.time():
                sent = await g.stop_now(internal_id, by)
        except (ValueError, KeyError, TypeError):
            log.warning("bbb guard: a handed-over stop was unreadable")
        finally:
            await store.set(REPLY_PREFIX + request_id, b"1" if sent else b"0", REPLY_TTL)
