"""An objection is decided once, even by two officers on two replicas at once (G12).

Deciding read the objection ("open"), then wrote the decision: two decisions at
the same moment both passed the check, so one could delete the recordings while
the other showed them again, and the audit recorded two outcomes. The decision is
now a compare-and-set on the objection's status (real redis-server).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.retention.objections import ObjectionRefused
from gateway.store.redis_store import RedisStore
from tests.retention.fakes import rig


async def test_g12_two_officers_deciding_at_once_decide_once(tmp_path: Path,
                                                             redis_url: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = rig(tmp_path / "a", RedisStore.from_url(redis_url))
    second = rig(tmp_path / "b", RedisStore.from_url(redis_url))
    try:
        objection = await first.desk.file(platform="jitsi", meeting_ref="les-3a",
                                          person="p_1", reason="")
        assert await second.desk.get(objection.objection_id) is not None  # both connected
        results = await asyncio.gather(
            first.desk.decide(objection.objection_id, upheld=True, officer="p_officer1"),
            second.desk.decide(objection.objection_id, upheld=False, officer="p_officer2"),
            return_exceptions=True)
        refused = [r for r in results if isinstance(r, ObjectionRefused)]
        decided = [r for r in results if not isinstance(r, BaseException)]
        assert len(decided) == 1 and len(refused) == 1
        assert refused[0].args == ("already_decided",)
        stored = await second.desk.get(objection.objection_id)
        assert stored is not None and stored.status == decided[0].status
        outcomes = [e async for e in first.sweeper.audit.entries()
                    if e["kind"] == "objection_decided"]
        assert len(outcomes) == 1
    finally:
        for r in (first, second):
            await r.desk.deletions_settled()
            await r.store.close()
