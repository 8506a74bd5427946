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

Per-meeting state and the store keys it keeps: bbb_hooks/guard_state.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from bbb_hooks import bus_codec as codec
from bbb_hooks import guard_api
from bbb_hooks.bus_link import BusPublisher, BusReader
from bbb_hooks.guard_leader import Leadership
from bbb_hooks.guard_state import (
    Runtime,
    fields_from_locks,
    from_api,
    load_meeting,
    load_purpose,
    locks_from_fields,
    new_runtime,
    objection_url,
    persist,
    save_purpose,
    translate,
)
from bbb_hooks.meetings import meeting_info
from bbb_hooks.servers import Server
from gateway import guard
from gateway.audit import AuditLog
from gateway.guard_texts import PUBLIC_TELL
from gateway.metrics import Metrics
from gateway.pseudonym import Pseudonymiser
from gateway.settings import Policy, PurposeName
from gateway.store import Store

log = logging.getLogger(__name__)

TELL_INTERVAL = 10.0  # seconds between two public "a camera was switched off" notes


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
        self._chat: asyncio.Queue[tuple[Runtime, str]] = asyncio.Queue()
        self._pub: BusPublisher | None = None
        self.leadership = leadership or Leadership(store)

    # ---- the connection loop ------------------------------------------------
    async def run(self) -> None:
        """Forever: stand by until this replica leads, then connect and act (guard_leader.py)."""
        chat = asyncio.create_task(self._chat_worker(), name="bbb-guard-chat")
        try:
            await self.leadership.run(self._bus_loop)
        finally:
            chat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await chat

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
            async for seen, messages in bus.batches():
                # Floods are dropped by name; a recording change goes before the
                # rest of the read (bus_codec.guard_events).
                for raw in codec.guard_events(messages):
                    await self.handle(raw, seen)
        finally:
            await bus.close()
            await self._pub.close()

    def _set_connected(self, value: bool) -> None:
        self.connected = value
        self.metrics.guard_connected.labels(platform="bbb").set(1 if value else 0)

    # ---- events ---------------------------------------------------------------
    async def handle(self, raw: bytes, seen: float) -> None:
        try:
            msg = codec.decode(raw)
        except codec.BusError as exc:
            log.warning("bbb guard: bad bus message", extra={"reason": str(exc)})
            return
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
            await load_meeting(self.store, self.policy, rt)
        for event in translate(rt, msg):
            await self.apply(rt, event, seen)

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
            rt.state = replace(rt.state, locks=locks_from_fields(locks))
        self.meetings[internal] = rt
        # Any part may be null or missing (a meeting without metadata): never a crash
        # that would restart the whole leader cycle.
        await load_meeting(self.store, self.policy, rt,
                           _mapping(_mapping(props, "metadataProp"), "metadata"))

    async def apply(self, rt: Runtime, event: guard.Event, seen: float) -> tuple[guard.Action, ...]:
        """Run one event through the engine and carry out its actions."""
        if isinstance(event, guard.RecordingStarted | guard.Reconcile):
            await load_purpose(self.store, rt)
        before = rt.state
        rt.state, actions = guard.step(self.policy, rt.state, event)
        if actions:
            await self._execute(rt, actions, seen)
        await self._bookkeep(rt, before, event, actions)
        return actions

    # ---- execution ------------------------------------------------------------
    async def _execute(self, rt: Runtime, actions: tuple[guard.Action, ...],
                       seen: float) -> None:
        """Publish every command for one event in one pipeline, then the announcements.

        Pupils are silenced first (G10): lock, mute and eject go out before the
        chat lines, and the sendChatMessage calls (BBB 3.0) start only after
        the commands are on the bus, so their HTTP work never delays them.
        """
        if not self.leadership.leading():  # another replica may lead by now: never both
            log.warning("bbb guard: not leading, actions dropped", extra={"count": len(actions)})
            return
        mod = rt.commander()
        commands: list[str] = []
        lines: list[str] = []
        for action in actions:
            text = self._chat_text(rt, action)
            if text is None and mod is not None:
                commands.extend(self._bus_commands(rt, mod, action))
            elif text:
                lines.append(text)
        if mod is None and len(lines) < len(actions):
            log.warning("bbb guard: no moderator present to act for", extra={
                "meeting_ref": self.pseudonyms.meeting(rt.internal_id)})
        if mod is not None and not self.api_chat:
            commands += [codec.public_chat(rt.internal_id, mod, text, uuid.uuid4().hex)
                         for text in lines]
        if commands and self._pub is not None:
            await self._pub.publish(codec.TO_AKKA, commands)  # one round trip for all
            self.reacted(rt, seen)
        if self.api_chat:
            for text in lines:
                self._chat.put_nowait((rt, text))

    def reacted(self, rt: Runtime, seen: float) -> None:
        """Every command for one event is published: observe the reaction time."""
        self.metrics.guard_reaction.labels(platform="bbb").observe(time.perf_counter() - seen)

    def _bus_commands(self, rt: Runtime, mod: str, action: guard.Action) -> list[str]:
        meeting = rt.internal_id
        match action:
            case guard.LockViewers(locks=locks) | guard.RestoreLocks(locks=locks):
                out = [codec.change_lock_settings(meeting, mod, fields_from_locks(locks))]
                if isinstance(action, guard.LockViewers):
                    # Lock settings bind only locked users: lock every viewer too.
                    out.append(codec.lock_users(meeting, mod, rt.moderator_ids()))
                return out
            case guard.MuteAllExceptPresenters():
                return [codec.mute_all_except_presenters(meeting, mod)]
            case guard.MuteParticipant(participant_id=pid):
                return [codec.mute_user(meeting, mod, pid)]
            case guard.EjectCameras(participant_ids=pids):
                return [codec.eject_cameras(meeting, mod, pid) for pid in pids]
            case guard.StopRecording():
                return [codec.set_recording(meeting, mod, False)]
        return []

    def _chat_text(self, rt: Runtime, action: guard.Action) -> str | None:
        """The public chat text for an announcement-like action ("" when throttled)."""
        match action:
            case guard.Announce(nl=nl, en=en) | guard.TellTeacher(nl=nl, en=en):
                return f"{nl}\n{en}"
            case guard.TellParticipant(key=key, nl=nl, en=en):
                now = time.monotonic()
                if now - rt.told.get(key, -1e9) < TELL_INTERVAL:
                    return ""
                rt.told[key] = now
                nl, en = PUBLIC_TELL.get(key, (nl, en))
                return f"{nl}\n{en}"
        return None

    async def _chat_worker(self) -> None:
        while True:
            rt, text = await self._chat.get()
            server = self.servers.get(rt.server or "") or next(iter(self.servers.values()), None)
            if not text or server is None or not rt.external_id:
                continue
            try:
                await guard_api.send_chat(self.http, server, rt.external_id, text)
            except guard_api.ApiUnavailable as exc:
                log.warning("bbb guard: announcement not sent", extra={"reason": str(exc)})

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
        await persist(self.store, rt, before, event, self.record_ttl)
        if isinstance(event, guard.RecordingStarted | guard.RecordingStopped) and (
                before.recording != rt.state.recording):
            await self._audit(rt, before, event, actions)

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

    # ---- a purpose declared on the page (bbb_hooks/guard_page.py) ---------------------
    async def declare_purpose(self, meeting_id: str, purpose: PurposeName,
                              reference: str | None) -> None:
        """Store a declared purpose and announce it in the meeting (G8, G11), on any replica."""
        await save_purpose(self.store, meeting_id, purpose, reference)
        rt = next((m for m in self.meetings.values() if m.external_id == meeting_id), None)
        if rt is not None and self.leadership.leading():
            await self.apply(rt, guard.PurposeDeclared(purpose, reference), time.perf_counter())
        elif self.api_chat:
            await self._announce_declared(meeting_id, purpose, reference)
        # Before BBB 3.0 a chat line needs a moderator's id from the bus, which only the
        # leader has: the announcement at the start of the recording names the purpose.

    async def _announce_declared(self, meeting_id: str, purpose: PurposeName,
                                 reference: str | None) -> None:
        """A standby (or a leader that has not seen the meeting yet) asks BBB and tells."""
        record = await meeting_info(self.store, meeting_id)
        server = self.servers.get(record.server) if record else None
        if record is None or server is None:
            return
        try:
            live = await guard_api.live_meeting(self.http, server, meeting_id)
            state = guard.MeetingState(
                meeting_type=record.meeting_type, recording=live.recording,
                objection_url=objection_url(self.public_url, record.internal_meeting_id))
            for action in guard.decide(self.policy, state,
                                       guard.PurposeDeclared(purpose, reference)):
                if isinstance(action, guard.Announce | guard.TellTeacher):
                    await guard_api.send_chat(self.http, server, meeting_id,
                                              f"{action.nl}\n{action.en}")
        except guard_api.ApiUnavailable as exc:
            log.warning("bbb guard: purpose not announced", extra={"reason": str(exc)})

    # ---- reconciliation ------------------------------------------------------------
    async def reconcile(self) -> None:
        """Rebuild state from every server's API; re-apply the guard where recording."""
        for server in self.servers.values():
            try:
                meetings = await guard_api.running_meetings(self.http, server)
            except guard_api.ApiUnavailable as exc:
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
        await load_meeting(self.store, self.policy, rt, meeting.metadata)
        self.meetings[meeting.internal_id] = rt
        if meeting.recording:
            await self.apply(rt, guard.Reconcile(), time.perf_counter())


def _mapping(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    """`parent[name]` when it is a JSON object, else an empty one (null, absent, other)."""
    value = parent.get(name)
    return value if isinstance(value, dict) else {}
