"""What an objection holds and what its filer is told (G12, G16): matched by every id a
pupil knows a meeting by, outcomes that follow the recordings' real state, and held
recordings counted as held at once."""

from __future__ import annotations

from pathlib import Path

from bbb_hooks.recordings import BBBSource
from bbb_hooks.servers import Server
from gateway.policy.retention import DAY
from gateway.retention.objections import ObjectionDesk
from gateway.retention.sweeper import Sweeper
from tests.retention.harness import SERVER, Bench, bench, counter, purge_command

LESSON = "aardrijkskunde-2a"  # the LMS's meetingID: what a pupil sees in the LMS


def desk_for(b: Bench, sweeper: Sweeper) -> ObjectionDesk:
    return ObjectionDesk(store=b.store, sweeper=sweeper, audit=sweeper.audit, clock=b.clock,
                         metrics=b.metrics, retention_days=365, tag=lambda value: "t")


def held_gauge(b: Bench, purpose: str = "lecture") -> float:
    return counter(b.metrics, "privacy_gateway_recordings", platform="bbb", purpose=purpose,
                   state="held")


def bbb_source(b: Bench, command: list[str]) -> BBBSource:
    server = Server(name=SERVER, url=b.emulator.url, secret=b.emulator.secret.encode(),
                    algorithm="sha256")
    return BBBSource(server, b.http, command)


async def test_g12_an_objection_by_the_lms_meeting_id_holds_its_recording_and_says_so(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.emulator.add_recording(LESSON, name="Aardrijkskunde 2A", meta={
            "privacy-meeting-type": "lesson", "privacy-purpose": "lecture"})
        sweeper = b.sweeper()
        await sweeper.sweep_if_leader()
        assert held_gauge(b) == 0
        desk = desk_for(b, sweeper)

        filed = await desk.file(platform="bbb", meeting_ref=LESSON, person="p_x", reason="")
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None and row.holds  # the external meetingID found it
        state = await desk.state(filed)
        assert (state.outcome, state.held, state.meeting_name) == (
            "open_held", 1, "Aardrijkskunde 2A")
        # Held at once on the officer's page and in the gauge, not only after a sweep.
        assert held_gauge(b) == 1
        assert counter(b.metrics, "privacy_gateway_recordings", platform="bbb",
                       purpose="lecture", state="retained") == 0
        await sweeper.sweep_if_leader()
        assert held_gauge(b) == 1

        # The record id (the internal meeting id, from the meeting page's link) as well.
        by_internal = await desk.file(platform="bbb", meeting_ref=row.meeting_ref,
                                      person="p_y", reason="")
        assert (await desk.state(by_internal)).held == 1

        # A meeting nobody recorded: filed, but nobody is told a recording is on hold.
        unknown = await desk.file(platform="bbb", meeting_ref="bestaat-niet", person="p_x",
                                  reason="")
        assert (await desk.state(unknown)).outcome == "open_none"

        await desk.decide(filed.objection_id, upheld=False, officer="p_o")
        await desk.decide(by_internal.objection_id, upheld=False, officer="p_o")
        assert held_gauge(b) == 0  # released: counted as retained again at once
        assert counter(b.metrics, "privacy_gateway_recordings", platform="bbb",
                       purpose="lecture", state="retained") == 1


async def test_g12_a_recording_appearing_days_later_is_held_as_promised(tmp_path: Path) -> None:
    """"Any recording of it is held as soon as it appears, until the officer decides":
    also after more than a day (the meeting's pending objections do not expire)."""
    async with bench(tmp_path, None) as b:  # the manual clock drives the store's expiry
        sweeper = b.sweeper()
        desk = desk_for(b, sweeper)
        filed = await desk.file(platform="bbb", meeting_ref=LESSON, person="p_x", reason="")
        assert (await desk.state(filed)).outcome == "open_none"
        b.clock.advance(3 * DAY)
        rid = b.emulator.add_recording(LESSON, meta={"privacy-meeting-type": "lesson",
                                                     "privacy-purpose": "lecture"},
                                       start_ms=int(b.clock.time() * 1000))
        await sweeper.sweep_if_leader()
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None and row.holds
        assert (await desk.state(filed)).outcome == "open_held"


async def test_g12_upheld_is_deleted_only_once_verified_and_failing_is_said(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        rid = b.emulator.add_recording(LESSON, meta={"privacy-meeting-type": "lesson",
                                                     "privacy-purpose": "lecture"})
        broken = bbb_source(b, [str(tmp_path / "no-such-agent"), "bbb-purge"])
        sweeper = b.sweeper(bbb=broken)
        await sweeper.sweep_if_leader()
        desk = desk_for(b, sweeper)
        filed = await desk.file(platform="bbb", meeting_ref=LESSON, person="p_x", reason="")

        decided = await desk.decide(filed.objection_id, upheld=True, officer="p_o")
        assert (await desk.state(decided)).outcome in ("upheld_deleting", "upheld_failing")
        await desk.deletions_settled()
        assert b.bbb_exists_on_disk(rid)  # the purge agent could not run
        state = await desk.state(decided)
        assert (state.outcome, state.held) == ("upheld_failing", 1)  # never "deleted"
        summary = await b.store.get("retention:summary")
        assert summary is not None and b'"failing": 1' in summary  # the officer sees it now

        sweeper.sources[0] = bbb_source(b, purge_command(b.emulator.root))
        b.clock.advance(3600)  # past the retry's backoff
        await sweeper.sweep_if_leader()
        assert not b.bbb_exists_on_disk(rid)
        assert (await desk.state(decided)).outcome == "upheld_deleted"


async def test_g12_upheld_without_any_recording_says_nothing_was_deleted(
        tmp_path: Path, redis_url: str) -> None:
    async with bench(tmp_path, redis_url) as b:
        sweeper = b.sweeper()
        desk = desk_for(b, sweeper)
        filed = await desk.file(platform="bbb", meeting_ref="bestaat-niet", person="p_x",
                                reason="")
        decided = await desk.decide(filed.objection_id, upheld=True, officer="p_o")
        assert (await desk.state(decided)).outcome == "upheld_none"


async def test_g12_the_lesson_name_and_lms_id_outlive_the_deleted_recordings(
        tmp_path: Path, redis_url: str) -> None:
    """Filed by the internal id (a meeting page's link) or before any recording existed:
    once upheld and deleted, the pupil still sees which lesson it was."""
    async with bench(tmp_path, redis_url) as b:
        rid = b.emulator.add_recording(LESSON, name="Aardrijkskunde 2A", meta={
            "privacy-meeting-type": "lesson", "privacy-purpose": "lecture"})
        sweeper = b.sweeper()
        desk = desk_for(b, sweeper)
        early = await desk.file(platform="bbb", meeting_ref=LESSON, person="p_y", reason="")
        await sweeper.sweep_if_leader()  # the recording appears after the filing
        row = await sweeper.registry.get(f"bbb:{rid}")
        assert row is not None
        filed = await desk.file(platform="bbb", meeting_ref=row.meeting_ref, person="p_x",
                                reason="")
        state = await desk.state(filed)
        assert (state.meeting_name, state.meeting_alias) == ("Aardrijkskunde 2A", LESSON)

        await desk.decide(filed.objection_id, upheld=True, officer="p_o")
        await desk.decide(early.objection_id, upheld=True, officer="p_o")
        await desk.deletions_settled()
        assert not b.bbb_exists_on_disk(rid)
        for objection in (filed, early):
            found = await desk.get(objection.objection_id)
            assert found is not None
            state = await desk.state(found)
            assert (state.outcome, state.meeting_name, state.meeting_alias) == (
                "upheld_deleted", "Aardrijkskunde 2A", LESSON)
