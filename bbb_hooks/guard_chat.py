"""Announcements that arrive, or a recording that stops (G8).

On BBB 3.0 the guard speaks through bbb-web's `sendChatMessage`, which takes
at most 500 characters and does not keep newlines (bbb.md §5). So every text
goes as separate messages: the Dutch one, then the English one, each cut to
`CHAT_LIMIT` UTF-16 units (bbb-web is Java: `String.length()`) between words
(gateway/guard_texts.py `chat_parts`).

A message bbb-web refuses or does not answer is retried with backoff until
the job's deadline. Every job's outcome is counted
(`privacy_gateway_guard_announcements{phase,result}`) and a failure audited.
When the start announcement of a recording is not delivered within
`START_DEADLINE` seconds, `on_start_failed` runs: the guard stops the
recording and tells the teacher why (bbb_hooks/guard_bbb.py), so no recording
runs unannounced.

Before 3.0 the chat goes over the bus with the guard's commands; that path
reports its outcome here too (`ChatJob.delivered`), so counting, audit and
the stop are the same on both.

Jobs of one meeting keep their order (each waits for the meeting's previous
one); meetings never wait for each other, so one unreachable server does not
delay the announcements on another.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

import aiohttp

from bbb_hooks import guard_api
from bbb_hooks.servers import Server
from gateway.audit.log import AuditLog
from gateway.metrics import Metrics
from gateway.policy.guard_texts import chat_parts
from gateway.pseudonym import Pseudonymiser

log = logging.getLogger(__name__)

CHAT_LIMIT = 500  # sendChatMessage `message` maxLength (bbb.md §5)
START_DEADLINE = 4.0  # seconds for the start announcement before the recording is stopped
OTHER_DEADLINE = 15.0
RETRY_DELAYS = (0.2, 0.4, 0.8, 1.6, 3.2)
AUDITED_PHASES = frozenset({"start", "repeat", "before", "stop", "teacher"})


@dataclass(frozen=True, slots=True)
class ChatJob:
    meeting_id: str  # internal id: audit pseudonym and the guard's state
    external_id: str  # what sendChatMessage takes
    server: str | None
    parts: tuple[str, ...]
    phase: str  # an Announce phase, "tell" or "teacher"
    delivered: bool | None = None  # set when the bus path already knows the outcome


def parts_of(nl: str, en: str) -> tuple[str, ...]:
    """Dutch first, then English, never joined: each message stands alone."""
    return (*chat_parts(nl, CHAT_LIMIT), *chat_parts(en, CHAT_LIMIT))


class ChatSender:
    def __init__(self, *, http: aiohttp.ClientSession, servers: Mapping[str, Server],
                 metrics: Metrics, audit: AuditLog, pseudonyms: Pseudonymiser,
                 on_start_failed: Callable[[str], Awaitable[None]]) -> None:
        self.http, self.servers, self.metrics = http, servers, metrics
        self.audit, self.pseudonyms, self.on_start_failed = audit, pseudonyms, on_start_failed
        self.queue: asyncio.Queue[ChatJob] = asyncio.Queue()
        self._tails: dict[str, asyncio.Task[None]] = {}

    def put(self, job: ChatJob) -> None:
        self.queue.put_nowait(job)

    async def run(self) -> None:
        """The chat worker (supervised by the guard): one delivery task per job."""
        try:
            while True:
                job = await self.queue.get()
                task = asyncio.create_task(self._deliver(job, self._tails.get(job.meeting_id)),
                                           name="bbb-guard-chat-job")
                self._tails[job.meeting_id] = task
                task.add_done_callback(partial(self._done, job.meeting_id))
        except asyncio.CancelledError:
            for task in list(self._tails.values()):  # shutdown; a crash keeps them running
                task.cancel()
            raise

    def _done(self, meeting_id: str, task: asyncio.Task[None]) -> None:
        if self._tails.get(meeting_id) is task:
            del self._tails[meeting_id]

    async def idle(self) -> None:
        """Wait until every queued job has been delivered or given up (tests, shutdown)."""
        while not self.queue.empty() or self._tails:
            await asyncio.gather(*self._tails.values(), return_exceptions=True)
            await asyncio.sleep(0)

    async def _deliver(self, job: ChatJob, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        delivered = job.delivered
        if delivered is None:
            deadline = asyncio.get_running_loop().time() + (
                START_DEADLINE if job.phase == "start" else OTHER_DEADLINE)
            try:
                delivered = await self._send_parts(job, deadline)
            except Exception as exc:  # one meeting's chat never ends the worker
                log.error("bbb guard: announcement failed unexpectedly",
                          extra={"reason": type(exc).__name__})
                delivered = False
        await self._outcome(job, delivered)

    async def _send_parts(self, job: ChatJob, deadline: float) -> bool:
        server = self.servers.get(job.server or "") or next(iter(self.servers.values()), None)
        if server is None or not job.external_id:
            return False
        for part in job.parts:
            if not await self._send_one(server, job, part, deadline):
                return False
        return True

    async def _send_one(self, server: Server, job: ChatJob, part: str, deadline: float) -> bool:
        loop = asyncio.get_running_loop()
        for delay in (0.0, *RETRY_DELAYS):
            if delay:
                if loop.time() + delay >= deadline:
                    return False
                self.metrics.guard_announcements.labels(
                    platform="bbb", phase=job.phase, result="retried").inc()
                await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(max(deadline - loop.time(), 0.01)):
                    await guard_api.send_chat(self.http, server, job.external_id, part)
                return True
            except guard_api.ApiUnavailable as exc:
                log.warning("bbb guard: announcement refused, retrying",
                            extra={"reason": str(exc), "phase": job.phase})
            except TimeoutError:
                return False
        return False

    async def _outcome(self, job: ChatJob, delivered: bool) -> None:
        result = "sent" if delivered else "failed"
        self.metrics.guard_announcements.labels(platform="bbb", phase=job.phase,
                                                result=result).inc()
        if not delivered:
            log.warning("bbb guard: announcement not delivered", extra={"phase": job.phase})
            if job.phase == "start":
                await self.on_start_failed(job.meeting_id)  # G8: no recording runs unannounced
        if job.phase in AUDITED_PHASES or not delivered:
            await self.audit.record("announcement", "bbb", phase=job.phase, result=result,
                                    meeting=self.pseudonyms.meeting(job.meeting_id),
                                    messages=len(job.parts))
