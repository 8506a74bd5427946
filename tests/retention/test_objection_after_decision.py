"""An upheld objection after its decision (G12, G16).

BBB publishes a recording minutes to hours after the lesson: one registered
after the objection was upheld was kept for the normal retention, and the pupil
read "deleted". A registration racing the decision lost its hold and was kept
too. The decision now leaves an upheld marker per meeting; a recording of the
meeting registered later is due at once and the pupil's page counts it until it
is gone. The free-text reason goes with the decision, and the filer's index of
objections expires instead of growing forever.
"""

from __future__ import annotations

from pathlib import Path

from gateway.policy.retention import DAY, HOLD_OBJECTION, hold_name
from gateway.store.redis_store import RedisStore
from gateway.store.registry import Registry
from tests.retention.fakes import recording, rig


async def test_g12_recording_registered_after_upholding_is_deleted_and_counted(
        tmp_path: Path) -> None:
    r = rig(tmp_path)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    decided = await r.desk.decide(objection.objection_id, upheld=True, officer="p_officer")
    await r.desk.deletions_settled()
    # Published an hour later, after the decision.
    r.clock.advance(3600)
    late = recording("late-1", purpose="lecture")
    r.source.recordings.append(late)
    row = await r.sweeper.register(late)
    assert row.retain_until <= r.clock.time() and not row.holds  # due now (G12)
    state = await r.desk.state(decided)
    assert state.outcome == "upheld_deleting" and state.held == 1  # never "none" yet
    await r.sweeper.sweep_if_leader()
    assert r.source.deleted == ["jitsi:late-1"]
    after = await r.desk.state(decided)
    assert after.outcome == "upheld_deleted" and after.held == 0


async def test_g12_registration_racing_the_decision_keeps_no_stale_hold(
        tmp_path: Path) -> None:
    r = rig(tmp_path)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    registry: Registry = r.sweeper.registry
    first_hold = registry.hold_pending
    calls = 0

    async def decided_in_between(row):  # type: ignore[no-untyped-def]
        # The recording is held, then the officer upholds before it joins the meeting's
        # index: the decision does not see it and the registration's re-read finds the
        # objection gone.
        nonlocal calls
        calls += 1
        held = await first_hold(row)
        if calls == 1:
            await r.desk.decide(objection.objection_id, upheld=True, officer="p_officer")
        return held

    registry.hold_pending = decided_in_between  # type: ignore[method-assign]
    late = recording("race-1", purpose="lecture")
    r.source.recordings.append(late)
    row = await r.sweeper.register(late)
    await r.desk.deletions_settled()
    hold = hold_name(HOLD_OBJECTION, objection.objection_id)
    stored = await registry.get(row.key)
    assert stored is not None and hold not in stored.holds
    assert stored.retain_until <= r.clock.time()
    await r.sweeper.sweep_if_leader()
    assert r.source.deleted == ["jitsi:race-1"]
    decided = await r.desk.get(objection.objection_id)
    assert decided is not None
    assert (await r.desk.state(decided)).outcome == "upheld_deleted"


async def test_g12_rejected_objection_leaves_later_recordings_alone(tmp_path: Path) -> None:
    r = rig(tmp_path)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    await r.desk.decide(objection.objection_id, upheld=False, officer="p_officer")
    late = recording("late-2", purpose="lecture")
    row = await r.sweeper.register(late)
    assert row.retain_until > r.clock.time() + DAY


async def test_g16_reason_is_dropped_when_decided(tmp_path: Path) -> None:
    r = rig(tmp_path)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="My room was on screen")
    assert [o.reason for o in await r.desk.open_objections()] == ["My room was on screen"]
    await r.desk.decide(objection.objection_id, upheld=False, officer="p_officer")
    raw = await r.store.hgetall(f"obj:{objection.objection_id}")
    assert raw and "reason" not in raw
    decided = await r.desk.get(objection.objection_id)
    assert decided is not None and decided.reason == "" and decided.status == "rejected"


async def test_g16_person_index_drops_expired_objections_and_expires(tmp_path: Path) -> None:
    r = rig(tmp_path)
    objection = await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_1",
                                  reason="")
    await r.desk.decide(objection.objection_id, upheld=False, officer="p_officer")
    await r.store.sadd("obj:person:p_1", "gone-objection-id")  # its record expired
    assert [o.objection_id for o in await r.desk.of_person("p_1")] == [
        objection.objection_id]
    assert await r.store.smembers("obj:person:p_1") == {objection.objection_id}
    r.clock.advance(366 * DAY)
    assert await r.desk.get(objection.objection_id) is None
    assert await r.store.smembers("obj:person:p_1") == set()  # the index went with it


async def test_g16_person_index_has_a_ttl_in_redis(tmp_path: Path, redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    r = rig(tmp_path, store)
    try:
        await r.desk.file(platform="jitsi", meeting_ref="les-3a", person="p_ttl", reason="")
        ttl_ms = await store._r.pttl("pgw:obj:person:p_ttl")
        assert 364 * DAY * 1000 < ttl_ms <= 365 * DAY * 1000
    finally:
        await r.desk.deletions_settled()
        await store.close()
