"""The BBB recording guard: listens on BBB's Redis bus and enforces G3, G8, G10, G11.

Events come from `from-akka-apps-redis-channel`; commands go to
`to-akka-apps-redis-channel` with a MODERATOR of that meeting as requester
(`header.userId`, `setBy`/`mutedBy`): akka ejects a requester who lacks the
permission (bbb.md §5), so the guard never sends as anyone else and sends
nothing when no moderator is present. Announcements use the `sendChatMessage`
API on BBB 3.0, the bus (SendGroupChatMessageMsg) before.

On every (re)connect it subscribes first, then rebuilds its state from the
API and re-applies the guard to every meeting recording right now, so an
event missed while it was away cannot leave a pupil on screen.

Per-meeting state and the store keys it keeps: bbb_hooks/guard_state.py;
commands and chat jobs for the engine's actions: bbb_hooks/guard_actions.py;
announcements that arrive or stop the recording: bbb_hooks/guard_chat.py; the
teacher's purpose declaration: bbb_hooks/guard_purpose.py; the teacher's "stop
recording now" from any replica: bbb_hooks/guard_stop.py; supervision of the
bus loop and the chat worker: bbb_hooks/guard_tasks.py.

Every bus message of one meeting, and every purpose declared for it, runs
under that meeting's lock (`Runtime.lock`): one writer per meeting. A message
that fails is counted (`privacy_gateway_guard_bus_messages_rejected_total`) and
costs neither the lead nor any other message.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from bbb_hooks import bus_codec as codec
from bbb_hooks import guard_api, guard_purpose, guard_stop
from bbb_hooks.bus_link import BusPublisher, BusReader
from bbb_hooks.client import BBBError
from bbb_hooks.guard_actions import bus_commands, chat_job, event_origin, needs_moderator
from bbb_hooks.guard_chat import ChatJob, ChatSender
from bbb_hooks.guard_leader import OWN_CODE, Leadership
from bbb_hooks.guard_state import (
    Runtime,
    from_api,
    load_meeting,
    load_purpose,
    locks_from_fields,
    new_runtime,
    persist,
    save_locks,
    translate,
)
from bbb_hooks.guard_tasks import guard_services, run_alone
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.background import failing_step
from gateway.metrics import Metrics
from gateway.policy import guard
from gateway.policy.model import Policy, PurposeName
from gateway.pseudonym import Pseudonymiser
from gateway.store.base import Store

log = logging.getLogger(__name__)

class BusGuard:
    def __init__(self, *, policy: Policy, store: Store, metrics: Metrics, audit: AuditLog,
                 pseudonyms: Pseudonymiser, http: aiohttp.ClientSession,
                 servers: Sequence[Server], redis_url: str, record_ttl: float,
                 leadership: Leadership | None = None) -> None:
        self.policy, self.store, self.metrics = policy, store, metrics
        self.audit, self.pseudonyms, self.http = audit, pseudonyms, http
        self.servers = {s.name: s for s in servers}
        self.redis_url, self.record_ttl = redis_url, record_ttl  # record_ttl: the proxy's
        self.public_url = policy.gateway.public_url
        self.meetings: dict[str, Runtime] = {}
        self._set_connected(False)  # a standby reports 0; alerts take the max over replicas
        self.api_chat = tuple(int(x) for x in policy.bbb.bbb_version.split(".")) >= (3, 0)
        self.chat = ChatSender(http=http, servers=self.servers, metrics=metrics, audit=audit,
                               pseudonyms=pseudonyms, on_start_failed=self._start_unannounced)
        self.services = guard_services(metrics, chat=self.chat.run,
                                       bus=lambda: self.leadership.run(self._lead))
        self._pub: BusPublisher | None = None
        self.leadership = leadership or Leadership(store)
        self.pending_purposes: set[str] = set()  # declared while the bus was down

    # ---- the connection loop ------------------------------------------------
    async def run(self) -> None:
        """Both services on a base of their own (tests, bench); the app runs `services`
        on its shared one (bbb_hooks.adapter, gateway.background)."""
        await run_alone(self.services)

    async def _lead(self) -> None:
        """While leading: the bus, and the stops pages on other replicas hand over."""
        stops = asyncio.create_task(guard_stop.serve(self), name="bbb-guard-stops")
        try:
            await self._bus_loop()
        finally:
            stops.cancel()
            await asyncio.gather(stops, return_exceptions=True)

    async def _bus_loop(self) -> None:
        """While leading: connect, subscribe, reconcile, listen; back off on failure."""
        backoff = 0.2
        try:
            while True:
                started = time.monotonic()
                try:
                    await self._session()
                except (RedisError, OSError) as exc:
                    log.warning("bbb guard lost the bus", extra={"reason": type(exc).__name__})
                finally:
                    self._set_connected(False)
                if time.monotonic() - started > 30:
                    backoff = 0.2  # it ran for a while: start the backoff again
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        finally:
            self.meetings.clear()  # a standby knows nothing: the next lead reconciles

    async def _session(self) -> None:
        bus = BusReader(self.redis_url, codec.GUARD_CHANNELS, "privacy-gateway-guard-sub")
        self._pub = BusPublisher(self.redis_url, "privacy-gateway-guard-pub")
        try:
            await bus.connect()  # subscribed first, so nothing is missed while reconciling
            await self.reconcile()
            self._set_connected(True)
            await self._apply_pending()
            async for seen, messages in bus.batches():
                # Floods are dropped by name; a recording change goes before the
                # rest of the read (bus_codec.guard_events).
                for raw in codec.guard_events(messages):
                    await self._handle_one(raw, seen)
                if self.pending_purposes:  # declared while publishing failed: now
                    await self._apply_pending()
        finally:
            await bus.close()
            await self._pub.close()

    async def _handle_one(self, raw: bytes, seen: float) -> None:
        """One message; its failure costs neither the leadership nor another message."""
        try:
            await self.handle(raw, seen)
        except (RedisError, OSError):
            raise  # the bus or the store is gone: reconnect and reconcile
        except Exception as exc:
            self.metrics.guard_bus_rejected.labels(reason="handler_error").inc()
            log.error("bbb guard: a bus message failed", extra={
                "reason": type(exc).__name__, "step": failing_step(exc, OWN_CODE)})

    def _set_connected(self, value: bool) -> None:
        self.connected = value
        self.metrics.guard_connected.labels(platform="bbb").set(1 if value else 0)

    # ---- events ---------------------------------------------------------------
    async def handle(self, raw: bytes, seen: float) -> None:
        try:
            msg = codec.decode(raw)
        except codec.BusError as exc:
            self._rejected(exc)
            return
        origin = event_origin(msg.sent_ms, seen)
        if msg.name == "MeetingCreatedEvtMsg":
            await self._created(msg)
            return
        meeting_id = msg.meeting_id or msg.body.get("meetingId")
        if not isinstance(meeting_id, str):
            return
        if msg.name in ("MeetingEndedEvtMsg", "MeetingDestroyedEvtMsg"):
            self.meetings.pop(meeting_id, None)
            return
        rt = self.meetings.get(meeting_id)
        if rt is None:
            rt = self.meetings[meeting_id] = new_runtime(
                meeting_id, self.policy.bbb.default_meeting_type, self.public_url)
            async with rt.lock:
                await load_meeting(self.store, self.policy, rt)
        async with rt.lock:  # one writer per meeting: the purpose page waits its turn
            try:
                events = translate(rt, msg)
            except codec.BusError as exc:
                self._rejected(exc)
                return
            for event in events:
                await self.apply(rt, event, origin)

    def _rejected(self, exc: codec.BusError) -> None:
        self.metrics.guard_bus_rejected.labels(reason=exc.reason).inc()
        log.warning("bbb guard: bad bus message", extra={"reason": exc.reason})

    async def _created(self, msg: codec.BusMessage) -> None:
        props = _mapping(msg.body, "props")
        meeting = _mapping(props, "meetingProp")
        internal = meeting.get("intId")
        if not isinstance(internal, str):
            return
        rt = new_runtime(internal, self.policy.bbb.default_meeting_type, self.public_url)
        rt.external_id = str(meeting.get("extId", ""))
        locks = props.get("lockSettingsProps")
        if isinstance(locks, dict):
            try:
                rt.state = replace(rt.state, locks=locks_from_fields(locks), locks_known=True)
            except codec.BusError as exc:
                self._rejected(exc)  # the meeting is still guarded; its locks stay unknown
        self.meetings[internal] = rt
        async with rt.lock:
            if rt.state.locks_known:
                await save_locks(self.store, rt)  # restart-safe from the first moment
            # Any part may be null or missing (a meeting without metadata): never a crash.
            await load_meeting(self.store, self.policy, rt,
                               _mapping(_mapping(props, "metadataProp"), "metadata"))

    async def apply(self, rt: Runtime, event: guard.Event,
                    origin: float) -> tuple[guard.Action, ...]:
        """Run one event through the engine and carry out its actions (caller holds rt.lock).

        `origin` is when the event happened (epoch seconds): the reaction metric
        starts there. What a restart needs is stored before the first command.
        """
        if isinstance(event, guard.RecordingStarted | guard.Reconcile):
            await load_purpose(self.store, rt)
        before = rt.state
        rt.state, actions = guard.step(self.policy, rt.state, event)
        await persist(self.store, rt, before, event, self.record_ttl)
        done = await self._execute(rt, actions, origin) if actions else ()
        # Metrics and audit name what was carried out, never what was only decided.
        await self._bookkeep(rt, before, event, done)
        if (isinstance(event, guard.RecordingStarted | guard.Reconcile) and rt.state.recording
                and rt.state.locks_before is None and not before.locks_before
                and guard.pupils_hidden(self.policy, rt.state.active_purpose)
                and not any(isinstance(a, guard.StopRecording) for a in actions)):
            await self._prior_unknown(rt)
        return actions

    async def _start_unannounced(self, meeting_id: str) -> None:
        """The start announcement did not arrive (guard_chat.py): stop the recording (G8)."""
        rt = self.meetings.get(meeting_id)
        self.metrics.guard_unable.labels(platform="bbb", reason="announcement_failed").inc()
        if rt is None:
            return
        async with rt.lock:
            await self.apply(rt, guard.AnnouncementFailed("start"), time.time())

    # ---- execution ------------------------------------------------------------
    async def _execute(self, rt: Runtime, actions: tuple[guard.Action, ...],
                       origin: float) -> tuple[guard.Action, ...]:
        """Publish every command for one event in one pipeline, then the announcements.

        Pupils are silenced first (G10): lock, mute and eject go out before the
        chat lines, and the sendChatMessage calls (BBB 3.0) start only after
        the commands are on the bus, so their HTTP work never delays them.
        A public note about a switched-off camera or microphone is only posted
        when the command that switched it off was sent (honest chat).
        Returns the actions carried out (commands published, messages queued).
        """
        if not self.leadership.leading():  # another replica may lead by now: never both
            log.warning("bbb guard: not leading, actions dropped", extra={"count": len(actions)})
            return ()
        mod = rt.commander()
        commands: list[str] = []
        jobs: list[ChatJob] = []
        for action in actions:
            job = chat_job(rt, action, self.public_url)
            if job is None:
                commands.extend(bus_commands(rt, mod, action) if mod else [])
            elif job.parts and (mod is not None or not isinstance(action, guard.TellParticipant)):
                jobs.append(job)
        if mod is None and any(needs_moderator(a) for a in actions):
            await self._unable(rt, actions)
        sent = 0
        if mod is not None and not self.api_chat:
            chat = [codec.public_chat(rt.internal_id, mod, part, uuid.uuid4().hex)
                    for job in jobs for part in job.parts]
            sent = len(commands)
            commands += chat
        received: list[int] = []
        try:
            received = await self._publish(commands)
        finally:
            # Even when the bus fails here: on 3.0 the announcements still go by HTTP;
            # before 3.0 they count as not delivered, so a start is stopped (G8).
            self._queue_chat(jobs, mod, received[sent:])
        if commands:
            self.reacted(rt, origin)
        # Without a moderator only 3.0's sendChatMessage announcements can go out.
        return tuple(a for a in actions if mod is not None or (
            self.api_chat and not needs_moderator(a)
            and not isinstance(a, guard.TellParticipant)))

    async def _publish(self, commands: list[str]) -> list[int]:
        if not commands or self._pub is None:
            return []
        return await self._pub.publish(codec.TO_AKKA, commands)  # one round trip for all

    def _queue_chat(self, jobs: list[ChatJob], mod: str | None, received: list[int]) -> None:
        """3.0: sendChatMessage jobs. Before 3.0 the parts went on the bus with the
        commands: delivered when akka-apps was subscribed to receive every one."""
        for job in jobs:
            if self.api_chat:
                self.chat.put(job)
                continue
            mine, received = received[:len(job.parts)], received[len(job.parts):]
            delivered = mod is not None and len(mine) == len(job.parts) and all(mine)
            self.chat.put(replace(job, delivered=delivered))

    async def _unable(self, rt: Runtime, actions: tuple[guard.Action, ...]) -> None:
        """No moderator to command as (akka ejects a requester without permission): the
        commands are not sent, counted and audited; the alert rule watches the counter."""
        self.metrics.guard_unable.labels(platform="bbb", reason="no_moderator").inc()
        log.warning("bbb guard: no moderator present to act for", extra={
            "meeting_ref": self.pseudonyms.meeting(rt.internal_id)})
        await self.audit.record(
            "guard_action", "bbb", action="not_carried_out", reason="no_moderator",
            meeting=self.pseudonyms.meeting(rt.internal_id),
            actions=",".join(type(a).__name__ for a in actions if needs_moderator(a)))

    def reacted(self, rt: Runtime, origin: float) -> None:
        """Every command for one event is published: the time since the event happened
        (akka's envelope timestamp, else the read), so time in queues counts too."""
        self.metrics.guard_reaction.labels(platform="bbb").observe(max(time.time() - origin, 0))

    # ---- bookkeeping: metrics, audit, persistence ------------------------------
    async def _bookkeep(self, rt: Runtime, before: guard.MeetingState, event: guard.Event,
                        actions: tuple[guard.Action, ...]) -> None:
        for action in actions:
            if isinstance(action, guard.StopRecording):
                self.metrics.recordings_stopped.labels(platform="bbb",
                                                       reason=action.reason).inc()
        if isinstance(event, guard.CameraStarted | guard.MicOpened) and actions:
            kind = "camera" if isinstance(event, guard.CameraStarted) else "microphone"
            self.metrics.guard_violations.labels(platform="bbb", kind=kind).inc()
        if isinstance(event, guard.RecordingStarted | guard.RecordingStopped) and (
                before.recording != rt.state.recording):
            await self._audit(rt, before, event, actions)
        if isinstance(event, guard.ParticipantJoined) and event.participant.moderator and any(
                needs_moderator(a) for a in actions):  # G10: what `_unable` could not send
            await self.audit.record(
                "guard_action", "bbb", action="carried_out", reason="moderator_present",
                meeting=self.pseudonyms.meeting(rt.internal_id),
                actions=",".join(type(a).__name__ for a in actions if needs_moderator(a)))

    async def _prior_unknown(self, rt: Runtime) -> None:
        """The locks before this recording were never reported: say so, do not guess.
        The stop then leaves the locks on (the safe side) instead of restoring a guess."""
        self.metrics.guard_unable.labels(platform="bbb", reason="prior_state_unknown").inc()
        await self.audit.record("guard_action", "bbb", action="locks_not_restorable",
                                reason="prior_state_unknown",
                                meeting=self.pseudonyms.meeting(rt.internal_id))

    async def _audit(self, rt: Runtime, before: guard.MeetingState, event: guard.Event,
                     actions: tuple[guard.Action, ...]) -> None:
        started = isinstance(event, guard.RecordingStarted)
        purpose = rt.state.active_purpose if started else before.active_purpose
        stopped = next((a.reason for a in actions if isinstance(a, guard.StopRecording)), None)
        await self.audit.record(
            "recording_started" if started else "recording_stopped", "bbb",
            meeting=self.pseudonyms.meeting(rt.internal_id),
            purpose=purpose or "undeclared", meeting_type=rt.state.meeting_type,
            actions=",".join(type(a).__name__ for a in actions), stopped_by_guard=stopped)

    # ---- a purpose declared on the page: bbb_hooks/guard_purpose.py ----------
    async def stop_now(self, internal_id: str, by: str,
                       on_sent: Callable[[], Awaitable[None]] | None = None) -> bool:
        """A moderating teacher stops the recording at once (G13), on the leader.

        The stop goes first, as a moderator; everyone is told only once it is sent
        (honest chat). Any replica's page gets here: bbb_hooks/guard_stop.py.
        True only when the stop was sent. `on_sent` runs as soon as the stop is sent,
        before the announcement and the audit (a waiting page hears at once).
        """
        rt = self.meetings.get(internal_id)
        if rt is None or not rt.state.recording:
            return False
        stop, announce = guard_stop.teacher_stop()
        sent = False
        async with rt.lock:
            try:
                done = await self._execute(rt, (stop,), time.time())
                sent = any(isinstance(a, guard.StopRecording) for a in done)
                if sent:
                    if on_sent is not None:
                        await on_sent()
                    await self._execute(rt, (announce,), time.time())
            except (OSError, RedisError) as exc:  # BusLost is an OSError
                log.warning("bbb guard: the teacher's stop failed",
                            extra={"reason": type(exc).__name__, "sent": sent})
        try:
            await self.audit.record(
                "guard_action", "bbb", action="carried_out" if sent else "not_carried_out",
                reason="teacher_stopped", by=by,
                meeting=self.pseudonyms.meeting(internal_id),
                actions="StopRecording,Announce" if sent else "StopRecording")
        except (OSError, RedisError) as exc:
            log.warning("bbb guard: the teacher's stop not audited",
                        extra={"reason": type(exc).__name__})
        return sent

    async def declare_purpose(self, meeting_id: str, purpose: PurposeName,
                              reference: str | None) -> guard_purpose.Outcome:
        return await guard_purpose.declare(self, meeting_id, purpose, reference)

    async def _apply_pending(self) -> None:
        await guard_purpose.apply_pending(self)

    # ---- reconciliation ------------------------------------------------------------
    async def reconcile(self) -> None:
        """Rebuild state from every server's API; re-apply the guard where recording."""
        for server in self.servers.values():
            try:
                meetings = await guard_api.running_meetings(self.http, server)
            except BBBError as exc:
                log.warning("bbb guard: reconcile failed", extra={"reason": str(exc)})
                continue
            for meeting in meetings:
                await self._reconcile_one(meeting)

    async def _reconcile_one(self, meeting: guard_api.ApiMeeting) -> None:
        if not meeting.internal_id:
            return
        previous = self.meetings.get(meeting.internal_id)
        rt = from_api(meeting, self.policy.bbb.default_meeting_type,
                      previous.state.locks if previous else guard.Locks(lock_on_join=False),
                      previous, self.public_url)
        async with rt.lock:  # the same lock as before the rebuild: one writer
            await load_meeting(self.store, self.policy, rt, meeting.metadata)
            self.meetings[meeting.internal_id] = rt
            if meeting.recording:
                await self.apply(rt, guard.Reconcile(), time.time())


def _mapping(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """`parent[name]` when it is a JSON object, else an empty one (null, absent, other)."""
    value = parent.get(name)
    return value if isinstance(value, dict) else {}
