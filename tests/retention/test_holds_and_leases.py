"""Holds survive every writer (G12), due dates arrive (G16), one deleter at a time."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from gateway.policy.retention import DAY, RegistryRow
from gateway.retention.dryrun import dry_run
from gateway.retention.sweeper import LOCK_NAME, DeletionFailed
from gateway.store.base import MemoryStore
from gateway.store.registry import row_key
from tests.retention.fakes import FakeSource, Rig, recording, rig
from tests.retention.harness import counter


async def _registered(r: Rig, recording_id: str, age_days: float) -> RegistryRow:
    r.source.recordings.append(recording(recording_id,
                                         created=r.clock.time() - age_days * DAY))
    await r.sweeper.register(r.source.recordings[-1])
    row = await r.sweeper.registry.get(row_key("jitsi", recording_id))
    assert row is not None
    return row


async def test_g12_a_stale_row_write_keeps_the_hold_and_nothing_is_deleted(
        tmp_path: Path) -> None:
    r = rig(tmp_path)
    stale = await _registered(r, "s1", age_days=20)  # feedback, 14 days: due
    held = await r.sweeper.registry.add_hold(stale.key, "objection:abc12345")
    assert held is not None and held.holds
    await r.sweeper.registry.put(stale)  # a writer that read the row before the hold
    row = await r.sweeper.registry.get(stale.key)
    assert row is not None and row.holds == frozenset({"objection:abc12345"})
    assert await r.sweeper.registry.due_keys(r.clock.time(), 10) == []
    result = await r.sweeper.sweep_if_leader()
    assert result is not None and result.deleted == 0 and r.source.deleted == []


async def test_g12_a_hold_placed_after_selection_stops_the_deletion(tmp_path: Path) -> None:
    r = rig(tmp_path)
    selected = await _registered(r, "s2", age_days=20)  # read by the sweep, then...
    await r.sweeper.registry.add_hold(selected.key, "objection:abc12345")  # ...a pupil objects
    assert await r.sweeper.delete_row(selected, reason="retention") == "held"
    assert r.source.deleted == [] and r.source.recordings


async def test_g16_an_undated_recording_falls_due_however_often_it_is_swept(
        tmp_path: Path) -> None:
    """No trusted creation time: counted from the first sweep that saw it, not each one."""
    r = rig(tmp_path)
    r.source.recordings.append(recording("undated", purpose=None, created=None))
    for _ in range(15):  # undeclared: 14 days
        await r.sweeper.sweep_if_leader()
        r.clock.advance(DAY)
    assert r.source.deleted == ["jitsi:undated"]


async def test_g16_reconciling_stops_as_soon_as_the_lease_is_lost(tmp_path: Path) -> None:
    r = rig(tmp_path)
    r.source.recordings = [recording(f"r{i}") for i in range(250)]
    lease = await r.store.acquire(LOCK_NAME, 60)
    assert lease is not None

    async def another_replica_takes_over(index: int) -> None:
        if index == 5:
            await r.store.release(lease)
            assert await r.store.acquire(LOCK_NAME, 60) is not None

    r.source.on_item = another_replica_takes_over
    result = await r.sweeper.sweep(lease)
    assert result.lost_lease and result.reconciled == 100  # stopped at the next check


async def test_g12_upheld_objection_deletes_under_the_sweeper_lease(tmp_path: Path) -> None:
    """The officer's request does not delete; a background task does, holding the lease."""
    r = rig(tmp_path)
    row = await _registered(r, "s3", age_days=1)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    sweeping = await r.store.acquire(LOCK_NAME, 60)  # another replica is sweeping
    assert sweeping is not None
    await r.desk.decide(objection.objection_id, upheld=True, officer="p_officer")
    await asyncio.sleep(0.3)
    assert r.source.deleted == []  # nothing deleted beside the running sweep
    await r.store.release(sweeping)
    await r.desk.deletions_settled()
    assert r.source.deleted == [row.key]
    deleted = [e async for e in r.sweeper.audit.entries() if e["kind"] == "recording_deleted"]
    assert deleted[0]["reason"] == "objection_upheld" and deleted[0]["fence"]


async def test_g12_a_recording_registered_while_an_objection_is_filed_is_held(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = rig(tmp_path)
    await _registered(r, "before", age_days=1)
    listing = r.sweeper.registry.meeting_keys

    async def finalize_runs_meanwhile(platform: str, meeting_ref: str) -> set[str]:
        keys = await listing(platform, meeting_ref)
        await r.sweeper.register(recording("during"))  # Jibri finishes just now
        return keys

    monkeypatch.setattr(r.sweeper.registry, "meeting_keys", finalize_runs_meanwhile)
    await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1", reason="")
    for name in ("before", "during"):
        row = await r.sweeper.registry.get(row_key("jitsi", name))
        assert row is not None and row.holds, name


class SlowWithhold(FakeSource):
    """A platform that cannot take recordings out of view (BBB too slow to answer)."""

    async def withhold(self, row: RegistryRow) -> None:
        raise DeletionFailed("bbb_timeout")


async def test_g12_a_slow_platform_never_loses_the_objection(tmp_path: Path) -> None:
    source = SlowWithhold()
    r = rig(tmp_path, sources=[source])
    r.source = source
    await _registered(r, "s4", age_days=1)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    assert [o.objection_id for o in await r.desk.open_objections()] == [objection.objection_id]
    row = await r.sweeper.registry.get("jitsi:s4")
    assert row is not None and row.holds == {f"objection:{objection.objection_id}"}
    await r.desk.decide(objection.objection_id, upheld=False, officer="p_officer")
    row = await r.sweeper.registry.get("jitsi:s4")
    assert row is not None and not row.holds  # the officer could release it


async def test_g12_the_dry_run_shows_the_hold_of_an_open_objection(tmp_path: Path) -> None:
    """A recording not yet registered, of a meeting with an open objection: the sweep
    holds it, so the dry run must not say DELETE NOW."""
    r = rig(tmp_path)
    await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1", reason="")
    r.source.recordings.append(recording("late", created=r.clock.time() - 20 * DAY))
    out = io.StringIO()

    class Quiet:
        def step(self) -> None: ...
        def done(self) -> None: ...

    assert await dry_run(r.sweeper, 7 * DAY, out, Quiet()) == 0
    assert "HELD" in out.getvalue() and "DELETE NOW" not in out.getvalue()
    await r.sweeper.sweep_if_leader()
    assert r.source.deleted == []


async def test_g16_a_vanished_recording_is_not_found_not_deleted(tmp_path: Path) -> None:
    r = rig(tmp_path)
    row = await _registered(r, "vanished", age_days=20)
    r.source.recordings.clear()  # removed by hand before the sweep
    outcome = await r.sweeper.delete_row(row, reason="retention")
    assert outcome == "deleted" and await r.sweeper.registry.get(row.key) is None
    name = "privacy_gateway_recording_deletions_total"
    assert counter(r.metrics, name, platform="jitsi", result="not_found") == 1
    assert counter(r.metrics, name, platform="jitsi", result="deleted") == 0


async def test_g16_every_replica_exports_the_last_sweeps_gauges(tmp_path: Path) -> None:
    """The alert takes max() over replicas: a replica that does not sweep must not keep
    an old value, it exports what the last sweep wrote to the store."""
    leader = rig(tmp_path)
    follower = rig(tmp_path, store=leader.store, clock=leader.clock)
    follower.source.recordings = leader.source.recordings
    failing = await _registered(leader, "stuck", age_days=20)
    leader.source.refuse_deletes = True
    await leader.sweeper.sweep_if_leader()
    overdue = "privacy_gateway_recordings_overdue"
    assert counter(leader.metrics, overdue) == 1
    held = await leader.store.acquire(LOCK_NAME, 60)  # the leader sweeps right now
    assert held is not None
    assert await follower.sweeper.sweep_if_leader() is None
    assert counter(follower.metrics, overdue) == 1
    await leader.store.release(held)
    leader.source.refuse_deletes = False
    leader.clock.advance(3600)
    await leader.sweeper.sweep_if_leader()
    assert await leader.sweeper.registry.get(failing.key) is None
    held = await leader.store.acquire(LOCK_NAME, 60)
    assert held is not None
    await follower.sweeper.sweep_if_leader()
    assert counter(follower.metrics, overdue) == 0  # not the stale 1


async def test_memory_and_redis_registries_agree_on_holds(tmp_path: Path,
                                                          redis_url: str) -> None:
    from gateway.store.redis_store import RedisStore

    for store in (MemoryStore("pgw"), RedisStore.from_url(redis_url)):
        r = rig(tmp_path, store=store)
        row = await _registered(r, "h1", age_days=20)
        await r.sweeper.registry.add_hold(row.key, "legal:case-1")
        await r.sweeper.registry.put(row)
        released = await r.sweeper.registry.release_hold(row.key, "legal:case-1")
        assert released is not None and not released.holds
        assert await r.sweeper.registry.due_keys(r.clock.time(), 10) == [row.key]
        await store.close()


async def test_g12_holds_written_by_an_older_version_are_kept(tmp_path: Path) -> None:
    r = rig(tmp_path)
    row = await _registered(r, "old", age_days=20)
    await r.store.hset(f"rec:row:{row.key}", {"holds": b"objection:abc12345\nlegal:x-1"}, None)
    upgraded = await r.sweeper.registry.get(row.key)
    assert upgraded is not None and upgraded.holds == {"objection:abc12345", "legal:x-1"}
    await r.sweeper.registry.put(upgraded)
    result = await r.sweeper.sweep_if_leader()
    assert result is not None and result.deleted == 0 and r.source.deleted == []
