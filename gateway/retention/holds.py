"""Holds written where the due date lives (G12, G16): the store is only a cache.

A hold (a legal hold, or an open objection) is written onto the recording
itself, beside its due date: BBB `meta_privacy-holds` through updateRecordings,
the `holds` list of a Jibri sidecar. Reconciliation reads them back, so a lost
store gets its holds and open objections again from the recordings, and never
turns a held recording into a due one.

Order of a change: the store first (it protects at once), then the recording.
A recording whose holds are not yet written onto it stays in `rec:unsynced`
and every sweep writes it again before it deletes anything; `hold add` says so
and exits non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from gateway.policy.retention import HOLD_OBJECTION, DeclaredRecording, RegistryRow
from gateway.policy.retention import HOLDS_META as HOLDS_META  # re-exported
from gateway.policy.retention import format_holds as format_holds
from gateway.policy.retention import parse_holds as parse_holds
from gateway.retention.model import (
    SOURCE_ERRORS,
    RecordingSource,
    SweepResult,
    failure_reason,
)
from gateway.retention.objections import restore_open
from gateway.store.base import Lease

if TYPE_CHECKING:  # the keeper works for its sweeper, which builds it (gateway.retention.sweeper)
    from gateway.retention.sweeper import Sweeper

UNSYNCED = "rec:unsynced"
@dataclass(frozen=True, slots=True)
class HoldChange:
    row: RegistryRow
    written: bool  # written onto the recording itself
    reason: str  # why not, when not


class HoldKeeper:
    def __init__(self, sweeper: Sweeper) -> None:
        self.sweeper = sweeper
        self.registry = sweeper.registry
        self.store = sweeper.store

    def _source(self, row: RegistryRow) -> RecordingSource | None:
        return next((s for s in self.sweeper.sources if s.owns(row)), None)

    async def may_delete(self, row: RegistryRow) -> bool:
        """Read fresh right before a deletion: a hold placed just now wins (G12)."""
        if await self.registry.holds(row.key):
            await self.registry.reindex(row)
            return False
        return True

    async def place(self, key: str, hold: str) -> HoldChange | None:
        """Hold a recording, registering it first from its platform when the
        registry does not know it yet; None when no platform has it."""
        if not await self._known(key):
            return None
        row = await self.registry.add_hold(key, hold)
        if row is None:
            return None
        return await self._write(row)

    async def release(self, key: str, hold: str) -> HoldChange | None:
        """Release one hold, in the store and on the recording (registered first from
        its platform if the store was lost); None when the recording lacks that hold."""
        row = await self.registry.get(key) if await self._known(key) else None
        if row is None or hold not in row.holds:
            return None
        await self.registry.release_hold(key, hold)
        return await self.write_back(key)

    async def _known(self, key: str) -> bool:
        if await self.registry.get(key) is not None:
            return True
        declared = await self.lookup(key)
        if declared is not None:
            await self.sweeper.register(declared)  # with the holds it carries
        return declared is not None

    async def write_back(self, key: str) -> HoldChange | None:
        """After a hold was placed or released in the store: write the recording's
        holds as they are now onto the recording itself."""
        row = await self.registry.get(key)
        return await self._write(row) if row is not None else None

    async def _write(self, row: RegistryRow) -> HoldChange:
        await self.store.sadd(UNSYNCED, row.key)
        reason = await self.sync(row.key)
        return HoldChange(replace(row, holds=await self.registry.holds(row.key)),
                          reason == "", reason)

    async def sync(self, key: str) -> str:
        """Write the store's holds onto the recording; "" when done, else the reason."""
        row = await self.registry.get(key)
        source = self._source(row) if row is not None else None
        writer = getattr(source, "write_holds", None)
        if row is not None and writer is not None:
            try:
                await writer(row, await self.registry.holds(key))
            except SOURCE_ERRORS as exc:
                return failure_reason(exc)
        await self.store.srem(UNSYNCED, key)
        return ""

    async def sync_pending(self, lease: Lease, result: SweepResult) -> None:
        """Every sweep: write the holds that are not on their recordings yet."""
        for key in sorted(await self.store.smembers(UNSYNCED)):
            await self.sweeper.check_lease(lease)
            reason = await self.sync(key)
            if reason:
                result.failures.append((key, f"hold_not_written:{reason}"))

    async def restore(self, row: RegistryRow, declared: DeclaredRecording,
                      new: bool = False) -> RegistryRow:
        """Reconciliation: holds on the recording come back into the store (never the
        other way round: only a release removes one), and holds the recording does
        not carry yet are queued to be written onto it."""
        if not declared.holds and not row.holds:
            return row
        unsynced = row.key in await self.store.smembers(UNSYNCED)
        stored = await self.registry.holds(row.key)
        missing = declared.holds - stored
        if new and declared.holds:  # registered with the holds it carries: a store rebuilt
            await self.sweeper.audit.record("hold_restored", row.platform, recording=row.key,
                                            holds=len(declared.holds))
        elif missing and not unsynced:
            for hold in sorted(missing):
                await self.registry.add_hold(row.key, hold)
            await self.sweeper.audit.record("hold_restored", row.platform, recording=row.key,
                                            holds=len(missing))
            row = replace(row, holds=row.holds | missing)
        if not unsynced:
            for hold in sorted(declared.holds):
                if hold.startswith(HOLD_OBJECTION + ":"):
                    await restore_open(
                        self.store, hold.partition(":")[2], row, self.sweeper.clock.time(),
                        self.sweeper.audit.journal, person_ttl=self.sweeper.policy.retention
                        .audit_retention_days * 86400.0)
        if row.holds - declared.holds and not unsynced:
            await self.store.sadd(UNSYNCED, row.key)
        return row

    async def lookup(self, key: str) -> DeclaredRecording | None:
        """A recording the registry does not know yet, asked of its platform."""
        platform, _, recording_id = key.partition(":")
        for source in self.sweeper.sources:
            finder = getattr(source, "lookup", None)
            if source.platform == platform and finder is not None:
                found: DeclaredRecording | None = await finder(recording_id)
                if found is not None:
                    return found
        return None
