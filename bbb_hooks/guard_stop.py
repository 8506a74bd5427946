"""The teacher's "stop recording now" (G13) from any gateway replica.

Only the replica that leads the recording guard (bbb_hooks/guard_leader.py)
knows who moderates a meeting and may command on BBB's bus: two replicas never
command at once. A home page served by another replica hands the stop to the
leader through the shared store and waits for its answer:

- `guard:bbb:stop:req:<id>` {meeting, by, deadline}: the request, with a TTL of
  WAIT + GRACE on Redis's clock (an abandoned request expires by itself), and
  `guard:bbb:stop:queue` (sorted set id -> deadline): where the leader finds it;
- the leader looks every `POLL` seconds (while connected to the bus) and TAKES
  the request (GETDEL): exactly one replica ever carries out a request, so the
  stop is never sent or announced twice, not even across a change of leader;
- it sends the stop as a moderator and answers `guard:bbb:stop:reply:<id>` "1" at
  once, then announces it to everyone and audits it; "0" when it was not sent.

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
    # Expires by Redis's own clock, the one clock all replicas share: a request its page
    # abandoned (that page died) is gone before anyone carries it out late.
    await store.set(request, body.encode(), WAIT + GRACE)
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
        await store.zrem(QUEUE, request_id)  # before taking: a failure here consumes nothing
        raw = await store.take(REQUEST_PREFIX + request_id)
        if raw is None:
            continue  # taken back by its page, expired, or taken by another leader
        await _carry_out(g, request_id, raw)


async def _carry_out(g: BusGuard, request_id: str, raw: bytes) -> None:
    """Carry out one taken request and answer it exactly once. The answer "1" goes as
    soon as the stop is sent, before the announcement and the audit: the page waits
    only GRACE for it (no wall-clock deadline: the request's TTL ran on Redis's clock)."""
    reply = REPLY_PREFIX + request_id
    answered = False

    async def on_sent() -> None:
        nonlocal answered
        try:
            await g.store.set(reply, b"1", REPLY_TTL)
            answered = True
        except (RedisError, OSError) as exc:  # tried again once stop_now returns
            log.warning("bbb guard: a handed-over stop not answered yet",
                        extra={"reason": type(exc).__name__})

    sent = False
    try:
        request = json.loads(raw)
        internal_id, by = str(request["meeting"]), str(request["by"])
        sent = await g.stop_now(internal_id, by, on_sent=on_sent)
    except (ValueError, KeyError, TypeError):
        log.warning("bbb guard: a handed-over stop was unreadable")
    finally:
        if not answered:
            await g.store.set(reply, b"1" if sent else b"0", REPLY_TTL)
