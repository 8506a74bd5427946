"""The sweeper against the BBB emulator's disk tree, a Jibri tree and a real Redis (G16)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.policy.retention import DAY, RegistryRow
from gateway.retention.sweeper import LOCK_NAME, DeletionFailed, SweepResult
from gateway.store.redis_store import RedisStore
from gateway.store.registry import Registry
from tests.retention.harness import Bench, bench, counter


async def test_due_recordings_are_deleted_on_both_platforms_and_nothing_early(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        old_bbb = b.add_bbb("feedback", age_days=15)  # 14 d: due
        young_bbb = b.add_bbb("lecture", age_days=15)  # 30 d: kept
        bare_bbb = b.add_bbb(None, age_days=13)  # undeclared 14 d: kept one more day
        old_jibri = b.add_jibri("feedback", age_days=20)
        young_jibri = b.add_jibri("lecture", age_days=1)
        bare_jibri = b.add_jibri(None, age_days=15, sidecar=False)  # no sidecar: 14 d from mtime
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 3 and result.failed == 0
        assert not b.bbb_exists_on_disk(old_bbb)  # raw and deleted/ purged too (bbb.md §6)
        assert b.emulator.recording_state(old_bbb) is None
        assert not b.jibri_exists(old_jibri) and not b.jibri_exists(bare_jibri)
        assert b.emulator.recording_state(young_bbb) == "published"
        # Kept, but out of view: an undeclared purpose is not consent to distribute (G14).
        assert b.emulator.recording_state(bare_bbb) == "unpublished"
        assert b.jibri_exists(young_jibri)
        assert counter(b.metrics, "privacy_gateway_recording_deletions_total",
                       platform="bbb", result="deleted") == 1
        assert counter(b.metrics, "privacy_gateway_recording_deletions_total",
                       platform="jitsi", result="deleted") == 2
        assert counter(b.metrics, "privacy_gateway_recordings_overdue") == 0
        assert counter(b.metrics, "privacy_gateway_recordings", platform="bbb",
                       purpose="lecture", state="retained") == 1
        b.clock.advance(1 * DAY + 60)  # the undeclared BBB recording falls due
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 1
        assert b.emulator.recording_state(bare_bbb) is None


class Blocking:
    """Wraps a source: the n-th delete blocks forever (the process 'dies' there)."""

    def __init__(self, inner, block_at: int) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.platform = inner.platform
        self.name = inner.name
        self.block_at = block_at
        self.deletes = 0
        self.blocked = asyncio.Event()

    def owns(self, row: RegistryRow) -> bool:
        return bool(self.inner.owns(row))

    def listing(self, **options):  # type: ignore[no-untyped-def]
        return self.inner.listing(**options)

    async def delete(self, row: RegistryRow) -> list[str]:
        self.deletes += 1
        if self.deletes == self.block_at:
            self.blocked.set()
            await asyncio.Event().wait()
        return list(await self.inner.delete(row))

    async def is_gone(self, row: RegistryRow) -> bool:
        return bool(await self.inner.is_gone(row))


async def test_killed_mid_run_then_restarted_deletes_nothing_early_and_misses_nothing(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        due = [b.add_jibri("feedback", age_days=15 + i) for i in range(6)]
        kept = [b.add_jibri("lecture", age_days=2) for _ in range(3)]
        due_bbb = [b.add_bbb("feedback", age_days=20) for _ in range(2)]
        blocking = Blocking(b.sources()[1], block_at=3)
        first = b.sweeper(lease_ttl=1.0, jitsi=blocking)
        lease = await b.store.acquire(LOCK_NAME, 1.0)
        assert lease is not None
        task = asyncio.create_task(first.sweep(lease))
        await asyncio.wait_for(blocking.blocked.wait(), 20)
        task.cancel()  # killed: the lease is never released, it expires
        await asyncio.gather(task, return_exceptions=True)
        assert sum(not b.jibri_exists(s) for s in due) == 2
        assert all(b.jibri_exists(s) for s in kept)
        assert await b.sweeper().sweep_if_leader() is None  # the dead lease still holds
        await asyncio.sleep(1.1)
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.failed == 0
        assert not any(b.jibri_exists(s) for s in due)
        assert not any(b.bbb_exists_on_disk(r) for r in due_bbb)
        assert all(b.jibri_exists(s) for s in kept)


async def test_flushed_redis_is_rebuilt_from_bbb_metadata_and_sidecars(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        for purpose in ("lecture", "feedback", "exam_evidence", None):
            b.add_bbb(purpose, age_days=3)
            b.add_jibri(purpose, age_days=3)
        b.add_jibri(None, age_days=2, sidecar=False)
        await b.sweeper().sweep_if_leader()
        before = await _due_dates(b)
        assert len(before) == 9
        client = Redis.from_url(redis_url)
        await client.flushall()
        await client.aclose()
        assert await _due_dates(b) == {}
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.reconciled == 9 and result.deleted == 0
        assert await _due_dates(b) == before


async def _due_dates(b: Bench) -> dict[str, tuple[str, float]]:
    registry = Registry(b.store)
    out = {}
    for key, _ in await registry.upcoming(b.clock.time() + 400 * DAY, 1000):
        row = await registry.get(key)
        assert row is not None
        out[key] = (row.purpose, row.retain_until)
    return out


async def test_two_sweepers_only_one_works(tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        for _ in range(4):
            b.add_jibri("feedback", age_days=30)
        second_store = RedisStore.from_url(redis_url)  # another replica, its own connection
        try:
            results = await asyncio.gather(b.sweeper().sweep_if_leader(),
                                           b.sweeper(store=second_store).sweep_if_leader())
        finally:
            await second_store.close()
        worked = [r for r in results if isinstance(r, SweepResult)]
        assert len(worked) == 1 and worked[0].deleted == 4
        assert list(b.jibri_root.iterdir()) == []


async def test_a_stale_sweeper_stops_when_a_newer_lease_exists(tmp_path: Path,
                                                               redis_url: str) -> None:
    """Fencing: after its lease expired and another replica took over, it deletes nothing."""
    async with bench(tmp_path, redis_url) as b:
        session = b.add_jibri("feedback", age_days=30)
        old = await b.store.acquire(LOCK_NAME, 0.2)
        assert old is not None
        await asyncio.sleep(0.3)
        newer = await b.store.acquire(LOCK_NAME, 30)
        assert newer is not None and newer.fence > old.fence
        result = await b.sweeper().sweep(old)
        assert result.lost_lease and result.deleted == 0
        assert b.jibri_exists(session)


async def test_legal_hold_stops_deletion_until_released(tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=30)
        sweeper = b.sweeper()
        await sweeper.sweep_if_leader()  # registers and deletes...
        assert b.emulator.recording_state(rid) is None
        rid = b.add_bbb("feedback", age_days=10)
        await sweeper.sweep_if_leader()
        await sweeper.holds.place(f"bbb:{rid}", "legal:case-2026-7")  # store and recording
        b.clock.advance(30 * DAY)
        result = await sweeper.sweep_if_leader()
        assert result is not None and result.deleted == 0
        assert b.emulator.recording_state(rid) == "unpublished"  # kept, out of view (G14)
        assert counter(b.metrics, "privacy_gateway_recordings", platform="bbb",
                       purpose="feedback", state="held") == 1
        await sweeper.registry.release_hold(f"bbb:{rid}", "legal:case-2026-7")
        await sweeper.holds.write_back(f"bbb:{rid}")  # off the recording too, or it comes back
        result = await sweeper.sweep_if_leader()
        assert result is not None and result.deleted == 1
        assert not b.bbb_exists_on_disk(rid)


class FailingPurge:
    """A BBB source whose purge agent cannot run for the first `failures` attempts."""

    def __init__(self, inner, failures: int) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.platform = inner.platform
        self.name = inner.name
        self.failures = failures

    def owns(self, row: RegistryRow) -> bool:
        return bool(self.inner.owns(row))

    def listing(self, **options):  # type: ignore[no-untyped-def]
        return self.inner.listing(**options)

    async def delete(self, row: RegistryRow) -> list[str]:
        if self.failures > 0:
            self.failures -= 1
            await self.inner.api.delete(row.recording_id)  # soft delete only, like a dead agent
            raise DeletionFailed("purge_unavailable")
        return list(await self.inner.delete(row))

    async def is_gone(self, row: RegistryRow) -> bool:
        return bool(await self.inner.is_gone(row))


async def test_deletion_failure_is_retried_with_backoff_and_alerted(tmp_path: Path,
                                                                   redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=20)
        failing = FailingPurge(b.sources()[0], failures=3)
        sweeper = b.sweeper(bbb=failing)
        await sweeper.sweep_if_leader()
        assert (b.emulator.root / "recording" / "raw" / rid).exists()  # raw data still there
        assert counter(b.metrics, "privacy_gateway_recording_deletions_total",
                       platform="bbb", result="failed") == 1
        assert counter(b.metrics, "privacy_gateway_recordings_overdue") == 1
        assert counter(b.metrics, "privacy_gateway_retention_deletions_failing") == 1
        await sweeper.sweep_if_leader()  # within the backoff: not tried again
        assert counter(b.metrics, "privacy_gateway_recording_deletions_total",
                       platform="bbb", result="failed") == 1
        for _ in range(2):
            b.clock.advance(3600)
            await sweeper.sweep_if_leader()
        assert counter(b.metrics, "privacy_gateway_recording_deletions_total",
                       platform="bbb", result="failed") == 3
        assert counter(b.metrics, "privacy_gateway_retention_deletions_alerting") == 1
        b.clock.advance(3600)
        await sweeper.sweep_if_leader()
        assert not b.bbb_exists_on_disk(rid)
        assert counter(b.metrics, "privacy_gateway_recordings_overdue") == 0
        assert counter(b.metrics, "privacy_gateway_retention_deletions_alerting") == 0
        kinds = [e["kind"] async for e in sweeper.audit.entries()]
        assert kinds.count("deletion_failed") == 3 and kinds.count("recording_deleted") == 1


async def test_bbb_unreachable_keeps_registry_and_deletes_jibri(tmp_path: Path,
                                                                redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=3)
        await b.sweeper().sweep_if_leader()
        session = b.add_jibri("feedback", age_days=30)
        b.emulator.fault = "http_500"
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.source_errors == ["bbb:bbb1"]
        assert not b.jibri_exists(session)
        assert await Registry(b.store).get(f"bbb:{rid}") is not None


async def test_recordings_not_meant_for_distribution_are_unpublished(
        tmp_path: Path, redis_url: str) -> None:
    """G14: consent to record is not consent to distribute; G11: exam evidence is archive only."""
    async with bench(tmp_path, redis_url) as b:
        exam = b.add_bbb("exam_evidence", age_days=1)
        feedback = b.add_bbb("feedback", age_days=1)
        lecture = b.add_bbb("lecture", age_days=1)
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 0
        assert b.emulator.recording_state(exam) == "unpublished"  # still archived, not shown
        assert b.emulator.recording_state(feedback) == "unpublished"
        assert b.emulator.recording_state(lecture) == "published"  # meant to be watched later
        assert b.bbb_exists_on_disk(exam)


async def test_a_recording_under_objection_is_taken_out_of_view(tmp_path: Path,
                                                                redis_url: str) -> None:
    """G12: while an objection is reviewed nobody watches the recording; it is kept."""
    from gateway.retention.objections import ObjectionDesk

    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("lecture", age_days=1, meeting="meeting-7b")
        sweeper = b.sweeper()
        await sweeper.sweep_if_leader()
        assert b.emulator.recording_state(rid) == "published"
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None
        desk = ObjectionDesk(store=b.store, sweeper=sweeper, audit=sweeper.audit,
                             clock=b.clock, metrics=b.metrics, retention_days=365,
                             tag=lambda value: "t")
        await desk.file(platform="bbb", meeting_ref=row.meeting_ref, person="p_x", reason="")
        assert b.emulator.recording_state(rid) == "unpublished"
        assert b.bbb_exists_on_disk(rid)


def _declaring_source(b: Bench) -> Any:
    """The BBB source as the adapter wires it: purposes the teacher declared (the guard's
    store keys) decide a recording's purpose, feedback and exam evidence stay private."""
    from bbb_hooks.meetings import recording_purposes
    from bbb_hooks.recordings import BBBSource
    from bbb_hooks.servers import Server
    from gateway.policy.retention import combined_purpose
    from tests.retention.harness import purge_command

    async def declared(meeting: str) -> str | None:
        return combined_purpose(b.policy, await recording_purposes(b.store, meeting))

    server = Server(name="bbb1", url=b.emulator.url, secret=b.emulator.secret.encode(),
                    algorithm="sha256")
    return BBBSource(server, b.http, purge_command(b.emulator.root), page_size=3,
                     private_purposes=frozenset({"feedback", "exam_evidence"}),
                     declared_purpose=declared)


async def test_declared_purpose_not_the_default_decides_retention(tmp_path: Path,
                                                                  redis_url: str) -> None:
    """G14, G16: the teacher declared feedback (14 days, not shown later) in a lesson whose
    default is lecture (30 days, shown later): the recording follows what was declared,
    and the purpose is written onto the recording so it survives a lost store."""
    from bbb_hooks.meetings import add_recording_purpose

    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("lecture", age_days=15, meeting="meeting-feedback")
        await add_recording_purpose(b.store, rid, "feedback", 86400 * 60)  # the guard's key

        source = _declaring_source(b)
        result = await b.sweeper(bbb=source).sweep_if_leader()
        assert result is not None and result.deleted == 1  # 15 days > 14: due, not kept 30
        assert b.emulator.recording_state(rid) is None
        labelled = b.add_bbb("lecture", age_days=1, meeting="meeting-feedback-2")
        await add_recording_purpose(b.store, labelled, "feedback", 86400)
        await b.sweeper(bbb=source).sweep_if_leader()
        assert b.emulator.recording_state(labelled) == "unpublished"  # G14
        assert b.emulator.recording_meta(labelled)["privacy-purpose"] == "feedback"


async def test_a_second_purpose_declared_later_shortens_the_registered_due_date(
        tmp_path: Path, redis_url: str) -> None:
    """G11, G16: recorded as lecture (30 days) and swept, then feedback declared and
    recorded in the same meeting (one BBB recording per meeting): the registered
    recording is labelled feedback and due after feedback's 14 days, not 30."""
    from bbb_hooks.meetings import add_recording_purpose
    from gateway.policy.retention import DAY

    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("lecture", age_days=0, meeting="meeting-two-purposes")
        await add_recording_purpose(b.store, rid, "lecture", 86400 * 60)

        source = _declaring_source(b)
        sweeper = b.sweeper(bbb=source)
        await sweeper.sweep_if_leader()
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None and row.purpose == "lecture"
        assert row.retain_until == pytest.approx(row.created + 30 * DAY)
        await add_recording_purpose(b.store, rid, "feedback", 86400 * 60)
        await sweeper.sweep_if_leader()
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None and row.purpose == "feedback"
        assert row.retain_until == pytest.approx(row.created + 14 * DAY)
