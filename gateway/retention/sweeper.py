"""The retention sweeper (G16): deletes every recording when it falls due, verifiably.

One replica at a time holds the sweeper lease: a store lock with a short expiry
(LEASE_TTL_SECONDS) renewed by a heartbeat while the sweep runs, so a holder
that died frees it within a minute, and a fence number that only grows (also
across a lost store, gateway.store.base.Lease) and goes into the audit. Each sweep:
1. reconciles the registry with the platforms (BBB getRecordings, Jibri
   directories), so due dates, holds and open objections lost with the store
   come back from the recordings themselves (gateway.retention.holds);
2. deletes what is due in batches (one deleteRecordings, one purge-agent call
   and one check per batch), with bounded concurrency per server, checks each
   recording is really gone, and retries failures with backoff; failures past
   the policy's grace are counted as alerting.
Every step is idempotent: a sweep killed half-way leaves each recording either
untouched or deleted, and the next sweep picks up what is left. Nothing is
deleted before its due date (the selection and a re-check of the row both
compare with now), and nothing whose hold is not yet written onto the
recording itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Literal

from gateway.audit.log import AuditLog
from gateway.clock import Clock
from gateway.metrics import Metrics
from gateway.policy.model import Policy
from gateway.policy.retention import (
    DeclaredRecording,
    RegistryRow,
    after_failure,
    plan_action,
    recording_state,
)
from gateway.retention.gauges import SUMMARY_KEY as SUMMARY_KEY  # re-exported
from gateway.retention.gauges import (
    RetentionCounters,
    known_label_sets,
    read_summary,
    set_summary_gauges,
)
from gateway.retention.holds import HoldKeeper
from gateway.retention.model import SOURCE_ERRORS as SOURCE_ERRORS  # re-exported
from gateway.retention.model import BatchOutcome as BatchOutcome
from gateway.retention.model import DeletionFailed as DeletionFailed
from gateway.retention.model import LostLease as LostLease
from gateway.retention.model import RecordingSource as RecordingSource
from gateway.retention.model import SweepResult as SweepResult
from gateway.retention.model import delete_batch as delete_batch
from gateway.retention.model import failure_label
from gateway.retention.model import failure_reason as failure_reason
from gateway.retention.model import holder_name as holder_name
from gateway.store.base import Lease, Store
from gateway.store.registry import OPEN_OBJECTIONS, Registry, register_recording

log = logging.getLogger(__name__)

LOCK_NAME = "retention-sweeper"
_BATCH = 500
# Reconciliation renews the lease this often (about one BBB page), so a long
# listing stops as soon as another replica has taken over.
LEASE_CHECK_EVERY = 100
# The lease: short, renewed every HEARTBEAT_SECONDS while a sweep runs. A holder
# killed mid-sweep frees it within LEASE_TTL_SECONDS (G16: the next sweep starts).
LEASE_TTL_SECONDS = 30.0
HEARTBEAT_SECONDS = 10.0
# Deletions: this many recordings per deleteRecordings/purge call, and at most
# this many such calls at once per server.
PURGE_BATCH = 50
PER_SERVER_CONCURRENCY = 4
# An upheld objection's deletion waits this long for a running sweep's lease.
DELETE_NOW_WAIT_SECONDS = 30.0

DeletionOutcome = Literal["deleted", "failed", "held"]


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
        self.lease_ttl = lease_ttl or LEASE_TTL_SECONDS
        self.counters = RetentionCounters(store, metrics)
        self.holder = holder_name()
        self.last_counts: list[dict[str, object]] = []
        # Called with the running result as the sweep advances (the CLI's progress).
        self.on_progress: Callable[[SweepResult], None] = lambda result: None
        self._lost = False
        self.holds = HoldKeeper(self)

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
        lease = await self.store.acquire(LOCK_NAME, self.lease_ttl, holder=self.holder)
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
        result = SweepResult(fence=lease.fence)
        async with self._heartbeat(lease):
            try:
                await self.reconcile(result, lease)
                await self.holds.sync_pending(lease, result)
                await self.delete_due(lease, result)
            except LostLease:
                result.lost_lease = True
                log.warning("sweeper lease lost", extra={"event": "sweep_lost_lease",
                                                         "fence": lease.fence})
        await self.update_gauges(result)
        self.metrics.sweep_duration.observe(time.perf_counter() - started)
        log.info("sweep done", extra={"event": "sweep_done", "count": result.deleted,
                                      "fence": lease.fence})
        return result

    @contextlib.asynccontextmanager
    async def _heartbeat(self, lease: Lease) -> AsyncIterator[None]:
        """Renew the lease every HEARTBEAT_SECONDS (at most a third of its TTL) while
        the sweep runs; a refused or failed renewal stops the sweep at its next check."""
        self._lost = False

        async def beat() -> None:
            every = min(HEARTBEAT_SECONDS, self.lease_ttl / 3)
            while not self._lost:
                await asyncio.sleep(every)
                try:
                    self._lost = not await self.store.renew(lease, self.lease_ttl)
                except Exception:  # the store is unreachable: act as if the lease is gone
                    self._lost = True

        task = asyncio.create_task(beat(), name="retention-lease-heartbeat")
        try:
            yield
        finally:
            task.cancel()
            # gather, not suppress(CancelledError): a cancellation of the sweep itself
            # arriving here must still end it (the loop would otherwise sleep on).
            await asyncio.gather(task, return_exceptions=True)

    async def check_lease(self, lease: Lease, renew: bool = False) -> None:
        """Stop unless this lease is still ours: the renew is token-checked, and a
        newer holder (a higher fence) necessarily holds another token."""
        if self._lost or (renew and not await self.store.renew(lease, self.lease_ttl)):
            self._lost = True
            raise LostLease

    # --- reconciliation -------------------------------------------------------

    async def reconcile(self, result: SweepResult, lease: Lease | None = None) -> None:
        """Register every recording the platforms hold, with its due date and holds."""
        tally: Counter[tuple[str, str, str]] = Counter()
        for source in self.sources:
            try:
                async with contextlib.aclosing(source.listing()) as listing:
                    async for declared in listing:
                        if lease is not None and result.reconciled % LEASE_CHECK_EVERY == 0:
                            await self.check_lease(lease, renew=True)
                        row = await self.register(declared)
                        now = self.clock.time()
                        tally[(row.platform, row.purpose, recording_state(row, now))] += 1
                        result.reconciled += 1
                        self.on_progress(result)
            except SOURCE_ERRORS as exc:
                # A platform that cannot be listed keeps its registry rows as they are.
                result.source_errors.append(source.name)
                result.source_reasons.append((source.name, failure_reason(exc)))
                log.warning("reconcile failed", extra={"event": "reconcile_error",
                                                       "platform": source.platform,
                                                       "error": failure_reason(exc)})
            result.skipped += int(getattr(source, "skipped", 0))
        await self._publish_tally(tally)

    async def register(self, declared: DeclaredRecording) -> RegistryRow:
        """Upsert one recording; the due date never moves earlier (never early), and
        holds written on the recording come back into the store (G12)."""
        registration = await register_recording(self.registry, self.policy, declared,
                                                 self.clock.time(), self.audit, self.tag)
        return await self.holds.restore(registration.row, declared, registration.new)

    async def _publish_tally(self, tally: Counter[tuple[str, str, str]]) -> None:
        self.last_counts = [
            {"platform": p, "purpose": purpose, "state": state, "count": tally.get(labels, 0)}
            for labels in known_label_sets() for p, purpose, state in [labels]]
        await self._store_counts(self.last_counts)

    async def _store_counts(self, counts: list[dict[str, object]]) -> None:
        """The Recordings table's counts into the shared summary (the rest unchanged)."""
        summary = await read_summary(self.store) or {}
        summary["counts"] = counts
        await self.store.set(SUMMARY_KEY, json.dumps(summary).encode(), None)
        set_summary_gauges(self.metrics, {"counts": counts})

    async def restate(self, changes: Iterable[tuple[RegistryRow, RegistryRow | None]]) -> None:
        """Move recordings between the Recordings table's states at once, as a hold is
        placed or released or a recording deleted (None after), so the officer's page
        and the `privacy_gateway_recordings` gauge say "held" without waiting for the
        next sweep's tally (G12, G16). The next sweep counts everything afresh."""
        now = self.clock.time()
        moves: Counter[tuple[str, str, str]] = Counter()
        for before, after in changes:
            moves[(before.platform, before.purpose, recording_state(before, now))] -= 1
            if after is not None:
                moves[(after.platform, after.purpose, recording_state(after, now))] += 1
        if not any(moves.values()):
            return
        stored = await read_summary(self.store)
        current = stored.get("counts") if stored is not None else None
        counts = [dict(c) for c in (current if isinstance(current, list) else self.last_counts)
                  if isinstance(c, dict)]
        if not counts:
            counts = [{"platform": p, "purpose": purpose, "state": state, "count": 0}
                      for p, purpose, state in known_label_sets()]
        for entry in counts:
            labels = (str(entry.get("platform")), str(entry.get("purpose")),
                      str(entry.get("state")))
            count = entry.get("count")
            entry["count"] = max(0, (count if isinstance(count, int) else 0) + moves[labels])
        self.last_counts = counts
        await self._store_counts(counts)

    # --- deletion -----------------------------------------------------------

    async def delete_due(self, lease: Lease, result: SweepResult) -> None:
        """Delete every due recording, earliest first, in batches, until none is left."""
        seen: set[str] = set()
        while True:
            now = self.clock.time()
            keys = [k for k in await self.registry.due_keys(now, _BATCH) if k not in seen]
            if not keys:
                return
            seen.update(keys)
            rows = []
            for key in keys:
                row = await self.registry.get(key)
                if row is None:
                    await self.registry.forget_index_entry(key)
                elif plan_action(row, now).kind == "delete":
                    rows.append(row)
                else:
                    await self.registry.reindex(row)  # held: out of the due index; else re-scored
            result.due += len(rows)
            self.on_progress(result)
            await self._delete_rows(rows, result, lease)

    async def delete_now(self, keys: Iterable[str]) -> SweepResult | None:
        """Delete these recordings now if they are due (an upheld objection, G12),
        under the sweeper lease like any sweep. None: a sweep kept the lease for
        longer than DELETE_NOW_WAIT_SECONDS; the rows are due and it takes them."""
        waited = 0.0
        while (lease := await self.store.acquire(LOCK_NAME, self.lease_ttl,
                                                 holder=self.holder)) is None:
            if waited >= DELETE_NOW_WAIT_SECONDS:
                return None
            await asyncio.sleep(0.2)
            waited += 0.2
        result = SweepResult(fence=lease.fence)
        try:
            async with self._heartbeat(lease):
                rows = [row for row in [await self.registry.get(k) for k in sorted(keys)]
                        if row is not None and plan_action(row, self.clock.time()).kind
                        == "delete"]
                await self._delete_rows(rows, result, lease)
        except LostLease:
            result.lost_lease = True
        finally:
            await self.store.release(lease)
        await self.update_gauges(sweep=False)  # the officer sees a failure at once
        return result

    async def delete_row(self, row: RegistryRow, *, reason: str,
                         fence: int = 0) -> DeletionOutcome:
        """Delete one recording on its platform and verify it is gone (idempotent)."""
        result = SweepResult(fence=fence)
        await self._delete_rows([row], result, None, reason=reason)
        return "deleted" if result.deleted else "failed" if result.failed else "held"

    async def _delete_rows(self, rows: Sequence[RegistryRow], result: SweepResult,
                           lease: Lease | None, reason: str | None = None) -> None:
        """Per source, batches of PURGE_BATCH with at most PER_SERVER_CONCURRENCY at once."""
        by_source: dict[int, list[RegistryRow]] = {}
        for row in rows:
            index = next((i for i, s in enumerate(self.sources) if s.owns(row)), -1)
            by_source.setdefault(index, []).append(row)
        jobs = []
        for index, owned in by_source.items():
            gate = asyncio.Semaphore(PER_SERVER_CONCURRENCY)
            for start in range(0, len(owned), PURGE_BATCH):
                chunk = owned[start:start + PURGE_BATCH]
                jobs.append(self._delete_chunk(index, chunk, gate, result, lease, reason))
        outcomes = await asyncio.gather(*jobs, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _delete_chunk(self, index: int, chunk: list[RegistryRow],
                            gate: asyncio.Semaphore, result: SweepResult,
                            lease: Lease | None, reason: str | None) -> None:
        async with gate:
            if lease is not None:
                await self.check_lease(lease)
            ready = [row for row in chunk if await self.holds.may_delete(row)]
            if index < 0:
                outcome: BatchOutcome = {row.key: "no_source" for row in ready}
            else:
                outcome = await delete_batch(self.sources[index], ready)
            gone: list[tuple[RegistryRow, RegistryRow | None]] = []
            for row in ready:
                done = outcome.get(row.key, "no_report")
                if isinstance(done, str):
                    await self._failed(row, done, result)
                else:
                    await self._deleted(row, done, reason or
                                        ("objection_upheld" if row.forced else "retention"),
                                        result)
                    gone.append((row, None))
            await self.restate(gone)
            self.on_progress(result)

    async def _deleted(self, row: RegistryRow, removed: list[str], reason: str,
                       result: SweepResult) -> None:
        await self.registry.remove(row)
        # "deleted": files removed and verified gone; "not_found": already gone.
        await self.counters.deletion(row.platform, "deleted" if removed else "not_found",
                                     row.purpose)
        await self.audit.record(
            "recording_deleted", row.platform, recording=row.key, purpose=row.purpose,
            reason=reason, retain_until=int(row.retain_until), paths=len(removed),
            attempts=row.attempts + 1, fence=result.fence or None)
        log.info("recording deleted", extra={"event": "recording_deleted",
                                             "platform": row.platform, "purpose": row.purpose,
                                             "reason": reason})
        result.deleted += 1

    async def _failed(self, row: RegistryRow, failure: str, result: SweepResult) -> None:
        current = await self.registry.get(row.key)
        updated = after_failure(current or row, self.clock.time(), self.interval)
        if current is not None:  # not forgotten meanwhile: keep it for the retry
            await self.registry.put(updated)
        await self.counters.deletion(row.platform, "failed", row.purpose)
        label = failure_label(failure)
        await self.audit.record("deletion_failed", row.platform, recording=row.key,
                                reason=label, attempt=updated.attempts)
        log.warning("deletion failed", extra={"event": "deletion_failed",
                                              "platform": row.platform, "reason": label,
                                              "detail": failure[len(label) + 2:-1] or None,
                                              "recording_ref": self.tag(row.key),
                                              "attempt": updated.attempts})
        result.failed += 1
        result.failures.append((row.key, failure))

    # --- gauges ---------------------------------------------------------------

    async def update_gauges(self, result: SweepResult | None = None, *,
                            sweep: bool = True) -> None:
        """Gauges from the registry, and the summary every replica exports (G20: counts).
        `sweep=False`: after deletions outside a sweep (an upheld objection); the last
        sweep's time and tally stand."""
        now = self.clock.time()
        stored = await read_summary(self.store) if not sweep else None
        grace = float(self.policy.retention.failure_grace_seconds)
        due = set(await self.registry.due_keys(now, 100_000))
        failing = {key for key, _ in await self.registry.failing(now, 100_000)}
        # FAILING is scored by first failure: failing past the grace is one range read.
        alerting = len(await self.registry.failing(now - grace, 100_000))
        counts = stored.get("counts", []) if stored is not None else self.last_counts
        last_sweep = (now if sweep else stored.get("last_sweep") if stored is not None
                      else None)
        summary = {"counts": counts, "overdue": len(due | failing),
                   "failing": len(failing), "alerting": alerting,
                   "next_due": await self.registry.next_due(), "last_sweep": last_sweep,
                   "objections_open": await self.store.zcard(OPEN_OBJECTIONS)}
        await self.store.set(SUMMARY_KEY, json.dumps(summary).encode(), None)
        set_summary_gauges(self.metrics, summary)
        await self.counters.sync()
        if result is not None:
            result.waiting, result.alerting = len(failing), alerting
            result.held = sum(int(str(c["count"])) for c in self.last_counts
                              if c["state"] == "held")

    async def load_gauges(self) -> None:
        """On a replica that does not sweep: the gauges of the last sweep, from the store."""
        summary = await read_summary(self.store)
        if summary is not None:
            summary["objections_open"] = await self.store.zcard(OPEN_OBJECTIONS)
            set_summary_gauges(self.metrics, summary)
        await self.counters.sync()
