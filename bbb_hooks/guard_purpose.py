"""A purpose declared on the teacher's page, applied in the meeting's order (G8, G11).

The declaration and the bus events of one meeting go through the same
per-meeting lock (`Runtime.lock`), so a recording start and a declaration
never interleave: either the start sees the new purpose, or the teacher is
told it applies to the next recording.

Outcomes, shown to the teacher on the page (bbb_hooks/guard_page.py):
- "announced": saved and announced in the meeting now;
- "saved": saved; the next recording start announces it (a standby replica
  before BBB 3.0 has no moderator id to speak as);
- "pending": saved, but the bus or BBB cannot be reached now: the leader
  applies it as soon as the bus is back. Never an error page: the purpose is
  already stored, and the recording start reads it from the store.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Literal

from redis.exceptions import RedisError

from bbb_hooks import guard_api
from bbb_hooks.guard_chat import parts_of
from bbb_hooks.guard_state import load_purpose, objection_url, save_purpose
from bbb_hooks.meetings import meeting_info
from gateway.policy import guard
from gateway.policy.model import PurposeName

if TYPE_CHECKING:
    from bbb_hooks.guard_bbb import BusGuard

log = logging.getLogger(__name__)

Outcome = Literal["announced", "saved", "pending"]


async def declare(g: BusGuard, meeting_id: str, purpose: PurposeName,
                  reference: str | None) -> Outcome:
    """Store a declared purpose and announce it in the meeting, on any replica."""
    rt = next((m for m in g.meetings.values() if m.external_id == meeting_id), None)
    if rt is None or not g.leadership.leading():
        await save_purpose(g.store, meeting_id, purpose, reference)
        if not g.api_chat:
            return "saved"
        return await _announce_from_api(g, meeting_id, purpose, reference)
    async with rt.lock:  # one writer per meeting (bus events wait, and vice versa)
        await save_purpose(g.store, meeting_id, purpose, reference)
        if not g.connected:
            g.pending_purposes.add(meeting_id)
            return "pending"
        try:
            await g.apply(rt, guard.PurposeDeclared(purpose, reference), time.time())
        except (OSError, RedisError) as exc:  # BusLost is an OSError
            log.warning("bbb guard: purpose saved, bus unavailable",
                        extra={"reason": type(exc).__name__})
            g.pending_purposes.add(meeting_id)
            return "pending"
    return "announced"


async def apply_pending(g: BusGuard) -> None:
    """After a (re)connect: apply the purposes declared while the bus was down."""
    for meeting_id in sorted(g.pending_purposes):
        rt = next((m for m in g.meetings.values() if m.external_id == meeting_id), None)
        g.pending_purposes.discard(meeting_id)
        if rt is None:
            continue  # the meeting is not running: the next start reads the store
        async with rt.lock:
            await load_purpose(g.store, rt)
            if rt.state.purpose is not None:
                await g.apply(rt, guard.PurposeDeclared(rt.state.purpose,
                                                        rt.state.approval_reference),
                              time.time())


async def _announce_from_api(g: BusGuard, meeting_id: str, purpose: PurposeName,
                             reference: str | None) -> Outcome:
    """A standby (or a leader that has not seen the meeting yet) asks BBB and tells."""
    record = await meeting_info(g.store, meeting_id)
    server = g.servers.get(record.server) if record else None
    if record is None or server is None:
        return "saved"
    try:
        live = await guard_api.live_meeting(g.http, server, meeting_id)
        state = guard.MeetingState(
            meeting_type=record.meeting_type, recording=live.recording,
            objection_url=objection_url(g.public_url, record.internal_meeting_id))
        for action in guard.decide(g.policy, state, guard.PurposeDeclared(purpose, reference)):
            if isinstance(action, guard.Announce | guard.TellTeacher):
                for part in parts_of(action.nl, action.en):
                    await guard_api.send_chat(g.http, server, meeting_id, part)
    except guard_api.ApiUnavailable as exc:
        log.warning("bbb guard: purpose not announced", extra={"reason": str(exc)})
        return "saved"  # the start announcement still names it
    return "announced"
