"""The retention sweeper (G16): deletes every recording when it falls due, verifiably.

One replica at a time holds the sweeper lease (a store lock with expiry and a
token; its fence number, which only grows, goes into the audit). Each sweep:
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
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from gateway.audit import AuditLog
from gateway.clock import Clock
from gateway.metrics import PLATFORMS, RECORDING_STATES, Metrics
from gateway.registry import OPEN_OBJECTIONS, Registry, register_recording
from gateway.retention_policy import (
    DeclaredRecording,
    RegistryRow,
    after_failure,
    lock_ttl,
    plan_action,
    recording_state,
)
from gateway.settings import PURPOSES, Policy
from gateway.store import Lease, Store

log = logging.getLogger(__name__)

LOCK_NAME = "retention-sweeper"
SUMMARY_KEY = "retention:summary"
_BATCH = 500
# Reconciliation renews the lease this often (about one BBB page), so a long
# listing stops as soon as another replica has taken over.
LEASE_CHECK_EVERY = 100
# An upheld objection's deletion waits this long for a running sweep's lease.
DELETE_NOW_WAIT_SECONDS = 30.0

DeletionOutcome = Literal["deleted", "failed", "held"]


class DeletionFailed(Exception):
    """A deletion step failed; `reason` is a bounded label for metrics and audit."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What a platform may raise while it is listed: the sweep and the dry run skip it.
SOURCE_ERRORS: tuple[type[Exception], ...] = (DeletionFailed, OSError, TimeoutError, ValueError)


class LostLease(Exception):
    """Another replica holds the sweeper lease now: stop at once."""


class RecordingSource(Protocol):
    """One platform's recordings: list them, delete one, check one is gone."""

    platform: str
    name: str

    def owns(self, row: RegistryRow) -> bool: ...
    def listing(self, *, read_only: bool = False
                ) -> AsyncGenerator[DeclaredRecording, None]: ...
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
            # Another replica sweeps (G16: one at a time); export what it found, so
            # every replica's gauges say the same and none goes stale.
            await self.load_gauges()
            return None
        try:
            return await self.sweep(lease)
        finally:
            await self.store.release(lease)

    async def sweep(self, lease: Lease) -> SweepResult:
        started = time.perf_counter()
        result = SweepResult()
        try:
            await self.reconcile(result, lease)
            await self.delete_due(lease, result)
        except LostLease:
            result.lost_lease = True
            log.warning("sweeper lease lost", extra={"event": "sweep_lost_lease",
                                                     "fence": lease.fence})
        await self.update_gauges()
        self.metrics.sweep_duration.observe(time.perf_counter() - started)
        log.info("sweep done", extra={"event": "sweep_done", "count": result.deleted,
                                      "fence": lease.fence})
        return result

    async def _check_lease(self, lease: Lease) -> None:
        """Stop unless this lease is still ours: the renew is token-checked, and a
        newer holder (a higher fence) necessarily holds another token."""
        if not await self.store.renew(lease, self.lease_ttl):
            raise LostLease

    # --- reconciliation -------------------------------------------------------

    async def reconcile(self, result: SweepResult, lease: Lease | None = None) -> None:
        """Register every recording the platforms hold, with its due date."""
        tally: Counter[tuple[str, str, str]] = Counter()
        for source in self.sources:
            try:
                async with contextlib.aclosing(source.listing()) as listing:
                    async for declared in listing:
                        if lease is not None and result.reconciled % LEASE_CHECK_EVERY == 0:
                            await self._check_lease(lease)
                        row = await self.register(declared)
                        now = self.clock.time()
                        tally[(row.platform, row.purpose, recording_state(row, now))] += 1
                        result.reconciled += 1
            except SOURCE_ERRORS as exc:
                # A platform that cannot be listed keeps its registry rows as they are.
                result.source_errors.append(source.name)
                log.warning("reconcile failed", extra={"event": "reconcile_error",
                                                       "platform": source.platform,
                                                       "error": type(exc).__name__})
        self._publish_tally(tally)

    async def register(self, declared: DeclaredRecording) -> RegistryRow:
        """Upsert one recording; the due date never moves earlier (never early)."""
        registration = await register_recording(self.registry, self.policy, declared,
                                                 self.clock.time(), self.audit, self.tag)
        return registration.row

    def _publish_tally(self, tally: Counter[tuple[str, str, str]]) -> None:
        self.last_counts = [
            {"platform": p, "purpose": purpose, "state": state, "count": tally.get(labels, 0)}
            for labels in _known_label_sets() for p, purpose, state in [labels]]
        self._set_recording_gauges(self.last_counts)

    def _set_recording_gauges(self, counts: Iterable[dict[str, object]]) -> None:
        for entry in counts:
            labels = (str(entry["platform"]), str(entry["purpose"]), str(entry["state"]))
            if labels in _KNOWN_LABEL_SETS:
                count = entry["count"]
                self.metrics.recordings.labels(*labels).set(
                    count if isinstance(count, int | float) else 0)

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

    async def delete_now(self, keys: Iterable[str]) -> SweepResult | None:
        """Delete these recordings now if they are due (an upheld objection, G12),
        under the sweeper lease like any sweep. None: a sweep kept the lease for
        longer than DELETE_NOW_WAIT_SECONDS; the rows are due and it takes them."""
        waited = 0.0
        while (lease := await self.store.acquire(LOCK_NAME, self.lease_ttl)) is None:
            if waited >= DELETE_NOW_WAIT_SECONDS:
                return None
            await asyncio.sleep(0.2)
            waited += 0.2
        result = SweepResult()
        try:
            for key in sorted(keys):
                await self._check_lease(lease)
                await self._process(key, result, lease.fence)
        except LostLease:
            result.lost_lease = True
        finally:
            await self.store.release(lease)
        return result

    async def _process(self, key: str, result: SweepResult, fence: int) -> None:
        row = await self.registry.get(key)
        if row is None:
            await self.registry.forget_index_entry(key)
            return
        action = plan_action(row, self.clock.time())
        if action.kind == "delete":
            reason = "objection_upheld" if row.forced else "retention"
            outcome = await self.delete_row(row, reason=reason, fence=fence)
            result.deleted += outcome == "deleted"
            result.failed += outcome == "failed"
            result.held += outcome == "held"
        else:
            result.held += action.kind == "held"
            await self.registry.reindex(row)  # held: out of the due index; else re-scored

    async def delete_row(self, row: RegistryRow, *, reason: str,
                         fence: int = 0) -> DeletionOutcome:
        """Delete one recording on its platform and verify it is gone (idempotent)."""
        if await self.registry.holds(row.key):  # read fresh: a hold placed just now wins (G12)
            await self.registry.reindex(row)
            return "held"
        source = next((s for s in self.sources if s.owns(row)), None)
        platform = row.platform if row.platform in PLATFORMS else "bbb"
        try:
            if source is None:
                raise DeletionFailed("no_source")
            removed = await source.delete(row)
            if not await source.is_gone(row):
                raise DeletionFailed("still_present")
        except (DeletionFailed, OSError, TimeoutError) as exc:
            failure = exc.reason if isinstance(exc, DeletionFailed) else type(exc).__name__
            await self._failed(row, failure, platform)
            return "failed"
        await self.registry.remove(row)
        # "deleted": files removed and verified gone; "not_found": already gone.
        result = "deleted" if removed else "not_found"
        self.metrics.deletions.labels(platform=platform, result=result).inc()
        await self.audit.record(
            "recording_deleted", row.platform, recording=row.key, purpose=row.purpose,
            reason=reason, retain_until=int(row.retain_until), paths=len(removed),
            attempts=row.attempts + 1, fence=fence or None)
        log.info("recording deleted", extra={"event": "recording_deleted",
                                             "platform": row.platform, "purpose": row.purpose,
                                             "reason": reason})
        return "deleted"

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
        """Gauges from the registry, and the summary every replica exports (G20: counts)."""
        now = self.clock.time()
        grace = float(self.policy.retention.failure_grace_seconds)
        due = set(await self.registry.due_keys(now, 100_000))
        failing = {key for key, _ in await self.registry.failing(now, 100_000)}
        # FAILING is scored by first failure: failing past the grace is one range read.
        alerting = len(await self.registry.failing(now - grace, 100_000))
        summary = {"counts": self.last_counts, "overdue": len(due | failing),
                   "failing": len(failing), "alerting": alerting,
                   "next_due": await self.registry.next_due(), "last_sweep": now,
                   "objections_open": await self.store.zcard(OPEN_OBJECTIONS)}
        await self.store.set(SUMMARY_KEY, json.dumps(summary).encode(), None)
        self._set_gauges(summary)

    async def load_gauges(self) -> None:
        """On a replica that does not sweep: the gauges of the last sweep, from the store."""
        raw = await self.store.get(SUMMARY_KEY)
        try:
            summary = json.loads(raw) if raw else None
        except ValueError:
            summary = None
        if isinstance(summary, dict):
            summary["objections_open"] = await self.store.zcard(OPEN_OBJECTIONS)
            self._set_gauges(summary)

    def _set_gauges(self, summary: dict[str, object]) -> None:
        def number(name: str) -> float:
            value = summary.get(name)
            return float(value) if isinstance(value, int | float) else 0.0

        self.metrics.recordings_overdue.set(number("overdue"))
        self.metrics.deletion_failing.set(number("failing"))
        self.metrics.deletion_alerting.set(number("alerting"))
        self.metrics.next_due.set(number("next_due"))
        self.metrics.last_sweep.set(number("last_sweep"))
        self.metrics.objections_open.set(number("objections_open"))
        counts = summary.get("counts")
        if isinstance(counts, list):
            self._set_recording_gauges(c for c in counts if isinstance(c, dict))


def _known_label_sets() -> list[tuple[str, str, str]]:
    return [(p, purpose, s) for p in PLATFORMS for purpose in (*PURPOSES, "undeclared")
            for s in RECORDING_STATES]


_KNOWN_LABEL_SETS = frozenset(_known_label_sets())


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
