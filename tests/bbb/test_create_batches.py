"""Creates answered in the same turn of the event loop store their records together
(bbb_hooks.meetings.MeetingWrites): one round trip, each create still waiting for
and answering its own write."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path

import aiohttp

from bbb_hooks.meetings import MeetingRecord, MeetingWrites, meeting_by_internal_id, meeting_info
from gateway.demo.bbb_server import BBBEmulator
from gateway.store.base import HashWrite, MemoryStore
from gateway.store.errors import StoreUnavailable
from tests.bbb.support import get_xml, start_gateway


class BatchingStore(MemoryStore):
    """The memory store, noting the size of each batched write; `refuse` fails those keys."""

    def __init__(self) -> None:
        super().__init__("t")
        self.batches: list[int] = []
        self.refuse: set[str] = set()

    async def hset_and_set_many(
            self, writes: Sequence[HashWrite]) -> list[StoreUnavailable | None]:
        self.batches.append(len(writes))
        kept = [w for w in writes if w[0] not in self.refuse]
        await super().hset_and_set_many(kept)
        return [StoreUnavailable("refused") if w[0] in self.refuse else None for w in writes]

    async def hset_and_set(self, key: str, mapping: Mapping[str, bytes], ttl: float,
                           keys: Mapping[str, bytes]) -> None:
        if key in self.refuse:
            raise StoreUnavailable("refused")
        await super().hset_and_set(key, mapping, ttl, keys)


def record(meeting_id: str) -> MeetingRecord:
    return MeetingRecord(meeting_id=meeting_id, internal_meeting_id="i-" + meeting_id,
                         server="bbb1", meeting_type="lesson", purpose=None, create_time="1",
                         policy_version="1", record=False, created_at=0.0)


async def test_saves_of_one_turn_go_together_and_each_waits_for_its_own() -> None:
    store = BatchingStore()
    writes = MeetingWrites(store)
    await asyncio.gather(*(writes.save(record(f"m{i}"), 60) for i in range(5)))
    assert store.batches == [5]
    for i in range(5):  # every record is there once its save returned
        found = await meeting_info(store, f"m{i}")
        assert found is not None and found.internal_meeting_id == f"i-m{i}"
        assert await meeting_by_internal_id(store, f"i-m{i}") == found
    await writes.save(record("alone"), 60)  # alone: a plain hset_and_set, no batch
    assert store.batches == [5]
    assert await meeting_info(store, "alone") is not None


async def test_a_failed_write_fails_only_its_own_save() -> None:
    from bbb_hooks.meetings import meeting_key

    store = BatchingStore()
    store.refuse = {meeting_key("m1")}
    writes = MeetingWrites(store)
    results = await asyncio.gather(*(writes.save(record(f"m{i}"), 60) for i in range(3)),
                                   return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], StoreUnavailable)


async def test_a_store_down_fails_every_save_of_the_batch() -> None:
    class Down(MemoryStore):
        async def hset_and_set_many(
                self, writes: Sequence[HashWrite]) -> list[StoreUnavailable | None]:
            raise StoreUnavailable("ConnectionError")

    writes = MeetingWrites(Down("t"))
    results = await asyncio.gather(*(writes.save(record(f"m{i}"), 60) for i in range(3)),
                                   return_exceptions=True)
    assert all(isinstance(r, StoreUnavailable) for r in results)


async def test_concurrent_creates_through_the_gateway_are_all_remembered(
        tmp_path: Path, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    store = BatchingStore()
    gw = await start_gateway(tmp_path, [emulator], store=store)
    try:
        answers = await asyncio.gather(*(get_xml(http, gw.url("create", [
            ("meetingID", f"lesson-{i}"), ("name", "Les")])) for i in range(20)))
        assert all("<returncode>SUCCESS</returncode>" in body for _, _, body in answers)
        for i in range(20):
            found = await meeting_info(store, f"lesson-{i}")
            assert found is not None and found.server == "bbb1"
        _, _, listed = await get_xml(http, gw.url("getMeetings"))
        assert all(f"<meetingID>lesson-{i}</meetingID>" in listed for i in range(20))
    finally:
        await gw.close()


async def test_a_create_whose_record_cannot_be_kept_answers_store_unavailable(
        tmp_path: Path, emulator: BBBEmulator, http: aiohttp.ClientSession) -> None:
    """Alone or batched with others, in BBB XML; the other creates are not affected."""
    from bbb_hooks.meetings import meeting_key

    store = BatchingStore()
    store.refuse = {meeting_key("lesson-0")}
    gw = await start_gateway(tmp_path, [emulator], store=store)
    try:
        for count in (1, 6):
            answers = await asyncio.gather(*(get_xml(http, gw.url("create", [
                ("meetingID", f"lesson-{i}"), ("name", "Les")])) for i in range(count)))
            status, content_type, body = answers[0]
            assert (status, content_type) == (200, "text/xml")
            assert "<messageKey>storeUnavailable</messageKey>" in body
            assert all("<returncode>SUCCESS</returncode>" in b for _, _, b in answers[1:])
        assert await meeting_info(store, "lesson-0") is None
        assert await meeting_info(store, "lesson-5") is not None
    finally:
        await gw.close()
