"""Holds, open objections, the audit log and fencing survive the loss of Redis (G12, G16).

The store is flushed between sweeps (FLUSHALL, as when Redis is lost or
replaced): due dates, holds and open objections must come back from the
recordings themselves (BBB meta_privacy-*, the Jibri sidecar), and the audit
journal on disk keeps every entry with an intact hash chain.
"""

from __future__ import annotations

import io
from pathlib import Path

import redis.asyncio as redis_async

from gateway.audit.journal import AuditJournal
from gateway.policy.retention import DAY
from gateway.retention.dryrun import dry_run
from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import LOCK_NAME, SweepResult
from gateway.store.registry import read_sidecar
from tests.retention.harness import Bench, bench


class Quiet:
    def step(self) -> None: ...
    def done(self) -> None: ...


async def flushall(redis_url: str) -> None:
    client = redis_async.Redis.from_url(redis_url)
    await client.flushall()
    await client.aclose()


def desk(b: Bench) -> ObjectionDesk:
    sweeper = b.sweeper()
    return ObjectionDesk(store=b.store, sweeper=sweeper, audit=sweeper.audit, clock=b.clock,
                         metrics=b.metrics, retention_days=365, tag=lambda value: "t")


async def test_g12_g16_flushall_between_sweeps_deletes_no_held_or_objected_recording(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        # feedback: 14 days; all made 10 days ago, so due 4 days from now. lecture: 30 days.
        bbb = {name: b.add_bbb("feedback", age_days=10) for name in ("held", "objected", "due")}
        bbb["not_due"] = b.add_bbb("lecture", age_days=10)
        jibri = {name: b.add_jibri("feedback", age_days=10, room=f"room-{name}")
                 for name in ("held", "objected", "due")}
        jibri["not_due"] = b.add_jibri("lecture", age_days=10, room="room-not-due")
        sweeper = b.sweeper()
        first = await sweeper.sweep_if_leader()
        assert first is not None and first.deleted == 0
        for key in (f"bbb:{bbb['held']}", f"jitsi:{jibri['held']}"):
            change = await sweeper.holds.place(key, "legal:case-2026/7")
            assert change is not None and change.written
        objections = desk(b)
        row = await sweeper.registry.get(f"bbb:{bbb['objected']}")
        assert row is not None
        filed = [await objections.file(platform="bbb", meeting_ref=row.meeting_ref,
                                       person="p_pupil", reason="Ik wil dit niet."),
                 await objections.file(platform="jitsi", meeting_ref="room-objected",
                                       person="p_pupil", reason="Ik ook niet.")]
        # Written where the due date lives: the BBB metadata and the Jibri sidecar.
        assert "legal:case-2026/7" in b.emulator.recording_meta(bbb["held"])["privacy-holds"]
        assert read_sidecar(b.jibri_root / jibri["objected"]).holds == {
            f"objection:{filed[1].objection_id}"}
        entries_before = len(AuditJournal(b.audit_dir, 365).verify_all().entries)

        await flushall(redis_url)  # Redis lost
        b.clock.advance(5 * DAY)  # held, objected and due are now past their due date

        plan = io.StringIO()
        assert await dry_run(b.sweeper(), DAY, plan, Quiet()) == 0
        for name in ("held", "objected"):
            line = next(x for x in plan.getvalue().splitlines() if bbb[name] in x)
            assert "HELD" in line and "DELETE NOW" not in line
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 2, result
        for name in ("held", "objected", "not_due"):
            assert b.emulator.recording_state(bbb[name]) is not None, name
            assert b.jibri_exists(jibri[name]), name
        assert b.emulator.recording_state(bbb["due"]) is None
        assert not b.jibri_exists(jibri["due"])
        assert result.held == 4
        # The open objections are open again for the privacy officer to decide.
        reopened = {o.objection_id for o in await objections.open_objections()}
        assert reopened == {o.objection_id for o in filed}
        # The filer's pseudonym comes back from the journal on disk: the pupil still sees
        # the outcome on /objections. The free-text reason is in no log: it stays empty.
        mine = await objections.of_person("p_pupil")
        assert {o.objection_id for o in mine} == reopened
        assert all(o.person == "p_pupil" and o.reason == "" for o in mine)
        assert not any("niet" in str(e["data"]) for e in
                       AuditJournal(b.audit_dir, 365).verify_all().entries)
        # The audit entries were kept on disk, the chain intact, and it grew.
        checked = AuditJournal(b.audit_dir, 365).verify_all()
        assert checked.broken == []
        kinds = [e["kind"] for e in checked.entries]
        assert len(checked.entries) > entries_before
        assert kinds.count("hold_placed") == 2 and kinds.count("objection_filed") == 2
        assert kinds.count("hold_restored") == 4  # read back from the recordings
        assert kinds.count("recording_deleted") == 2
        # A second loss right after: still nothing held is deleted.
        await flushall(redis_url)
        again = await b.sweeper().sweep_if_leader()
        assert again is not None and again.deleted == 0 and again.held == 4


async def test_g12_hold_add_for_a_recording_not_registered_yet(tmp_path: Path,
                                                               redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=20)  # due already; no sweep has seen it
        session = b.add_jibri("feedback", age_days=20)
        sweeper = b.sweeper()
        for key in (f"bbb:{rid}", f"jitsi:{session}"):
            change = await sweeper.holds.place(key, "legal:case-9")
            assert change is not None and change.written and change.row.holds == {
                "legal:case-9"}
        assert await sweeper.holds.place("bbb:" + "0" * 40 + "-1700000000000",
                                         "legal:case-9") is None
        result = await sweeper.sweep_if_leader()
        assert result is not None and result.deleted == 0 and result.held == 2
        assert b.emulator.recording_state(rid) is not None and b.jibri_exists(session)


async def test_g12_a_hold_not_yet_on_the_recording_is_written_before_any_deletion(
        tmp_path: Path, redis_url: str) -> None:
    """The store holds it at once; the sweep writes it onto the recording; a store lost
    after that still keeps the recording."""
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=20)
        sweeper = b.sweeper()
        await sweeper.reconcile(SweepResult())
        await sweeper.registry.add_hold(f"bbb:{rid}", "legal:case-3")  # store only
        await b.store.sadd("rec:unsynced", f"bbb:{rid}")
        result = await sweeper.sweep_if_leader()
        assert result is not None and result.deleted == 0
        assert b.emulator.recording_meta(rid)["privacy-holds"] == "legal:case-3"
        await flushall(redis_url)
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 0
        assert b.emulator.recording_state(rid) is not None


async def test_g16_fences_keep_growing_after_the_store_is_lost(tmp_path: Path,
                                                               redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        old = await b.store.acquire(LOCK_NAME, 30, holder="host-a:1")
        assert old is not None
        info = await b.store.lease_info(LOCK_NAME)
        assert info is not None and info.holder == "host-a:1" and 0 < info.expires_in <= 30
        await flushall(redis_url)
        new = await b.store.acquire(LOCK_NAME, 30, holder="host-b:2")
        assert new is not None and new.fence > old.fence  # never restarts at 1
        assert not await b.store.renew(old, 30)  # the old holder cannot act
        again = await b.store.acquire(LOCK_NAME, 30)
        assert again is None
        await b.store.release(new)
        newest = await b.store.acquire(LOCK_NAME, 30)
        assert newest is not None and newest.fence > new.fence


async def test_g12_a_hold_bbb_cannot_take_yet_is_retried_and_protects_meanwhile(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=10)
        sweeper = b.sweeper()
        await sweeper.sweep_if_leader()  # registered
        assert b.emulator.server is not None
        port = b.emulator.server.port
        await b.emulator.stop()  # BBB unreachable while the hold is placed
        change = await sweeper.holds.place(f"bbb:{rid}", "legal:case-4")
        assert change is not None and not change.written and change.reason == "bbb_unreachable"
        await b.emulator.start(port)
        b.clock.advance(10 * DAY)  # past its due date
        result = await sweeper.sweep_if_leader()
        assert result is not None and result.deleted == 0  # the store's hold protects
        assert b.emulator.recording_meta(rid)["privacy-holds"] == "legal:case-4"  # now written
        await flushall(redis_url)
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 0 and result.held == 1


async def test_g12_a_hold_can_be_released_after_the_store_was_lost(tmp_path: Path,
                                                                  redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.add_bbb("feedback", age_days=20)
        session = b.add_jibri("feedback", age_days=20)
        sweeper = b.sweeper()
        for key in (f"bbb:{rid}", f"jitsi:{session}"):
            assert await sweeper.holds.place(key, "legal:case-8") is not None
        await flushall(redis_url)
        for key in (f"bbb:{rid}", f"jitsi:{session}"):
            assert await sweeper.holds.release(key, "legal:case-other") is None
            change = await b.sweeper().holds.release(key, "legal:case-8")
            assert change is not None and change.written and change.row.holds == set()
        assert b.emulator.recording_meta(rid)["privacy-holds"] == ""
        assert read_sidecar(b.jibri_root / session).holds == set()
        result = await b.sweeper().sweep_if_leader()
        assert result is not None and result.deleted == 2
