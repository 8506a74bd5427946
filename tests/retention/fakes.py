"""Small in-memory stand-ins for the retention rule tests (no platform needed)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.clock import ManualClock
from gateway.metrics import Metrics
from gateway.policy.retention import DeclaredRecording, RegistryRow
from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import DeletionFailed, RecordingSource, Sweeper
from gateway.store.base import MemoryStore, Store
from tests.support import make_settings


class FakeSource:
    """A platform holding `recordings`; deleting removes one; `on_item` runs per listing."""

    platform = "jitsi"
    name = "fake"

    def __init__(self, recordings: list[DeclaredRecording] | None = None) -> None:
        self.recordings = list(recordings or [])
        self.deleted: list[str] = []
        self.refuse_deletes = False  # the purge agent cannot run
        self.on_item: Callable[[int], object] | None = None

    def owns(self, row: RegistryRow) -> bool:
        return row.platform == self.platform

    async def listing(self, *, read_only: bool = False
                      ) -> AsyncGenerator[DeclaredRecording, None]:
        for index, recording in enumerate(list(self.recordings)):
            if self.on_item is not None:
                outcome = self.on_item(index)
                if hasattr(outcome, "__await__"):
                    await outcome  # type: ignore[misc]
            yield recording

    async def delete(self, row: RegistryRow) -> list[str]:
        if self.refuse_deletes:
            raise DeletionFailed("purge_unavailable")
        before = len(self.recordings)
        self.recordings = [r for r in self.recordings if r.recording_id != row.recording_id]
        self.deleted.append(row.key)
        return [row.key] if len(self.recordings) < before else []

    async def is_gone(self, row: RegistryRow) -> bool:
        return all(r.recording_id != row.recording_id for r in self.recordings)


def recording(recording_id: str, *, room: str = "les-3a", purpose: str | None = "feedback",
              created: float | None = None) -> DeclaredRecording:
    return DeclaredRecording(platform="jitsi", recording_id=recording_id, meeting_ref=room,
                             meeting_type="lesson", purpose=purpose, created=created)


@dataclass
class Rig:
    clock: ManualClock
    store: Store
    source: FakeSource
    sweeper: Sweeper
    desk: ObjectionDesk
    metrics: Metrics
    extra: dict[str, object] = field(default_factory=dict)


def rig(tmp_path: Path, store: Store | None = None, *,
        sources: list[RecordingSource] | None = None,
        clock: ManualClock | None = None) -> Rig:
    settings = make_settings(tmp_path, {"retention": {"sweep_interval_seconds": 60}})
    clock = clock or ManualClock(start=time.time())
    store = store or MemoryStore("pgw", clock)
    source = FakeSource()
    metrics = Metrics()
    audit = AuditLog(store, clock, 365)
    sweeper = Sweeper(policy=settings.policy, store=store, sources=sources or [source],
                      clock=clock, metrics=metrics, audit=audit,
                      tag=lambda value: "meeting-tag")
    desk = ObjectionDesk(store=store, sweeper=sweeper, audit=audit, clock=clock,
                         metrics=metrics, retention_days=365, tag=lambda value: "meeting-tag")
    return Rig(clock, store, source, sweeper, desk, metrics)
