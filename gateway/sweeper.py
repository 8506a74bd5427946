"""The retention sweeper (G16): deletes every recording when it falls due, verifiably.

One replica at a time holds the sweeper lease (store lock with expiry and a
fence number that only grows). Each sweep:
1. reconciles the registry with the platforms (BBB getRecordings, Jibri
   directories), so due dates lost with the store come back from the
   recordings themselves;
2. deletes what is due (held recordings are not in the due index), checks the
   recording is really gone, and retries failures with backoff; failures past
   the policy's grace are counted as alerting.
Every step is idempotent: a sweep killed half-way leaves each recording either
untouched or deleted, and the next sweep picks up what is left. Nothing is
deleted before its due date (the selection and a re-check of the row both
compare with now).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from gateway.audit import AuditLog
from gateway.clock import Clock
from gateway.metrics import PLATFORMS, RECORDING_STATES, Metrics
from gateway.registry import Registry
from gateway.retention_policy import (
    DeclaredRecording,
    RegistryRow,
    after_failure,
    decide_retention,
    is_alerting,
    lock_ttl,
    merge_into_row,
    plan_action,
    recording_state,
)
from gateway.settings import PURPOSES, Policy
from gateway.store import Lease, Store

log = logging.getLogger(__name__)

LOCK_NAME = "retention-sweeper"
FENCE_KEY = "retention:fence"
SUMMARY_KEY = "retention:summary"
_BATCH = 500


class DeletionFailed(Exception):
    """A deletion step failed; `reason` is a bounded label for metrics and audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LostLease(Exception):
    """Another replica holds the sweeper lease now: stop at once."""


class RecordingSource(Protocol):
    """One platform's recordings: list them, delete one, check one is gone."""

    platform: str
    name: str

    def owns(self, row: RegistryRow) -> bool: ...
    def listing(self) -> AsyncIterator[DeclaredRecording]: ...
    async def delete(self, row: RegistryRow) -> list[str]: ...
    async def is_gone(self, row: RegistryRow) -> bool: ...


@dataclass
class SweepResult:
    reconciled: int = 0
    deleted: int = 0
    failed: int = 0
    held: int = 0
    source_errors: list[str] = field(default_factory=list)
    lost_lease: bool = False


class Sweeper:
    def __init__(self, *, policy: Policy, store: Store, sources: Sequence[RecordingSource],
                 clock: Clock, metrics: Metrics, audit: AuditLog,
                 tag: Callable[[str], str] = lambda value: value,
                 lease_ttl: float | None = None) -> None:
        self.policy = policy
        self.store = store
        self.registry = Registry(store)
        self.sources = list(sources)
        self.clock = clock
        self.metrics = metrics
        self.audit = audit
        self.tag = tag  # keyed pseudonym for meeting references in the audit (G20)
        self.interval = float(policy.retention.sweep_interval_seconds)
        self.lease_ttl = lease_ttl or lock_ttl(self.interval)
        self.last_counts: list[dict[str, object]] = []

    # --- the loop -----------------------------------------------------------

    async def run_forever(self) -> None:
        """Sweep every interval while holding the lease; other replicas wait."""
        while True:
            try:
                await self.sweep_if_leader()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.error("sweep failed", exc_info=True, extra={"event": "sweep_error"})
            await asyncio.sleep(self.interval)

    async def sweep_if_leader(self) -> SweepResult | None:
        lease = await self.store.acquire(LOCK_NAME, self.lease_ttl)
        if lease is None:
            return None  # another replica sweeps (G16: one at a time)
        try:
            return await self.sweep(lease)
        finally:
            await self.store.release(lease)

    async def sweep(self, lease: Lease) -> SweepResult:
        started = time.perf_counter()
        await self.store.set(FENCE_KEY, str(lease.fence).encode(), None)
        result = SweepResult()
        try:
            await self.reconcile(result)
            await self.delete_due(lease, result)
        except LostLease:
            result.lost_lease = True
            log.warning("sweeper lease lost", extra={"event": "sweep_lost_lease",
                                                     "fence": lease.fence})
        await self.update_gauges()
        self.metrics.sweep_duration.observe(time.perf_counter() - started)
        self.metrics.last_sweep.set(self.clock.time())
        log.info("sweep done", extra={"event": "sweep_done", "count": result.deleted,
                                      "fence": lease.fence})
        return result

    async def _check_lease(self, lease: Lease) -> None:
        """Fencing: stop unless this lease is still held and still the newest."""
        if not await self.store.renew(lease, self.lease_ttl):
            raise LostLease
        current = await self.store.get(FENCE_KEY)
        if current is not None and int(current) > lease.fence:
            raise LostLease

    # --- reconciliation -------------------------------------------------------

    async def reconcile(self, result: SweepResult) -> None:
        """Register every recording the platforms hold, with its due date."""
        tally: Counter[tuple[str, str, str]] = Counter()
        for source in self.sources:
            try:
                async for declared in source.listing():
                    row = await self.register(declared)
                    tally[(row.platform, row.purpose, recording_state(row, self.clock.time()))] += 1
                    result.reconciled += 1
            except (DeletionFailed, OSError, TimeoutError, ValueError) as exc:
                # A platform that cannot be listed keeps its registry rows as they are.
                result.source_errors.append(source.name)
                log.warning("reconcile failed", extra={"event": "reconcile_error",
                                                       "platform": source.platform,
                                                       "error": type(exc).__name__})
        self._publish_tally(tally)

    async def register(self, declared: DeclaredRecording) -> RegistryRow:
        """Upsert one recording; the due date never moves earlier (never early)."""
        key = f"{declared.platform}:{declared.recording_id}"
        existing = await self.registry.get(key)
        decision = decide_retention(self.policy, declared, self.clock.time())
        row = merge_into_row(existing, declared, decision)
        if existing is None:
            row = await self.registry.with_pending_holds(row)
        if row != existing:
            await self.registry.put(row)
            if existing is None:
                await self.audit.record(
                    "recording_registered", row.platform, recording=row.key,
                    purpose=row.purpose, meeting_type=row.meeting_type,
                    meeting=self.tag(row.meeting_ref) if row.meeting_ref else None,
                    retain_until=int(row.retain_until), source=decision.source)
        return row

    def _publish_tally(self, tally: Counter[tuple[str, str, str]]) -> None:
        self.last_counts = [
            {"platform": p, "purpose": purpose, "state": state, "count": tally.get(labels, 0)}
            for labels in _known_label_sets() for p, purpose, state in [labels]]
        for labels in _known_label_sets():
            self.metrics.recordings.labels(*labels).set(tally.get(labels, 0))

    # --- deletion -----------------------------------------------------------

    async def delete_due(self, lease: Lease, result: SweepResult) -> None:
        """Delete every due recording, earliest first, until none is left."""
        seen: set[str] = set()
        while True:
            keys = [k for k in await self.registry.due_keys(self.clock.time(), _BATCH)
                    if k not in seen]
            if not keys:
                return
            for key in keys:
                seen.add(key)
                await self._check_lease(lease)
                await self._process(key, result, lease.fence)

    async def _process(self, key: str, result: SweepResult, fence: int) -> None:
        row = await self.registry.get(key)
        if row is None:
            await self.store.zrem("rec:due", key)  # a damaged or orphan index entry
            return
        action = plan_action(row, self.clock.time())
        if action.kind == "delete":
            if await self.delete_row(row, reason="retention", fence=fence):
                result.deleted += 1
            else:
                result.failed += 1
        elif action.kind == "held":
            result.held += 1
            await self.registry.put(row)  # moves it out of the due index
        else:
            await self.registry.put(row)  # re-score: not due yet or backing off

    async def delete_row(self, row: RegistryRow, *, reason: str, fence: int = 0) -> bool:
        """Delete one recording on its platform and verify it is gone (idempotent)."""
        source = next((s for s in self.sources if s.owns(row)), None)
        platform = row.platform if row.platform in ("bbb", "jitsi") else "bbb"
        try:
            if source is None:
                raise DeletionFailed("no_source")
            removed = await source.delete(row)
            if not await source.is_gone(row):
                raise DeletionFailed("still_present")
        except (DeletionFailed, OSError, TimeoutError) as exc:
            failure = exc.reason if isinstance(exc, DeletionFailed) else type(exc).__name__
            await self._failed(row, failure, platform)
            return False
        await self.registry.remove(row)
        self.metrics.deletions.labels(platform=platform, result="deleted").inc()
        self.metrics.deletions.labels(platform=platform, result="verified_gone").inc()
        await self.audit.record(
            "recording_deleted", row.platform, recording=row.key, purpose=row.purpose,
            reason=reason, retain_until=int(row.retain_until), paths=len(removed),
            attempts=row.attempts + 1, fence=fence or None)
        log.info("recording deleted", extra={"event": "recording_deleted",
                                             "platform": row.platform, "purpose": row.purpose,
                                             "reason": reason})
        return True

    async def _failed(self, row: RegistryRow, failure: str, platform: str) -> None:
        current = await self.registry.get(row.key)
        updated = after_failure(current or row, self.clock.time(), self.interval)
        if current is not None:  # not forgotten meanwhile: keep it for the retry
            await self.registry.put(updated)
        self.metrics.deletions.labels(platform=platform, result="failed").inc()
        await self.audit.record("deletion_failed", row.platform, recording=row.key,
                                reason=failure, attempt=updated.attempts)
        log.warning("deletion failed", extra={"event": "deletion_failed",
                                              "platform": row.platform, "reason": failure,
                                              "attempt": updated.attempts})

    # --- gauges ---------------------------------------------------------------

    async def update_gauges(self) -> None:
        now = self.clock.time()
        grace = float(self.policy.retention.failure_grace_seconds)
        overdue_unprocessed = len(await self.registry.due_keys(now, 100_000))
        failing = await self.registry.failing(now, 100_000)
        alerting = 0
        for key, _ in failing:
            row = await self.registry.get(key)
            if row is not None and is_alerting(row, now, grace):
                alerting += 1
        failing_keys = {k for k, _ in failing}
        due_failing = len(failing_keys - set(await self.registry.due_keys(now, 100_000)))
        overdue = overdue_unprocessed + due_failing
        self.metrics.recordings_overdue.set(overdue)
        self.metrics.deletion_failing.set(len(failing))
        self.metrics.deletion_alerting.set(alerting)
        next_due = await self.registry.next_due()
        self.metrics.next_due.set(next_due if next_due is not None else 0)
        # The officer's overview reads this from any replica (aggregate only, G20).
        summary = {"counts": self.last_counts, "overdue": overdue, "failing": len(failing),
                   "alerting": alerting, "next_due": next_due, "last_sweep": now}
        await self.store.set(SUMMARY_KEY, json.dumps(summary).encode(), None)


def _known_label_sets() -> list[tuple[str, str, str]]:
    return [(p, purpose, s) for p in PLATFORMS for purpose in (*PURPOSES, "undeclared")
            for s in RECORDING_STATES]


@contextlib.asynccontextmanager
async def running(sweeper: Sweeper) -> AsyncIterator[asyncio.Task[None]]:
    """Run the sweeper loop in the background; cancel and await it on exit."""
    task = asyncio.create_task(sweeper.run_forever(), name="retention-sweeper")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
